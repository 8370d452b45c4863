"""Hostile input: property tests that every parser of outside data either succeeds or
fails with its one documented error type, never another exception and never a hang.

Complements the property tests beside each module (test_sse, test_api, test_settings,
test_control, test_audio) where they left gaps: structured rather than random inputs,
hotkey text, corrupted and truncated audio files, and a 2 GB file refused from its
header.
"""

from __future__ import annotations

import json
import string
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot.api.client import MAX_MESSAGE, error_for_status, one_line, parse_error_body
from voicebot.api.sse import BadStreamData, decode_data, events_from_chunk, stream_error
from voicebot.audio.encoding import PreparedAudio
from voicebot.audio.files import MAX_FILE_SECONDS, prepare_file
from voicebot.config.loading import load_settings
from voicebot.config.schema import FIELDS, Settings
from voicebot.control.client import Command, ProtocolError, decode_reply, decode_request
from voicebot.errors import ApiError, UsageError
from voicebot.hotkeys.combo import KEY_NAMES, Combo, parse_combo

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".wav", ".flac", ".ogg"))
QUICK = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                         st.text(max_size=30))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=20)
error_shaped = st.fixed_dictionaries({}, optional={
    "error": st.one_of(json_values, st.fixed_dictionaries({}, optional={
        "message": json_values, "type": json_values, "code": json_values})),
    "message": json_values, "detail": json_values, "code": json_values, "type": json_values})


# --------------------------------------------------------------------------- hotkeys


MODIFIER_WORDS = ["ctrl", "alt", "shift", "super", "left_ctrl", "right_ctrl", "<ctrl>", "<alt>", "cmd", "meta"]
key_words = st.one_of(st.sampled_from(sorted(KEY_NAMES)), st.sampled_from(MODIFIER_WORDS),
                      st.text(alphabet=string.printable, max_size=6), st.characters())


@QUICK
@given(text=st.one_of(st.text(max_size=40),
                      st.lists(key_words, max_size=5).map("+".join),
                      st.lists(key_words, max_size=5).map(" + ".join)))
def test_any_hotkey_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        combo = parse_combo(text)
    except UsageError as err:
        assert str(err)
        return
    assert isinstance(combo, Combo)
    assert parse_combo(str(combo)) == combo  # whatever parses has a canonical spelling that parses back


# --------------------------------------------------------------------------- error bodies and streams


@QUICK
@given(status=st.integers(400, 599), body=error_shaped,
       ctype=st.sampled_from(["application/json", "text/plain", "text/html", ""]))
def test_structured_error_bodies_give_one_bounded_line(status: int, body: dict[str, Any], ctype: str) -> None:
    parsed = parse_error_body(status, ctype, json.dumps(body).encode())
    assert len(parsed.message) <= MAX_MESSAGE and parsed.message == one_line(parsed.message)
    err = error_for_status(status, parsed, host="api.example", model="m")
    assert isinstance(err, ApiError) and err.status == status
    assert "\n" not in str(err) and str(err).strip()


@pytest.mark.parametrize("body", [b"[" * 200_000, b'{"error":' * 100_000, b"\xff\xfe" * 1000, b"\x00" * 10_000])
def test_pathological_error_bodies_do_not_raise(body: bytes) -> None:
    parsed = parse_error_body(502, "application/json", body)
    assert len(parsed.message) <= MAX_MESSAGE


@QUICK
@given(data=st.one_of(st.text(max_size=60), json_values.map(json.dumps)))
def test_any_sse_data_decodes_or_is_bad_stream_data(data: str) -> None:
    try:
        obj = decode_data(data)
    except BadStreamData as err:
        assert "\n" not in str(err) or "\n" in data
        return
    if obj is not None:
        events_from_chunk(obj)  # must not raise either (checked in depth in test_sse)
        error = stream_error("message", obj)
        assert error is None or isinstance(error, dict)


@QUICK
@given(event=st.sampled_from(["error", "message", ""]), payload=json_values)
def test_stream_error_takes_any_payload(event: str, payload: object) -> None:
    error = stream_error(event, payload)
    assert error is None or hasattr(error, "get")


# --------------------------------------------------------------------------- settings files


def _toml_value(value: object) -> str:
    """A TOML literal for the generated value (JSON spells strings, numbers and arrays the same)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False), st.text(max_size=12),
              st.sampled_from(["ask", "f9", "ctrl+alt+space", "toggle", "flex", "json_object", "nope+nope"])),
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(
        st.sampled_from(["ask", "translate", "dictate", "keys", "style", "then_ask", "x"]), inner, max_size=3)),
    max_leaves=8)


@QUICK
@given(doc=st.dictionaries(st.sampled_from(sorted(FIELDS) + ["unknown_key"]), toml_values, max_size=6))
def test_any_well_formed_config_loads_or_is_one_usage_error(tmp_path_factory: pytest.TempPathFactory,
                                                            doc: dict[str, object]) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in doc.items()))
    path.chmod(0o600)
    try:
        loaded, warnings = load_settings({}, {}, config_path=str(path))
    except UsageError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return
    assert isinstance(loaded, Settings) and warnings == []


# --------------------------------------------------------------------------- control socket


@QUICK
@given(body=st.one_of(json_values, st.dictionaries(st.sampled_from(["cmd", "mode", "x"]), json_values, max_size=3),
                      st.fixed_dictionaries({"cmd": st.text(max_size=12)}, optional={"mode": st.text(max_size=40)})))
def test_any_json_request_is_a_command_or_a_protocol_error(body: object) -> None:
    try:
        cmd = decode_request(json.dumps(body).encode() + b"\n")
    except ProtocolError as err:
        assert len(str(err)) < 300
        return
    assert isinstance(cmd, Command)


@QUICK
@given(data=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_any_reply_bytes_decode_or_are_a_protocol_error(data: bytes) -> None:
    try:
        reply = decode_reply(data)
    except ProtocolError:
        return
    assert isinstance(reply["ok"], bool)


# --------------------------------------------------------------------------- audio files


MAGIC = [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS\x00\x02", b"ID3\x03\x00", b"\xff\xfb\x90\x00",
         b"FORM\x00\x00\x00\x00AIFF", b".snd", b"\x00\x00\x00\x20ftypM4A ", b"\x1a\x45\xdf\xa3"]


def _prepared_or_refused(path: Path) -> PreparedAudio | None:
    """prepare_file's only outcomes: an upload, or a one-line UsageError (NoSpeechError included)."""
    try:
        prepared = prepare_file(path)
    except UsageError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return None
    assert prepared.data
    return prepared


@QUICK
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=3000))
def test_random_bytes_are_an_upload_or_a_usage_error(tmp_path_factory: pytest.TempPathFactory, magic: bytes,
                                                     tail: bytes) -> None:
    path = tmp_path_factory.mktemp("junk") / "input.wav"
    path.write_bytes(magic + tail)
    _prepared_or_refused(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FIXTURES), cut=st.floats(0, 1), flips=st.lists(
    st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8))
def test_truncated_and_corrupted_fixtures(tmp_path_factory: pytest.TempPathFactory, name: str, cut: float,
                                          flips: list[tuple[float, int]]) -> None:
    data = bytearray((DATA / name).read_bytes())
    data = data[: int(len(data) * cut)]
    for where, value in flips:
        if data:
            data[min(len(data) - 1, int(len(data) * where))] = value
    path = tmp_path_factory.mktemp("cut") / name
    path.write_bytes(bytes(data))
    _prepared_or_refused(path)


def _sparse_wav(path: Path, size: int) -> Path:
    """A WAV whose header announces `size` bytes of 16 kHz mono audio, written sparsely."""
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as f:
        f.write(np.zeros(160, np.int16))
    head = path.read_bytes()[:64]
    data_at = head.index(b"data")
    with path.open("r+b") as f:
        f.truncate(size)  # a hole: no disk used, and nothing here reads it
        f.seek(4)
        f.write(struct.pack("<I", size - 8))
        f.seek(data_at + 4)
        f.write(struct.pack("<I", size - data_at - 8))
    return path


def test_a_2_gb_file_is_refused_from_its_header(tmp_path: Path) -> None:
    path = _sparse_wav(tmp_path / "huge.wav", 2 * 1024**3)
    assert path.stat().st_blocks * 512 < 1024**2  # really sparse: the test costs no disk
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(UsageError) as info:
            prepare_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10  # anti-hang only: decoding it would take minutes
    assert peak < 4 * 1024**2
    assert str(info.value) == (f"cannot use {path}: it holds 18.6 h of audio, over the "
                               f"{MAX_FILE_SECONDS / 3600:g} h limit for one file (split it into shorter pieces)")


def test_a_2_gb_file_ends_the_command_with_one_line_and_nothing_sent(tmp_path: Path) -> None:
    path = _sparse_wav(tmp_path / "huge.wav", 2 * 1024**3)
    proc = subprocess.run([str(Path(sys.executable).with_name("voicebot")), "transcribe", str(path)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GROQ_API_KEY": "gsk_unused_here",
                               "GROQ_BASE_URL": "http://127.0.0.1:9"})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"voicebot: error: cannot use {path}: it holds 18.6 h of audio")
    assert len(proc.stderr.splitlines()) == 1


def test_a_long_file_under_the_ceiling_is_decoded_not_refused(tmp_path: Path) -> None:
    """The ceiling is the header's duration, not the byte size: a silent minute is read through."""
    seconds = 60
    path = _sparse_wav(tmp_path / "minute.wav", 44 + seconds * 16000 * 2)
    with pytest.raises(UsageError, match="no speech detected"):
        prepare_file(path)
