"""Which audio files a `voicebot memos` run covers, and where each one's results go.

Files are taken as given; folders are searched (recursively, in name order) for the audio
types Groq accepts; `https://` URLs are audio Groq fetches itself (inside a batch). Results
go beside each input (`memo.ogg` -> `memo.memo.md` and `memo.memo.json`) or, with --out,
into one folder (the only place for a URL's). The JSON is written last, so its
presence means the memo is finished and a later run skips it.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from voicebot.errors import UsageError

AUDIO_EXTENSIONS = frozenset({".flac", ".mp3", ".mp4", ".mpeg", ".mpga", ".m4a", ".ogg", ".opus", ".wav", ".webm"})


@dataclass(frozen=True)
class Item:
    """One memo: its audio (an absolute path or a URL) and its two results."""

    source: str
    markdown: Path
    record: Path

    @property
    def key(self) -> str:
        """How the run's state names it."""
        return self.source

    @property
    def is_url(self) -> bool:
        return is_url(self.source)

    @property
    def name(self) -> str:
        """The audio's file name (a URL's last path segment)."""
        return name_of(self.source)

    @property
    def finished(self) -> bool:
        return self.record.exists()


def is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def name_of(source: str) -> str:
    if is_url(source):
        return PurePosixPath(urllib.parse.urlsplit(source).path).name or "audio"
    return Path(source).name


def _audio_in(folder: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in sorted(names)
                  if not n.startswith(".") and Path(n).suffix.lower() in AUDIO_EXTENSIONS]
    return found


def collect(paths: list[str], out: Path | None) -> list[Item]:
    """The memos named by `paths` (files, folders, URLs); UsageError for a path that is neither,
    no audio at all, a URL without --out, or two inputs whose results would collide."""
    sources: list[str] = []
    for given in paths:
        if is_url(given):
            if out is None:
                raise UsageError(f"{given}: a URL's memo needs --out DIR (there is no folder beside a URL)")
            sources.append(given)
            continue
        path = Path(given).expanduser()
        if path.is_dir():
            sources += [str(p.resolve()) for p in _audio_in(path)]
        elif path.is_file():
            sources.append(str(path.resolve()))
        else:
            raise UsageError(f"{given}: no such file or folder")
    unique = list(dict.fromkeys(sources))
    if not unique:
        raise UsageError("no audio files found in " + ", ".join(paths))
    items = [Item(source, *results_for(source, out)) for source in unique]
    seen: dict[Path, str] = {}
    for item in items:
        if item.record in seen:
            raise UsageError(f"{seen[item.record]} and {item.source} would both write {item.record}; "
                             "rename one or run them without --out")
        seen[item.record] = item.source
    return items


def results_for(source: str, out: Path | None) -> tuple[Path, Path]:
    folder = out.resolve() if out is not None else Path(source).parent
    stem = PurePosixPath(name_of(source)).stem
    return folder / f"{stem}.memo.md", folder / f"{stem}.memo.json"
