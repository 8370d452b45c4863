"""Pending takes: the crash-safe store, and `voicebot pending` / `voicebot retry` end to end.

The store is checked on a real file system (atomic steps, permissions under any umask,
order, round trip of the audio, damaged sidecars, the cross-process claim); the commands
run as the installed `voicebot` against the local Groq-compatible server, through
tests/cli/test_cli.py's `run()`, which also checks for tracebacks and the key in any output.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import soundfile

from tests.cli.test_cli import DATA, VOICEBOT, base_env, events, run
from tests.fakegroq import FakeGroq
from voicebot.audio.encoding import PreparedAudio
from voicebot.audio.files import prepare_file
from voicebot.errors import ApiError
from voicebot.spool.kept_take import decode_sidecar, encode_sidecar, is_take_id, make_take_id, time_of_id
from voicebot.spool.store import PendingStore, TakeBusy, UnknownTake, pending_dir, resend

T0 = datetime(2026, 11, 22, 3, 15, 2, 120000, tzinfo=UTC)


@pytest.fixture(scope="module")
def capital() -> PreparedAudio:
    return prepare_file(DATA / "capital.wav", "flac")


@pytest.fixture(scope="module")
def capital_opus() -> PreparedAudio:
    return prepare_file(DATA / "capital.wav", "opus")


@pytest.fixture(scope="module")
def spider() -> PreparedAudio:
    return prepare_file(DATA / "spider.flac")


@pytest.fixture
def store(tmp_path: Path) -> PendingStore:
    return PendingStore(env={"XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)})


@pytest.fixture
def umask() -> Iterator[None]:
    """Restores the process umask whatever a test sets."""
    old = os.umask(0o022)
    os.umask(old)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- ids and sidecars (pure) ----------------------------------------------------------------


def test_ids_carry_the_utc_second_and_sort_by_time() -> None:
    local = T0.astimezone(timezone(timedelta(hours=5)))
    assert make_take_id(local, "ab12") == "20261122T031502Z-ab12"
    assert time_of_id("20261122T031502Z-ab12") == T0.replace(microsecond=0)
    later = [make_take_id(T0 + timedelta(seconds=s), tok) for s, tok in ((61, "0000"), (1, "ffff"), (3600, "1234"))]
    assert sorted(later) == [later[1], later[0], later[2]]
    with pytest.raises(ValueError):
        make_take_id(T0, "../x")


@pytest.mark.parametrize("text", ["../../etc/passwd", "20261122T031502Z-ab12/../x", "20261122T031502Z",
                                  "20261122T031502Z-AB12", "x20261122T031502Z-ab12", ""])
def test_only_our_own_id_shape_is_a_take_id(text: str) -> None:
    assert not is_take_id(text)


def test_sidecar_round_trip_and_what_is_refused(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="translate", then_ask=True, now=T0)
    data = encode_sidecar(take)
    assert decode_sidecar(data, take.id, store.root) == take
    raw = json.loads(data)
    assert {k: raw[k] for k in ("mode", "then_ask", "attempts", "error", "source")} == {
        "mode": "translate", "then_ask": True, "attempts": 0, "error": None, "source": str(DATA / "capital.wav")}
    assert raw["time"] == "2026-11-22T03:15:02.120000Z" and raw["duration"] == pytest.approx(capital.duration)
    for change in ({"mode": "shout"}, {"id": "20261122T031502Z-0000"}, {"audio": "../x.flac"},
                   {"attempts": -1}, {"attempts": True}, {"time": "yesterday"}, {"duration": "long"},
                   {"error": 5}):
        with pytest.raises(ValueError):
            decode_sidecar(json.dumps(raw | change).encode(), take.id, store.root)
    for junk in (b"", b"\xff\xfe", b"[1, 2]", b'{"id": '):
        with pytest.raises(ValueError):
            decode_sidecar(junk, take.id, store.root)


def test_pending_dir_follows_xdg_data_home(tmp_path: Path) -> None:
    assert pending_dir({"XDG_DATA_HOME": "/x/data", "HOME": "/h"}) == Path("/x/data/voicebot/pending")
    assert pending_dir({"HOME": "/h"}) == Path("/h/.local/share/voicebot/pending")
    assert pending_dir({"XDG_DATA_HOME": "rel", "HOME": "/h"}) == Path("/h/.local/share/voicebot/pending")


# --- the store on disk ------------------------------------------------------------------------


def test_round_trip_keeps_the_exact_16k_mono_flac(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="ask")
    assert take.audio == store.root / f"{take.id}.flac" and is_take_id(take.id)
    loaded = store.load(take.id)
    assert loaded.data == capital.data
    assert loaded.as_upload()[0::2] == ("speech.flac", "audio/flac")
    assert (loaded.sample_rate, loaded.channels, loaded.duration) == (16000, 1, capital.duration)
    info = soundfile.info(io.BytesIO(take.audio.read_bytes()))
    assert (info.format, info.samplerate, info.channels) == ("FLAC", 16000, 1)
    assert info.frames / 16000 == pytest.approx(capital.duration)


def test_an_opus_take_is_kept_claimed_failed_and_removed_byte_for_byte(store: PendingStore,
                                                                       capital_opus: PreparedAudio) -> None:
    take = store.save(capital_opus, mode="ask", now=T0)
    assert take.audio == store.root / f"{take.id}.ogg" and take.content_type == "audio/ogg"
    assert sorted(f.name for f in store.root.iterdir()) == [f"{take.id}.json", f"{take.id}.ogg"]
    loaded = store.load(take.id)
    assert loaded.data == capital_opus.data == take.audio.read_bytes()
    assert loaded.as_upload()[0::2] == ("speech.ogg", "audio/ogg")
    assert (loaded.sample_rate, loaded.channels, loaded.duration) == (16000, 1, capital_opus.duration)
    info = soundfile.info(io.BytesIO(loaded.data))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", 16000, 1)
    assert store.list() == [take] and PendingStore(store.root).get(take.id) == take  # as a new process sees it
    with store.claim(take.id), pytest.raises(TakeBusy), PendingStore(store.root).claim(take.id):
        pass
    failed = store.mark_failed(take, "network down")
    assert store.list() == [failed] and store.load(take.id).data == capital_opus.data
    store.remove(take.id)
    assert store.list() == [] and list(store.root.iterdir()) == []


def test_an_opus_take_is_resent_as_the_same_upload(store: PendingStore, capital_opus: PreparedAudio) -> None:
    take = store.save(capital_opus, mode="ask")
    sent: list[tuple[str, bytes, str]] = []

    class Recording(StubAssistant):
        async def transcribe(self, upload: PreparedAudio, *, translate: bool = False,
                             mode: str | None = None) -> str:
            sent.append(upload.as_upload())
            return await super().transcribe(upload, translate=translate)

    assistant, output = Recording(store), StubOutput(store)
    assert asyncio.run(resend(store, take, assistant, output)) == "hello there"  # type: ignore[arg-type]
    assert sent == [("speech.ogg", capital_opus.data, "audio/ogg")] and store.list() == []


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_files_are_0600_and_directories_0700_whatever_the_umask(
        tmp_path: Path, capital: PreparedAudio, umask: None, mask: int) -> None:
    os.umask(mask)
    store = PendingStore(env={"XDG_DATA_HOME": str(tmp_path / "data")})
    take = store.save(capital, mode="ask")
    store.mark_failed(take, "network down")
    for directory in (store.root, store.root.parent, tmp_path / "data"):
        assert mode_of(directory) == 0o700, directory
    files = sorted(store.root.iterdir())
    assert [f.name for f in files] == [f"{take.id}.flac", f"{take.id}.json"]
    assert all(mode_of(f) == 0o600 for f in files)


def test_an_existing_open_directory_is_made_private(tmp_path: Path, capital: PreparedAudio, umask: None) -> None:
    os.umask(0)
    root = tmp_path / "data" / "voicebot" / "pending"
    root.mkdir(parents=True, mode=0o777)
    PendingStore(root=root).save(capital, mode="dictate")
    assert mode_of(root) == 0o700 and mode_of(root.parent) == 0o700


def test_a_crash_before_the_rename_leaves_no_take(store: PendingStore, capital: PreparedAudio) -> None:
    """What a crash mid-write leaves behind (the temp file only) is never listed."""
    store.root.mkdir(parents=True)
    take_id = make_take_id(T0, "ab12")
    (store.root / f".{take_id}.flac.k3j2x.tmp").write_bytes(capital.data[:1000])
    (store.root / f".{take_id}.json.8fj3.tmp").write_bytes(b'{"id": "20261122T0')
    assert store.list() == []
    with pytest.raises(UnknownTake):
        store.load(take_id)


def test_a_failing_write_cleans_up_and_keeps_nothing_half_done(
        store: PendingStore, capital: PreparedAudio, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError):
        store.save(capital, mode="ask")
    assert store.list() == [] and list(store.root.iterdir()) == []


def test_a_crash_between_audio_and_sidecar_still_lists_the_recording(
        store: PendingStore, capital: PreparedAudio, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audio is committed first: losing the sidecar loses the metadata, never the words."""
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (real(src, dst) if str(dst).endswith(".flac")
                                                         else (_ for _ in ()).throw(OSError(5, "I/O error"))))
    with pytest.raises(OSError):
        store.save(capital, mode="ask", now=T0)
    (take,) = store.list()
    assert take.problem == "its sidecar is missing" and take.mode == "dictate"
    assert take.time.startswith("2026-11-22T03:15:02") and store.load(take.id).data == capital.data


def test_a_remove_cut_short_after_the_audio_leaves_no_take(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="ask")
    take.audio.unlink()  # remove() deletes the audio first; the crash came before the sidecar went
    assert store.list() == []
    store.remove(take.id)
    assert list(store.root.iterdir()) == []


def test_list_is_oldest_first_whatever_the_save_order(store: PendingStore, capital: PreparedAudio) -> None:
    moments = [T0 + timedelta(hours=2), T0, T0 + timedelta(microseconds=500), T0 + timedelta(days=1), T0 - timedelta(days=40)]
    ids = {store.save(capital, mode="ask", now=m).id: m for m in moments}
    assert [ids[t.id] for t in store.list()] == sorted(moments)
    newest_first = sorted(ids, key=ids.__getitem__, reverse=True)
    assert [t.id for t in store.select(newest_first[:3])] == sorted(newest_first[:3], key=ids.__getitem__)


def test_mark_failed_counts_attempts_and_remove_forgets(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="translate", then_ask=True)
    assert (take.attempts, take.error) == (0, None)
    take = store.mark_failed(store.mark_failed(take, "timeout"), "server error (503)")
    (listed,) = store.list()
    assert listed == take and (listed.attempts, listed.error) == (2, "server error (503)")
    assert listed.last_attempt is not None and listed.asks
    store.remove(take.id)
    assert store.list() == [] and list(store.root.iterdir()) == []
    with pytest.raises(UnknownTake):
        store.get(take.id)


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"id": "someone-else", "mode": "ask"}', b"\x00" * 40])
def test_a_damaged_sidecar_is_listed_with_its_problem(store: PendingStore, capital: PreparedAudio,
                                                      damage: bytes) -> None:
    good = store.save(capital, mode="ask", now=T0)
    bad = store.save(capital, mode="ask", now=T0 + timedelta(seconds=5))
    (store.root / f"{bad.id}.json").write_bytes(damage)
    first, second = store.list()
    assert first == good and second.id == bad.id
    assert second.problem and second.problem.startswith("its sidecar is damaged")
    assert second.mode == "dictate" and store.load(bad.id).data == capital.data
    repaired = store.mark_failed(second, "still failing")
    assert store.list()[1] == repaired and repaired.problem is None


def test_claim_is_exclusive_across_open_files_and_released_after(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="ask")
    with store.claim(take.id), pytest.raises(TakeBusy), PendingStore(store.root).claim(take.id):
        pass
    with store.claim(take.id) as claimed:
        assert claimed == take
        store.remove(take.id)
    with pytest.raises(UnknownTake), store.claim(take.id):
        pass


def test_unknown_and_hostile_ids_are_unknown(store: PendingStore, capital: PreparedAudio) -> None:
    store.save(capital, mode="ask")
    for bad in ("20200101T000000Z-0000", "../pending", "/etc/passwd"):
        with pytest.raises(UnknownTake):
            store.get(bad)
        with pytest.raises(UnknownTake):
            store.select([bad])
    with pytest.raises(UnknownTake):
        store.remove("../x")


class StubAssistant:
    """Stands in for Assistant: what resend asks of it, recorded with the store's state at that moment."""

    def __init__(self, store: PendingStore, text: str = "hello there", fail: Exception | None = None) -> None:
        self.store, self.text, self.fail = store, text, fail
        self.calls: list[tuple[str, object, int]] = []

    async def transcribe(self, upload: PreparedAudio, *, translate: bool = False, mode: str | None = None) -> str:
        assert isinstance(upload, PreparedAudio)  # whole takes, so long ones can be split
        self.calls.append(("transcribe", translate, len(self.store.list())))
        if self.fail:
            raise self.fail
        return self.text

    async def ask(self, question: str) -> str:
        self.calls.append(("ask", question, len(self.store.list())))
        return "answer"

    async def recorded(self) -> bool:
        return True  # no log here: the take may go at once


class StubOutput:
    def __init__(self, store: PendingStore, broken: bool = False) -> None:
        self.store, self.broken = store, broken
        self.shown: list[tuple[str, bool, int]] = []

    def transcript(self, text: str, *, label: bool) -> None:
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        self.shown.append((text, label, len(self.store.list())))


def test_resend_removes_only_after_the_transcript_is_shown(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="translate", then_ask=True)
    assistant, output = StubAssistant(store), StubOutput(store)
    assert asyncio.run(resend(store, take, assistant, output)) == "hello there"
    assert output.shown == [("hello there", True, 1)]  # shown while the take was still kept
    assert assistant.calls == [("transcribe", True, 1), ("ask", "hello there", 0)]
    assert store.list() == []
    take = store.save(capital, mode="dictate")
    with pytest.raises(BrokenPipeError):  # the words never reached the user: keep them
        asyncio.run(resend(store, take, StubAssistant(store), StubOutput(store, broken=True)))
    assert store.list() == [take]


def test_resend_failure_updates_the_sidecar_and_reraises(store: PendingStore, capital: PreparedAudio) -> None:
    take = store.save(capital, mode="ask")
    failing = StubAssistant(store, fail=ApiError("rate limited; try again in 7 s", status=429))
    with pytest.raises(ApiError):
        asyncio.run(resend(store, take, failing, StubOutput(store)))
    (kept,) = store.list()
    assert (kept.attempts, kept.error) == (1, "rate limited; try again in 7 s")
    assert [c[0] for c in failing.calls] == ["transcribe"]


# --- the commands, end to end ------------------------------------------------------------------


def data_env(home: Path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(home / "data")}


def home_store(home: Path) -> PendingStore:
    return PendingStore(env=data_env(home))


def test_pending_lists_takes_for_people_and_as_json(fake_groq: FakeGroq, tmp_path: Path,
                                                     capital: PreparedAudio, spider: PreparedAudio) -> None:
    proc = run(["pending"], fake_groq, tmp_path, env=data_env(tmp_path))
    assert (proc.returncode, proc.stdout) == (0, "no pending takes\n")
    store = home_store(tmp_path)
    old = store.mark_failed(store.save(spider, mode="dictate", now=T0), "cannot reach the API")
    new = store.save(capital, mode="translate", then_ask=True, now=T0 + timedelta(minutes=3))
    proc = run(["pending"], fake_groq, tmp_path, env=data_env(tmp_path) | {"TZ": "UTC"})
    assert proc.returncode == 0, proc.stderr
    header, first, second = proc.stdout.splitlines()
    assert header.split()[:3] == ["ID", "WHEN", "MODE"]
    assert first.split()[:6] == [old.id, "2026-11-22", "03:15:02", "dictate", "2.5", "s"]
    assert first.endswith("cannot reach the API")
    assert second.split()[:4] == [new.id, "2026-11-22", "03:18:02", "translate"]
    assert str(store.root) in proc.stderr
    proc = run(["pending", "--json"], fake_groq, tmp_path, env=data_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    a, b = events(proc.stdout)
    assert a == {"type": "pending", "id": old.id, "time": "2026-11-22T03:15:02.120000Z", "mode": "dictate",
                 "then_ask": False, "duration": spider.duration, "attempts": 1, "error": "cannot reach the API",
                 "source": str(DATA / "spider.flac"), "audio": str(old.audio), "problem": None}
    assert (b["id"], b["mode"], b["then_ask"], b["attempts"], b["error"]) == (new.id, "translate", True, 0, None)
    assert fake_groq.requests == []


def test_pending_warns_about_a_damaged_sidecar_but_lists_it(fake_groq: FakeGroq, tmp_path: Path,
                                                            capital: PreparedAudio) -> None:
    store = home_store(tmp_path)
    take = store.save(capital, mode="ask")
    (store.root / f"{take.id}.json").write_text("{garbage")
    proc = run(["pending"], fake_groq, tmp_path, env=data_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert take.id in proc.stdout and "unreadable sidecar" in proc.stdout
    assert f"warning: take {take.id}: its sidecar is damaged" in proc.stderr
    proc = run(["pending", "--json"], fake_groq, tmp_path, env=data_env(tmp_path))
    (listed,) = [e for e in events(proc.stdout) if e["type"] == "pending"]
    assert str(listed["problem"]).startswith("its sidecar is damaged") and listed["mode"] == "dictate"


def test_retry_all_sends_each_take_in_its_mode_in_time_order_and_removes_it(
        fake_groq: FakeGroq, tmp_path: Path, capital: PreparedAudio, spider: PreparedAudio) -> None:
    store = home_store(tmp_path)
    store.save(spider, mode="ask", now=T0 + timedelta(seconds=30))  # saved first, spoken second
    store.save(capital, mode="ask", now=T0)
    store.save(prepare_file(DATA / "bonjour.ogg"), mode="translate", now=T0 + timedelta(minutes=1))
    store.save(spider, mode="dictate", now=T0 + timedelta(minutes=2))
    proc = run(["retry", "--all"], fake_groq, tmp_path, env=data_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("You: What is the capital of France?\nAssistant: The capital of France is Paris.\n"
                           "You: How many legs does a spider have?\nAssistant: A spider has eight legs.\n"
                           "Hello, I would like a coffee, please.\n"
                           "How many legs does a spider have?\n")
    assert store.list() == [] and list(store.root.iterdir()) == []
    posts = [r.endpoint for r in fake_groq.requests if r.method == "POST"]
    assert posts == ["/audio/transcriptions", "/chat/completions", "/audio/transcriptions", "/chat/completions",
                     "/audio/translations", "/audio/transcriptions"]
    second_chat = fake_groq.requests_to("/chat/completions")[1].json
    assert [m["role"] for m in second_chat["messages"]] == ["system", "user", "assistant", "user"]
    assert all(r.audio.samplerate == 16000 and r.audio.channels == 1
               for r in fake_groq.requests if r.audio is not None)


def test_retry_named_ids_json(fake_groq: FakeGroq, tmp_path: Path, capital: PreparedAudio,
                              spider: PreparedAudio) -> None:
    store = home_store(tmp_path)
    first = store.save(capital, mode="translate", then_ask=True, now=T0)
    second = store.save(spider, mode="dictate", now=T0 + timedelta(seconds=1))
    untouched = store.save(spider, mode="ask", now=T0 + timedelta(seconds=2))
    proc = run(["retry", "--json", second.id, first.id], fake_groq, tmp_path, env=data_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    got = events(proc.stdout)
    kinds = [e["type"] for e in got]
    assert kinds[0] == "transcript" and "delta" in kinds
    assert kinds[-4:] == ["reply", "retried", "transcript", "retried"]
    assert got[0]["text"] == "What is the capital of France?"
    assert [e["id"] for e in got if e["type"] == "retried"] == [first.id, second.id]
    assert got[-2] == {"type": "transcript", "text": "How many legs does a spider have?"}
    assert [t.id for t in store.list()] == [untouched.id]


def test_retry_failure_keeps_the_take_and_later_ones_with_the_error(
        fake_groq: FakeGroq, tmp_path: Path, capital: PreparedAudio, spider: PreparedAudio) -> None:
    store = home_store(tmp_path)
    first = store.save(capital, mode="ask", now=T0)
    later = store.save(spider, mode="ask", now=T0 + timedelta(seconds=1))
    fake_groq.fail_next("/audio/transcriptions", 503, times=3)
    proc = run(["retry", "--all"], fake_groq, tmp_path, env=data_env(tmp_path))
    assert proc.returncode == 1
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("voicebot: error: ") and f"take {first.id} is kept" in last
    assert "2 take(s) still pending" in last and str(store.root) in last
    assert proc.stdout == ""
    kept_first, kept_later = store.list()
    assert (kept_first.id, kept_first.attempts) == (first.id, 1)
    assert kept_first.error is not None and "HTTP 503" in kept_first.error
    assert kept_later == later
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 3 and not fake_groq.requests_to("/chat/completions")
    proc = run(["retry", "--all"], fake_groq, tmp_path, env=data_env(tmp_path))  # the service is back
    assert proc.returncode == 0, proc.stderr
    assert store.list() == []


def test_retry_usage_errors_exit_2_before_any_request(fake_groq: FakeGroq, tmp_path: Path,
                                                      capital: PreparedAudio) -> None:
    take = home_store(tmp_path).save(capital, mode="ask")
    for args in (["retry", "20200101T000000Z-dead"], ["retry", take.id, "../../etc/passwd"], ["retry"],
                 ["retry", "--all", take.id]):
        proc = run(args, fake_groq, tmp_path, env=data_env(tmp_path))
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("voicebot: error: ") and len(proc.stderr.splitlines()) == 1
    assert fake_groq.requests == [] and [t.id for t in home_store(tmp_path).list()] == [take.id]
    proc = run(["retry", "--all"], fake_groq, tmp_path, env=data_env(tmp_path) | {"XDG_DATA_HOME": str(tmp_path / "empty")})
    assert proc.returncode == 0 and "no pending takes" in proc.stderr


@pytest.mark.parametrize("codec", ["flac", "opus"])
def test_a_retry_killed_mid_upload_leaves_the_take_recoverable(fake_groq: FakeGroq, tmp_path: Path,
                                                               capital: PreparedAudio, capital_opus: PreparedAudio,
                                                               codec: str) -> None:
    """SIGKILL while the upload is in flight: the take stays, and the kernel drops the claim."""
    store = home_store(tmp_path)
    take = store.save(capital if codec == "flac" else capital_opus, mode="ask")
    fake_groq.inject("/audio/transcriptions", delay=30)
    proc = subprocess.Popen([str(VOICEBOT), "retry", "--all"], env=base_env(fake_groq, tmp_path) | data_env(tmp_path),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        fake_groq.wait_for_requests(1, path="/audio/transcriptions", timeout=20)
        with pytest.raises(TakeBusy), store.claim(take.id):
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert store.list() == [take]
    fake_groq.reset()
    done = run(["retry", take.id], fake_groq, tmp_path, env=data_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("You: What is the capital of France?\n") and store.list() == []
    (upload,) = [r.audio for r in fake_groq.requests_to("/audio/transcriptions")]
    assert upload is not None and upload.container == ("flac" if codec == "flac" else "ogg")
    assert upload.fixture == "capital.wav"
