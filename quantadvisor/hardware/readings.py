"""What detection reports and what planning uses: GPU readings, the hardware report and the budget."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GIB = 1024**3

MIB = 1024**2

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


def format_gib(value: int) -> str:
    """Bytes as a GiB figure for notes: ``8.00 GiB``."""
    return f"{value / GIB:.2f} GiB"
