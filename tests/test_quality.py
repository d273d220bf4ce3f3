"""The expected-loss model: the KLD ladder, carrying anchors across formats and sizes, the range."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest
import yaml
from quantadvisor.dataset import Dataset, load_dataset
from quantadvisor.quality import ExpectedLoss, expected_loss, kld_equivalents

if TYPE_CHECKING:
    from pathlib import Path

LADDER = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "Q3_K_M", "Q2_K")
TASKS = ("code", "math", "reasoning", "chat", "qa", "summarization", "translation", "rag")


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return load_dataset()


def _loss(ds: Dataset, fmt: str, task: str, params: float = 8.0, active: float | None = None) -> ExpectedLoss:
    return expected_loss(fmt, task, params_billions=params, active_params_billions=active, dataset=ds)


def test_ladder_comes_from_the_llama3_8b_scoreboard(ds: Dataset) -> None:
    ladder = kld_equivalents(ds)
    assert ladder["Q4_K_M"][0] == pytest.approx(0.0313, rel=0.02)  # llama.cpp perplexity README, LLaMA 3 8B
    kld = [ladder[f][0] for f in LADDER]
    assert kld == sorted(kld), "fewer bits, more divergence"
    assert ladder["F16"][0] == 0.0
    assert all(ds.evidence[i].source == "llama-cpp-perplexity-readme" for i in ladder["Q4_K_M"][1])


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("params", [1.0, 8.0, 70.0])
def test_fewer_bits_never_lose_less_and_the_range_holds_the_mid(ds: Dataset, task: str, params: float) -> None:
    losses = [_loss(ds, f, task, params) for f in LADDER]
    mids = [e.mid for e in losses]
    assert mids == sorted(mids)
    for e in losses:
        assert 0.0 <= e.low <= e.mid <= e.high <= 1.0
        assert e.evidence
        assert e.sources


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("params", [1.0, 8.0, 70.0])
def test_the_range_grows_with_the_divergence_too(ds: Dataset, task: str, params: float) -> None:
    """Bounds, like the mid, never shrink for a format further from unquantized on the KLD ladder."""
    ladder = kld_equivalents(ds)
    losses = [_loss(ds, f, task, params) for f in sorted(LADDER, key=lambda f: ladder[f][0])]
    assert [e.low for e in losses] == sorted(e.low for e in losses)
    assert [e.high for e in losses] == sorted(e.high for e in losses)


@pytest.mark.parametrize("task", ["code", "math", "chat"])
def test_larger_models_lose_less_at_the_mid_but_keep_the_no_benefit_case(ds: Dataset, task: str) -> None:
    small, large = _loss(ds, "Q4_K_M", task, 8.0), _loss(ds, "Q4_K_M", task, 70.0)
    assert large.mid < small.mid
    assert any("Llama-3-70B was more sensitive" in n for n in large.notes)


def test_unquantized_is_the_reference_and_a_format_off_the_ladder_is_unknown(ds: Dataset) -> None:
    assert _loss(ds, "F16", "code").mid == 0.0
    tq = _loss(ds, "TQ1_0", "code")
    assert math.isnan(tq.mid)
    assert tq.estimate


def test_tasks_without_their_own_records_say_where_they_borrow_from(ds: Dataset) -> None:
    e = _loss(ds, "Q4_K_M", "summarization")
    assert any("carried over from chat" in n for n in e.notes)
    assert not any("carried over" in n for n in _loss(ds, "Q4_K_M", "code").notes)


def test_code_rests_on_primary_runs_beside_the_secondary_range(ds: Dataset) -> None:
    """Llama-3.1 W4A16 HumanEval runs lose 0-3 %; qMeter's secondary W4A16 range is 5-22 %; GGUF
    Q4_K_M code runs lose ~1.5 % against Q8_0. The secondary record stays in the evidence."""
    e = _loss(ds, "Q4_K_M", "code", 8.0)
    primary = [i for i in e.evidence if ds.evidence[i].task == "code" and ds.evidence[i].provenance == "primary"]
    assert len(primary) >= 10
    assert "shi-ding-2025-qmeter" in e.sources
    assert any("partly on secondary" in n for n in e.notes)
    assert 0.01 < e.mid < 0.10


def test_w8a8_int_speaks_only_for_itself(ds: Dataset) -> None:
    """Outlier activations break INT8 activations, so its records never move weight-only formats."""
    q8 = _loss(ds, "Q8_0", "code", 13.0)
    assert not any(ds.evidence[i].format == "W8A8-INT" for i in q8.evidence)
    w8a8 = _loss(ds, "W8A8-INT", "code", 13.0)
    assert w8a8.high >= 0.9, "qMeter's 'up to 92 %' on a 13B model stays in the range"
    assert w8a8.mid > q8.mid


def test_a_near_lossless_8bit_anchor_cannot_erase_the_4bit_estimate(tmp_path: Path, ds: Dataset) -> None:
    """Ten FP8 runs scoring 1 % above baseline (benchmark noise) carried to Q4_K_M would be -5 %
    gains each; weighted by distance² they barely move the mid, where a median would go to 0."""
    before = _loss(ds, "Q4_K_M", "code", 8.0).mid
    records = [
        {
            "id": f"test-fp8-noise-{i}", "source": "kurtic-2024-bf16-or-death", "provenance": "primary",
            "model": {"family": "test", "name": f"Test-{i}", "params_billions": 8.0}, "format": "FP8",
            "imatrix": None, "task": "code", "benchmark": "HumanEval", "metric": "pass@1",
            "higher_is_better": True, "baseline": 60.0, "quantized": 60.6, "locator": "test",
        }
        for i in range(10)
    ]  # fmt: skip
    (tmp_path / "noise.yaml").write_text(yaml.safe_dump({"schema_version": 1, "evidence": records}), encoding="utf-8")
    noisy = load_dataset(tmp_path)
    after = _loss(noisy, "Q4_K_M", "code", 8.0).mid
    assert after > 0.5 * before > 0


@pytest.mark.parametrize(
    ("fmt", "task", "params"),
    [(None, "code", 8.0), ("Q4_K_M", None, 8.0), ("Q4_K_M", "code", 0.0), ("Q4_K_M", "code", float("nan"))],
)
def test_expected_loss_checks_its_arguments(ds: Dataset, fmt: object, task: object, params: float) -> None:
    from quantadvisor.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError):
        expected_loss(fmt, task, params_billions=params, dataset=ds)  # type: ignore[arg-type]


def test_gguf_code_runs_are_direct_and_a_2bit_collapse_does_not_decide_8bit(ds: Dataset) -> None:
    """Nyamsuren's GGUF runs measure Q4_K_M and Q2_K on code (against Q8_0). Q2_K loses ~25 %
    there; carried down to Q8_0 with full weight, it would outvote the 8-bit runs."""
    q4, q2, q8 = (_loss(ds, f, "code", 7.0) for f in ("Q4_K_M", "Q2_K", "Q8_0"))
    assert not q4.estimate
    assert not q2.estimate
    assert 0.15 < q2.mid < 0.35
    assert q8.mid < 0.02
    assert q8.mid < q4.mid < q2.mid
