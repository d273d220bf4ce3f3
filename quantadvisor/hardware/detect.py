"""detect_hardware(): every source in turn (NVML, AMD, Apple), never raising for the environment.

detect_host_memory() reads host RAM alone, for a CPU-only plan that must not query a GPU driver.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidRequestError
from .amd import detect_amdsmi, detect_rocm_smi, detect_sysfs
from .apple import detect_apple
from .host import read_host_ram
from .nvidia import detect_nvidia
from .readings import GPUReading, HardwareReport


def detect_hardware(
    *, sysfs_root: str | os.PathLike[str] | None = None, procfs_root: str | os.PathLike[str] | None = None
) -> HardwareReport:
    """Read this machine's GPUs and host RAM; environment problems become notes, never exceptions.

    Order: Apple Silicon (sysctl) on macOS/arm64; else NVML; else AMD (amdsmi, rocm-smi, sysfs);
    else host RAM only. `sysfs_root` replaces /sys for sysfs and the memory cgroup, `procfs_root` /proc
    for /proc/meminfo (tests use temporary trees). No GPU found is a report with no GPUs, which recommend()
    plans CPU-only.
    """
    notes: list[str] = []
    root = _path(sysfs_root, "sysfs_root") or Path("/sys")
    total, available, ram_source = read_host_ram(notes, root, _path(procfs_root, "procfs_root"))

    import platform

    if platform.system() == "Darwin" and platform.machine() == "arm64":
        gpus, memsize = detect_apple(notes)
        if memsize is not None:
            total, available, ram_source = memsize, None, "sysctl hw.memsize"
        return _report(gpus, "sysctl" if gpus else "none", (total, available, ram_source), notes)

    nvidia = detect_nvidia(notes, (total, available))
    if nvidia:
        return _report(nvidia, "nvml", (total, available, ram_source), notes)

    amd: list[GPUReading] | None = detect_amdsmi(notes)
    if not amd:
        amd = detect_rocm_smi(notes)
    if not amd:
        amd = detect_sysfs(root, notes)
    if amd:
        return _report(amd, amd[0].source, (total, available, ram_source), notes)

    notes.append("no GPU found: planning with host RAM only (pass --vram GIB or --gpu NAME to plan for one)")
    return _report([], "none", (total, available, ram_source), notes)


def detect_host_memory(
    *, sysfs_root: str | os.PathLike[str] | None = None, procfs_root: str | os.PathLike[str] | None = None
) -> HardwareReport:
    """Read host RAM only (no GPU query): what a CPU-only plan (--vram 0) is checked against.

    Never raises for the environment: RAM that cannot be read is None, with a note saying so (a root
    argument that is not a path is the caller's error: InvalidRequestError).
    """
    notes: list[str] = []
    root = _path(sysfs_root, "sysfs_root") or Path("/sys")
    total, available, ram_source = read_host_ram(notes, root, _path(procfs_root, "procfs_root"))
    return _report([], "none", (total, available, ram_source), notes)


# PATH_MAX on Linux: a longer root cannot be opened.
_MAX_ROOT_CHARS = 4096


def _path(root: object, label: str) -> Path | None:
    """A root directory argument as a Path; anything but a str or path is the caller's error."""
    if root is None:
        return None
    if not isinstance(root, (str, os.PathLike)) or isinstance(root, bytes):
        raise InvalidRequestError(f"{label} must be a directory path, not {type(root).__name__}")
    try:
        path = Path(root)
    except TypeError as exc:  # an os.PathLike whose __fspath__ returns bytes
        raise InvalidRequestError(f"{label} must be a directory path: {exc}") from None
    if "\x00" in str(path):
        raise InvalidRequestError(f"{label} holds a NUL character: no directory path does")
    if len(str(path)) > _MAX_ROOT_CHARS:
        raise InvalidRequestError(f"{label} is {len(str(path))} characters long: no directory path is")
    return path


def _report(
    gpus: list[GPUReading], source: str, ram: tuple[int | None, int | None, str | None], notes: list[str]
) -> HardwareReport:
    """The report for `gpus` found by `source`, with the host RAM read beside them."""
    total, available, ram_source = ram
    return HardwareReport(
        gpus=gpus,
        host_ram_bytes=total,
        host_ram_available_bytes=available,
        host_ram_source=ram_source,
        source=source,
        notes=notes,
    )
