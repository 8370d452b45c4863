"""`voicebot history` where it used to break (issue 15.8), through the installed command.

An intact log in a folder the user cannot write, a log on a full disk (with the 3-byte
`-shm` such a disk leaves), and arguments no log can answer (a 20-digit count or turn,
bytes that are not UTF-8): each is read, or is one clear line with its exit code, never
"internal error".
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import VOICEBOT, base_env, events, run
from tests.cli.test_history_cli import log_db, run_without_root_powers
from tests.fakegroq import TEST_API_KEY, FakeGroq

HUGE = "99999999999999999999"


def logged(fake: FakeGroq, home: Path, *lines: str) -> Path:
    """A real log holding one typed turn per line; returns its folder."""
    proc = run(["chat"], fake, home, stdin="".join(f"{line}\n" for line in lines))
    assert proc.returncode == 0, proc.stderr
    return log_db(home).parent


def one_usage_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "internal error" not in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("voicebot: error: ")
    return proc.stderr


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "said"), [
    (["history", "-n", HUGE], f"-n must be a whole number from 1 to 1000000000, not {HUGE}"),
    (["history", "-n", "0"], "-n must be a whole number from 1 to 1000000000, not 0"),
    (["history", "retranscribe", HUGE], f"not a turn number: '{HUGE}'"),
    (["history", "retranscribe", "0"], "not a turn number: '0'"),
    (["history", "show", os.fsdecode(b"\xff")], r"the conversation '\xff' is not valid UTF-8 text"),
    (["history", "--search", os.fsdecode(b"caf\xe9")], r"the search 'caf\xe9' is not valid UTF-8 text"),
    (["chat", "--conversation", os.fsdecode(b"\xfe")], r"the conversation '\xfe' is not valid UTF-8 text"),
], ids=["huge count", "zero count", "huge turn", "turn 0", "show bytes", "search bytes", "resume bytes"])
def test_arguments_no_log_can_answer_are_usage_errors(fake_groq: FakeGroq, tmp_path: Path, args: list[str],
                                                      said: str) -> None:
    logged(fake_groq, tmp_path, "a first question")
    err = one_usage_error(run(args, fake_groq, tmp_path))
    assert said in err


# --- a folder that cannot be written ----------------------------------------------------------


@pytest.fixture
def read_only_folder(fake_groq: FakeGroq, tmp_path: Path) -> Iterator[Path]:
    folder = logged(fake_groq, tmp_path, "written before the folder was locked")
    folder.chmod(0o500)
    yield folder
    folder.chmod(0o700)


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root writes anywhere")
@pytest.mark.parametrize("open_elsewhere", [False, True], ids=["closed", "open in another process"])
def test_an_intact_log_in_a_read_only_folder_is_read(fake_groq: FakeGroq, tmp_path: Path, read_only_folder: Path,
                                                     open_elsewhere: bool) -> None:
    """Closed, nothing is beside the file (SQLite could create no -shm); open elsewhere, the
    other process's -wal and -shm are there and are used."""
    holder = sqlite3.connect(log_db(tmp_path)) if open_elsewhere else None
    try:
        if holder is not None:
            holder.execute("SELECT count(*) FROM turns").fetchone()
            assert Path(f"{log_db(tmp_path)}-shm").exists()
        proc = run_without_root_powers(["history", "--json"], fake_groq, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert [e["transcript"] for e in events(proc.stdout)] == ["written before the folder was locked"]
        assert proc.stderr == ""
        shown = run_without_root_powers(["history", "show", str(events(proc.stdout)[0]["conversation"])],
                                        fake_groq, tmp_path)
        assert shown.returncode == 0 and "You: written before the folder was locked" in shown.stdout
    finally:
        if holder is not None:
            holder.close()
    assert sorted(p.name for p in read_only_folder.iterdir()) == ["log.db"]  # nothing created, nothing left


# --- a full disk ------------------------------------------------------------------------------


def _namespaces_work() -> bool:
    """Whether this machine lets us mount a small tmpfs in a user and mount namespace of our own."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


FULL_DISK = """
set -e
saved=$1; folder=$2; shift 2
mount -t tmpfs -o size=512k tmpfs "$folder"
cp "$saved/log.db" "$folder/log.db"
printf abc > "$folder/log.db-shm"        # what SQLite left when the disk filled while it grew the index
dd if=/dev/zero of="$folder/filler" bs=4k 2>/dev/null || true   # until: No space left on device
"$@"
"""

HOLD_EXCLUSIVE = """
import sqlite3, sys, time, pathlib
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode=EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
pathlib.Path(sys.argv[2]).touch()
time.sleep(60)
"""


def on_a_full_disk(fake: FakeGroq, home: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`command` run with the log's folder on a tmpfs that is full, the log copied there."""
    folder = log_db(home).parent
    saved = home / "saved"
    shutil.copytree(folder, saved, dirs_exist_ok=True)
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", FULL_DISK, "full-disk", str(saved), str(folder), *command],
                          capture_output=True, text=True, env=base_env(fake, home), timeout=120,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr and TEST_API_KEY not in proc.stdout + proc.stderr, proc.stderr
    return proc


needs_namespaces = pytest.mark.skipif(not _namespaces_work(), reason="no user namespaces to mount a full tmpfs in")


@needs_namespaces
def test_a_log_on_a_full_disk_is_read_and_the_full_disk_said(fake_groq: FakeGroq, tmp_path: Path) -> None:
    logged(fake_groq, tmp_path, "said before the disk filled")
    proc = on_a_full_disk(fake_groq, tmp_path, str(VOICEBOT), "history", "--json")
    assert proc.returncode == 0, proc.stderr
    out = events(proc.stdout)
    assert [e["transcript"] for e in out if e["type"] == "turn"] == ["said before the disk filled"]
    (notice,) = [e for e in out if e["type"] == "notice"]
    assert str(notice["text"]).startswith("the disk is full (") and "no turn can be recorded" in str(notice["text"])
    human = on_a_full_disk(fake_groq, tmp_path, str(VOICEBOT), "history")
    assert human.returncode == 0 and "You: said before the disk filled" in human.stdout
    assert human.stderr.startswith("voicebot: the disk is full (") and len(human.stderr.splitlines()) == 1


@needs_namespaces
def test_a_log_that_cannot_be_read_on_a_full_disk_says_disk_full(fake_groq: FakeGroq, tmp_path: Path) -> None:
    """Another process holds the log while the disk is full: one line that names the cause."""
    logged(fake_groq, tmp_path, "said before the disk filled")
    folder, held = log_db(tmp_path).parent, tmp_path / "held"
    holder = f'"{sys.executable}" -c \'{HOLD_EXCLUSIVE}\' "{folder}/log.db" "{held}" & pid=$!; ' \
             f'while [ ! -e "{held}" ]; do kill -0 $pid || exit 9; sleep 0.05; done; ' \
             f'"{VOICEBOT}" history; rc=$?; kill $pid; exit $rc'
    proc = on_a_full_disk(fake_groq, tmp_path, "sh", "-c", holder)
    assert proc.returncode == 1, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"voicebot: error: cannot read the conversation log {folder}/log.db: the disk is full (")
    assert line.endswith("free some space")
