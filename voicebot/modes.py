"""What each mode does: the one home of the mode names and of what follows a transcript.

A mode is what a hotkey binding (or `voicebot toggle --mode`) drives. Recording modes
name the speech endpoint their take goes to and what happens to its transcript: `ask`
answers it, `translate` shows the English (and answers it too with `then_ask`),
`dictate` delivers it as typed or copied text, `edit` takes it as an instruction that
rewrites the selected text in place. Instant modes (`new`, `cancel`, `converse`: a
hands-free session on or off) record nothing. The daemon, the kept-take resend, the
settings and the CLI all read this table, and `after_transcript` is the one place that acts
on a transcript.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicebot.protocols import Answerer, TranscriptView


class Endpoint(enum.Enum):
    """Which speech-to-text endpoint a take is sent to."""

    TRANSCRIBE = "transcriptions"
    TRANSLATE = "translations"  # into English


class After(enum.Enum):
    """What happens to a take's transcript once it is shown."""

    ANSWER = "answer"  # it joins the conversation and the model answers
    SHOW = "show"  # shown only
    DICTATE = "dictate"  # shown, then delivered as dictation (typed, copied, or printed only)
    EDIT = "edit"  # shown, then the instruction the selected text is rewritten by


@dataclass(frozen=True)
class Mode:
    """One mode: its name, where its audio goes and what follows its transcript.

    `endpoint` is None for instant modes, which record nothing. `then_ask` is only ever
    set on a mode that shows its transcript (translate): it answers the text as well.
    """

    name: str
    endpoint: Endpoint | None = None
    after: After | None = None
    then_ask: bool = False
    speak: bool | None = None  # the binding's own choice; None follows the `speak` setting
    then_enter: bool = False  # dictate: press Enter once the text has landed (chat boxes, terminals)
    context: str | None = None  # a mode that answers: "selection" or "clipboard" text attached to the question
    web: bool = False  # the binding's `web = true`: its questions go to the web-search model

    def __post_init__(self) -> None:
        if (self.endpoint is None) != (self.after is None):
            raise ValueError(f"{self.name}: a recording mode needs both an endpoint and an after")
        if self.then_ask and self.after is not After.SHOW:
            raise ValueError(f"{self.name}: then_ask applies only to a mode that shows its transcript")
        if self.then_enter and self.after is not After.DICTATE:
            raise ValueError(f"{self.name}: then_enter applies only to dictation")
        if self.context is not None and self.after not in (After.ANSWER, After.SHOW):
            raise ValueError(f"{self.name}: context applies only to a mode that answers")

    @property
    def records(self) -> bool:
        """Whether the mode records a take (rather than firing once)."""
        return self.endpoint is not None

    @property
    def translates(self) -> bool:
        return self.endpoint is Endpoint.TRANSLATE

    @property
    def answers(self) -> bool:
        """Whether its transcript continues the conversation (and streams an answer)."""
        return self.after is After.ANSWER or self.then_ask

    @property
    def label(self) -> str:
        """How lists show it: `translate +ask` for a translation that is answered too."""
        return f"{self.name} +ask" if self.then_ask else self.name

    def with_then_ask(self, then_ask: bool) -> Mode:
        """This mode with `then_ask` (which only a showing mode takes; others ignore it, as ever)."""
        if self.after is not After.SHOW:
            return self
        return replace(self, then_ask=then_ask)


ASK = Mode("ask", Endpoint.TRANSCRIBE, After.ANSWER)
TRANSLATE = Mode("translate", Endpoint.TRANSLATE, After.SHOW)
DICTATE = Mode("dictate", Endpoint.TRANSCRIBE, After.DICTATE)
EDIT = Mode("edit", Endpoint.TRANSCRIBE, After.EDIT)
NEW = Mode("new")  # start a new conversation
CANCEL = Mode("cancel")  # drop the take in progress, or cut the answer
CONVERSE = Mode("converse")  # start or end a hands-free session (voicebot.daemon.hands_free)

MODES: dict[str, Mode] = {m.name: m for m in (ASK, TRANSLATE, DICTATE, EDIT, NEW, CANCEL, CONVERSE)}
NAMES: tuple[str, ...] = tuple(MODES)
RECORDING_NAMES: tuple[str, ...] = tuple(name for name, m in MODES.items() if m.records)


def mode_named(name: str, *, then_ask: bool = False, speak: bool | None = None, then_enter: bool = False,
               context: str | None = None, web: bool = False) -> Mode:
    """The mode called `name` (ValueError listing the modes if there is none)."""
    try:
        mode = MODES[name].with_then_ask(then_ask)
    except (KeyError, TypeError):
        raise ValueError(f"unknown mode {name!r} (modes: {', '.join(NAMES)})") from None
    if then_enter and mode.after is After.DICTATE:
        mode = replace(mode, then_enter=True)
    if context is not None and mode.after in (After.ANSWER, After.SHOW):
        mode = replace(mode, context=context)
    if web and mode.records:
        mode = replace(mode, web=True)
    return mode if speak is None or not mode.records else replace(mode, speak=speak)


def recording_mode(name: str, *, then_ask: bool = False) -> Mode:
    """The recording mode called `name` (ValueError listing ask, translate, dictate, edit otherwise)."""
    mode = MODES.get(name) if isinstance(name, str) else None
    if mode is None or not mode.records:
        raise ValueError(f"unknown mode {name!r} (modes: {', '.join(RECORDING_NAMES)})")
    return mode.with_then_ask(then_ask)


async def after_transcript(mode: Mode, text: str, *, output: TranscriptView, assistant: Answerer,
                           dictate: Callable[[str, bool], Awaitable[object]] | None = None,
                           edit: Callable[[str], Awaitable[object]] | None = None,
                           shown: Callable[[], None] | None = None,
                           answering: Callable[[], None] | None = None) -> None:
    """Show a take's transcript, then do what its mode does with it.

    `shown` runs once the words are on screen (a kept take is removed then: from there on
    nothing can be lost), `answering` just before an answer is asked for. `dictate` lands
    dictated text (clean-up, print, type or copy, then Enter with the mode's `then_enter`:
    voicebot.desktop.dictation.Dictation.land); a
    take sent again minutes later passes none, so its text is only printed, since typing
    into whatever window has the focus by then would be a surprise. `edit` rewrites the
    selection by the spoken instruction (voicebot.desktop.rewrite.Rewriter.run); likewise
    never for a take sent again.
    """
    if mode.after is After.DICTATE and dictate is not None:
        await dictate(text, mode.then_enter)  # prints the words itself, after any clean-up
        if shown is not None:
            shown()
        return
    output.transcript(text, label=mode.answers)
    if shown is not None:
        shown()
    if mode.after is After.EDIT and edit is not None:
        await edit(text)
    if mode.answers:
        if answering is not None:
            answering()
        await assistant.ask(text)


__all__ = [
    "ASK",
    "CANCEL",
    "CONVERSE",
    "DICTATE",
    "EDIT",
    "MODES",
    "NAMES",
    "NEW",
    "RECORDING_NAMES",
    "TRANSLATE",
    "After",
    "Endpoint",
    "Mode",
    "after_transcript",
    "mode_named",
    "recording_mode",
]
