"""What one turn of the daemon runs with: the global settings, with the focused application's
profile and the binding's profile laid over them.

A hotkey binding may carry its own `language`, `vocabulary`, `stt_prompt`, `model`, `system`,
`speak` and `voice` (a German dictation key beside an English question key), and a
`[profiles.NAME]` table applies while a window whose class it matches has the focus (a
terminal that pastes with Ctrl+Shift+V). The CLI's wiring builds every `TurnSetup` ahead
(the settings with the profiles laid over them: global < application < binding), so a bad
value stops the start, not a turn. At each key press `decide` reads the focused window in
a thread (voicebot.desktop.focus) and picks the setup; the take's speech requests, its
answer (model and system prompt, in the same conversation), its dictation and its voice
then follow it, and no other turn does.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from voicebot.desktop.dictation import DictationOptions
from voicebot.desktop.focus import AppProfile, FocusedWindow, NoFocus, applying, focused_window
from voicebot.turns.console import Output
from voicebot.turns.options import AssistantOptions

log = logging.getLogger("voicebot.daemon.profiles")

FOCUS_WAIT = 1.0  # seconds a turn waits for the focused window; then it runs without the application's profile


@dataclass(frozen=True, kw_only=True)
class TurnSetup:
    """One turn's options: the assistant's (speech, chat, system prompt), dictation's, and the voice's."""

    assistant: AssistantOptions
    dictation: DictationOptions
    speak: bool = False  # answers read aloud unless the binding's mode says otherwise (voice.speaking.speaks)
    voice: str | None = None  # the text-to-speech voice; None: the narrator's own
    profile: str | None = None  # the application's profile it includes, if any


@dataclass(frozen=True)
class TurnProfiles:
    """Every turn's setup: by the take's mode (its binding's profile) and the focused application's profile.

    `apps` are the `[profiles.NAME]` tables in the file's order (the first that matches
    applies); `per_app[name]` is the setup under that profile, and `per_app_binding[(mode,
    name)]` under it and a binding's own profile together.
    """

    default: TurnSetup
    bindings: Mapping[str, TurnSetup] = field(default_factory=dict)
    apps: tuple[AppProfile, ...] = ()
    per_app: Mapping[str, TurnSetup] = field(default_factory=dict)
    per_app_binding: Mapping[tuple[str, str], TurnSetup] = field(default_factory=dict)

    def for_mode(self, mode: str) -> TurnSetup:
        """The setup of a take recorded in `mode` with no application's profile."""
        return self.bindings.get(mode, self.default)

    def for_take(self, mode: str, app: AppProfile | None) -> TurnSetup:
        """The setup of a take in `mode` while `app`'s window has the focus (None: no profile matched)."""
        if app is None:
            return self.for_mode(mode)
        return self.per_app_binding.get((mode, app.name)) or self.per_app[app.name]


class Focus:
    """Reads the focused window at each key press for one daemon; says once if it cannot."""

    def __init__(self, profiles: TurnProfiles, output: Output, env: Mapping[str, str] | None = None) -> None:
        self.profiles = profiles
        self.output = output
        self.env = os.environ if env is None else env
        self._told = False

    def decide(self, mode: str) -> asyncio.Future[TurnSetup]:
        """Start picking the setup of a take in `mode` (off the loop: the window is asked in a thread)."""
        if not self.profiles.apps:
            done: asyncio.Future[TurnSetup] = asyncio.get_running_loop().create_future()
            done.set_result(self.profiles.for_mode(mode))
            return done
        return asyncio.ensure_future(self._decide(mode))

    async def _decide(self, mode: str) -> TurnSetup:
        try:
            window = await asyncio.wait_for(asyncio.to_thread(focused_window, self.env), FOCUS_WAIT)
        except (NoFocus, TimeoutError, Exception) as exc:  # whatever it was, the turn goes on without
            why = (str(exc) if isinstance(exc, NoFocus) else f"the focused window was not known within "
                   f"{FOCUS_WAIT:g} s" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}")
            log.debug("no focused window: %s", why)
            if not self._told:
                self._told = True
                self.output.notice(f"per-application profiles do not apply: {why}", check="profiles", reason=why)
            return self.profiles.for_mode(mode)
        return self._chosen(mode, window)

    def _chosen(self, mode: str, window: FocusedWindow | None) -> TurnSetup:
        found = applying(self.profiles.apps, window)
        if found is None:
            return self.profiles.for_mode(mode)
        app, name = found
        self.output.milestone("profile", f"profile {app.name!r}: focused window class {name!r} matches {app.match!r}",
                              name=app.name, window=name, match=app.match, via=window.via if window else None)
        return self.profiles.for_take(mode, app)


def settled(setup: asyncio.Future[TurnSetup] | None, fallback: TurnSetup) -> TurnSetup:
    """The setup if it is decided already, else `fallback` (for what cannot wait: a long take's first pieces)."""
    if setup is not None and setup.done() and not setup.cancelled() and setup.exception() is None:
        return setup.result()
    return fallback


__all__ = ["FOCUS_WAIT", "Focus", "TurnProfiles", "TurnSetup", "settled"]
