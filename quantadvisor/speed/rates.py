"""Per-type kernel rates of a GGUF layout and the model-shape counts that decode and prefill share.

Pure arithmetic with small identity-keyed caches: a planner asks for every placement of one layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..architecture import ModelSpec
    from ..memory.runtime import Layout, MemoryEstimate
    from .constants import Bound, SpeedConstants
    from .facts import HostFacts

__all__ = [
    "efficiencies",
    "harmonic",
    "host_read_gbps",
    "host_type_rate",
    "kernel_rate",
    "kv_read_bytes",
    "largest_part",
    "layout_rates",
    "shape_counts",
]


def _table(pairs: tuple[tuple[str, float], ...]) -> dict[str, float]:
    return dict(pairs)


# Keyed by identity and holding the constants: an id alone could be reused by a later object
# (a fit that builds many SpeedConstants would read a dead one's tables).
_TABLES: dict[int, tuple[SpeedConstants, tuple[dict[str, float], ...]]] = {}


def efficiencies(c: SpeedConstants) -> tuple[dict[str, float], ...]:
    """(decode, prefill, decode cap per TFLOPS, prefill on a catalog tensor rate, host) tables."""
    hit = _TABLES.get(id(c))
    if hit is not None and hit[0] is c:
        return hit[1]
    tables = (
        _table(c.decode_efficiency), _table(c.prefill_efficiency), _table(c.decode_cap_gbps_per_tflops),
        _table(c.prefill_efficiency_tensor), _table(c.host_type_efficiency),
    )  # fmt: skip
    if len(_TABLES) > 64:
        _TABLES.clear()
    _TABLES[id(c)] = (c, tables)
    return tables


def harmonic(type_bytes: tuple[tuple[str, int], ...], table: dict[str, float], default: float) -> float:
    """Byte-weighted harmonic mean of per-type efficiencies: time adds up per byte."""
    total = sum(n for _, n in type_bytes)
    if total <= 0:
        return default
    return total / sum(n / table.get(ty, default) for ty, n in type_bytes)


_SHAPES: dict[int, tuple[object, tuple[int, int, float]]] = {}


def shape_counts(spec: ModelSpec) -> tuple[int, int, float]:
    """(MoE layers, attention layers, share of sliding-window layers), cached by identity."""
    hit = _SHAPES.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    n = spec.n_layers
    n_moe = sum(1 for il in range(n) if spec.is_moe_layer(il)) if spec.is_moe else 0
    n_attn = sum(1 for il in range(n) if spec.has_attention(il))
    swa = (sum(1 for il in range(n) if spec.is_swa(il)) / max(1, n)) if spec.sliding_window and spec.swa_layers else 0.0
    if len(_SHAPES) > 256:
        _SHAPES.clear()
    _SHAPES[id(spec)] = (spec, (n_moe, n_attn, swa))
    return n_moe, n_attn, swa


_LAYOUT_RATES: dict[tuple[object, ...], tuple[object, object, tuple[float, ...]]] = {}


def kernel_rate(
    type_bytes: tuple[tuple[str, int], ...],
    eff: dict[str, float],
    cap: dict[str, float] | None,
    bw: float,
    tflops: float | None,
    default_eff: float,
) -> float | None:
    """GB/s at which a part's bytes are read: per type min(bandwidth x efficiency, TFLOPS x cap),
    combined by bytes (times add up). None for an empty part."""
    total = sum(n for _, n in type_bytes)
    if total <= 0:
        return None
    inverse = 0.0
    for ty, n in type_bytes:
        rate = bw * eff.get(ty, default_eff)
        if cap is not None and tflops:
            rate = min(rate, tflops * cap.get(ty, 1.0))
        inverse += n / rate
    return total / inverse


def layout_rates(
    layout: Layout, c: SpeedConstants, bw: float, tflops: float | None, scale: float, tensor: bool
) -> tuple[float, ...]:
    """(repeating dense, output, expert) decode GB/s, the prefill efficiency and the host's per-type
    factors (dense, expert) of a layout on one GPU, cached: a planner asks for every placement."""
    key = (id(layout), id(c), bw, tflops, scale, tensor)
    hit = _LAYOUT_RATES.get(key)
    if hit is not None and hit[0] is layout and hit[1] is c:
        return hit[2]
    dec, pp, cap, pp_tensor, host = efficiencies(c)
    bw_s = bw * scale
    rep = kernel_rate(layout.dense_type_bytes, dec, cap, bw_s, tflops, c.other_decode_efficiency) or bw_s * 0.5
    out = kernel_rate(layout.output_type_bytes, dec, cap, bw_s, tflops, c.other_decode_efficiency) or rep
    exp = kernel_rate(layout.expert_type_bytes, dec, cap, bw_s, tflops, c.other_decode_efficiency) or rep
    exp *= c.moe_expert_efficiency
    eta_pp = harmonic(layout.dense_type_bytes + layout.expert_type_bytes, pp_tensor if tensor else pp, 0.30)
    host_rep = harmonic(layout.dense_type_bytes, host, 1.0)
    host_exp = harmonic(layout.expert_type_bytes, host, 1.0)
    value = (rep, out, exp, eta_pp, host_rep, host_exp)
    if len(_LAYOUT_RATES) > 1024:
        _LAYOUT_RATES.clear()
    _LAYOUT_RATES[key] = (layout, c, value)
    return value


def kv_read_bytes(spec: ModelSpec, est: MemoryEstimate, cells: int) -> float:
    """K and V bytes one decoded token reads at `cells` cached tokens, over every layer.

    Scales the planned cache (est, at its padded context) to the cells read; sliding-window
    layers read at most their window, so a model whose cache is mostly SWA reads less.
    """
    cached = est.kv_cache_bytes + est.host_kv_cache_bytes
    planned = -(-est.context_tokens // 256) * 256
    if cached <= 0 or planned <= 0:
        return 0.0
    per_cell = cached / planned
    share_swa = shape_counts(spec)[2]
    if share_swa and spec.sliding_window:
        return per_cell * (cells * (1 - share_swa) + min(cells, spec.sliding_window) * share_swa)
    return per_cell * cells


def largest_part(parts: dict[Bound, float]) -> Bound:
    """The part that takes the most time (the first on a tie)."""
    best, value = "compute", -1.0
    for name, t in parts.items():
        if t > value:
            best, value = name, t
    return best  # type: ignore[return-value]


def host_type_rate(type_bytes: tuple[tuple[str, int], ...], host: HostFacts, c: SpeedConstants) -> float:
    """GB/s at which the CPU reads a part's weights, per type min(memory, the threads' unpacking), combined by bytes.

    The memory side is host_read_gbps's share of RAM bandwidth (times host_type_efficiency); the
    unpacking side is what the threads sustain through Q4_K (host_thread_gbps each) scaled by the
    type's integer work per byte relative to Q4_K's, taken from the same kernels' GPU rates
    (decode_cap_gbps_per_tflops: Q3_K unpacks half as many bytes per cycle as Q4_K). With the
    threads unknown, just enough are assumed to saturate memory through Q4_K (llama.cpp's default
    uses every physical core), so a type with more work per byte is bound by the unpacking.
    """
    total = sum(n for _, n in type_bytes)
    base = host_read_gbps(host, c)
    if total <= 0:
        return base
    _, _, cap, _, host_eff = efficiencies(c)
    memory = max(host.bandwidth_gbps * c.host_efficiency, 1e-3)
    threads = host.threads * c.host_thread_gbps if host.threads else memory
    reference = cap.get("Q4_K", 1.0)
    inverse = 0.0
    for ty, n in type_bytes:
        rate = min(memory * host_eff.get(ty, 1.0), threads * cap.get(ty, reference) / reference)
        inverse += n / max(rate, 1e-3)
    return total / inverse


def host_read_gbps(host: HostFacts, c: SpeedConstants) -> float:
    """What the CPU kernels achieve: a share of peak RAM bandwidth, capped by the threads used."""
    achieved = host.bandwidth_gbps * c.host_efficiency
    if host.threads:
        achieved = min(achieved, host.threads * c.host_thread_gbps)
    return max(achieved, 1e-3)
