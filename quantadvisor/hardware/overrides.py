"""Hardware you plan for instead of the hardware you have: --vram, --gpu NAME, --gpus N, --ram."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .. import limits
from ..construct import construct
from ..errors import InvalidRequestError
from .apple import apple_working_set_bytes
from .catalog import lookup_gpu
from .readings import GIB, GPUReading, HardwareReport, format_gib

if TYPE_CHECKING:
    from ..dataset import Dataset
    from ..models import GPU


# Planned memory above 1 PiB is a typo, and would overflow byte arithmetic as a float.
MAX_PLANNED_GIB = 1024 * 1024

_MAX_OVERRIDE_GPUS = limits.MAX_GPUS


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
                f"{card.name}: unified memory {card.memory_gib:g} GiB; "
                f"GPU share {format_gib(readings[0].total_bytes)} {rule}"
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
