"""GPU and host-memory facts: NVML first, honest fallbacks, overrides for planning, and the planning budget.

Detection never raises for environment problems (no driver, no library, a query the card does not
support, a tool that hangs): each becomes a note on the report. Third-party modules (pynvml, amdsmi)
are imported inside the functions that use them. The budget policy is documented in docs/hardware.md.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .construct import construct
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .dataset import Dataset
    from .models import GPU

__all__ = [
    "APPLE_SMALL_RAM_LIMIT_BYTES",
    "DEFAULT_SAFETY_MARGIN_BYTES",
    "DISPLAY_ALLOWANCE_BYTES",
    "GIB",
    "MIB",
    "OVERRIDE_SAFETY_MARGIN_BYTES",
    "SUBPROCESS_TIMEOUT_S",
    "Budget",
    "GPUReading",
    "HardwareReport",
    "MigInstance",
    "apple_working_set_bytes",
    "detect_hardware",
    "hardware_from_overrides",
    "lookup_gpu",
    "planning_budget",
]

GIB = 1024**3
MIB = 1024**2

# llama.cpp keeps this much free per device when it fits a model (common/common.h: fit_params_target,
# default 1024 MiB; --fit is on by default), so "fits" here agrees with what llama.cpp does by default.
DEFAULT_SAFETY_MARGIN_BYTES = 1024 * MIB
# --vram GIB means "this much is mine for the model": planned exactly as typed.
OVERRIDE_SAFETY_MARGIN_BYTES = 0
# Only used when planning without current usage (use_free=False) on a GPU that drives a display:
# our estimate of what a desktop session holds (observed 0.3-2 GiB); see docs/hardware.md.
DISPLAY_ALLOWANCE_BYTES = 1024 * MIB
# Apple Silicon default GPU working set: 2/3 of RAM up to this size, 3/4 above (docs/hardware.md).
APPLE_SMALL_RAM_LIMIT_BYTES = 36 * GIB
SUBPROCESS_TIMEOUT_S = 3.0
# Planned memory above 1 PiB is a typo, and would overflow byte arithmetic as a float.
MAX_PLANNED_GIB = 1024 * 1024
_MAX_OVERRIDE_GPUS = 64
_AMD_PCI_VENDOR = "0x1002"
_PCI_VENDORS: dict[str, Literal["nvidia", "amd", "intel"]] = {
    "0x10de": "nvidia",
    "0x1002": "amd",
    "0x8086": "intel",
}
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

Vendor = Literal["nvidia", "amd", "intel", "apple", "unknown"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class MigInstance(_Frozen):
    """One MIG device (GPU instance + compute instance) of a GPU with MIG enabled."""

    index: int
    name: str | None = None
    gpu_instance_id: int | None = None
    total_bytes: int = Field(ge=0)
    free_bytes: int | None = Field(default=None, ge=0)
    used_bytes: int | None = Field(default=None, ge=0)


class GPUReading(_Frozen):
    """What one GPU reported (or what the user or the catalog said about it); byte fields are ints."""

    index: int
    name: str
    vendor: Vendor
    total_bytes: int = Field(ge=0)
    free_bytes: int | None = Field(default=None, ge=0)
    used_bytes: int | None = Field(default=None, ge=0)
    reserved_bytes: int | None = Field(default=None, ge=0)
    other_processes_bytes: int | None = Field(default=None, ge=0)
    compute_capability: float | None = None
    architecture: str | None = None
    mig_enabled: bool = False
    mig_instances: list[MigInstance] = []
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    bus_width_bits: int | None = None
    max_mem_clock_mhz: int | None = None
    peak_bandwidth_gbps: float | None = None
    display_active: bool | None = None
    unified_memory: bool = False
    source: str


class HardwareReport(_Frozen):
    """Every GPU found, host memory, where the figures came from, and what could not be read."""

    gpus: list[GPUReading]
    host_ram_bytes: int | None = Field(default=None, ge=0)
    host_ram_available_bytes: int | None = Field(default=None, ge=0)
    host_ram_source: str | None = None
    source: str
    notes: list[str] = []


class Budget(_Frozen):
    """What quantadvisor plans with, and the arithmetic that produced it (`steps`)."""

    vram_bytes: int = Field(ge=0)
    per_gpu_bytes: list[int]
    ram_bytes: int | None = Field(default=None, ge=0)
    compute_capability: float | None = None
    gpu_name: str | None = None
    source: str
    steps: list[str]


def _gib(value: int) -> str:
    return f"{value / GIB:.2f} GiB"


# --------------------------------------------------------------------------- subprocesses


def _run_tool(argv: list[str], notes: list[str]) -> str | None:
    """Run a fixed tool with a 3 s limit; return stdout, or None with the reason added to `notes`."""
    import shutil  # detection only: these stay out of the start-up of planning commands
    import subprocess

    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        notes.append(f"`{' '.join(argv)}` did not answer within {SUBPROCESS_TIMEOUT_S:g} s")
        return None
    except OSError as exc:
        notes.append(f"`{' '.join(argv)}` could not run: {exc.strerror or exc}")
        return None
    if done.returncode != 0:
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        notes.append(f"`{' '.join(argv)}` exited {done.returncode}" + (f": {first[0]}" if first else ""))
        return None
    return done.stdout


# --------------------------------------------------------------------------- host RAM


def _meminfo() -> dict[str, int]:
    """MemTotal/MemAvailable from /proc/meminfo, in bytes (empty off Linux)."""
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}
    found: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"(MemTotal|MemAvailable):\s+(\d+)\s*kB", line)
        if match:
            found[match.group(1)] = int(match.group(2)) * 1024
    return found


def _windows_memory() -> tuple[int, int] | None:  # pragma: no cover - exercised on Windows only
    if sys.platform != "win32":
        return None
    import ctypes

    class _MemoryStatusEx(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = _MemoryStatusEx()
    status.dwLength = ctypes.sizeof(_MemoryStatusEx)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullTotalPhys), int(status.ullAvailPhys)


def _cgroup_limit(root: Path) -> tuple[int, int | None] | None:
    """(limit, current usage) of this process's memory cgroup (v2, else v1); None if unlimited."""
    for limit_file, usage_file in (
        ("fs/cgroup/memory.max", "fs/cgroup/memory.current"),
        ("fs/cgroup/memory/memory.limit_in_bytes", "fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit = _read_int(root / limit_file)  # "max" (v2, unlimited) reads as None
        if limit is not None and limit < 2**60:  # v1 writes ~2^63 for "unlimited"
            return limit, _read_int(root / usage_file)
    return None


def _host_ram(notes: list[str], sysfs_root: Path) -> tuple[int | None, int | None, str | None]:
    """Return (total, available, source): total from sysconf, available from Linux's MemAvailable,
    both capped by a container's memory cgroup limit."""
    info = _meminfo()
    total: int | None = None
    source: str | None = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        source = "sysconf"
    if (total is None or total <= 0) and "MemTotal" in info:
        total, source = info["MemTotal"], "/proc/meminfo"
    available = info.get("MemAvailable")
    if total is None or total <= 0:
        windows = _windows_memory()
        if windows is not None:
            total, available = windows
            source = "GlobalMemoryStatusEx"
    if total is None or total <= 0:
        notes.append("host RAM could not be read; pass --ram GIB to plan CPU offload")
        return None, None, None
    cgroup = _cgroup_limit(sysfs_root)
    if cgroup is not None and cgroup[0] < total:
        limit, usage = cgroup
        notes.append(f"host RAM: a memory cgroup limits this process to {_gib(limit)} of {_gib(total)}")
        total, source = limit, f"{source}, cgroup limit"
        room = max(0, limit - usage) if usage is not None else limit
        available = min(available, room) if available is not None else room
    return total, available, source


# --------------------------------------------------------------------------- NVIDIA (NVML)


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


# --------------------------------------------------------------------------- AMD


def _detect_amdsmi(notes: list[str]) -> list[GPUReading] | None:
    """Read AMD GPUs through amdsmi (the optional `amd` extra); None if it is not installed."""
    try:
        import amdsmi
    except ImportError:
        return None
    try:
        amdsmi.amdsmi_init()
    except Exception as exc:  # amdsmi raises its own AmdSmiException family; all mean "unavailable"
        notes.append(f"amdsmi unavailable: {type(exc).__name__}: {exc}")
        return None
    readings: list[GPUReading] = []
    try:
        vram = amdsmi.AmdSmiMemoryType.VRAM
        for index, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
            try:
                total = int(amdsmi.amdsmi_get_gpu_memory_total(handle, vram))
                used = int(amdsmi.amdsmi_get_gpu_memory_usage(handle, vram))
            except Exception as exc:  # same reason as above
                notes.append(f"AMD GPU {index}: memory query failed ({type(exc).__name__}); left out")
                continue
            name = f"AMD GPU {index}"
            with contextlib.suppress(Exception):  # the name is cosmetic
                name = str(amdsmi.amdsmi_get_gpu_asic_info(handle).get("market_name") or name)
            readings.append(
                GPUReading(
                    index=index,
                    name=name,
                    vendor="amd",
                    total_bytes=total,
                    free_bytes=max(0, total - used),
                    used_bytes=used,
                    source="amdsmi",
                )
            )
    except Exception as exc:  # same reason as above
        notes.append(f"amdsmi failed: {type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(Exception):
            amdsmi.amdsmi_shut_down()
    return readings


def _detect_rocm_smi(notes: list[str]) -> list[GPUReading] | None:
    """Read `rocm-smi --showmeminfo vram --json`; None if rocm-smi is not on PATH."""
    import shutil

    if shutil.which("rocm-smi") is None:
        return None
    out = _run_tool(["rocm-smi", "--showmeminfo", "vram", "--json"], notes)
    if out is None:
        return []
    try:
        cards = json.loads(out)
    except json.JSONDecodeError:
        notes.append("rocm-smi printed something that is not JSON")
        return []
    names: dict[str, str] = {}
    name_out = _run_tool(["rocm-smi", "--showproductname", "--json"], notes)
    if name_out is not None:
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            for card, fields in json.loads(name_out).items():
                series = fields.get("Card Series") or fields.get("Card series") or fields.get("Card model")
                if series:
                    names[card] = str(series)
    readings: list[GPUReading] = []
    for card, fields in cards.items() if isinstance(cards, dict) else []:
        if not isinstance(fields, dict) or not card.startswith("card"):
            continue
        total = fields.get("VRAM Total Memory (B)")
        used = fields.get("VRAM Total Used Memory (B)")
        try:
            total_bytes = int(str(total))
            used_bytes = int(used) if used is not None else None
        except (TypeError, ValueError):
            notes.append(f"rocm-smi: {card}: no VRAM total; left out")
            continue
        index = int(card.removeprefix("card")) if card.removeprefix("card").isdigit() else len(readings)
        readings.append(
            GPUReading(
                index=index,
                name=names.get(card, f"AMD GPU ({card})"),
                vendor="amd",
                total_bytes=total_bytes,
                free_bytes=max(0, total_bytes - used_bytes) if used_bytes is not None else None,
                used_bytes=used_bytes,
                source="rocm-smi",
            )
        )
    return readings


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="ascii").strip(), 0)
    except (OSError, ValueError):
        return None


def _detect_sysfs(root: Path, notes: list[str]) -> list[GPUReading]:
    """Read /sys/class/drm/card*/device/mem_info_vram_total (amdgpu exposes it)."""
    readings: list[GPUReading] = []
    drm = root / "class" / "drm"
    cards = sorted(
        (p for p in drm.glob("card*") if re.fullmatch(r"card\d+", p.name)),
        key=lambda p: int(p.name.removeprefix("card")),
    )
    for card in cards:
        device = card / "device"
        total = _read_int(device / "mem_info_vram_total")
        if total is None:
            continue
        used = _read_int(device / "mem_info_vram_used")
        vendor_id = ""
        with contextlib.suppress(OSError):
            vendor_id = (device / "vendor").read_text(encoding="ascii").strip().lower()
        vendor: Vendor = _PCI_VENDORS.get(vendor_id, "unknown")
        name = ""
        with contextlib.suppress(OSError):
            name = (device / "product_name").read_text(encoding="utf-8", errors="replace").strip()
        if not name:
            device_id = ""
            with contextlib.suppress(OSError):
                device_id = (device / "device").read_text(encoding="ascii").strip()
            label = "AMD GPU" if vendor_id == _AMD_PCI_VENDOR else "GPU"
            name = f"{label} ({card.name}{', device ' + device_id if device_id else ''})"
        readings.append(
            GPUReading(
                index=int(card.name.removeprefix("card")),
                name=name,
                vendor=vendor,
                total_bytes=total,
                free_bytes=max(0, total - used) if used is not None else None,
                used_bytes=used,
                source="sysfs",
            )
        )
    if not readings and drm.is_dir():
        notes.append(f"no GPU with mem_info_vram_total under {drm}")
    return readings


# --------------------------------------------------------------------------- Apple Silicon


def apple_working_set_bytes(ram_bytes: int) -> int:
    """Default Metal working set (recommendedMaxWorkingSetSize) for `ram_bytes` of unified memory.

    2/3 of RAM up to 36 GiB, 3/4 above: an estimate fitted to observed llama.cpp logs, not an
    Apple-documented rule (docs/hardware.md lists the observations).
    """
    if ram_bytes <= APPLE_SMALL_RAM_LIMIT_BYTES:
        return ram_bytes * 2 // 3
    return ram_bytes * 3 // 4


def _detect_apple(notes: list[str]) -> tuple[list[GPUReading], int | None]:
    """Return the Apple GPU (its working set as total) and hw.memsize."""
    out = _run_tool(["sysctl", "-n", "hw.memsize"], notes)
    memsize = int(out.strip()) if out is not None and out.strip().isdigit() else None
    if memsize is None:
        notes.append("Apple Silicon: `sysctl -n hw.memsize` gave no figure; no GPU memory known")
        return [], None
    limit_out = _run_tool(["sysctl", "-n", "iogpu.wired_limit_mb"], [])
    limit_mb = int(limit_out.strip()) if limit_out is not None and limit_out.strip().isdigit() else 0
    if limit_mb > 0:
        working_set = min(memsize, limit_mb * MIB)
        notes.append(
            f"Apple Silicon: GPU working set {_gib(working_set)} from iogpu.wired_limit_mb={limit_mb} "
            f"(unified memory {_gib(memsize)})"
        )
    else:
        working_set = apple_working_set_bytes(memsize)
        share = "2/3" if memsize <= APPLE_SMALL_RAM_LIMIT_BYTES else "3/4"
        notes.append(
            f"Apple Silicon: GPU working set {_gib(working_set)} = {share} of unified memory {_gib(memsize)} "
            "(macOS default; an estimate of recommendedMaxWorkingSetSize, see docs/hardware.md)"
        )
    brand = _run_tool(["sysctl", "-n", "machdep.cpu.brand_string"], [])
    name = brand.strip() if brand and brand.strip() else "Apple Silicon GPU"
    gpu = GPUReading(
        index=0,
        name=name,
        vendor="apple",
        total_bytes=working_set,
        unified_memory=True,
        source="sysctl",
    )
    return [gpu], memsize


# --------------------------------------------------------------------------- detection


def detect_hardware(*, sysfs_root: str | os.PathLike[str] | None = None) -> HardwareReport:
    """Read this machine's GPUs and host RAM; environment problems become notes, never exceptions.

    Order: Apple Silicon (sysctl) on macOS/arm64; else NVML; else AMD (amdsmi, rocm-smi, sysfs);
    else host RAM only. `sysfs_root` replaces /sys for sysfs and the memory cgroup (tests use a
    temporary tree).
    """
    notes: list[str] = []
    root = Path(sysfs_root) if sysfs_root is not None else Path("/sys")
    total, available, ram_source = _host_ram(notes, root)

    import platform

    if platform.system() == "Darwin" and platform.machine() == "arm64":
        gpus, memsize = _detect_apple(notes)
        if memsize is not None:
            total, available, ram_source = memsize, None, "sysctl hw.memsize"
        return HardwareReport(
            gpus=gpus,
            host_ram_bytes=total,
            host_ram_available_bytes=available,
            host_ram_source=ram_source,
            source="sysctl" if gpus else "none",
            notes=notes,
        )

    nvidia = _detect_nvidia(notes, (total, available))
    if nvidia:
        return HardwareReport(
            gpus=nvidia,
            host_ram_bytes=total,
            host_ram_available_bytes=available,
            host_ram_source=ram_source,
            source="nvml",
            notes=notes,
        )

    amd: list[GPUReading] | None = _detect_amdsmi(notes)
    if not amd:
        amd = _detect_rocm_smi(notes)
    if not amd:
        amd = _detect_sysfs(root, notes)
    if amd:
        return HardwareReport(
            gpus=amd,
            host_ram_bytes=total,
            host_ram_available_bytes=available,
            host_ram_source=ram_source,
            source=amd[0].source,
            notes=notes,
        )

    notes.append("no GPU found: planning with host RAM only (pass --vram GIB or --gpu NAME to plan for one)")
    return HardwareReport(
        gpus=[],
        host_ram_bytes=total,
        host_ram_available_bytes=available,
        host_ram_source=ram_source,
        source="none",
        notes=notes,
    )


# --------------------------------------------------------------------------- catalog lookup

# Brand words that people add or leave out ("NVIDIA GeForce RTX 4060" = "RTX 4060").
_BRAND_WORDS = frozenset({"nvidia", "geforce", "amd", "ati", "radeon", "intel", "apple"})


def _tokens(text: str) -> tuple[str, ...]:
    spaced = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text.casefold())
    return tuple(t for t in re.findall(r"[a-z]+|\d+(?:\.\d+)?", spaced) if t not in _BRAND_WORDS)


def _split_memory_size(tokens: tuple[str, ...]) -> tuple[tuple[str, ...], float | None]:
    """Take "<n> gb" out of the words: ("rtx", "4060", "8", "gb") → (("rtx", "4060"), 8.0)."""
    kept: list[str] = []
    size: float | None = None
    skip = False
    for i, tok in enumerate(tokens):
        if skip:
            skip = False
            continue
        if tok[0].isdigit() and i + 1 < len(tokens) and tokens[i + 1] == "gb":
            size, skip = float(tok), True
            continue
        kept.append(tok)
    return tuple(kept), size


def _match_tokens(
    wanted: tuple[str, ...], catalog: dict[str, GPU], size_gib: float | None = None
) -> list[tuple[int, str]]:
    """(words left over, name) for every GPU whose name or an alias holds all wanted words.

    With `size_gib`, only GPUs of about that memory size count ("RTX 4060 Ti 16GB").
    """
    hits: dict[str, int] = {}
    for name, gpu in catalog.items():
        if size_gib is not None and abs(gpu.memory_gib - size_gib) > max(1.0, 0.05 * size_gib):
            continue
        for label in (name, gpu.name, *gpu.aliases):
            have = _tokens(label)
            if set(wanted) <= set(have):
                extra = len(have) - len(set(wanted))
                hits[name] = min(hits.get(name, extra), extra)
    return sorted((extra, name) for name, extra in hits.items())


def _configured_unified(core: tuple[str, ...], size_gib: float, catalog: dict[str, GPU]) -> GPU | None:
    """ "M3 Max 36GB": a unified-memory chip (catalog: its largest option) with the memory asked for."""
    hits = [(extra, n) for extra, n in _match_tokens(core, catalog) if catalog[n].unified_memory]
    if not hits:
        return None
    best = [n for extra, n in hits if extra == hits[0][0]]
    if len(best) != 1 or size_gib > catalog[best[0]].memory_gib:
        return None
    gpu = catalog[best[0]]
    note = f"{gpu.name} configured with {size_gib:g} GB of unified memory (the catalog lists its largest option)"
    return gpu.model_copy(
        update={"name": f"{gpu.name} {size_gib:g}GB", "memory_gib": size_gib, "aliases": [], "note": note}
    )


def lookup_gpu(name: str, dataset: Dataset | None = None) -> GPU:
    """Return the catalog GPU called `name`, tolerant of spelling ("4060", "rtx4060", "GeForce RTX 4060").

    Exact names and aliases win; otherwise the GPU whose name holds every word of `name` with the
    fewest words left over ("4060" is the RTX 4060, not the 4060 Ti). Unknown or ambiguous names
    raise InvalidRequestError listing the closest matches.
    """
    if dataset is None:
        from .dataset import load_dataset

        dataset = load_dataset()
    catalog = dataset.gpus
    wanted = _tokens(name)
    if not wanted:
        raise InvalidRequestError(f"GPU name {name!r} is empty", hint="e.g. --gpu 'RTX 4060'")
    squashed = "".join(wanted)
    for key, gpu in catalog.items():
        for label in (key, gpu.name, *gpu.aliases):
            if "".join(_tokens(label)) == squashed:
                return gpu
    core, size_gib = _split_memory_size(wanted)
    sized = _match_tokens(core, catalog, size_gib) if core and size_gib else []
    if core and size_gib and not sized:
        configured = _configured_unified(core, size_gib, catalog)
        if configured is not None:
            return configured
    hits = sized or _match_tokens(wanted, catalog)
    if hits:
        best = [n for extra, n in hits if extra == hits[0][0]]
        if len(best) == 1:
            return catalog[best[0]]
        raise InvalidRequestError(
            f"GPU name {name!r} matches several catalog GPUs: {', '.join(best[:6])}",
            hint=f"use the full name, e.g. --gpu {best[0]!r}",
        )
    from .dataset import closest_names

    labels = {label: key for key, gpu in catalog.items() for label in (key, *gpu.aliases)}
    close = list(dict.fromkeys(labels[c] for c in closest_names(name, labels, n=5)))
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise InvalidRequestError(
        f"unknown GPU {name!r}: not in the catalog of {len(catalog)} GPUs",
        hint=hint + "or plan by memory size: --vram GIB",
    )


# --------------------------------------------------------------------------- overrides


def _check_gib(value: object, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(f"{flag} must be a number of GiB, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidRequestError(f"{flag} must be a finite number of GiB, got {value!r}")
    if number < 0:
        raise InvalidRequestError(f"{flag} must not be negative, got {value!r}", hint=f"e.g. {flag} 8")
    if number > MAX_PLANNED_GIB:
        raise InvalidRequestError(f"{flag} {number:g} GiB is beyond any machine (at most {MAX_PLANNED_GIB} GiB)")
    return number


def _catalog_reading(gpu: GPU, index: int) -> tuple[GPUReading, int | None]:
    """A catalog GPU as a reading; for unified memory also the RAM it implies.

    Apple GPUs get macOS's default working set; other unified-memory systems (DGX Spark, Jetson)
    let CUDA allocate the whole pool, so the GPU's figure is the memory size.
    """
    memory = round(gpu.memory_gib * GIB)
    total = apple_working_set_bytes(memory) if gpu.unified_memory and gpu.vendor == "apple" else memory
    reading = construct(
        GPUReading,
        index=index,
        name=gpu.name,
        vendor=gpu.vendor,
        total_bytes=total,
        compute_capability=gpu.compute_capability,
        architecture=gpu.architecture,
        peak_bandwidth_gbps=gpu.memory_bandwidth_gbps,
        unified_memory=gpu.unified_memory,
        source="catalog",
    )
    return reading, (memory if gpu.unified_memory else None)


def hardware_from_overrides(
    *,
    vram_gib: float | None = None,
    gpu: str | None = None,
    gpus: int = 1,
    ram_gib: float | None = None,
    dataset: Dataset | None = None,
    base: HardwareReport | None = None,
) -> HardwareReport:
    """Describe hardware you plan for instead of the hardware you have.

    `vram_gib` is per card (0 = CPU only); `gpu` names a catalog card; `gpus` repeats it; `ram_gib`
    sets host RAM. What is not overridden comes from `base` (say, a detect_hardware() report), if given.
    """
    notes: list[str] = []
    vram = _check_gib(vram_gib, "--vram") if vram_gib is not None else None
    ram = _check_gib(ram_gib, "--ram") if ram_gib is not None else None
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 1 <= gpus <= _MAX_OVERRIDE_GPUS:
        raise InvalidRequestError(
            f"--gpus must be a whole number from 1 to {_MAX_OVERRIDE_GPUS}, got {gpus!r}",
            hint="e.g. --gpus 2",
        )

    readings: list[GPUReading]
    source: str
    implied_ram: int | None = None
    if vram == 0:
        readings, source = [], "user"
        notes.append("--vram 0: planning CPU-only")
    elif gpu is not None:
        card = lookup_gpu(gpu, dataset)
        readings = []
        for i in range(gpus):
            reading, implied_ram = _catalog_reading(card, i)
            if vram is not None:
                reading = reading.model_copy(update={"total_bytes": round(vram * GIB), "source": "user"})
            readings.append(reading)
        source = "user" if vram is not None else "catalog"
        if vram is not None:
            notes.append(f"--vram {vram:g} replaces the catalog's {card.memory_gib:g} GiB for {card.name}")
        if card.unified_memory and vram is None:
            rule = "by the macOS default rule (docs/hardware.md)" if card.vendor == "apple" else "(shared)"
            notes.append(
                f"{card.name}: unified memory {card.memory_gib:g} GiB; GPU share {_gib(readings[0].total_bytes)} {rule}"
            )
    elif vram is not None:
        readings = [
            construct(
                GPUReading,
                index=i,
                name=f"{vram:g} GiB GPU (--vram)",
                vendor="unknown",
                total_bytes=round(vram * GIB),
                source="user",
            )
            for i in range(gpus)
        ]
        source = "user"
    elif base is not None:
        readings, source = list(base.gpus), base.source
    else:
        readings, source = [], "none"
        notes.append("no GPU given: planning with host RAM only")

    host: int | None
    available: int | None
    ram_source: str | None
    if ram is not None:
        host, available, ram_source = round(ram * GIB), None, "user"
    elif implied_ram is not None:
        host, available, ram_source = implied_ram, None, "catalog"
    elif base is not None:
        host, available, ram_source = base.host_ram_bytes, base.host_ram_available_bytes, base.host_ram_source
    else:
        host, available, ram_source = None, None, None
    if base is not None:
        notes = [*base.notes, *notes]
    return construct(
        HardwareReport,
        gpus=readings,
        host_ram_bytes=host,
        host_ram_available_bytes=available,
        host_ram_source=ram_source,
        source=source,
        notes=notes,
    )


# --------------------------------------------------------------------------- budget


def _default_margin(reading: GPUReading) -> tuple[int, str]:
    if reading.source in {"user", "catalog"}:
        # Planning for a named card or a typed size: the whole card is the user's, as with --vram.
        return OVERRIDE_SAFETY_MARGIN_BYTES, "a planned card (--vram/--gpu) is taken whole"
    return DEFAULT_SAFETY_MARGIN_BYTES, "llama.cpp's default --fit-target"


def _gpu_budget(g: GPUReading, margin: int, margin_why: str, *, use_free: bool) -> tuple[int, str]:
    """One GPU's budget and the line of arithmetic behind it."""
    label = f"GPU {g.index} {g.name}"
    if g.mig_enabled:
        if not g.mig_instances:
            return 0, f"{label}: MIG enabled but no MIG device exists; left out"

        def room(m: MigInstance) -> int:
            return m.free_bytes if use_free and m.free_bytes is not None else m.total_bytes

        best = max(g.mig_instances, key=room)
        kind = "free" if use_free and best.free_bytes is not None else "total"
        value = room(best) - margin
        return max(0, value), (
            f"{label}: MIG on, and a CUDA process sees one MIG device; the largest, "
            f"{best.name or f'instance {best.index}'}, has {kind} {_gib(room(best))} − safety margin "
            f"{_gib(margin)} ({margin_why}) = {_gib(max(0, value))}"
        )

    terms = [f"total {_gib(g.total_bytes)} ({g.source})"]
    value = g.total_bytes
    if g.reserved_bytes is not None:
        value -= g.reserved_bytes
        terms.append(f"driver reserved {_gib(g.reserved_bytes)}")
    if use_free:
        used = g.used_bytes or 0
        others = g.other_processes_bytes or 0
        in_use = max(used, others)
        if g.used_bytes is None and g.other_processes_bytes is None:
            what = "in use unknown"
        elif g.reserved_bytes is None and g.source == "nvml" and not g.unified_memory:
            what = f"in use {_gib(in_use)} (NVML v1 'used', driver reserve included)"
        else:
            what = f"in use by other processes {_gib(in_use)}"
            if g.other_processes_bytes is not None and others != used:
                what += f" (processes listed: {_gib(others)})"
        if g.unified_memory and g.free_bytes is not None and g.source == "nvml":
            in_use = g.total_bytes - g.free_bytes
            what = f"in use by the host {_gib(in_use)} (MemTotal − MemAvailable)"
        value -= in_use
        terms.append(what)
        if g.vendor == "apple":
            terms.append("display 0 (inside macOS's own share of unified memory)")
        elif g.display_active:
            terms.append("display 0 (its memory is already in use above)")
        elif g.display_active is None:
            terms.append("display unknown")
        else:
            terms.append("display 0")
    elif g.display_active:
        value -= DISPLAY_ALLOWANCE_BYTES
        terms.append(f"display allowance {_gib(DISPLAY_ALLOWANCE_BYTES)}")
    else:
        terms.append("display 0")
    value -= margin
    terms.append(f"safety margin {_gib(margin)} ({margin_why})")
    return max(0, value), f"{label}: " + " − ".join(terms) + f" = {_gib(max(0, value))}"


def _names(readings: list[GPUReading]) -> str | None:
    if not readings:
        return None
    names = [g.name for g in readings]
    if len(set(names)) == 1:
        return names[0] if len(names) == 1 else f"{len(names)} × {names[0]}"
    return " + ".join(names)


def planning_budget(report: HardwareReport, *, safety_margin_bytes: int | None = None, use_free: bool = True) -> Budget:
    """Return what quantadvisor will plan with: per GPU, total − reserved − in use − display − margin.

    `use_free=False` ignores what other processes hold now (plan for after you close them), keeping
    the driver reserve and a display allowance. `safety_margin_bytes` replaces the per-GPU margin
    (default: 1 GiB, llama.cpp's --fit-target; 0 for --vram overrides).
    """
    if safety_margin_bytes is not None and (isinstance(safety_margin_bytes, bool) or safety_margin_bytes < 0):
        raise InvalidRequestError(f"the safety margin must be ≥ 0 bytes, got {safety_margin_bytes!r}")
    steps: list[str] = []
    per_gpu: list[int] = []
    for g in report.gpus:
        if safety_margin_bytes is None:
            margin, why = _default_margin(g)
        else:
            margin, why = safety_margin_bytes, "as requested"
        value, step = _gpu_budget(g, margin, why, use_free=use_free)
        per_gpu.append(value)
        steps.append(step)
        if value == 0 and not step.endswith("left out"):
            steps.append(f"GPU {g.index} {g.name}: nothing left to plan with; left out")

    used = [g for g, b in zip(report.gpus, per_gpu, strict=True) if b > 0]
    vram = sum(per_gpu)
    if len(used) > 1:
        steps.append(
            f"across {len(used)} GPUs (llama.cpp splits layers across them, --tensor-split): "
            + " + ".join(_gib(b) for b in per_gpu if b > 0)
            + f" = {_gib(vram)}; each GPU also pays its own CUDA context and compute buffer, "
            "which the memory model counts"
        )
    elif not report.gpus:
        steps.append("no GPU: planning CPU-only with host RAM")
    if any(g.vendor == "nvidia" and g.source == "nvml" for g in used):
        steps.append(
            "llama.cpp's CUDA context (~0.5-0.6 GiB per GPU) is not subtracted here: the memory model counts it"
        )

    ram = report.host_ram_bytes
    if ram is not None:
        if use_free and report.host_ram_available_bytes is not None:
            ram = report.host_ram_available_bytes
            ram_step = (
                f"host RAM: available {_gib(ram)} (MemAvailable) of total "
                f"{_gib(report.host_ram_bytes or 0)} ({report.host_ram_source})"
            )
        else:
            ram_step = f"host RAM: total {_gib(ram)} ({report.host_ram_source})"
        shared = sum(g.total_bytes for g in report.gpus if g.unified_memory)
        if shared:
            ram = max(0, ram - shared)
            ram_step += f" − GPU share of unified memory {_gib(shared)} = {_gib(ram)}"
        steps.append(ram_step)
    else:
        steps.append("host RAM unknown: offload plans are not checked against RAM (pass --ram GIB)")

    ccs = [g.compute_capability for g in used]
    compute_capability = min(c for c in ccs if c is not None) if ccs and None not in ccs else None
    return construct(
        Budget,
        vram_bytes=vram,
        per_gpu_bytes=per_gpu,
        ram_bytes=ram,
        compute_capability=compute_capability,
        gpu_name=_names(used),
        source=report.source,
        steps=steps,
    )
