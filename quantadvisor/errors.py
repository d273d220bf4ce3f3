"""Exception hierarchy and exit codes. Imports nothing heavy so the CLI can start fast."""

from __future__ import annotations

import enum
import re
from typing import ClassVar

__all__ = [
    "DatasetError",
    "ExitCode",
    "HardwareDetectionError",
    "HubError",
    "InvalidRequestError",
    "ModelResolutionError",
    "NothingFitsError",
    "QuantAdvisorError",
    "redact_credentials",
]


class ExitCode(enum.IntEnum):
    """Process exit codes, one per class of outcome."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOTHING_FITS = 3
    ENVIRONMENT = 4
    INTERRUPTED = 130


_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def redact_credentials(text: str) -> str:
    """Replace the user:password part of any URL in `text` with ***."""
    return _CREDENTIALS.sub(r"\1***@", text)


class QuantAdvisorError(Exception):
    """Base class for every error quantadvisor raises on purpose.

    Credentials in URLs (HF_ENDPOINT=http://user:pass@host) are redacted from the message and the hint.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(redact_credentials(str(message)))
        self.hint = redact_credentials(hint) if hint is not None else None

    @property
    def message(self) -> str:
        """The one-sentence statement of fact, without the hint."""
        return str(self.args[0]) if self.args else ""


class InvalidRequestError(QuantAdvisorError, ValueError):
    """The caller asked for something impossible: unknown task, negative VRAM, bad name."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE


class DatasetError(QuantAdvisorError):
    """A data file is missing, unreadable or fails validation; the message names file, record and field."""


class HardwareDetectionError(QuantAdvisorError):
    """No usable hardware reading could be taken (no driver, no NVML, query failed).

    No public function raises it: no GPU is a CPU-only plan. It stays for callers that treat "no GPU"
    as an error themselves, with the CLI's environment exit code.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.ENVIRONMENT


class ModelResolutionError(QuantAdvisorError, LookupError):
    """A model could not be turned into an architecture: unknown shorthand, bad config, bad GGUF."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE


class HubError(ModelResolutionError):
    """The Hugging Face Hub could not answer: not found, gated, rate limited, offline, timed out."""

    exit_code: ClassVar[ExitCode] = ExitCode.ENVIRONMENT

    def __init__(self, message: str, *, hint: str | None = None, repo_id: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.repo_id = repo_id


class NothingFitsError(QuantAdvisorError):
    """No option fits the memory budget; a result, not a crash."""

    exit_code: ClassVar[ExitCode] = ExitCode.NOTHING_FITS
