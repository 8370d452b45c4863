"""What is on the screen as context for a question: the selected text, or the clipboard.

A binding with `context = "selection"` (or `"clipboard"`) asks with that text attached:
"explain this", "what does this error mean". It is read only for such a binding, once
the question is known, through the clipboard tools (voicebot.desktop.clipboard: PRIMARY
with xclip/xsel on X11, `wl-paste --primary` on Wayland), and cut to `limit` characters
with a notice when longer. The question and the text go to the model as one user message,
the text fenced off so that instructions inside it read as material, not as the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from voicebot.desktop.clipboard import read_clipboard, read_selection
from voicebot.errors import UsageError
from voicebot.protocols import Answerer
from voicebot.turns.console import Output

SOURCES = ("selection", "clipboard")
_NAMES = {"selection": "selected text", "clipboard": "clipboard text"}


@dataclass(frozen=True)
class Attached:
    """The text attached to a question: where from, the text (perhaps cut), its full length."""

    source: str
    text: str
    total: int

    @property
    def trimmed(self) -> bool:
        return len(self.text) < self.total


def read_context(source: str, limit: int, env: Mapping[str, str] | None = None) -> Attached:
    """The selection or clipboard text, stripped and cut to `limit` characters (UsageError: no tool)."""
    raw = read_selection(env) if source == "selection" else read_clipboard(env)
    text = (raw or "").strip()
    return Attached(source, text[:limit], len(text))


def with_context(question: str, attached: Attached) -> str:
    """The user message: the spoken question, then the attached text fenced off."""
    name = _NAMES[attached.source]
    cut = f", the first {len(attached.text)} of {attached.total} characters" if attached.trimmed else ""
    return f"{question}\n\n[{name}{cut}]\n<<<\n{attached.text}\n>>>"


def describe(attached: Attached) -> str:
    """For the status line: `with 312 characters of selected text`."""
    return f"with {len(attached.text)} characters of {_NAMES[attached.source]}"


class ContextAnswerer:
    """An answerer that attaches the context to the question it passes on."""

    def __init__(self, answerer: Answerer, attached: Attached) -> None:
        self.answerer = answerer
        self.attached = attached

    async def ask(self, question: str) -> str:
        return await self.answerer.ask(with_context(question, self.attached))


async def attach(source: str, limit: int, answerer: Answerer, output: Output,
                 env: Mapping[str, str] | None = None) -> Answerer:
    """Read the context and say how much is attached; the answerer that sends it (as is, if none)."""
    name = _NAMES[source]
    try:
        attached = await asyncio.to_thread(read_context, source, limit, env)
    except UsageError as exc:
        output.notice(f"no {name} attached: {exc}", context=source, reason=str(exc))
        return answerer
    if not attached.text:
        output.notice(f"no {name} to attach: asking without it", context=source, chars=0)
        return answerer
    if attached.trimmed:
        output.notice(f"{name} cut to its first {len(attached.text)} of {attached.total} characters "
                      "(context_max_chars)", context=source, chars=len(attached.text), total=attached.total)
    output.milestone("context", describe(attached), source=source, chars=len(attached.text),
                     total=attached.total)
    return ContextAnswerer(answerer, attached)
