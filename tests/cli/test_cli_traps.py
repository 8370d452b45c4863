"""A new user's traps on the command line (issue 15, items 10, 11 and 13), each tried through
the installed `voicebot` command: daemon flags without `run`, no abbreviated flags, Ctrl+C
during start-up, one shape of `--json` error.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli_edges import NO_CAPTURE_ALSA, ROOT, VOICEBOT, _dev_tree, first_lines, run, user_env
from tests.fakegroq import FakeGroq
from tests.harness.daemon import running_daemon, short_home


@pytest.fixture
def home() -> Iterator[Path]:
    """A private home short enough for a control socket below it."""
    path = short_home()
    (path / "run").mkdir(mode=0o700)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def no_mic(home: Path) -> Path:
    """An ALSA set-up without any capture device (see test_cli_edges)."""
    path = home / "alsa-no-capture.conf"
    path.write_text(NO_CAPTURE_ALSA)
    return path


# --- 11. Ctrl+C at any moment of start-up -----------------------------------------------------------

# Modules `voicebot run` loads on its way up, in order: the entry point's socket client, the
# parser, the settings, the HTTP client, numpy, the daemon, PortAudio.
START_UP_POINTS = ("voicebot.control.client", "voicebot.cli.app", "voicebot.config.loading", "httpx", "numpy",
                   "voicebot.daemon.core", "sounddevice")


def _interrupted_after_import(module: str, env: dict[str, str]) -> tuple[int, list[str]]:
    """Start `voicebot run`, send SIGINT as soon as `module` is imported; (exit code, stderr lines).

    PYTHONVERBOSE makes the interpreter say `import 'name' ...` on stderr after each module
    it loads, so the signal follows an event of the start-up, not a guessed delay.
    """
    proc = subprocess.Popen([str(VOICEBOT), "run", "--no-hotkeys", "--quiet"], env={**env, "PYTHONVERBOSE": "1"},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, errors="replace")
    assert proc.stderr is not None
    lines: list[str] = []
    reached = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith(f"import '{module}' "):
                proc.send_signal(signal.SIGINT)
                reached.set()
        reached.set()  # the process ended without loading it: the assertion below says so

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert reached.wait(60), f"{module} was not imported within 60 s"
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert any(line.startswith(f"import '{module}' ") for line in lines), f"voicebot run never imported {module}"
    return code, lines


@pytest.mark.parametrize("module", START_UP_POINTS)
def test_ctrl_c_during_start_up_is_exit_130_without_a_traceback(fake_groq: FakeGroq, home: Path, no_mic: Path,
                                                                 module: str) -> None:
    code, lines = _interrupted_after_import(module, user_env(fake_groq, home, ALSA_CONFIG_PATH=str(no_mic)))
    said = [line for line in lines if line.startswith("voicebot")]  # the rest is PYTHONVERBOSE's
    assert code == 130, lines[-20:]
    assert not [line for line in lines if "Traceback" in line or "KeyboardInterrupt" in line
                or "Exception ignored" in line or "Fatal Python error" in line], lines[-30:]
    # Under load the signal can land after the daemon is up (the pipe is read behind the process):
    # then it is the running daemon's Ctrl+C, exit 130 as quietly as ever.
    running = any(line.startswith("voicebot: listening on the control socket") for line in said)
    assert said[-1] == "voicebot: interrupted" or running, said


# --- 10. flags are spelt out --------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--mode", "translate", "config"], ["config", "--temp", "0.5"],
                                  ["history", "--sea", "x"], ["retry", "--al"], ["ask", "--transl", "f.wav"]])
def test_abbreviated_flags_are_refused(fake_groq: FakeGroq, home: Path, args: list[str]) -> None:
    """`--mode` is not `--model`: a prefix of a flag is an unknown flag, never a setting taken silently."""
    proc = run(args, user_env(fake_groq, home))
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == ""
    assert proc.stderr.startswith("voicebot: error: ") and len(proc.stderr.splitlines()) == 1, proc.stderr


# --- 10. bare `voicebot` is `voicebot run`, flags included --------------------------------------------

README = ROOT / "README.md"
READY = "voicebot: listening on the control socket: `voicebot toggle` starts and stops a take\n"


def _dev_run(tmp_path: Path) -> list[str]:
    """`scripts/dev run` in a copy of the tree whose .venv holds the installed voicebot (nothing to install)."""
    dev, _, _ = _dev_tree(tmp_path)
    (tmp_path / ".venv" / "bin" / "voicebot").unlink()
    (tmp_path / ".venv" / "bin" / "voicebot").symlink_to(VOICEBOT)
    (tmp_path / ".venv" / ".installed").touch()  # newer than pyproject.toml: no pip
    return [str(dev), "run"]


@pytest.mark.parametrize("how", ["voicebot", "scripts/dev run"])
def test_the_daemon_flags_work_without_run(fake_groq: FakeGroq, home: Path, no_mic: Path, tmp_path: Path,
                                           how: str) -> None:
    """The README's "bare `voicebot` is `voicebot run`" holds for its flags: `scripts/dev run --no-hotkeys`."""
    env = user_env(fake_groq, home, ALSA_CONFIG_PATH=str(no_mic))
    command = [str(VOICEBOT)] if how == "voicebot" else _dev_run(tmp_path)
    fake_apt = tmp_path / "fakebin"
    if fake_apt.exists():  # every apt package counts as installed: nothing goes to apt
        env["PATH"] = f"{fake_apt}:{env['PATH']}"
    proc = subprocess.Popen([*command, "--no-hotkeys", "--quiet"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = first_lines(proc.stderr, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    assert lines[0].startswith("voicebot: error: no input device found")  # said, and the daemon stays
    assert lines[1] == READY
    assert code == 0


@pytest.mark.parametrize(("args", "said"), [
    (["--hotkey", "f9", "config"], "--hotkey is not an option of `voicebot config`"),
    (["--no-hotkeys", "transcribe", "x.wav"], "--no-hotkeys is not an option of `voicebot transcribe`"),
    (["--continue", "status"], "--continue is not an option of `voicebot status`"),
    (["history", "-n", "3", "show", "x"], "-n is not an option of `voicebot history show`"),
])
def test_a_flag_of_another_command_is_refused(fake_groq: FakeGroq, home: Path, args: list[str], said: str) -> None:
    proc = run(args, user_env(fake_groq, home))
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.startswith(f"voicebot: error: {said}") and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert not fake_groq.requests


def test_the_parser_loads_no_heavy_part() -> None:
    """The parser is built for every command, from the commands' own modules: those load numpy, PortAudio,
    the API client, httpx and the log only in their handlers, so `--help` and a typo stay quick."""
    code = ("import sys\nfrom voicebot.cli.parser import build_parser\nbuild_parser()\n"
            "print(' '.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([str(VOICEBOT.with_name("python")), "-c", code], capture_output=True, text=True,
                                check=True, timeout=60).stdout.split())
    assert "voicebot.cli.commands" in loaded and "voicebot.cli.history" in loaded
    heavy = {"numpy", "sounddevice", "soundfile", "soxr", "pynput", "keyring", "httpx", "voicebot.log.store",
             "voicebot.turns.assistant", "voicebot.api.client"}
    assert sorted(loaded & heavy) == []


# --- 13. one shape of JSON error; "recording" only once the microphone runs -----------------------------


def test_control_verbs_print_one_json_shape_and_no_recording_without_a_microphone(fake_groq: FakeGroq,
                                                                                   no_mic: Path) -> None:
    """`toggle --json` with a daemon but no microphone fails like any command under --json (one
    `error` event with its exit code); a reply is an event named for its command; and the daemon
    never says "recording" for a take whose microphone did not open."""
    with running_daemon(["--no-hotkeys"], fake_groq, None, display=False,
                        extra_env={"ALSA_CONFIG_PATH": str(no_mic)}) as d:
        start = d.mark()
        toggled = run(["toggle", "--json"], d.env)
        assert toggled.returncode == 2
        (event,) = [json.loads(line) for line in toggled.stdout.splitlines()]
        assert event == {"type": "error", "message": event["message"], "exit_code": 2}
        assert event["message"].startswith("no input device found")
        assert toggled.stderr == f"voicebot: error: {event['message']}\n"
        d.wait_for("error", since=start)  # the daemon says it too
        again = run(["toggle"], d.env)  # the device is tried again: the same, and nothing on stdout
        assert (again.returncode, again.stdout) == (2, "")
        status = run(["status", "--json"], d.env)
        assert status.returncode == 0
        (reply,) = [json.loads(line) for line in status.stdout.splitlines()]
        assert reply["type"] == "status" and reply["ok"] is True and reply["state"] == "listening"
        pinged = json.loads(run(["ping", "--json"], d.env).stdout)
        assert pinged["type"] == "ping" and pinged["pid"] == d.proc.pid
    assert d.of_type("recording", since=start) == []
    assert not fake_groq.requests_to("/audio/transcriptions")


# --- 14. what the README says about places and exit codes ---------------------------------------------


def test_without_xdg_runtime_dir_the_control_socket_is_in_tmp(fake_groq: FakeGroq, home: Path, no_mic: Path) -> None:
    """The README's fallback: /tmp/voicebot-<uid>/control.sock, private, gone when the daemon stops.

    That path is the same for every run as this user, so concurrent test runs take turns
    through a lock file of their own (never the daemon's).
    """
    assert "without `XDG_RUNTIME_DIR` `/tmp/voicebot-<uid>/control.sock`" in " ".join(README.read_text().split())
    env = {k: v for k, v in user_env(fake_groq, home, ALSA_CONFIG_PATH=str(no_mic)).items() if k != "XDG_RUNTIME_DIR"}
    place = Path(f"/tmp/voicebot-{os.geteuid()}")
    with Path(f"/tmp/voicebot-{os.geteuid()}-tests.lock").open("w") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)
        proc = subprocess.Popen([str(VOICEBOT), "--no-hotkeys", "--quiet"], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            assert first_lines(proc.stderr, 2)[1] == READY
            assert stat.S_ISSOCK((place / "control.sock").stat().st_mode)
            assert stat.S_IMODE(place.stat().st_mode) == 0o700
            assert stat.S_IMODE((place / "control.sock").stat().st_mode) == 0o600
            status = run(["status"], env)
            assert status.returncode == 0 and f"pid: {proc.pid}" in status.stdout.splitlines()
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(10)
        assert code == 0
        assert not (place / "control.sock").exists()


def test_a_rejected_key_is_exit_1_and_a_missing_one_exit_2(fake_groq: FakeGroq, home: Path) -> None:
    """As the README's table says: the server refusing a key is an API failure, no key at all a usage one."""
    (row,) = [line for line in README.read_text().splitlines() if line.startswith("| 1 |")]
    assert "a key the server rejected" in row
    rejected = run(["models"], user_env(fake_groq, home, GROQ_API_KEY="gsk_wrong_" + "x" * 40))
    assert rejected.returncode == 1 and "rejected" in rejected.stderr and len(rejected.stderr.splitlines()) == 1
    missing = run(["models"], {k: v for k, v in user_env(fake_groq, home).items() if k != "GROQ_API_KEY"})
    assert missing.returncode == 2 and len(missing.stderr.splitlines()) == 1


def test_the_unit_file_runs_the_command_the_readme_installs(tmp_path: Path) -> None:
    """The README's "Start at login" steps put `.venv/bin/voicebot` where the unit's ExecStart looks."""
    unit = (ROOT / "assets" / "voicebot.service").read_text()
    readme = README.read_text()
    link = 'ln -sf "$PWD/.venv/bin/voicebot" ~/.local/bin/voicebot'
    assert link in readme and link in unit  # the same step, said in both places
    (exec_start,) = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStart=")]
    program, *args = shlex.split(exec_start.replace("%h", str(tmp_path)))
    assert args == ["run"]
    clone = tmp_path / "voicebot-clone"  # the README's clone, its .venv made by scripts/dev
    (clone / ".venv" / "bin").mkdir(parents=True)
    (clone / ".venv" / "bin" / "voicebot").symlink_to(VOICEBOT)
    (tmp_path / ".local" / "bin").mkdir(parents=True)
    step = link.replace("~", str(tmp_path))
    subprocess.run(["sh", "-c", step], cwd=clone, check=True, timeout=30)
    shown = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout.startswith("voicebot "), shown.stderr
