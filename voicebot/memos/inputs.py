"""Which audio files a `voicebot memos` run covers, and where each one's results go.

Files are taken as given; folders are searched (recursively, in name order) for the audio
types Groq accepts. Results go beside each input (`memo.ogg` -> `memo.memo.md` and
`memo.memo.json`) or, with --out, into one folder. The JSON is written last, so its
presence means the memo is finished and a later run skips it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from voicebot.errors import UsageError

AUDIO_EXTENSIONS = frozenset({".flac", ".mp3", ".mp4", ".mpeg", ".mpga", ".m4a", ".ogg", ".opus", ".wav", ".webm"})


@dataclass(frozen=True)
class Item:
    """One memo: its audio file and its two results."""

    source: Path
    markdown: Path
    record: Path

    @property
    def key(self) -> str:
        """How the run's state names it: the absolute path."""
        return str(self.source)

    @property
    def finished(self) -> bool:
        return self.record.exists()


def _audio_in(folder: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / n for n in sorted(names)
                  if not n.startswith(".") and Path(n).suffix.lower() in AUDIO_EXTENSIONS]
    return found


def collect(paths: list[str], out: Path | None) -> list[Item]:
    """The memos named by `paths` (files and folders); UsageError for a path that is neither,
    no audio at all, or two inputs whose results would collide in --out."""
    sources: list[Path] = []
    for given in paths:
        if given.startswith(("http://", "https://")):
            raise UsageError(f"{given}: audio by URL is not supported by `voicebot memos` yet; download it first")
        path = Path(given).expanduser()
        if path.is_dir():
            sources += _audio_in(path)
        elif path.is_file():
            sources.append(path)
        else:
            raise UsageError(f"{given}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in sources))
    if not unique:
        raise UsageError("no audio files found in " + ", ".join(paths))
    items = [Item(p, *results_for(p, out)) for p in unique]
    seen: dict[Path, Path] = {}
    for item in items:
        if item.record in seen:
            raise UsageError(f"{seen[item.record]} and {item.source} would both write {item.record}; "
                             "rename one or run them without --out")
        seen[item.record] = item.source
    return items


def results_for(source: Path, out: Path | None) -> tuple[Path, Path]:
    folder = out.resolve() if out is not None else source.parent
    return folder / f"{source.stem}.memo.md", folder / f"{source.stem}.memo.json"
