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
- s and k: the spread between models (a log-normal factor on z) and how much of one run's
  binomial error σ a paired quantized-vs-baseline difference carries, fitted together by maximum
  likelihood. A new measurement on a task scatters by k × the task's typical σ (the median over
  its records) around the model's figure: estimate.py's range is that predictive interval.
Secondary records (summaries of a source) enter only for a format no primary record measures.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .distortion import ASSUMED_EQUIVALENT, UNQUANTIZED, distortion, family_factor
from .observations import Observation, observation

if TYPE_CHECKING:
    from ..dataset import Dataset

__all__ = ["LossModel", "fit_loss_model", "loss_model", "sensitivity_key", "size_factor"]

P_REF = 8.0  # billions: the scoreboard's Llama-3-8B
BETAS = (0.0, 0.25, 0.5, 0.75, 1.0)
# Prior uncertainty of a format's place on the ladder (standard deviation of its factor c_f).
# Log-space standard deviations: measured by KLD; NVFP4 through another model's ΔPPL ratio; weight-only
# formats placed by assumption; integer activations (outliers make their cost a property of the model).
TAU_MEASURED, TAU_PROXY, TAU_ASSUMED, TAU_ACTIVATIONS = 0.3, 1.0, 0.7, 1.5
# Methods a format's usual checkpoints are made with (W4A16-INT checkpoints are GPTQ or AWQ);
# a record naming another is fitted apart, with this much more prior uncertainty (log space).
# Round-to-nearest is how FP8, NVFP4/MXFP4 and 8-bit integer checkpoints are usually made (with
# calibrated scales); at 4 bits and below an integer format's usual way is GPTQ or AWQ.
_USUAL_METHOD = {
    "W4A16-INT": ("gptq", "awq"), "W3A16-INT": ("gptq",), "W2A16-INT": ("gptq",),
    "W8A16-INT": ("gptq", "rtn"), "W8A8-INT": ("gptq", "rtn"), "W4A8": ("gptq", "awq", "rtn"),
    "FP8": ("rtn",), "NVFP4": ("rtn",), "MXFP4": ("rtn",), "MXFP4_MOE": ("rtn",),
}  # fmt: skip
TAU_METHOD = 0.7
# Degrees of freedom of the Student-t likelihood behind β and the spread.
SPREAD_DOF = 4.0
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
    """sensitivity by "task/mode" (mode: gen for a generated answer, mc for scored choices)."""
    a_pooled: dict[str, float]
    """by mode: what a task without records of that mode gets."""
    beta: float
    c: dict[str, tuple[float, float]]
    """format → (factor, its posterior standard deviation)."""
    spread: float
    noise_factor: float = 1.0
    """k: a paired evaluation's error as a multiple of one run's binomial error."""
    task_noise: dict[str, float] = field(default_factory=dict)
    """by "task/mode": the median one-run binomial standard error of its primary records (z units)."""
    task_noise_pooled: dict[str, float] = field(default_factory=dict)
    """by mode: the same over every task of that mode."""
    task_records: dict[str, list[str]] = field(default_factory=dict)
    format_records: dict[str, list[str]] = field(default_factory=dict)
    used: int = 0


def sensitivity_key(task: str, generative: bool) -> str:
    """The key of a_task: the task and how its benchmarks score ("code/gen", "qa/mc")."""
    return f"{task}/{'gen' if generative else 'mc'}"


@dataclass(frozen=True)
class _Point:
    key: str
    fmt: str
    """The format, with "@method" when the checkpoint was made another way than usual."""
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
    # The fit takes ~0.7 s: it is kept on disk with the dataset, keyed by the modules that compute it.
    return ds.persisted("loss_model", LossModel, lambda: fit_loss_model(ds), _fit_code())


@functools.cache
def _fit_code() -> tuple[Path, ...]:
    """The modules the fit depends on (resolved once: every expected_loss call asks for the model)."""
    here = Path(__file__).resolve().parent
    return tuple(here / name for name in ("fit.py", "observations.py", "distortion.py"))


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
        key = sensitivity_key(o.task, o.generative)
        fmt, tau = o.format, format_tau(ds, o.format)
        if o.method and o.method not in _USUAL_METHOD.get(o.format, ()):
            # A checkpoint made another way than the format's usual files (AutoRound-tuned GGUF,
            # RTN INT4): its own factor, so it neither sets the format's nor the task's scale.
            fmt, tau = f"{o.format}@{o.method}", math.hypot(tau, TAU_METHOD)
        points.append(_Point(key, fmt, o, z, sigma, phi * (d[0] - db[0]), tau))
    return points


def size_factor(params_b: float, beta: float) -> float:
    """(P / 8B)^-β: how much less a model of P billion parameters loses than the 8B reference."""
    return float((params_b / P_REF) ** -beta)


def _x(p: _Point, beta: float, c: dict[str, tuple[float, float]]) -> float:
    return p.x0 * size_factor(p.obs.params_b, beta) * c.get(p.fmt, (1.0, 0.0))[0]


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
        # A record of a format placed by assumption says as much about its own factor as about the
        # task: it counts (τ_measured / τ_f)² as much, so such keys lean on the pooled sensitivity.
        weights.append(x * x / (p.sigma**2 + (p.tau * guess * x) ** 2) * (TAU_MEASURED / p.tau) ** 2)
    if not ratios:
        return guess, 0.0
    a = max(1e-3, _weighted_median(ratios, weights))
    return a, a * a * sum(weights)


def _fit_once(points: list[_Point], beta: float, formats: dict[str, float]) -> LossModel:
    c: dict[str, tuple[float, float]] = {}
    modes = {"gen": [p for p in points if p.key.endswith("/gen")], "mc": [p for p in points if p.key.endswith("/mc")]}
    a_all, _ = _fit_a(points, beta, c, 1.0)
    pool = dict.fromkeys(modes, a_all)
    a: dict[str, float] = {}
    keys = sorted({p.key for p in points})
    for _ in range(3):
        a_all, _ = _fit_a(points, beta, c, a_all)
        for mode, mine in modes.items():
            est, precision = _fit_a(mine, beta, c, pool[mode])
            pool[mode] = _shrink(est, precision, a_all)
        for key in keys:
            mode = key.rsplit("/", 1)[1]
            est, precision = _fit_a([p for p in points if p.key == key], beta, c, a.get(key, pool[mode]))
            a[key] = _shrink(est, precision, pool[mode])
        for fmt, tau in formats.items():
            mine = [p for p in points if p.fmt == fmt]
            if mine:
                c[fmt] = _fit_c(mine, a, beta, tau)
    return LossModel(a=a, a_pooled=pool, beta=beta, c=c, spread=0.0)


def _shrink(estimate: float, precision: float, towards: float) -> float:
    """ln a shrunk towards ln `towards` with prior sd TASK_PRIOR_SD (precision: of the estimate, relative)."""
    prior = 1 / TASK_PRIOR_SD**2
    return math.exp((precision * math.log(estimate) + prior * math.log(towards)) / (precision + prior))


def _fit_c(points: list[_Point], a: dict[str, float], beta: float, tau: float) -> tuple[float, float]:
    """A format's factor c and its posterior sd in log space: a grid over ln c with prior N(0, τ²), Student-t records.

    In log space, because near-lossless formats carry tiny x: ten 8-bit records each 2 points
    off say together that the format is far from its assumed place, which a linear prior hides.
    """
    grid = [i / 4 for i in range(-12, 21)]  # ln c from -3 to 5
    logpost = []
    for lc in grid:
        c = math.exp(lc)
        total = -0.5 * (lc / tau) ** 2
        for p in points:
            zhat = a[p.key] * p.x0 * size_factor(p.obs.params_b, beta) * c
            v = p.sigma**2 + (MODEL_SPREAD_PRIOR * zhat) ** 2
            # Student-t, as for the spread: one eval-setup outlier must not move a format's factor.
            total += -0.5 * (math.log(v) + (SPREAD_DOF + 1) * math.log1p((p.z - zhat) ** 2 / (SPREAD_DOF * v)))
        logpost.append(total)
    top = max(logpost)
    weights = [math.exp(lp - top) for lp in logpost]
    mean = sum(w * g for w, g in zip(weights, grid, strict=True)) / sum(weights)
    var = sum(w * (g - mean) ** 2 for w, g in zip(weights, grid, strict=True)) / sum(weights)
    return (math.exp(mean), math.sqrt(var))


# The grids the spread s (log-normal sd on z) and the paired-noise factor k are searched on.
SPREADS = tuple(i / 10 for i in range(31))
NOISE_FACTORS = tuple(i / 10 for i in range(3, 16))


def _spread(
    points: list[_Point], m: LossModel, factors: tuple[float, ...] = NOISE_FACTORS
) -> tuple[float, float, float]:
    """(s, k, NLL): the model spread and the paired-noise factor by maximum likelihood.

    Each record's variance is (k σ)² + (s ẑ)². σ is one run's binomial error; the quantized and
    the baseline run answer the same items, so their difference has sqrt(2 (1 - ρ)) times that
    for a per-item correlation ρ, which k measures (k = 1: ρ = 0.5). Student-t (ν = 4) rather than
    normal: a record no model explains (an eval-setup change worth 20 points) widens every range far less.
    """
    triples = []
    for p in points:
        zhat = m.a[p.key] * _x(p, m.beta, m.c)
        triples.append(((p.z - zhat) ** 2, p.sigma**2, zhat**2))

    def nll(s: float, k: float) -> float:
        total = 0.0
        s2, k2 = s * s, k * k
        for r2, sig2, zh2 in triples:
            v = k2 * sig2 + s2 * zh2
            total += math.log(v) + (SPREAD_DOF + 1) * math.log1p(r2 / (SPREAD_DOF * v))
        return total

    best = min(((s, k) for s in SPREADS for k in factors), key=lambda sk: nll(*sk))
    return best[0], best[1], nll(*best)


def _task_noise(points: list[_Point]) -> tuple[dict[str, float], dict[str, float]]:
    """The median binomial standard error (z units) of each task key's primary records, and by mode."""
    by_key: dict[str, list[float]] = {}
    by_mode: dict[str, list[float]] = {}
    for p in points:
        if p.obs.secondary:
            continue
        by_key.setdefault(p.key, []).append(p.sigma)
        by_mode.setdefault(p.key.rsplit("/", 1)[1], []).append(p.sigma)

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    return {k: median(v) for k, v in by_key.items()}, {k: median(v) for k, v in by_mode.items()}


def fit_loss_model(ds: Dataset) -> LossModel:
    """Fit a_task, β, c_f and the spread to every downstream record of `ds`."""
    points = _points(ds)
    if not points:
        return LossModel(a={}, a_pooled={"gen": 1.0, "mc": 1.0}, beta=0.25, c={}, spread=1.0)
    formats = {p.fmt: p.tau for p in points if p.obs.format not in UNQUANTIZED}
    # β: the likelihood-weighted mean over the grid (each β's a, c and spread fitted). The
    # likelihood is flat in β, so its argmax would flip between neighbours on any new record.
    # The noise factor is a property of the benchmarks, not of β: found once at the grid's middle.
    _, k, _ = _spread(points, _fit_once(points, BETAS[len(BETAS) // 2], formats))
    scored = [(b, _spread(points, _fit_once(points, b, formats), (k,))[2]) for b in BETAS]
    top = min(nll for _, nll in scored)
    weights = [(b, math.exp(-(nll - top) / 2)) for b, nll in scored]
    beta = sum(b * w for b, w in weights) / sum(w for _, w in weights)
    best = _fit_once(points, beta, formats)
    spread, factor, _ = _spread(points, best)
    noise, noise_pooled = _task_noise(points)
    task_records: dict[str, list[str]] = {}
    format_records: dict[str, list[str]] = {}
    for p in points:
        task_records.setdefault(p.key, []).append(p.obs.record_id)
        format_records.setdefault(p.obs.format, []).append(p.obs.record_id)
    return LossModel(
        a=best.a, a_pooled=best.a_pooled, beta=best.beta, c=best.c, spread=spread, noise_factor=factor,
        task_noise=noise, task_noise_pooled=noise_pooled, task_records=task_records,
        format_records=format_records, used=len(points),
    )  # fmt: skip
