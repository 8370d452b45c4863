"""Private directories and crash-safe files: the user's recordings and the control socket.

Both the kept takes (pending.py) and the control socket (control.py) live in a 0700
directory of the user's own; takes are written atomically. Standard library only: the
control client imports this on every key press.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from voicebot.errors import UsageError

TEMP_PREFIX = "."  # temp files are hidden dot-files: never mistaken for the files they become


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to `path` as a whole or not at all: temp file, fsync, rename, fsync dir.

    The temp file is a hidden dot-file in the same directory (rename must not cross file
    systems) and is 0600 from its creation, whatever the umask. `durable=False` leaves out
    the fsyncs: the file then survives a killed process (the kernel has it), and `fsync_file`
    plus `fsync_dir` later make it survive a power cut too.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_file(path: Path) -> None:
    """Make a file written with `write_atomic(durable=False)` durable (then `fsync_dir`)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private(path: Path, *, own_uid: int | None = None) -> None:
    """Close a file or directory of ours to group and others, keeping the owner's own bits.

    Only loosened modes are touched: 0755 becomes 0700 and 0644 becomes 0600, while a mode
    the user chose stricter than ours (a 0500 folder, a 0400 file) is left as it is: this
    never grants anything. Someone else's is left alone.
    """
    info = os.stat(path)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and info.st_uid == (os.geteuid() if own_uid is None else own_uid):
        os.chmod(path, mode & 0o700)


def ensure_private_dir(directory: Path, *, own_uid: int | None = None, parents: bool = False,
                       tighten: bool = False, follow_symlinks: bool = False, what: str = "directory",
                       hint: str | None = None) -> None:
    """Create `directory` 0700 whatever the umask, or accept an existing one only if it is ours.

    Someone else's directory is refused: whoever can write to it could read the
    recordings or replace the socket. An existing one open to group or others is made
    private when `tighten` (our own data directory: group and others' bits removed, the
    owner's left as they are), else refused (a socket directory
    someone opened on purpose). `parents` creates missing parents, 0700 too; without it a
    missing parent is an error. `what` names the directory in messages; `hint` says how to
    choose another one.
    """
    own_uid = os.geteuid() if own_uid is None else own_uid
    missing = [directory]
    if parents:
        missing = []
        for parent in (directory, *directory.parents):
            if parent.exists():
                break
            missing.append(parent)
    for new in reversed(missing):
        try:
            os.mkdir(new, 0o700)
        except FileExistsError:
            continue
        except FileNotFoundError:
            raise UsageError(f"cannot create the {what} {directory}: its parent does not exist",
                             hint=hint) from None
        except OSError as exc:
            raise UsageError(f"cannot create the {what} {new}: {exc.strerror}") from None
        os.chmod(new, 0o700)  # mkdir's mode is filtered by the umask
    info = os.stat(directory) if follow_symlinks else os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"the {what} {directory} is not a directory"
                         + ("" if follow_symlinks else " (or is a symlink)"))
    if info.st_uid != own_uid:
        raise UsageError(f"the {what} {directory} belongs to uid {info.st_uid}, not to you (uid {own_uid})",
                         hint=f"remove it, or {hint}" if hint else "remove it")
    mode = stat.S_IMODE(info.st_mode)
    if tighten:
        make_private(directory, own_uid=own_uid)
    elif mode & 0o077:
        raise UsageError(f"the {what} {directory} is open to group or others (mode {mode:04o})",
                         hint=f"run `chmod 700 {directory}`")


def ensure_data_dir(directory: Path, *, what: str) -> None:
    """A folder of ours under $XDG_DATA_HOME (pending takes, the log, kept audio): created with
    its parents, 0700, tightened if it was opened; our `voicebot/` parent is tightened too."""
    ensure_private_dir(directory, parents=True, tighten=True, follow_symlinks=True, what=what,
                       hint="set XDG_DATA_HOME")
    if directory.parent.name == "voicebot":
        make_private(directory.parent)


__all__ = ["TEMP_PREFIX", "ensure_data_dir", "ensure_private_dir", "fsync_dir", "make_private", "write_atomic"]
