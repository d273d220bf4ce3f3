"""Golden output of the CLI tables: rendered at 80 columns without colour, compared with tests/golden/.

80 columns is what a pipe or CI log gets (rich's default without a terminal); every line must fit.

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
WIDTH = 80


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(render, "_console", lambda: Console(file=buffer, width=WIDTH, color_system=None))
    return buffer


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("QUANTADVISOR_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: regenerate on purpose if intended"
    too_wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not too_wide, too_wide


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


def test_every_rank_is_readable_with_all(captured: io.StringIO) -> None:
    rec = recommend("code", model="9b", gpu="RTX 4060", ram_gib=32)
    render.render_recommendation(rec, load_dataset(), show_all=True)
    text = captured.getvalue()
    _check("suggest-code-9b-rtx4060-all.txt", text)
    ranks = [line.split()[0] for line in text.splitlines() if line[:3].strip().isdigit()]
    assert ranks == [str(i) for i in range(1, len(rec.options) + 1)]  # no "…" for a two-digit rank


def test_repo_files_show_their_own_variant(captured: io.StringIO) -> None:
    from quantadvisor import rank_files

    stem = "Meta-Llama-3.1-8B-Instruct"
    sizes = {f"{stem}-Q6_K_L.gguf": 6_850_000_000, f"{stem}-Q5_K_L.gguf": 6_060_000_000,
             f"{stem}-Q4_K_M.gguf": 4_920_000_000, f"{stem}-IQ2_M.gguf": 2_950_000_000}  # fmt: skip
    rec = rank_files(sizes, task="code", vram_gib=8, model="8b")
    assert rec.pick is not None
    assert (rec.pick.quant, rec.pick.variant) == ("Q6_K", "Q6_K_L")
    render.render_recommendation(rec, load_dataset())
    text = captured.getvalue()
    _check("suggest-files-8b-variants.txt", text)
    assert " Q5_K_L " in text  # the file's own variant, not its base type


def test_cpu_only_table(captured: io.StringIO) -> None:
    rec = recommend("chat", model="8b", vram_gib=0, ram_gib=16)
    render.render_recommendation(rec, load_dataset())
    text = captured.getvalue()
    _check("suggest-chat-8b-cpu-only.txt", text)
    assert text.startswith("chat, CPU only (--vram 0): 16.0 GiB of RAM")
    assert "RAM GiB" in text


def test_evidence_reads_at_80_columns(captured: io.StringIO) -> None:
    ds = load_dataset()
    records = [ds.evidence[i] for i in sorted(ds.evidence)[:4]]
    render.render_evidence(records, ds)
    text = captured.getvalue()
    _check("evidence-first-4.txt", text)
    for r in records:
        assert r.id in text
        assert r.source in text
        assert "…" not in text.replace("…+", "")  # nothing cut (a range's "+a…+b" is the value)


def test_formats_and_gpus_read_at_80_columns(captured: io.StringIO) -> None:
    ds = load_dataset()
    render.render_formats(ds)
    render.render_gpus([g for g in ds.gpus.values() if "4060" in g.name], ds)
    text = captured.getvalue()
    _check("formats-and-gpus-4060.txt", text)
    assert "…" not in text


def test_a_wide_terminal_adds_the_file_and_budget_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from quantadvisor import rank_files

    buffer = io.StringIO()
    monkeypatch.setattr(render, "_console", lambda: Console(file=buffer, width=130, color_system=None))
    stem = "Meta-Llama-3.1-8B-Instruct"
    sizes = {f"{stem}-Q5_K_L.gguf": 6_060_000_000, f"{stem}-Q4_K_M.gguf": 4_920_000_000}
    render.render_recommendation(rank_files(sizes, task="code", vram_gib=8, model="8b"), load_dataset())
    header = next(line for line in buffer.getvalue().splitlines() if line.lstrip().startswith("#"))
    assert header.split()[-1] == "file"
    assert "of budget" in header
    assert "…Q5_K_L" in buffer.getvalue()  # the shared prefix is cut once
