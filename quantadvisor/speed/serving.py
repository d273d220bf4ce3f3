"""vLLM serving formats (NVFP4, FP8, W4A16): a BF16 bandwidth estimate scaled by published format ratios."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .constants import SPEED
from .results import SpeedEstimate, made

if TYPE_CHECKING:
    from ..architecture import ModelSpec
    from .facts import DeviceFacts, HostFacts

__all__ = ["predict_serving_speed", "serving_decode_ratio"]

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
    return made(
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
