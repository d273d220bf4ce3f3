"""GGUF headers over HTTP range requests: only the bytes the header needs, never the weights."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import HubError
from ..gguf_header import GGUFHeader, GGUFHeaderError, GGUFLimits, parse_gguf_header, read_gguf_header
from .failures import status_error, translate_error
from .refs import check_filename, check_repo_id, file_url
from .settings import hub_cache_dir, is_offline, offline_error, resolve_endpoint, resolve_timeout

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


_MiB = 1024 * 1024

DEFAULT_INITIAL_RANGE_BYTES = 2 * _MiB


class _RangeReader:
    """A read-only stream over a remote file that fetches ranges on demand, doubling each request's size.

    ``fetch(start, length)`` returns up to ``length`` bytes from ``start`` (fewer only at the file's end).
    """

    def __init__(self, fetch: Callable[[int, int], bytes], *, initial_bytes: int, max_bytes: int) -> None:
        self._fetch = fetch
        self._next = max(1, initial_bytes)
        self._max = max_bytes
        self._window = b""
        self._window_pos = 0
        self._fetched = 0  # absolute end of what has been fetched
        self._eof = False
        self.requests: list[tuple[int, int]] = []

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` bytes (fewer at a request boundary, as a raw stream may); b"" at the end."""
        if n < 0:
            raise ValueError("_RangeReader.read needs a size")
        if n == 0:
            return b""
        if self._window_pos >= len(self._window):
            room = self._max - self._fetched
            if self._eof or room <= 0:
                return b""
            length = min(self._next, room)
            self._next = min(self._next * 2, self._max)
            self.requests.append((self._fetched, length))
            data = self._fetch(self._fetched, length)
            if len(data) < length:
                self._eof = True
            self._window, self._window_pos = data, 0
            self._fetched += len(data)
        take = self._window[self._window_pos : self._window_pos + n]
        self._window_pos += len(take)
        return take


_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _range_fetcher(
    url: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    repo_id: str,
    revision: str | None,
    filename: str,
    endpoint: str,
) -> Callable[[int, int], bytes]:
    from huggingface_hub import get_session

    def fetch(start: int, length: int) -> bytes:
        request_headers = {
            **headers,
            "Range": f"bytes={start}-{start + length - 1}",
            "Accept-Encoding": "identity",
        }
        try:
            with get_session().stream("GET", url, headers=request_headers, timeout=timeout) as response:
                status = response.status_code
                if status == 416:  # range starts past the end of the file
                    return b""
                if status >= 400:
                    raise status_error(
                        status,
                        response.headers,
                        repo_id=repo_id,
                        revision=revision,
                        filename=filename,
                        endpoint=endpoint,
                    )
                if status == 206:
                    match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
                    if match is None or int(match.group(1)) != start:
                        raise HubError(
                            f"the Hub answered a range request for {filename} in {repo_id} with the wrong range",
                            hint="retry; if it persists, check HF_ENDPOINT and any proxy in between",
                            repo_id=repo_id,
                        )
                    skip = 0
                elif status == 200:  # range ignored: read only the bytes wanted, then drop the connection
                    skip = start
                else:
                    raise HubError(
                        f"the Hub answered HTTP {status} to a range request for {filename} in {repo_id}",
                        hint="retry; if it persists, check HF_ENDPOINT and any proxy in between",
                        repo_id=repo_id,
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk = chunk[dropped:]  # noqa: PLW2901 - trimming the chunk in place is the point
                        skip -= dropped
                    body += chunk[: length - len(body)]
                    if len(body) >= length:
                        break
                return bytes(body)
        except HubError:
            raise
        except Exception as exc:
            error = translate_error(
                exc, repo_id=repo_id, revision=revision, filename=filename, endpoint=endpoint, timeout=timeout
            )
            if error is None:
                raise
            raise error from exc

    return fetch


def fetch_gguf_header(
    repo_id: str,
    filename: str,
    revision: str | None = None,
    *,
    max_bytes: int | None = None,
    initial_bytes: int = DEFAULT_INITIAL_RANGE_BYTES,
    limits: GGUFLimits | None = None,
    token: str | bool | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
) -> GGUFHeader:
    """Read a GGUF file's header from the Hub with HTTP range requests for its first bytes only.

    The first request asks for ``initial_bytes``; each further one doubles, up to ``max_bytes`` in total
    (default ``limits.max_header_bytes``, 64 MiB). For a split build, pass the part whose header you want:
    every part has a header, but only its own tensors; part 1 holds the model metadata. With HF_HUB_OFFLINE
    set, reads the file from the local cache if it is there.
    """
    check_repo_id(repo_id, revision)
    check_filename(filename)
    limits = limits or GGUFLimits()
    if max_bytes is not None:
        limits = replace(limits, max_header_bytes=max_bytes)
    from . import cache

    offline = is_offline()
    # The header bytes saved for this commit (by an earlier call) answer without a request.
    sha = cache.cached_commit(repo_id, revision, max_age_s=None if offline else cache.REF_MAX_AGE_S)
    saved = cache.load_header(repo_id, sha, filename, limits.max_header_bytes) if sha else None
    if saved is not None:
        import io

        try:
            return parse_gguf_header(io.BytesIO(saved), limits=limits)
        except GGUFHeaderError:
            pass  # a truncated or tampered cache file: read the header again
    if offline:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, filename, cache_dir=hub_cache_dir(), revision=revision)
        if not isinstance(cached, str):
            raise offline_error(repo_id, filename)
        return read_gguf_header(cached, limits=limits)

    # Documented public API; huggingface_hub.utils re-exports it without an __all__, which mypy strict flags.
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    base = resolve_endpoint(endpoint)
    url = file_url(base, repo_id, filename, revision)
    try:
        headers = build_hf_headers(token=token)
    except Exception as exc:
        error = translate_error(exc, repo_id=repo_id, revision=revision, filename=filename, endpoint=base)
        if error is None:
            raise
        raise error from exc
    fetch = _range_fetcher(
        url,
        headers,
        timeout=resolve_timeout(timeout),
        repo_id=repo_id,
        revision=revision,
        filename=filename,
        endpoint=base,
    )
    fetched = bytearray()

    def recording(start: int, length: int) -> bytes:
        data = fetch(start, length)
        if start == len(fetched):  # the reader asks for consecutive ranges: keep them for the cache
            fetched.extend(data)
        return data

    reader = _RangeReader(recording, initial_bytes=initial_bytes, max_bytes=limits.max_header_bytes)
    try:
        header = parse_gguf_header(reader, limits=limits)
    except GGUFHeaderError as exc:
        raise GGUFHeaderError(f"{repo_id}/{filename}: {exc.message}", hint=exc.hint) from exc
    sha = sha or cache.cached_commit(repo_id, revision)  # the listing just before saved the commit
    if sha:
        cache.save_header(repo_id, sha, filename, bytes(fetched))
    return header
