"""The utterance segmenter: a pure function from detector frames to speech start and end.

Hands-free, nobody presses a key, so the detector's verdicts decide where a turn begins and
ends. The rule is small and kept here, free of devices and clocks, so it is unit-tested
frame by frame: an utterance starts after `start_ms` of frames at or above `threshold` in a
row (a cough or a key click is shorter) and carries `preroll_ms` of the audio before the
speech that led into that run: its first voiced frame since the last `endpoint_ms` of quiet
(at most `LEAD_SECONDS` back). Counting from the run alone cut first words: a question's
first syllables are often a shorter run broken by one low frame, and the run that starts
the utterance only comes a syllable or two later. The run starts it only once the model has
been all but certain at least `sure_frames` times since that first voiced frame (frames at
or above `sure`, 0.98): music's tones (a plucked string, a sawtooth's buzz, a sine) drive the
model over `threshold` for a run now and then, but rarely that high, while speech reaches
it within a syllable or two (benchmarks/music.py: 40 minutes of varied music started 58
utterances before and 1 now; no spoken sentence was missed or cut, but more one-word answers
go unheard: 28 of 50 said right after music where 20 did, 4 of 50 clean where 2 did; 0.97
let 4 of those clips through, 0.99 missed 7 clean words). It ends after `endpoint_ms` of
frames below `threshold - 0.15` (hysteresis: a word's quiet tail does not end it), or when
it reaches `max_seconds`. While no utterance runs, `timeout_seconds` without one ends the
hands-free session (not in the middle of a voiced run that may yet start one). The state is
a frozen value: `step` returns the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

HYSTERESIS = 0.15  # the probability an utterance must fall below (threshold minus this) to count as quiet
LEAD_SECONDS = 1.5  # how far before the voiced run that starts an utterance its speech may have begun


@dataclass(frozen=True)
class ListenOptions:
    """What hands-free listening needs to know (from the settings; defaults as documented)."""

    threshold: float = 0.5  # speech probability a frame needs to count as voiced
    start_ms: int = 200  # voiced audio in a row that starts an utterance
    endpoint_ms: int = 600  # quiet after speech that ends it
    preroll_ms: int = 300  # audio from before the start that the utterance keeps
    sure: float = 0.98  # a probability the model gives speech within a syllable, and music's tones rarely
    sure_frames: int = 2  # frames that sure since the first voiced one before a run may start an utterance (0: any run)
    max_seconds: float = 300.0  # an utterance stops by itself after this long
    timeout_seconds: float = 60.0  # no utterance for this long ends the session (0: never)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0 or not self.threshold <= self.sure <= 1.0:
            raise ValueError("threshold must be between 0 and 1, and sure between it and 1")
        if self.sure_frames < 0:
            raise ValueError("sure_frames must not be negative")
        if self.start_ms <= 0 or self.endpoint_ms <= 0 or self.preroll_ms < 0:
            raise ValueError("start_ms and endpoint_ms must be positive, preroll_ms not negative")
        if self.max_seconds <= 0 or self.timeout_seconds < 0:
            raise ValueError("max_seconds must be positive, timeout_seconds not negative")


@dataclass(frozen=True)
class Started:
    """Speech began: the utterance's first audio (the pre-roll and the voiced run that started it)."""

    audio: bytes


@dataclass(frozen=True)
class Heard:
    """More of the running utterance's audio (one frame)."""

    audio: bytes


@dataclass(frozen=True)
class Ended:
    """The utterance is over: `quiet` (endpoint_ms of quiet after it) or `limit` (max_seconds)."""

    reason: str


@dataclass(frozen=True)
class TimedOut:
    """`timeout_seconds` went by with no utterance: the session ends."""


Event = Started | Heard | Ended | TimedOut


@dataclass(frozen=True)
class Segmenter:
    """Where the segmenter is: frames held before a start, or the running utterance's counts."""

    options: ListenOptions = field(default_factory=ListenOptions)
    frame_ms: float = 32.0  # one detector frame (512 samples at 16 kHz)
    held: tuple[bytes, ...] = ()  # the newest frames while no utterance runs (pre-roll + the speech so far)
    voiced: int = 0  # voiced frames in a row, while no utterance runs
    lead: int = 0  # frames since the first voiced one after the last endpoint of quiet (0: none yet)
    sure: tuple[bool, ...] = ()  # for each of those frames (the last `lead`), whether it was sure speech
    speaking: bool = False
    quiet: int = 0  # quiet frames in a row (while an utterance runs, and before one starts)
    frames: int = 0  # frames in the running utterance
    idle: int = 0  # frames since the last utterance ended (or since listening began)

    def __post_init__(self) -> None:
        if self.frame_ms <= 0:
            raise ValueError("frame_ms must be positive")

    def frames_for(self, ms: float) -> int:
        """Whole frames covering `ms` milliseconds (at least one)."""
        return max(1, round(ms / self.frame_ms))


def step(seg: Segmenter, audio: bytes, probability: float) -> tuple[Segmenter, tuple[Event, ...]]:
    """The segmenter after one frame of `audio` whose speech probability is `probability`."""
    o = seg.options
    if seg.speaking:
        quiet = seg.quiet + 1 if probability < o.threshold - HYSTERESIS else 0
        frames = seg.frames + 1
        if quiet >= seg.frames_for(o.endpoint_ms):
            return replace(seg, speaking=False, quiet=0, frames=0, idle=0), (Heard(audio), Ended("quiet"))
        if frames * seg.frame_ms >= o.max_seconds * 1000:
            return replace(seg, speaking=False, quiet=0, frames=0, idle=0), (Heard(audio), Ended("limit"))
        return replace(seg, quiet=quiet, frames=frames), (Heard(audio),)
    voiced = seg.voiced + 1 if probability >= o.threshold else 0
    quiet = seg.quiet + 1 if probability < o.threshold - HYSTERESIS else 0
    longest = seg.frames_for(LEAD_SECONDS * 1000)
    # (what came before endpoint_ms of quiet is not the start of what follows)
    lead = 0 if quiet >= seg.frames_for(o.endpoint_ms) else min(seg.lead + 1, longest) if seg.lead or voiced else 0
    sure = (*seg.sure, probability >= o.sure)[-lead:] if lead else ()
    # (a run not yet sure may go on: the audio held for it stops growing at LEAD_SECONDS)
    keep = (seg.frames_for(o.preroll_ms) if o.preroll_ms else 0) + max(lead, min(voiced, longest))
    held = (*seg.held, audio)[-keep:] if keep else ()
    if voiced >= seg.frames_for(o.start_ms) and sum(sure) >= o.sure_frames:
        start = Started(b"".join(held))
        return replace(seg, held=(), voiced=0, lead=0, sure=(), speaking=True, quiet=0, frames=len(held),
                       idle=0), (start,)
    idle = seg.idle + 1
    if o.timeout_seconds and not voiced and idle * seg.frame_ms >= o.timeout_seconds * 1000:
        return replace(seg, held=held, voiced=voiced, lead=lead, sure=sure, quiet=quiet, idle=0), (TimedOut(),)
    return replace(seg, held=held, voiced=voiced, lead=lead, sure=sure, quiet=quiet, idle=idle), ()


@dataclass(frozen=True)
class Block:
    """What one capture block's frames did: the utterance begun (its first audio), more of it, its end."""

    begun: bytes | None = None  # an utterance started: its pre-roll and the speech so far
    audio: bytes = b""  # more of the running utterance (after `begun`, if it began here)
    ended: str | None = None  # it ended here: "quiet" or "limit"
    timed_out: bool = False


def hear(seg: Segmenter, frames: list[tuple[bytes, float]]) -> tuple[Segmenter, Block]:
    """One capture block's scored frames through the segmenter, as the hands-free session uses them.

    The utterance's audio is handed on once per block (one encoder call). After an end the
    rest of the block is dropped (the session stops listening for a moment then), and so is
    what of this block lies in the endpoint's quiet: the utterance has quiet enough after
    its last word already, and encoding it would only delay the upload.
    """
    begun: bytes | None = None
    heard: list[bytes] = []
    for audio, probability in frames:
        seg, events = step(seg, audio, probability)
        for event in events:
            if isinstance(event, Started):
                begun = event.audio
            elif isinstance(event, Heard):
                heard.append(event.audio)
            elif isinstance(event, Ended):
                if event.reason == "quiet":
                    heard = heard[: max(0, len(heard) - seg.frames_for(seg.options.endpoint_ms))]
                return reset(seg), Block(begun, b"".join(heard), event.reason)
            elif isinstance(event, TimedOut):
                return seg, Block(timed_out=True)
    return seg, Block(begun, b"".join(heard))


def reset(seg: Segmenter) -> Segmenter:
    """Listening afresh (after a turn, or once the assistant stops speaking): nothing held, nothing counted."""
    return replace(seg, held=(), voiced=0, lead=0, sure=(), speaking=False, quiet=0, frames=0, idle=0)


__all__ = ["HYSTERESIS", "LEAD_SECONDS", "Block", "Ended", "Event", "Heard", "ListenOptions", "Segmenter", "Started",
           "TimedOut", "hear", "reset", "step"]
