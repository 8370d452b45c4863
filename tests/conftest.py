"""Shared pytest fixtures: the local Groq-compatible server (tests/fakegroq)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq

__all__ = ["TEST_API_KEY"]


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
