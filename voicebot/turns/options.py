"""What a turn sends and keeps, typed: the chat request's fields and the assistant's own.

Built once from the settings by the CLI's wiring (voicebot.cli.wiring). `ChatOptions.body`
is the one place the chat request's optional fields are decided (unset ones are left out),
for answers and for the dictation clean-up alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicebot.stt.options import SpeechToTextOptions
from voicebot.turns.reply_schema import ReplySchema

WEB_MODEL = "groq/compound-mini"  # Groq's compound system: one server-side web search, then the answer


@dataclass(frozen=True, kw_only=True)
class ChatOptions:
    """The chat model and the request's sampling, format and reasoning fields."""

    model: str
    temperature: float | None = None
    top_p: float | None = None
    max_completion_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    response_format: str = "text"  # or "json_object"
    service_tier: str | None = None
    reasoning_effort: str | None = None  # "none" sends nothing, as None does
    reasoning_format: str | None = None
    show_reasoning: bool = False  # the model's reasoning shown, dimmed, before the answer
    reply_schema: ReplySchema | None = None  # --schema: the reply must be JSON matching it (not streamed)
    web: bool = False  # --web: every turn goes to web_model, which searches the web first
    web_model: str = WEB_MODEL

    def body(self) -> dict[str, Any]:
        """The request's optional fields, with unset ones left out."""
        opts: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_completion_tokens": self.max_completion_tokens,
            "stop": list(self.stop) or None,
            "seed": self.seed,
            "service_tier": self.service_tier,
        }
        if self.reply_schema is not None:
            opts["response_format"] = self.reply_schema.response_format(self.model)
        elif self.response_format == "json_object":
            opts["response_format"] = {"type": "json_object"}
        reasons = self.reasoning_effort not in (None, "none")
        if reasons:
            opts["reasoning_effort"] = self.reasoning_effort
        if self.reasoning_format is not None:
            opts["reasoning_format"] = self.reasoning_format
        elif reasons:
            # gpt-oss takes include_reasoning rather than reasoning_format; hidden unless asked.
            opts["include_reasoning"] = self.show_reasoning
        return {k: v for k, v in opts.items() if v is not None}

    def web_body(self) -> dict[str, Any]:
        """A web-search turn's optional fields: the sampling ones (the compound system takes
        no reasoning, format or tier fields of the chat model's)."""
        opts = {"temperature": self.temperature, "top_p": self.top_p,
                "max_completion_tokens": self.max_completion_tokens, "stop": list(self.stop) or None,
                "seed": self.seed}
        return {k: v for k, v in opts.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class AssistantOptions:
    """A conversation's system prompt and history budget, its chat requests and its speech requests."""

    system_prompt: str
    chat: ChatOptions
    speech: SpeechToTextOptions
    history_tokens: int | None = None  # None: the model's context window less room for the reply


__all__ = ["WEB_MODEL", "AssistantOptions", "ChatOptions"]
