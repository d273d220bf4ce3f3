"""Golden output of the CLI tables: rendered at 100 columns without colour, compared with tests/golden/.

Regenerate on purpose with QUANTADVISOR_UPDATE_GOLDEN=1 pytest tests/test_render.py, and read the diff.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from quantadvisor import estimate_memory, recommend, render
from quantadvisor.dataset import load_dataset
from rich.console import Console

GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(render, "_console", lambda: Console(file=buffer, width=100, color_system=None))
    return buffer


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("QUANTADVISOR_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: regenerate on purpose if intended"


def test_suggest_table(captured: io.StringIO) -> None:
    rec = recommend("code", model="9b", gpu="RTX 4060", ram_gib=32)
    render.render_recommendation(rec, load_dataset(), explain=True)
    _check("suggest-code-9b-rtx4060.txt", captured.getvalue())


def test_size_matrix(captured: io.StringIO) -> None:
    rec = recommend("chat", vram_gib=12, ram_gib=32)
    render.render_recommendation(rec, load_dataset())
    _check("suggest-chat-matrix-12gib.txt", captured.getvalue())


def test_memory_table(captured: io.StringIO) -> None:
    estimates = [estimate_memory("8b", q, context_tokens=32768, flash_attn=True) for q in ("Q4_K_M", "Q8_0")]
    render.render_memory(estimates)
    _check("memory-8b-32k.txt", captured.getvalue())
