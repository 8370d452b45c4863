"""The README's settings table names every setting of the schema, and only those (issue 15.14).

Five settings had been added to voicebot.config.schema without a row; this keeps the
table from drifting again: a new setting fails here until the README says what it does.
"""

from __future__ import annotations

import re
from pathlib import Path

from voicebot.config.schema import FIELDS

README = Path(__file__).resolve().parents[2] / "README.md"


def table_settings(text: str) -> list[str]:
    """The settings named in the first column of the table under "## Configuration"."""
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    header = section.index("| setting | default | flag |")
    names: list[str] = []
    for line in section[header:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        first = line.split("|")[1]
        names += re.findall(r"`([a-z_0-9]+)`", first)
    return names


def test_every_setting_has_a_row_in_the_readme_table_and_every_row_is_a_setting() -> None:
    named = table_settings(README.read_text(encoding="utf-8"))
    assert sorted(set(FIELDS) - set(named)) == []  # settings the README does not explain
    assert sorted(set(named) - set(FIELDS)) == []  # rows for settings that no longer exist
    assert len(named) == len(set(named))  # each once


def test_the_check_sees_a_missing_row() -> None:
    text = README.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `color` |"))
    assert "color" in table_settings(text) and "color" not in table_settings(text.replace(row + "\n", ""))
