"""The planning budget: how much of each GPU (and of host RAM) a model may use, step by step."""

from __future__ import annotations

from ..construct import construct
from ..errors import InvalidRequestError
from .readings import MIB, Budget, GPUReading, HardwareReport, MigInstance, format_gib

# llama.cpp keeps this much free per device when it fits a model (common/common.h: fit_params_target,
# default 1024 MiB; --fit is on by default), so "fits" here agrees with what llama.cpp does by default.
DEFAULT_SAFETY_MARGIN_BYTES = 1024 * MIB

# Kept for callers of the old name: a planned card (--vram, --gpu) now keeps the default margin too,
# so one machine gets one answer whether it is detected or typed in (issue 12).
OVERRIDE_SAFETY_MARGIN_BYTES = DEFAULT_SAFETY_MARGIN_BYTES

# Only used when planning without current usage (use_free=False) on a GPU that drives a display:
# our estimate of what a desktop session holds (observed 0.3-2 GiB); see docs/hardware.md.
DISPLAY_ALLOWANCE_BYTES = 1024 * MIB


def _default_margin(reading: GPUReading) -> tuple[int, str]:
    # The same margin for a detected card and for one planned with --vram/--gpu: llama.cpp keeps it
    # free either way, so the answer must not change with how the card was described.
    del reading
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
            f"{best.name or f'instance {best.index}'}, has {kind} {format_gib(room(best))} − safety margin "
            f"{format_gib(margin)} ({margin_why}) = {format_gib(max(0, value))}"
        )

    terms = [f"total {format_gib(g.total_bytes)} ({g.source})"]
    value = g.total_bytes
    if g.reserved_bytes is not None:
        value -= g.reserved_bytes
        terms.append(f"driver reserved {format_gib(g.reserved_bytes)}")
    if use_free:
        used = g.used_bytes or 0
        others = g.other_processes_bytes or 0
        in_use = max(used, others)
        if g.used_bytes is None and g.other_processes_bytes is None:
            what = "in use unknown"
        elif g.reserved_bytes is None and g.source == "nvml" and not g.unified_memory:
            what = f"in use {format_gib(in_use)} (NVML v1 'used', driver reserve included)"
        else:
            what = f"in use by other processes {format_gib(in_use)}"
            if g.other_processes_bytes is not None and others != used:
                what += f" (processes listed: {format_gib(others)})"
        if g.unified_memory and g.free_bytes is not None and g.source == "nvml":
            in_use = g.total_bytes - g.free_bytes
            what = f"in use by the host {format_gib(in_use)} (MemTotal − MemAvailable)"
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
        terms.append(f"display allowance {format_gib(DISPLAY_ALLOWANCE_BYTES)}")
    else:
        terms.append("display 0")
    value -= margin
    terms.append(f"safety margin {format_gib(margin)} ({margin_why})")
    return max(0, value), f"{label}: " + " − ".join(terms) + f" = {format_gib(max(0, value))}"


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
    (default: 1 GiB, llama.cpp's --fit-target, for detected and planned cards alike; 0 is allowed).
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
            + " + ".join(format_gib(b) for b in per_gpu if b > 0)
            + f" = {format_gib(vram)}; each GPU also pays its own CUDA context and compute buffer, "
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
                f"host RAM: available {format_gib(ram)} (MemAvailable) of total "
                f"{format_gib(report.host_ram_bytes or 0)} ({report.host_ram_source})"
            )
        else:
            ram_step = f"host RAM: total {format_gib(ram)} ({report.host_ram_source})"
        shared = sum(g.total_bytes for g in report.gpus if g.unified_memory)
        if shared:
            ram = max(0, ram - shared)
            ram_step += f" − GPU share of unified memory {format_gib(shared)} = {format_gib(ram)}"
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
