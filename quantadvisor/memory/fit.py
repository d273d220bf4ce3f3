"""Fitting a VRAM budget: the largest -ngl that fits, and MoE expert offload. Pure arithmetic."""

from __future__ import annotations

from collections.abc import Callable

from .runtime import MemoryEstimate

__all__ = ["fit_gpu_layers", "fit_moe_offload"]

Estimator = Callable[..., MemoryEstimate]


def _fits(est: MemoryEstimate, budget_bytes: int, per_gpu_budget_bytes: int | None) -> bool:
    if est.total_bytes > budget_bytes:
        return False
    return per_gpu_budget_bytes is None or max(est.per_gpu_bytes, default=0) <= per_gpu_budget_bytes


def fit_gpu_layers(
    estimate: Estimator, n_offloadable: int, budget_bytes: int, *, per_gpu_budget_bytes: int | None = None
) -> MemoryEstimate | None:
    """Return the estimate with the most GPU layers whose GPU total fits `budget_bytes`, or None.

    With `per_gpu_budget_bytes`, each GPU's share must fit it too (one card of several).

    GPU memory rises with every layer offloaded, so a binary search over -ngl finds the largest
    fitting value; None means not even the output layer (-ngl 1) fits.
    """
    lo, hi, best = 1, n_offloadable, None
    while lo <= hi:
        mid = (lo + hi) // 2
        est = estimate(gpu_layers=mid)
        if _fits(est, budget_bytes, per_gpu_budget_bytes):
            best, lo = est, mid + 1
        else:
            hi = mid - 1
    return best


def fit_moe_offload(
    estimate: Estimator, n_layers: int, budget_bytes: int, *, per_gpu_budget_bytes: int | None = None
) -> MemoryEstimate | None:
    """Keep every layer on the GPU but the experts of the first N layers in host RAM (--n-cpu-moe N).

    Return the estimate with the smallest N that fits (most experts on the GPU), or None when even
    N = n_layers (every expert on the CPU, as -ot exps=CPU does) does not fit.
    """
    if not _fits(estimate(n_cpu_moe=n_layers), budget_bytes, per_gpu_budget_bytes):
        return None
    lo, hi, best = 0, n_layers, None
    while lo <= hi:
        mid = (lo + hi) // 2
        est = estimate(n_cpu_moe=mid)
        if _fits(est, budget_bytes, per_gpu_budget_bytes):
            best, hi = est, mid - 1
        else:
            lo = mid + 1
    return best
