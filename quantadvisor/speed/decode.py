"""Decode time per token (llama-bench tg128): the bytes a token reads where they live, plus fixed costs.

Pure arithmetic. docs/methodology.md ("Speed", 4.1) gives the equation and its constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .rates import host_read_gbps, host_type_rate, kv_read_bytes, largest_part, layout_rates, shape_counts

if TYPE_CHECKING:
    from ..architecture import ModelSpec
    from ..memory.runtime import Layout, MemoryEstimate
    from .constants import Bound, SpeedConstants
    from .facts import DeviceFacts, HostFacts

__all__ = ["DecodeTime", "decode_time"]


@dataclass(frozen=True)
class DecodeTime:
    """One decoded token's milliseconds by part, what bounds it, and the placement facts prefill reuses."""

    ms: dict[str, float]
    """gpu_weights, gpu_kv, host_weights, host_kv, overhead."""
    bound: Bound
    offloaded: bool
    """Some layer, expert or the output layer runs on the CPU (or nothing runs on the GPU)."""
    host_weight_bytes: int
    """Dense and expert weight bytes in host memory (what op offload copies per ubatch)."""
    prefill_efficiency: float | None
    """The layout's prefill efficiency against a catalog tensor rate, when a GPU with one computes."""


def decode_time(
    spec: ModelSpec,
    layout: Layout,
    est: MemoryEstimate,
    device: DeviceFacts | None,
    host: HostFacts,
    *,
    depth_tokens: int,
    gen_tokens: int,
    constants: SpeedConstants,
) -> DecodeTime:
    """Time per decoded token of the placement `est` at `depth_tokens` cached tokens (tg`gen_tokens`)."""
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
    rates = layout_rates(layout, c, gpu.bandwidth_gbps if gpu else 1.0, gpu.fp16_tflops if gpu else None, scale, tensor)
    rate_rep, rate_out, rate_exp = rates[:3]

    cells = depth_tokens + gen_tokens // 2
    kv_total = kv_read_bytes(spec, est, cells)
    kv_planned = est.kv_cache_bytes + est.host_kv_cache_bytes
    kv_gpu_share = est.kv_cache_bytes / kv_planned if kv_planned and gpu is not None else 0.0

    ms: dict[str, float] = {"gpu_weights": 0.0, "gpu_kv": 0.0, "host_weights": 0.0, "host_kv": 0.0, "overhead": 0.0}
    if gpu is not None:
        bw = gpu.bandwidth_gbps * 1e6  # bytes per ms
        ms["gpu_weights"] = (
            gpu_rep / (rate_rep * 1e6) + gpu_out / (rate_out * 1e6) + gpu_expert * share / (rate_exp * 1e6)
        )
        ms["gpu_kv"] = kv_total * kv_gpu_share / (bw * c.kv_efficiency * scale)
    host_bw = host_read_gbps(host, c) * 1e6
    if host_dense or host_expert:
        rate_host_rep = host_type_rate(layout.dense_type_bytes, host, c) * 1e6
        rate_host_exp = host_type_rate(layout.expert_type_bytes, host, c) * 1e6
        ms["host_weights"] = host_dense / rate_host_rep + host_expert * share / rate_host_exp
    ms["host_kv"] = kv_total * (1 - kv_gpu_share) / host_bw

    # Fixed costs: per layer on each side, per MoE layer, per GPU/CPU hand-over.
    first_gpu_layer = n_layers - max(0, est.gpu_layers - 1) if gpu is not None else n_layers
    gpu_layers = n_layers - first_gpu_layer
    cpu_layers = n_layers - gpu_layers
    layer_us = c.metal_layer_us if metal else c.layer_us
    n_moe = shape_counts(spec)[0]
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
    # MLA attention (DeepSeek-V2/V3): the latent KV norm, the k_b and v_b absorption matmuls and two
    # concats replace the separate K and V projections and V's cache write: three kernels more.
    if spec.kv_lora_rank:
        layer_us += c.bias_us * 3
    # A shared expert is a dense FFN beside the routed ones: gate, up, activation, down and its add.
    moe_layer_us = c.moe_layer_us + (c.bias_us * 5 if spec.n_expert_shared else 0.0)
    overhead_us = (
        gpu_layers * layer_us
        + cpu_layers * c.cpu_layer_us
        + n_moe * moe_layer_us * (gpu_layers / max(1, n_layers) if gpu is not None else 1.0)
        + splits * c.split_us
        + c.token_us
    )
    ms["overhead"] = overhead_us / 1000
    parts: dict[Bound, float] = {
        "gpu-bandwidth": ms["gpu_weights"] + ms["gpu_kv"],
        "host-bandwidth": ms["host_weights"] + ms["host_kv"],
        "per-layer-overhead": ms["overhead"],
    }
    return DecodeTime(
        ms=ms,
        bound=largest_part(parts),
        offloaded=gpu is None or cpu_layers > 0 or moe_cpu_layers > 0 or not output_on_gpu,
        host_weight_bytes=host_dense + host_expert,
        prefill_efficiency=rates[3] if tensor else None,
    )
