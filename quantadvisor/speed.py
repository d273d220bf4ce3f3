"""Tokens per second: decode and prefill time from the bytes and FLOPs each token costs.

predict_speed() and its helpers are pure arithmetic; estimate_speed() resolves its inputs (model,
catalog GPU or detected one, memory placement) and calls it.

Decode (one sequence) reads every weight the token needs once: the GPU's share at the GPU's memory
bandwidth times a per-type kernel efficiency, the host's share at the host's bandwidth, the KV cache
at the depth reached, plus a fixed cost per layer (kernel launches, graph replay) that dominates
small models on fast GPUs. Prefill is matmul work at the GPU's tensor throughput, plus the host
weights llama.cpp streams over PCIe for large batches (op offload). docs/methodology.md ("Speed")
gives the equations and which constants were fitted on which measurements.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from .construct import VALIDATE_ENV_VAR, construct

_VALIDATING = os.environ.get(VALIDATE_ENV_VAR) == "1"

if TYPE_CHECKING:
    from pathlib import Path

    from .architecture import ModelSpec
    from .dataset import Dataset
    from .memory.runtime import Layout, MemoryEstimate
    from .models import GPU

__all__ = [
    "DEFAULT_HOST_BANDWIDTH_GBPS",
    "SPEED",
    "Bound",
    "DeviceFacts",
    "Energy",
    "HostFacts",
    "SpeedConstants",
    "SpeedEstimate",
    "device_from_catalog",
    "energy_of",
    "estimate_speed",
    "host_facts",
    "predict_serving_speed",
    "predict_speed",
    "serving_decode_ratio",
    "speed_facts",
]

Bound = Literal["gpu-bandwidth", "host-bandwidth", "compute", "per-layer-overhead", "pcie-transfer"]
Backend = Literal["cuda", "metal", "rocm", "vulkan", "cpu"]

# Dual-channel DDR5-4800: 2 channels x 64 bit x 4800 MT/s / 8 = 76.8 GB/s (JEDEC JESD79-5 speed bin),
# the host assumed when neither --ram-bandwidth nor a readable unified-memory chip says otherwise.
DEFAULT_HOST_BANDWIDTH_GBPS = 76.8


@dataclass(frozen=True)
class SpeedConstants:
    """Kernel efficiencies and fixed costs. Fitted values are marked in docs/methodology.md ("Speed").

    decode_efficiency: achieved / peak memory bandwidth of llama.cpp's CUDA matrix-vector kernels
    per ggml type (Q6_K below Q8_0: its 6-bit unpacking costs more ALU work per byte).
    prefill_efficiency: achieved / dense FP16 tensor peak of the batched matmul per type.
    """

    decode_efficiency: tuple[tuple[str, float], ...] = (
        ("F32", 0.80), ("F16", 0.86), ("BF16", 0.86), ("Q8_0", 0.86), ("Q4_0", 0.80), ("Q4_1", 0.76),
        ("Q5_0", 0.70), ("Q5_1", 0.68), ("Q4_K", 0.72), ("Q5_K", 0.64), ("Q6_K", 0.57), ("Q3_K", 0.55),
        ("Q2_K", 0.52), ("IQ4_XS", 0.66), ("IQ4_NL", 0.66), ("IQ3_S", 0.50), ("IQ3_XXS", 0.50),
        ("IQ2_S", 0.46), ("IQ2_XS", 0.46), ("IQ2_XXS", 0.46), ("IQ1_M", 0.42), ("IQ1_S", 0.42),
        ("MXFP4", 0.72), ("TQ1_0", 0.40), ("TQ2_0", 0.40),
    )  # fmt: skip
    prefill_efficiency: tuple[tuple[str, float], ...] = (
        ("F16", 0.45), ("BF16", 0.45), ("F32", 0.10), ("Q8_0", 0.40), ("Q4_0", 0.42), ("Q4_1", 0.40),
        ("Q5_0", 0.38), ("Q5_1", 0.37), ("Q4_K", 0.36), ("Q5_K", 0.34), ("Q6_K", 0.33), ("Q3_K", 0.30),
        ("Q2_K", 0.29), ("IQ4_XS", 0.33), ("IQ4_NL", 0.33), ("IQ3_S", 0.27), ("IQ3_XXS", 0.27),
        ("IQ2_S", 0.24), ("IQ2_XS", 0.24), ("IQ2_XXS", 0.24), ("IQ1_M", 0.22), ("IQ1_S", 0.22),
        ("MXFP4", 0.36), ("TQ1_0", 0.15), ("TQ2_0", 0.15),
    )  # fmt: skip
    decode_cap_gbps_per_tflops: tuple[tuple[str, float], ...] = (
        ("F32", 8.0), ("F16", 8.0), ("BF16", 8.0), ("Q8_0", 2.75), ("Q4_0", 2.3), ("Q4_1", 2.2),
        ("Q5_0", 2.0), ("Q5_1", 2.0), ("Q4_K", 1.96), ("Q5_K", 2.05), ("Q6_K", 1.6), ("Q3_K", 1.0),
        ("Q2_K", 0.95), ("IQ4_XS", 2.0), ("IQ4_NL", 2.0), ("IQ3_S", 1.0), ("IQ3_XXS", 0.95),
        ("IQ2_S", 1.0), ("IQ2_XS", 1.0), ("IQ2_XXS", 1.0), ("IQ1_M", 0.9), ("IQ1_S", 0.9),
        ("MXFP4", 2.0), ("TQ1_0", 0.8), ("TQ2_0", 0.8),
    )  # fmt: skip
    """GB/s of weights a matrix-vector kernel can unpack per dense FP16 TFLOPS of the GPU (its
    SM x clock throughput), where the catalog has that rate: on Hopper the kernels are bound by
    their integer work, not by HBM (an H200 decodes an 8B no faster than an H100). Fitted on the
    H200 Llama-3.1-8B types rows (each file's effective rate, its Q6_K share taken out)."""
    prefill_efficiency_tensor: tuple[tuple[str, float], ...] = (
        ("F16", 0.40), ("BF16", 0.40), ("F32", 0.05), ("Q8_0", 0.18), ("Q4_0", 0.19), ("Q4_1", 0.18),
        ("Q5_0", 0.17), ("Q5_1", 0.17), ("Q4_K", 0.156), ("Q5_K", 0.157), ("Q6_K", 0.13), ("Q3_K", 0.127),
        ("Q2_K", 0.103), ("IQ4_XS", 0.18), ("IQ4_NL", 0.18), ("IQ3_S", 0.147), ("IQ3_XXS", 0.147),
        ("IQ2_S", 0.127), ("IQ2_XS", 0.127), ("IQ2_XXS", 0.127), ("IQ1_M", 0.11), ("IQ1_S", 0.11),
        ("MXFP4", 0.12), ("TQ1_0", 0.06), ("TQ2_0", 0.06),
    )  # fmt: skip
    """Prefill against a catalog tensor rate (today H100/H200: llama.cpp's mma.sync MMQ and cuBLAS
    reach a fraction of the wgmma peak). Fitted on the H200 Llama-3.1-8B pp512 rows."""
    host_type_efficiency: tuple[tuple[str, float], ...] = (("MXFP4", 0.085),)
    """CPU kernels slower than the rest per byte (relative to host_efficiency): MXFP4's, fitted on
    the H200 host's gpt-oss-20b --n-cpu-moe 6 and 24 rows."""
    other_decode_efficiency: float = 0.55
    """Types without an entry (a new ggml type)."""
    kv_efficiency: float = 0.60
    """Flash-attention decode reads of the K and V cache, against peak bandwidth."""
    moe_expert_efficiency: float = 0.80
    """mul_mat_id reads each used expert's rows less efficiently than one dense matrix-vector product."""
    layer_us: float = 30.0
    """Fixed GPU time per repeating layer per token (CUDA, graphs on): launches and small ops."""
    moe_layer_us: float = 18.0
    """Extra fixed time per MoE layer (router, top-k, id gathering)."""
    token_us: float = 250.0
    """Fixed time per token outside the layers: embedding get_rows, output, synchronisation."""
    split_us: float = 120.0
    """Each hand-over between the GPU and the CPU backend within a token (copy + sync)."""
    cpu_layer_us: float = 40.0
    """Fixed CPU time per layer computed on the host (thread barriers of ggml's CPU backend)."""
    host_efficiency: float = 0.80
    """Achieved / peak host bandwidth of ggml's CPU matrix-vector kernels with enough threads."""
    host_thread_gbps: float = 5.2
    """Bandwidth one CPU thread sustains through the quantized dot products (caps few-thread runs)."""
    metal_decode_scale: float = 1.15
    """Metal (Apple GPUs) kernels relative to the CUDA efficiencies above."""
    metal_layer_us: float = 165.0
    """Fixed time per layer on Metal (command buffer encoding)."""
    metal_prefill_scale: float = 1.0
    """Metal prefill against the estimated GPU throughput, relative to CUDA's tensor-core efficiency."""
    tflops_per_gbps: float = 0.25
    """Dense FP16 TFLOPS per GB/s of bandwidth assumed for a GPU without a catalog figure (CUDA/ROCm)."""
    metal_tflops_per_gbps: float = 0.052
    """The same for Apple GPUs (no tensor cores): fitted on the M1/M2 prefill rows of discussion #4167."""
    prefill_layer_us: float = 90.0
    """Fixed time per layer per ubatch in prefill."""
    moe_prefill_tokens: float = 64.0
    """mul_mat_id at prefill: each expert sees ubatch x k / E tokens; below this many (an MMQ tile)
    its matmul runs proportionally emptier (first principles; not fitted)."""
    narrow_embd: float = 4096.0
    """On a GPU with a catalog tensor rate (132-SM Hopper), matrices narrower than this leave SMs
    idle at a 512-token ubatch: prefill efficiency x (n_embd / 4096)^0.75 below it. Added after
    seeing the H200 1B/3B rows, so those prefill rows are not a clean hold-out."""
    bias_us: float = 3.0
    """Extra fixed decode time per bias or sink tensor in a layer (one more small kernel each, a tenth
    of a layer's 30 us): Qwen2's q/k/v biases, gpt-oss's nine. A first-principles term added after
    seeing the held-out gpt-oss-20b rows (not fitted on them)."""
    norm_us: float = 6.0
    """Extra fixed decode time per layer for each norm beyond two (Gemma 2/3's post-norms)."""
    cpu_gflops_per_thread: float = 60.0
    """Prefill on the CPU (no GPU): quantized matmul throughput per thread."""
    pcie_efficiency: float = 0.80
    """Achieved / nominal PCIe x16 bandwidth for op offload's pinned host-to-device copies."""


SPEED = SpeedConstants()

# Nominal PCIe x16 bandwidth per direction (GB/s) by generation: 3.0 15.75, 4.0 31.5, 5.0 63.
_PCIE_BY_ARCH = {"Turing": 15.75, "Ampere": 31.5, "Ada Lovelace": 31.5, "Hopper": 63.0, "Blackwell": 63.0}


@dataclass(frozen=True)
class DeviceFacts:
    """The accelerator a speed estimate assumes, with where each figure came from."""

    name: str | None
    bandwidth_gbps: float
    bandwidth_source: str
    fp16_tflops: float | None = None
    compute_source: str | None = None
    backend: Backend = "cuda"
    architecture: str | None = None
    compute_capability: float | None = None
    board_power_w: float | None = None
    unified_memory: bool = False
    n_gpus: int = 1

    @property
    def pcie_gbps(self) -> float:
        """Nominal host-to-device bandwidth (PCIe 4.0 x16 when the generation is not known)."""
        return _PCIE_BY_ARCH.get((self.architecture or "").split(" Ultra")[0], 31.5)


@dataclass(frozen=True)
class HostFacts:
    """System RAM bandwidth and threads used for whatever runs on the CPU."""

    bandwidth_gbps: float
    source: str
    threads: int | None = None


class Energy(BaseModel):
    """Energy per decoded token at the board's rated power: an upper bound, not a measurement."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    board_power_w: float
    joules_per_token: float
    kwh_per_million_tokens: float
    cost_per_million_tokens: float | None = None
    price_per_kwh: float | None = None
    upper_bound: bool = True
    note: str


class SpeedEstimate(BaseModel):
    """Predicted llama-bench-style speeds (tg128 decode, pp512 prefill) for one option, and why."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    decode_tokens_per_s: float
    decode_low: float
    decode_high: float
    decode_bound: Bound
    prefill_tokens_per_s: float
    prefill_low: float
    prefill_high: float
    prefill_bound: Bound
    decode_ms: dict[str, float]
    """Milliseconds per decoded token by part: gpu_weights, gpu_kv, host_weights, host_kv, overhead."""
    prefill_ms: dict[str, float]
    """Milliseconds for the prompt by part: compute, gpu_reads, pcie, host_compute, overhead."""
    runtime: str
    gpu_name: str | None
    gpu_bandwidth_gbps: float | None
    gpu_bandwidth_source: str | None
    compute_tflops: float | None
    compute_source: str | None
    host_bandwidth_gbps: float
    host_bandwidth_source: str
    depth_tokens: int
    prompt_tokens: int
    energy: Energy | None = None
    estimate: bool = True
    notes: list[str] = []


_M = TypeVar("_M", bound=BaseModel)


def _made(cls: type[_M], /, **fields: Any) -> _M:
    """construct() for the speed results, which the planner builds once per option.

    Every field is given and computed here, so the instance is assembled directly (what pydantic's
    model_construct does, minus its per-field default handling: ~10x less time); with
    QUANTADVISOR_VALIDATE=1 (the test suite) it goes through construct()'s checks instead.
    """
    if _VALIDATING:
        return construct(cls, **fields)
    made = cls.__new__(cls)
    object.__setattr__(made, "__dict__", fields)
    object.__setattr__(made, "__pydantic_fields_set__", set(fields))
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


def _table(pairs: tuple[tuple[str, float], ...]) -> dict[str, float]:
    return dict(pairs)


_TABLES: dict[int, tuple[dict[str, float], ...]] = {}


def _efficiencies(c: SpeedConstants) -> tuple[dict[str, float], ...]:
    """(decode, prefill, decode cap per TFLOPS, prefill on a catalog tensor rate, host) tables."""
    hit = _TABLES.get(id(c))
    if hit is None:
        hit = _TABLES[id(c)] = (
            _table(c.decode_efficiency), _table(c.prefill_efficiency), _table(c.decode_cap_gbps_per_tflops),
            _table(c.prefill_efficiency_tensor), _table(c.host_type_efficiency),
        )  # fmt: skip
    return hit


def _harmonic(type_bytes: tuple[tuple[str, int], ...], table: dict[str, float], default: float) -> float:
    """Byte-weighted harmonic mean of per-type efficiencies: time adds up per byte."""
    total = sum(n for _, n in type_bytes)
    if total <= 0:
        return default
    return total / sum(n / table.get(ty, default) for ty, n in type_bytes)


_SHAPES: dict[int, tuple[object, tuple[int, int, float]]] = {}


def _shape_counts(spec: ModelSpec) -> tuple[int, int, float]:
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


_LAYOUT_RATES: dict[tuple[object, ...], tuple[object, tuple[float, ...]]] = {}


def _rate(
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


def _layout_rates(
    layout: Layout, c: SpeedConstants, bw: float, tflops: float | None, scale: float, tensor: bool
) -> tuple[float, ...]:
    """(repeating dense, output, expert) decode GB/s, the prefill efficiency and the host's per-type
    factors (dense, expert) of a layout on one GPU, cached: a planner asks for every placement."""
    key = (id(layout), id(c), bw, tflops, scale, tensor)
    hit = _LAYOUT_RATES.get(key)
    if hit is not None and hit[0] is layout:
        return hit[1]
    dec, pp, cap, pp_tensor, host = _efficiencies(c)
    bw_s = bw * scale
    rep = _rate(layout.dense_type_bytes, dec, cap, bw_s, tflops, c.other_decode_efficiency) or bw_s * 0.5
    out = _rate(layout.output_type_bytes, dec, cap, bw_s, tflops, c.other_decode_efficiency) or rep
    exp = _rate(layout.expert_type_bytes, dec, cap, bw_s, tflops, c.other_decode_efficiency) or rep
    exp *= c.moe_expert_efficiency
    eta_pp = _harmonic(layout.dense_type_bytes + layout.expert_type_bytes, pp_tensor if tensor else pp, 0.30)
    host_rep = _harmonic(layout.dense_type_bytes, host, 1.0)
    host_exp = _harmonic(layout.expert_type_bytes, host, 1.0)
    value = (rep, out, exp, eta_pp, host_rep, host_exp)
    if len(_LAYOUT_RATES) > 1024:
        _LAYOUT_RATES.clear()
    _LAYOUT_RATES[key] = (layout, value)
    return value


def _kv_read_bytes(spec: ModelSpec, est: MemoryEstimate, cells: int) -> float:
    """K and V bytes one decoded token reads at `cells` cached tokens, over every layer.

    Scales the planned cache (est, at its padded context) to the cells read; sliding-window
    layers read at most their window, so a model whose cache is mostly SWA reads less.
    """
    cached = est.kv_cache_bytes + est.host_kv_cache_bytes
    planned = -(-est.context_tokens // 256) * 256
    if cached <= 0 or planned <= 0:
        return 0.0
    per_cell = cached / planned
    share_swa = _shape_counts(spec)[2]
    if share_swa and spec.sliding_window:
        return per_cell * (cells * (1 - share_swa) + min(cells, spec.sliding_window) * share_swa)
    return per_cell * cells


_RESULTS: OrderedDict[tuple[object, ...], tuple[object, object, SpeedEstimate]] = OrderedDict()


def predict_speed(
    spec: ModelSpec,
    layout: Layout,
    est: MemoryEstimate,
    device: DeviceFacts | None,
    host: HostFacts,
    *,
    depth_tokens: int = 0,
    prompt_tokens: int = 512,
    gen_tokens: int = 128,
    active_params: int | None = None,
    price_per_kwh: float | None = None,
    constants: SpeedConstants = SPEED,
) -> SpeedEstimate:
    """Decode and prefill speed of the placement `est` (from the memory model) on `device` and `host`.

    `layout` is the same GGUF's per-layer byte layout (memory.gguf_layout), whose bytes per ggml type
    set each part's kernel efficiency; `active_params` the weights a token multiplies (memory.parameter_count).
    Results are cached (a warm planner asks again for the same placements); each call returns its
    own containers.
    """
    key = (
        id(spec), id(layout), est.gpu_layers, est.n_cpu_moe, est.weights_bytes, est.gpu_expert_bytes,
        est.host_weights_bytes, est.host_expert_bytes, est.input_embedding_bytes, est.kv_cache_bytes,
        est.host_kv_cache_bytes, est.context_tokens, est.n_ubatch, device, host, depth_tokens, prompt_tokens,
        gen_tokens, active_params, price_per_kwh, id(constants),
    )  # fmt: skip
    hit = _RESULTS.get(key)
    if hit is not None and hit[0] is spec and hit[1] is layout:
        cached = hit[2]
        fields = dict(cached.__dict__)
        fields["decode_ms"], fields["prefill_ms"] = dict(cached.decode_ms), dict(cached.prefill_ms)
        fields["notes"] = list(cached.notes)
        return _made(SpeedEstimate, **fields)
    result = _predict(
        spec, layout, est, device, host, depth_tokens=depth_tokens, prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens, active_params=active_params, price_per_kwh=price_per_kwh, constants=constants,
    )  # fmt: skip
    _RESULTS[key] = (spec, layout, result)
    if len(_RESULTS) > 2048:
        _RESULTS.popitem(last=False)
    fields = dict(result.__dict__)
    fields["decode_ms"], fields["prefill_ms"] = dict(result.decode_ms), dict(result.prefill_ms)
    fields["notes"] = list(result.notes)
    return _made(SpeedEstimate, **fields)


def _predict(
    spec: ModelSpec,
    layout: Layout,
    est: MemoryEstimate,
    device: DeviceFacts | None,
    host: HostFacts,
    *,
    depth_tokens: int = 0,
    prompt_tokens: int = 512,
    gen_tokens: int = 128,
    active_params: int | None = None,
    price_per_kwh: float | None = None,
    constants: SpeedConstants = SPEED,
) -> SpeedEstimate:
    """predict_speed without the cache."""
    c = constants
    gpu = device if device is not None and est.gpu_layers > 0 else None
    metal = gpu is not None and gpu.backend == "metal"
    scale = c.metal_decode_scale if metal else 1.0
    share = spec.n_expert_used / spec.n_expert if spec.is_moe and spec.n_expert else 1.0
    n_layers = spec.n_layers

    # Where the weights live (from the memory model's placement).
    output_on_gpu = est.gpu_layers >= 1
    output_bytes = layout.output + (layout.token_embd if spec.tied_embeddings else 0)
    gpu_dense = est.weights_bytes - est.gpu_expert_bytes
    gpu_out = output_bytes if output_on_gpu and gpu is not None else 0
    gpu_rep = max(0, gpu_dense - gpu_out)
    host_dense = max(
        0, est.host_weights_bytes - est.host_expert_bytes - est.input_embedding_bytes - layout.other_global
    )
    if gpu is None:
        host_dense = max(0, host_dense + gpu_dense - (layout.token_embd if spec.tied_embeddings else 0))
        host_expert = est.host_expert_bytes + est.gpu_expert_bytes
        gpu_rep = gpu_out = 0
    else:
        host_expert = est.host_expert_bytes
    gpu_expert = est.gpu_expert_bytes if gpu is not None else 0

    tensor = bool(gpu is not None and gpu.fp16_tflops)
    rates = _layout_rates(
        layout, c, gpu.bandwidth_gbps if gpu else 1.0, gpu.fp16_tflops if gpu else None, scale, tensor
    )
    rate_rep, rate_out, rate_exp, _, host_rep, host_exp = rates

    cells = depth_tokens + gen_tokens // 2
    kv_total = _kv_read_bytes(spec, est, cells)
    kv_planned = est.kv_cache_bytes + est.host_kv_cache_bytes
    kv_gpu_share = est.kv_cache_bytes / kv_planned if kv_planned and gpu is not None else 0.0

    ms: dict[str, float] = {"gpu_weights": 0.0, "gpu_kv": 0.0, "host_weights": 0.0, "host_kv": 0.0, "overhead": 0.0}
    if gpu is not None:
        bw = gpu.bandwidth_gbps * 1e6  # bytes per ms
        ms["gpu_weights"] = (
            gpu_rep / (rate_rep * 1e6) + gpu_out / (rate_out * 1e6) + gpu_expert * share / (rate_exp * 1e6)
        )
        ms["gpu_kv"] = kv_total * kv_gpu_share / (bw * c.kv_efficiency * scale)
    host_bw = _host_read_gbps(host, c) * 1e6
    ms["host_weights"] = host_dense / (host_bw * host_rep) + host_expert * share / (host_bw * host_exp)
    ms["host_kv"] = kv_total * (1 - kv_gpu_share) / host_bw

    # Fixed costs: per layer on each side, per MoE layer, per GPU/CPU hand-over.
    first_gpu_layer = n_layers - max(0, est.gpu_layers - 1) if gpu is not None else n_layers
    gpu_layers = n_layers - first_gpu_layer
    cpu_layers = n_layers - gpu_layers
    layer_us = c.metal_layer_us if metal else c.layer_us
    n_moe = _shape_counts(spec)[0]
    moe_cpu_layers = min(est.n_cpu_moe, n_layers) if spec.is_moe and gpu is not None else 0
    splits = 0
    if gpu is not None:
        if cpu_layers or not output_on_gpu:
            splits += 2
        # --n-cpu-moe: every such layer hands its FFN input to the CPU and takes the result back.
        splits += 2 * max(0, moe_cpu_layers - cpu_layers)
        splits += 2 * (min(gpu.n_gpus, max(1, gpu_layers)) - 1)
    if spec.norms_per_layer > 2:
        layer_us += c.norm_us * (spec.norms_per_layer - 2)
    # gpt-oss: q/k/v, output, router and three expert biases, and the attention sinks.
    layer_us += c.bias_us * (9 if spec.gpt_oss_biases else 3 if spec.attn_bias else 0)
    overhead_us = (
        gpu_layers * layer_us
        + cpu_layers * c.cpu_layer_us
        + n_moe * c.moe_layer_us * (gpu_layers / max(1, n_layers) if gpu is not None else 1.0)
        + splits * c.split_us
        + c.token_us
    )
    ms["overhead"] = overhead_us / 1000
    decode_ms = sum(ms.values())
    decode = 1000 / decode_ms if decode_ms > 0 else math.inf
    parts: dict[Bound, float] = {
        "gpu-bandwidth": ms["gpu_weights"] + ms["gpu_kv"],
        "host-bandwidth": ms["host_weights"] + ms["host_kv"],
        "per-layer-overhead": ms["overhead"],
    }
    decode_bound = _largest(parts)

    # Prefill: matmul FLOPs (+ attention) at the tensor throughput; host weights cross PCIe per ubatch.
    pp_ms, prefill_bound, compute_tflops, compute_source = _prefill(
        spec, layout, est, device if device is not None else None, host, prompt_tokens, depth_tokens,
        active_params, rates[3] if tensor else None, c,
        host_weight_bytes=host_dense + host_expert if device is not None else 0,
    )  # fmt: skip
    prefill = prompt_tokens * 1000 / sum(pp_ms.values()) if sum(pp_ms.values()) > 0 else math.inf

    offloaded = gpu is None or cpu_layers > 0 or moe_cpu_layers > 0 or not output_on_gpu
    d_spread = 0.30 if offloaded else 0.15
    p_spread = 0.25 if compute_source and "catalog" in compute_source else 0.40
    if offloaded:
        p_spread = max(p_spread, 0.35)
    notes: list[str] = []
    if gpu is None and device is not None:
        notes.append("no layer on the GPU: decode and prefill run on the CPU")
    return _made(
        SpeedEstimate,
        decode_tokens_per_s=round(decode, 1), decode_low=round(decode * (1 - d_spread), 1),
        decode_high=round(decode * (1 + d_spread), 1), decode_bound=decode_bound,
        prefill_tokens_per_s=round(prefill, 1), prefill_low=round(prefill * (1 - p_spread), 1),
        prefill_high=round(prefill * (1 + p_spread), 1), prefill_bound=prefill_bound,
        decode_ms=ms, prefill_ms=pp_ms,
        runtime="llama.cpp", gpu_name=device.name if device else None,
        gpu_bandwidth_gbps=float(device.bandwidth_gbps) if device else None,
        gpu_bandwidth_source=device.bandwidth_source if device else None,
        compute_tflops=compute_tflops, compute_source=compute_source,
        host_bandwidth_gbps=float(host.bandwidth_gbps), host_bandwidth_source=host.source,
        depth_tokens=depth_tokens, prompt_tokens=prompt_tokens,
        energy=energy_of(round(decode, 1), gpu.board_power_w if gpu else None, price_per_kwh), estimate=True,
        notes=notes,
    )  # fmt: skip


def _largest(parts: dict[Bound, float]) -> Bound:
    """The part that takes the most time (the first on a tie)."""
    best, value = "compute", -1.0
    for name, t in parts.items():
        if t > value:
            best, value = name, t
    return best  # type: ignore[return-value]


def _host_read_gbps(host: HostFacts, c: SpeedConstants) -> float:
    """What the CPU kernels achieve: a share of peak RAM bandwidth, capped by the threads used."""
    achieved = host.bandwidth_gbps * c.host_efficiency
    if host.threads:
        achieved = min(achieved, host.threads * c.host_thread_gbps)
    return max(achieved, 1e-3)


def _prefill(
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
    active = active_params if active_params is not None else _active_from_bytes(layout, est)
    if not spec.tied_embeddings:
        active -= spec.n_embd * spec.n_vocab  # the input embedding is a row lookup, not a matmul
    n_attn = _shape_counts(spec)[1]
    attn = 4.0 * n * (depth + n / 2) * spec.n_head * spec.head_dim_k * n_attn
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
        table = _efficiencies(c)[3 if gpu.fp16_tflops else 1]
        eta = _harmonic(layout.dense_type_bytes + layout.expert_type_bytes, table, 0.30)
    if gpu.backend == "metal":
        eta *= c.metal_prefill_scale
    dense_flops = flops
    if spec.is_moe and layout.expert_type_bytes:
        exp_bytes = sum(n for _, n in layout.expert_type_bytes)
        all_bytes = exp_bytes + sum(n for _, n in layout.dense_type_bytes)
        exp_share = (exp_bytes * spec.n_expert_used / max(1, spec.n_expert)) / max(
            1.0, all_bytes - exp_bytes + exp_bytes * spec.n_expert_used / max(1, spec.n_expert)
        )
        per_expert = ub * spec.n_expert_used / max(1, spec.n_expert)
        fill = max(0.1, min(1.0, per_expert / c.moe_prefill_tokens))
        dense_flops = matmul * (1 - exp_share) + matmul * exp_share / fill + attn
    if gpu.fp16_tflops and spec.n_embd < c.narrow_embd:
        eta *= (spec.n_embd / c.narrow_embd) ** 0.75
    pp["compute"] = dense_flops / (tflops * 1e12 * eta) * 1000
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
    bound = _largest(parts)
    return pp, bound, round(tflops, 1), source


def _active_from_bytes(layout: Layout, est: MemoryEstimate) -> int:
    """A fallback weight count (about one weight per byte at 8 bits) when no parameter count is given."""
    return int(sum(layout.layer_dense) + sum(layout.layer_expert) + layout.output)


# Decode ratios of vLLM serving formats against BF16, anchored where a measurement exists.
# arXiv:2601.09527 (raw data release, RTX 5090, vLLM 0.12.0): Qwen3-8B NVFP4 410.7 vs BF16 260.1
# output tok/s (RAG 8k, concurrency 8) = 1.58x; Gemma3-27B W4A16 111.6 vs NVFP4 98.5 (concurrency 4).
_NVFP4_OVER_BF16 = 410.7 / 260.1
_W4A16_OVER_NVFP4 = 111.6 / 98.5


def serving_decode_ratio(fmt: str, compute_capability: float | None) -> tuple[float, str]:
    """Decode speed of a vLLM checkpoint format relative to BF16, and what the figure rests on."""
    name = fmt.upper()
    if name == "BF16":
        return 1.0, "BF16 baseline"
    if name == "NVFP4":
        if compute_capability is not None and compute_capability >= 10.0:
            return _NVFP4_OVER_BF16, (
                "anchored on arXiv:2601.09527: Qwen3-8B NVFP4 410.7 vs BF16 260.1 tok/s, RTX 5090 (CC 12.0)"
            )
        return _NVFP4_OVER_BF16 * _W4A16_OVER_NVFP4, (
            "no FP4 tensor cores below compute capability 10.0: runs as a weight-only 4-bit kernel, "
            "scaled like W4A16 (arXiv:2601.09527 ratios, estimate)"
        )
    if name in {"W4A16-INT", "W4A16"}:
        return _NVFP4_OVER_BF16 * _W4A16_OVER_NVFP4, (
            "arXiv:2601.09527: NVFP4/BF16 1.58x (Qwen3-8B) times W4A16/NVFP4 1.13x (Gemma3-27B), "
            "RTX 5090; chained, estimate"
        )
    # FP8 / INT8 weights: half of BF16's bytes; no measured pair in the sources, so bytes at BF16's efficiency.
    return 1.6, "estimate from bytes read (half of BF16, fixed costs unchanged); no measured pair"


def host_facts(host_bandwidth_gbps: float | None, device: DeviceFacts | None, cpu_threads: int | None) -> HostFacts:
    """The host side: the user's bandwidth, a unified-memory chip's own, or the documented default.

    System RAM bandwidth cannot be read without root on Linux (SMBIOS) or at all on Windows, so
    quantadvisor does not guess it from the machine: it says which figure it used.
    """
    if host_bandwidth_gbps is not None:
        return HostFacts(host_bandwidth_gbps, "given (--ram-bandwidth)", cpu_threads)
    if device is not None and device.unified_memory:
        return HostFacts(device.bandwidth_gbps, f"unified memory: {device.name}'s bandwidth", cpu_threads)
    return HostFacts(
        DEFAULT_HOST_BANDWIDTH_GBPS,
        f"assumed {DEFAULT_HOST_BANDWIDTH_GBPS:g} GB/s (dual-channel DDR5-4800); pass --ram-bandwidth",
        cpu_threads,
    )


def energy_of(
    decode_tokens_per_s: float, board_power_w: float | None, price_per_kwh: float | None = None
) -> Energy | None:
    """Joules per decoded token and kWh per million at the rated board power (an upper bound)."""
    if not board_power_w or not decode_tokens_per_s or not math.isfinite(decode_tokens_per_s):
        return None
    joules = board_power_w / decode_tokens_per_s
    kwh = joules * 1e6 / 3.6e6
    return _made(
        Energy,
        board_power_w=float(board_power_w), joules_per_token=round(joules, 4), kwh_per_million_tokens=round(kwh, 3),
        cost_per_million_tokens=round(kwh * price_per_kwh, 4) if price_per_kwh is not None else None,
        price_per_kwh=price_per_kwh, upper_bound=True,
        note="at the catalog's rated board power, one sequence: an upper bound (batching serves more tokens per joule)",
    )  # fmt: skip


_BACKENDS: dict[str, Backend] = {"nvidia": "cuda", "apple": "metal", "amd": "rocm", "intel": "vulkan"}
_FIT_HEADROOM_BYTES = 512 * 2**20


def device_from_catalog(gpu: GPU, *, n_gpus: int = 1, bandwidth_gbps: float | None = None) -> DeviceFacts:
    """DeviceFacts of a catalog GPU (data/gpus.yaml); `bandwidth_gbps` replaces the catalog's (NVML's reading)."""
    return DeviceFacts(
        name=gpu.name,
        bandwidth_gbps=bandwidth_gbps or gpu.memory_bandwidth_gbps,
        bandwidth_source="NVML (bus width x memory clock)" if bandwidth_gbps else f"catalog ({gpu.source})",
        fp16_tflops=gpu.fp16_tensor_tflops,
        compute_source=f"catalog ({gpu.source})" if gpu.fp16_tensor_tflops else None,
        backend=_BACKENDS.get(gpu.vendor, "cuda"),
        architecture=gpu.architecture,
        compute_capability=gpu.compute_capability,
        board_power_w=gpu.board_power_w,
        unified_memory=gpu.unified_memory,
        n_gpus=n_gpus,
    )


def estimate_speed(
    model: str | Path | dict[str, Any] | ModelSpec,
    quant: str,
    *,
    gpu: str | None = None,
    vram_gib: float | None = None,
    gpus: int = 1,
    gpu_layers: int | None = None,
    n_cpu_moe: int = 0,
    context_tokens: int = 4096,
    depth_tokens: int = 0,
    flash_attn: bool = True,
    cache_type_k: str = "f16",
    cache_type_v: str = "f16",
    n_ubatch: int = 512,
    cpu_threads: int | None = None,
    host_bandwidth_gbps: float | None = None,
    price_per_kwh: float | None = None,
    dataset: Dataset | None = None,
    constants: SpeedConstants = SPEED,
) -> SpeedEstimate:
    """Predict llama.cpp's decode (tg128) and prefill (pp512) tokens per second for `model` as `quant`.

    Args:
        gpu: a catalog GPU ("H100 SXM", "NVIDIA H200", "RTX 4060"); None = the detected GPU (NVML), or
            the CPU alone when there is none.
        vram_gib: the VRAM to fit into when gpu_layers is None (default: the GPU's memory); with
            neither gpu nor a detected GPU the bandwidth is unknown and this raises.
        gpu_layers: llama.cpp's -ngl; None = all layers if they fit, else the largest -ngl (dense) or,
            with n_cpu_moe, the smallest --n-cpu-moe (MoE) that fits.
        n_cpu_moe: llama.cpp's --n-cpu-moe.
        depth_tokens: tokens already in the KV cache when decoding starts (llama-bench -d).
        host_bandwidth_gbps: system RAM bandwidth in GB/s (default: assumed, see host_facts).

    Returns:
        A SpeedEstimate: mid values, low-high ranges, what bounds each, and the facts used.
    """
    from .architecture import load_model_spec
    from .dataset import load_dataset
    from .errors import InvalidRequestError
    from .memory import estimate_memory, gguf_layout, parameter_count, type_sizes
    from .memory.fit import fit_gpu_layers, fit_moe_offload

    for label, value, minimum in (("gpus", gpus, 1), ("depth_tokens", depth_tokens, 0), ("n_cpu_moe", n_cpu_moe, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidRequestError(f"{label} must be an integer of at least {minimum}, not {value!r}")
    if cpu_threads is not None and (
        isinstance(cpu_threads, bool) or not isinstance(cpu_threads, int) or cpu_threads < 1
    ):
        raise InvalidRequestError(f"cpu_threads must be a positive integer, not {cpu_threads!r}")
    check_host_inputs(host_bandwidth_gbps, price_per_kwh)
    ds = dataset or load_dataset()
    device, memory_gib = _resolve_device(gpu, vram_gib, gpus, ds)
    spec = load_model_spec(model, ds)

    def plan(**kw: Any) -> MemoryEstimate:
        knobs: dict[str, Any] = {
            "context_tokens": context_tokens, "gpu_layers": gpu_layers, "cache_type_k": cache_type_k,
            "cache_type_v": cache_type_v, "flash_attn": flash_attn, "n_ubatch": n_ubatch, "n_cpu_moe": n_cpu_moe,
            "n_gpus": gpus, "gpu_present": device is not None, "dataset": ds, **kw,
        }  # fmt: skip
        return estimate_memory(spec, quant, **knobs)

    est = plan()
    notes: list[str] = []
    if device is not None and gpu_layers is None and memory_gib is not None:
        budget = int(memory_gib * 2**30 * gpus) - _FIT_HEADROOM_BYTES
        if est.total_bytes + est.prompt_bytes > budget:
            fitted = fit_moe_offload(plan, spec.n_layers, budget) if spec.is_moe and not n_cpu_moe else None
            if fitted is None:
                fitted = fit_gpu_layers(plan, spec.n_layers + 1, budget)
            if fitted is not None:
                est = fitted
                notes.append(
                    f"does not fit {memory_gib * gpus:g} GiB on the GPU: planned with -ngl {est.gpu_layers}"
                    + (f" --n-cpu-moe {est.n_cpu_moe}" if est.n_cpu_moe else "")
                )
            else:
                notes.append(f"not even one layer fits {memory_gib * gpus:g} GiB: planned on the CPU")
                est = plan(gpu_layers=0)
    sizes = type_sizes(ds)
    fmt = ds.find_format(est.quant)
    layout, _ = gguf_layout(spec, est.quant, sizes, imatrix=bool(fmt and fmt.needs_imatrix))
    host = host_facts(host_bandwidth_gbps, device, cpu_threads)
    result = predict_speed(
        spec,
        layout,
        est,
        device,
        host,
        depth_tokens=depth_tokens,
        active_params=parameter_count(spec)[1],
        constants=constants,
    )
    energy = energy_of(result.decode_tokens_per_s, device.board_power_w if device else None, price_per_kwh)
    return result.model_copy(update={"energy": energy, "notes": [*result.notes, *notes, *est.notes]})


def _resolve_device(
    gpu: str | None, vram_gib: float | None, gpus: int, ds: Dataset
) -> tuple[DeviceFacts | None, float | None]:
    """The GPU's facts and the memory to fit into: the named catalog GPU, or the detected one."""
    from .errors import InvalidRequestError
    from .hardware import detect_hardware, lookup_gpu

    if vram_gib is not None and (
        isinstance(vram_gib, bool)
        or not isinstance(vram_gib, (int, float))
        or not math.isfinite(vram_gib)
        or vram_gib < 0
    ):
        raise InvalidRequestError(f"vram_gib must be a non-negative number of GiB, not {vram_gib!r}")
    if gpu is not None:
        named = lookup_gpu(gpu, ds)
        memory = vram_gib if vram_gib is not None else named.memory_gib
        return (device_from_catalog(named, n_gpus=gpus) if memory else None), memory
    if vram_gib == 0:
        return None, 0.0
    report = detect_hardware()
    if not report.gpus:
        if vram_gib:
            raise InvalidRequestError(
                "a speed estimate needs the GPU's memory bandwidth, and no GPU was detected",
                hint="name the card: --gpu 'RTX 4090' (or gpu='RTX 4090')",
            )
        return None, None
    reading = report.gpus[0]
    entry: GPU | None
    try:
        entry = lookup_gpu(reading.name, ds)
    except InvalidRequestError:
        entry = None
    if entry is None:
        if not reading.peak_bandwidth_gbps:
            raise InvalidRequestError(
                f"the bandwidth of {reading.name} is not known", hint="name a catalog card: --gpu 'RTX 4090'"
            )
        device = DeviceFacts(
            name=reading.name, bandwidth_gbps=reading.peak_bandwidth_gbps, bandwidth_source="NVML",
            backend=_BACKENDS.get(reading.vendor, "cuda"), architecture=reading.architecture,
            compute_capability=reading.compute_capability, unified_memory=reading.unified_memory, n_gpus=gpus,
        )  # fmt: skip
    else:
        device = device_from_catalog(entry, n_gpus=gpus, bandwidth_gbps=reading.peak_bandwidth_gbps)
    memory = vram_gib if vram_gib is not None else reading.total_bytes / 2**30
    return device, memory


# vLLM decodes with CUDA graphs and fused kernels: a smaller fixed cost per layer than llama.cpp
# (an estimate; no vLLM batch-1 measurement is in the sources).
_VLLM_LAYER_US = 15.0
_VLLM_TOKEN_US = 400.0
_VLLM_BF16_EFFICIENCY = 0.80


def predict_serving_speed(
    spec: ModelSpec,
    fmt: str,
    bf16_bytes: int,
    format_bytes: int,
    device: DeviceFacts | None,
    host: HostFacts,
    *,
    active_params: int,
    prompt_tokens: int = 512,
) -> SpeedEstimate | None:
    """Decode and prefill of a vLLM checkpoint: a BF16 bandwidth estimate scaled by the format's ratio.

    NVFP4 and W4A16 take the published NVFP4/BF16 and W4A16/NVFP4 ratios (serving_decode_ratio);
    FP8 and INT8 have no measured pair, so their bytes are read at BF16's efficiency.
    """
    if device is None:
        return None
    # Active bytes: what a token reads of the checkpoint, from the active/total weight ratio.
    total_params = max(1, bf16_bytes // 2)
    active_share = min(1.0, active_params / total_params) if spec.is_moe else 1.0
    fixed_ms = (spec.n_layers * _VLLM_LAYER_US + _VLLM_TOKEN_US) / 1000
    bw = device.bandwidth_gbps * 1e6 * _VLLM_BF16_EFFICIENCY
    bf16_ms = bf16_bytes * active_share / bw + fixed_ms
    ratio, why = serving_decode_ratio(fmt, device.compute_capability)
    name = fmt.upper()
    if name in {"FP8", "W8A8-INT", "W8A16-INT", "INT8"}:
        decode_ms = format_bytes * active_share / bw + fixed_ms
        why = "bytes read at BF16's efficiency (no measured FP8/INT8 pair in the sources): estimate"
    else:
        decode_ms = bf16_ms / ratio
    decode = 1000 / decode_ms
    tflops = device.fp16_tflops or device.bandwidth_gbps * SPEED.tflops_per_gbps
    flops = 2.0 * prompt_tokens * active_params
    prefill = prompt_tokens / (flops / (tflops * 1e12 * 0.5) + fixed_ms / 1000)
    return _made(
        SpeedEstimate,
        decode_tokens_per_s=round(decode, 1), decode_low=round(decode * 0.65, 1), decode_high=round(decode * 1.35, 1),
        decode_bound="gpu-bandwidth", prefill_tokens_per_s=round(prefill, 1), prefill_low=round(prefill * 0.6, 1),
        prefill_high=round(prefill * 1.4, 1), prefill_bound="compute",
        decode_ms={"gpu_weights": round(decode_ms - fixed_ms, 4), "overhead": round(fixed_ms, 4)},
        prefill_ms={"compute": round(prompt_tokens * 1000 / prefill, 3)}, runtime="vllm", gpu_name=device.name,
        gpu_bandwidth_gbps=float(device.bandwidth_gbps), gpu_bandwidth_source=device.bandwidth_source,
        compute_tflops=round(tflops, 1), compute_source=device.compute_source or "estimated from bandwidth",
        host_bandwidth_gbps=float(host.bandwidth_gbps), host_bandwidth_source=host.source, depth_tokens=0,
        prompt_tokens=prompt_tokens, energy=None, estimate=True, notes=[f"vLLM {fmt}: {why}"],
    )  # fmt: skip


def check_host_inputs(host_bandwidth_gbps: object, price_per_kwh: object) -> None:
    """Refuse a host bandwidth or price that is not a positive finite number (or a bandwidth beyond any
    real machine's: limits.MAX_HOST_BANDWIDTH_GBPS), before any plan is made from it."""
    from .errors import InvalidRequestError
    from .limits import MAX_HOST_BANDWIDTH_GBPS

    for label, number in (("host_bandwidth_gbps", host_bandwidth_gbps), ("price_per_kwh", price_per_kwh)):
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) or number <= 0
        ):
            raise InvalidRequestError(f"{label} must be a positive number, not {number!r}")
    if isinstance(host_bandwidth_gbps, (int, float)) and host_bandwidth_gbps > MAX_HOST_BANDWIDTH_GBPS:
        raise InvalidRequestError(
            f"host_bandwidth_gbps {host_bandwidth_gbps:g} GB/s is beyond any real machine's "
            f"(limit {MAX_HOST_BANDWIDTH_GBPS:,} GB/s)",
            hint="give the host RAM bandwidth in GB/s (dual-channel DDR5-4800: 76.8)",
        )


def speed_facts(
    gpu_name: str | None,
    bandwidth_gbps: float | None,
    n_gpus: int,
    dataset: Dataset,
    host_bandwidth_gbps: float | None = None,
    price_per_kwh: float | None = None,
) -> dict[str, Any]:
    """The Planner's speed arguments for a request: the GPU's catalog facts (when its name is in
    the catalog) with the planning bandwidth, the host side, and the electricity price."""
    from .errors import InvalidRequestError
    from .hardware import lookup_gpu

    check_host_inputs(host_bandwidth_gbps, price_per_kwh)
    device: DeviceFacts | None = None
    if gpu_name and bandwidth_gbps:
        try:
            entry = lookup_gpu(gpu_name, dataset)
        except InvalidRequestError:  # a detected card the catalog does not list: bandwidth alone
            device = DeviceFacts(
                name=gpu_name, bandwidth_gbps=bandwidth_gbps, bandwidth_source="detected", n_gpus=n_gpus
            )
        else:
            device = device_from_catalog(entry, n_gpus=n_gpus)
            if bandwidth_gbps != entry.memory_bandwidth_gbps:
                device = dataclasses.replace(device, bandwidth_gbps=bandwidth_gbps, bandwidth_source="NVML")
    elif bandwidth_gbps:
        device = DeviceFacts(name=gpu_name, bandwidth_gbps=bandwidth_gbps, bandwidth_source="detected", n_gpus=n_gpus)
    return {
        "device": device,
        "host": host_facts(host_bandwidth_gbps, device, None),
        "price_per_kwh": price_per_kwh,
    }
