"""What the user sees: human text (colour only on a terminal) or JSON Lines events.

Both outputs take the same calls, so commands and the daemon never branch on the
format. Every write is flushed at once: a streamed answer must appear as it arrives,
not when a line or a buffer fills.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO

from voicebot.redaction import Redaction
from voicebot.turns.timing import timing_line

RESET, BOLD, DIM = "\x1b[0m", "\x1b[1m", "\x1b[2m"
CYAN, GREEN, RED, YELLOW = "\x1b[36m", "\x1b[32m", "\x1b[31m", "\x1b[33m"


def use_color(stream: TextIO, setting: str, env: Mapping[str, str]) -> bool:
    """Colour on a TTY unless NO_COLOR is set (any value), or when forced by the setting."""
    if setting == "never" or "NO_COLOR" in env:
        return False
    if setting == "always":
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Output(Protocol):
    """The events a command reports, in the order they happen."""

    def transcript(self, text: str, *, label: bool) -> None: ...
    def reasoning(self, text: str) -> None: ...
    def delta(self, text: str) -> None: ...
    def reply(self, text: str, usage: Mapping[str, Any] | None, *, interrupted: bool = False) -> None: ...
    def event(self, kind: str, **fields: Any) -> None: ...
    def notice(self, text: str, **fields: Any) -> None: ...
    def error(self, text: str) -> None: ...
    def status(self, text: str, *, live: bool = False) -> None: ...
    def milestone(self, kind: str, text: str, /, **fields: Any) -> None: ...
    def timing(self, **stages_ms: int) -> None: ...
    def sources(self, found: Sequence[Mapping[str, Any]]) -> None: ...


class HumanOutput:
    """Plain text for people: "You: ..." then the answer streamed as it comes."""

    def __init__(self, out: TextIO, err: TextIO, *, color: bool, err_color: bool | None = None) -> None:
        self.out, self.err, self.color = out, err, color
        self.err_color = color if err_color is None else err_color  # stderr may go elsewhere than stdout
        self._in_reply = False  # the answer's line is open on screen
        self._streamed = False  # some of this answer's text has been written
        self._in_reasoning = False
        isatty = getattr(err, "isatty", None)
        self._status_tty = bool(isatty and isatty())
        self._status_shown = False

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.color else text

    def _paint_err(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.err_color else text

    def _clear_status(self) -> None:
        if self._status_shown:
            self.err.write("\r\x1b[2K")
            self.err.flush()
            self._status_shown = False

    def _write(self, text: str) -> None:
        self._clear_status()
        self.out.write(text)
        self.out.flush()

    def status(self, text: str, *, live: bool = False) -> None:
        """The daemon's state: one line redrawn in place on a terminal, else a log line.

        `live` updates (elapsed time, level meter) are only worth drawing on a terminal.
        """
        if self._status_tty:
            if self._in_reply:
                return  # never draw over an answer that is still streaming
            self.err.write("\r\x1b[2K" + self._paint_err(DIM, text))
            self.err.flush()
            self._status_shown = True
        elif not live:
            self.err.write(f"voicebot: {text}\n")
            self.err.flush()

    def transcript(self, text: str, *, label: bool) -> None:
        self._write(f"{self._paint(BOLD + CYAN, 'You:')} {text}\n" if label else f"{text}\n")

    def _open_reply(self) -> None:
        if not self._in_reply:
            self._in_reply = True
            self._write(self._paint(BOLD + GREEN, "Assistant:") + " ")

    def reasoning(self, text: str) -> None:
        self._open_reply()
        if not self._in_reasoning:
            self._in_reasoning = True
            self._write(self._paint(DIM, "(thinking) "))
        self._write(self._paint(DIM, text))

    def delta(self, text: str) -> None:
        self._open_reply()
        if self._in_reasoning:
            self._in_reasoning = False
            self._write("\n")
        self._write(text)
        self._streamed = True

    def reply(self, text: str, usage: Mapping[str, Any] | None, *, interrupted: bool = False) -> None:
        """End the answer; its text is written here only if it was not streamed."""
        mark = self._paint(YELLOW, "[interrupted]")
        if not self._streamed:
            self._open_reply()
            self._write(text)
        elif not self._in_reply:  # a notice broke the answer's line: the mark goes on its own
            self._write(f"{mark}\n" if interrupted else "")
            self._streamed = self._in_reasoning = False
            return
        self._write(f" {mark}\n" if interrupted else "\n")
        self._in_reply = self._streamed = self._in_reasoning = False

    def event(self, kind: str, **fields: Any) -> None:
        """Structured events (model lists, settings) become aligned columns of values."""
        self._write("  ".join(str(v) for v in fields.values()) + "\n")

    def milestone(self, kind: str, text: str, /, **fields: Any) -> None:
        """A state the daemon reached (ready, recording): for people, the status line.

        The sentence being spoken, and a long take's text heard so far (its transcript
        follows), are only worth a line on a terminal.
        """
        self.status(text, live=kind in ("speech", "preview"))

    def sources(self, found: Sequence[Mapping[str, Any]]) -> None:
        """After a web-search answer: the pages it used, numbered, dim, one a line."""
        if found:
            lines = [f"  [{i}] {s.get('title') or s.get('url')} - {s.get('url')}" for i, s in enumerate(found, 1)]
            self._write(self._paint(DIM, "\n".join(["Sources:", *lines])) + "\n")

    def timing(self, **stages_ms: int) -> None:
        """After a turn: one dim line on stderr, e.g. `heard in 0.31 s · first word 0.52 s`."""
        line = timing_line(stages_ms)
        if line:
            self.notice(line)

    def notice(self, text: str, **fields: Any) -> None:
        """One line on stderr; `fields` are details only JSON readers get."""
        if self._in_reply:  # keep the streamed answer's line intact
            self._write("\n")
            self._in_reply = False
        self._clear_status()
        self.err.write(self._paint_err(DIM, f"voicebot: {text}") + "\n")
        self.err.flush()

    def error(self, text: str) -> None:
        if self._in_reply:
            self._write("\n")
            self._in_reply = False
        self._clear_status()
        self.err.write(self._paint_err(RED, "voicebot: error:") + f" {text}\n")
        self.err.flush()


class JsonOutput:
    """JSON Lines on stdout, one event per line, each flushed as it happens."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err

    def event(self, kind: str, **fields: Any) -> None:
        self.out.write(json.dumps({"type": kind, **fields}, ensure_ascii=False) + "\n")
        self.out.flush()

    def transcript(self, text: str, *, label: bool) -> None:
        self.event("transcript", text=text)

    def reasoning(self, text: str) -> None:
        self.event("reasoning", text=text)

    def delta(self, text: str) -> None:
        self.event("delta", text=text)

    def reply(self, text: str, usage: Mapping[str, Any] | None, *, interrupted: bool = False) -> None:
        fields: dict[str, Any] = {"text": text, "usage": dict(usage) if usage is not None else None}
        if interrupted:
            fields["interrupted"] = True
        self.event("reply", **fields)

    def notice(self, text: str, **fields: Any) -> None:
        self.event("notice", text=text, **fields)

    def milestone(self, kind: str, text: str, /, **fields: Any) -> None:
        """A state the daemon reached, as its own event type (the text is for people)."""
        self.event(kind, **fields)

    def sources(self, found: Sequence[Mapping[str, Any]]) -> None:
        """After a web-search answer: `{"type": "sources", "sources": [{"title", "url", ...}]}`."""
        self.event("sources", sources=[dict(s) for s in found])

    def timing(self, **stages_ms: int) -> None:
        """After a turn: `{"type": "timing", "transcript_ms": ..., "first_word_ms": ...}`."""
        self.event("timing", **stages_ms)

    def error(self, text: str) -> None:
        """Errors go to stdout as events (machine readers) and stderr as a line (people)."""
        self.event("error", message=text)
        self.err.write(f"voicebot: error: {text}\n")
        self.err.flush()

    def status(self, text: str, *, live: bool = False) -> None:
        """State changes are explicit events in JSON mode; the status text is for people."""


class RedactedOutput:
    """Any output with the keys blanked out of every text and field it is given (voicebot.redaction).

    The conversation arrives already redacted by the assistant (a key cut across deltas
    included); this is the same rule for everything else: notices, errors, events.
    """

    def __init__(self, inner: Output, redact: Redaction) -> None:
        self.inner, self.redact = inner, redact

    def _fields(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._value(v) for k, v in fields.items()}

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return self._fields(value)
        if isinstance(value, (list, tuple)):
            return [self._value(v) for v in value]
        return value

    def transcript(self, text: str, *, label: bool) -> None:
        self.inner.transcript(self.redact(text), label=label)

    def reasoning(self, text: str) -> None:
        self.inner.reasoning(self.redact(text))

    def delta(self, text: str) -> None:
        self.inner.delta(self.redact(text))

    def reply(self, text: str, usage: Mapping[str, Any] | None, *, interrupted: bool = False) -> None:
        self.inner.reply(self.redact(text), usage, interrupted=interrupted)

    def event(self, kind: str, **fields: Any) -> None:
        self.inner.event(kind, **self._fields(fields))

    def notice(self, text: str, **fields: Any) -> None:
        self.inner.notice(self.redact(text), **self._fields(fields))

    def error(self, text: str) -> None:
        self.inner.error(self.redact(text))

    def status(self, text: str, *, live: bool = False) -> None:
        self.inner.status(self.redact(text), live=live)

    def milestone(self, kind: str, text: str, /, **fields: Any) -> None:
        self.inner.milestone(kind, self.redact(text), **self._fields(fields))

    def timing(self, **stages_ms: int) -> None:
        self.inner.timing(**stages_ms)

    def sources(self, found: Sequence[Mapping[str, Any]]) -> None:
        self.inner.sources([self._fields(s) for s in found])


def make_output(json_mode: bool, color_setting: str, env: Mapping[str, str],
                out: TextIO | None = None, err: TextIO | None = None, *,
                redact: Redaction | None = None) -> Output:
    """The output for a command, given --json and the colour setting; `redact` blanks the keys."""
    out = out or sys.stdout
    err = err or sys.stderr
    inner: Output
    if json_mode:
        inner = JsonOutput(out, err)
    else:
        inner = HumanOutput(out, err, color=use_color(out, color_setting, env),
                            err_color=use_color(err, color_setting, env))
    return RedactedOutput(inner, redact) if redact else inner
