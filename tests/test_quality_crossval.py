"""The expected-loss model against the records it never saw: benchmarks/quality_crossval.py as a regression test.

tests/data/quality_crossval.json holds the model's leave-one-source-out MAE over the held-out
records when it was recorded. New evidence may change the fit; the model must not get more than
10 % worse on those records, and must keep beating the naive predictors on all of them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "benchmarks" / "quality_crossval.py"
RECORDED = json.loads((ROOT / "tests" / "data" / "quality_crossval.json").read_text(encoding="utf-8"))


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_crossval", BENCHMARK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["quality_crossval"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cv() -> tuple[ModuleType, list[Any]]:
    module = _module()
    return module, module.crossval()


def test_mae_on_the_recorded_records_has_not_worsened(cv: tuple[ModuleType, list[Any]]) -> None:
    module, rows = cv
    recorded = set(RECORDED["records"])
    held = [r for r in rows if r.record in recorded]
    assert len(held) >= 0.9 * len(recorded), "most recorded records are still in data/"
    mae = module.figures(held, "model").mae
    assert mae <= 1.10 * RECORDED["model_mae"], f"MAE {mae:.4f} vs recorded {RECORDED['model_mae']:.4f}"


def test_the_model_beats_both_naive_predictors(cv: tuple[ModuleType, list[Any]]) -> None:
    module, rows = cv
    model, median, nothing = (module.figures(rows, w) for w in ("model", "median", "no_loss"))
    assert model.mae < median.mae < nothing.mae
    assert model.inside >= 0.85  # within one point of the 90 % range
    assert model.inside_strict >= 0.80  # with no tolerance: the range holds the benchmark noise itself
    assert model.median_width <= 0.06


def test_the_ladder_order_within_a_source(cv: tuple[ModuleType, list[Any]]) -> None:
    module, rows = cv
    rho, sources = module.ladder_spearman(rows)
    assert sources >= 3
    assert rho >= 0.9  # 0.97 when recorded (2026-12-02); the target
    baseline, _ = module.ladder_spearman(rows, "median")
    assert rho >= baseline


def test_every_task_and_family_beats_or_ties_the_format_median(cv: tuple[ModuleType, list[Any]]) -> None:
    """Item 2 of the issue, per slice: the mid's error is no worse than the other sources' median
    of the same format in any task or format family with 20 or more held-out records (FP8 ties:
    both predict about 0 and the error is benchmark noise, hence the 2 % slack)."""
    module, rows = cv
    figs = module.report(rows)
    for name, by in figs.items():
        if name == "all" or by["model"]["n"] < 20:
            continue
        assert by["model"]["mae"] <= 1.02 * by["format median"]["mae"], name
