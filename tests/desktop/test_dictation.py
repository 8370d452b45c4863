"""Dictation that lands: Wayland typing tools, the clean-up guard, the vocabulary prompt.

wtype and ydotool cannot run without a compositor, so they are the one thing faked:
small executables on the session's PATH that record their argv and stdin and exit as
told. Everything else is real: the local Groq server (tests/fakegroq) for the clean-up
model and the prompt limit, real subprocesses for the tools.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.audio.files import prepare_file
from voicebot.cli.wiring import dictation_options, make_assistant, speech_options
from voicebot.config.loading import load_settings
from voicebot.config.schema import Settings
from voicebot.desktop import clipboard, keystrokes
from voicebot.desktop.cleanup import EDIT_PROMPT, drift, words
from voicebot.desktop.dictation import Dictation
from voicebot.errors import UsageError
from voicebot.stt.vocabulary import PROMPT_LIMIT, speech_prompt
from voicebot.turns.console import JsonOutput

DATA = Path(__file__).resolve().parents[1] / "data"
QUICK = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Tools:
    """A folder of fake executables that is the whole PATH of a pretend Wayland session."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "log"
        self.log.mkdir()

    def add(self, name: str, *, status: int = 0, message: str = "", sleep: float = 0, pastes: bool = False) -> None:
        """A tool that records its argv (one per line) and stdin, then says `message` and exits `status`.

        With `pastes`, each call also appends what the clipboard serves at that moment to
        `pasted(name)`: what a paste pressed then would deliver.
        """
        say = f"printf '%s\\n' {shlex.quote(message)} >&2\n" if message else ""
        pause = f"/bin/sleep {sleep}\n" if sleep else ""
        paste = f"[ -e {self.store} ] && /bin/cat {self.store} >> {self.log}/{name}.pasted\n" if pastes else ""
        self._script(name, f"/bin/cat > {self.log}/{name}.stdin\n{paste}{pause}{say}exit {status}\n")

    def _script(self, name: str, body: str) -> None:
        """An executable that records its argv (last call, and every call) and then runs `body`."""
        record = (f"for a in \"$@\"; do printf '%s\\n' \"$a\"; done > {self.log}/{name}.argv\n"
                  f"printf '%s\\n' \"$*\" >> {self.log}/{name}.calls\n")
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{record}{body}")
        path.chmod(0o755)

    @property
    def store(self) -> Path:
        return self.log.parent / "clipboard"

    def clipboard(self, holds: str | None = None, *, late: float | None = 0) -> None:
        """wl-copy and wl-paste sharing one store, as a clipboard: what was copied is what is pasted.

        Like the real wl-copy, the copy is served by a child it leaves behind: after `late`
        seconds (None: never, a clipboard that does not take it); `holds` is there already.
        """
        if holds is not None:
            self.store.write_text(holds)
            self.store.with_suffix(".type").write_text("text/plain\n")
        store, kinds = self.store, self.store.with_suffix(".type")
        take = (f"/bin/cp {self.log}/wl-copy.stdin {store}.new; printf '%s\\n' \"$kind\" > {kinds}; "
                f"/bin/mv {store}.new {store}")
        serve = "" if late is None else take if late == 0 else \
            f"( /bin/sleep {late}; {take} ) </dev/null >/dev/null 2>&1 &\n"
        self._script("wl-copy", f"if [ \"$1\" = --clear ]; then /bin/rm -f {store} {kinds}; exit 0; fi\n"
                                f"/bin/cat > {self.log}/wl-copy.stdin\nkind=text/plain\n"
                                f"[ \"$1\" = --type ] && kind=$2\n{serve}\nexit 0\n")
        self._script("wl-paste", f"[ -e {store} ] || {{ echo 'Nothing is copied' >&2; exit 1; }}\n"
                                 f"if [ \"$1\" = --list-types ]; then /bin/cat {kinds}; else /bin/cat {store}; fi\n")

    def calls(self, name: str) -> list[str]:
        """Every call's arguments, one line a call."""
        path = self.log / f"{name}.calls"
        return path.read_text().splitlines() if path.exists() else []

    def pasted(self, name: str) -> str | None:
        path = self.log / f"{name}.pasted"
        return path.read_text() if path.exists() else None

    def argv(self, name: str) -> list[str] | None:
        path = self.log / f"{name}.argv"
        return path.read_text().splitlines() if path.exists() else None

    def stdin(self, name: str) -> str | None:
        path = self.log / f"{name}.stdin"
        return path.read_text() if path.exists() else None

    def env(self) -> dict[str, str]:
        return {"WAYLAND_DISPLAY": "wayland-test", "PATH": str(self.bin)}


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    return Tools(tmp_path)


def events(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def notices(out: io.StringIO) -> list[dict[str, Any]]:
    return [e for e in events(out) if e["type"] == "notice"]


def land(text: str, env: dict[str, str], client: GroqClient | None = None, **options: Any) -> tuple[str, io.StringIO]:
    out = io.StringIO()
    dictation = Dictation(dictation_options(Settings(**options)), JsonOutput(out, io.StringIO()), client, env)
    return asyncio.run(asyncio.wait_for(dictation.land(text), 30)), out


# --------------------------------------------------------------------------- Wayland typing


def test_wtype_types_the_text_from_stdin(tools: Tools) -> None:
    tools.add("wtype")
    hostile = "$(touch pwned) `id` ' \" ; -x --help ünï"
    _, out = land(hostile, tools.env(), dictate_output="type")
    assert tools.argv("wtype") == ["-"]  # the text is never an argument (visible to other users, or an option)
    assert tools.stdin("wtype") == hostile
    assert notices(out) == []
    assert [e for e in events(out) if e["type"] == "transcript"] == [{"type": "transcript", "text": hostile}]


def test_a_failing_wtype_is_never_success(tools: Tools) -> None:
    tools.add("wtype", status=1, message="Compositor does not support the virtual keyboard protocol")
    _, out = land("hello there", tools.env(), dictate_output="type")
    [notice] = notices(out)
    assert notice["delivered"] is False
    assert notice["text"].startswith("not typed: wtype failed (exit status 1: Compositor does not support the "
                                     "virtual keyboard protocol)")
    assert "only printed above" in notice["text"]
    assert events(out)[0] == {"type": "transcript", "text": "hello there"}  # the words stay on screen


def test_ydotool_takes_over_when_wtype_refuses(tools: Tools) -> None:
    tools.add("wtype", status=1, message="Compositor does not support the virtual keyboard protocol")
    tools.add("ydotool")
    _, out = land("hello there", tools.env(), dictate_output="type")
    assert tools.argv("ydotool") == ["type", "--file", "-"] and tools.stdin("ydotool") == "hello there"
    assert notices(out) == []


def test_ydotool_alone_and_failing_says_why(tools: Tools) -> None:
    tools.add("ydotool", status=2, message="failed to connect socket `/run/user/1000/.ydotool_socket'")
    _, out = land("hello there", tools.env(), dictate_output="type")
    [notice] = notices(out)
    assert notice["delivered"] is False and "ydotool failed (exit status 2: failed to connect socket" in notice["text"]


def test_a_tool_that_hangs_is_stopped_and_not_followed_by_another(tools: Tools,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keystrokes, "BASE_TIMEOUT", 0.5)
    monkeypatch.setattr(keystrokes, "PER_CHARACTER", 0.0)
    tools.add("wtype", sleep=5)
    tools.add("ydotool")
    _, out = land("hello there", tools.env(), dictate_output="type")
    [notice] = notices(out)
    assert notice["delivered"] is False and "wtype did not finish within 0.5 s" in notice["text"]
    assert tools.argv("ydotool") is None  # wtype may have typed part of it: typing again would double it


def test_a_tool_that_cannot_run_is_not_success(tools: Tools) -> None:
    (tools.bin / "wtype").write_text("#!/bin/sh\nexit 0\n")  # present, but not executable
    (tools.bin / "wtype").chmod(0o644)
    tools.clipboard()
    _, out = land("hello", tools.env(), dictate_output="type")
    # shutil.which skips files that are not executable: to the session there is no wtype at all
    [notice] = notices(out)
    assert notice["delivered"] == "clipboard"


def test_wayland_without_a_typing_tool_uses_the_clipboard_and_says_so(tools: Tools) -> None:
    tools.clipboard()
    _, out = land("hello there", tools.env(), dictate_output="type")
    assert tools.stdin("wl-copy") == "hello there"
    [notice] = notices(out)
    assert notice["delivered"] == "clipboard"
    assert notice["text"] == ("not typed: install wtype or ydotool to type on Wayland; the text is on the clipboard "
                              "instead, paste it with Ctrl+V")


def test_wayland_with_no_tool_at_all_is_not_typed(tools: Tools) -> None:
    _, out = land("hello there", tools.env(), dictate_output="type")
    [notice] = notices(out)
    assert notice["delivered"] is False
    assert notice["text"].startswith("not typed: no wtype or ydotool for Wayland, and no clipboard tool found")


def test_x11_without_a_display_is_not_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _, out = land("hello there", {"PATH": os.environ.get("PATH", "")}, dictate_output="type")
    [notice] = notices(out)
    assert notice["delivered"] is False and notice["text"].startswith("not typed: cannot type into windows")


def test_clipboard_paste_on_wayland_then_restore_is_scheduled(tools: Tools) -> None:
    """The paste keys go through the same tool; wl-paste is read first for the restore."""
    tools.add("wtype")
    tools.clipboard()  # an empty clipboard: nothing to restore
    _, out = land("hello there", tools.env(), dictate_output="clipboard", restore_clipboard=True)
    assert tools.stdin("wl-copy") == "hello there"
    assert tools.calls("wl-paste")[0] == "--list-types"  # asked what it holds first: nothing, nothing to put back
    assert tools.argv("wtype") == ["-M", "ctrl", "-k", "v", "-m", "ctrl"]
    assert notices(out) == []


def test_a_failed_paste_leaves_the_text_on_the_clipboard_and_says_so(tools: Tools) -> None:
    tools.add("ydotool", status=2, message="failed to connect socket")
    tools.clipboard()
    _, out = land("hello there", tools.env(), dictate_output="clipboard", restore_clipboard=True)
    assert tools.argv("ydotool") == ["key", "29:1", "47:1", "47:0", "29:0"]
    [notice] = notices(out)
    assert notice["delivered"] == "clipboard" and notice["text"].startswith("not pasted: ydotool failed")


def test_the_paste_waits_until_the_clipboard_serves_the_dictation(tools: Tools) -> None:
    """wl-copy (and xclip) return before their child owns the selection: a paste at once delivers the OLD text."""
    tools.clipboard("my notes", late=0.4)
    tools.add("wtype", pastes=True)
    out = io.StringIO()

    async def go() -> str | None:
        dictation = Dictation(dictation_options(Settings(dictate_output="clipboard", restore_clipboard=True,
                                                         restore_clipboard_seconds=0.1)),
                              JsonOutput(out, io.StringIO()), None, tools.env())
        await dictation.land("hello there")
        await dictation.settled()
        return tools.store.read_text()  # the restore too returns only once the clipboard serves it

    after = asyncio.run(asyncio.wait_for(go(), 30))
    assert tools.pasted("wtype") == "hello there" and notices(out) == []
    assert after == "my notes"


def test_a_clipboard_that_never_takes_the_text_is_not_pasted(tools: Tools, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clipboard, "SERVED_WAIT", 0.3, raising=False)
    tools.clipboard("my notes", late=None)
    tools.add("wtype", pastes=True)
    _, out = land("hello there", tools.env(), dictate_output="clipboard", restore_clipboard=True)
    assert tools.argv("wtype") is None  # no paste: it would deliver "my notes"
    [notice] = notices(out)
    assert notice["delivered"] is False
    assert notice["text"].startswith("not copied: the clipboard did not take the new content within 0.3 s")


@pytest.mark.parametrize(("tool", "argv"), [
    ("wtype", ["-M", "ctrl", "-M", "shift", "-k", "v", "-m", "shift", "-m", "ctrl"]),
    ("ydotool", ["key", "29:1", "42:1", "47:1", "47:0", "42:0", "29:0"]),
])
def test_terminals_paste_keys_are_pressed_by_either_tool(tools: Tools, tool: str, argv: list[str]) -> None:
    """paste_keys = ctrl+shift+v: what terminals paste with (Ctrl+V there pastes nothing)."""
    tools.add(tool)
    tools.clipboard()
    _, out = land("hello there", tools.env(), dictate_output="clipboard", restore_clipboard=True,
                  paste_keys="ctrl+shift+v")
    assert tools.argv(tool) == argv and notices(out) == []


def test_paste_keys_outside_the_choices_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('paste_keys = "ctrl+alt+v"\n')
    with pytest.raises(UsageError, match=r"paste_keys.*ctrl\+v, ctrl\+shift\+v"):
        load_settings({}, {}, config_path=str(config))


# --------------------------------------------------------------------------- clean-up


def cleaned(fake_groq: FakeGroq, text: str, tools: Tools, **options: Any) -> tuple[str, io.StringIO]:
    tools.add("wtype")

    async def go() -> tuple[str, io.StringIO]:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY), max_retries=0) as client:
            out = io.StringIO()
            dictation = Dictation(dictation_options(Settings(dictate_output="type", dictate_cleanup=True, **options)),
                                  JsonOutput(out, io.StringIO()), client, tools.env())
            return await dictation.land(text), out

    return asyncio.run(asyncio.wait_for(go(), 30))


def test_cleanup_edits_and_types_the_question_not_an_answer(fake_groq: FakeGroq, tools: Tools) -> None:
    typed, out = cleaned(fake_groq, "um what is the capital of france", tools)
    assert typed == "What is the capital of france?" == tools.stdin("wtype")
    [request] = fake_groq.requests_to("/chat/completions")
    assert request.json["messages"] == [{"role": "system", "content": EDIT_PROMPT},
                                        {"role": "user", "content": "um what is the capital of france"}]
    assert request.json["stream"] is True and request.json["temperature"] == 0
    assert notices(out) == []


def test_cleanup_that_answers_is_caught_and_the_words_are_typed(fake_groq: FakeGroq, tools: Tools) -> None:
    fake_groq.set_editor("answer")  # a model that answers instead of editing
    typed, out = cleaned(fake_groq, "what is the capital of France", tools)
    assert fake_groq.requests_to("/chat/completions")[0].reply == "The capital of France is Paris."
    assert typed == "what is the capital of France" == tools.stdin("wtype")
    [notice] = notices(out)
    assert notice["check"] == "dictate_cleanup" and "strays from the words spoken" in notice["text"]


def test_a_failed_cleanup_request_types_the_words(fake_groq: FakeGroq, tools: Tools) -> None:
    fake_groq.fail_next("/chat/completions", 500)
    typed, out = cleaned(fake_groq, "hello there", tools)
    assert typed == "hello there" == tools.stdin("wtype")
    [notice] = notices(out)
    assert notice["text"].startswith("dictation not cleaned up: the clean-up request failed")


def test_a_cleanup_reply_cut_short_is_not_typed(fake_groq: FakeGroq, tools: Tools) -> None:
    """max_completion_tokens ends the edit early: dropping the end of the dictation is no edit."""
    said = " ".join(f"word{i}" for i in range(40))
    typed, out = cleaned(fake_groq, said, tools, max_completion_tokens=100)
    assert fake_groq.requests_to("/chat/completions")[0].reply != ""  # the model did send part of it
    assert typed == said == tools.stdin("wtype")
    [notice] = notices(out)
    assert "cut short (finish_reason length)" in notice["text"]


def test_a_cleanup_cut_short_still_shows_the_words(fake_groq: FakeGroq, tools: Tools) -> None:
    fake_groq.inject("/chat/completions", delay=5)

    async def go() -> io.StringIO:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            out = io.StringIO()
            dictation = Dictation(dictation_options(Settings(dictate_output="type", dictate_cleanup=True)),
                                  JsonOutput(out, io.StringIO()), client, tools.env())
            task = asyncio.create_task(dictation.land("hello there"))
            await asyncio.sleep(0.3)  # a stimulus: the clean-up request is under way
            task.cancel()  # barge-in or Esc
            with pytest.raises(asyncio.CancelledError):
                await task
            return out

    out = asyncio.run(asyncio.wait_for(go(), 30))
    assert events(out) == [{"type": "transcript", "text": "hello there"}]
    assert tools.stdin("wtype") is None


# the guard, as a pure function

word = st.from_regex(r"[a-z]{1,8}", fullmatch=True)
FILLERS = ["um", "uh", "er"]


@QUICK
@given(said=st.lists(word, min_size=1, max_size=40), data=st.data())
def test_guard_accepts_edits(said: list[str], data: st.DataObject) -> None:
    """Casing, punctuation, fillers removed and up to half the words dropped are all edits."""
    spoken = " ".join(said)
    punctuated = " ".join(w.capitalize() + data.draw(st.sampled_from(["", ",", ".", "?"])) for w in said)
    assert drift(spoken, punctuated).acceptable()
    with_fillers = " ".join(w + " " + data.draw(st.sampled_from(FILLERS)) for w in said)
    assert drift(with_fillers, spoken).acceptable()
    keep = data.draw(st.lists(st.booleans(), min_size=len(said), max_size=len(said)))
    kept = [w for w, k in zip(said, keep, strict=True) if k]
    if len(kept) * 2 >= len(said) and kept:
        assert drift(spoken, " ".join(kept)).acceptable()


@QUICK
@given(said=st.lists(word, min_size=1, max_size=40), extra=st.lists(st.from_regex(r"[0-9]{2,6}", fullmatch=True),
                                                                    min_size=2, max_size=30))
def test_guard_rejects_answers(said: list[str], extra: list[str]) -> None:
    """New words beyond the allowance, or most of the spoken words gone, are not an edit."""
    spoken = " ".join(said)
    answer = said + extra
    if len(extra) > max(1, int(len(answer) * 0.15)):
        assert not drift(spoken, " ".join(answer)).acceptable()
    assert not drift(spoken, " ".join(extra)).acceptable()  # a reply in other words altogether
    if len(said) >= 3:
        assert not drift(spoken, said[0]).acceptable()  # one word of three or more kept


def test_guard_on_the_cases_that_matter() -> None:
    assert not drift("what is the capital of france", "The capital of France is Paris.").acceptable()
    assert not drift("what is the capital of france", "Paris.").acceptable()
    assert not drift("write me a poem about the sea", "The sea is wide, the sea is deep.").acceptable()
    assert drift("what is the capital of france", "What is the capital of France?").acceptable()
    assert drift("let's meet at five no wait I mean six", "Let's meet at six.").acceptable()
    assert drift("um so I was uh thinking we could um meet", "So I was thinking we could meet.").acceptable()
    assert not drift("hello", "").acceptable()
    assert words("Let’s go, don't STOP!") == ["lets", "go", "dont", "stop"]


# --------------------------------------------------------------------------- vocabulary


def test_vocabulary_joins_the_stt_prompt() -> None:
    assert speech_prompt(None, []).text is None
    assert speech_prompt("Meeting notes.", ["Kubernetes", " Groq ", ""]).text == "Meeting notes. Kubernetes, Groq"
    assert speech_prompt(None, ["Kubernetes", "Groq"]).text == "Kubernetes, Groq"
    assert speech_options(Settings(stt_prompt="Notes.", vocabulary=["Groq"])).prompt.text == "Notes. Groq"


@QUICK
@given(own=st.one_of(st.none(), st.text(max_size=1200)), vocabulary=st.lists(st.text(min_size=1, max_size=40),
                                                                              max_size=120))
def test_the_prompt_never_exceeds_the_limit(own: str | None, vocabulary: list[str]) -> None:
    prompt = speech_prompt(own, vocabulary)
    text = prompt.text or ""
    assert len(text) <= PROMPT_LIMIT
    kept = [" ".join(w.split()) for w in vocabulary if w.split()]
    assert list(prompt.left_out) == kept[len(kept) - len(prompt.left_out):]  # the last words go first
    if not prompt.trimmed:
        assert text == " ".join(p for p in (" ".join((own or "").split()), ", ".join(kept)) if p)


def test_a_long_vocabulary_is_trimmed_accepted_and_told_once(fake_groq: FakeGroq) -> None:
    vocabulary = [f"Term{i:03d}" for i in range(150)]  # 150 words: about 1,200 characters
    settings_ = Settings(vocabulary=vocabulary, stt_prompt="Project words:")
    audio = prepare_file(str(DATA / "capital.wav"))

    async def go() -> io.StringIO:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            out = io.StringIO()
            assistant = make_assistant(client, settings_, JsonOutput(out, io.StringIO()))
            assert await assistant.transcribe(audio) == "What is the capital of France?"
            await assistant.transcribe(audio)
            return out

    out = asyncio.run(asyncio.wait_for(go(), 60))
    sent = [r.form["prompt"] for r in fake_groq.requests_to("/audio/transcriptions")]  # type: ignore[index]
    assert len(sent) == 2 and all(isinstance(p, str) and len(p) <= PROMPT_LIMIT for p in sent)
    assert sent[0].startswith("Project words: Term000, Term001")
    [notice] = notices(out)  # once, not at every take
    assert notice["check"] == "stt_prompt_trimmed" and notice["left_out"][-1] == "Term149"
    assert re.match(r"the speech-to-text prompt is limited to 896 characters: \d+ vocabulary word", notice["text"])


def test_the_fake_refuses_a_prompt_over_896_characters_like_groq(fake_groq: FakeGroq) -> None:
    audio = prepare_file(str(DATA / "capital.wav"))
    name, data, content_type = audio.as_upload()

    async def go(prompt: str) -> str:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            result = await client.transcribe(filename=name, data=data, content_type=content_type,
                                             model="whisper-large-v3-turbo", prompt=prompt)
            return result.text

    assert asyncio.run(go("a" * 896)).strip() == "What is the capital of France?"
    from voicebot.errors import ApiError
    with pytest.raises(ApiError, match="prompt is too long"):
        asyncio.run(go("a" * 897))


def test_the_new_settings_come_from_env_and_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('vocabulary = ["Kubernetes", "Groq"]\nrestore_clipboard = true\n')
    s, _ = load_settings({}, {"VOICEBOT_DICTATE_CLEANUP": "true", "VOICEBOT_RESTORE_CLIPBOARD_SECONDS": "2.5",
                              "HOME": str(tmp_path)}, config_path=str(config))
    assert s.vocabulary == ["Kubernetes", "Groq"] and s.restore_clipboard is True
    assert s.dictate_cleanup is True and s.restore_clipboard_seconds == 2.5
