"""The typed results recommend() returns: the stable API's shapes (pydantic, frozen).

Built by the planner with construct() (no validation pass; see construct.py), validated when
a caller parses them back (Recommendation.model_validate_json).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .memory.runtime import MemoryEstimate
from .rules import FiredRule
from .speed import SpeedEstimate

__all__ = ["Fit", "HardwareUsed", "LossRange", "QuantOption", "Recommendation", "SizeChoice"]

Fit = Literal["gpu", "partial", "moe-offload", "none"]


class HardwareUsed(BaseModel):
    """The budget the recommendation planned with, and where each figure came from."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    vram_bytes: int
    llm_vram_bytes: int
    ram_bytes: int | None
    gpu_name: str | None
    n_gpus: int
    compute_capability: float | None
    bandwidth_gbps: float | None
    reserved_bytes: int = 0
    reserved_for: str | None = None
    source: str
    steps: list[str]
    notes: list[str] = []
    """What detection could not read (no NVML, NotSupported queries …), one line each."""
    cpu_only: bool = False
    """No GPU to plan with (none found, or --vram 0): every option runs on the CPU from host RAM."""


class LossRange(BaseModel):
    """Expected relative loss on the task's benchmarks (fractions) and what it rests on."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    mid: float | None
    """None when no evidence covers the format (a ternary TQ type on an ordinary model, say)."""
    low: float | None
    high: float | None
    estimate: bool
    records: list[str]

    @property
    def sort_key(self) -> float:
        """mid for sorting; an unknown loss sorts last."""
        return math.inf if self.mid is None else self.mid


class QuantOption(BaseModel):
    """One way to run the model: a quant, how it fits, its expected loss and how to launch it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    quant: str
    family: Literal["gguf", "serving"]
    kind: str
    model: str
    bits_per_weight: float
    memory: MemoryEstimate
    fit: Fit
    gpu_layers: int
    n_cpu_moe: int = 0
    expected_loss: LossRange
    evidence: list[str]
    notes: list[str]
    runner_flags: list[str]
    native: bool = True
    released_precision: bool = False
    meets_target: bool
    below_floor: bool
    headroom_bytes: int
    speed: SpeedEstimate | None = None
    """Predicted decode/prefill tok/s (llama.cpp, or vLLM for serving formats); None when nothing
    runs or the GPU's bandwidth is unknown (a bare --vram figure)."""
    rank_reason: str | None = None
    """One line on why the option ranks where it does (--explain)."""
    file: str | None = None
    files: list[str] = []
    """Every file to fetch for this option (all parts of a split build, in order); empty when not a real file."""


class SizeChoice(BaseModel):
    """The best option for one reference model size (the no-model matrix)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    size: str
    stands_for: str
    params_billions: float
    active_params_billions: float | None
    best: QuantOption | None


class Recommendation(BaseModel):
    """The ranked options (best first), the rules that fired, and the hardware budget used."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    task: str
    prefer: str
    context_tokens: int
    model: str | None
    model_approximate: bool
    target: str
    floor: str
    hardware: HardwareUsed
    options: list[QuantOption]
    by_size: list[SizeChoice] = []
    trace: list[FiredRule]
    notes: list[str]

    @property
    def pick(self) -> QuantOption | None:
        """The top option, or None when nothing can run."""
        return self.options[0] if self.options and self.options[0].fit != "none" else None
