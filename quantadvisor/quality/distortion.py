"""How far each format moves a model's next-token distribution: KLD-equivalents, KV-cache cost, family factors.

Every weight format gets a distortion d(f): its mean KL divergence on the llama.cpp Llama-3-8B
scoreboard above that table's own F16 noise row (the 16-bit logit cast costs 0.00055 there).
Serving formats that no record places on that scale are given a stated equivalent, and their
own downstream records then correct it (fit.py). A quantized KV cache adds its own KLD (PR #7412,
Llama-3-8B). A model family's sensitivity comes from KLD or PPL ladders that measure it beside
a Llama-3 reference at the same GGUF type.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..dataset import Dataset

__all__ = [
    "ASSUMED_EQUIVALENT",
    "KV_CACHE_PROXY",
    "KV_CACHE_RUN",
    "UNQUANTIZED",
    "distortion",
    "family_factor",
    "family_key",
    "kld_equivalents",
    "kv_cache_distortion",
    "other_runs_kv_cost",
]

SCOREBOARD = "llama-cpp-perplexity-readme"
KV_CACHE_RUN = "llama-cpp-pr-7412"
"""The run every KV-cache type it measured is priced from (Llama-3-8B, one f16 noise-floor row)."""
_FAMILY_RUN = "ik-llama-cpp-pr-83"

UNQUANTIZED = frozenset({"F32", "F16", "BF16", "BF16-safetensors", "FP16"})
# Serving formats placed on the GGUF ladder by assumption, when no record compares them directly;
# their own downstream records correct the placement (fit.py, a format factor shrunk towards 1).
ASSUMED_EQUIVALENT = {
    "W4A16-INT": "Q4_K_M",  # group-128 INT4 (GPTQ/AWQ), 4.1-4.2 bpw, vs Q4_K's 4.5 bpw k-quant
    "W8A16-INT": "Q8_0",
    "W3A16-INT": "Q3_K_M",  # group-128 INT3 (GPTQ), ~3.2 bpw
    "W2A16-INT": "Q2_K",  # group-128 INT2 (GPTQ), ~2.2 bpw
    "FP8": "Q8_0",
    "W8A8-INT": "Q8_0",
    "W4A8": "Q4_K_M",
    "MXFP4": "NVFP4",
    "MXFP4_MOE": "NVFP4",
}
# llama.cpp's KV-cache types (common/arg.cpp, --cache-type-k/-v).
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


def kld_equivalents(ds: Dataset) -> dict[str, tuple[float, list[str]]]:
    """Format name → (mean KLD on the Llama-3-8B scoreboard, evidence ids it rests on).

    The raw table values (the F16 noise row not subtracted; distortion() does that). Computed once
    per dataset; treat the result as read-only.
    """
    return ds.derived("kld_equivalents", lambda: _kld_equivalents(ds, imatrix=False))


def _kld_equivalents(ds: Dataset, *, imatrix: bool) -> dict[str, tuple[float, list[str]]]:
    plain: dict[str, tuple[float, list[str]]] = {}
    with_imatrix: dict[str, tuple[float, list[str]]] = {}
    for r in ds.evidence.values():
        if r.source != SCOREBOARD or r.metric != "mean_kld" or r.quantized is None or r.model is None:
            continue
        if r.model.name != "Llama-3-8B" or "-cmp-" in r.id or "-vs-" in r.id:
            continue
        target = plain if not r.imatrix else with_imatrix
        if r.format not in target or (r.imatrix and "10m" in r.id):
            target[r.format] = (r.quantized, [r.id])
    first, second = (with_imatrix, plain) if imatrix else (plain, with_imatrix)
    ladder = dict(first)
    for name, value in second.items():
        ladder.setdefault(name, value)  # IQ types exist only with an imatrix
    for name in UNQUANTIZED:
        ladder[name] = (0.0, [])
    # NVFP4: the PR #25446 pair (both quantized from the same Q8_0 master) gives its ΔPPL
    # relative to Q4_K_M's; carried onto the ladder in proportion.
    pair = {r.format: r for r in ds.evidence.values() if r.source == "llama-cpp-pr-25446"}
    if {"NVFP4", "Q4_K_M"} <= pair.keys() and "Q4_K_M" in ladder:
        nv, q4 = pair["NVFP4"], pair["Q4_K_M"]
        if nv.baseline and nv.quantized and q4.quantized and q4.baseline and q4.quantized > q4.baseline:
            ratio = (nv.quantized - nv.baseline) / (q4.quantized - q4.baseline)
            ladder["NVFP4"] = (ladder["Q4_K_M"][0] * ratio, [nv.id, q4.id, *ladder["Q4_K_M"][1]])
    for name, like in ASSUMED_EQUIVALENT.items():
        if name not in ladder and like in ladder:
            ladder[name] = ladder[like]
    return ladder


def _noise_floor(ds: Dataset) -> float:
    row = ds.evidence.get("l3-8b-scoreboard-f16-kld")
    return row.quantized if row is not None and row.quantized is not None else 0.0


def distortion(ds: Dataset, fmt: str, *, imatrix: bool | None = None) -> tuple[float, list[str]] | None:
    """d(f): the format's KLD above the scoreboard's F16 noise row, and its evidence; None off the ladder."""
    return ds.derived(("distortion", fmt, bool(imatrix)), lambda: _distortion(ds, fmt, imatrix=bool(imatrix)))


def _distortion(ds: Dataset, fmt: str, *, imatrix: bool) -> tuple[float, list[str]] | None:
    weights, plus, cache = fmt.partition("+KV-")
    if plus:  # "Q4_0+KV-q8_0": the weights' distortion and the cache's, added
        k, _, v = cache.partition("/")
        w, kv = _distortion(ds, weights, imatrix=imatrix), kv_cache_distortion(ds, k, v or k)
        return None if w is None or kv is None else (w[0] + kv[0], [*w[1], *kv[1]])
    if fmt in UNQUANTIZED:
        return (0.0, [])
    ladder = ds.derived(("ladder", imatrix), lambda: _kld_equivalents(ds, imatrix=imatrix))
    if fmt not in ladder:
        return None
    value, ids = ladder[fmt]
    floor = _noise_floor(ds)
    # Never below a tenth of the table value: a row at the floor is still a quantization.
    return (max(value - floor, value / 10), list(ids))


def kv_cache_distortion(ds: Dataset, cache_k: str, cache_v: str) -> tuple[float, list[str]] | None:
    """The KLD a quantized K/V cache adds on the scoreboard's scale, and its records; None unmeasured.

    PR #7412 measured f16 weights with each cache type on Llama-3-8B, beside its own f16 row (the
    run's noise floor) and q8_0 weights; the cache's KLD above that floor is carried onto the
    scoreboard in proportion to the two tables' q8_0-weights rows. Types that run did not reach
    (q4_0 K and V, say) take other_runs_kv_cost(): an estimate from other models' runs.
    """
    k, v = (_UNQUANTIZED_CACHE.get(t.casefold(), t.casefold()) for t in (cache_k, cache_v))
    if (k, v) == ("f16", "f16"):
        return (0.0, [])
    # Once per dataset and pair: every option of a plan asks, and each answer scans the evidence.
    return ds.derived(("kv_cache", k, v), lambda: _kv_cache_distortion(ds, k, v))


def _kv_cache_distortion(ds: Dataset, k: str, v: str) -> tuple[float, list[str]] | None:
    rows = {r.format: r for r in ds.evidence.values() if r.source == KV_CACHE_RUN and r.metric == "mean_kld"}
    name = f"KV-{k}" if k == v else f"KV-{k}/{v}"
    hit, floor, weights = rows.get(name), rows.get("KV-f16"), rows.get("Q8_0")
    board = distortion(ds, "Q8_0")
    if hit is None or floor is None or hit.quantized is None or floor.quantized is None:
        return other_runs_kv_cost(ds, k, v)
    scale = 1.0
    if weights is not None and weights.quantized and board and weights.quantized > floor.quantized:
        scale = board[0] / (weights.quantized - floor.quantized)
    ids = [hit.id, floor.id] + ([weights.id] if weights is not None else [])
    return (max(0.0, hit.quantized - floor.quantized) * scale, ids)


# f32 and bf16 caches are unquantized as f16 is: priced as f16 (no cost) on either side of a pair.
_UNQUANTIZED_CACHE = {"f32": "f16", "bf16": "f16"}
# Cache types no run measures, placed at the cost of the type with the same 32-value blocks and
# bits (IQ4_NL: 4.5 bpw with a non-linear grid; Q4_1: Q4_0 plus an offset, 5.0 bpw). An assumption.
KV_CACHE_PROXY = {"iq4_nl": "q4_0", "q4_1": "q4_0"}


def other_runs_kv_cost(ds: Dataset, cache_k: str, cache_v: str) -> tuple[float, list[str]] | None:
    """A K/V cache's cost from the runs outside PR #7412 that measured it: the median over them.

    Only runs with the same type for K and V count (one K-only run without llama.cpp's rotation
    would set a K-only cost 13x the K+V one). Each compares one model's weights with an f16 cache
    against the same weights with this cache ("Q4_0+KV-q4_0" against Q4_0), in perplexity (Δ ln PPL,
    which mean KLD approximates for a small divergence) or in mean KLD, and is put on Llama 3's scale
    by its model's family factor. A pair of two types (K q4_0, V f16 or q8_0) costs at most what the
    costlier type costs as both K and V: that bound is its price. A type no run measures takes its
    KV_CACHE_PROXY's cost. Other models, contexts and llama.cpp versions (some with the K/V rotation
    of PR #21038, some without): an estimate, and the expected loss says so.
    """
    k, v = (_UNQUANTIZED_CACHE.get(t.casefold(), t.casefold()) for t in (cache_k, cache_v))
    if k != v:
        sides = [kv_cache_distortion(ds, t, t) for t in (k, v) if t != "f16"]
        if any(side is None for side in sides) or not sides:
            return None
        costly = max((side for side in sides if side is not None), key=lambda side: side[0])
        return (costly[0], list(costly[1]))
    for t in (k, KV_CACHE_PROXY.get(k, k)):
        costs, ids = [], []
        for r in ds.evidence.values():
            weights, plus, cache = r.format.partition("+KV-")
            if not plus or r.source == KV_CACHE_RUN or r.task != "language-modelling" or r.baseline_format != weights:
                continue
            rk, _, rv = cache.casefold().partition("/")
            if (rk, rv or rk) != (t, t) or r.quantized is None:
                continue
            if r.metric == "mean_kld":
                cost = max(0.0, r.quantized)
            elif r.metric == "ppl" and r.baseline and r.baseline > 0 and r.quantized > 0:
                cost = max(0.0, math.log(r.quantized / r.baseline))
            else:
                continue
            phi = family_factor(ds, (r.model.family or r.model.name) if r.model else None)[0]
            costs.append(cost / phi)
            ids.append(r.id)
        if costs:
            return (statistics.median(costs), ids)
    return None


def family_key(name: str | None) -> str | None:
    """A model or family name reduced to the family the ladders speak of ("Llama-3.1-8B" → "llama-3")."""
    if not name:
        return None
    text = name.casefold().replace("_", "-").replace(" ", "-")
    for pattern, key in _FAMILIES:
        if re.search(pattern, text):
            return key
    return None


_FAMILIES = (
    (r"codellama|code-llama", "llama-2"),
    (r"llama-?2", "llama-2"),
    (r"llama-?3", "llama-3"),
    (r"llama-?1|^llama-\d+b", "llama-1"),
    (r"gemma-?2", "gemma-2"),
    (r"gemma-?3", "gemma-3"),
    (r"qwen-?2\.5|qwen2\.5", "qwen2.5"),
    (r"mistral-nemo", "mistral-nemo"),
)


def family_factor(ds: Dataset, family: str | None) -> tuple[float, list[str]]:
    """How sensitive a family is against Llama-3 at the same GGUF type (1.0 when no ladder measures it)."""
    key = family_key(family)
    table = ds.derived("family_factors", lambda: _family_factors(ds))
    return table.get(key, (1.0, [])) if key else (1.0, [])


def _family_factors(ds: Dataset) -> dict[str, tuple[float, list[str]]]:
    """Geometric-mean ratio of a family's KLD (or PPL error) to the Llama-3 reference of the same table and type."""
    ratios: dict[str, list[float]] = {}
    ids: dict[str, list[str]] = {}
    # The README's comparison table: Llama-2-7B/70B and Llama-3-70B beside a Llama-3-8B run (ids "-cmp-").
    ref = {
        r.format: r
        for r in ds.evidence.values()
        if r.source == SCOREBOARD and r.metric == "mean_kld" and "-cmp-" in r.id and r.quantized
    }
    # The PR #83 table: PPL error at IQ4_XS for eight models, Llama-3.1-8B (base) the reference.
    family_rows = [r for r in ds.evidence.values() if r.source == _FAMILY_RUN and r.quantized and r.model]
    base = next((r for r in family_rows if r.model and r.model.name == "Llama-3.1-8B"), None)
    for r in ds.evidence.values():
        if r.model is None or not r.quantized:
            continue
        key = family_key(r.model.family) or family_key(r.model.name)
        if key is None:
            continue
        other: float | None = None
        if r.source == SCOREBOARD and r.metric == "mean_kld" and r.model.name != "Llama-3-8B":
            match = ref.get(r.format)
            other = match.quantized if match is not None else None
        elif r.source == _FAMILY_RUN and base is not None and r is not base:
            other = base.quantized
        if other:
            ratios.setdefault(key, []).append(r.quantized / other)
            ids.setdefault(key, []).append(r.id)
    return {
        key: (math.exp(statistics.fmean(math.log(x) for x in values)), ids[key])
        for key, values in ratios.items()
        if key != "llama-3"  # the reference family itself (its 70B's higher KLD stays a size note)
    }
