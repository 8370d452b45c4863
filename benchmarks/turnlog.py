"""What the conversation log costs a turn: the loop's side of it, and the writer's pace.

In one process, N turns (words, then a reply with usage) are handed to a LogWriter
writing a real log file, and the same N to a recorder that is off (the baseline: the
same calls, nothing written). Figures:

- loop time per turn: what `begin` + `update` cost on the event loop, with the log
  on, as a ratio to the baseline;
- longest loop stall: the largest gap seen by a 1 ms ticker on the loop while the
  writer works, as a ratio to the same ticker with the log off;
- writer pace: turns per second written (WAL, one transaction per statement).

Usage: python benchmarks/turnlog.py [--turns N]. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voicebot.log.writer import LogWriter

REPLY = "The capital of France is Paris. " * 8


async def drive(recorder: LogWriter, turns: int) -> tuple[float, float, float]:
    """(loop seconds spent in the recorder, longest tick gap, seconds until all is written)."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    spent = 0.0
    started = time.perf_counter()
    for i in range(turns):
        t0 = time.perf_counter()
        entry = recorder.begin(conversation="bench", mode="ask", source="text", transcript=f"question {i}")
        recorder.update(entry, reply=REPLY, usage={"total_tokens": 68}, model="openai/gpt-oss-20b")
        spent += time.perf_counter() - t0
        if i % 50 == 0:
            await asyncio.sleep(0)  # turns arrive over time, not in one burst on a frozen loop
    await recorder.aclose(60)
    written = time.perf_counter() - started
    stop.set()
    await tick
    return spent, max(gaps, default=0.0), written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        off = asyncio.run(drive(LogWriter.off(), args.turns))
        on = asyncio.run(drive(LogWriter(Path(tmp) / "voicebot" / "log.db", print), args.turns))
    n = args.turns
    print(f"turns: {n}")
    print(f"loop time per turn: {on[0] / n * 1e6:.1f} µs with the log, {off[0] / n * 1e6:.1f} µs off "
          f"(ratio {on[0] / off[0]:.1f}x)")
    print(f"longest loop stall: {on[1] * 1e3:.1f} ms with the log, {off[1] * 1e3:.1f} ms off "
          f"(ratio {on[1] / off[1]:.2f}x)")
    print(f"writer pace: {n / on[2]:.0f} turns/s ({on[2]:.2f} s for all, two statements each)")


if __name__ == "__main__":
    main()
