"""Listing a repo's GGUF files (with sizes and split parts), online or from the local huggingface_hub cache."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import limits
from ..untrusted import repo_path_problem
from .failures import translate_error
from .filenames import PART_RE, SPLIT_RE, quant_from_filename
from .refs import check_repo_id
from .settings import hub_cache_dir, is_offline, offline_error, resolve_endpoint, resolve_timeout

if TYPE_CHECKING:
    from collections.abc import Iterable


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


_MAX_FILE_BYTES = 2**50  # 1 PiB: no single model file is larger; a listed size beyond it is a lie


def usable_entries(paths_and_sizes: Iterable[tuple[object, object]], skipped: list[str]) -> list[tuple[str, int]]:
    """The (path, size) pairs that are safe to use: a relative POSIX path inside the repo and a positive whole
    number of bytes. A GGUF entry that is neither is skipped with a note in `skipped`; at most
    MAX_LISTED_FILES entries are looked at."""
    out: list[tuple[str, int]] = []
    for seen, (path, size) in enumerate(paths_and_sizes):
        if seen >= limits.MAX_LISTED_FILES:
            skipped.append(f"the listing holds more than {limits.MAX_LISTED_FILES:,} files: only the first were read")
            break
        gguf = isinstance(path, str) and ".gguf" in path.lower()
        problem = repo_path_problem(path)
        if problem is None and (isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= _MAX_FILE_BYTES):
            problem = f"its listed size {_short(size)} is not a positive number of bytes"
        if problem is not None:
            if gguf:
                skipped.append(f"{_short(path)}: {problem}; skipped")
            continue
        out.append((path, size))  # type: ignore[arg-type]  # checked just above
    return out


def _short(value: object) -> str:
    text = repr(value)  # repr escapes control characters: the note shows them, the terminal never runs them
    return text if len(text) <= 100 else text[:97] + "..."


def gguf_builds(paths_and_sizes: Iterable[tuple[object, object]], skipped: list[str] | None = None) -> list[RepoFile]:
    """Group (path, size) pairs into GGUF builds: split parts joined, imatrix files dropped, unsafe entries
    noted in `skipped`."""
    groups: dict[tuple[str, int], list[tuple[int, str, int]]] = {}
    for path, size in usable_entries(paths_and_sizes, [] if skipped is None else skipped):
        basename = path.rsplit("/", 1)[-1]
        lower = basename.lower()
        if "imatrix" in lower:  # importance matrices (llama-imatrix writes GGUF now), not models
            continue
        for pattern in (SPLIT_RE, PART_RE):
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


def _cached_snapshot(repo_id: str, revision: str | None) -> Path | None:
    folder = Path(hub_cache_dir()) / ("models--" + repo_id.replace("/", "--"))
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
    skipped: list[str] | None = None,
) -> list[RepoFile]:
    """List a repo's GGUF builds with exact sizes, split parts joined, mmproj files flagged.

    One ``model_info(files_metadata=True)`` call; a tree listing only if the Hub gave no sizes. With
    HF_HUB_OFFLINE set, lists the GGUF files present in the local cache instead. Entries whose name is not a
    safe path inside the repo, or whose size is not a positive number of bytes, are left out; a note on each
    is appended to `skipped` when given.
    """
    check_repo_id(repo_id, revision)
    from . import cache

    offline = is_offline()
    # A listing saved for the commit this revision points at answers without a request (offline: of any age).
    sha = cache.cached_commit(repo_id, revision, max_age_s=None if offline else cache.REF_MAX_AGE_S)
    saved = cache.load_listing(repo_id, sha) if sha else None
    if saved is not None:
        return gguf_builds(saved, skipped)
    if offline:
        cached = _cached_files(repo_id, revision)
        if not any(path.lower().endswith(".gguf") or PART_RE.match(path) for path, _ in cached):
            raise offline_error(repo_id, "the file list")
        return gguf_builds(cached, skipped)

    from huggingface_hub import HfApi

    api = HfApi(endpoint=resolve_endpoint(endpoint), token=token)
    entries: list[tuple[object, object]] = []
    try:
        info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=resolve_timeout(timeout))
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
        error = translate_error(exc, repo_id=repo_id, revision=revision, endpoint=api.endpoint, timeout=timeout)
        if error is None:
            raise
        raise error from exc
    plain = [(n, b) for n, b in entries if isinstance(n, str) and isinstance(b, int) and not isinstance(b, bool)]
    cache.save_commit(repo_id, revision, info.sha)
    cache.save_listing(repo_id, info.sha, plain)
    return gguf_builds(entries, skipped)
