"""Hugging Face Hub access: GGUF file listings, GGUF headers by HTTP range, config.json, and hub errors.

huggingface_hub is imported inside functions only, so importing this module stays cheap. Everything goes
through huggingface_hub's own client (``HfApi``, ``hf_hub_download``, ``get_session``, ``build_hf_headers``),
so HF_TOKEN, the saved login, HF_ENDPOINT, HF_HUB_OFFLINE and the huggingface_hub cache behave as they do for
``hf``. HF_ENDPOINT, HF_HUB_OFFLINE and HF_HUB_CACHE are read when a function runs (huggingface_hub reads
them once, at import).

Needs huggingface_hub >= 1.0, whose ``get_session()`` is an httpx-style client with ``.stream()``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HubError, InvalidRequestError, ModelResolutionError
from .gguf_header import GGUFHeader, GGUFHeaderError, GGUFLimits, parse_gguf_header, read_gguf_header

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "QuantName",
    "RepoFile",
    "detect_checkpoint_quantization",
    "fetch_config",
    "fetch_gguf_header",
    "is_repo_ref",
    "list_gguf_files",
    "parse_repo_ref",
    "quant_from_filename",
]

_MiB = 1024 * 1024
DEFAULT_INITIAL_RANGE_BYTES = 2 * _MiB
_MAX_CONFIG_BYTES = 16 * _MiB  # config.json is kilobytes; anything this big is not a config
_LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN"

# ------------------------------------------------------------------------------------------------------------
# Repo references
# ------------------------------------------------------------------------------------------------------------

# Same rules as huggingface_hub.utils.validate_repo_id, but namespaced ids only (owner/name): a bare name
# ("gpt2") is left to the caller's own model shorthands.
_REPO_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO_ID_RE = re.compile(rf"{_REPO_PART}/{_REPO_PART}", re.ASCII)
_REVISION_RE = re.compile(r"[A-Za-z0-9_.\-/]{1,255}", re.ASCII)


def _repo_id_problem(repo_id: str) -> str | None:
    if not _REPO_ID_RE.fullmatch(repo_id):
        return "expected owner/name with letters, digits, '-', '_' or '.'"
    if "--" in repo_id or ".." in repo_id:
        return "'--' and '..' are not allowed"
    if repo_id.endswith(".git"):
        return "a repo id does not end in '.git'"
    return None


def is_repo_ref(text: str) -> bool:
    """Return whether ``text`` reads as a Hub repo reference (``owner/name`` or ``owner/name@revision``)."""
    try:
        parse_repo_ref(text)
    except InvalidRequestError:
        return False
    return True


def parse_repo_ref(ref: str) -> tuple[str, str | None]:
    """Split ``owner/name@revision`` into ``(repo_id, revision)``; revision is None without ``@``."""
    text = ref.strip()
    repo_id, sep, revision = text.partition("@")
    problem = _repo_id_problem(repo_id)
    if problem is None and sep and not _REVISION_RE.fullmatch(revision):
        problem = "the revision after '@' must be a branch, tag or commit"
    if problem is not None:
        raise InvalidRequestError(
            f"{ref!r} is not a Hugging Face repo id: {problem}",
            hint="write it as owner/name or owner/name@revision, e.g. bartowski/Qwen2.5-7B-Instruct-GGUF",
        )
    return repo_id, (revision if sep else None)


def _check_repo_id(repo_id: str) -> None:
    problem = _repo_id_problem(repo_id)
    if problem is not None:
        raise InvalidRequestError(
            f"{repo_id!r} is not a Hugging Face repo id: {problem}", hint="write it as owner/name"
        )


# ------------------------------------------------------------------------------------------------------------
# Quant names in file names
# ------------------------------------------------------------------------------------------------------------

# llama-quantize ftype names (tools/quantize/quantize.cpp QUANT_OPTIONS) that file names use as they are.
_FTYPES = frozenset(
    {
        "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q1_0", "Q2_0",
        "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
        "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
        "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4_MOE", "NVFP4", "F16", "BF16", "F32",
    }
)  # fmt: skip
# Bare K levels: llama-quantize's Q3_K / Q4_K / Q5_K aliases point to the _M mixes.
_K_ALIASES = {
    "Q2_K": "Q2_K",
    "Q3_K": "Q3_K_M",
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
    "Q6_K": "Q6_K",
    "Q8_K": "Q8_0",
}
# "_L"/"_XL" builds that are not llama-quantize ftypes (bartowski Q6_K_L = Q6_K with Q8_0 embed/output;
# unsloth UD-Q4_K_XL = dynamic mix around Q4_K_M): the base is the richest standard mix of that K level.
_UPGRADED_BASE = {"2": "Q2_K", "3": "Q3_K_L", "4": "Q4_K_M", "5": "Q5_K_M", "6": "Q6_K", "8": "Q8_0"}
_SPELLINGS = {"FP16": "F16", "FP32": "F32", "MXFP4": "MXFP4_MOE"}

_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])(?P<ud>UD[-_])?(?P<q>"
    r"IQ1_[SM]|IQ2_(?:XXS|XS|S|M)|IQ3_(?:XXS|XS|S|M)|IQ4_(?:NL|XS)"
    r"|TQ[12]_0"
    r"|Q[2-8]_K(?:_(?:XXL|XL|S|M|L))?"
    r"|Q[458]_[01](?:_[48]_[48])?"
    r"|Q[12]_0"
    r"|MXFP4(?:_MOE)?|NVFP4"
    r"|BF16|FP16|F16|FP32|F32"
    r")(?![A-Za-z0-9])",
    re.IGNORECASE | re.ASCII,
)
_SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
_PART_RE = re.compile(r"^(?P<stem>.+\.gguf)\.part(?P<index>\d{1,3})of(?P<count>\d{1,3})$", re.IGNORECASE)


@dataclass(frozen=True)
class QuantName:
    """A quant type read from a file name.

    ``base`` is a llama-quantize ftype name (``Q4_K_M``, ``IQ4_XS``, ``Q8_0``, ``BF16``, ``MXFP4_MOE`` …): the
    standard mix the file is, or is built around. ``variant`` is the name as published when the file is not
    exactly that mix: bartowski's ``Q6_K_L`` (base ``Q6_K``, embed/output at Q8_0), unsloth's ``UD-Q4_K_XL``
    (base ``Q4_K_M``), ``Q4_0_4_4`` (base ``Q4_0``, ARM repack); None for a plain ftype. The real file size,
    not the base, says how big a variant is.
    """

    base: str
    variant: str | None = None

    @property
    def label(self) -> str:
        """The name to show: the variant if any, else the base."""
        return self.variant or self.base

    def __str__(self) -> str:
        return self.label


def _quant_name(token: str, dynamic: bool) -> QuantName:
    name = _SPELLINGS.get(token, token)
    if name in _FTYPES:
        base, variant = name, None
    elif name in _K_ALIASES:
        base, variant = _K_ALIASES[name], None
    elif re.fullmatch(r"Q\d_K_(?:L|XL|XXL|S|M)", name):
        base, variant = _UPGRADED_BASE[name[1]], name
    else:  # Q4_0_4_4, Q4_0_8_8 … (ARM repacks of Q4_0)
        base, variant = name[:4], name
    if dynamic:
        variant = f"UD-{name}"
    return QuantName(base, variant)


def _strip_split_suffix(basename: str) -> str:
    for pattern in (_SPLIT_RE, _PART_RE):
        match = pattern.match(basename)
        if match:
            return match.group("stem")
    return basename


def quant_from_filename(name: str) -> QuantName | None:
    """Return the quant type a GGUF file name announces, or None if it names none.

    Reads the file's base name (then its folders) case-insensitively; the last quant token wins, so
    ``Qwen2.5-7B-Instruct-Q4_K_M.gguf``, ``model.q4_k_m.gguf`` and ``Q4_K_M/model-Q4_K_M-00001-of-00002.gguf``
    all give ``QuantName("Q4_K_M")``.
    """
    parts = name.replace("\\", "/").split("/")
    candidates = [_strip_split_suffix(parts[-1]), *reversed(parts[:-1])]
    for text in candidates:
        stem = re.sub(r"\.gguf$", "", text, flags=re.IGNORECASE)
        matches = list(_QUANT_RE.finditer(stem))
        if matches:
            last = matches[-1]
            return _quant_name(last.group("q").upper(), dynamic=last.group("ud") is not None)
    return None


# ------------------------------------------------------------------------------------------------------------
# Listing a repo's GGUF files
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepoFile:
    """One loadable GGUF build in a repo; split files (``-00001-of-00003.gguf``) are one entry."""

    filename: str
    """Path in the repo; for a split build, the first part (the one llama.cpp is pointed at)."""
    size_bytes: int
    """Exact size from the Hub; for a split build, the sum of its parts."""
    quant: str | None
    """The quant's ``QuantName.base`` (an ftype name such as ``Q4_K_M``), or None if the name has none."""
    quant_variant: str | None
    """``QuantName.variant`` (``Q6_K_L``, ``UD-Q4_K_XL`` …), or None."""
    parts: int
    """Number of parts the name declares (1 for a single file)."""
    is_mmproj: bool
    """A multimodal projector (``mmproj-*.gguf``), not a text model."""
    split_files: tuple[str, ...]
    """Every part present in the repo, in order (just ``filename`` for a single file)."""

    @property
    def complete(self) -> bool:
        """Whether every declared part is present."""
        return len(self.split_files) == self.parts


def _gguf_entries(paths_and_sizes: Iterable[tuple[str, int]]) -> list[RepoFile]:
    groups: dict[tuple[str, int], list[tuple[int, str, int]]] = {}
    for path, size in paths_and_sizes:
        basename = path.rsplit("/", 1)[-1]
        lower = basename.lower()
        if "imatrix" in lower:  # importance matrices (llama-imatrix writes GGUF now), not models
            continue
        for pattern in (_SPLIT_RE, _PART_RE):
            match = pattern.match(basename)
            if match:
                index, count = int(match.group("index")), int(match.group("count"))
                key = (path[: len(path) - len(basename)] + match.group("stem"), count)
                groups.setdefault(key, []).append((index, path, size))
                break
        else:
            if lower.endswith(".gguf"):
                groups[(path, 1)] = [(1, path, size)]
    files = []
    for (_stem, count), members in groups.items():
        members.sort()
        first = members[0][1]
        quant = quant_from_filename(first)
        files.append(
            RepoFile(
                filename=first,
                size_bytes=sum(size for _, _, size in members),
                quant=quant.base if quant else None,
                quant_variant=quant.variant if quant else None,
                parts=count,
                is_mmproj="mmproj" in first.rsplit("/", 1)[-1].lower(),
                split_files=tuple(path for _, path, _ in members),
            )
        )
    return sorted(files, key=lambda f: f.filename)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode() or _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def _endpoint(endpoint: str | None) -> str:
    from huggingface_hub import constants

    return (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _cache_dir() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE


def _timeout(timeout: float | None) -> float:
    from huggingface_hub import constants

    return float(timeout if timeout is not None else constants.HF_HUB_DOWNLOAD_TIMEOUT)


def _offline_error(repo_id: str, what: str) -> HubError:
    return HubError(
        f"{what} of {repo_id} is not in the local cache and HF_HUB_OFFLINE is set",
        hint="unset HF_HUB_OFFLINE to fetch it from the Hub, or pass a local .gguf file",
        repo_id=repo_id,
    )


def _cached_snapshot(repo_id: str, revision: str | None) -> Path | None:
    folder = Path(_cache_dir()) / ("models--" + repo_id.replace("/", "--"))
    rev = revision or "main"
    if re.fullmatch(r"[0-9a-f]{40}", rev):
        commit = rev
    else:
        try:
            commit = (folder / "refs" / rev).read_text(encoding="utf-8").strip()
        except OSError:
            return None
    snapshot = folder / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def _cached_files(repo_id: str, revision: str | None) -> list[tuple[str, int]]:
    snapshot = _cached_snapshot(repo_id, revision)
    if snapshot is None:
        return []
    found = []
    for path in snapshot.rglob("*"):
        try:
            if path.is_file():  # follows the cache's symlink to its blob; a dangling link is skipped
                found.append((path.relative_to(snapshot).as_posix(), path.stat().st_size))
        except OSError:
            continue
    return found


def list_gguf_files(
    repo_id: str,
    revision: str | None = None,
    *,
    token: str | bool | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
) -> list[RepoFile]:
    """List a repo's GGUF builds with exact sizes, split parts joined, mmproj files flagged.

    One ``model_info(files_metadata=True)`` call; a tree listing only if the Hub gave no sizes. With
    HF_HUB_OFFLINE set, lists the GGUF files present in the local cache instead.
    """
    _check_repo_id(repo_id)
    if _offline():
        cached = _cached_files(repo_id, revision)
        if not any(path.lower().endswith(".gguf") or _PART_RE.match(path) for path, _ in cached):
            raise _offline_error(repo_id, "the file list")
        return _gguf_entries(cached)

    from huggingface_hub import HfApi

    api = HfApi(endpoint=_endpoint(endpoint), token=token)
    entries: list[tuple[str, int]] = []
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=_timeout(timeout))
        missing_size = False
        for sibling in info.siblings or []:
            size = sibling.lfs.size if sibling.lfs is not None else sibling.size
            if size is None:
                missing_size = True
                break
            entries.append((sibling.rfilename, size))
        # An endpoint that ignores files_metadata: ask the tree listing, which always has sizes (it is
        # paginated and retries 429/5xx with backoff, so it is the fallback, not the first call).
        if missing_size:
            from huggingface_hub.hf_api import RepoFile as HubRepoFile

            entries = [
                (item.path, item.lfs.size if item.lfs is not None else item.size)
                for item in api.list_repo_tree(repo_id, revision=revision, recursive=True)
                if isinstance(item, HubRepoFile)
            ]
    except Exception as exc:
        error = _translate(exc, repo_id=repo_id, revision=revision, endpoint=api.endpoint, timeout=timeout)
        if error is None:
            raise
        raise error from exc
    return _gguf_entries(entries)


# ------------------------------------------------------------------------------------------------------------
# GGUF headers over HTTP range requests
# ------------------------------------------------------------------------------------------------------------


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
                    raise _status_error(
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
            error = _translate(
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
    _check_repo_id(repo_id)
    limits = limits or GGUFLimits()
    if max_bytes is not None:
        limits = replace(limits, max_header_bytes=max_bytes)
    if _offline():
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, filename, cache_dir=_cache_dir(), revision=revision)
        if not isinstance(cached, str):
            raise _offline_error(repo_id, filename)
        return read_gguf_header(cached, limits=limits)

    from huggingface_hub import hf_hub_url

    # Documented public API; huggingface_hub.utils re-exports it without an __all__, which mypy strict flags.
    from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

    base = _endpoint(endpoint)
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=base)
    try:
        headers = build_hf_headers(token=token)
    except Exception as exc:
        error = _translate(exc, repo_id=repo_id, revision=revision, filename=filename, endpoint=base)
        if error is None:
            raise
        raise error from exc
    fetch = _range_fetcher(
        url,
        headers,
        timeout=_timeout(timeout),
        repo_id=repo_id,
        revision=revision,
        filename=filename,
        endpoint=base,
    )
    reader = _RangeReader(fetch, initial_bytes=initial_bytes, max_bytes=limits.max_header_bytes)
    try:
        return parse_gguf_header(reader, limits=limits)
    except GGUFHeaderError as exc:
        raise GGUFHeaderError(f"{repo_id}/{filename}: {exc.message}", hint=exc.hint) from exc


# ------------------------------------------------------------------------------------------------------------
# config.json and checkpoint quantization
# ------------------------------------------------------------------------------------------------------------


def fetch_config(
    repo_id: str,
    revision: str | None = None,
    *,
    filename: str = "config.json",
    token: str | bool | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Return a repo's config.json (or another JSON file) through the huggingface_hub cache.

    A cached copy answers when the Hub cannot (HF_HUB_OFFLINE, no network, rate limit, server error).
    """
    _check_repo_id(repo_id)
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache

    base = _endpoint(endpoint)
    cache_dir = _cache_dir()
    seconds = _timeout(timeout)
    offline = _offline()
    try:
        if not offline:
            # Probe first, without retries: when nothing is cached, hf_hub_download retries 429/5xx/timeouts
            # with backoff (and honours a 429's reset time), which can stall for minutes behind a spinner.
            try:
                get_hf_file_metadata(
                    hf_hub_url(repo_id, filename, revision=revision, endpoint=base),
                    token=token,
                    timeout=seconds,
                    endpoint=base,
                )
            except Exception as exc:
                cached = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
                if not (_is_transient(exc) and isinstance(cached, str)):
                    raise
                path = cached  # the Hub is unreachable or overloaded; the cached copy answers
            else:
                path = hf_hub_download(
                    repo_id, filename, revision=revision, cache_dir=cache_dir, endpoint=base, token=token,
                    etag_timeout=seconds,
                )  # fmt: skip
        else:
            path = hf_hub_download(
                repo_id, filename, revision=revision, cache_dir=cache_dir, endpoint=base, token=token,
                local_files_only=True,
            )  # fmt: skip
    except Exception as exc:
        error = _translate(exc, repo_id=repo_id, revision=revision, filename=filename, endpoint=base, timeout=timeout)
        if error is None:
            raise
        raise error from exc
    config_path = Path(path)
    try:
        if config_path.stat().st_size > _MAX_CONFIG_BYTES:
            raise ModelResolutionError(f"{filename} of {repo_id} is over {_MAX_CONFIG_BYTES // _MiB} MiB")
        data = json.loads(config_path.read_bytes())
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelResolutionError(
            f"{filename} of {repo_id} is not readable JSON: {exc}".splitlines()[0],
            hint="check that the repo is a transformers model repo",
        ) from exc
    if not isinstance(data, dict):
        raise ModelResolutionError(f"{filename} of {repo_id} is not a JSON object")
    return data


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _scheme_name(weights: Mapping[str, Any], activations: Mapping[str, Any] | None) -> str | None:
    """Name a compressed-tensors weight/activation scheme: NVFP4, MXFP4, FP8, W4A16-INT, W8A8-INT …"""
    w_bits, w_type = _int(weights.get("num_bits")), str(weights.get("type", "int")).lower()
    if w_bits is None:
        return None
    a_bits = _int(activations.get("num_bits")) if activations else None
    a_type = str(activations.get("type", "int")).lower() if activations else None
    if w_type == "float":
        if w_bits == 4:  # NVFP4 scales every 16 elements, MXFP4 every 32
            return "MXFP4" if _int(weights.get("group_size")) == 32 else "NVFP4"
        if w_bits == 8:
            return "FP8"
        return f"FP{w_bits}"
    if a_bits is None or a_bits >= 16:
        return f"W{w_bits}A16-INT"
    suffix = "FP" if a_type == "float" else "INT"
    return f"W{w_bits}A{a_bits}-{suffix}"


_CT_FORMATS = {
    "nvfp4-pack-quantized": "NVFP4",
    "mxfp4-pack-quantized": "MXFP4",
}


def _compressed_tensors_scheme(qc: Mapping[str, Any]) -> str | None:
    groups = qc.get("config_groups")
    formats = [qc.get("format")]
    schemes: list[str] = []
    if isinstance(groups, dict):
        for group in groups.values():
            if not isinstance(group, dict):
                continue
            formats.append(group.get("format"))
            weights = group.get("weights")
            activations = group.get("input_activations")
            if isinstance(weights, dict):
                name = _scheme_name(weights, activations if isinstance(activations, dict) else None)
                if name:
                    schemes.append(name)
    for fmt in formats:
        if isinstance(fmt, str) and fmt.lower() in _CT_FORMATS:
            return _CT_FORMATS[fmt.lower()]
    if schemes:
        return schemes[0]
    fmt = formats[0]
    if isinstance(fmt, str):
        if fmt == "float-quantized":
            return "FP8"
        if fmt == "int-quantized":
            return "W8A8-INT"
    return None


def _modelopt_scheme(algo: object) -> str | None:
    if not isinstance(algo, str):
        return None
    name = algo.upper()
    if "NVFP4" in name:
        return "NVFP4"
    if "MXFP4" in name:
        return "MXFP4"
    if name.startswith("FP8"):
        return "FP8"
    if "W4A8" in name:
        return "W4A8-INT"
    if "INT4" in name or "W4A16" in name:
        return "W4A16-INT"
    if "INT8" in name or "W8A8" in name:
        return "W8A8-INT"
    return name


def detect_checkpoint_quantization(config: Mapping[str, Any]) -> str | None:
    """Name the quantization of a safetensors checkpoint from its config.json, or None if it has none.

    Recognises ModelOpt (``quant_method: modelopt``, ``quant_algo`` NVFP4/FP8/…; also the ``quantization``
    block of ``hf_quant_config.json``), compressed-tensors (``nvfp4-pack-quantized``, ``float-quantized``,
    ``pack-quantized`` with ``num_bits`` …), and the usual ``quant_method`` values (fp8, mxfp4, awq, gptq,
    bitsandbytes). Returns ``NVFP4``, ``MXFP4``, ``FP8``, ``W4A16-INT``, ``W8A16-INT``, ``W4A8-INT``,
    ``W8A8-INT``, ``BNB-4BIT``, ``BNB-8BIT``, or the upper-cased ``quant_method`` for methods not listed.
    """
    hf_quant = config.get("quantization")
    if isinstance(hf_quant, dict) and "quant_algo" in hf_quant:  # hf_quant_config.json from ModelOpt
        return _modelopt_scheme(hf_quant.get("quant_algo"))
    qc = config.get("quantization_config")
    if not isinstance(qc, dict):
        text_config = config.get("text_config")  # multimodal configs nest the language model's config
        if isinstance(text_config, dict) and isinstance(text_config.get("quantization_config"), dict):
            qc = text_config["quantization_config"]
        else:
            return None
    method = str(qc.get("quant_method", "")).lower()
    if method == "modelopt":
        return _modelopt_scheme(qc.get("quant_algo"))
    if method == "compressed-tensors":
        return _compressed_tensors_scheme(qc) or "COMPRESSED-TENSORS"
    if method in {"fp8", "fbgemm_fp8"}:
        return "FP8"
    if method == "mxfp4":
        return "MXFP4"
    if method in {"awq", "gptq", "autoround", "auto-round"}:
        bits = _int(qc.get("bits")) or 4
        return f"W{bits}A16-INT"
    if method == "bitsandbytes":
        return "BNB-4BIT" if qc.get("load_in_4bit") else "BNB-8BIT"
    return method.upper() or None


# ------------------------------------------------------------------------------------------------------------
# Errors: huggingface_hub and HTTP-library exceptions → one-line HubError
# ------------------------------------------------------------------------------------------------------------


def _status_error(
    status: int,
    headers: Mapping[str, str],
    *,
    repo_id: str,
    revision: str | None,
    filename: str | None,
    endpoint: str,
) -> HubError:
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


def _is_transient(exc: BaseException) -> bool:
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


def _translate(
    exc: BaseException,
    *,
    repo_id: str,
    endpoint: str,
    revision: str | None = None,
    filename: str | None = None,
    timeout: float | None = None,
) -> HubError | None:
    """Turn a huggingface_hub or HTTP-library exception into a one-line HubError; None if it is neither."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    def status_error(err: HfHubHTTPError, code: str | None = None) -> HubError:
        response = err.response
        headers = dict(response.headers)
        if code is not None:
            headers["X-Error-Code"] = code
        return _status_error(
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
            return status_error(err, "GatedRepo")
        if isinstance(err, RevisionNotFoundError):
            return status_error(err, "RevisionNotFound")
        if isinstance(err, RemoteEntryNotFoundError):
            return status_error(err, "EntryNotFound")
        if isinstance(err, RepositoryNotFoundError):
            return status_error(err, "RepoNotFound")
        if isinstance(err, HfHubHTTPError):
            return status_error(err)
        if isinstance(err, OfflineModeIsEnabled):
            return _offline_error(repo_id, filename or "the file list")
        if isinstance(err, LocalEntryNotFoundError):
            saw_local_miss = True  # look further down the chain for why the Hub was not asked or did not answer
            continue
        kind = _transport_kind(err)
        if kind == "timeout":
            seconds = _timeout(timeout)
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
        return _offline_error(repo_id, filename or "the file list")
    return None
