"""Which application has the focus, and which per-app profile that makes apply.

Read when a key is pressed (in a thread: it talks to the display server), never at start:
the focused window is the one the turn is for. Where it is read from:

- sway: its IPC (`swaymsg -t get_tree`, SWAYSOCK): the focused node's `app_id`, or for an
  X11 window under Xwayland its `window_properties.class`;
- Hyprland: `hyprctl activewindow -j` (HYPRLAND_INSTANCE_SIGNATURE): its `class`;
- X11: the root window's _NET_ACTIVE_WINDOW (kept by every EWMH window manager), else the
  window with the input focus (no window manager), and that window's WM_CLASS (both its
  instance and class names), through python-xlib (which pynput already brings).

Other Wayland desktops (GNOME, KDE) do not tell other programs which window is focused:
there no per-app profile applies, and `voicebot config` says why.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOOL_TIMEOUT = 2.0  # seconds for swaymsg or hyprctl to answer


class NoFocus(Exception):
    """The focused window cannot be read here; the message says why."""


@dataclass(frozen=True)
class FocusedWindow:
    """The focused window's class names (X11: instance and class; Wayland: app_id) and where they came from."""

    names: tuple[str, ...]
    via: str  # "X11", "sway" or "Hyprland"

    @property
    def shown(self) -> str:
        """The name a person knows it by: the class (X11's second name), else the first."""
        return self.names[-1] if self.names else ""


@dataclass(frozen=True)
class AppProfile:
    """A `[profiles.NAME]` table's name and its `match`: a regular expression for the window's class."""

    name: str
    match: str

    def matched(self, window: FocusedWindow) -> str | None:
        """The window's name that `match` matches as a whole (case-insensitive), or None."""
        pattern = re.compile(self.match, re.IGNORECASE)
        return next((name for name in window.names if pattern.fullmatch(name)), None)


def applying(profiles: tuple[AppProfile, ...], window: FocusedWindow | None) -> tuple[AppProfile, str] | None:
    """The first profile (in the file's order) whose `match` takes the window, with the name it matched."""
    if window is None:
        return None
    for profile in profiles:
        name = profile.matched(window)
        if name is not None:
            return profile, name
    return None


def explain(profiles: tuple[AppProfile, ...], window: FocusedWindow | None, why_none: str | None = None) -> str:
    """One line for `voicebot config`: which profile applies now, and why (or why none does)."""
    if window is None:
        return f"no profile applies: {why_none or 'no window has the focus'}"
    found = applying(profiles, window)
    if found is not None:
        profile, name = found
        return f"profile {profile.name!r} applies: focused window class {name!r} matches {profile.match!r}"
    tried = ", ".join(f"{p.match!r} ({p.name})" for p in profiles)
    return f"no profile applies: focused window class {window.shown!r} ({window.via}) matches none of {tried}"


def focused_window(env: Mapping[str, str]) -> FocusedWindow | None:
    """The focused window of this session (None: no window has the focus); NoFocus when it cannot be read."""
    if env.get("SWAYSOCK"):
        return _sway(_run(["swaymsg", "-s", env["SWAYSOCK"], "-r", "-t", "get_tree"], env))
    if env.get("HYPRLAND_INSTANCE_SIGNATURE"):
        return _hyprland(_run(["hyprctl", "activewindow", "-j"], env))
    if env.get("WAYLAND_DISPLAY"):
        raise NoFocus("this Wayland desktop does not say which window is focused (sway and Hyprland do)")
    if env.get("DISPLAY"):
        return _x11(env["DISPLAY"])
    raise NoFocus("no desktop session (neither DISPLAY nor WAYLAND_DISPLAY is set)")


def _run(cmd: list[str], env: Mapping[str, str]) -> Any:
    """A tool's JSON answer; NoFocus with its own words when it is missing or fails."""
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT, env=dict(env), stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise NoFocus(f"{cmd[0]} is not installed") from None
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise NoFocus(f"{cmd[0]} did not answer ({exc})") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        raise NoFocus(f"{cmd[0]} failed ({said[0] if said else f'exit status {done.returncode}'})")
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise NoFocus(f"{cmd[0]} gave no JSON") from None


def _sway(tree: Any) -> FocusedWindow | None:
    """The focused leaf of sway's tree: its app_id (Wayland) or its X11 class and instance (Xwayland)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if node.get("focused"):
            props = node.get("window_properties") or {}
            names = [node.get("app_id"), props.get("instance"), props.get("class")]
            found = tuple(str(n) for n in names if isinstance(n, str) and n)
            return FocusedWindow(found, "sway") if found else None  # a workspace or output: no window
        stack.extend(node.get("nodes", []) + node.get("floating_nodes", []))
    return None


def _hyprland(window: Any) -> FocusedWindow | None:
    if not isinstance(window, dict):
        return None
    names = [window.get("initialClass"), window.get("class")]
    found = tuple(dict.fromkeys(str(n) for n in names if isinstance(n, str) and n))
    return FocusedWindow(found, "Hyprland") if found else None


def _x11(display_name: str) -> FocusedWindow | None:
    try:
        from Xlib import X
        from Xlib.display import Display
        from Xlib.error import DisplayError, XError
    except ImportError:
        raise NoFocus("python-xlib is not installed") from None
    try:
        display = Display(display_name)
    except (DisplayError, OSError) as exc:
        raise NoFocus(f"cannot open the display {display_name} ({exc})") from None
    try:
        root = display.screen().root
        active = root.get_full_property(display.intern_atom("_NET_ACTIVE_WINDOW"), X.AnyPropertyType)
        wid = int(active.value[0]) if active is not None and len(active.value) else 0
        window = display.create_resource_object("window", wid) if wid else display.get_input_focus().focus
        while getattr(window, "id", 0) not in (0, 1, root.id):  # None and PointerRoot come as plain numbers
            wm_class = window.get_wm_class()
            if wm_class:
                return FocusedWindow(tuple(str(n) for n in wm_class if n), "X11")
            window = window.query_tree().parent  # the focus may be a child of the application's window
        return None
    except XError as exc:  # the window went away while it was read
        raise NoFocus(f"the focused window could not be read ({type(exc).__name__})") from None
    finally:
        display.close()


__all__ = ["AppProfile", "FocusedWindow", "NoFocus", "applying", "explain", "focused_window"]
