"""Fitting the loss model to the downstream evidence: task sensitivity, size exponent, format factors, spread.

The model (docs/methodology.md §2): a record's loss L, written as z = -ln(1 - L), is
z = a_task × φ_family × (P / 8B)^-β × c_f × (d(f) - d(baseline)), where d is the format's KLD
above noise on the Llama-3-8B scoreboard (distortion.py) and φ the family's sensitivity from
KLD/PPL ladders. Divergence accumulates over the tokens of an answer, so z is linear in d: a
Q2_K/Q4_K_M ratio of 14 in KLD is about 13 in the GGUF code losses.

- a_task: a weighted median of z/x over the task's records (robust: one model collapsing at
  Q4_K_M does not set it), each weighted by its precision x² / (σ² + (τ_f a x)²): σ the record's
  benchmark noise, τ_f how uncertain the format's place on the ladder is. Shrunk in log space
  towards the median over every task.
- c_f: a format's own correction, the precision-weighted mean of its records' z / (a x) shrunk
  towards 1 with prior standard deviation τ_f. Formats measured by KLD hardly move (τ 0.3); a
  format placed by assumption (W4A16-INT ≈ Q4_K_M) follows its records (τ 1).
- β: the size exponent in [0, 1] with the smallest noise-weighted absolute error.
- s: the spread between models, a log-normal factor on z, solved so the median standardised
  residual is that of a normal distribution.
Secondary records (summaries of a source) enter only for a format no primary record measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .distortion import ASSUMED_EQUIVALENT, UNQUANTIZED, distortion, family_factor
from .observations import Observation, observation

if TYPE_CHECKING:
    from ..dataset import Dataset

__all__ = ["FITTED_TASKS", "LossModel", "fit_loss_model", "loss_model"]

P_REF = 8.0  # billions: the scoreboard's Llama-3-8B
FITTED_TASKS = ("code", "math", "chat", "qa")
BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
# Prior uncertainty of a format's place on the ladder (standard deviation of its factor c_f).
# Log-space standard deviations: measured by KLD; NVFP4 through another model's ΔPPL ratio; weight-only
# formats placed by assumption; integer activations (outliers make their cost a property of the model).
TAU_MEASURED, TAU_PROXY, TAU_ASSUMED, TAU_ACTIVATIONS = 0.3, 0.5, 0.7, 1.5
# Prior standard deviation of ln a_task around the all-task median.
TASK_PRIOR_SD = 0.7
# Model-to-model spread assumed while the format factors are fitted (log-normal sd on z); the
# spread reported is fitted afterwards (_spread).
MODEL_SPREAD_PRIOR = 0.6
# Secondary records count as this much noisier (and at least this noisy, in z units).
SECONDARY_FACTOR, SECONDARY_NOISE = 3.0, 0.03
# A record's loss never counts as more than this certain (noise floor, in z units).
MIN_NOISE = 0.003


@dataclass(frozen=True)
class LossModel:
    """The fitted parameters and the records each rests on."""

    a: dict[str, float]
    a_pooled: float
    beta: float
    c: dict[str, tuple[float, float]]
    """format → (factor, its posterior standard deviation)."""
    spread: float
    task_records: dict[str, list[str]] = field(default_factory=dict)
    format_records: dict[str, list[str]] = field(default_factory=dict)
    used: int = 0


@dataclass(frozen=True)
class _Point:
    obs: Observation
    z: float
    sigma: float
    x0: float
    """φ × (d(f) - d(b)) before the size factor and c_f."""
    tau: float


def format_tau(ds: Dataset, fmt: str) -> float:
    """How uncertain a format's distortion is before its own downstream records speak."""
    if fmt in {"W8A8-INT", "W4A8"}:
        return TAU_ACTIVATIONS
    if fmt in ASSUMED_EQUIVALENT and not any(
        r.format == fmt and r.metric == "mean_kld" for r in ds.evidence.values()
    ):  # fmt: skip
        return TAU_ASSUMED
    if fmt == "NVFP4":
        return TAU_PROXY  # placed through a ΔPPL ratio on another model (PR #25446)
    return TAU_MEASURED


def loss_model(ds: Dataset) -> LossModel:
    """The model fitted to this dataset's evidence, once per dataset."""
    return ds.derived("loss_model", lambda: fit_loss_model(ds))


def _points(ds: Dataset) -> list[_Point]:
    observations = [o for r in ds.evidence.values() if (o := observation(r)) is not None]
    primary_formats = {o.format for o in observations if not o.secondary}
    points = []
    for o in observations:
        if o.secondary and o.format in primary_formats:
            continue  # a summary never moves a format that primary runs measure
        d = distortion(ds, o.format, imatrix=o.imatrix)
        if d is None:
            continue
        db = distortion(ds, o.baseline_format, imatrix=o.imatrix) if o.baseline_format else (0.0, [])
        if db is None or d[0] - db[0] <= 0:
            continue
        phi = family_factor(ds, o.family or o.model_name)[0]
        z = -math.log(max(1e-6, 1 - min(o.loss, 0.99)))
        sigma = max(MIN_NOISE, o.noise / max(0.01, 1 - min(o.loss, 0.99)))
        if o.secondary:  # a number read in a summary: the table behind it could not be checked
            sigma = max(SECONDARY_NOISE, SECONDARY_FACTOR * sigma)
        points.append(_Point(o, z, sigma, phi * (d[0] - db[0]), format_tau(ds, o.format)))
    return points


def size_factor(params_b: float, beta: float) -> float:
    """(P / 8B)^-β: how much less a model of P billion parameters loses than the 8B reference."""
    return (params_b / P_REF) ** -beta


def _x(p: _Point, beta: float, c: dict[str, tuple[float, float]]) -> float:
    return p.x0 * size_factor(p.obs.params_b, beta) * c.get(p.obs.format, (1.0, 0.0))[0]


def _weighted_median(values: list[float], weights: list[float]) -> float:
    pairs = sorted(zip(values, weights, strict=True))
    total = sum(weights)
    seen = 0.0
    for value, weight in pairs:
        seen += weight
        if seen >= total / 2:
            return value
    return pairs[-1][0]


def _fit_a(points: list[_Point], beta: float, c: dict[str, tuple[float, float]], guess: float) -> tuple[float, float]:
    """(weighted median of z/x, the relative precision a² Σw) over `points`."""
    ratios, weights = [], []
    for p in points:
        x = _x(p, beta, c)
        if x <= 0:
            continue
        ratios.append(p.z / x)
        weights.append(x * x / (p.sigma**2 + (p.tau * guess * x) ** 2))
    if not ratios:
        return guess, 0.0
    a = max(1e-3, _weighted_median(ratios, weights))
    return a, a * a * sum(weights)


def _fit_once(points: list[_Point], beta: float, formats: dict[str, float]) -> LossModel:
    c: dict[str, tuple[float, float]] = {}
    a_pool, _ = _fit_a(points, beta, c, 1.0)
    a: dict[str, float] = {}
    for _ in range(3):
        a_pool, _ = _fit_a(points, beta, c, a_pool)
        for task in FITTED_TASKS:
            mine = [p for p in points if p.obs.task == task]
            est, precision = _fit_a(mine, beta, c, a.get(task, a_pool))
            prior = 1 / TASK_PRIOR_SD**2
            a[task] = math.exp((precision * math.log(est) + prior * math.log(a_pool)) / (precision + prior))
        for fmt, tau in formats.items():
            mine = [p for p in points if p.obs.format == fmt and p.obs.task in a]
            if mine:
                c[fmt] = _fit_c(mine, a, beta, tau)
    return LossModel(a=a, a_pooled=a_pool, beta=beta, c=c, spread=0.0)


def _fit_c(points: list[_Point], a: dict[str, float], beta: float, tau: float) -> tuple[float, float]:
    """A format's factor c and its posterior sd in log space: a grid over ln c with prior N(0, τ²).

    In log space, because near-lossless formats carry tiny x: ten 8-bit records each 2 points
    off say together that the format is far from its assumed place, which a linear prior hides.
    """
    grid = [i / 4 for i in range(-12, 21)]  # ln c from -3 to 5
    logpost = []
    for lc in grid:
        c = math.exp(lc)
        total = -0.5 * (lc / tau) ** 2
        for p in points:
            zhat = a[p.obs.task] * p.x0 * size_factor(p.obs.params_b, beta) * c
            v = p.sigma**2 + (MODEL_SPREAD_PRIOR * zhat) ** 2
            total += -0.5 * ((p.z - zhat) ** 2 / v + math.log(v))
        logpost.append(total)
    top = max(logpost)
    weights = [math.exp(lp - top) for lp in logpost]
    mean = sum(w * g for w, g in zip(weights, grid, strict=True)) / sum(weights)
    var = sum(w * (g - mean) ** 2 for w, g in zip(weights, grid, strict=True)) / sum(weights)
    return (math.exp(mean), math.sqrt(var))


def _spread(points: list[_Point], m: LossModel) -> tuple[float, float]:
    """The log-normal model spread s by maximum likelihood (variance σ² + (s ẑ)² per record), and the NLL."""
    triples = []
    for p in points:
        zhat = m.a.get(p.obs.task, m.a_pooled) * _x(p, m.beta, m.c)
        triples.append((p.z - zhat, p.sigma, zhat))

    def nll(s: float) -> float:
        total = 0.0
        for r, sig, zh in triples:
            v = sig**2 + (s * zh) ** 2
            total += math.log(v) + r * r / v
        return total

    best = min((i / 10 for i in range(31)), key=nll)
    return best, nll(best)


def fit_loss_model(ds: Dataset) -> LossModel:
    """Fit a_task, β, c_f and the spread to every downstream record of `ds`."""
    points = _points(ds)
    if not points:
        return LossModel(a={}, a_pooled=1.0, beta=0.25, c={}, spread=1.0)
    formats = {p.obs.format: p.tau for p in points if p.obs.format not in UNQUANTIZED}
    # β and the spread by maximum likelihood: each β's a, c fitted, then its spread.
    fits = [_fit_once(points, b, formats) for b in BETAS]
    best, (spread, _) = min(((m, _spread(points, m)) for m in fits), key=lambda pair: pair[1][1])
    task_records: dict[str, list[str]] = {}
    format_records: dict[str, list[str]] = {}
    for p in points:
        task_records.setdefault(p.obs.task, []).append(p.obs.record_id)
        format_records.setdefault(p.obs.format, []).append(p.obs.record_id)
    return LossModel(
        a=best.a, a_pooled=best.a_pooled, beta=best.beta, c=best.c, spread=spread,
        task_records=task_records, format_records=format_records, used=len(points),
    )  # fmt: skip
