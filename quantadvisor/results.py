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

__all__ = [
    "Fit",
    "Handoff",
    "HardwareUsed",
    "LossEstimate",
    "LossRange",
    "QuantOption",
    "Recommendation",
    "SizeChoice",
]

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
    margin_bytes: int = 0
    """VRAM kept free per GPU (default 1 GiB, llama.cpp's --fit-target; --margin / margin_gib= to change)."""
    card_bytes: int | None = None
    """Total memory of the smallest GPU planned with (None CPU-only)."""
    cpu_only: bool = False
    """No GPU to plan with (none found, --vram 0, or a budget below llama.cpp's fixed GPU buffers,
    ``vram_bytes`` > 0 then): every option runs on the CPU from host RAM."""


class LossRange(BaseModel):
    """Expected relative loss on the task's benchmarks (fractions) and what it rests on."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    mid: float | None
    """None when no evidence covers the format (a ternary TQ type on an ordinary model, say)."""
    low: float | None
    """low-high: where one published measurement should fall (a 90 % interval: the model spread and
    the benchmark's noise; below 0 a measured gain). On sources the model never saw it held 84 %."""
    high: float | None
    estimate: bool
    records: list[str]
    kv_cache: str | None = None
    """The K/V cache types ("q8_0/q8_0") whose cost the figures include; None for an f16 cache."""
    sources: list[str] = []
    notes: list[str] = []
    model_low: float | None = None
    """model_low-model_high: the 90 % range of the model's own loss, without one benchmark run's
    noise: the narrower figure to compare two options by (None where unknown)."""
    model_high: float | None = None

    @property
    def sort_key(self) -> float:
        """mid for sorting; an unknown loss sorts last."""
        return math.inf if self.mid is None else self.mid


class LossEstimate(LossRange):
    """expected_loss()'s answer: a LossRange for one format, task and model size."""

    format: str
    task: str
    params_billions: float
    active_params_billions: float | None = None


class Handoff(BaseModel):
    """Shell commands that fetch one option and run it as planned, one per runner; None where that runner
    cannot run it (``notes`` say why). Every name from a listing is shell-quoted."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    llama_server: str | None = None
    """``llama-server -hf owner/repo:QUANT`` with the plan's flags: fetches (into llama.cpp's cache) and serves."""
    hf_download: str | None = None
    """``hf download owner/repo --include …``: every file of the build (all parts of a split) into ./models."""
    llama_server_local: str | None = None
    """``llama-server -m models/FILE`` with the plan's flags, after hf_download (or a .gguf already on disk)."""
    ollama: str | None = None
    """``ollama run hf.co/owner/repo:QUANT``; set ollama_parameters in the session or a Modelfile."""
    ollama_parameters: dict[str, int] = {}
    """Ollama's num_ctx (context) and num_gpu (layers on the GPU) that match the plan."""
    ollama_env: dict[str, str] = {}
    """Server environment for a quantized KV cache (OLLAMA_FLASH_ATTENTION, OLLAMA_KV_CACHE_TYPE)."""
    lm_studio: str | None = None
    """``lms get https://huggingface.co/owner/repo@QUANT``."""
    vllm: str | None = None
    """``vllm serve owner/repo`` with --max-model-len, --gpu-memory-utilization (and --kv-cache-dtype)."""
    fetch: list[str] = []
    """Every file hf_download fetches: the build's parts in order, then the mmproj when one is loaded."""
    notes: list[str] = []


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
    variant: str | None = None
    """The file's own name for its mix when it differs from `quant` (Q5_K_L, UD-Q4_K_XL); None otherwise."""
    files: list[str] = []
    """Every file to fetch for this option (all parts of a split build, in order); empty when not a real file."""
    handoff: Handoff | None = None
    """Commands that fetch and run this option; None when it names no real file or repo (a quant type)."""


class SizeChoice(BaseModel):
    """The best option for one reference model size (the no-model matrix)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    size: str
    stands_for: str
    params_billions: float
    active_params_billions: float | None
    best: QuantOption | None
    models: list[str] = []
    """Catalog models of about this size that suit the task by their own cards (coder models for code,
    reasoning/math models for math), in catalog order: not ranked against each other."""
    models_purpose: str | None = None
    """The purpose `models` were chosen by (``coder``, ``reasoning`` …; ``general`` when none of the
    task's own kind is this size)."""


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
    offload_target: str | None = None
    """The target an option off the GPU (offloaded or CPU only) is ranked against, where the rules bumped
    the GPU target one level ("small models: one level higher when it fits"); None when the same."""
    trace: list[FiredRule]
    notes: list[str]

    @property
    def pick(self) -> QuantOption | None:
        """The top option, or None when nothing can run."""
        return self.options[0] if self.options and self.options[0].fit != "none" else None
