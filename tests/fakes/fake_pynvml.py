"""A fake `pynvml` module driven by fixtures shaped like tests/fixtures/nvml/*.json, and the recorder
that writes such fixtures from real NVML.

Use in a test::

    monkeypatch.setitem(sys.modules, "pynvml", make_fake_pynvml(spec))

Fixture shape (what `record_snapshot` writes; the fake reads the same keys):
  driver, cuda_driver_version, devices: [{name, memory_v1, memory_v2, cuda_cc, architecture,
  mig_mode, bus_width_bits, max_mem_clock_mhz, display_active, compute_processes,
  graphics_processes, max_mig_device_count, mig_devices: [{slot, name, gpu_instance_id, memory_v1,
  memory_v2}]}]. Fake-only keys: `init_error` (an NVML error name raised by nvmlInit), per device
  `errors` ({function: error name}); a missing key makes its query raise NVMLError_NotSupported,
  as NVML does for a field the card lacks. A device without `memory_v2` behaves like an old driver
  (FunctionNotFound for the v2 call).

Record a fixture on a machine with a GPU: `python3 tests/fakes/fake_pynvml.py > snapshot.json`.
"""

# ruff: noqa: N802 - the fake keeps pynvml's function names (nvmlDeviceGetName, ...)

from __future__ import annotations

import json
import string
import sys
import types
from dataclasses import dataclass
from typing import Any

# Return codes as nvml.h defines them (the subset the fake raises).
ERROR_CODES = {
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_INVALID_ARGUMENT": 2,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_UNKNOWN": 999,
}
ARCH_CONSTANTS = {
    "NVML_DEVICE_ARCH_KEPLER": 2,
    "NVML_DEVICE_ARCH_MAXWELL": 3,
    "NVML_DEVICE_ARCH_PASCAL": 4,
    "NVML_DEVICE_ARCH_VOLTA": 5,
    "NVML_DEVICE_ARCH_TURING": 6,
    "NVML_DEVICE_ARCH_AMPERE": 7,
    "NVML_DEVICE_ARCH_ADA": 8,
    "NVML_DEVICE_ARCH_HOPPER": 9,
    "NVML_DEVICE_ARCH_BLACKWELL": 10,
    "NVML_DEVICE_ARCH_RUBIN": 13,
    "NVML_DEVICE_ARCH_UNKNOWN": 0xFFFFFFFF,
}


def _class_name(constant: str) -> str:
    """NVML_ERROR_NOT_SUPPORTED → NVMLError_NotSupported, the way pynvml names its classes."""
    words = constant.removeprefix("NVML_ERROR_")
    return "NVMLError_" + string.capwords(words, "_").replace("_", "")


@dataclass(frozen=True)
class _Handle:
    device: int
    mig_slot: int | None = None


@dataclass(frozen=True)
class _Memory:
    total: int
    free: int
    used: int
    reserved: int = 0
    version: int = 0


@dataclass(frozen=True)
class _Process:
    pid: int
    usedGpuMemory: int | None  # noqa: N815 - pynvml's field name


def make_fake_pynvml(spec: dict[str, Any]) -> types.ModuleType:
    """Build a module object that answers like pynvml for the devices in `spec`."""
    mod = types.ModuleType("pynvml")
    mod.__dict__.update(ERROR_CODES)
    mod.__dict__.update(ARCH_CONSTANTS)
    mod.NVML_DEVICE_MIG_DISABLE = 0
    mod.NVML_DEVICE_MIG_ENABLE = 1
    mod.NVML_CLOCK_SM = 1
    mod.NVML_CLOCK_MEM = 2
    mod.nvmlMemory_v2 = 0x02000028
    mod.calls = []  # every function called, in order, for assertions
    mod.initialized = False

    value_to_class: dict[int, type[Exception]] = {}

    class NVMLError(Exception):
        value: int

        def __new__(cls, value: int) -> NVMLError:
            target = value_to_class.get(value, cls) if cls is NVMLError else cls
            obj = Exception.__new__(target)
            obj.value = value
            return obj

        def __init__(self, value: int) -> None:
            super().__init__(value)

        def __str__(self) -> str:
            return f"fake NVML error {self.value}"

    mod.NVMLError = NVMLError
    for constant, code in ERROR_CODES.items():

        def _new(cls: type, *_args: object, _code: int = code) -> Exception:
            return NVMLError.__new__(cls, _code)

        sub = type(_class_name(constant), (NVMLError,), {"__new__": _new, "__init__": Exception.__init__})
        value_to_class[code] = sub
        setattr(mod, sub.__name__, sub)

    devices: list[dict[str, Any]] = spec.get("devices", [])

    def raise_named(name: str) -> None:
        raise NVMLError(ERROR_CODES["NVML_ERROR_" + _snake(name)])

    def device_of(handle: _Handle) -> dict[str, Any]:
        dev = devices[handle.device]
        if handle.mig_slot is None:
            return dev
        return next(m for m in dev.get("mig_devices", []) if m["slot"] == handle.mig_slot)

    def field(function: str, handle: _Handle, key: str) -> Any:
        mod.calls.append(function)
        if not mod.initialized:
            raise_named("Uninitialized")
        dev = device_of(handle)
        errors = dev.get("errors", {})
        if function in errors:
            raise_named(errors[function])
        value = dev.get(key)
        if isinstance(value, dict) and "error" in value:  # a recorded failure
            raise_named(str(value["error"]).removeprefix("NVMLError_"))
        if value is None:
            raise_named("NotSupported")
        return value

    def nvmlInit() -> None:
        mod.calls.append("nvmlInit")
        if spec.get("init_error"):
            raise_named(spec["init_error"])
        mod.initialized = True

    def nvmlShutdown() -> None:
        mod.calls.append("nvmlShutdown")
        mod.initialized = False

    def nvmlDeviceGetCount() -> int:
        mod.calls.append("nvmlDeviceGetCount")
        return int(spec.get("device_count", len(devices)))  # fake-only override: a driver that lies

    def nvmlDeviceGetHandleByIndex(index: int) -> _Handle:
        mod.calls.append("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(devices):
            raise_named("InvalidArgument")
        return _Handle(index)

    def nvmlSystemGetDriverVersion() -> str:
        mod.calls.append("nvmlSystemGetDriverVersion")
        if spec.get("driver") is None:
            raise_named("NotSupported")
        return str(spec["driver"])

    def nvmlSystemGetCudaDriverVersion() -> int:
        mod.calls.append("nvmlSystemGetCudaDriverVersion")
        if spec.get("cuda_driver_version") is None:
            raise_named("NotSupported")
        return int(spec["cuda_driver_version"])

    def nvmlDeviceGetName(handle: _Handle) -> str:
        return str(field("nvmlDeviceGetName", handle, "name"))

    def nvmlDeviceGetMemoryInfo(handle: _Handle, version: int | None = None) -> _Memory:
        if version:
            if device_of(handle).get("memory_v2") is None:
                mod.calls.append("nvmlDeviceGetMemoryInfo_v2")
                raise_named("FunctionNotFound")  # what an old driver answers for the v2 entry point
            raw = field("nvmlDeviceGetMemoryInfo_v2", handle, "memory_v2")
            return _Memory(raw["total"], raw["free"], raw["used"], raw["reserved"], version)
        raw = field("nvmlDeviceGetMemoryInfo", handle, "memory_v1")
        return _Memory(raw["total"], raw["free"], raw["used"])

    def nvmlDeviceGetCudaComputeCapability(handle: _Handle) -> tuple[int, int]:
        major, minor = field("nvmlDeviceGetCudaComputeCapability", handle, "cuda_cc")
        return int(major), int(minor)

    def nvmlDeviceGetArchitecture(handle: _Handle) -> int:
        return int(field("nvmlDeviceGetArchitecture", handle, "architecture"))

    def nvmlDeviceGetMigMode(handle: _Handle) -> list[int]:
        return list(field("nvmlDeviceGetMigMode", handle, "mig_mode"))

    def nvmlDeviceGetMaxMigDeviceCount(handle: _Handle) -> int:
        return int(field("nvmlDeviceGetMaxMigDeviceCount", handle, "max_mig_device_count"))

    def nvmlDeviceGetMigDeviceHandleByIndex(handle: _Handle, index: int) -> _Handle:
        mod.calls.append("nvmlDeviceGetMigDeviceHandleByIndex")
        slots = {m["slot"] for m in devices[handle.device].get("mig_devices", [])}
        if index not in slots:
            raise_named("NotFound")
        return _Handle(handle.device, index)

    def nvmlDeviceGetGpuInstanceId(handle: _Handle) -> int:
        return int(field("nvmlDeviceGetGpuInstanceId", handle, "gpu_instance_id"))

    def nvmlDeviceGetMemoryBusWidth(handle: _Handle) -> int:
        return int(field("nvmlDeviceGetMemoryBusWidth", handle, "bus_width_bits"))

    def nvmlDeviceGetMaxClockInfo(handle: _Handle, clock: int) -> int:
        if clock != mod.NVML_CLOCK_MEM:
            raise_named("NotSupported")
        return int(field("nvmlDeviceGetMaxClockInfo", handle, "max_mem_clock_mhz"))

    def nvmlDeviceGetDisplayActive(handle: _Handle) -> int:
        return int(field("nvmlDeviceGetDisplayActive", handle, "display_active"))

    def processes(function: str, handle: _Handle, key: str) -> list[_Process]:
        dev = device_of(handle)
        if key not in dev and function not in dev.get("errors", {}):
            mod.calls.append(function)
            return []  # NVML answers an empty list when nothing runs
        return [_Process(int(p["pid"]), p.get("usedGpuMemory")) for p in field(function, handle, key)]

    def nvmlDeviceGetComputeRunningProcesses(handle: _Handle) -> list[_Process]:
        return processes("nvmlDeviceGetComputeRunningProcesses", handle, "compute_processes")

    def nvmlDeviceGetGraphicsRunningProcesses(handle: _Handle) -> list[_Process]:
        return processes("nvmlDeviceGetGraphicsRunningProcesses", handle, "graphics_processes")

    for fn in (
        nvmlInit,
        nvmlShutdown,
        nvmlDeviceGetCount,
        nvmlDeviceGetHandleByIndex,
        nvmlSystemGetDriverVersion,
        nvmlSystemGetCudaDriverVersion,
        nvmlDeviceGetName,
        nvmlDeviceGetMemoryInfo,
        nvmlDeviceGetCudaComputeCapability,
        nvmlDeviceGetArchitecture,
        nvmlDeviceGetMigMode,
        nvmlDeviceGetMaxMigDeviceCount,
        nvmlDeviceGetMigDeviceHandleByIndex,
        nvmlDeviceGetGpuInstanceId,
        nvmlDeviceGetMemoryBusWidth,
        nvmlDeviceGetMaxClockInfo,
        nvmlDeviceGetDisplayActive,
        nvmlDeviceGetComputeRunningProcesses,
        nvmlDeviceGetGraphicsRunningProcesses,
    ):
        setattr(mod, fn.__name__, fn)
    return mod


def _snake(name: str) -> str:
    """NotSupported → NOT_SUPPORTED."""
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out += "_"
        out += ch.upper()
    return out


# --------------------------------------------------------------------------- recorder


def record_snapshot(pynvml: Any) -> dict[str, Any]:
    """Ask real NVML for everything the fake answers; unsupported fields are recorded as null."""

    def ask(fn: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(pynvml, fn)(*args, **kwargs)
        except Exception as exc:  # record, do not stop: a fixture should show what failed
            return {"error": type(exc).__name__}

    def text(value: Any) -> Any:
        return value.decode() if isinstance(value, bytes) else value

    def memory(handle: Any, v2: bool) -> Any:
        got = (
            ask("nvmlDeviceGetMemoryInfo", handle, version=pynvml.nvmlMemory_v2)
            if v2
            else ask("nvmlDeviceGetMemoryInfo", handle)
        )
        if isinstance(got, dict):
            return got
        keys = ("total", "free", "used", "reserved") if v2 else ("total", "free", "used")
        return {k: int(getattr(got, k)) for k in keys}

    def procs(fn: str, handle: Any) -> Any:
        got = ask(fn, handle)
        if isinstance(got, dict):
            return got
        return [{"pid": int(p.pid), "usedGpuMemory": p.usedGpuMemory} for p in got]

    def plain(value: Any) -> Any:
        return list(value) if isinstance(value, tuple | list) else value

    import platform

    pynvml.nvmlInit()
    try:
        count = pynvml.nvmlDeviceGetCount()
        snapshot: dict[str, Any] = {
            "platform": platform.platform(),
            "python": sys.version,
            "driver": text(ask("nvmlSystemGetDriverVersion")),
            "nvml_version": text(ask("nvmlSystemGetNVMLVersion")),
            "cuda_driver_version": ask("nvmlSystemGetCudaDriverVersion"),
            "count": count,
            "devices": [],
            "arch_constants": {k: getattr(pynvml, k) for k in dir(pynvml) if k.startswith("NVML_DEVICE_ARCH_")},
        }
        for index in range(count):
            h = pynvml.nvmlDeviceGetHandleByIndex(index)
            mig_mode = plain(ask("nvmlDeviceGetMigMode", h))
            dev: dict[str, Any] = {
                "index": index,
                "name": text(ask("nvmlDeviceGetName", h)),
                "memory_v1": memory(h, v2=False),
                "memory_v2": memory(h, v2=True),
                "cuda_cc": plain(ask("nvmlDeviceGetCudaComputeCapability", h)),
                "architecture": plain(ask("nvmlDeviceGetArchitecture", h)),
                "brand": plain(ask("nvmlDeviceGetBrand", h)),
                "mig_mode": mig_mode,
                "bus_width_bits": plain(ask("nvmlDeviceGetMemoryBusWidth", h)),
                "max_mem_clock_mhz": plain(ask("nvmlDeviceGetMaxClockInfo", h, pynvml.NVML_CLOCK_MEM)),
                "max_sm_clock_mhz": plain(ask("nvmlDeviceGetMaxClockInfo", h, pynvml.NVML_CLOCK_SM)),
                "power_limit_mw": plain(ask("nvmlDeviceGetPowerManagementLimit", h)),
                "pcie_gen_max": plain(ask("nvmlDeviceGetMaxPcieLinkGeneration", h)),
                "num_cores": plain(ask("nvmlDeviceGetNumGpuCores", h)),
                "compute_mode": plain(ask("nvmlDeviceGetComputeMode", h)),
                "display_active": plain(ask("nvmlDeviceGetDisplayActive", h)),
                "display_mode": plain(ask("nvmlDeviceGetDisplayMode", h)),
                "persistence_mode": plain(ask("nvmlDeviceGetPersistenceMode", h)),
                "compute_processes": procs("nvmlDeviceGetComputeRunningProcesses", h),
                "graphics_processes": procs("nvmlDeviceGetGraphicsRunningProcesses", h),
            }
            if isinstance(mig_mode, list) and mig_mode and mig_mode[0] == 1:
                slots = ask("nvmlDeviceGetMaxMigDeviceCount", h)
                dev["max_mig_device_count"] = plain(slots)
                dev["mig_devices"] = []
                for slot in range(slots if isinstance(slots, int) else 0):
                    mig = ask("nvmlDeviceGetMigDeviceHandleByIndex", h, slot)
                    if isinstance(mig, dict):
                        continue
                    dev["mig_devices"].append(
                        {
                            "slot": slot,
                            "name": text(ask("nvmlDeviceGetName", mig)),
                            "gpu_instance_id": plain(ask("nvmlDeviceGetGpuInstanceId", mig)),
                            "memory_v1": memory(mig, v2=False),
                            "memory_v2": memory(mig, v2=True),
                        }
                    )
            snapshot["devices"].append(dev)
        return snapshot
    finally:
        pynvml.nvmlShutdown()


if __name__ == "__main__":
    import pynvml as real_pynvml

    json.dump(record_snapshot(real_pynvml), sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
