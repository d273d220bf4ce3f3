"""Expected quality loss of a format for a task and a model, fitted to the evidence records.

distortion.py places every format on one divergence scale (KLD on the Llama-3-8B scoreboard);
observations.py turns downstream records into losses with their benchmark noise; fit.py fits
task sensitivity, size exponent, format factors and the model spread; estimate.py answers.
docs/methodology.md §2 has the equations and the cross-validation figures.
"""

from __future__ import annotations

from .distortion import kld_equivalents, kv_cache_distortion
from .estimate import TASK_BORROWING, ExpectedLoss, effective_params, expected_loss
from .observations import record_loss

__all__ = [
    "TASK_BORROWING", "ExpectedLoss", "effective_params", "expected_loss", "kld_equivalents", "kv_cache_distortion",
    "record_loss",
]  # fmt: skip
