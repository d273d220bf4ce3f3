"""Where the Hub is and how to reach it: HF_ENDPOINT, HF_HUB_OFFLINE, HF_HUB_CACHE and the download timeout,
read when a function runs (huggingface_hub reads them once, at import)."""

from __future__ import annotations

import os

from ..errors import HubError

# huggingface_hub parses these with int() when it is imported: a bad value would raise ValueError there.
_INT_SETTINGS = ("HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT")


def check_environment() -> None:
    """Refuse Hub settings the client cannot start with, naming the variable, before it is imported."""
    for name in _INT_SETTINGS:
        raw = os.environ.get(name)
        if not raw:
            continue
        try:
            seconds = int(raw)
        except ValueError:
            seconds = -1
        if seconds <= 0:
            raise HubError(
                f"{name}={raw[:40]!r} is not a whole number of seconds",
                hint=f"set {name} to a number such as 60, or unset it",
            )
    endpoint = os.environ.get("HF_ENDPOINT")
    if endpoint and not endpoint.strip().lower().startswith(("http://", "https://")):
        raise HubError(
            f"HF_ENDPOINT={endpoint[:80]!r} is not an http(s) URL",
            hint="set HF_ENDPOINT to a URL such as https://huggingface.co, or unset it",
        )


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def is_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set now."""
    from huggingface_hub import constants

    return constants.is_offline_mode() or _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def resolve_endpoint(endpoint: str | None) -> str:
    """The Hub URL to ask: `endpoint` if given, else HF_ENDPOINT, else huggingface_hub's default (no trailing /)."""
    from huggingface_hub import constants

    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_cache_dir() -> str:
    """The huggingface_hub cache folder: HF_HUB_CACHE if set now, else huggingface_hub's default."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE


def resolve_timeout(timeout: float | None) -> float:
    """Seconds to wait for the Hub: `timeout` if given, else HF_HUB_DOWNLOAD_TIMEOUT."""
    from huggingface_hub import constants

    return float(timeout if timeout is not None else constants.HF_HUB_DOWNLOAD_TIMEOUT)


def offline_error(repo_id: str, what: str) -> HubError:
    """The HubError for `what` of `repo_id` missing from the cache while HF_HUB_OFFLINE is set."""
    return HubError(
        f"{what} of {repo_id} is not in the local cache and HF_HUB_OFFLINE is set",
        hint="unset HF_HUB_OFFLINE to fetch it from the Hub, or pass a local .gguf file",
        repo_id=repo_id,
    )
