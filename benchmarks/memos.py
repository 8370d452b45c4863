"""`voicebot memos --batch` at scale: memory and time for N short memos against N/10 (issue 18).

Runs the installed command for real against the local Groq-compatible server: a folder of
short memos (the speech fixtures, copied), transcribed two at a time, one JSONL batch
uploaded, polled and collected. Prints, for the small run (the baseline) and the large one,
the wall time, the command's peak resident memory (ru_maxrss of the child) and the batch
file's size, then the large run's ratios to the small one: time should grow with N, memory
should stay flat (the JSONL is written and read line by line, results matched by custom_id).

Usage: python benchmarks/memos.py [--memos N]   (default 500; the baseline is N/10)
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakegroq import TEST_API_KEY, FakeGroq  # noqa: E402

DATA = ROOT / "tests" / "data"
VOICEBOT = Path(sys.executable).with_name("voicebot")
FIXTURES = ["capital.wav", "spider.flac", "bonjour.ogg"]


def run(fake: FakeGroq, count: int, work: Path) -> dict[str, float]:
    folder, out, home = work / f"in{count}", work / f"out{count}", work / f"home{count}"
    folder.mkdir()
    home.mkdir()
    for n in range(count):
        name = FIXTURES[n % len(FIXTURES)]
        shutil.copy(DATA / name, folder / f"memo{n:04d}{Path(name).suffix}")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_RUNTIME_DIR": str(home), "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake.host_url}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    proc = subprocess.run([str(VOICEBOT), "memos", "--batch", "--poll-seconds", "0.2", "--out", str(out),
                           str(folder)], env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    written = len(list(out.glob("*.memo.json")))
    if proc.returncode != 0 or written != count:
        sys.exit(f"memos run of {count} failed (exit {proc.returncode}, {written} written): {proc.stderr[-500:]}")
    uploads = [r for r in fake.requests_to("/files") if r.method == "POST" and r.upload is not None]
    return {"seconds": seconds, "peak_mb": max(peak, before) / 1024, "jsonl_kb": uploads[-1].upload.size / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memos", type=int, default=500)
    args = parser.parse_args()
    small, large = max(1, args.memos // 10), args.memos
    with FakeGroq().start() as fake, tempfile.TemporaryDirectory(prefix="memos-bench-") as tmp:
        figures = {}
        for count in (small, large):
            fake.reset()
            figures[count] = run(fake, count, Path(tmp))
            f = figures[count]
            print(f"{count:5d} memos: {f['seconds']:7.1f} s, peak RSS {f['peak_mb']:6.1f} MB, "
                  f"batch file {f['jsonl_kb']:8.1f} KB", flush=True)
    a, b = figures[small], figures[large]
    print(f"{large} vs {small}: time x{b['seconds'] / a['seconds']:.2f}, memory x{b['peak_mb'] / a['peak_mb']:.2f}, "
          f"batch file x{b['jsonl_kb'] / a['jsonl_kb']:.2f} (memos x{large / small:.0f})")


if __name__ == "__main__":
    main()
