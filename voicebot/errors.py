"""The errors a user can meet, each carrying its exit code and one printable line.

Every failure that reaches the CLI is one of these; anything else is a bug and is
reported as such (with a traceback only under --debug).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_API = 1  # API or network failure after retries
EXIT_USAGE = 2  # bad flags, config, input file, missing key, no device/display
EXIT_INTERRUPTED = 130  # Ctrl+C


class VoicebotError(Exception):
    """Base: `str(err)` is the line shown after `voicebot: error: `."""

    exit_code: int = EXIT_API

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(VoicebotError):
    """Something the user can fix in their command line, config or input (exit 2)."""

    exit_code = EXIT_USAGE


class NoSpeechError(UsageError):
    """The audio holds no speech, so nothing is uploaded (Whisper would invent text)."""


class ApiError(VoicebotError):
    """The API or the network failed; retries, if allowed, are already spent (exit 1)."""

    exit_code = EXIT_API

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class StreamInterrupted(ApiError):
    """A reply stream broke after some of its text was shown; `partial` holds that text."""

    def __init__(self, message: str, *, partial: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.partial = partial
