"""Evidence records as observations of downstream loss: the measured value and its noise.

A record's noise is the binomial standard error of the benchmark it was measured on:
sqrt(p (1 - p) / n) for baseline score p on n items, relative to p. Baseline and quantized runs
answer the same items, so the error of their difference is below that of two independent runs
(sqrt 2 larger); without item-level data the single-run error is used, which corresponds to a
correlation of 0.5 between the two runs' per-item outcomes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import EvidenceRecord

__all__ = [
    "LM_METRICS",
    "Observation",
    "benchmark_items",
    "is_generative",
    "observation",
    "quantization_method",
    "record_loss",
]

LM_METRICS = frozenset({"mean_kld", "same_top_token", "delta_ppl", "ppl", "ppl_ratio_error"})

# Items per benchmark (test split as usually evaluated). First match wins, so the longer names come first.
_ITEMS = (
    ("multipl-humaneval", 161),  # MultiPL-E Lua HumanEval: 161 translatable problems (Cassano et al. 2023)
    ("humaneval", 164),  # Chen et al. 2021, arXiv:2107.03374; HumanEval+ keeps the 164 (EvalPlus)
    ("mbpp (lua)", 397),  # MultiPL-E Lua MBPP (the record's note counts 397)
    ("mbpp", 500),  # Austin et al. 2021, arXiv:2108.07732, test split
    ("gsm8k", 1319),  # Cobbe et al. 2021, arXiv:2110.14168, test split
    ("math lvl 5", 1324),  # MATH level 5 (Open LLM Leaderboard 'MATH-hard'), Hendrycks et al. 2021
    ("math-500", 500),  # Lightman et al. 2023 subset
    ("mmlu-pro", 12032),  # Wang et al. 2024, arXiv:2406.01574
    ("mmlu", 14042),  # Hendrycks et al. 2021, arXiv:2009.03300, test split
    ("hellaswag", 10042),  # Zellers et al. 2019, validation split
    ("arc-challenge", 1172),  # Clark et al. 2018, test split
    ("arc_challenge", 1172),
    ("arc-easy", 2376),
    ("arc_easy", 2376),
    ("winogrande", 1267),  # Sakaguchi et al. 2020, validation split
    ("truthfulqa", 817),  # Lin et al. 2022
    ("piqa", 1838),  # Bisk et al. 2020, validation split
    ("boolq", 3270),  # Clark et al. 2019, validation split
    ("gpqa diamond", 198),  # Rein et al. 2023
    ("gpqa", 448),  # Rein et al. 2023, main set
    ("aime", 30),  # one year's AIME I + II: 30 problems (sampled runs average a few draws of each)
    ("ifeval", 541),  # Zhou et al. 2023
    ("bbh", 6511),  # Suzgun et al. 2022, 23 tasks
)
DEFAULT_ITEMS = 1000
# Benchmarks scored by the likelihood of given choices (one step: a flipped answer needs the
# divergence to cross one margin) rather than by a generated answer (every generated token can go
# astray, so the divergence accumulates over the answer). First match wins.
_SCORED_CHOICES = (
    "mmlu-pro", "mmlu", "arc", "hellaswag", "winogrande", "truthfulqa", "piqa", "boolq", "openbookqa",
    "lambada", "c-eval", "cmmlu", "academic",
)  # fmt: skip
# The Open LLM Leaderboard v2 versions of BBH, GPQA and MuSR score the choices' likelihoods
# (lm-evaluation-harness lm_eval/tasks/leaderboard/{bbh_mc/_fewshot_template_yaml,
# gpqa/_template_yaml, musr/_template_yaml}: output_type multiple_choice, acc_norm); the same
# benchmarks sampled with a chain of thought (lighteval, "CoT", pass@k) are generated.
_LEADERBOARD_CHOICES = ("bbh", "musr", "gpqa (0-shot")
_SAMPLED = ("cot", "sampled", "pass@", "lighteval", "seeds")
_GENERATED = ("humaneval", "mbpp", "gsm8k", "math", "aime", "livecodebench", "ifeval", "bbh", "gpqa", "code")
# With no baseline score stated, the noise is taken at this accuracy.
_DEFAULT_SCORE = 0.6


@dataclass(frozen=True)
class Observation:
    """One record's measured relative loss (fraction) with what the fit needs to weigh it."""

    record_id: str
    source: str
    task: str
    format: str
    baseline_format: str | None
    loss: float
    noise: float
    """Standard error of `loss`: the benchmark's binomial error, or half a cited range's width."""
    params_b: float
    family: str | None
    model_name: str | None
    imatrix: bool | None
    secondary: bool
    ranged: bool
    method: str | None
    """How the checkpoint was made when the record says (autoround, gptq, awq, rtn); None: the format's usual way."""
    generative: bool
    """Scored on a generated answer (GSM8K, HumanEval) rather than on choice likelihoods (MMLU)."""


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


# Methods named in a record's id or source (never its free-text note, which may name others).
_METHODS = (("autoround", "autoround"), ("auto-round", "autoround"), ("gptq", "gptq"), ("awq", "awq"), ("rtn", "rtn"))


def quantization_method(r: EvidenceRecord) -> str | None:
    """The method behind the measured checkpoint, when the record's id or source names one."""
    text = f"{r.id} {r.source}".casefold()
    return next((method for name, method in _METHODS if name in text), None)


def is_generative(benchmark: str, task: str) -> bool:
    """Whether the benchmark scores a generated answer; by task (code, math: yes) when the name does not say."""
    text = benchmark.casefold()
    if "average" in text or "avg" in text:
        return False  # the lm-eval averages are mostly choice-scored tasks
    if any(name in text for name in _LEADERBOARD_CHOICES) and not any(m in text for m in _SAMPLED):
        return False
    if any(name in text for name in _GENERATED):
        return True
    if any(name in text for name in _SCORED_CHOICES):
        return False
    return task in {"code", "math", "reasoning", "summarization", "translation"}


def benchmark_items(benchmark: str) -> int:
    """How many items the benchmark has (DEFAULT_ITEMS when it is not in the table)."""
    text = benchmark.casefold()
    return next((n for name, n in _ITEMS if name in text), DEFAULT_ITEMS)


def observation(r: EvidenceRecord) -> Observation | None:
    """The record as an observation of downstream loss; None for LM metrics and unusable rows."""
    if r.task == "language-modelling" or r.metric in LM_METRICS:
        return None
    loss = record_loss(r)
    if loss is None:
        return None
    p = _DEFAULT_SCORE
    if r.baseline is not None and r.baseline > 0:
        p = r.baseline / 100 if r.baseline > 1 else r.baseline
    p = min(max(p, 0.02), 0.98)
    noise = math.sqrt(p * (1 - p) / benchmark_items(r.benchmark)) / p
    ranged = loss[1] - loss[0] > 1e-9
    if ranged:
        noise = max(noise, (loss[1] - loss[0]) / 2)
    if r.model is not None:
        size = r.model.params_billions
        if r.model.active_params_billions:
            size = math.sqrt(r.model.params_billions * r.model.active_params_billions)
        family, name = r.model.family, r.model.name
    else:
        lo, hi = r.model_size_range_billions or (8.0, 8.0)
        size, family, name = math.sqrt(lo * hi), None, None
    return Observation(
        record_id=r.id, source=r.source, task=r.task, format=r.format, baseline_format=r.baseline_format,
        loss=(loss[0] + loss[1]) / 2, noise=noise, params_b=size, family=family, model_name=name,
        imatrix=r.imatrix, secondary=r.provenance == "secondary", ranged=ranged,
        method=quantization_method(r), generative=is_generative(r.benchmark, r.task),
    )  # fmt: skip
