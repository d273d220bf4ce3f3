"""Expected loss of a format (and KV-cache type) for a task and a model size, from the fitted model."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ..construct import construct
from ..errors import InvalidRequestError
from .distortion import (
    ASSUMED_EQUIVALENT,
    KV_CACHE_PROXY,
    KV_CACHE_RUN,
    UNQUANTIZED,
    distortion,
    family_factor,
    family_key,
    kv_cache_distortion,
)
from .fit import format_tau, loss_model, sensitivity_key, size_factor

if TYPE_CHECKING:
    from ..dataset import Dataset

__all__ = ["TASK_BORROWING", "ExpectedLoss", "effective_params", "expected_loss"]

# Tasks without records of their own use the sensitivity of the nearest measured tasks (geometric mean).
TASK_BORROWING: dict[str, tuple[str, ...]] = {
    "code": ("math",),
    "math": ("reasoning",),
    "reasoning": ("math",),
    "chat": ("qa",),
    "qa": ("chat",),
    "summarization": ("chat", "qa"),
    "translation": ("chat", "qa"),
    "rag": ("qa", "chat"),
}
# Formats with no records of their own that take a measured format's factor: MXFP4 is NVFP4's
# element type with a coarser scale; GPTQ at 3 and 2 bits is the method measured at 4 bits.
INHERITS = {"MXFP4": "NVFP4", "MXFP4_MOE": "NVFP4", "W3A16-INT": "W4A16-INT", "W2A16-INT": "W4A16-INT"}
# Whether a task's answers are generated (divergence accumulates over every token) or, as for
# knowledge QA benchmarks, scored on given choices.
GENERATIVE_TASKS = {"qa": False}
# The range: a 90 % interval of the Student-t (ν = 4) the spread and the noise factor are fitted
# under: its 95th percentile, 2.132 (the normal 1.645 held 78 % of held-out measurements).
RANGE_Z = 2.132


class ExpectedLoss(BaseModel):
    """Expected relative loss on a task's benchmarks: fractions, 0.05 = 5% below unquantized."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    format: str
    task: str
    mid: float
    low: float
    high: float
    evidence: list[str]
    sources: list[str]
    notes: list[str]
    estimate: bool
    """True when no record measured this format on this task: the figure is carried over."""
    model_low: float = math.nan
    """The 90 % range of the model's own loss, without one benchmark run's noise (NaN where unknown)."""
    model_high: float = math.nan


def effective_params(params_b: float, active_b: float | None = None) -> float:
    """Size used for sensitivity: the parameter count, or for MoE the geometric mean of total and active."""
    if active_b:
        return math.sqrt(params_b * active_b)
    return params_b


def _check(fmt: object, task: object, params: object, active: object) -> None:
    # The result is built without validation (construct.py), so the arguments are checked here.
    if not isinstance(fmt, str) or not isinstance(task, str):
        raise InvalidRequestError(f"format and task must be strings, not {fmt!r} and {task!r}")
    for name, value in (("params_billions", params), ("active_params_billions", active)):
        if value is None and name == "active_params_billions":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise InvalidRequestError(f"{name} must be a positive number, not {value!r}")


def expected_loss(
    fmt: str,
    task: str,
    *,
    params_billions: float,
    active_params_billions: float | None = None,
    family: str | None = None,
    dataset: Dataset | None = None,
    imatrix: bool | None = None,
    cache_type_k: str = "f16",
    cache_type_v: str = "f16",
    generative: bool | None = None,
) -> ExpectedLoss:
    """Expected relative loss of `fmt` (weights, with a K/V cache of these types) on `task`."""
    from ..dataset import load_dataset

    _check(fmt, task, params_billions, active_params_billions)
    ds = dataset or load_dataset()
    if fmt.startswith("KV-"):  # "KV-q8_0" or "KV-q8_0/q4_0": unquantized weights, this cache
        k, _, v = fmt[3:].partition("/")
        fmt, cache_type_k, cache_type_v = "F16", k, v or k
    elif "+KV-" in fmt:  # "Q4_0+KV-q8_0": these weights, this cache
        fmt, _, cache = fmt.partition("+KV-")
        k, _, v = cache.partition("/")
        cache_type_k, cache_type_v = k, v or k
    weights = distortion(ds, fmt, imatrix=imatrix)
    kv = kv_cache_distortion(ds, cache_type_k, cache_type_v)
    quantized_cache = (cache_type_k, cache_type_v) != ("f16", "f16")

    def result(
        mid: float, low: float, high: float, evidence: list[str], notes: list[str], est: bool,
        model_range: tuple[float, float] | None = None,
    ) -> ExpectedLoss:  # fmt: skip
        model_low, model_high = model_range or ((low, high) if mid == 0.0 else (math.nan, math.nan))
        return construct(
            ExpectedLoss,
            format=fmt if not quantized_cache else f"{fmt}+KV-{cache_type_k}/{cache_type_v}", task=task,
            mid=mid, low=low, high=high, evidence=evidence,
            sources=sorted({ds.evidence[i].source for i in evidence if i in ds.evidence}), notes=notes, estimate=est,
            model_low=model_low, model_high=model_high,
        )  # fmt: skip

    if weights is None:
        reason = f"no quality evidence for {fmt} on ordinary (non-ternary-trained) models"
        return result(math.nan, math.nan, math.nan, [], [reason], True)
    notes: list[str] = []
    if kv is None and fmt in UNQUANTIZED:
        return result(
            math.nan, math.nan, math.nan, [],
            [f"no record measures a {cache_type_k}/{cache_type_v} KV cache: its cost is unknown"], True,
        )  # fmt: skip
    if kv is None:
        notes.append(f"the {cache_type_k}/{cache_type_v} KV cache's own cost is not in it: no record measures it")
        kv = (0.0, [])
    if fmt in UNQUANTIZED and not quantized_cache:
        return result(0.0, 0.0, 0.0, [], ["unquantized: the reference every loss is measured against"], False)

    m = loss_model(ds)
    size = effective_params(params_billions, active_params_billions)
    phi, phi_ids = family_factor(ds, family)
    scale = phi * size_factor(size, m.beta)
    unit = _units(ds, imatrix).get(fmt) or _unit(ds, fmt, weights[0], imatrix)
    borrowed: tuple[str, ...] = (task,)
    noise = 0.0  # z units: how far one evaluation of the task scatters around the model's figure
    if task == "language-modelling":
        a = 1.0  # Δ ln PPL ≈ mean KLD: the ladder itself
    else:
        gen = GENERATIVE_TASKS.get(task, True) if generative is None else generative
        mode = "gen" if gen else "mc"
        own = sensitivity_key(task, gen)
        keys = [own] if own in m.a else [sensitivity_key(t, gen) for t in TASK_BORROWING.get(task, ())]
        keys = [k for k in keys if k in m.a]
        if keys:
            a = math.exp(sum(math.log(m.a[k]) for k in keys) / len(keys))
            borrowed = tuple(k.split("/")[0] for k in keys)
        else:
            a, borrowed = m.a_pooled[mode], ()
        binomial = [m.task_noise[k] for k in keys if k in m.task_noise] or [m.task_noise_pooled.get(mode, 0.0)]
        noise = m.noise_factor * sum(binomial) / len(binomial)
        kind = "generated-answer" if gen else "multiple-choice"
        if borrowed != (task,):
            origin = " and ".join(borrowed) if borrowed else f"every {kind}"
            notes.append(f"no {task} measurements ({kind}): carried over from {origin} benchmarks")
    kv_spread = math.exp(RANGE_Z * m.spread)
    kv_units = (kv[0], kv[0] / kv_spread, kv[0] * kv_spread)
    z, z_low, z_high = (a * scale * (u + k) for u, k in zip(unit, kv_units, strict=True))
    # A 90 % interval for one evaluation: the model spread (log-normal, z_low..z_high) and the
    # evaluation's own noise (normal, additive) combined in quadrature on each side. A measured
    # gain (low < 0) is inside it: a quarter of published measurements at 4-8 bits show one.
    spread_low, spread_high, jitter = z - z_low, z_high - z, RANGE_Z * noise
    model_z = (z_low, z_high)  # the model's own loss: the spread without a run's noise
    z_low, z_high = z - math.hypot(spread_low, jitter), z + math.hypot(spread_high, jitter)

    def loss_of(value: float) -> float:
        return math.expm1(value) if task == "language-modelling" else -math.expm1(-value)

    mid, low, high = loss_of(z), loss_of(z_low), loss_of(z_high)
    model_range = (_clamp(loss_of(model_z[0])), _clamp(loss_of(model_z[1])))

    direct = [
        i for i in m.format_records.get(fmt, []) if ds.evidence[i].task in borrowed and ds.evidence[i].format == fmt
    ]
    evidence = _unique(
        [*direct, *m.format_records.get(fmt, []), *weights[1], *kv[1], *phi_ids,
         *(i for k in m.task_records if k.split("/")[0] in borrowed for i in m.task_records[k])]
    )  # fmt: skip
    if fmt in ASSUMED_EQUIVALENT and fmt not in m.c:
        like = ASSUMED_EQUIVALENT[fmt]
        if INHERITS.get(fmt) in m.c and INHERITS[fmt] != like:
            like += f" with {INHERITS[fmt]}'s measured factor"
        notes.append(f"{fmt} placed at the quality of {like} (no record measures it directly)")
    if quantized_cache and kv[0] > 0:
        measured = [i for i in kv[1] if i in ds.evidence]
        if any(ds.evidence[i].source == KV_CACHE_RUN for i in measured):
            origin = "Llama-3-8B KLD, PR #7412"
        else:  # other_runs_kv_cost: other models' runs of this cache type (or of its proxy's)
            proxy = {KV_CACHE_PROXY.get(t, t) for t in (cache_type_k, cache_type_v)} - {cache_type_k, cache_type_v}
            like = f" at {'/'.join(sorted(proxy))}'s cost" if proxy else ""
            if cache_type_k != cache_type_v:
                like += " at most, its costlier type's as both K and V"
            runs = f"{len(measured)} run" + ("s" if len(measured) != 1 else "")
            origin = f"estimated{like}: the median of {runs} on other models, not Llama-3-8B's KLD"
        notes.append(f"includes the {cache_type_k}/{cache_type_v} KV cache's cost ({origin})")
    if size >= 30:
        notes.append(
            "larger models are usually more tolerant, but by mean KLD Llama-3-70B was more sensitive than "
            "Llama-3-8B at the same GGUF type"
        )
    key = family_key(family)
    if key == "llama-3":
        notes.append("Llama 3 is 2-4x more quantization-sensitive than Llama 2 by mean KLD")
    elif phi != 1.0:
        notes.append(f"{key} measured {phi:.2g}x as sensitive as Llama 3 at the same GGUF type")
    return result(
        _clamp(mid), _clamp(low, -1.0), _clamp(high), evidence, notes, not direct or quantized_cache, model_range
    )


def _unit(ds: Dataset, fmt: str, d: float, imatrix: bool | None) -> tuple[float, float, float]:
    """(mid, low, high) of c_f × d(f) for a = scale = 1: the fitted factor and the range's log-normal spread."""
    m = loss_model(ds)
    if fmt in m.c:
        c, c_sd = m.c[fmt]
    elif INHERITS.get(fmt) in m.c:
        # Same method or same element format, another width or scale: its measured factor, less sure.
        c, c_sd = m.c[INHERITS[fmt]]
        c_sd = math.hypot(c_sd, format_tau(ds, fmt))
    else:
        c, c_sd = 1.0, format_tau(ds, fmt)  # no downstream record of its own corrects its place on the ladder
    spread = math.hypot(m.spread, c_sd)
    return (c * d, c * d * math.exp(-RANGE_Z * spread), c * d * math.exp(RANGE_Z * spread))


def _units(ds: Dataset, imatrix: bool | None) -> dict[str, tuple[float, float, float]]:
    """The GGUF types' units made monotone in KLD: no type loses less than one that diverges less.

    A type's own records can pull its factor below a neighbour's (Q4_K_M measured, IQ4_XS not);
    the ladder's order is measured directly, so it wins.
    """

    def compute() -> dict[str, tuple[float, float, float]]:
        ladder: list[tuple[float, str]] = []
        for name, f in ds.formats.items():
            found = distortion(ds, name, imatrix=imatrix)
            # Only the types the scoreboard measures (MXFP4_MOE is placed at NVFP4 by assumption).
            if f.family == "gguf" and found is not None and name not in UNQUANTIZED | ASSUMED_EQUIVALENT.keys():
                ladder.append((found[0], name))
        out: dict[str, tuple[float, float, float]] = {}
        best = (0.0, 0.0, 0.0)
        for d, name in sorted(ladder):
            u = _unit(ds, name, d, imatrix)
            best = (max(best[0], u[0]), max(best[1], u[1]), max(best[2], u[2]))
            out[name] = best
        return out

    return ds.derived(("loss_units", bool(imatrix)), compute)


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _clamp(value: float, lowest: float = 0.0) -> float:
    return min(1.0, max(lowest, value))
