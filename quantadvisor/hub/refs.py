"""Hub repo references: owner/name[@revision], checked with huggingface_hub's rules (namespaced ids only)."""

from __future__ import annotations

import re

from ..errors import InvalidRequestError

# Same rules as huggingface_hub.utils.validate_repo_id, but namespaced ids only (owner/name): a bare name
# ("gpt2") is left to the caller's own model shorthands.
_REPO_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?"
_REPO_ID_RE = re.compile(rf"{_REPO_PART}/{_REPO_PART}", re.ASCII)
_REVISION_RE = re.compile(r"[A-Za-z0-9_.\-/]{1,255}", re.ASCII)


def _repo_id_problem(repo_id: object) -> str | None:
    if not isinstance(repo_id, str):
        return f"a repo id is a string, not {type(repo_id).__name__}"
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
    if not isinstance(ref, str):
        raise InvalidRequestError(f"a repo id is a string such as owner/name, not {type(ref).__name__}")
    text = ref.strip()
    repo_id, sep, revision = text.partition("@")
    problem = _repo_id_problem(repo_id)
    if problem is None and sep:
        problem = revision_problem(revision)
    if problem is not None:
        raise InvalidRequestError(
            f"{ref[:200]!r} is not a Hugging Face repo id: {problem}",
            hint="write it as owner/name or owner/name@revision, e.g. bartowski/Qwen2.5-7B-Instruct-GGUF",
        )
    return repo_id, (revision if sep else None)


def revision_problem(revision: object) -> str | None:
    """Why `revision` is not a usable branch, tag or commit name, or None."""
    if not isinstance(revision, str) or not _REVISION_RE.fullmatch(revision):
        return "the revision must be a branch, tag or commit (letters, digits, '-', '_', '.', '/')"
    if any(part in {"", ".", ".."} for part in revision.split("/")):
        return "the revision must not hold empty, '.' or '..' segments"
    return None


def check_repo_id(repo_id: str, revision: str | None = None) -> None:
    """Check the repo id (and revision) and the Hub settings before the client is imported or asked."""
    from .settings import check_environment

    problem = _repo_id_problem(repo_id)
    if problem is None and revision is not None:
        problem = revision_problem(revision)
    if problem is not None:
        shown = repo_id[:200] if isinstance(repo_id, str) else type(repo_id).__name__
        raise InvalidRequestError(f"{shown!r} is not a Hugging Face repo id: {problem}", hint="write it as owner/name")
    check_environment()


def check_filename(filename: object) -> None:
    """Refuse a file name that is not a safe relative path inside a repo."""
    from ..untrusted import repo_path_problem

    problem = repo_path_problem(filename)
    if problem is not None:
        raise InvalidRequestError(f"{str(filename)[:200]!r} is not a file path inside a repo: {problem}")


def file_url(endpoint: str, repo_id: str, filename: str, revision: str | None) -> str:
    """The resolve URL of a file, every path segment percent-quoted: a name can never reach another path."""
    from urllib.parse import quote

    path = "/".join(quote(part, safe="") for part in filename.split("/"))
    return f"{endpoint}/{repo_id}/resolve/{quote(revision or 'main', safe='')}/{path}"
