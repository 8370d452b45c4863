"""Groq's text to speech: `POST /audio/speech`, the audio streamed back as it is made.

A friend of `voicebot.api.client.GroqClient`: it goes through the client's connection pool,
keys and retry rules (`_after_failure`), so a voice request fails and retries exactly
like every other request, but lives apart from the speech-to-text and chat code.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

import httpx

from voicebot.api.errors import AttemptFailed

if TYPE_CHECKING:
    from voicebot.api.client import GroqClient

__all__ = ["speech_stream"]


async def speech_stream(client: GroqClient, text: str, *, model: str, voice: str,
                        response_format: str = "wav") -> AsyncGenerator[bytes, None]:
    """The audio's bytes as they arrive (the body streams in chunks).

    Retried by the same rules as every request (voicebot.api.retry) while no byte has come,
    but without retry notices: a voice that fails is one notice from the caller, and the
    text it speaks is already on screen. Once audio has come, a failure is raised as is.
    """
    url = httpx.URL(f"{client.chat_base}/audio/speech")
    body = {"model": model, "voice": voice, "input": text, "response_format": response_format}
    headers = {**client._auth(), "Accept": f"audio/{response_format}"}
    timeout = httpx.Timeout(client.timeout, connect=client.connect_timeout, read=client.stall_timeout)
    attempt = 0
    while True:
        received = False
        try:
            async with client._http.stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
                if not response.is_success:
                    await response.aread()
                    raise client._status_failure(response, model)
                async for chunk in response.aiter_bytes():
                    received = True
                    yield chunk
            return
        except httpx.TransportError as exc:
            failure = client._exception_failure(exc, url, streaming=True)
        except AttemptFailed as failed:
            failure = failed
        if received:
            raise client._scrub(failure.error) from None
        await client._after_failure(failure, attempt, quiet=True)
        attempt += 1
