"""The errors a user can meet, each carrying its exit code and one printable line.

Every failure that reaches the CLI is one of these; anything else is a bug and is
reported as such (with a traceback only under --debug).
"""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_API = 1  # API or network failure after retries
EXIT_USAGE = 2  # bad flags, config, input file, unknown model, missing key, no device/display
EXIT_SCHEMA = 3  # the model's reply did not match --schema (it is not printed as an answer)
EXIT_INTERRUPTED = 130  # Ctrl+C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away, as for any Unix tool

# API error codes that mean the request named something that does not exist or no longer
# does: a usage problem (the --model flag or the config), not an API failure.
USAGE_API_CODES = frozenset({"model_not_found", "model_decommissioned"})


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


class SoundUnavailable(UsageError):
    """No sound system to use (PortAudio missing or unable to start, or no device of the kind
    needed): exit 2 where sound is the point (`devices`, the daemon), a notice where it is not
    (a spoken answer is printed all the same)."""


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
        if code in USAGE_API_CODES:
            self.exit_code = EXIT_USAGE


class StreamInterrupted(ApiError):
    """A reply stream broke after some of its text was shown; `partial` holds that text."""

    def __init__(self, message: str, *, partial: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.partial = partial


def report_error(message: str, exit_code: int, *, json_mode: bool) -> int:
    """Say what failed, the one way every command does: one `voicebot: error:` line on stderr,
    and under --json an `error` event on stdout too, for machine readers. Returns `exit_code`."""
    if json_mode:
        import json  # only once there is a failure to report

        sys.stdout.write(json.dumps({"type": "error", "message": message, "exit_code": exit_code},
                                    ensure_ascii=False) + "\n")
        sys.stdout.flush()
    sys.stderr.write(f"voicebot: error: {' '.join(message.split())}\n")
    sys.stderr.flush()
    return exit_code
