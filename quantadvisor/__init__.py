"""quantadvisor: which quantized build of a local LLM to run on this hardware, and why.

Public names load lazily (PEP 562) so `import quantadvisor` and the CLI start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = [
    "DatasetError",
    "HardwareDetectionError",
    "HubError",
    "InvalidRequestError",
    "LossEstimate",
    "LossRange",
    "MemoryEstimate",
    "ModelResolutionError",
    "ModelSpec",
    "NothingFitsError",
    "QuantAdvisorError",
    "QuantOption",
    "Recommendation",
    "SpeedEstimate",
    "__version__",
    "detect_hardware",
    "estimate_memory",
    "estimate_speed",
    "expected_loss",
    "load_dataset",
    "load_model_spec",
    "pick_file",
    "pick_option",
    "rank_files",
    "recommend",
]

_LAZY = {
    "DatasetError": "errors",
    "HardwareDetectionError": "errors",
    "HubError": "errors",
    "InvalidRequestError": "errors",
    "ModelResolutionError": "errors",
    "NothingFitsError": "errors",
    "QuantAdvisorError": "errors",
    "MemoryEstimate": "memory",
    "estimate_memory": "memory",
    "expected_loss": "loss",
    "LossEstimate": "results",
    "LossRange": "results",
    "SpeedEstimate": "speed",
    "estimate_speed": "speed",
    "ModelSpec": "architecture",
    "load_model_spec": "architecture",
    "QuantOption": "results",
    "Recommendation": "results",
    "recommend": "api",
    "pick_file": "files",
    "pick_option": "files",
    "rank_files": "files",
    "detect_hardware": "hardware",
    "load_dataset": "dataset",
}


def __getattr__(name: str) -> object:
    try:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from .api import recommend
    from .architecture import ModelSpec, load_model_spec
    from .dataset import load_dataset
    from .errors import (
        DatasetError,
        HardwareDetectionError,
        HubError,
        InvalidRequestError,
        ModelResolutionError,
        NothingFitsError,
        QuantAdvisorError,
    )
    from .files import pick_file, pick_option, rank_files
    from .hardware import detect_hardware
    from .loss import expected_loss
    from .memory import MemoryEstimate, estimate_memory
    from .results import LossEstimate, LossRange, QuantOption, Recommendation
    from .speed import SpeedEstimate, estimate_speed
