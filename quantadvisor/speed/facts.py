"""The hardware a speed estimate assumes: the GPU's and the host's facts, with where each came from."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .constants import DEFAULT_HOST_BANDWIDTH_GBPS, Backend

if TYPE_CHECKING:
    from ..dataset import Dataset
    from ..models import GPU

__all__ = [
    "BACKENDS",
    "PCIE_BY_ARCH",
    "DeviceFacts",
    "HostFacts",
    "check_host_inputs",
    "device_from_catalog",
    "host_facts",
    "speed_facts",
]

# Nominal PCIe x16 bandwidth per direction (GB/s) by generation: 3.0 15.75, 4.0 31.5, 5.0 63.
PCIE_BY_ARCH = {"Turing": 15.75, "Ampere": 31.5, "Ada Lovelace": 31.5, "Hopper": 63.0, "Blackwell": 63.0}


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
        return PCIE_BY_ARCH.get((self.architecture or "").split(" Ultra")[0], 31.5)


@dataclass(frozen=True)
class HostFacts:
    """System RAM bandwidth and threads used for whatever runs on the CPU."""

    bandwidth_gbps: float
    source: str
    threads: int | None = None


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


BACKENDS: dict[str, Backend] = {"nvidia": "cuda", "apple": "metal", "amd": "rocm", "intel": "vulkan"}


def device_from_catalog(gpu: GPU, *, n_gpus: int = 1, bandwidth_gbps: float | None = None) -> DeviceFacts:
    """DeviceFacts of a catalog GPU (data/gpus.yaml); `bandwidth_gbps` replaces the catalog's (NVML's reading)."""
    return DeviceFacts(
        name=gpu.name,
        bandwidth_gbps=bandwidth_gbps or gpu.memory_bandwidth_gbps,
        bandwidth_source="NVML (bus width x memory clock)" if bandwidth_gbps else f"catalog ({gpu.source})",
        fp16_tflops=gpu.fp16_tensor_tflops,
        compute_source=f"catalog ({gpu.source})" if gpu.fp16_tensor_tflops else None,
        backend=BACKENDS.get(gpu.vendor, "cuda"),
        architecture=gpu.architecture,
        compute_capability=gpu.compute_capability,
        board_power_w=gpu.board_power_w,
        unified_memory=gpu.unified_memory,
        n_gpus=n_gpus,
    )


def check_host_inputs(host_bandwidth_gbps: object, price_per_kwh: object) -> None:
    """Refuse a host bandwidth or price that is not a positive finite number (or a bandwidth beyond any
    real machine's: limits.MAX_HOST_BANDWIDTH_GBPS), before any plan is made from it."""
    from ..errors import InvalidRequestError
    from ..limits import MAX_HOST_BANDWIDTH_GBPS, real_number

    for label, number in (("host_bandwidth_gbps", host_bandwidth_gbps), ("price_per_kwh", price_per_kwh)):
        if number is not None and ((real := real_number(number)) is None or real <= 0):
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
    from ..errors import InvalidRequestError
    from ..hardware import lookup_gpu

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
