"""`voicebot ask|chat --web` end to end: the installed command against the fake Groq server.
Each question goes to groq/compound-mini (a server-side web search) and the sources it
used are shown after the answer (in --json, a `sources` event)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_cli import DATA, chat_requests, events, run
from tests.fakegroq import FakeGroq

NEWS = "https://news.example.com/who-won-the-match-last-night"
WIKI = "https://wiki.example.org/who-won-the-match-last-night"


def test_chat_web_asks_compound_mini_and_shows_its_sources_after_the_answer(fake_groq: FakeGroq,
                                                                             tmp_path: Path) -> None:
    proc = run(["chat", "--web", "--reasoning-effort", "low"], fake_groq, tmp_path,
               stdin="Who won the match last night?\n")
    assert proc.returncode == 0, proc.stderr
    (body,) = chat_requests(fake_groq)
    assert body["model"] == "groq/compound-mini" and body["stream"] is False
    assert "reasoning_effort" not in body and "include_reasoning" not in body  # the chat model's fields only
    answer, heading, first, second = proc.stdout.splitlines()
    assert answer.startswith("Assistant: ") and "Who won the match last night?" in answer
    assert heading == "Sources:"
    assert first == f"  [1] Who won the match last night? - Example News - {NEWS}"
    assert second.startswith("  [2] ") and second.endswith(WIKI)


def test_web_sources_are_an_event_in_json(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat", "--json", "--web"], fake_groq, tmp_path, stdin="Who won the match last night?\n")
    assert proc.returncode == 0, proc.stderr
    kinds = [e["type"] for e in events(proc.stdout)]
    assert kinds.index("sources") == kinds.index("reply") + 1
    (sources,) = [e for e in events(proc.stdout) if e["type"] == "sources"]
    assert [s["url"] for s in sources["sources"]] == [NEWS, WIKI]  # type: ignore[index]
    assert sources["sources"][0]["query"] == "Who won the match last night?"  # type: ignore[index]


def test_without_web_the_chat_model_answers_and_no_sources_are_shown(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat"], fake_groq, tmp_path, stdin="Who won the match last night?\n")
    assert proc.returncode == 0 and "Sources:" not in proc.stdout
    assert chat_requests(fake_groq)[0]["model"] == "openai/gpt-oss-20b"


def test_ask_web_searches_for_a_spoken_question(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", "--json", "--web", str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert chat_requests(fake_groq)[0]["model"] == "groq/compound-mini"
    (sources,) = [e for e in events(proc.stdout) if e["type"] == "sources"]
    assert sources["sources"][0]["url"] == "https://news.example.com/how-many-legs-does-a-spider-have"  # type: ignore[index]


def test_web_and_schema_together_are_a_usage_error(fake_groq: FakeGroq, tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text('{"type": "object"}', encoding="utf-8")
    proc = run(["chat", "--web", "--schema", str(schema)], fake_groq, tmp_path, stdin="hi\n")
    assert proc.returncode == 2 and "--schema and --web cannot be combined" in proc.stderr
    assert chat_requests(fake_groq) == []
