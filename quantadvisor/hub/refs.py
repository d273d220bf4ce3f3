"""Hub repo references: owner/name[@revision], checked with huggingface_hub's rules (namespaced ids only)."""

from __future__ import annotations

import re

from ..errors import InvalidRequestError

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
