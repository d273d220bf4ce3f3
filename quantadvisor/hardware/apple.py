"""Apple Silicon: unified memory and macOS's default GPU working set (docs/hardware.md)."""

from __future__ import annotations

from .. import limits
from .host import checked_ram_bytes, parse_count, run_tool
from .readings import GIB, MIB, GPUReading, format_gib

# Apple Silicon default GPU working set: 2/3 of RAM up to this size, 3/4 above (docs/hardware.md).
APPLE_SMALL_RAM_LIMIT_BYTES = 36 * GIB


def apple_working_set_bytes(ram_bytes: int) -> int:
    """Default Metal working set (recommendedMaxWorkingSetSize) for `ram_bytes` of unified memory.

    2/3 of RAM up to 36 GiB, 3/4 above: an estimate fitted to observed llama.cpp logs, not an
    Apple-documented rule (docs/hardware.md lists the observations).
    """
    if ram_bytes <= APPLE_SMALL_RAM_LIMIT_BYTES:
        return ram_bytes * 2 // 3
    return ram_bytes * 3 // 4


def detect_apple(notes: list[str]) -> tuple[list[GPUReading], int | None]:
    """Return the Apple GPU (its working set as total) and hw.memsize."""
    out = run_tool(["sysctl", "-n", "hw.memsize"], notes)
    memsize = None
    if out is not None:
        memsize = checked_ram_bytes(parse_count(out), "sysctl hw.memsize", out, notes,
                                    floor=limits.MIN_HOST_MEMORY_BYTES)  # fmt: skip
    if memsize is None:
        notes.append("Apple Silicon: `sysctl -n hw.memsize` gave no figure; no GPU memory known")
        return [], None
    limit_out = run_tool(["sysctl", "-n", "iogpu.wired_limit_mb"], [])
    limit_mb = parse_count(limit_out) if limit_out is not None and limit_out.strip() else 0
    if limit_mb is None or limit_mb * MIB > limits.MAX_HOST_MEMORY_BYTES:
        shown = repr(limit_out.strip()[:40]) if limit_out is not None else "nothing"
        notes.append(
            f"Apple Silicon: iogpu.wired_limit_mb reads {shown}, not a possible size: the macOS default is used"
        )
        limit_mb = 0
    if limit_mb > 0:
        working_set = min(memsize, limit_mb * MIB)
        notes.append(
            f"Apple Silicon: GPU working set {format_gib(working_set)} from iogpu.wired_limit_mb={limit_mb} "
            f"(unified memory {format_gib(memsize)})"
        )
    else:
        working_set = apple_working_set_bytes(memsize)
        share = "2/3" if memsize <= APPLE_SMALL_RAM_LIMIT_BYTES else "3/4"
        notes.append(
            f"Apple Silicon: GPU working set {format_gib(working_set)} = {share} of unified memory "
            f"{format_gib(memsize)} "
            "(macOS default; an estimate of recommendedMaxWorkingSetSize, see docs/hardware.md)"
        )
    brand = run_tool(["sysctl", "-n", "machdep.cpu.brand_string"], [])
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
