"""The -ngl 0 plan (weights on the host, the GPU used for compute) against llama.cpp runs on an H200.

tests/data/ngl0-h200.csv: 24 runs over seven shapes (docs/research/ngl0-compute-buffer.md). The GPU
compute buffer is op offload's staging area: the output weight above the final hidden state, and each
layer's K and V views. The hidden state's offset is allocator layout; the runs where it landed above
the last FFN without the Llama-3 pattern that predicts it are listed as known misses.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from quantadvisor import estimate_memory

DATA = Path(__file__).resolve().parent / "data" / "ngl0-h200.csv"
MIB = 2**20

# Runs whose hidden state landed above the last FFN's live set (residual, SwiGLU output, staged
# ffn_down) where the model puts it at offset 0: measured minus predicted, in MiB.
KNOWN_LAYOUT_MISSES = {
    ("7b", 4096, "off"): 104.01,
    ("9b", 4096, "off"): 75.2,
    ("9b", 32768, "on"): 75.2,
}


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _predict(row: dict[str, str]) -> tuple[float, float]:
    est = estimate_memory(
        row["shorthand"], row["quant"], context_tokens=int(row["ctx"]), flash_attn=row["fa"] == "on", gpu_layers=0
    )
    return est.compute_bytes / MIB, est.host_compute_bytes / MIB


def _key(row: dict[str, str]) -> tuple[str, int, str]:
    return row["shorthand"], int(row["ctx"]), row["fa"]


def test_every_shape_and_setting_is_there() -> None:
    rows = _rows()
    assert len(rows) == 24
    assert {r["shorthand"] for r in rows} == {"8b", "3b", "7b", "9b", "12b", "24b", "30b-a3b"}
    assert all(r["offloaded"].startswith("0/") and r["ngl"] == "0" for r in rows)


@pytest.mark.parametrize("row", _rows(), ids=lambda r: "-".join(map(str, _key(r))))
def test_gpu_compute_buffer(row: dict[str, str]) -> None:
    predicted, _ = _predict(row)
    measured = float(row["compute_gpu_mib"])
    miss = KNOWN_LAYOUT_MISSES.get(_key(row))
    if miss is None:
        # Exact where the layout is the traced one; within 1.5 % where the K-slot rule of the
        # FA-off staged attention is a bound (7B, 24B, 8B at 32k) or a shade under (30B, 9B).
        assert predicted == pytest.approx(measured, rel=0.015), (predicted, measured)
    else:
        assert measured - predicted == pytest.approx(miss, abs=0.05)


def test_no_run_is_overestimated_by_more_than_the_k_slot_bound() -> None:
    """The old plan put the last layer's weight and layer-0 holes under every hidden state: +7-37 %."""
    worst = max((_predict(r)[0] - float(r["compute_gpu_mib"])) / float(r["compute_gpu_mib"]) for r in _rows())
    assert worst < 0.015


@pytest.mark.parametrize("row", _rows(), ids=lambda r: "-".join(map(str, _key(r))))
def test_host_compute_buffer(row: dict[str, str]) -> None:
    _, predicted = _predict(row)
    # Within 1.1 MiB: Gemma's per-cache inputs beyond the masks and indices are not modelled.
    assert abs(predicted - float(row["compute_host_mib"])) < 1.1
