"""Run the fake Groq server standalone: `python -m tests.fakegroq [--port P] [--key K]`.

Prints what to paste into the shell that runs voicebot (or the official SDK) on stdout,
the first line `export GROQ_BASE_URL=<host root>` and the second `export GROQ_API_KEY=<key>`
(scripts may read them), then serves until interrupted. Other processes steer it through
the admin endpoints under /_fake/.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading

from .server import TEST_API_KEY, FakeGroq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakegroq", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: an ephemeral one)")
    parser.add_argument("--key", default=TEST_API_KEY, help=f"API key clients must send (default: {TEST_API_KEY})")
    return parser.parse_args(argv)


def paste_lines(server: FakeGroq, key: str) -> list[str]:
    """The shell lines that point voicebot at `server`.

    GROQ_BASE_URL is a host root, as the official SDK reads it (it appends /openai/v1):
    printing the OpenAI-style root instead once made users paste a doubled path.
    """
    return [f"export GROQ_BASE_URL={shlex.quote(server.host_url)}", f"export GROQ_API_KEY={shlex.quote(key)}"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = FakeGroq(api_key=args.key, host=args.host, port=args.port).start()
    print("\n".join(paste_lines(server, args.key)), flush=True)
    print(f"fake Groq API at {server.base_url} (admin: {server.host_url}/_fake/). Paste the two lines above "
          "into the shell that runs voicebot; Ctrl+C stops the server.", file=sys.stderr, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
