"""Tokens per second: decode and prefill time from the bytes and FLOPs each token costs.

predict_speed() and its helpers are pure arithmetic; estimate_speed() resolves its inputs (model,
catalog GPU or detected one, memory placement) and calls it.

Decode (one sequence) reads every weight the token needs once: the GPU's share at the GPU's memory
bandwidth times a per-type kernel efficiency, the host's share at the host's bandwidth, the KV cache
at the depth reached, plus a fixed cost per layer (kernel launches, graph replay) that dominates
small models on fast GPUs. Prefill is matmul work at the GPU's tensor throughput, plus the host
weights llama.cpp streams over PCIe for large batches (op offload). docs/methodology.md ("Speed")
gives the equations and which constants were fitted on which measurements.

Modules, in import order: constants (SpeedConstants, SPEED), results (SpeedEstimate, Energy),
facts (the GPU's and host's facts), rates (per-type kernel rates, shape counts), decode, prefill,
serving (vLLM formats), estimate (predict_speed, estimate_speed).
"""

from __future__ import annotations

from .constants import DEFAULT_HOST_BANDWIDTH_GBPS, SPEED, Backend, Bound, SpeedConstants
from .estimate import estimate_speed, predict_speed
from .facts import DeviceFacts, HostFacts, check_host_inputs, device_from_catalog, host_facts, speed_facts
from .results import Energy, SpeedEstimate, energy_of
from .serving import predict_serving_speed, serving_decode_ratio

__all__ = [
    "DEFAULT_HOST_BANDWIDTH_GBPS",
    "SPEED",
    "Backend",
    "Bound",
    "DeviceFacts",
    "Energy",
    "HostFacts",
    "SpeedConstants",
    "SpeedEstimate",
    "check_host_inputs",
    "device_from_catalog",
    "energy_of",
    "estimate_speed",
    "host_facts",
    "predict_serving_speed",
    "predict_speed",
    "serving_decode_ratio",
    "speed_facts",
]
