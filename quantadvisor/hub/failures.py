"""huggingface_hub and HTTP-library exceptions turned into one-line HubErrors with a hint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import HubError, QuantAdvisorError
from ..untrusted import redact
from .settings import offline_error, resolve_timeout

if TYPE_CHECKING:
    from collections.abc import Mapping


_LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN"


def status_error(
    status: int,
    headers: Mapping[str, str],
    *,
    repo_id: str,
    revision: str | None,
    filename: str | None,
    endpoint: str,
) -> HubError:
    """The HubError for an HTTP status (and the Hub's X-Error-Code header), with a hint for the next step."""
    code = headers.get("X-Error-Code") or headers.get("x-error-code")
    where = f"{filename} in {repo_id}" if filename else repo_id

    def error(message: str, hint: str) -> HubError:
        return HubError(message, hint=hint, repo_id=repo_id)

    if code == "GatedRepo":
        return error(
            f"{repo_id} is a gated repo and this request is not allowed to read it (HTTP {status})",
            f"accept its terms at {endpoint}/{repo_id}, then {_LOGIN_HINT}",
        )
    if code == "RevisionNotFound":
        return error(
            f"revision {revision or 'main'!r} was not found in {repo_id}",
            "check the branch, tag or commit after '@' (leave it out for main)",
        )
    if code == "EntryNotFound" or (status == 404 and filename and code != "RepoNotFound"):
        return error(
            f"{filename} was not found in {repo_id} at revision {revision or 'main'}",
            "check the file name and the revision",
        )
    if status == 401:
        return error(
            f"{repo_id} was not found, or it is private or gated and this request is not logged in (HTTP 401)",
            f"check the spelling; for a private or gated repo, {_LOGIN_HINT}",
        )
    if status == 403:
        return error(
            f"access to {repo_id} was refused (HTTP 403)",
            f"check that your token can read this repo: {_LOGIN_HINT}",
        )
    if status == 404 or code == "RepoNotFound":
        return error(f"repo {repo_id} was not found on {endpoint}", "check the spelling of owner/name")
    if status == 429:
        retry = headers.get("Retry-After") or headers.get("retry-after")
        when = f"; retry after {retry} s" if retry and retry.strip().isdigit() else ""
        return error(
            f"the Hub is rate-limiting requests (HTTP 429) for {where}{when}",
            f"wait a minute and retry; logged-in users get higher limits ({_LOGIN_HINT})",
        )
    if status >= 500:
        return error(
            f"the Hub failed with a server error (HTTP {status}) for {where}",
            "retry later; files already in the cache stay usable with HF_HUB_OFFLINE=1",
        )
    return error(f"the Hub answered HTTP {status} for {where}", "retry; if it persists, check HF_ENDPOINT")


def is_transient(exc: BaseException) -> bool:
    """Whether the Hub may answer later: rate limit, server error, timeout, no connection."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code
        return status == 429 or status >= 500
    return _transport_kind(exc) is not None


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    pending: BaseException | None = exc
    while pending is not None and pending not in chain and len(chain) < 16:
        chain.append(pending)
        pending = pending.__cause__ or pending.__context__
    return chain


def _transport_kind(exc: BaseException) -> str | None:
    """Classify an HTTP-library exception by class name, so httpx, httpx2 and requests all map the same."""
    names = {cls.__name__ for cls in type(exc).__mro__ if cls.__module__.split(".")[0] in _HTTP_LIBRARIES}
    if names & {"TimeoutException", "Timeout", "ReadTimeout", "ConnectTimeout"}:
        return "timeout"
    if names & {"ConnectError", "NetworkError", "ConnectionError", "TransportError", "ProxyError"}:
        return "network"
    return None


_HTTP_LIBRARIES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3"})


def translate_error(
    exc: BaseException,
    *,
    repo_id: str,
    endpoint: str,
    revision: str | None = None,
    filename: str | None = None,
    timeout: float | None = None,
) -> HubError | None:
    """Turn any exception from the Hub client into a one-line HubError; None for quantadvisor's own errors."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    def http_error(err: HfHubHTTPError, code: str | None = None) -> HubError:
        response = err.response
        headers = dict(response.headers)
        if code is not None:
            headers["X-Error-Code"] = code
        return status_error(
            response.status_code,
            headers,
            repo_id=repo_id,
            revision=revision,
            filename=filename,
            endpoint=endpoint,
        )

    saw_local_miss = False
    for err in _exception_chain(exc):
        # GatedRepoError must come before RepositoryNotFoundError: it is a subclass.
        if isinstance(err, GatedRepoError):
            return http_error(err, "GatedRepo")
        if isinstance(err, RevisionNotFoundError):
            return http_error(err, "RevisionNotFound")
        if isinstance(err, RemoteEntryNotFoundError):
            return http_error(err, "EntryNotFound")
        if isinstance(err, RepositoryNotFoundError):
            return http_error(err, "RepoNotFound")
        if isinstance(err, HfHubHTTPError):
            return http_error(err)
        if isinstance(err, OfflineModeIsEnabled):
            return offline_error(repo_id, filename or "the file list")
        if isinstance(err, LocalEntryNotFoundError):
            saw_local_miss = True  # look further down the chain for why the Hub was not asked or did not answer
            continue
        kind = _transport_kind(err)
        if kind == "timeout":
            seconds = resolve_timeout(timeout)
            return HubError(
                f"the Hub at {endpoint} did not answer within {seconds:g} s",
                hint="check your connection and retry; HF_HUB_DOWNLOAD_TIMEOUT=60 allows slower answers",
                repo_id=repo_id,
            )
        if kind == "network":
            return HubError(
                f"cannot reach the Hub at {endpoint}",
                hint="check your network and HF_ENDPOINT; with files already cached, set HF_HUB_OFFLINE=1",
                repo_id=repo_id,
            )
    if saw_local_miss:
        return offline_error(repo_id, filename or "the file list")
    if isinstance(exc, QuantAdvisorError):
        return None  # already one of ours (a size or JSON limit): the caller re-raises it as it is
    # Anything else came out of the client while it read the Hub's answer (deep JSON, a field of the wrong
    # type): the answer is unusable, which is the Hub's failure, not a bug to show as a traceback.
    what = f"{filename} in {repo_id}" if filename else repo_id
    detail = redact(f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__)[:200]
    return HubError(
        f"the Hub at {redact(endpoint)} sent an answer for {what} that cannot be read ({detail})",
        hint="retry; if it persists, check HF_ENDPOINT and any proxy in between",
        repo_id=repo_id,
    )
