"""What the live daemon tests share: one desktop (Xvfb + a private PulseAudio) per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness.daemon import Desktop, desktop


@pytest.fixture(scope="module")
def desk() -> Iterator[Desktop]:
    """One Xvfb and one PulseAudio for the whole module; each test starts its own daemon."""
    with desktop() as d:
        yield d
