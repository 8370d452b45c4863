"""The focused window as sway and Hyprland describe it, and which profile that makes apply (pure parts)."""

from __future__ import annotations

import pytest

from voicebot.desktop.focus import (
    AppProfile,
    FocusedWindow,
    NoFocus,
    _hyprland,
    _sway,
    applying,
    explain,
    focused_window,
)

TERMINAL = AppProfile("terminal", "foot|kitty")
BROWSER = AppProfile("browser", "firefox.*")


def tree(*leaves: dict[str, object]) -> dict[str, object]:
    """A sway tree: root > output > workspace > the leaves (one of them focused)."""
    workspace = {"type": "workspace", "focused": False, "nodes": list(leaves[:-1]), "floating_nodes": [leaves[-1]]}
    return {"type": "root", "focused": False, "nodes": [{"type": "output", "focused": False, "nodes": [workspace]}]}


def test_sway_names_the_focused_wayland_window_by_app_id() -> None:
    found = _sway(tree({"focused": False, "app_id": "firefox"}, {"focused": True, "app_id": "foot"}))
    assert found == FocusedWindow(("foot",), "sway")


def test_sway_names_an_xwayland_window_by_its_x11_instance_and_class() -> None:
    xwindow = {"focused": True, "app_id": None, "window_properties": {"class": "XTerm", "instance": "xterm"}}
    found = _sway(tree({"focused": False, "app_id": "foot"}, xwindow))
    assert found == FocusedWindow(("xterm", "XTerm"), "sway") and found.shown == "XTerm"


def test_an_empty_focused_workspace_is_no_window() -> None:
    assert _sway({"type": "root", "nodes": [{"type": "workspace", "focused": True, "nodes": []}]}) is None
    assert _sway([]) is None


def test_hyprland_names_the_active_window_by_its_class() -> None:
    assert _hyprland({"class": "kitty", "initialClass": "kitty", "title": "~"}) == FocusedWindow(("kitty",), "Hyprland")
    assert _hyprland({}) is None


@pytest.mark.parametrize("names, applies", [
    (("foot",), "terminal"), (("Foot",), "terminal"), (("xterm", "kitty"), "terminal"),
    (("firefox-esr",), "browser"), (("footclient",), None), (("myfoot",), None),
])
def test_match_is_a_whole_case_insensitive_expression_tried_in_the_files_order(names: tuple[str, ...],
                                                                              applies: str | None) -> None:
    found = applying((TERMINAL, BROWSER, AppProfile("any", ".*")), FocusedWindow(names, "X11"))
    assert found is not None
    assert found[0].name == (applies or "any")


def test_explain_says_which_profile_applies_and_why() -> None:
    foot = FocusedWindow(("foot",), "sway")
    assert explain((BROWSER, TERMINAL), foot) == \
        "profile 'terminal' applies: focused window class 'foot' matches 'foot|kitty'"
    assert explain((BROWSER,), foot) == \
        "no profile applies: focused window class 'foot' (sway) matches none of 'firefox.*' (browser)"
    assert explain((TERMINAL,), None, "no DISPLAY") == "no profile applies: no DISPLAY"
    assert explain((TERMINAL,), None) == "no profile applies: no window has the focus"


def test_a_desktop_that_cannot_say_is_no_focus_with_the_reason() -> None:
    with pytest.raises(NoFocus, match="does not say which window is focused"):
        focused_window({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"})  # GNOME/KDE: Xwayland sees only X clients
    with pytest.raises(NoFocus, match="no desktop session"):
        focused_window({})
    with pytest.raises(NoFocus, match="swaymsg"):
        focused_window({"SWAYSOCK": "/nonexistent/sway.sock", "PATH": "/nonexistent"})
