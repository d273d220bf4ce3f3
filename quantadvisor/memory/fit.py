"""Fitting a VRAM budget: the largest -ngl that fits, and MoE expert offload. Pure arithmetic."""

from __future__ import annotations

from collections.abc import Callable

from .runtime import MemoryEstimate

__all__ = ["fit_gpu_layers", "fit_moe_offload"]

Estimator = Callable[..., MemoryEstimate]


def fit_gpu_layers(estimate: Estimator, n_offloadable: int, budget_bytes: int) -> MemoryEstimate | None:
    """Return the estimate with the most GPU layers whose GPU total fits `budget_bytes`, or None.

    GPU memory rises with every layer offloaded, so a binary search over -ngl finds the largest
    fitting value; None means not even the output layer (-ngl 1) fits.
    """
    lo, hi, best = 1, n_offloadable, None
    while lo <= hi:
        mid = (lo + hi) // 2
        est = estimate(gpu_layers=mid)
        if est.total_bytes <= budget_bytes:
            best, lo = est, mid + 1
        else:
            hi = mid - 1
    return best


def fit_moe_offload(estimate: Estimator, n_layers: int, budget_bytes: int) -> MemoryEstimate | None:
    """Keep every layer on the GPU but the experts of the first N layers in host RAM (--n-cpu-moe N).

    Return the estimate with the smallest N that fits (most experts on the GPU), or None when even
    N = n_layers (every expert on the CPU, as -ot exps=CPU does) does not fit.
    """
    if estimate(n_cpu_moe=n_layers).total_bytes > budget_bytes:
        return None
    lo, hi, best = 0, n_layers, None
    while lo <= hi:
        mid = (lo + hi) // 2
        est = estimate(n_cpu_moe=mid)
        if est.total_bytes <= budget_bytes:
            best, hi = est, mid - 1
        else:
            lo = mid + 1
    return best
