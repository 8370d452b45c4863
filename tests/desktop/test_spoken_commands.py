"""Spoken commands in dictation: the pure interpretation over Whisper's phrasings, and what lands.

The keys themselves reach real windows in tests/live/test_spoken_commands_live.py; here the
interpretation of many transcripts as Whisper writes them (case, punctuation, pause commas),
and, with the Wayland tools faked as in test_dictation.py, the BackSpaces a later take sends.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.desktop.test_dictation import Tools
from voicebot.cli.wiring import dictation_options
from voicebot.config.schema import Settings
from voicebot.desktop.dictation import Dictation
from voicebot.desktop.spoken_commands import Edit, interpret
from voicebot.turns.console import JsonOutput


@pytest.mark.parametrize("heard, typed", [
    ("Hello world.", "Hello world."),
    (" Hello world, how are you?", " Hello world, how are you?"),  # no command: exactly as heard
    ("Hello world. New line. How are you?", "Hello world.\nHow are you?"),
    ("Hello world, new line, how are you?", "Hello world\nhow are you?"),
    ("Hello world new line how are you", "Hello world\nhow are you"),
    ("Hello world. Newline. How are you?", "Hello world.\nHow are you?"),
    ("Hello world. New-line. How are you?", "Hello world.\nHow are you?"),
    ("Hello world. NEW LINE! How are you?", "Hello world.\nHow are you?"),
    ("Dear John, new paragraph, thanks for the tea.", "Dear John\n\nthanks for the tea."),
    ("Dear John. New paragraph. Thanks for the tea.", "Dear John.\n\nThanks for the tea."),
    ("Dear John; New paragraph: Thanks.", "Dear John\n\nThanks."),
    ("New line.", "\n"),
    ("new paragraph,", "\n\n"),
    ("New line. New line. Done.", "\n\nDone."),
    ("Is it new? New line. Yes.", "Is it new?\nYes."),
    ("Draw the new lines here.", "Draw the new lines here."),  # "new lines" is not the command
    ("Renew line items.", "Renew line items."),
    ("The newline character.", "The\ncharacter."),  # a command is its words, wherever they are said
    ("Buy milk. Scratch that. Buy bread.", "Buy bread."),
    ("Buy milk, scratch that, buy bread.", "buy bread."),
    ("First. New line. Second. Scratch that. Third.", "First.\nThird."),
    ("First. New line. Scratch that. Second.", "First.Second."),  # the break was the last piece
    ("One. New line. Two. Scratch that. Scratch that. Three.", "One.Three."),
    ("Scratch-that. Hello.", "Hello."),
])
def test_a_transcript_types_its_words_with_the_commands_applied(heard: str, typed: str) -> None:
    assert interpret(heard) == Edit(typed)


@pytest.mark.parametrize("heard, earlier, edit", [
    ("Scratch that.", ["Hello there."], Edit("", 12, 1)),
    ("scratch that", ["Hello there."], Edit("", 12, 1)),
    ("Scratch that! Goodbye.", ["One.", "Hello there."], Edit("Goodbye.", 12, 1)),
    ("Scratch that. Scratch that.", ["One.", "Line\ntwo."], Edit("", 13, 2)),
    ("Scratch that. Scratch that. Scratch that.", ["One."], Edit("", 4, 1)),  # nothing more to take back
    ("Scratch that.", [], Edit("", 0, 0)),
    ("Hello. Scratch that.", ["Earlier."], Edit("", 0, 0)),  # this take's own piece goes first
])
def test_scratch_that_at_the_start_takes_back_the_previous_dictation(heard: str, earlier: list[str],
                                                                      edit: Edit) -> None:
    assert interpret(heard, earlier) == edit


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    return Tools(tmp_path)


def events(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_later_scratch_that_backspaces_what_the_last_dictation_typed(tools: Tools) -> None:
    tools.add("wtype")
    out = io.StringIO()
    dictation = Dictation(dictation_options(Settings(dictate_output="type", dictate_commands=True)),
                          JsonOutput(out, io.StringIO()), None, tools.env())

    async def go() -> None:
        await dictation.land("Dear John. New line. Hello.")
        await dictation.land("Scratch that.")
        await dictation.land("Scratch that.")  # nothing left to take back: no keys

    asyncio.run(asyncio.wait_for(go(), 30))
    calls = tools.calls("wtype")
    assert calls == ["-", " ".join(["-k BackSpace"] * len("Dear John.\nHello."))]
    assert (tools.log / "wtype.stdin").exists()
    said = [e for e in events(out) if e["type"] in ("transcript", "scratched", "notice")]
    assert said == [{"type": "transcript", "text": "Dear John.\nHello."}, {"type": "transcript", "text": ""},
                    {"type": "scratched", "chars": 17, "dictations": 1}, {"type": "transcript", "text": ""}]


def test_without_the_setting_the_words_are_typed_as_heard(tools: Tools) -> None:
    tools.add("wtype")
    dictation = Dictation(dictation_options(Settings(dictate_output="type")), JsonOutput(io.StringIO(), io.StringIO()),
                          None, tools.env())
    asyncio.run(asyncio.wait_for(dictation.land("Scratch that. New line."), 30))
    assert (tools.log / "wtype.stdin").read_text() == "Scratch that. New line."


def test_a_failed_take_back_types_nothing_after_it(tools: Tools) -> None:
    tools.add("wtype")
    out = io.StringIO()
    dictation = Dictation(dictation_options(Settings(dictate_output="type", dictate_commands=True)),
                          JsonOutput(out, io.StringIO()), None, tools.env())

    async def go() -> None:
        await dictation.land("Hello.")
        tools.add("wtype", status=1, message="Compositor does not support the virtual keyboard protocol")
        await dictation.land("Scratch that. Goodbye.")

    asyncio.run(asyncio.wait_for(go(), 30))
    assert tools.calls("wtype")[-1].startswith("-k BackSpace")  # the BackSpaces were tried, "Goodbye." never was
    [notice] = [e for e in events(out) if e["type"] == "notice"]
    assert notice["text"].startswith("not scratched: wtype failed") and notice["delivered"] is False
