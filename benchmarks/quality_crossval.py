"""Leave-one-source-out cross-validation of the expected-loss model against two naive predictors.

Run: python benchmarks/quality_crossval.py [--json] [--data=DIR]  (DIR: extra data/ files, as --data)

For every source with point measurements on a downstream task (code, math, reasoning, chat, qa …), the model
is fitted on the dataset without that source and predicts the source's records. Printed per task
and per format family, for the model and for two baselines computed the same way:

- "no loss": mid = low = high = 0;
- "format median": the median measured loss of the same format in the other sources (any
  downstream task), with the 10th-90th percentile of those measurements as its range; with no
  other measurement of the format, 0.

Figures: MAE of the mid (points of relative loss), the share of measured losses inside
[low - tol, high + tol] with tol = 1 point (benchmark noise: 1 point is 1.6 HumanEval problems),
the median range width, and Spearman's rho between measured and predicted loss across the quant
ladder within one source (one model and benchmark, with the baseline as a point at 0; groups
with at least three formats).

Targets are the records with a single measured value; cited ranges (secondary summaries,
"0-3 % across 8B-405B") are left out, as they are not measurements of one model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from quantadvisor.dataset import load_dataset
from quantadvisor.quality import expected_loss, record_loss
from quantadvisor.quality.observations import is_generative, observation

if TYPE_CHECKING:
    from quantadvisor.dataset import Dataset
    from quantadvisor.models import EvidenceRecord

TOLERANCE = 0.01
DOWNSTREAM = ("code", "math", "reasoning", "chat", "qa", "summarization", "translation", "rag")
FAMILIES = ("GGUF", "W4A16", "W8A8-INT", "FP8", "NVFP4/MXFP4")
_FAMILY_OF = {
    "W4A16-INT": "W4A16", "W8A16-INT": "W4A16", "W3A16-INT": "W4A16", "W2A16-INT": "W4A16",
    "W8A8-INT": "W8A8-INT", "W4A8": "W8A8-INT", "FP8": "FP8",
    "NVFP4": "NVFP4/MXFP4", "MXFP4": "NVFP4/MXFP4", "MXFP4_MOE": "NVFP4/MXFP4",
}  # fmt: skip

Prediction = tuple[float, float, float]
"""(mid, low, high) as fractions."""
Predictor = Callable[["Dataset", "EvidenceRecord"], Prediction]


@dataclass(frozen=True)
class Row:
    """One held-out record and what each predictor said about it."""

    record: str
    source: str
    task: str
    family: str
    format: str
    group: str
    measured: float
    noise: float
    """The measured loss's binomial standard error (observations.py)."""
    model: Prediction
    no_loss: Prediction
    median: Prediction


def family_of(ds: Dataset, fmt: str) -> str:
    """The format family a figure is reported under (W8A16-INT counts with W4A16: weight-only INT)."""
    if fmt in _FAMILY_OF:
        return _FAMILY_OF[fmt]
    found = ds.formats.get(fmt)
    return "GGUF" if found is not None and found.family == "gguf" else "other"


def targets(ds: Dataset) -> list[tuple[EvidenceRecord, float]]:
    """Every record with one measured loss on a downstream task."""
    out = []
    for r in ds.evidence.values():
        if r.task not in DOWNSTREAM or r.model is None:
            continue
        loss = record_loss(r)
        if loss is None or loss[1] - loss[0] > 1e-9:
            continue
        out.append((r, loss[0]))
    return out


def _noise(r: EvidenceRecord) -> float:
    o = observation(r)
    return o.noise if o is not None else 0.0


def model_predictor(train: Dataset, r: EvidenceRecord) -> Prediction:
    """The expected-loss model fitted on `train`, for the held-out record `r` (against its own baseline)."""
    assert r.model is not None
    kw = {
        "params_billions": r.model.params_billions,
        "active_params_billions": r.model.active_params_billions,
        "family": r.model.family,
        "dataset": train,
        "imatrix": r.imatrix,
        "generative": is_generative(r.benchmark, r.task),
    }
    e = expected_loss(r.format, r.task, **kw)  # type: ignore[arg-type]
    if r.baseline_format is None:
        return (_num(e.mid), _num(e.low), _num(e.high))
    b = expected_loss(r.baseline_format, r.task, **kw)  # type: ignore[arg-type]
    # Relative to a quantized baseline: (1 - L_f) / (1 - L_b) = 1 - loss.
    return tuple(_relative(x, _num(b.mid)) for x in (_num(e.mid), _num(e.low), _num(e.high)))  # type: ignore[return-value]


def _relative(loss: float, baseline_loss: float) -> float:
    return 1 - (1 - loss) / (1 - baseline_loss) if baseline_loss < 1 else loss


def _num(x: float) -> float:
    return 0.0 if math.isnan(x) else x


def _median_predictor(others: list[tuple[EvidenceRecord, float]], fmt: str) -> Prediction:
    values = sorted(v for r, v in others if r.format == fmt)
    if not values:
        return (0.0, 0.0, 0.0)
    return (statistics.median(values), _quantile(values, 0.1), _quantile(values, 0.9))


def _quantile(sorted_values: list[float], q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def crossval(ds: Dataset | None = None, predictor: Predictor = model_predictor) -> list[Row]:
    """Hold out each source in turn; predict its records from the rest."""
    ds = ds or load_dataset()
    all_targets = targets(ds)
    rows: list[Row] = []
    for source in sorted({r.source for r, _ in all_targets}):
        train = dataclasses.replace(ds, evidence={k: v for k, v in ds.evidence.items() if v.source != source})
        others = [(r, v) for r, v in all_targets if r.source != source]
        for r, measured in all_targets:
            if r.source != source:
                continue
            assert r.model is not None
            group = f"{source}|{r.model.name}|{r.benchmark}|{r.baseline_format or 'unquantized'}"
            row = Row(
                record=r.id, source=source, task=r.task, family=family_of(ds, r.format), format=r.format,
                group=group, measured=measured, noise=_noise(r), model=predictor(train, r), no_loss=(0.0, 0.0, 0.0),
                median=_median_predictor(others, r.format),
            )  # fmt: skip
            rows.append(row)
    return rows


@dataclass(frozen=True)
class Figures:
    """One predictor's figures over a set of rows (fractions; MAE and widths in loss units)."""

    n: int
    mae: float
    inside: float
    inside_strict: float
    """The share inside [low, high] with no tolerance: the range itself holds the benchmark's noise."""
    median_width: float


def figures(rows: list[Row], which: str) -> Figures:
    """MAE, share inside the range (± TOLERANCE) and median width for predictor `which`."""
    preds = [getattr(r, which) for r in rows]
    errors = [abs(p[0] - r.measured) for p, r in zip(preds, rows, strict=True)]
    inside = [p[1] - TOLERANCE <= r.measured <= p[2] + TOLERANCE for p, r in zip(preds, rows, strict=True)]
    strict = [p[1] <= r.measured <= p[2] for p, r in zip(preds, rows, strict=True)]
    return Figures(
        n=len(rows),
        mae=statistics.fmean(errors),
        inside=sum(inside) / len(rows),
        inside_strict=sum(strict) / len(rows),
        median_width=statistics.median(p[2] - p[1] for p in preds),
    )


def ladder_spearman(rows: list[Row], which: str = "model") -> tuple[float, int]:
    """Mean Spearman rho across each source's ladder: per format, the median over the source's records.

    Only models measured at two or more formats on a benchmark count, so every format's median is
    over the same models.

    One model's ladder on one benchmark is mostly benchmark noise at 8 and 4 bits (a 164-item
    benchmark moves 0.6 point per problem); the source's median per format is what it says about
    the ladder. The baseline (loss 0) is a point; sources with at least two quantized formats count.
    """
    cells: dict[str, list[Row]] = {}
    for r in rows:
        cells.setdefault(r.group, []).append(r)
    by_source: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for group, members in cells.items():
        if len({r.format for r in members}) < 2:
            continue  # a model measured at one format says nothing about the ladder's order
        source, _, _, base = group.split("|")
        for r in members:
            by_source.setdefault(f"{source}|{base}", {}).setdefault(r.format, []).append(
                (r.measured, getattr(r, which)[0])
            )
    rhos = []
    for formats in by_source.values():
        if len(formats) < 2:
            continue
        points = [(statistics.median(m for m, _ in v), statistics.median(p for _, p in v)) for v in formats.values()]
        points.append((0.0, 0.0))
        rho = _pearson(_ranks([p[0] for p in points]), _ranks([p[1] for p in points]))
        if rho is not None:
            rhos.append(rho)
    return (statistics.fmean(rhos) if rhos else math.nan, len(rhos))


def spearman(rows: list[Row], which: str = "model") -> tuple[float, int]:
    """Mean Spearman rho across the ladder within each (source, model, benchmark) group of ≥ 3 formats."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append((r.measured, getattr(r, which)[0]))
    rhos = []
    for quantized in groups.values():
        if len(quantized) < 2:
            continue
        points = [*quantized, (0.0, 0.0)]  # the baseline itself: no loss against itself
        measured, predicted = _ranks([p[0] for p in points]), _ranks([p[1] for p in points])
        rho = _pearson(measured, predicted)
        if rho is not None:
            rhos.append(rho)
    return (statistics.fmean(rhos) if rhos else math.nan, len(rhos))


def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and abs(values[order[j + 1]] - values[order[i]]) < 1e-12:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _pearson(a: list[float], b: list[float]) -> float | None:
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va == 0 or vb == 0:
        return None
    return sum((x - ma) * (y - mb) for x, y in zip(a, b, strict=True)) / math.sqrt(va * vb)


PREDICTORS = (("model", "model"), ("no loss", "no_loss"), ("format median", "median"))


def report(rows: list[Row]) -> dict[str, dict[str, dict[str, float]]]:
    """Figures by slice ("all", "task:code", "family:GGUF" …) and predictor."""
    slices: dict[str, list[Row]] = {"all": rows}
    for task in DOWNSTREAM:
        slices[f"task:{task}"] = [r for r in rows if r.task == task]
    for fam in FAMILIES:
        slices[f"family:{fam}"] = [r for r in rows if r.family == fam]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, subset in slices.items():
        if not subset:
            continue
        out[name] = {label: dataclasses.asdict(figures(subset, which)) for label, which in PREDICTORS}
        for label, which in PREDICTORS:
            rho, groups = spearman(subset, which)
            ladder, sources = ladder_spearman(subset, which)
            out[name][label] |= {
                "spearman": rho,
                "spearman_groups": groups,
                "ladder_spearman": ladder,
                "ladder_sources": sources,
            }
    return out


def main(argv: list[str]) -> int:
    data = next((a.split("=", 1)[1] for a in argv if a.startswith("--data=")), None)
    rows = crossval(load_dataset(data) if data else None)
    figs = report(rows)
    if "--json" in argv:
        print(json.dumps(figs, indent=2))
        return 0
    sources = sorted({r.source for r in rows})
    print(f"{len(rows)} held-out records from {len(sources)} sources. MAE and width in points of relative loss;")
    print(f"in%: inside [low, high] ± {TOLERANCE * 100:.0f} point; in0%: inside [low, high] with no tolerance;")
    print("rho: Spearman within (source, model, benchmark); rhoL: across a source's ladder (its median per format)")
    print(f"{'slice':18} {'n':>4}  " + "  ".join(f"{label:^38}" for label, _ in PREDICTORS))
    cols = f"{'MAE':>6} {'in%':>4} {'in0%':>4} {'width':>6} {'rho':>5} {'rhoL':>5}  "
    print(f"{'':18} {'':>4}  " + "  ".join(cols for _ in PREDICTORS))
    for name, by in figs.items():
        cells = []
        for label, _ in PREDICTORS:
            f = by[label]
            mae, inside, noisy, width = (f[k] * 100 for k in ("mae", "inside", "inside_strict", "median_width"))
            cells.append(
                f"{mae:6.2f} {inside:4.0f} {noisy:4.0f} {width:6.2f} {f['spearman']:5.2f} {f['ladder_spearman']:5.2f}  "
            )
        print(f"{name:18} {by['model']['n']:>4.0f}  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
