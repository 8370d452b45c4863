"""Kept takes in the daemon: the resend's decisions as pure functions, and its loop on a real store."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from voicebot.audio.encoding import PreparedAudio
from voicebot.audio.files import prepare_file
from voicebot.errors import ApiError, NoSpeechError, VoicebotError
from voicebot.modes import ASK, TRANSLATE
from voicebot.spool.resend import (
    PIECE,
    RETRY_MAX,
    SUPERSEDED,
    KeptTakes,
    Outcome,
    due,
    honour_retry_after,
    next_delay,
    outcome,
)
from voicebot.spool.store import PendingStore
from voicebot.turns.console import JsonOutput

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def capital() -> PreparedAudio:
    return prepare_file(DATA / "capital.wav")


@pytest.fixture
def store(tmp_path: Path) -> PendingStore:
    return PendingStore(tmp_path / "pending")


# --- decisions -------------------------------------------------------------------------------------


def test_due_leaves_out_superseded_and_given_up_takes(store: PendingStore, capital: PreparedAudio) -> None:
    a, b, c = (store.save(capital, mode="ask") for _ in range(3))
    store.mark_failed(b, SUPERSEDED)
    assert [t.id for t in due(store.list(), given_up={c.id})] == [a.id]
    assert [t.id for t in due(store.list(), given_up=set())] == [a.id, c.id]


def test_pieces_left_by_a_daemon_that_died_mid_take_wait_for_a_manual_retry(store: PendingStore,
                                                                            capital: PreparedAudio) -> None:
    whole = store.save(capital, mode="ask")
    piece = store.save(capital, mode="ask", note=PIECE)  # saved during the hold, never joined to its take
    (listed,) = [t for t in store.list() if t.id == piece.id]
    assert listed.error == PIECE and listed.attempts == 0  # `voicebot pending` says what it is
    assert [t.id for t in due(store.list(), given_up=set())] == [whole.id]  # never asked on its own


@pytest.mark.parametrize(("exc", "delivered", "expected"), [
    (ApiError("bad request", status=400), False, Outcome.GIVE_UP),
    (ApiError("bad key", status=401), False, Outcome.GIVE_UP),
    (ApiError("too large", status=413), False, Outcome.GIVE_UP),
    (ApiError("timeout", status=408), False, Outcome.RETRY),
    (ApiError("conflict", status=409), False, Outcome.RETRY),
    (ApiError("rate limited", status=429), False, Outcome.RETRY),
    (ApiError("server", status=503), False, Outcome.RETRY),
    (ApiError("no connection"), False, Outcome.RETRY),  # no status: the network, not the request
    (VoicebotError("disk hiccup"), False, Outcome.RETRY),
    (ApiError("bad request", status=400), True, Outcome.DONE),  # transcribed; only the answer failed
])
def test_outcome_of_a_failed_resend(exc: VoicebotError, delivered: bool, expected: Outcome) -> None:
    assert outcome(exc, delivered=delivered) is expected


def test_the_wait_backs_off_and_honours_the_server() -> None:
    assert next_delay(10, 10, sent=True) == 10
    assert [next_delay(d, 10, sent=False) for d in (10, 40, 200, RETRY_MAX)] == [20, 80, RETRY_MAX, RETRY_MAX]
    assert next_delay(0.5, 10, sent=False) == 10  # never below the first wait
    assert honour_retry_after(10, ApiError("rate limited", status=429, retry_after=120)) == 120
    assert honour_retry_after(10, ApiError("rate limited", status=429, retry_after=3)) == 10
    assert honour_retry_after(10, VoicebotError("x")) == 10


# --- the loop, against a real store and a scripted assistant -------------------------------------


class Assistant:
    def __init__(self, *results: str | Exception) -> None:
        self.results = list(results)
        self.asked: list[str] = []

    async def transcribe(self, audio: PreparedAudio, *, translate: bool = False, mode: str | None = None) -> str:
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    async def ask(self, question: str) -> str:
        self.asked.append(question)
        return "answer"

    async def recorded(self) -> bool:
        return True  # no log here: the take may go at once


def kept_takes(store: PendingStore, assistant: Assistant, out: io.StringIO) -> KeptTakes:
    return KeptTakes(store, assistant, JsonOutput(out, io.StringIO()), first_delay=0.01)


def events(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_refused_take_is_given_up_and_the_next_one_is_sent(store: PendingStore, capital: PreparedAudio) -> None:
    first = store.save(capital, mode="ask")
    second = store.save(capital, mode="translate", then_ask=True)
    assistant, out = Assistant(ApiError("file too large", status=413), "bonjour"), io.StringIO()
    kept = kept_takes(store, assistant, out)
    turns: list[str] = []

    async def run_turn(coro: Coroutine[Any, Any, bool], name: str) -> bool:
        turns.append(name)
        return await coro

    async def go() -> None:
        kept.wake()
        loop = asyncio.create_task(kept.run(lambda: False, run_turn))
        async with asyncio.timeout(10):
            while store.list() != [store.get(first.id)] or not assistant.asked:
                await asyncio.sleep(0.01)
        loop.cancel()

    asyncio.run(go())
    assert turns == [f"resend-{first.id}", f"resend-{second.id}"]
    assert kept.given_up == {first.id} and assistant.asked == ["bonjour"]
    assert (store.get(first.id).attempts, store.get(first.id).error) == (1, "file too large")
    errors = [e["message"] for e in events(out) if e["type"] == "error"]
    assert errors == [f"file too large; the take stays kept, `voicebot retry {first.id}` sends it by hand"]


def test_a_failure_that_may_pass_backs_off_by_the_servers_wait(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="ask")
    out = io.StringIO()
    kept = kept_takes(store, Assistant(ApiError("rate limited", status=429, retry_after=90)), out)
    assert asyncio.run(kept.send(store.get(take.id))) is False
    assert kept.delay == 90 and kept.given_up == set() and store.list()[0].attempts == 1
    assert any("still kept, will try again" in e.get("message", "") for e in events(out))


def test_no_speech_removes_the_take(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="ask")
    kept = kept_takes(store, Assistant(NoSpeechError("no speech")), io.StringIO())
    assert asyncio.run(kept.send(take)) is True and store.list() == []


def test_nothing_runs_while_the_daemon_is_busy(store: PendingStore, capital: PreparedAudio) -> None:
    store.save(capital, mode="ask")
    kept = kept_takes(store, Assistant("hello"), io.StringIO())

    async def run_turn(coro: Coroutine[Any, Any, bool], name: str) -> bool:
        raise AssertionError("a resend started during a live take")

    async def go() -> None:
        kept.wake()
        loop = asyncio.create_task(kept.run(lambda: True, run_turn))
        await asyncio.sleep(0.2)  # a stimulus: twenty chances to act wrongly
        loop.cancel()

    asyncio.run(go())
    assert len(store.list()) == 1


def test_transcribe_keeps_the_take_until_its_text_is_back(store: PendingStore, capital: PreparedAudio) -> None:
    out = io.StringIO()
    kept = kept_takes(store, Assistant(ApiError("server", status=503), "hello"), out)
    assert asyncio.run(kept.transcribe(capital, TRANSLATE.with_then_ask(True), stopping=lambda: False)) is None
    (take,) = store.list()
    assert (take.mode, take.then_ask, take.error) == ("translate", True, "server")
    assert "kept at" in events(out)[-1]["message"]
    assert asyncio.run(kept.transcribe(capital, ASK, stopping=lambda: False)) == "hello"
    assert store.list() == [take]  # the new take came back and is gone; the failed one stays


class SlowDisk(PendingStore):
    """A store whose fsyncs wait for `done`: a disk busy at the key release."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.done = threading.Event()

    def make_durable(self, take: Any) -> None:
        if not self.done.wait(10):
            raise AssertionError("the test never let the fsyncs finish")
        super().make_durable(take)


class Gated(Assistant):
    """Transcribes once it is let through; says how the take stood on disk when it began."""

    def __init__(self, store: SlowDisk, *results: str | Exception) -> None:
        super().__init__(*results)
        self.store = store
        self.began = asyncio.Event()
        self.go = asyncio.Event()
        self.at_start: tuple[int, bool] | None = None  # (takes listed, fsyncs done)

    async def transcribe(self, audio: PreparedAudio, *, translate: bool = False, mode: str | None = None) -> str:
        self.at_start = (len(self.store.list()), self.store.done.is_set())
        self.began.set()
        await self.go.wait()
        return await super().transcribe(audio, translate=translate, mode=mode)


def test_the_upload_waits_for_the_take_on_disk_but_not_for_its_fsyncs(tmp_path: Path,
                                                                        capital: PreparedAudio) -> None:
    """The take is written before its upload (a killed daemon loses nothing), its fsyncs (10-100
    ms on a busy disk) run while it goes up, and it leaves the spool only once both are done."""
    store = SlowDisk(tmp_path / "pending")
    assistant = Gated(store, "hello")
    kept = kept_takes(store, assistant, io.StringIO())

    async def go() -> str | None:
        job = asyncio.create_task(kept.transcribe(capital, ASK, stopping=lambda: False))
        await asyncio.wait_for(assistant.began.wait(), 10)
        assert assistant.at_start == (1, False)  # on disk, whole, before the upload; not yet fsynced
        assistant.go.set()  # the text comes back first...
        for _ in range(20):
            await asyncio.sleep(0)
        assert not job.done() and len(store.list()) == 1  # ...but the take stays until it was fsynced
        store.done.set()
        return await asyncio.wait_for(job, 10)

    assert asyncio.run(go()) == "hello"
    assert store.list() == []
