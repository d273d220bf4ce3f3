"""Untrusted text, paths and JSON made safe to use: repo file names that cannot leave the repo, text that
cannot drive the terminal, URLs without credentials, JSON of bounded size and depth, local paths that cannot
raise. No heavy imports: the CLI's error path uses it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import limits
from .errors import ModelResolutionError, redact_credentials

__all__ = [
    "exists", "is_dir", "is_file", "local_path", "parse_json", "read_json_file", "redact", "repo_path_problem",
    "terminal_text",
]  # fmt: skip

# ANSI/ECMA-48 escape sequences (CSI … final byte, OSC … BEL/ST, other ESC x), then any C0/C1 control,
# DEL, and the Unicode bidirectional overrides that make text display in another order than it reads.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clear screen
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks, clipboard writes
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]?"  # other two-byte escapes (and a lone ESC)
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: object) -> str:
    """`text` with escape sequences and control characters removed (newlines and tabs kept), and any
    credentials in URLs redacted: what may be written to a terminal. rich markup is render.py's concern."""
    cleaned = _CONTROLS.sub("", _ESCAPES.sub("", str(text)))
    return redact(cleaned)


def redact(text: str) -> str:
    """Replace the user:password part of any URL in `text` with ***."""
    return redact_credentials(text)


_DRIVE = re.compile(r"^[A-Za-z]:")


def repo_path_problem(name: object) -> str | None:
    """Why `name` is not a safe file path inside a repo, or None when it is one.

    Safe: a non-empty relative POSIX path of at most MAX_NAME_CHARS characters, with no empty, '.' or '..'
    segment, no backslash or drive letter, and no control character (NUL included). A download tool may join
    such a name to its target folder without leaving it.
    """
    if not isinstance(name, str):
        return f"not a string ({type(name).__name__})"
    if not name:
        return "an empty name"
    if len(name) > limits.MAX_NAME_CHARS:
        return f"longer than {limits.MAX_NAME_CHARS} characters"
    if _CONTROLS.search(name) or "\x1b" in name or "\n" in name or "\t" in name:
        return "a control character in the name"
    if "\\" in name or _DRIVE.match(name):
        return "a Windows path (backslash or drive letter)"
    if name.startswith("/"):
        return "an absolute path"
    if any(part in {"", ".", ".."} for part in name.split("/")):
        return "an empty, '.' or '..' path segment"
    return None


def _depth_over(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests deeper than `limit` (iterative: a deep value cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(data: bytes | str, what: str) -> Any:
    """Parse JSON of at most MAX_CONFIG_BYTES and MAX_JSON_DEPTH levels, or raise ModelResolutionError."""
    if len(data) > limits.MAX_CONFIG_BYTES:
        raise ModelResolutionError(f"{what} is over the {limits.MAX_CONFIG_BYTES // 2**20} MiB limit for a config")
    try:
        value = json.loads(data)
    except RecursionError:  # CPython's parser recurses per level: thousands of '[' exhaust the stack
        value = None
        deep = True
    except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelResolutionError(
            f"{what} is not a readable JSON config: {exc}".splitlines()[0],
            hint="pass a model's config.json (a JSON object)",
        ) from None
    else:
        deep = _depth_over(value, limits.MAX_JSON_DEPTH)
    if deep:
        raise ModelResolutionError(f"{what} nests deeper than {limits.MAX_JSON_DEPTH} levels: not a model config")
    return value


def read_json_file(path: Path, what: str) -> Any:
    """Read and parse a local JSON file, refusing one over MAX_CONFIG_BYTES before reading it."""
    try:
        with path.open("rb") as stream:
            data = stream.read(limits.MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ModelResolutionError(f"{what}: cannot read it ({exc.strerror or exc})") from None
    return parse_json(data, what)


def local_path(text: str) -> Path | None:
    """`text` as a local path (~ expanded), or None when it cannot name one: too long, a NUL, an unknown
    ~user. Never raises: callers then treat the text as a size or a repo id."""
    if len(text) > limits.MAX_MODEL_ARG_CHARS or "\x00" in text:
        return None
    try:
        return Path(text).expanduser()
    except (RuntimeError, OSError, ValueError):  # RuntimeError: "Could not determine home directory"
        return None


def _probe(path: Path, test: str) -> bool:
    try:
        return bool(getattr(path, test)())
    except (OSError, ValueError):  # ENAMETOOLONG, ELOOP, EACCES; ValueError: embedded NUL
        return False


def is_file(path: Path | None) -> bool:
    """Path.is_file() that answers False instead of raising (a 256-character name, a loop, no permission)."""
    return path is not None and _probe(path, "is_file")


def is_dir(path: Path | None) -> bool:
    """Path.is_dir() that answers False instead of raising."""
    return path is not None and _probe(path, "is_dir")


def exists(path: Path | None) -> bool:
    """Path.exists() that answers False instead of raising."""
    return path is not None and _probe(path, "exists")
