"""A binding's context: which tool reads what, how the question carries it, what a config may say.

The real selections are read in tests/live/test_context_desktop.py (Xvfb and sway); here
the tools are stand-ins on PATH that print a given text, to pin down the commands and
the rules around them.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from voicebot.cli.commands import build_bindings
from voicebot.config.loading import load_settings
from voicebot.desktop.context import Attached, attach, read_context, with_context
from voicebot.errors import UsageError
from voicebot.turns.console import JsonOutput


def tool(bin_dir: Path, name: str, prints: str) -> Path:
    """A stand-in that records its argv and prints `prints`."""
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / f"{name}.out").write_text(prints)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {bin_dir}/{name}.argv\n/bin/cat {bin_dir}/{name}.out\n")
    path.chmod(0o755)
    return path


def argv(bin_dir: Path, name: str) -> list[str]:
    return (bin_dir / f"{name}.argv").read_text().splitlines()


@pytest.mark.parametrize(("env", "name", "expected"), [
    ({"WAYLAND_DISPLAY": "wayland-1"}, "wl-paste", ["--primary", "--no-newline"]),
    ({"DISPLAY": ":5"}, "xclip", ["-selection", "primary", "-out"]),
])
def test_the_selection_is_read_from_primary(tmp_path: Path, env: dict[str, str], name: str,
                                            expected: list[str]) -> None:
    bin_dir = tmp_path / "bin"
    if name == "wl-paste":
        tool(bin_dir, "wl-copy", "")  # wl-clipboard is found by its writer
    tool(bin_dir, name, "  the selected words \n")
    attached = read_context("selection", 1000, {**env, "PATH": str(bin_dir)})
    assert argv(bin_dir, name) == expected
    assert attached == Attached("selection", "the selected words", 18)


def test_the_question_carries_the_text_fenced_and_says_when_it_was_cut() -> None:
    whole = with_context("What does this mean?", Attached("selection", "KeyError: 'x'", 13))
    assert whole == "What does this mean?\n\n[selected text]\n<<<\nKeyError: 'x'\n>>>"
    cut = with_context("Summarise.", Attached("clipboard", "abc", 10))
    assert cut.startswith("Summarise.\n\n[clipboard text, the first 3 of 10 characters]\n")


class Recorder:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def ask(self, question: str) -> str:
        self.asked.append(question)
        return "ok"


def test_no_tool_means_asking_without_it_and_saying_so() -> None:
    out = io.StringIO()
    recorder = Recorder()
    answerer = asyncio.run(attach("selection", 100, recorder, JsonOutput(out, io.StringIO()), {"PATH": "/nowhere"}))
    asyncio.run(answerer.ask("Explain this."))
    assert recorder.asked == ["Explain this."]
    [event] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert event["type"] == "notice" and event["text"].startswith("no selected text attached: no clipboard tool")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def test_context_on_an_asking_binding_reaches_its_mode(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[hotkeys]\nask = { keys = "f9", context = "clipboard" }\n'
                          'translate = { keys = "f8", then_ask = true, context = "selection" }\n')
    settings, _ = load_settings({}, {}, config_path=cfg)
    modes = {b.mode.name: b.mode for b in build_bindings(settings, None, None, False)}
    assert (modes["ask"].context, modes["translate"].context) == ("clipboard", "selection")
    [only] = build_bindings(settings, "f7", "ask", False)  # --hotkey/--mode keep the binding's context
    assert only.mode.context == "clipboard"


@pytest.mark.parametrize(("table", "needle"), [
    ('dictate = { keys = "f9", context = "selection" }', "context applies to a binding that asks"),
    ('ask = { keys = "f9", context = "screen" }', 'context must be "selection" or "clipboard"'),
])
def test_context_mistakes_name_the_line(tmp_path: Path, table: str, needle: str) -> None:
    cfg = write(tmp_path, f"[hotkeys]\n{table}\n")
    with pytest.raises(UsageError, match=needle) as info:
        load_settings({}, {}, config_path=cfg)
    assert cfg in str(info.value)
