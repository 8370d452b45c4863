"""One home for private directories: the socket's (refuse what is open) and the recordings' (tighten it)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicebot.errors import UsageError
from voicebot.private_files import ensure_private_dir, make_private, write_atomic
from voicebot.spool.store import ensure_private_root


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_parents_are_created_private_only_when_asked(tmp_path: Path, open_umask: None) -> None:
    with pytest.raises(UsageError, match="its parent does not exist") as err:
        ensure_private_dir(tmp_path / "a" / "b", hint="set SOMEWHERE")
    assert err.value.hint == "set SOMEWHERE"
    ensure_private_dir(tmp_path / "a" / "b", parents=True)
    assert mode_of(tmp_path / "a") == mode_of(tmp_path / "a" / "b") == 0o700


def test_an_open_directory_is_refused_unless_tightening(tmp_path: Path, open_umask: None) -> None:
    directory = tmp_path / "run"
    directory.mkdir(mode=0o755)
    with pytest.raises(UsageError, match=r"the control directory .* is open to group or others \(mode 0755\)"):
        ensure_private_dir(directory, what="control directory")
    ensure_private_dir(directory, tighten=True)
    assert mode_of(directory) == 0o700


def test_someone_elses_directory_is_refused_even_when_tightening(tmp_path: Path) -> None:
    directory = tmp_path / "pending"
    directory.mkdir(mode=0o755)
    with pytest.raises(UsageError, match=f"belongs to uid {os.geteuid()}, not to you \\(uid 4242\\)") as err:
        ensure_private_dir(directory, own_uid=4242, tighten=True, hint="set XDG_DATA_HOME")
    assert err.value.hint == "remove it, or set XDG_DATA_HOME"
    assert mode_of(directory) == 0o755  # not touched
    make_private(directory, own_uid=4242)
    assert mode_of(directory) == 0o755  # nor here: it is not ours


def test_a_symlink_is_refused_unless_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(UsageError, match=r"not a directory \(or is a symlink\)"):
        ensure_private_dir(tmp_path / "link")
    ensure_private_dir(tmp_path / "link", follow_symlinks=True)


def test_the_pending_root_tightens_its_voicebot_parent_only(tmp_path: Path, open_umask: None) -> None:
    root = tmp_path / "share" / "voicebot" / "pending"
    root.mkdir(parents=True)
    for directory in (root, root.parent, tmp_path / "share"):
        directory.chmod(0o755)
    ensure_private_root(root)
    assert (mode_of(root), mode_of(root.parent), mode_of(tmp_path / "share")) == (0o700, 0o700, 0o755)


def test_write_atomic_replaces_whole_and_private(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "x.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and mode_of(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]  # no temp file left behind
