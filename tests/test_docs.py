"""The docs site's sources: every public name has an API entry, and every entry names a real object.

CI builds the site itself with `mkdocs build --strict` (.ci/run); these checks run offline without
mkdocs, so a new public name without an entry fails the ordinary test run too.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import quantadvisor

DOCS = Path(__file__).resolve().parents[1] / "docs"
ENTRY = re.compile(r"^::: ([\w.]+)", re.MULTILINE)


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_api_entry_names_a_real_object() -> None:
    entries = ENTRY.findall((DOCS / "api.md").read_text(encoding="utf-8"))
    assert entries
    for dotted in entries:
        assert _resolve(dotted) is not None, dotted


def test_every_public_name_has_an_api_entry() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = {e.rsplit(".", 1)[-1] for e in ENTRY.findall(text)} | set(re.findall(r"- (\w+Error)\b", text))
    public = {n for n in quantadvisor.__all__ if not n.startswith("__")}
    assert public - documented == set(), "add these to docs/api.md"


def test_every_page_is_in_the_site() -> None:
    mkdocs = (DOCS.parent / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages == set(re.findall(r": (\w+\.md)$", mkdocs, re.MULTILINE))
