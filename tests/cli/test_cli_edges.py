"""The rough edges a new user hits first, each tried through the installed `voicebot` command.

The local server's paste lines, the control verbs in the help, a daemon without a
microphone, a closed pipe, a broken config file, exit codes and wording (issue 7).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pytest
import soundfile

from tests.fakegroq import TEST_API_KEY, FakeGroq
from tests.harness.daemon import running_daemon, short_home

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"
VOICEBOT = Path(sys.executable).with_name("voicebot")
CONTROL_VERBS = ("toggle", "start", "stop", "cancel", "new", "converse", "status", "ping")
# An ALSA configuration whose only device is a card that does not exist: PortAudio then
# lists no input at all, as on a machine without a microphone (the live tests' pulse.py
# builds the same kind of file with a working device).
NO_CAPTURE_ALSA = 'pcm.!default {\n  type hw\n  card 99\n}\nctl.!default {\n  type hw\n  card 99\n}\n'


def run(args: list[str], env: dict[str, str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(VOICEBOT), *args], capture_output=True, text=True, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert TEST_API_KEY not in proc.stdout + proc.stderr
    return proc


def first_lines(stream: IO[str], count: int, timeout: float = 20.0) -> list[str]:
    """The next `count` lines of a child's output; an AssertionError, not a hang, if they do not come."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(stream.readline() for _ in range(count)), daemon=True)
    reader.start()
    reader.join(timeout)
    assert not reader.is_alive() and all(lines), f"expected {count} line(s), got {lines}"
    return lines


@pytest.fixture
def home() -> Iterator[Path]:
    """A private home short enough for a control socket below it."""
    path = short_home()
    (path / "run").mkdir(mode=0o700)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def no_mic(home: Path) -> Path:
    path = home / "alsa-no-capture.conf"
    path.write_text(NO_CAPTURE_ALSA)
    return path


def user_env(fake: FakeGroq, home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": str(home / "run"), "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"), "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake.host_url,
            **extra}


# --- 1. the local server's URL works whichever way it is pasted ------------------------------------


def test_the_lines_the_local_server_prints_work_when_pasted(fake_groq: FakeGroq, home: Path) -> None:
    server = subprocess.Popen([sys.executable, "-m", "tests.fakegroq"], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stderr is not None
        pasted = first_lines(server.stdout, 2)
        assert "Paste the two lines above" in first_lines(server.stderr, 1)[0]
        env = {k: v for k, v in user_env(fake_groq, home).items() if not k.startswith("GROQ_")}
        for line in pasted:  # what `export NAME=value` does in the user's shell
            name, _, value = shlex.split(line.removeprefix("export "))[0].partition("=")
            env[name] = value
        proc = run(["transcribe", str(DATA / "capital.wav")], env)
        assert (proc.returncode, proc.stdout) == (0, "What is the capital of France?\n"), proc.stderr
    finally:
        server.terminate()
        server.wait(10)


def test_groq_base_url_may_already_end_in_openai_v1(fake_groq: FakeGroq, home: Path) -> None:
    env = user_env(fake_groq, home, GROQ_BASE_URL=fake_groq.base_url + "/")  # the OpenAI-style root
    proc = run(["transcribe", str(DATA / "capital.wav")], env)
    assert (proc.returncode, proc.stdout) == (0, "What is the capital of France?\n"), proc.stderr
    shown = run(["config"], env).stdout
    assert f"{fake_groq.base_url}  [env GROQ_BASE_URL]" in shown and "/openai/v1/openai/v1" not in shown
    assert {r.path for r in fake_groq.requests} == {"/openai/v1/audio/transcriptions"}


# --- 2. the control verbs are part of the command line ---------------------------------------------


def test_control_verbs_are_in_the_help_and_the_invalid_choice_list(fake_groq: FakeGroq, home: Path) -> None:
    env = user_env(fake_groq, home)
    helped = run(["--help"], env)
    assert helped.returncode == 0
    listed = {line.split()[0] for line in helped.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert set(CONTROL_VERBS) <= listed
    wrong = run(["toggel"], env)
    assert wrong.returncode == 2 and len(wrong.stderr.splitlines()) == 1
    assert all(f"'{verb}'" in wrong.stderr for verb in CONTROL_VERBS)
    verb_help = run(["toggle", "--help"], env)
    assert verb_help.returncode == 0 and "--mode MODE" in verb_help.stdout and "--json" in verb_help.stdout


@pytest.mark.parametrize("args", [["status", "--json"], ["--json", "status"]])
def test_status_json_without_a_daemon_is_an_error_event_too(fake_groq: FakeGroq, home: Path,
                                                            args: list[str]) -> None:
    proc = run(args, user_env(fake_groq, home))
    assert proc.returncode == 2
    (event,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert event["type"] == "error" and event["exit_code"] == 2 and "no voicebot daemon" in event["message"]
    assert proc.stderr == f"voicebot: error: {event['message']}\n"


# --- 3 and 6: a daemon without a microphone; how a daemon's exit code says why it stopped ----------------


def test_daemon_without_a_microphone(fake_groq: FakeGroq, no_mic: Path) -> None:
    """The ready line says how to start a take; a toggle then fails with exit 2 and the daemon stays."""
    with running_daemon(["--no-hotkeys", "--quiet"], fake_groq, None, display=False,
                        extra_env={"ALSA_CONFIG_PATH": str(no_mic)}) as d:
        assert d.of_type("error")[0]["message"].startswith("no input device found")  # said at start-up
        for attempt in range(2):  # the device is tried again at each take
            toggled = run(["toggle"], d.env)
            assert toggled.returncode == 2, (attempt, toggled.stdout, toggled.stderr)
            assert toggled.stdout == ""
            assert toggled.stderr.startswith("voicebot: error: no input device found")
            assert len(toggled.stderr.splitlines()) == 1
        as_json = run(["toggle", "--json"], d.env)
        assert as_json.returncode == 2 and json.loads(as_json.stdout)["exit_code"] == 2
        status = run(["status", "--json"], d.env)
        assert status.returncode == 0 and json.loads(status.stdout)["state"] == "listening"
        assert d.proc.poll() is None
    assert not fake_groq.requests_to("/audio/transcriptions")


def test_the_ready_line_without_hotkeys_names_the_control_socket(fake_groq: FakeGroq, home: Path,
                                                                 no_mic: Path) -> None:
    env = user_env(fake_groq, home, ALSA_CONFIG_PATH=str(no_mic))
    proc = subprocess.Popen([str(VOICEBOT), "run", "--no-hotkeys", "--quiet"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = first_lines(proc.stderr, 2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    assert lines[0].startswith("voicebot: error: no input device found")
    assert lines[1] == "voicebot: listening on the control socket: `voicebot toggle` starts and stops a take\n"
    assert "ctrl+alt+space" not in "".join(lines)
    assert code == 0  # SIGTERM: a service manager stopped it


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 0)], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_the_daemon_with_130_and_sigterm_with_0(fake_groq: FakeGroq, no_mic: Path,
                                                             sig: signal.Signals, code: int) -> None:
    with running_daemon(["--no-hotkeys", "--quiet"], fake_groq, None, display=False,
                        extra_env={"ALSA_CONFIG_PATH": str(no_mic)}) as d:
        d.signal(sig)
        assert d.wait() == code
        assert "Traceback" not in d.stderr()


# --- 4. a closed pipe -------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["config"], ["config", "--json"], ["pending"], ["models"], ["devices"],
                                  ["transcribe", str(DATA / "capital.wav")], ["--json", "status"]])
def test_a_reader_that_leaves_is_no_failure(fake_groq: FakeGroq, home: Path, no_mic: Path,
                                            args: list[str]) -> None:
    """`voicebot config | head -1`: quiet, and 141 as for any Unix tool (never 1, an API failure)."""
    env = user_env(fake_groq, home, ALSA_CONFIG_PATH=str(no_mic))
    proc = subprocess.Popen([str(VOICEBOT), *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 141, err
    assert "BrokenPipe" not in err and "Exception ignored" not in err
    assert all(line.startswith("voicebot: ") for line in err.splitlines()), err


# --- 5. a config file with a mistake --------------------------------------------------------------------


def test_the_unknown_key_hint_is_true(fake_groq: FakeGroq, home: Path) -> None:
    cfg = home / "config" / "voicebot" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('language = "de"\nchat_modle = "openai/gpt-oss-120b"\n')
    env = user_env(fake_groq, home)
    failed = run(["transcribe", str(DATA / "capital.wav")], env)
    assert failed.returncode == 2 and len(failed.stderr.splitlines()) == 1
    assert f"{cfg}:2: unknown setting 'chat_modle'" in failed.stderr
    assert "did you mean 'chat_model'?" in failed.stderr and "`voicebot config` lists the settings" in failed.stderr
    listed = run(["config"], env)  # what the hint says to run
    assert listed.returncode == 2
    rows = listed.stdout.splitlines()
    assert rows[0] == f"config file: {cfg} (not used: see the error below)"
    assert any(row.startswith("chat_model ") and "[default]" in row for row in rows)
    assert any(row.startswith("language ") and "[default]" in row for row in rows)  # the file is not half-used
    assert listed.stderr == failed.stderr
    as_json = run(["config", "--json"], env)
    events = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert events[0]["type"] == "config_file" and "chat_modle" in events[0]["error"]
    assert events[-1]["type"] == "error" and events[-1]["exit_code"] == 2
    assert sum(e["type"] == "setting" for e in events) > 10
    assert fake_groq.requests == []


# --- 6. exit codes and wording ------------------------------------------------------------------------------


def test_an_unknown_model_is_a_usage_error(fake_groq: FakeGroq, home: Path) -> None:
    proc = run(["ask", "--model", "no-such-model", str(DATA / "capital.wav")], user_env(fake_groq, home))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1].startswith("voicebot: error: model 'no-such-model' is unknown")


@pytest.mark.parametrize("headers", [{"retry-after": "0.4"}, {}], ids=["retry-after 0.4", "backoff"])
def test_short_retry_waits_are_not_said_as_0_s(fake_groq: FakeGroq, home: Path, headers: dict[str, str]) -> None:
    fake_groq.fail_next("/audio/transcriptions", 503, headers=headers)
    proc = run(["transcribe", str(DATA / "capital.wav")], user_env(fake_groq, home))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"server error 503, retrying in 0\.[1-9] s \(attempt 2 of 3\)", proc.stderr), proc.stderr
    if headers:
        assert "retrying in 0.4 s" in proc.stderr


def test_retry_wait_wording() -> None:
    from voicebot.cli.client import retrying_in
    assert [retrying_in(s) for s in (0.0, 0.03, 0.4, 1.0, 1.24, 9.5, 12.4)] == [
        "retrying now", "retrying now", "retrying in 0.4 s", "retrying in 1 s", "retrying in 1.2 s",
        "retrying in 9.5 s", "retrying in 12 s"]


def test_no_speech_recognised_names_the_file(fake_groq: FakeGroq, home: Path) -> None:
    """Sound the local check takes for speech but the server recognises nothing in (speech reversed)."""
    speech, rate = soundfile.read(DATA / "capital.wav", dtype="float32")
    babble = home / "babble.wav"
    soundfile.write(babble, np.ascontiguousarray(speech[::-1]), rate)
    proc = run(["transcribe", str(babble)], user_env(fake_groq, home))
    assert proc.returncode == 2
    assert proc.stderr == f"voicebot: error: no speech recognised in {babble}\n"
    assert fake_groq.requests_to("/audio/transcriptions")  # it was sent: the server heard nothing


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_speech_the_fake_server_does_not_know_is_shown_as_such(fake_groq: FakeGroq, home: Path) -> None:
    """A newcomer's own sentence against the fake server: a transcript saying it is unknown, not "no speech"."""
    own = home / "own.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(own), "Remind me to water the plants."],
                   check=True)
    proc = run(["transcribe", str(own)], user_env(fake_groq, home))
    assert proc.returncode == 0, proc.stderr
    assert "unknown speech" in proc.stdout and "tests/data/fixtures.json" in proc.stdout


def test_devices_without_any_input_says_what_to_check(fake_groq: FakeGroq, home: Path, no_mic: Path) -> None:
    env = user_env(fake_groq, home, ALSA_CONFIG_PATH=str(no_mic))
    proc = run(["devices"], env)
    assert (proc.returncode, proc.stdout) == (0, "no audio input devices found\n")
    assert proc.stderr.startswith("voicebot: check that a microphone is plugged in") and "--device" in proc.stderr
    as_json = run(["devices", "--json"], env)
    (event,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert event["type"] == "notice" and "microphone" in event["text"]


def test_the_live_marker_names_a_script_that_exists() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (live,) = [m for m in pyproject["tool"]["pytest"]["ini_options"]["markers"] if m.startswith("live:")]
    scripts = [word.strip("`()") for word in live.split() if word.strip("`()").startswith("scripts/")]
    assert scripts and all((ROOT / script).is_file() for script in scripts), live


# --- scripts/dev: a [test] install serves `run` too ---------------------------------------------------------


def _dev_tree(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of scripts/dev with a stand-in .venv whose python logs every call (pip included)."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "dev").write_bytes((ROOT / "scripts" / "dev").read_bytes())
    (tmp_path / "scripts" / "dev").chmod(0o755)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    log = tmp_path / "calls.log"
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "voicebot"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n')
        (bin_dir / name).chmod(0o755)
    fake_bin = tmp_path / "fakebin"  # every apt package counts as installed: nothing goes to apt
    fake_bin.mkdir()
    (fake_bin / "dpkg-query").write_text("#!/bin/sh\necho 'install ok installed'\n")
    (fake_bin / "dpkg-query").chmod(0o755)
    return tmp_path / "scripts" / "dev", log, {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}


def test_dev_run_after_dev_test_installs_nothing(tmp_path: Path) -> None:
    dev, log, env = _dev_tree(tmp_path)
    subprocess.run([str(dev), "test", "-q"], env=env, check=True, timeout=60)
    assert "pip install -q --disable-pip-version-check -e .[test]" in log.read_text()
    log.write_text("")
    time.sleep(0.01)
    subprocess.run([str(dev), "run", "--version"], env=env, check=True, timeout=60)
    assert log.read_text() == "voicebot --version\n"  # no pip: the [test] install has all `run` needs
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'y'\n")  # changed since: install again
    future = time.time() + 5
    os.utime(tmp_path / "pyproject.toml", (future, future))
    log.write_text("")
    subprocess.run([str(dev), "run", "--version"], env=env, check=True, timeout=60)
    assert log.read_text().splitlines() == ["python -m pip install -q --disable-pip-version-check -e .",
                                            "voicebot --version"]
