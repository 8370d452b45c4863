"""Run the fake Groq server standalone: `python -m tests.fakegroq [--port P] [--key K]`.

Prints the OpenAI-style base URL on the first line (scripts read it), then serves until
interrupted. Other processes steer it through the admin endpoints under /_fake/.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import TEST_API_KEY, FakeGroq


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakegroq", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: an ephemeral one)")
    parser.add_argument("--key", default=TEST_API_KEY, help="API key clients must send (default: TEST_API_KEY)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = FakeGroq(api_key=args.key, host=args.host, port=args.port).start()
    print(server.base_url, flush=True)
    print(f"host root (official SDK base_url): {server.host_url}; admin: {server.host_url}/_fake/",
          file=sys.stderr, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
