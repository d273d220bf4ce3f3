"""estimate_speed(): resolve the model, the GPU (named or detected) and the placement, then predict.

predict_speed() joins decode and prefill (pure arithmetic, cached); estimate_speed() fills its inputs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from .constants import SPEED, SpeedConstants
from .decode import decode_time
from .facts import BACKENDS, DeviceFacts, check_host_inputs, device_from_catalog, host_facts
from .prefill import prefill_time
from .results import SpeedEstimate, energy_of, made

if TYPE_CHECKING:
    from pathlib import Path

    from ..architecture import ModelSpec
    from ..dataset import Dataset
    from ..memory.runtime import Layout, MemoryEstimate
    from ..models import GPU
    from .facts import HostFacts

__all__ = ["estimate_speed", "predict_speed"]

_FIT_HEADROOM_BYTES = 512 * 2**20

_RESULTS: OrderedDict[tuple[object, ...], tuple[object, object, object, SpeedEstimate]] = OrderedDict()


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
    if hit is not None and hit[0] is spec and hit[1] is layout and hit[2] is constants:
        return _copy(hit[3])
    result = _predict(
        spec, layout, est, device, host, depth_tokens=depth_tokens, prompt_tokens=prompt_tokens,
        gen_tokens=gen_tokens, active_params=active_params, price_per_kwh=price_per_kwh, constants=constants,
    )  # fmt: skip
    _RESULTS[key] = (spec, layout, constants, result)
    if len(_RESULTS) > 2048:
        _RESULTS.popitem(last=False)
    return _copy(result)


def _copy(result: SpeedEstimate) -> SpeedEstimate:
    """A copy with its own containers: a caller may change what it got without changing the cache."""
    fields = dict(result.__dict__)
    fields["decode_ms"], fields["prefill_ms"] = dict(result.decode_ms), dict(result.prefill_ms)
    fields["notes"] = list(result.notes)
    return made(SpeedEstimate, **fields)


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
    gpu = device if device is not None and est.gpu_layers > 0 else None
    dec = decode_time(
        spec, layout, est, device, host, depth_tokens=depth_tokens, gen_tokens=gen_tokens, constants=constants
    )
    decode_ms = sum(dec.ms.values())
    decode = 1000 / decode_ms if decode_ms > 0 else math.inf

    # Prefill: matmul FLOPs (+ attention) at the tensor throughput; host weights cross PCIe per ubatch.
    pp_ms, prefill_bound, compute_tflops, compute_source = prefill_time(
        spec, layout, est, device if device is not None else None, host, prompt_tokens, depth_tokens,
        active_params, dec.prefill_efficiency, constants,
        host_weight_bytes=dec.host_weight_bytes if device is not None else 0,
    )  # fmt: skip
    prefill = prompt_tokens * 1000 / sum(pp_ms.values()) if sum(pp_ms.values()) > 0 else math.inf

    d_spread = 0.30 if dec.offloaded else 0.15
    p_spread = 0.25 if compute_source and "catalog" in compute_source else 0.40
    if dec.offloaded:
        p_spread = max(p_spread, 0.35)
    notes: list[str] = []
    if gpu is None and device is not None:
        notes.append("no layer on the GPU: decode and prefill run on the CPU")
    return made(
        SpeedEstimate,
        decode_tokens_per_s=round(decode, 1), decode_low=round(decode * (1 - d_spread), 1),
        decode_high=round(decode * (1 + d_spread), 1), decode_bound=dec.bound,
        prefill_tokens_per_s=round(prefill, 1), prefill_low=round(prefill * (1 - p_spread), 1),
        prefill_high=round(prefill * (1 + p_spread), 1), prefill_bound=prefill_bound,
        decode_ms=dec.ms, prefill_ms=pp_ms,
        runtime="llama.cpp", gpu_name=device.name if device else None,
        gpu_bandwidth_gbps=float(device.bandwidth_gbps) if device else None,
        gpu_bandwidth_source=device.bandwidth_source if device else None,
        compute_tflops=compute_tflops, compute_source=compute_source,
        host_bandwidth_gbps=float(host.bandwidth_gbps), host_bandwidth_source=host.source,
        depth_tokens=depth_tokens, prompt_tokens=prompt_tokens,
        energy=energy_of(round(decode, 1), gpu.board_power_w if gpu else None, price_per_kwh), estimate=True,
        notes=notes,
    )  # fmt: skip


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
    from ..architecture import load_model_spec
    from ..dataset import load_dataset
    from ..errors import InvalidRequestError
    from ..limits import MAX_CONTEXT_TOKENS, MAX_CPU_THREADS, MAX_LAYERS
    from ..memory import estimate_memory, gguf_layout, parameter_count, type_sizes
    from ..memory.fit import fit_gpu_layers, fit_moe_offload

    for label, value, minimum, maximum in (
        ("gpus", gpus, 1, MAX_LAYERS), ("depth_tokens", depth_tokens, 0, MAX_CONTEXT_TOKENS),
        ("n_cpu_moe", n_cpu_moe, 0, MAX_LAYERS),
    ):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise InvalidRequestError(f"{label} must be an integer from {minimum} to {maximum:,}, not {value!r:.40}")
    if cpu_threads is not None and (
        isinstance(cpu_threads, bool) or not isinstance(cpu_threads, int) or not 1 <= cpu_threads <= MAX_CPU_THREADS
    ):
        raise InvalidRequestError(
            f"cpu_threads must be an integer from 1 to {MAX_CPU_THREADS:,}, not {cpu_threads!r:.40}"
        )
    check_host_inputs(host_bandwidth_gbps, price_per_kwh)
    if not isinstance(constants, SpeedConstants):
        raise InvalidRequestError(
            f"constants must be SpeedConstants (the fitted default), not {type(constants).__name__}"
        )
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
    from ..errors import InvalidRequestError
    from ..hardware import detect_hardware, lookup_gpu
    from ..limits import MAX_GPU_MEMORY_BYTES, real_number

    real = real_number(vram_gib)
    if vram_gib is not None and (real is None or not 0 <= real * 2**30 <= MAX_GPU_MEMORY_BYTES):
        raise InvalidRequestError(
            f"vram_gib must be a non-negative number of GiB (at most 1 PiB), not {vram_gib!r:.40}"
        )
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
            backend=BACKENDS.get(reading.vendor, "cuda"), architecture=reading.architecture,
            compute_capability=reading.compute_capability, unified_memory=reading.unified_memory, n_gpus=gpus,
        )  # fmt: skip
    else:
        device = device_from_catalog(entry, n_gpus=gpus, bandwidth_gbps=reading.peak_bandwidth_gbps)
    memory = vram_gib if vram_gib is not None else reading.total_bytes / 2**30
    return device, memory
