"""One validator per kind of setting value, and the checks a few settings add.

Each takes the value as read from a flag, the environment or the config file, and
returns it (perhaps normalised) or raises ValueError with the words the user sees
after "bad value for ...". `voicebot.config.loading` maps kinds and setting names to them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["check_bool", "check_bounds", "check_float", "check_int", "check_list", "check_stops", "check_str",
           "check_url"]


def check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def check_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def check_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        raise ValueError(f"expected a reasonable number, got one with {len(str(value))} digits") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got {number!r}")
    return number


def check_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return value


def check_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def check_stops(value: list[str]) -> list[str]:
    if len(value) > 4:
        raise ValueError(f"at most 4 stop sequences, got {len(value)}")
    return value


def check_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


def check_bounds(meta: Mapping[str, Any], value: Any) -> Any:
    """The field's own choices and range, as its `_opt(...)` metadata names them."""
    if meta["choices"] and value not in meta["choices"]:
        raise ValueError(f"expected one of {', '.join(meta['choices'])}, got {value!r}")
    if meta["low"] is not None and value < meta["low"]:
        raise ValueError(f"must be at least {meta['low']:g}, got {value!r}")
    if meta["high"] is not None and value > meta["high"]:
        raise ValueError(f"must be at most {meta['high']:g}, got {value!r}")
    return value
