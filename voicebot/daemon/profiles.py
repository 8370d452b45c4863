"""What one turn of the daemon runs with: the global settings, or a binding's profile over them.

A hotkey binding may carry its own `language`, `vocabulary`, `stt_prompt`, `model`, `system`,
`speak` and `voice` (a German dictation key beside an English question key). The CLI's
wiring builds one `TurnSetup` per binding that has a profile, from the settings with the
profile laid over them, and the daemon picks the one for the mode a take records in: its
speech requests, its answer (model and system prompt, in the same conversation), its
dictation and its voice then follow it, and no other turn does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from voicebot.desktop.dictation import DictationOptions
from voicebot.turns.options import AssistantOptions


@dataclass(frozen=True, kw_only=True)
class TurnSetup:
    """One turn's options: the assistant's (speech, chat, system prompt), dictation's, and the voice's."""

    assistant: AssistantOptions
    dictation: DictationOptions
    speak: bool = False  # answers read aloud unless the binding's mode says otherwise (voice.speaking.speaks)
    voice: str | None = None  # the text-to-speech voice; None: the narrator's own


@dataclass(frozen=True)
class TurnProfiles:
    """The setup of every turn: `default` (the global settings), or its binding's (by mode name)."""

    default: TurnSetup
    bindings: Mapping[str, TurnSetup] = field(default_factory=dict)

    def for_mode(self, mode: str) -> TurnSetup:
        """The setup of a take recorded in `mode`: its binding's profile, else the global settings."""
        return self.bindings.get(mode, self.default)


__all__ = ["TurnProfiles", "TurnSetup"]
