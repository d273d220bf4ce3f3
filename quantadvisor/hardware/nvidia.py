"""NVIDIA GPUs through NVML (nvidia-ml-py): v2 memory info, MIG instances, other processes, bandwidth.

Every query that a card or driver does not support becomes a note on the reading, not an error."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ..limits import MAX_GPU_MEMORY_BYTES
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

# Loops over NVML's counts are bounded: NVML addresses at most 64 devices per host and 7 MIG slots per GPU.
_MAX_GPUS = 256
_MAX_MIG_SLOTS = 64


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


class _UnreadableError(Exception):
    """A reading NVML gave that no real GPU can have (negative, free > total, beyond MAX_GPU_MEMORY_BYTES)."""


def _bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GPU_MEMORY_BYTES:
        raise _UnreadableError(repr(value)[:40])
    return value


def _checked(total: object, free: object, used: object, reserved: object) -> tuple[int, int, int, int | None]:
    """The memory figures as ints, or _UnreadableError: a broken driver's 2^64-1 must never become a budget."""
    t, f, u = _bytes(total), _bytes(free), _bytes(used)
    r = None if reserved is None else _bytes(reserved)
    if t == 0 or f > t or u > t or (r is not None and r > t):
        raise _UnreadableError(f"total {t:,}, free {f:,}, used {u:,}" + ("" if r is None else f", reserved {r:,}"))
    return t, f, u, r


def _memory_info(q: _NvmlQueries, handle: Any) -> tuple[int, int, int, int | None] | None:
    """(total, free, used, reserved) — v2 when the driver has it (reserved apart from used), else v1.

    Raises _UnreadableError when the figures are out of range."""
    pynvml = q.pynvml
    version = getattr(pynvml, "nvmlMemory_v2", None)
    if version is not None:
        try:
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle, version=version)
            raw = (mem.total, mem.free, mem.used, mem.reserved)
        except (pynvml.NVMLError, TypeError, AttributeError):
            pass  # an older driver or binding: the v1 call below still answers
        else:
            return _checked(*raw)
    mem = q("nvmlDeviceGetMemoryInfo", handle)
    if mem is None:
        return None
    try:
        raw = (mem.total, mem.free, mem.used, None)
    except AttributeError:
        raise _UnreadableError("no total/free/used fields") from None
    return _checked(*raw)


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
            if isinstance(used, int) and not isinstance(used, bool) and 0 <= used <= MAX_GPU_MEMORY_BYTES:
                seen[pid] = max(seen.get(pid, 0), used)
            else:
                unreported += 1
    if unreported:
        q.notes.append(
            f"{q.where}: {unreported} process(es) report no memory figure (Windows WDDM does this); "
            "the budget relies on NVML's 'used' instead"
        )
    return sum(seen.values()) if answered else None


def _mig_instances(q: _NvmlQueries, handle: Any) -> list[MigInstance]:
    pynvml = q.pynvml
    count = _in_range(q("nvmlDeviceGetMaxMigDeviceCount", handle), _MAX_MIG_SLOTS) or 0
    found: list[MigInstance] = []
    for slot in range(int(count)):
        try:
            mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except pynvml.NVMLError as exc:
            if not _is_nvml_code(exc, pynvml, "NVML_ERROR_NOT_FOUND", _NVML_ERROR_NOT_FOUND):
                q.notes.append(f"{q.where}: MIG slot {slot}: {_nvml_error_name(exc)}")
            continue  # NotFound: an empty slot
        try:
            memory = _memory_info(q, mig)
        except _UnreadableError as exc:
            q.notes.append(f"{q.where}: MIG slot {slot}: NVML memory reading out of range ({exc}); left out")
            continue
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


def _in_range(value: object, high: int) -> int | None:
    """A small positive reading (bus width, clock) or None: a negative or absurd one is no reading."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= high:
        return None
    return value


def _peak_bandwidth_gbps(bus_width_bits: int | None, mem_clock_mhz: int | None) -> float | None:
    """bus width / 8 × memory clock × 2 (NVML reports the clock of a double-data-rate bus), in GB/s."""
    if not bus_width_bits or not mem_clock_mhz:
        return None
    return round(bus_width_bits / 8 * mem_clock_mhz * 2 / 1000, 1)


# Integrated GPUs that share host RAM and report no framebuffer: Jetson (CC 5.3 Nano, 6.2 TX2, 7.2 Xavier,
# 8.7 Orin, 11.0 Thor) and GB10 (CC 12.1, DGX Spark); also matched by name.
_INTEGRATED_CC = frozenset({5.3, 6.2, 7.2, 8.7, 11.0, 12.1})
_INTEGRATED_NAMES = ("gb10", "jetson", "orin", "thor", "xavier", "tegra", "spark")


def _integrated(name: str, compute_capability: float | None) -> bool:
    lowered = name.lower()
    return compute_capability in _INTEGRATED_CC or any(n in lowered for n in _INTEGRATED_NAMES)


def _compute_capability(cc: object) -> float | None:
    """(major, minor) from NVML as 9.0, or None for a missing or impossible pair."""
    try:
        major, minor = int(cc[0]), int(cc[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return float(f"{major}.{minor}") if 1 <= major <= 99 and 0 <= minor <= 9 else None


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
    name = _text(raw_name)[:256] if raw_name is not None else f"NVIDIA GPU {index}"
    q.where = where = f"GPU {index} ({name})"

    cc = q("nvmlDeviceGetCudaComputeCapability", handle)
    compute_capability = _compute_capability(cc)
    unified = False
    try:
        memory = _memory_info(q, handle)
    except _UnreadableError as exc:
        notes.append(f"{where}: NVML memory reading out of range ({exc}): unreadable; left out (pass --vram GIB)")
        return None
    if memory is None:
        host_total, host_free = host_ram
        if not _integrated(name, compute_capability):
            # A discrete card whose memory queries all fail (NotSupported on an A100 under some drivers)
            # has memory nobody knows: host RAM would be a made-up budget.
            notes.append(f"{where}: NVML reports no memory figures for a discrete GPU: memory unknown; left out "
                         "(pass --vram GIB)")  # fmt: skip
            return None
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

    arch_code = q("nvmlDeviceGetArchitecture", handle)
    mig_mode = q("nvmlDeviceGetMigMode", handle)
    enable = getattr(pynvml, "NVML_DEVICE_MIG_ENABLE", _NVML_DEVICE_MIG_ENABLE)
    mig_enabled = mig_mode is not None and int(mig_mode[0]) == enable
    bus = _in_range(q("nvmlDeviceGetMemoryBusWidth", handle), 65_536)
    clock = _in_range(
        q("nvmlDeviceGetMaxClockInfo", handle, getattr(pynvml, "NVML_CLOCK_MEM", _NVML_CLOCK_MEM)), 100_000
    )
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


def detect_nvidia(notes: list[str], host_ram: tuple[int | None, int | None]) -> list[GPUReading]:
    """Read NVIDIA GPUs through NVML; [] with a note in `notes` when NVML is missing or fails."""
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
        raw_count = q("nvmlDeviceGetCount")
        count = _in_range(raw_count, _MAX_GPUS)
        if raw_count and count is None:
            notes.append(f"NVML reports {str(raw_count)[:30]} GPUs, not a possible count: GPUs unreadable")
            return []
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
