"""NVIDIA GPUs through NVML (nvidia-ml-py): v2 memory info, MIG instances, other processes, bandwidth.

Every query that a card or driver does not support becomes a note on the reading, not an error."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from .readings import GPUReading, MigInstance

# Fallback for pynvml builds that lack a constant (values from nvml.h, as the H100 fixture records).
_NVML_ARCH_NAMES = {
    2: "kepler",
    3: "maxwell",
    4: "pascal",
    5: "volta",
    6: "turing",
    7: "ampere",
    8: "ada",
    9: "hopper",
    10: "blackwell",
    13: "rubin",
}

_NVML_ERROR_NOT_SUPPORTED = 3

_NVML_ERROR_NOT_FOUND = 6

_NVML_DEVICE_MIG_ENABLE = 1

_NVML_CLOCK_MEM = 2


def _nvml_error_name(exc: BaseException) -> str:
    return type(exc).__name__


def _is_nvml_code(exc: BaseException, pynvml: Any, name: str, default: int) -> bool:
    return getattr(exc, "value", None) == getattr(pynvml, name, default)


def _text(value: object) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


class _NvmlQueries:
    """Call NVML functions for one device; NotSupported becomes None quietly, other errors a note."""

    def __init__(self, pynvml: Any, where: str, notes: list[str]) -> None:
        self.pynvml = pynvml
        self.where = where
        self.notes = notes

    def __call__(self, function: str, *args: Any, **kwargs: Any) -> Any:
        fn = getattr(self.pynvml, function, None)
        if fn is None:
            self.notes.append(f"{self.where}: this nvidia-ml-py has no {function}; field left empty")
            return None
        try:
            return fn(*args, **kwargs)
        except self.pynvml.NVMLError as exc:
            if not _is_nvml_code(exc, self.pynvml, "NVML_ERROR_NOT_SUPPORTED", _NVML_ERROR_NOT_SUPPORTED):
                failed = _nvml_error_name(exc)
                self.notes.append(f"{self.where}: {function} failed ({failed}); field left empty")
            return None


def _memory_info(q: _NvmlQueries, handle: Any) -> tuple[int, int, int, int | None] | None:
    """(total, free, used, reserved) — v2 when the driver has it (reserved apart from used), else v1."""
    pynvml = q.pynvml
    version = getattr(pynvml, "nvmlMemory_v2", None)
    if version is not None:
        try:
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle, version=version)
            return int(mem.total), int(mem.free), int(mem.used), int(mem.reserved)
        except (pynvml.NVMLError, TypeError, AttributeError):
            pass  # an older driver or binding: the v1 call below still answers
    mem = q("nvmlDeviceGetMemoryInfo", handle)
    if mem is None:
        return None
    return int(mem.total), int(mem.free), int(mem.used), None


def _other_processes(q: _NvmlQueries, handle: Any) -> int | None:
    """Bytes held by processes NVML lists (compute and graphics, each pid once); None if it lists none."""
    seen: dict[int, int] = {}
    answered = False
    unreported = 0
    for function in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        procs = q(function, handle)
        if procs is None:
            continue
        answered = True
        for proc in procs:
            pid = int(getattr(proc, "pid", -1))
            used = getattr(proc, "usedGpuMemory", None)
            if pid == os.getpid():
                continue
            if used is None:
                unreported += 1
                continue
            seen[pid] = max(seen.get(pid, 0), int(used))
    if unreported:
        q.notes.append(
            f"{q.where}: {unreported} process(es) report no memory figure (Windows WDDM does this); "
            "the budget relies on NVML's 'used' instead"
        )
    return sum(seen.values()) if answered else None


def _mig_instances(q: _NvmlQueries, handle: Any) -> list[MigInstance]:
    pynvml = q.pynvml
    count = q("nvmlDeviceGetMaxMigDeviceCount", handle) or 0
    found: list[MigInstance] = []
    for slot in range(int(count)):
        try:
            mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except pynvml.NVMLError as exc:
            if not _is_nvml_code(exc, pynvml, "NVML_ERROR_NOT_FOUND", _NVML_ERROR_NOT_FOUND):
                q.notes.append(f"{q.where}: MIG slot {slot}: {_nvml_error_name(exc)}")
            continue  # NotFound: an empty slot
        memory = _memory_info(q, mig)
        if memory is None:
            continue
        total, free, used, _reserved = memory
        name = q("nvmlDeviceGetName", mig)
        gi = q("nvmlDeviceGetGpuInstanceId", mig)
        found.append(
            MigInstance(
                index=slot,
                name=_text(name) if name is not None else None,
                gpu_instance_id=int(gi) if gi is not None else None,
                total_bytes=total,
                free_bytes=free,
                used_bytes=used,
            )
        )
    return found


def _architecture_name(pynvml: Any, code: int | None) -> str | None:
    if code is None:
        return None
    for attr in dir(pynvml):
        known = attr.startswith("NVML_DEVICE_ARCH_") and attr != "NVML_DEVICE_ARCH_UNKNOWN"
        if known and getattr(pynvml, attr) == code:
            return attr.removeprefix("NVML_DEVICE_ARCH_").lower()
    return _NVML_ARCH_NAMES.get(code)


def _cuda_version(value: int | None) -> str | None:
    if value is None or value <= 0:
        return None
    return f"{value // 1000}.{(value % 1000) // 10}"


def _peak_bandwidth_gbps(bus_width_bits: int | None, mem_clock_mhz: int | None) -> float | None:
    """bus width / 8 × memory clock × 2 (NVML reports the clock of a double-data-rate bus), in GB/s."""
    if not bus_width_bits or not mem_clock_mhz:
        return None
    return round(bus_width_bits / 8 * mem_clock_mhz * 2 / 1000, 1)


def _read_nvidia_device(
    pynvml: Any,
    index: int,
    *,
    driver: str | None,
    cuda: str | None,
    host_ram: tuple[int | None, int | None],
    notes: list[str],
) -> GPUReading | None:
    where = f"GPU {index}"
    q = _NvmlQueries(pynvml, where, notes)
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    except pynvml.NVMLError as exc:
        notes.append(f"{where}: cannot open ({_nvml_error_name(exc)}); left out")
        return None
    raw_name = q("nvmlDeviceGetName", handle)
    name = _text(raw_name) if raw_name is not None else f"NVIDIA GPU {index}"
    q.where = where = f"GPU {index} ({name})"

    unified = False
    memory = _memory_info(q, handle)
    if memory is None:
        host_total, host_free = host_ram
        if host_total is None:
            notes.append(f"{where}: NVML reports no memory figures and host RAM is unknown; left out")
            return None
        # GB10 (DGX Spark) and Jetson report no framebuffer: the GPU shares host RAM.
        notes.append(f"{where}: NVML reports no memory figures; treating it as unified memory (host RAM)")
        unified = True
        free = host_free if host_free is not None else None
        memory = (host_total, free if free is not None else host_total, 0, None)
    total, free_bytes, used, reserved = memory
    if reserved is None and not unified:
        notes.append(f"{where}: NVML v1 memory API only: 'used' includes driver-reserved memory")

    cc = q("nvmlDeviceGetCudaComputeCapability", handle)
    compute_capability = float(f"{int(cc[0])}.{int(cc[1])}") if cc is not None else None
    arch_code = q("nvmlDeviceGetArchitecture", handle)
    mig_mode = q("nvmlDeviceGetMigMode", handle)
    enable = getattr(pynvml, "NVML_DEVICE_MIG_ENABLE", _NVML_DEVICE_MIG_ENABLE)
    mig_enabled = mig_mode is not None and int(mig_mode[0]) == enable
    bus = q("nvmlDeviceGetMemoryBusWidth", handle)
    clock = q("nvmlDeviceGetMaxClockInfo", handle, getattr(pynvml, "NVML_CLOCK_MEM", _NVML_CLOCK_MEM))
    display = q("nvmlDeviceGetDisplayActive", handle)
    return GPUReading(
        index=index,
        name=name,
        vendor="nvidia",
        total_bytes=total,
        free_bytes=free_bytes,
        used_bytes=used,
        reserved_bytes=reserved,
        other_processes_bytes=_other_processes(q, handle),
        compute_capability=compute_capability,
        architecture=_architecture_name(pynvml, int(arch_code) if arch_code is not None else None),
        mig_enabled=mig_enabled,
        mig_instances=_mig_instances(q, handle) if mig_enabled else [],
        driver_version=driver,
        cuda_driver_version=cuda,
        bus_width_bits=int(bus) if bus else None,
        max_mem_clock_mhz=int(clock) if clock else None,
        peak_bandwidth_gbps=_peak_bandwidth_gbps(bus, clock),
        display_active=bool(display) if display is not None else None,
        unified_memory=unified,
        source="nvml",
    )


def _detect_nvidia(notes: list[str], host_ram: tuple[int | None, int | None]) -> list[GPUReading]:
    try:
        import pynvml
    except ImportError:
        notes.append("NVML unavailable: nvidia-ml-py (pynvml) is not installed")
        return []
    except Exception as exc:  # a broken install (or a warning made an error) is an environment problem
        notes.append(f"NVML unavailable: importing pynvml failed: {type(exc).__name__}: {exc}")
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        why = {
            "NVMLError_LibraryNotFound": "libnvidia-ml is not installed: no NVIDIA driver",
            "NVMLError_DriverNotLoaded": "the NVIDIA kernel driver is not loaded",
            "NVMLError_NoPermission": "no permission to open the GPU device files",
        }.get(_nvml_error_name(exc), str(exc))
        notes.append(f"NVML unavailable: {_nvml_error_name(exc)} at nvmlInit ({why})")
        return []
    except OSError as exc:
        notes.append(f"NVML unavailable: {exc}")
        return []
    try:
        q = _NvmlQueries(pynvml, "NVML", notes)
        count = q("nvmlDeviceGetCount")
        if not count:
            notes.append("NVML found no NVIDIA GPU")
            return []
        driver_raw = q("nvmlSystemGetDriverVersion")
        driver = _text(driver_raw) if driver_raw is not None else None
        cuda = _cuda_version(q("nvmlSystemGetCudaDriverVersion"))
        readings = [
            _read_nvidia_device(pynvml, i, driver=driver, cuda=cuda, host_ram=host_ram, notes=notes)
            for i in range(int(count))
        ]
        return [r for r in readings if r is not None]
    finally:
        with contextlib.suppress(Exception):  # shutting down is best effort; the readings stand
            pynvml.nvmlShutdown()
