"""GPU and host-memory facts: NVML first, honest fallbacks, overrides for planning, and the planning budget.

Detection never raises for environment problems (no driver, no library, a query the card does not
support, a tool that hangs): each becomes a note on the report. Third-party modules (pynvml, amdsmi)
are imported inside the functions that use them. The budget policy is documented in docs/hardware.md.

One module per source or step: readings (the report's shapes), host (RAM, tool runs), nvidia,
amd, apple, detect, catalog (names → data/gpus.yaml), overrides (--vram/--gpu/--ram), budget.
"""

from __future__ import annotations

from .apple import APPLE_SMALL_RAM_LIMIT_BYTES, apple_working_set_bytes
from .budget import DEFAULT_SAFETY_MARGIN_BYTES, DISPLAY_ALLOWANCE_BYTES, OVERRIDE_SAFETY_MARGIN_BYTES, planning_budget
from .catalog import lookup_gpu
from .detect import detect_hardware, detect_host_memory
from .host import SUBPROCESS_TIMEOUT_S
from .overrides import hardware_from_overrides
from .readings import GIB, MIB, Budget, GPUReading, HardwareReport, MigInstance

__all__ = [
    "APPLE_SMALL_RAM_LIMIT_BYTES",
    "DEFAULT_SAFETY_MARGIN_BYTES",
    "DISPLAY_ALLOWANCE_BYTES",
    "GIB",
    "MIB",
    "OVERRIDE_SAFETY_MARGIN_BYTES",
    "SUBPROCESS_TIMEOUT_S",
    "Budget",
    "GPUReading",
    "HardwareReport",
    "MigInstance",
    "apple_working_set_bytes",
    "detect_hardware",
    "detect_host_memory",
    "hardware_from_overrides",
    "lookup_gpu",
    "planning_budget",
]
