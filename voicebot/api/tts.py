"""Groq's text to speech: `POST /audio/speech`, the audio streamed back as it is made.

A thin caller of the one request path (`voicebot.api.sender`): the request is described
here and sent, retried and reported like every other request, but lives apart from the
speech-to-text and chat code.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import httpx

from voicebot.api.sender import Call, Sender

__all__ = ["speech_stream"]


def speech_stream(sender: Sender, base: str, text: str, *, model: str, voice: str,
                  response_format: str = "wav") -> AsyncGenerator[bytes, None]:
    """The audio's bytes as they arrive (the body streams in chunks), from the server at `base`.

    Retried by the same rules as every request while no byte has come, but without retry
    notices (`quiet`): a voice that fails is one notice from the caller, and the text it
    speaks is already on screen. Once audio has come, a failure is raised as is.
    """
    call = Call("POST", httpx.URL(f"{base}/audio/speech"), model=model, streaming=True, quiet=True,
                json={"model": model, "voice": voice, "input": text, "response_format": response_format},
                headers={"Accept": f"audio/{response_format}"})
    return sender.stream(call, _chunks)


async def _chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in response.aiter_bytes():
        yield chunk
