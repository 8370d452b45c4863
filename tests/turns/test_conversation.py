"""History trimming: oldest turns go first; the system prompt and the newest question stay."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.turns.conversation import Conversation, Turn, estimate_tokens, fit_history, history_budget, message_tokens


def total(messages: list[dict[str, str]]) -> int:
    return sum(message_tokens(m) for m in messages)


def test_whole_history_when_it_fits() -> None:
    turns = [Turn("q1", "a1"), Turn("q2", "a2")]
    messages, dropped = fit_history("sys", turns, "q3", budget=10_000)
    assert dropped == 0
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in messages] == ["sys", "q1", "a1", "q2", "a2", "q3"]


def test_oldest_turns_dropped_first() -> None:
    turns = [Turn("old " * 50, "x " * 50), Turn("mid", "m"), Turn("new", "n")]
    small = total([{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}])
    budget = small + total(Turn("mid", "m").messages()) + total(Turn("new", "n").messages())
    messages, dropped = fit_history("sys", turns, "q", budget)
    assert dropped == 1
    assert [m["content"] for m in messages] == ["sys", "mid", "m", "new", "n", "q"]


def test_system_and_question_survive_even_over_budget() -> None:
    question = "a very long question " * 100
    messages, dropped = fit_history("sys", [Turn("q", "a")], question, budget=5)
    assert messages == [{"role": "system", "content": "sys"}, {"role": "user", "content": question}]
    assert dropped == 1


def test_interrupted_reply_is_marked() -> None:
    conv = Conversation("sys")
    conv.record("q", "partial ans", interrupted=True)
    messages, _ = conv.request("next", 10_000)
    assert messages[2] == {"role": "assistant", "content": "partial ans [interrupted]"}


def test_no_system_prompt() -> None:
    assert fit_history(None, [], "q", 100)[0] == [{"role": "user", "content": "q"}]


def test_budget_leaves_room_for_reply() -> None:
    assert history_budget(131072, None) == 131072 - 4096
    assert history_budget(131072, 1000) == 130072
    assert history_budget(None, None) == 8192 - 4096
    assert history_budget(1000, 100_000) == 500


def test_estimate_is_conservative_for_non_ascii() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("日本語") == 3  # 9 bytes


@settings(max_examples=300, deadline=None)
@given(turns=st.lists(st.tuples(st.text(max_size=60), st.text(max_size=60), st.booleans()), max_size=12),
       question=st.text(min_size=1, max_size=60), budget=st.integers(1, 400))
def test_trimming_properties(turns: list[tuple[str, str, bool]], question: str, budget: int) -> None:
    history = [Turn(u, a, i) for u, a, i in turns]
    messages, dropped = fit_history("sys", history, question, budget)
    assert messages[0] == {"role": "system", "content": "sys"}
    assert messages[-1] == {"role": "user", "content": question}
    kept = history[dropped:]  # the kept turns are exactly the newest ones, in order
    assert messages[1:-1] == [m for t in kept for m in t.messages()]
    if kept:
        assert total(messages) <= budget
    if dropped:  # one more turn would not have fitted
        assert total(messages) + total(history[dropped - 1].messages()) > budget
