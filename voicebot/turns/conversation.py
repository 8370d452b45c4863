"""Multi-turn history: the system prompt, alternating turns, trimmed to a token budget.

Each chat request carries the whole history, so the oldest turns are dropped when it
would not fit: never the system prompt, never the newest question. Token counts are a
deliberately conservative estimate (no tokenizer ships offline for every model): over-
estimating drops a turn early, under-estimating costs a 400 from the API.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

DEFAULT_CONTEXT_WINDOW = 8192  # when the model's own window cannot be learned
DEFAULT_REPLY_RESERVE = 4096
MESSAGE_OVERHEAD = 4  # role and separators, per message
INTERRUPTED_MARK = " [interrupted]"

Message = dict[str, str]


@dataclass(frozen=True)
class Turn:
    """One exchange. `interrupted`: the reply was cut (barge-in or a broken stream)."""

    user: str
    assistant: str
    interrupted: bool = False

    def messages(self) -> list[Message]:
        reply = self.assistant + (INTERRUPTED_MARK if self.interrupted else "")
        return [{"role": "user", "content": self.user}, {"role": "assistant", "content": reply}]


def estimate_tokens(text: str) -> int:
    """Upper-leaning token estimate: about 3 UTF-8 bytes per token."""
    return -(-len(text.encode("utf-8")) // 3)


def message_tokens(message: Message) -> int:
    return estimate_tokens(message["content"]) + MESSAGE_OVERHEAD


def history_budget(context_window: int | None, max_completion_tokens: int | None) -> int:
    """Tokens the history may use: the window less room for the reply (at most half the window)."""
    window = context_window or DEFAULT_CONTEXT_WINDOW
    reserve = min(max_completion_tokens or DEFAULT_REPLY_RESERVE, window // 2)
    return window - reserve


def fit_history(system: str | None, turns: Sequence[Turn], question: str,
                budget: int) -> tuple[list[Message], int]:
    """Messages for a request and how many old turns were dropped to fit `budget`.

    Drops whole turns, oldest first. The system prompt and the question always stay,
    even if they alone exceed the budget (the API then says so, which beats silently
    cutting the user's words).
    """
    head: list[Message] = [{"role": "system", "content": system}] if system else []
    tail: Message = {"role": "user", "content": question}
    used = sum(message_tokens(m) for m in head) + message_tokens(tail)
    kept: list[list[Message]] = []
    for turn in reversed(turns):
        pair = turn.messages()
        cost = sum(message_tokens(m) for m in pair)
        if used + cost > budget:
            break
        used += cost
        kept.append(pair)
    kept.reverse()
    middle = [m for pair in kept for m in pair]
    return head + middle + [tail], len(turns) - len(kept)


def new_conversation_id(moment: datetime | None = None) -> str:
    """`20261129T233312Z-3fa2b1`: its start, to the second, first, so ids sort by time."""
    return f"{(moment or datetime.now(UTC)).astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class Conversation:
    """The running conversation of one process (or one daemon session); `id` names it in the log."""

    system_prompt: str | None
    turns: list[Turn] = field(default_factory=list)
    id: str = field(default_factory=new_conversation_id)

    def request(self, question: str, budget: int, *, system: str | None = None) -> tuple[list[Message], int]:
        """The messages to send for `question`, trimmed to `budget`; `system` for this request
        only (a binding's own system prompt), else the conversation's."""
        return fit_history(self.system_prompt if system is None else system, self.turns, question, budget)

    def record(self, question: str, answer: str, *, interrupted: bool = False) -> None:
        """Keep a finished (or cut) exchange; an interrupted empty reply is still a turn."""
        self.turns.append(Turn(question, answer, interrupted))
