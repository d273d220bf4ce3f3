"""Expected quality loss of a format for a task and a model, built from the evidence records.

The model (docs/methodology.md has the equations and sources):

1. Every format gets a KLD-equivalent k(f): its mean KL divergence on the llama.cpp Llama-3-8B
   scoreboard; serving formats are placed on that ladder through the records that compare them.
2. Task loss scales with sqrt(k): the scoreboard's RMS Δp (a probability-level error) grows as
   the square root of the KLD (q2_K/q4_K_M: KLD ×14.2, RMS Δp ×3.9 → exponent 0.51).
3. Every evidence record on the requested task (or the nearest task, said so) is an anchor: its
   measured relative loss is carried to the target format by sqrt(k(f)/k(anchor)) and to the
   target model size by (P_anchor/P)^β. The point estimate is the weighted mean of the carried
   values, each anchor weighted by min(its distance, the target's)² in sqrt(KLD) (so a
   near-lossless 8-bit run does not decide a 4-bit loss, nor a 2-bit collapse an 8-bit one); the
   range is the 5-95 % spread of the anchors (weighted by distance² alone, the same for every
   target) over β from 0 (no size benefit: Llama-3-70B had higher KLD than Llama-3-8B) to 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from .construct import construct
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .dataset import Dataset
    from .models import EvidenceRecord

__all__ = ["TASK_BORROWING", "ExpectedLoss", "expected_loss", "kld_equivalents", "record_loss"]

# Size exponents β of the size factor (P_anchor / P)^β; mid is a judgement between the bounds.
BETA_MID, BETA_RESILIENT, BETA_NONE = 0.25, 0.5, 0.0
# The range: these weighted quantiles of the anchors' low and high values (weighted by distance²),
# so one lightly weighted anchor (an 8-bit run carried to 2-bit) cannot set the bound alone.
RANGE_QUANTILES = (0.05, 0.95)
# Tasks without direct evidence borrow the nearest measured task's anchors.
TASK_BORROWING: dict[str, tuple[str, ...]] = {
    "code": ("code",),
    "math": ("math",),
    "reasoning": ("math",),
    "chat": ("chat",),
    "qa": ("qa",),
    "summarization": ("chat", "qa"),
    "translation": ("chat", "qa"),
    "rag": ("qa", "chat"),
    "language-modelling": ("language-modelling",),
}
_SCOREBOARD = "llama-cpp-perplexity-readme"
# Integer activation quantization fails in its own way (outlier activations), so its records
# speak only for themselves and are never carried over to weight-only formats.
# W8A16-INT (per-channel INT8) sits on the ladder only by assumption, so it is kept out too.
_OWN_EVIDENCE_ONLY = {"W8A8-INT", "W4A8", "W8A16-INT"}

_UNQUANTIZED = {"F32", "F16", "BF16", "BF16-safetensors", "FP16"}
# Serving formats placed on the GGUF ladder by assumption, when no record compares them directly.
_ASSUMED_EQUIVALENT = {
    "W4A16-INT": "Q4_K_M",  # group-128 INT4 (GPTQ/AWQ), 4.1-4.2 bpw, vs Q4_K's 4.5 bpw k-quant
    "W8A16-INT": "Q8_0",
    "FP8": "Q8_0",
    "W8A8-INT": "Q8_0",
    "W4A8": "Q4_K_M",
    "MXFP4": "NVFP4",
    "MXFP4_MOE": "NVFP4",
}


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


@dataclass(frozen=True)
class _Anchor:
    record_id: str
    source: str
    loss_low: float
    loss_high: float
    kld_distance: float
    params_b: float
    secondary: bool


def kld_equivalents(ds: Dataset) -> dict[str, tuple[float, list[str]]]:
    """Format name → (KLD-equivalent on the Llama-3-8B scale, evidence ids it rests on).

    Computed once per dataset; treat the result as read-only.
    """
    return ds.derived("kld_equivalents", lambda: _kld_equivalents(ds))


def _kld_equivalents(ds: Dataset) -> dict[str, tuple[float, list[str]]]:
    ladder: dict[str, tuple[float, list[str]]] = {}
    with_imatrix: dict[str, tuple[float, list[str]]] = {}
    for r in ds.evidence.values():
        if r.source != _SCOREBOARD or r.metric != "mean_kld" or r.quantized is None or r.model is None:
            continue
        if r.model.name != "Llama-3-8B" or "-cmp-" in r.id or "-vs-" in r.id:
            continue
        target = ladder if not r.imatrix else with_imatrix
        if r.format not in target or (r.imatrix and "10m" in r.id):
            target[r.format] = (r.quantized, [r.id])
    for name, value in with_imatrix.items():
        ladder.setdefault(name, value)  # IQ types exist only with an imatrix
    for name in _UNQUANTIZED:
        ladder[name] = (0.0, [])
    # NVFP4: the PR #25446 pair (both quantized from the same Q8_0 master) gives its ΔPPL
    # relative to Q4_K_M's; carried onto the ladder in proportion.
    pair = {r.format: r for r in ds.evidence.values() if r.source == "llama-cpp-pr-25446"}
    if {"NVFP4", "Q4_K_M"} <= pair.keys() and "Q4_K_M" in ladder:
        nv, q4 = pair["NVFP4"], pair["Q4_K_M"]
        if nv.baseline and nv.quantized and q4.quantized and q4.baseline and q4.quantized > q4.baseline:
            ratio = (nv.quantized - nv.baseline) / (q4.quantized - q4.baseline)
            ladder["NVFP4"] = (ladder["Q4_K_M"][0] * ratio, [nv.id, q4.id, *ladder["Q4_K_M"][1]])
    for name, like in _ASSUMED_EQUIVALENT.items():
        if name not in ladder and like in ladder:
            ladder[name] = ladder[like]
    return ladder


def record_loss(r: EvidenceRecord) -> tuple[float, float] | None:
    """The record's loss as a (low, high) fraction, positive = worse than baseline."""
    if r.relative_change_range is not None:
        a, b = (-x if r.higher_is_better else x for x in r.relative_change_range)
        return (min(a, b), max(a, b))
    if r.relative_change is not None:
        change = r.relative_change
    elif r.baseline and r.quantized is not None:
        change = (r.quantized - r.baseline) / r.baseline
    else:
        return None
    loss = -change if r.higher_is_better else change
    return (loss, loss)


def _params(r: EvidenceRecord) -> float:
    if r.model is not None:
        if r.model.active_params_billions:
            return math.sqrt(r.model.params_billions * r.model.active_params_billions)
        return r.model.params_billions
    lo, hi = r.model_size_range_billions or (8.0, 8.0)
    return math.sqrt(lo * hi)


def effective_params(params_b: float, active_b: float | None = None) -> float:
    """Size used for sensitivity: the parameter count, or for MoE the geometric mean of total and active."""
    if active_b:
        return math.sqrt(params_b * active_b)
    return params_b


def _anchors(ds: Dataset, task: str, fmt: str, ladder: dict[str, tuple[float, list[str]]]) -> tuple[list[_Anchor], str]:
    """The task records that anchor `fmt`'s loss (scanned once per dataset, task and format)."""
    return ds.derived(("anchors", task, fmt), lambda: _find_anchors(ds, task, fmt, ladder))


def _find_anchors(
    ds: Dataset, task: str, fmt: str, ladder: dict[str, tuple[float, list[str]]]
) -> tuple[list[_Anchor], str]:
    borrowed = TASK_BORROWING.get(task, (task,))
    out: list[_Anchor] = []
    for use in borrowed:
        for r in ds.evidence.values():
            if r.task != use or r.metric in {"mean_kld", "same_top_token", "delta_ppl", "ppl"}:
                continue
            if r.format not in ladder:
                continue
            if (r.format in _OWN_EVIDENCE_ONLY or fmt in _OWN_EVIDENCE_ONLY) and r.format != fmt:
                continue
            loss = record_loss(r)
            if loss is None:
                continue
            k_q = ladder[r.format][0]
            k_b = ladder[r.baseline_format][0] if r.baseline_format in ladder else 0.0
            distance = math.sqrt(k_q) - math.sqrt(k_b)
            if distance <= 0:
                continue
            out.append(_Anchor(r.id, r.source, loss[0], loss[1], distance, _params(r), r.provenance == "secondary"))
        if out:
            return out, use
    return out, borrowed[0]


def expected_loss(
    fmt: str,
    task: str,
    *,
    params_billions: float,
    active_params_billions: float | None = None,
    family: str | None = None,
    dataset: Dataset | None = None,
) -> ExpectedLoss:
    """Expected relative loss of `fmt` on `task` for a model of `params_billions`."""
    from .dataset import load_dataset

    # The result is built without validation (construct.py), so the arguments are checked here.
    if not isinstance(fmt, str) or not isinstance(task, str):
        raise InvalidRequestError(f"format and task must be strings, not {fmt!r} and {task!r}")
    for name, value in (("params_billions", params_billions), ("active_params_billions", active_params_billions)):
        if value is None and name == "active_params_billions":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise InvalidRequestError(f"{name} must be a positive number, not {value!r}")
    ds = dataset or load_dataset()
    ladder = kld_equivalents(ds)
    notes: list[str] = []
    if fmt in _UNQUANTIZED:
        return construct(
            ExpectedLoss,
            format=fmt, task=task, mid=0.0, low=0.0, high=0.0, evidence=[], sources=[],
            notes=["unquantized: the reference every loss is measured against"], estimate=False,
        )  # fmt: skip
    if fmt not in ladder:
        return construct(
            ExpectedLoss,
            format=fmt, task=task, mid=math.nan, low=math.nan, high=1.0, evidence=[], sources=[],
            notes=[f"no quality evidence for {fmt} on ordinary (non-ternary-trained) models"], estimate=True,
        )  # fmt: skip
    k_f, ladder_ids = ladder[fmt]
    if fmt in _ASSUMED_EQUIVALENT:
        notes.append(f"{fmt} placed at the quality of {_ASSUMED_EQUIVALENT[fmt]} (no record compares them directly)")
    size = effective_params(params_billions, active_params_billions)
    anchors, used_task = _anchors(ds, task, fmt, ladder)
    if used_task != task:
        notes.append(f"no {task} measurements: carried over from {used_task} benchmarks")
    direct = [a for a in anchors if ds.evidence[a.record_id].format == fmt]
    if not anchors:
        # Fall back on the language-modelling ladder itself: loss ≈ sqrt(KLD) scaled as RMS Δp.
        mid = math.sqrt(k_f)
        return construct(
            ExpectedLoss,
            format=fmt, task=task, mid=mid, low=mid / 2, high=mid * 2, evidence=ladder_ids,
            sources=sorted({ds.evidence[i].source for i in ladder_ids}),
            notes=[*notes, "no task anchors: from the KLD ladder alone"], estimate=True,
        )  # fmt: skip
    mids, lows, highs, weights = [], [], [], []
    for a in anchors:
        scale = math.sqrt(k_f) / a.kld_distance
        ratio = a.params_b / size
        centre = (a.loss_low + a.loss_high) / 2
        mids.append(centre * scale * ratio**BETA_MID)
        candidates = [a.loss_low * scale * ratio**b for b in (BETA_NONE, BETA_RESILIENT)]
        candidates += [a.loss_high * scale * ratio**b for b in (BETA_NONE, BETA_RESILIENT)]
        lows.append(min(candidates))
        highs.append(max(candidates))
        # Carrying an anchor up multiplies its benchmark noise by `scale`: an 8-bit run within noise
        # of its baseline says little about 4-bit, so its weight falls as distance². Carrying one
        # down shrinks the noise but not the error of the sqrt(KLD) law (2-bit losses grow faster),
        # so no anchor counts for more than one measured at the target (methodology §2.3).
        weights.append(min(a.kld_distance, math.sqrt(k_f)) ** 2)
    # The range weighs anchors by distance² alone: the same weights for every target format, so
    # the bounds grow with sqrt(k(f)) as the mid does, and a noisy near-lossless run carried far
    # cannot set them.
    spread = [a.kld_distance**2 for a in anchors]
    if not sum(weights):  # a target at zero divergence (k(f) = 0) that is not unquantized by name
        weights = spread
    mid = sum(w * m for w, m in zip(weights, mids, strict=True)) / sum(weights)
    low = _weighted_quantile(lows, spread, RANGE_QUANTILES[0])
    high = _weighted_quantile(highs, spread, RANGE_QUANTILES[1])
    if size >= 30:
        notes.append(
            "larger models are usually more tolerant, but by mean KLD Llama-3-70B was more sensitive than "
            "Llama-3-8B at the same GGUF type: the range keeps the no-benefit case"
        )
    if family and "llama-3" in family.lower().replace(" ", "-"):
        notes.append("Llama 3 is 2-4x more quantization-sensitive than Llama 2 by mean KLD")
    if all(a.secondary for a in anchors):
        notes.append(f"rests wholly on secondary summaries ({len(anchors)} record(s), labelled in the evidence)")
    elif any(a.secondary for a in anchors):
        notes.append("rests partly on secondary summaries (labelled in the evidence)")
    evidence = [a.record_id for a in anchors] + [i for i in ladder_ids if i not in {a.record_id for a in anchors}]
    clamp = _clamp
    return construct(
        ExpectedLoss,
        format=fmt,
        task=task,
        mid=clamp(mid),
        low=clamp(min(low, mid)),
        high=clamp(max(high, mid)),
        evidence=evidence,
        sources=sorted({ds.evidence[i].source for i in evidence}),
        notes=notes,
        estimate=not direct,
    )


def _weighted_quantile(values: list[float], weights: list[float], q: float) -> float:
    """The smallest value at or below which at least a share `q` of the total weight lies."""
    total = sum(weights)
    seen = 0.0
    for value, weight in sorted(zip(values, weights, strict=True)):
        seen += weight
        if seen >= q * total - 1e-15:
            return value
    return max(values)


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))
