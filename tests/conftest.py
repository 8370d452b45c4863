"""Shared pytest fixtures: the local Groq-compatible server (tests/fakegroq), and the
suite-wide promise that the test API key never shows up in anything a test captured
(stdout, stderr, logs) or in a file written under the session's temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import TEST_API_KEY, TEST_STT_API_KEY, FakeGroq

__all__ = ["TEST_API_KEY", "TEST_STT_API_KEY", "files_holding_key"]
SECRETS = (TEST_API_KEY, TEST_STT_API_KEY)  # no output, log or written file may hold either

# Files a test writes the key into on purpose: config files, env files, test keyrings.
KEY_HOLDERS = (".toml", ".keyring", "env")
SCAN_LIMIT = 16 * 1024 * 1024  # bytes read per file; recordings beyond this hold no text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail any test phase whose captured stdout, stderr or log holds a test key."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    # report.sections also repeats earlier phases' captures: judge only this phase's own.
    leaked = [name for name, text in report.sections
              if name.endswith(report.when) and any(key in text for key in SECRETS)]
    if leaked and not report.failed:
        report.outcome = "failed"
        report.longrepr = f"the test API key appeared in: {', '.join(leaked)}"


def files_holding_key(root: Path) -> list[Path]:
    """Files under root, other than deliberate key holders, whose bytes contain a test key."""
    needles = [key.encode() for key in SECRETS]
    found = []
    for path in sorted(root.rglob("*")):
        if path.name.endswith(KEY_HOLDERS) or path.is_symlink() or not path.is_file():
            continue
        try:
            with path.open("rb") as handle:
                head = handle.read(SCAN_LIMIT)
                if any(needle in head for needle in needles):
                    found.append(path)
        except OSError:
            continue  # a socket or a file another process removed meanwhile
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_key_in_written_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the last test: no log, sidecar or other file under the session's tmp holds the key."""
    yield
    leaked = files_holding_key(tmp_path_factory.getbasetemp())
    assert not leaked, f"the test API key was written to: {', '.join(map(str, leaked))}"


@pytest.fixture(scope="session")
def _fake_groq_server() -> Iterator[FakeGroq]:
    """One server thread per session: starting aiohttp per test would only cost time."""
    server = FakeGroq(api_key=TEST_API_KEY).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_groq(_fake_groq_server: FakeGroq) -> Iterator[FakeGroq]:
    """The fake Groq server with fresh state (no requests, faults, replies or delays)."""
    _fake_groq_server.reset()
    yield _fake_groq_server
    _fake_groq_server.reset()
