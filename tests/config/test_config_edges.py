"""The config file and the data folder where a user's own set-up used to be mishandled (issue 15.9).

Through the installed command: a directory where the config file belongs, the same keys
bound to two modes, a byte order mark, a data folder the user made 0500, and the log's
`-wal`/`-shm` files found open to others.
"""

from __future__ import annotations

import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import VOICEBOT, base_env, run
from tests.fakegroq import FakeGroq


def config_file(home: Path) -> Path:
    path = home / ".config" / "voicebot" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("voicebot: error: ")
    return line


def test_a_directory_at_the_config_path_is_an_error_not_ignored(fake_groq: FakeGroq, tmp_path: Path) -> None:
    folder = config_file(tmp_path)
    folder.mkdir()
    line = one_error(run(["config"], fake_groq, tmp_path))
    assert line.startswith(f"voicebot: error: the config file {folder} is a directory, not a file")
    explicit = one_error(run(["--config", str(folder), "config"], fake_groq, tmp_path))
    assert explicit == line
    assert one_error(run(["ask", "what?"], fake_groq, tmp_path)) == line
    assert fake_groq.requests == []


@pytest.mark.parametrize("table", [
    '[hotkeys]\nask = "ctrl+alt+space"\ndictate = "ctrl+alt+space"\n',
    '[hotkeys]\nask = "ctrl+alt+space"\ndictate = { keys = "alt+ctrl+space", style = "toggle" }\n',
], ids=["same text", "same keys in another order"])
def test_the_same_keys_bound_twice_fail_config_as_run_with_file_and_line(fake_groq: FakeGroq, tmp_path: Path,
                                                                         table: str) -> None:
    path = config_file(tmp_path)
    path.write_text('chat_model = "openai/gpt-oss-20b"\n' + table)
    line = one_error(run(["config"], fake_groq, tmp_path))
    assert line.startswith(f"voicebot: error: {path}:4: bad value for 'hotkeys': dictate: ")
    assert line.endswith("(ask) can be fired by the same keys")
    daemon = subprocess.run([str(VOICEBOT), "run"], capture_output=True, text=True, timeout=60,
                            env=base_env(fake_groq, tmp_path), stdin=subprocess.DEVNULL)
    assert one_error(daemon) == line


def test_a_utf8_byte_order_mark_is_accepted(fake_groq: FakeGroq, tmp_path: Path) -> None:
    config_file(tmp_path).write_bytes(b'\xef\xbb\xbfchat_model = "llama-3.1-8b-instant"\nquiet = true\n')
    proc = run(["config"], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert any(row.split()[:2] == ["chat_model", "llama-3.1-8b-instant"] for row in proc.stdout.splitlines())
    bad = config_file(tmp_path)
    bad.write_bytes(b'\xef\xbb\xbfchat_model = "llama-3.1-8b-instant"\nnot_a_setting = 1\n')
    assert one_error(run(["config"], fake_groq, tmp_path)).startswith(f"voicebot: error: {bad}:2: unknown setting")


def data_folder(home: Path) -> Path:
    return home / ".local" / "share" / "voicebot"


@pytest.mark.parametrize(("before", "after"), [(0o500, 0o500), (0o700, 0o700), (0o750, 0o700), (0o755, 0o700),
                                               (0o555, 0o500)])
def test_the_data_folder_is_closed_to_others_but_a_users_stricter_mode_is_kept(
        fake_groq: FakeGroq, tmp_path: Path, before: int, after: int) -> None:
    folder = data_folder(tmp_path)
    folder.mkdir(parents=True)
    folder.chmod(before)
    try:
        run(["chat"], fake_groq, tmp_path, stdin="hello\n")
        assert mode_of(folder) == after
    finally:
        folder.chmod(0o700)


def test_wal_and_shm_found_open_to_others_are_made_private(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat"], fake_groq, tmp_path, stdin="first\n")
    assert proc.returncode == 0, proc.stderr
    db = data_folder(tmp_path) / "log.db"
    holder = sqlite3.connect(db)  # while it is open, the -wal and -shm files stay
    try:
        holder.execute("SELECT count(*) FROM turns").fetchone()
        sides = [Path(f"{db}-wal"), Path(f"{db}-shm")]
        for side in sides:
            side.chmod(0o644)
        proc = run(["chat"], fake_groq, tmp_path, stdin="second\n")
        assert proc.returncode == 0, proc.stderr
        assert [mode_of(side) for side in sides] == [0o600, 0o600]
        assert mode_of(db) == 0o600
    finally:
        holder.close()
