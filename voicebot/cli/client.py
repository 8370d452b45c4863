"""The process's one API client, built from the settings (every command that talks to the API).

Apart from the commands so that the log's commands (cli.history) and the setup ones can
build it without importing the talking commands. Light to import: httpx loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicebot.config.schema import Secret, Settings

if TYPE_CHECKING:
    from voicebot.api.client import GroqClient
    from voicebot.api.retry import RetryNotice
    from voicebot.api.sender import WaitNotice
    from voicebot.turns.console import Output


def make_client(settings: Settings, output: Output) -> GroqClient:
    """The process's one API client; retries are announced so a wait is never silent."""
    from voicebot.api.client import GroqClient
    from voicebot.api.connection import Endpoint, Timeouts

    def announce(notice: RetryNotice) -> None:
        output.notice(f"{notice.reason}, {retrying_in(notice.delay)} "
                      f"(attempt {notice.attempt + 1} of {settings.max_retries + 1})")

    def waiting(notice: WaitNotice) -> None:
        output.milestone("waiting", notice.text, server=notice.host, role=notice.role, seconds=notice.seconds)

    def revealed(secret: Secret | None) -> str | None:
        return secret.reveal() if secret is not None else None

    fallback = settings.stt_fallback_api_base
    return GroqClient(Endpoint(settings.api_base, settings.require_key()),
                      stt=Endpoint(settings.stt_base, revealed(settings.stt_api_key)),
                      fallback=Endpoint(fallback, revealed(settings.stt_fallback_api_key)) if fallback else None,
                      timeouts=Timeouts(total=settings.timeout, stall=settings.stall_timeout),
                      max_retries=settings.max_retries, on_retry=announce, on_wait=waiting)


def retrying_in(seconds: float) -> str:
    """A retry's wait for people: never "0 s" (a backoff is often well under a second)."""
    if seconds < 0.05:
        return "retrying now"
    return f"retrying in {round(seconds, 1) if seconds < 10 else round(seconds):g} s"
