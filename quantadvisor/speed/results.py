"""The speed results (SpeedEstimate, Energy) and how they are assembled without pydantic's per-field cost."""

from __future__ import annotations

import math
import os
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from ..construct import VALIDATE_ENV_VAR, construct
from .constants import Bound

__all__ = ["VALIDATING", "Energy", "SpeedEstimate", "energy_of", "made"]

VALIDATING = os.environ.get(VALIDATE_ENV_VAR) == "1"
"""QUANTADVISOR_VALIDATE=1 (the test suite): results go through construct()'s checks."""


class Energy(BaseModel):
    """Energy per decoded token at the board's rated power: an upper bound, not a measurement."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    board_power_w: float
    joules_per_token: float
    kwh_per_million_tokens: float
    cost_per_million_tokens: float | None = None
    price_per_kwh: float | None = None
    upper_bound: bool = True
    note: str


class SpeedEstimate(BaseModel):
    """Predicted llama-bench-style speeds (tg128 decode, pp512 prefill) for one option, and why."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    decode_tokens_per_s: float
    decode_low: float
    decode_high: float
    decode_bound: Bound
    prefill_tokens_per_s: float
    prefill_low: float
    prefill_high: float
    prefill_bound: Bound
    decode_ms: dict[str, float]
    """Milliseconds per decoded token by part: gpu_weights, gpu_kv, host_weights, host_kv, overhead."""
    prefill_ms: dict[str, float]
    """Milliseconds for the prompt by part: compute, gpu_reads, pcie, host_compute, overhead."""
    runtime: str
    gpu_name: str | None
    gpu_bandwidth_gbps: float | None
    gpu_bandwidth_source: str | None
    compute_tflops: float | None
    compute_source: str | None
    host_bandwidth_gbps: float
    host_bandwidth_source: str
    depth_tokens: int
    prompt_tokens: int
    energy: Energy | None = None
    estimate: bool = True
    notes: list[str] = []


_M = TypeVar("_M", bound=BaseModel)


def made(cls: type[_M], /, **fields: Any) -> _M:
    """construct() for the speed results, which the planner builds once per option.

    Every field is given and computed here, so the instance is assembled directly (what pydantic's
    model_construct does, minus its per-field default handling: ~10x less time); with
    QUANTADVISOR_VALIDATE=1 (the test suite) it goes through construct()'s checks instead.
    """
    if VALIDATING:
        return construct(cls, **fields)
    made = cls.__new__(cls)
    object.__setattr__(made, "__dict__", fields)
    object.__setattr__(made, "__pydantic_fields_set__", set(fields))
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


def energy_of(
    decode_tokens_per_s: float, board_power_w: float | None, price_per_kwh: float | None = None
) -> Energy | None:
    """Joules per decoded token and kWh per million at the rated board power (an upper bound)."""
    if not board_power_w or not decode_tokens_per_s or not math.isfinite(decode_tokens_per_s):
        return None
    joules = board_power_w / decode_tokens_per_s
    kwh = joules * 1e6 / 3.6e6
    return made(
        Energy,
        board_power_w=float(board_power_w), joules_per_token=round(joules, 4), kwh_per_million_tokens=round(kwh, 3),
        cost_per_million_tokens=round(kwh * price_per_kwh, 4) if price_per_kwh is not None else None,
        price_per_kwh=price_per_kwh, upper_bound=True,
        note="at the catalog's rated board power, one sequence: an upper bound (batching serves more tokens per joule)",
    )  # fmt: skip
