"""llama.cpp's runtime knobs a plan may turn (KV cache types, flash attention, ubatch): fixed or "auto".

"auto" lets the planner try settings cheapest in quality first until an option fits; a fixed value
is used as given, on every row. Flash attention "auto" is on, as llama.cpp's default ``-fa auto``
resolves on CUDA, Metal and the CPU (common/arg.cpp: "[on|off|auto] ... default: 'auto'").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import InvalidRequestError
from .memory.runtime import CACHE_TYPES, validate_cache_types

__all__ = ["AUTO", "KnobSet", "RuntimeKnobs", "flash_attn_setting"]

AUTO: Literal["auto"] = "auto"

# (K cache, V cache, ubatch) in the order tried: f16 first, then q8_0 (a negligible KLD cost in
# llama.cpp's own measurements), a smaller ubatch (prompt speed only), and q4_0 last.
_AUTO_LADDER: tuple[tuple[str, str, int], ...] = (
    ("f16", "f16", 512),
    ("q8_0", "q8_0", 512),
    ("q8_0", "q8_0", 256),
    ("q4_0", "q4_0", 512),
    ("q4_0", "q4_0", 256),
)

KnobSet = tuple[str, str, int, bool]
"""(K cache type, V cache type, ubatch, flash attention) for one memory plan."""


def flash_attn_setting(value: object) -> bool | Literal["auto"]:
    """Accept True/False, "on"/"off" or "auto" (llama.cpp's -fa values)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text in {"on", "true", "1"}:
        return True
    if text in {"off", "false", "0"}:
        return False
    if text == AUTO:
        return AUTO
    raise InvalidRequestError(f"flash attention must be on, off or auto, not {value!r}", hint="e.g. --flash-attn auto")


@dataclass(frozen=True)
class RuntimeKnobs:
    """The runtime settings for a request; each field is a fixed value or "auto"."""

    cache_type_k: str = AUTO
    cache_type_v: str = AUTO
    flash_attn: bool | Literal["auto"] = AUTO
    n_ubatch: int | Literal["auto"] = AUTO

    @classmethod
    def of(
        cls, *, cache_type_k: str = AUTO, cache_type_v: str = AUTO, flash_attn: object = AUTO, n_ubatch: object = AUTO
    ) -> RuntimeKnobs:
        """Validate the caller's values: cache types llama.cpp knows, a positive ubatch, on/off/auto."""
        fa = flash_attn_setting(flash_attn)
        k = _cache_type(cache_type_k, "cache_type_k")
        v = _cache_type(cache_type_v, "cache_type_v")
        if v != AUTO:
            # A fixed quantized V cache needs flash attention; "auto" resolves to on, so only "off" fails.
            validate_cache_types("f16", v, flash_attn=fa is not False)
        ub: int | Literal["auto"] = AUTO
        if n_ubatch != AUTO:
            if isinstance(n_ubatch, bool) or not isinstance(n_ubatch, int) or n_ubatch <= 0:
                raise InvalidRequestError(f"ubatch must be a positive number of tokens or 'auto', not {n_ubatch!r}")
            ub = n_ubatch
        return cls(k, v, fa, ub)

    @property
    def flash(self) -> bool:
        """Flash attention as llama.cpp resolves it (auto → on)."""
        return self.flash_attn is not False

    def ladder(self) -> tuple[KnobSet, ...]:
        """The settings to try, cheapest in quality first; one entry when everything is fixed."""
        out: list[KnobSet] = []
        for auto in _AUTO_LADDER:
            entry = self._resolve(*auto)
            if entry not in out:
                out.append(entry)
        return tuple(out)

    def offload(self) -> KnobSet:
        """The settings for a partial or expert offload plan: q8_0 KV at ubatch 512 where left to auto."""
        return self._resolve("q8_0", "q8_0", 512)

    def _resolve(self, auto_k: str, auto_v: str, auto_ub: int) -> KnobSet:
        """One entry of the automatic ladder with the caller's fixed values put in."""
        k = auto_k if self.cache_type_k == AUTO else self.cache_type_k
        if self.cache_type_v != AUTO:
            v = self.cache_type_v
        elif not self.flash:
            v = "f16"  # llama.cpp refuses a quantized V cache without flash attention
        else:
            v = auto_v
        return (k, v, auto_ub if self.n_ubatch == AUTO else self.n_ubatch, self.flash)


def _cache_type(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"{label} must be a cache type name or 'auto', not {value!r}")
    text = value.strip().lower()
    if text != AUTO and text not in CACHE_TYPES:
        raise InvalidRequestError(
            f"{label} {value!r} is not a llama.cpp cache type", hint=f"use auto or one of {', '.join(CACHE_TYPES)}"
        )
    return text
