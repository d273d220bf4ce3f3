"""Prefill time (llama-bench pp512): matmul work at the GPU's tensor rate, weight reads, op offload's PCIe copies.

Pure arithmetic. docs/methodology.md ("Speed", 4.2) gives the equations.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

from .rates import efficiencies, harmonic, largest_part, shape_counts

if TYPE_CHECKING:
    from ..architecture import ModelSpec
    from ..memory.runtime import Layout, MemoryEstimate
    from .constants import Bound, SpeedConstants
    from .facts import DeviceFacts, HostFacts

__all__ = ["active_from_bytes", "expert_tile_efficiency", "mmq_tile", "prefill_time"]


def prefill_time(
    spec: ModelSpec,
    layout: Layout,
    est: MemoryEstimate,
    gpu: DeviceFacts | None,
    host: HostFacts,
    n: int,
    depth: int,
    active_params: int | None,
    eta_tensor: float | None,
    c: SpeedConstants,
    *,
    host_weight_bytes: int,
) -> tuple[dict[str, float], Bound, float | None, str | None]:
    """Milliseconds of an `n`-token prompt by part, what bounds it, and the tensor rate used (with its source).

    `eta_tensor` is the layout's efficiency against a catalog tensor rate when the caller has it cached.
    """
    active = active_params if active_params is not None else active_from_bytes(layout, est)
    if not spec.tied_embeddings:
        active -= spec.n_embd * spec.n_vocab  # the input embedding is a row lookup, not a matmul
    _, n_attn, share_swa = shape_counts(spec)
    # Cells a query attends on average: depth + n/2 (causal); a sliding-window layer at most its window.
    n_swa = min(float(n_attn), share_swa * spec.n_layers)
    cells = depth + n / 2
    swa_cells = min(cells, float(spec.sliding_window)) if spec.sliding_window else cells
    attn = 4.0 * n * spec.n_head * spec.head_dim_k * ((n_attn - n_swa) * cells + n_swa * swa_cells)
    matmul = 2.0 * n * max(active, 0)
    flops = matmul + attn
    ub = max(1, est.n_ubatch)
    n_ubatches = -(-n // ub)
    pp: dict[str, float] = {"compute": 0.0, "gpu_reads": 0.0, "pcie": 0.0, "host_compute": 0.0, "overhead": 0.0}
    if gpu is None:
        threads = host.threads or 8
        pp["host_compute"] = flops / (threads * c.cpu_gflops_per_thread * 1e9) * 1000
        pp["overhead"] = n_ubatches * spec.n_layers * c.cpu_layer_us / 1000
        return pp, "compute", None, None
    tflops, source = gpu.fp16_tflops, gpu.compute_source
    if tflops is None:
        # No tensor figure in the catalog: a FLOP-per-byte ratio (fitted for Metal, typical for CUDA).
        ratio = c.metal_tflops_per_gbps if gpu.backend == "metal" else c.tflops_per_gbps
        tflops, source = gpu.bandwidth_gbps * ratio, f"estimated as bandwidth x {ratio} TFLOP/GB (no catalog figure)"
    eta = eta_tensor
    if eta is None:
        table = efficiencies(c)[3 if gpu.fp16_tflops else 1]
        eta = harmonic(layout.dense_type_bytes + layout.expert_type_bytes, table, 0.30)
    if gpu.backend == "metal":
        eta *= c.metal_prefill_scale
    # Attention (flash attention, or cuBLAS on the F16 cache) runs at F16's efficiency, not the weights' type.
    eta_attn = efficiencies(c)[3 if gpu.fp16_tflops else 1].get("F16", eta) * c.attn_over_f16
    if gpu.backend == "metal":
        eta_attn *= c.metal_prefill_scale
    dense_flops = matmul
    if spec.is_moe and layout.expert_type_bytes:
        exp_bytes = sum(n for _, n in layout.expert_type_bytes)
        all_bytes = exp_bytes + sum(n for _, n in layout.dense_type_bytes)
        exp_share = (exp_bytes * spec.n_expert_used / max(1, spec.n_expert)) / max(
            1.0, all_bytes - exp_bytes + exp_bytes * spec.n_expert_used / max(1, spec.n_expert)
        )
        padded = expert_tile_efficiency(min(n, ub), spec.n_expert_used, spec.n_expert, c.mmq_tile_tokens)
        # Only the tile's fixed share (weight tile loads, unpacking) is paid for padding columns.
        fill = 1.0 / (c.moe_tile_fixed_share / padded + 1.0 - c.moe_tile_fixed_share)
        dense_flops = matmul * (1 - exp_share) + matmul * exp_share / fill
    if gpu.fp16_tflops and spec.n_embd < c.narrow_embd:
        eta *= (spec.n_embd / c.narrow_embd) ** 0.75
    pp["compute"] = (dense_flops / eta + attn / eta_attn) / (tflops * 1e12) * 1000
    # Every ubatch reads the GPU's weights once (all experts at a large batch).
    pp["gpu_reads"] = n_ubatches * est.weights_bytes / (gpu.bandwidth_gbps * 1e6 * 0.8)
    if host_weight_bytes and ub >= 32:
        pp["pcie"] = n_ubatches * host_weight_bytes / (gpu.pcie_gbps * c.pcie_efficiency * 1e6)
    pp["overhead"] = n_ubatches * spec.n_layers * c.prefill_layer_us / 1000
    # Compute and the weight reads overlap; the PCIe copies and fixed costs do not.
    busy = max(pp["compute"], pp["gpu_reads"])
    if pp["compute"] >= pp["gpu_reads"]:
        pp["gpu_reads"] = 0.0
    else:
        pp["compute"] = 0.0
    parts: dict[Bound, float] = {
        "compute": pp["compute"], "gpu-bandwidth": pp["gpu_reads"], "pcie-transfer": pp["pcie"],
        "per-layer-overhead": pp["overhead"],
    }  # fmt: skip
    del busy
    bound = largest_part(parts)
    return pp, bound, round(tflops, 1), source


def mmq_tile(tokens: int, max_tile: int) -> int:
    """Columns per tile llama.cpp's MMQ picks for `tokens` columns: the narrowest multiple of 8 (up
    to max_tile) that needs the fewest tiles (mul_mat_q_case in ggml-cuda/mmq.cuh)."""
    best, best_tiles = 8, -(-tokens // 8)
    for width in range(16, max_tile + 1, 8):
        tiles = -(-tokens // width)
        if tiles < best_tiles:
            best, best_tiles = width, tiles
    return best


@lru_cache(maxsize=256)
def expert_tile_efficiency(tokens: int, n_used: int, n_expert: int, max_tile: int) -> float:
    """Share of an MoE prefill's expert tile work that multiplies real tokens.

    mul_mat_id sizes its tiles for the whole ubatch (`tokens` columns, ncols_max) and runs, per
    expert, ceil(X / tile) tiles for the X tokens routed to it, each costing a full tile. With
    routing spread evenly X ~ Binomial(tokens, n_used / n_expert), so the efficiency is
    E[X] / (tile x E[ceil(X / tile)]): 0.25 for 32 tokens an expert in 128-column tiles, and below
    1 even at 128 an expert (half the experts then spill into a second tile).
    """
    if n_expert <= 1 or tokens <= 0:
        return 1.0
    p = min(1.0, n_used / n_expert)
    tile = mmq_tile(tokens, max_tile)
    if p >= 1.0:
        return tokens / (tile * -(-tokens // tile))
    # P(X > j * tile) summed over j = E[ceil(X / tile)]; the pmf from log-gamma (no overflow).
    log_p, log_q = math.log(p), math.log1p(-p)
    lg = math.lgamma(tokens + 1)
    pmf = [math.exp(lg - math.lgamma(x + 1) - math.lgamma(tokens - x + 1) + x * log_p + (tokens - x) * log_q)
           for x in range(tokens + 1)]  # fmt: skip
    tail, above = 0.0, [0.0] * (tokens + 2)
    for x in range(tokens, -1, -1):
        tail += pmf[x]
        above[x] = tail  # P(X >= x)
    expected_tiles = sum(above[j * tile + 1] for j in range((tokens - 1) // tile + 1))
    return tokens * p / (tile * expected_tiles) if expected_tiles > 0 else 1.0


def active_from_bytes(layout: Layout, est: MemoryEstimate) -> int:
    """A fallback weight count (about one weight per byte at 8 bits) when no parameter count is given."""
    return int(sum(layout.layer_dense) + sum(layout.layer_expert) + layout.output)
