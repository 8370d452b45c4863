"""The one Mode model: what each mode does, and the one place that acts on a transcript."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

import voicebot.desktop.dictation
from voicebot.cli.parser import build_parser
from voicebot.config.schema import FIELDS
from voicebot.modes import (
    ASK,
    CANCEL,
    CONVERSE,
    DICTATE,
    EDIT,
    NAMES,
    NEW,
    RECORDING_NAMES,
    TRANSLATE,
    After,
    Endpoint,
    Mode,
    after_transcript,
    mode_named,
    recording_mode,
)
from voicebot.spool.kept_take import decode_sidecar


def test_each_mode_says_where_its_audio_goes_and_what_follows() -> None:
    assert (ASK.endpoint, ASK.after, ASK.answers, ASK.translates) == (Endpoint.TRANSCRIBE, After.ANSWER, True, False)
    assert (TRANSLATE.endpoint, TRANSLATE.answers, TRANSLATE.translates) == (Endpoint.TRANSLATE, False, True)
    assert (DICTATE.endpoint, DICTATE.after, DICTATE.answers) == (Endpoint.TRANSCRIBE, After.DICTATE, False)
    modes = (ASK, TRANSLATE, DICTATE, EDIT, NEW, CANCEL, CONVERSE)
    assert [m.records for m in modes] == [True, True, True, True, False, False, False]
    assert NAMES == ("ask", "translate", "dictate", "edit", "new", "cancel", "converse")
    assert RECORDING_NAMES == ("ask", "translate", "dictate", "edit")


def test_then_ask_makes_a_translation_answered_and_nothing_else() -> None:
    asking = TRANSLATE.with_then_ask(True)
    assert asking.answers and asking.translates and asking.then_ask and asking.label == "translate +ask"
    assert TRANSLATE.label == "translate" and asking != TRANSLATE
    assert ASK.with_then_ask(True) is ASK and DICTATE.with_then_ask(True) is DICTATE  # ignored, as ever
    assert not DICTATE.with_then_ask(True).answers
    with pytest.raises(ValueError, match="then_ask applies only"):
        Mode("dictate", Endpoint.TRANSCRIBE, After.DICTATE, then_ask=True)
    with pytest.raises(ValueError, match="both an endpoint and an after"):
        Mode("half", Endpoint.TRANSCRIBE)


def test_modes_are_looked_up_by_name_with_one_message() -> None:
    assert mode_named("new") is NEW and mode_named("translate", then_ask=True).answers
    assert recording_mode("dictate") is DICTATE
    listed = r"\(modes: ask, translate, dictate, edit, new, cancel, converse\)"
    with pytest.raises(ValueError, match=r"unknown mode 'shout' " + listed):
        mode_named("shout")
    with pytest.raises(ValueError, match=r"unknown mode 'new' \(modes: ask, translate, dictate, edit\)"):
        recording_mode("new")


def test_the_cli_and_the_settings_read_the_same_table(capsys: pytest.CaptureFixture[str]) -> None:
    for name in RECORDING_NAMES:
        assert build_parser().parse_args(["run", "--mode", name]).mode == name
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--mode", "new"])  # records nothing: not a --mode
    assert "'ask', 'translate', 'dictate', 'edit'" in capsys.readouterr().err
    assert "(modes: ask, translate, dictate, edit, new, cancel, converse)" in FIELDS["hotkeys"].metadata["help"]


class Shown:
    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []

    def transcript(self, text: str, *, label: bool) -> None:
        self.log.append(("transcript", label))

    async def ask(self, question: str) -> str:
        self.log.append(("ask", question))
        return "answer"


def follow(mode: Mode, dictate: Callable[[str, bool], Awaitable[object]] | None = None) -> list[tuple[str, object]]:
    seen = Shown()
    asyncio.run(after_transcript(mode, "hi there", output=seen, assistant=seen, dictate=dictate,
                                 shown=lambda: seen.log.append(("shown", None)),
                                 answering=lambda: seen.log.append(("answering", None))))
    return seen.log


def test_after_transcript_shows_then_does_what_the_mode_says() -> None:
    delivered: list[str] = []

    async def land(text: str, then_enter: bool) -> None:
        delivered.append(text + ("⏎" if then_enter else ""))

    answered = [("transcript", True), ("shown", None), ("answering", None), ("ask", "hi there")]
    assert follow(ASK) == answered
    assert follow(TRANSLATE.with_then_ask(True)) == answered
    assert follow(TRANSLATE) == [("transcript", False), ("shown", None)]
    assert follow(DICTATE, land) == [("shown", None)]  # the landing prints the words itself
    assert follow(replace(DICTATE, then_enter=True), land) == [("shown", None)]
    assert delivered == ["hi there", "hi there⏎"]  # Enter is the landing's to press, after the text


def test_edit_shows_the_instruction_then_rewrites_by_it() -> None:
    instructions: list[str] = []

    async def rewrite(text: str) -> None:
        instructions.append(text)

    seen = Shown()
    asyncio.run(after_transcript(EDIT, "make it formal", output=seen, assistant=seen, edit=rewrite))
    assert seen.log == [("transcript", False)] and instructions == ["make it formal"]
    assert follow(EDIT) == [("transcript", False), ("shown", None)]  # a take sent again later rewrites nothing


def test_dictation_printed_only_types_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    typed: list[str] = []

    async def land(self: object, text: str, then_enter: bool = False) -> str:
        typed.append(text)
        return text

    monkeypatch.setattr(voicebot.desktop.dictation.Dictation, "land", land)
    assert follow(DICTATE) == [("transcript", False), ("shown", None)]
    assert typed == []


@pytest.mark.parametrize(("stored", "label", "answers"), [
    ({"mode": "translate", "then_ask": True}, "translate +ask", True),
    ({"mode": "translate", "then_ask": False}, "translate", False),
    ({"mode": "translate"}, "translate", False),  # then_ask missing: not answered
    ({"mode": "ask"}, "ask", True),
    ({"mode": "dictate", "then_ask": True}, "dictate", False),
])
def test_a_kept_takes_sidecar_still_loads_its_mode(tmp_path: Path, stored: dict[str, object], label: str,
                                                   answers: bool) -> None:
    take_id = "20261122T031502Z-ab12"
    raw = {"version": 1, "id": take_id, "time": "2026-11-22T03:15:02.120000Z", "source": "microphone",
           "duration": 2.5, "attempts": 0, "error": None, "audio": f"{take_id}.flac", **stored}
    take = decode_sidecar(json.dumps(raw).encode(), take_id, tmp_path)
    assert (take.kind.label, take.kind.answers, take.asks) == (label, answers, answers)
