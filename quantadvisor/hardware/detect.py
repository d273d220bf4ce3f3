"""detect_hardware(): every source in turn (NVML, AMD, Apple), never raising for the environment.

detect_host_memory() reads host RAM alone, for a CPU-only plan that must not query a GPU driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .amd import detect_amdsmi, detect_rocm_smi, detect_sysfs
from .apple import detect_apple
from .host import read_host_ram
from .nvidia import detect_nvidia
from .readings import GPUReading, HardwareReport

if TYPE_CHECKING:
    import os


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
    root = Path(sysfs_root) if sysfs_root is not None else Path("/sys")
    total, available, ram_source = read_host_ram(notes, root, _path(procfs_root))

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

    Never raises: RAM that cannot be read is None, with a note saying so.
    """
    notes: list[str] = []
    root = Path(sysfs_root) if sysfs_root is not None else Path("/sys")
    total, available, ram_source = read_host_ram(notes, root, _path(procfs_root))
    return _report([], "none", (total, available, ram_source), notes)


def _path(root: str | os.PathLike[str] | None) -> Path | None:
    return Path(root) if root is not None else None


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
