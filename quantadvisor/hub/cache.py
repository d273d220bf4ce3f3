"""A repo's file listing and GGUF headers, kept beside the huggingface_hub cache and keyed by commit sha,
so a second look at the same repo asks the Hub nothing and HF_HUB_OFFLINE=1 answers from disk.

Layout: ``$HF_HUB_CACHE/../quantadvisor-hub/models--OWNER--NAME/`` holds ``refs/REVISION.json`` (the commit a
branch or tag pointed at, and when that was read), ``SHA/listing.json`` (path and size of every file)
and ``SHA/headers/HASH.gguf`` (the first bytes of a GGUF file, as many as its header took). A commit
never changes, so its listing and headers never go stale; a branch's commit is trusted for
REF_MAX_AGE_S, then asked again (HF_HUB_OFFLINE: whatever age).

Cache files are untrusted input too: every read is bounded in size, parsed defensively, and a file
that fails any check is treated as missing (the Hub is asked, or the offline error says so).
Writes are atomic (a temporary file, then Path.replace) and a failed write is ignored: the cache
only ever saves requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import limits
from .settings import hub_cache_dir

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["REF_MAX_AGE_S", "cached_commit", "load_header", "load_listing", "save_commit", "save_header",
           "save_listing"]  # fmt: skip

REF_MAX_AGE_S = 3600.0
"""How long a branch's commit is trusted before the Hub is asked again (one hour)."""

_SHA_RE = re.compile(r"[0-9a-f]{40}")
_MAX_REF_BYTES = 4096
# A listing of MAX_LISTED_FILES paths of MAX_NAME_CHARS each, with sizes, stays under this.
_MAX_LISTING_BYTES = 64 * 1024 * 1024


def _root(repo_id: str) -> Path:
    # Beside the hub cache, not in it: `hf cache scan` reports any folder it does not know as a
    # corrupted repo. HF_HUB_CACHE=~/.cache/huggingface/hub → ~/.cache/huggingface/quantadvisor-hub.
    return Path(hub_cache_dir()).parent / "quantadvisor-hub" / ("models--" + repo_id.replace("/", "--"))


def _ref_file(repo_id: str, revision: str | None) -> Path:
    # Revisions may hold '/' (refs/pr/1): hash them into a flat, safe name.
    name = hashlib.sha256((revision or "main").encode()).hexdigest()[:32]
    return _root(repo_id) / "refs" / f"{name}.json"


def _read_bounded(path: Path, limit: int) -> bytes | None:
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return None
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        return  # a read-only or full cache costs a request next time, nothing else


def cached_commit(repo_id: str, revision: str | None, *, max_age_s: float | None = REF_MAX_AGE_S) -> str | None:
    """The commit `revision` (default main) points at, if read from the Hub less than `max_age_s` ago
    (None: any age). A 40-hex revision is its own commit."""
    if revision is not None and _SHA_RE.fullmatch(revision):
        return revision
    raw = _read_bounded(_ref_file(repo_id, revision), _MAX_REF_BYTES)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    sha, when = record.get("sha"), record.get("time")
    if not isinstance(sha, str) or not _SHA_RE.fullmatch(sha) or not isinstance(when, (int, float)):
        return None
    if max_age_s is not None and not 0 <= time.time() - when <= max_age_s:
        return None
    return sha


def save_commit(repo_id: str, revision: str | None, sha: object) -> None:
    """Remember that `revision` points at commit `sha` now (ignored unless `sha` is a commit hash)."""
    if isinstance(sha, str) and _SHA_RE.fullmatch(sha) and not (revision and _SHA_RE.fullmatch(revision)):
        _write_atomic(_ref_file(repo_id, revision), json.dumps({"sha": sha, "time": time.time()}).encode())


def load_listing(repo_id: str, sha: str) -> list[tuple[object, object]] | None:
    """The (path, size) pairs saved for this commit, or None. The caller validates each entry, as it
    does the Hub's own answer (hub.listing.gguf_builds)."""
    if not _SHA_RE.fullmatch(sha):
        return None
    raw = _read_bounded(_root(repo_id) / sha / "listing.json", _MAX_LISTING_BYTES)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, list) or len(data) > limits.MAX_LISTED_FILES:
        return None
    pairs: list[tuple[object, object]] = []
    for item in data:
        if not isinstance(item, list) or len(item) != 2:
            return None
        pairs.append((item[0], item[1]))
    return pairs


def save_listing(repo_id: str, sha: object, entries: Sequence[tuple[str, int]]) -> None:
    """Save a commit's (path, size) pairs."""
    if isinstance(sha, str) and _SHA_RE.fullmatch(sha) and len(entries) <= limits.MAX_LISTED_FILES:
        _write_atomic(_root(repo_id) / sha / "listing.json", json.dumps([list(e) for e in entries]).encode())


def _header_file(repo_id: str, sha: str, filename: str) -> Path:
    return _root(repo_id) / sha / "headers" / (hashlib.sha256(filename.encode()).hexdigest()[:40] + ".gguf")


def load_header(repo_id: str, sha: str, filename: str, max_bytes: int) -> bytes | None:
    """The saved first bytes of `filename` at this commit (at most `max_bytes`), or None."""
    if not _SHA_RE.fullmatch(sha):
        return None
    return _read_bounded(_header_file(repo_id, sha, filename), max_bytes)


def save_header(repo_id: str, sha: str, filename: str, data: bytes) -> None:
    """Save the first bytes of `filename` at this commit (what its header parse read)."""
    if _SHA_RE.fullmatch(sha):
        _write_atomic(_header_file(repo_id, sha, filename), data)
