"""AMD GPUs: amdsmi, then rocm-smi, then the amdgpu sysfs counters."""

from __future__ import annotations

import contextlib
import json
import re
from typing import TYPE_CHECKING, Literal

from ..limits import MAX_GPU_MEMORY_BYTES
from .host import read_int, run_tool
from .readings import GPUReading, Vendor

if TYPE_CHECKING:
    from pathlib import Path


_AMD_PCI_VENDOR = "0x1002"

_PCI_VENDORS: dict[str, Literal["nvidia", "amd", "intel"]] = {
    "0x10de": "nvidia",
    "0x1002": "amd",
    "0x8086": "intel",
}


def _plausible(total: int, used: int | None, where: str, notes: list[str]) -> bool:
    """Whether a memory reading can be real; an impossible one is a note, never a budget (nor a crash)."""
    if 0 < total <= MAX_GPU_MEMORY_BYTES and (used is None or 0 <= used <= total):
        return True
    notes.append(f"{where}: memory reading out of range (total {total:,}, used {used}): unreadable; left out")
    return False


def detect_amdsmi(notes: list[str]) -> list[GPUReading] | None:
    """Read AMD GPUs through amdsmi (the optional `amd` extra); None if it is not installed."""
    try:
        import amdsmi
    except ImportError:
        return None
    try:
        amdsmi.amdsmi_init()
    except Exception as exc:  # amdsmi raises its own AmdSmiException family; all mean "unavailable"
        notes.append(f"amdsmi unavailable: {type(exc).__name__}: {exc}")
        return None
    readings: list[GPUReading] = []
    try:
        vram = amdsmi.AmdSmiMemoryType.VRAM
        for index, handle in enumerate(amdsmi.amdsmi_get_processor_handles()):
            try:
                total = int(amdsmi.amdsmi_get_gpu_memory_total(handle, vram))
                used = int(amdsmi.amdsmi_get_gpu_memory_usage(handle, vram))
            except Exception as exc:  # same reason as above
                notes.append(f"AMD GPU {index}: memory query failed ({type(exc).__name__}); left out")
                continue
            if not _plausible(total, used, f"AMD GPU {index}", notes):
                continue
            name = f"AMD GPU {index}"
            with contextlib.suppress(Exception):  # the name is cosmetic
                name = str(amdsmi.amdsmi_get_gpu_asic_info(handle).get("market_name") or name)
            readings.append(
                GPUReading(
                    index=index,
                    name=name,
                    vendor="amd",
                    total_bytes=total,
                    free_bytes=max(0, total - used),
                    used_bytes=used,
                    source="amdsmi",
                )
            )
    except Exception as exc:  # same reason as above
        notes.append(f"amdsmi failed: {type(exc).__name__}: {exc}")
    finally:
        with contextlib.suppress(Exception):
            amdsmi.amdsmi_shut_down()
    return readings


def detect_rocm_smi(notes: list[str]) -> list[GPUReading] | None:
    """Read `rocm-smi --showmeminfo vram --json`; None if rocm-smi is not on PATH."""
    import shutil

    if shutil.which("rocm-smi") is None:
        return None
    out = run_tool(["rocm-smi", "--showmeminfo", "vram", "--json"], notes)
    if out is None:
        return []
    try:
        cards = json.loads(out)
    except json.JSONDecodeError:
        notes.append("rocm-smi printed something that is not JSON")
        return []
    names: dict[str, str] = {}
    name_out = run_tool(["rocm-smi", "--showproductname", "--json"], notes)
    if name_out is not None:
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            for card, fields in json.loads(name_out).items():
                series = fields.get("Card Series") or fields.get("Card series") or fields.get("Card model")
                if series:
                    names[card] = str(series)
    readings: list[GPUReading] = []
    for card, fields in cards.items() if isinstance(cards, dict) else []:
        if not isinstance(fields, dict) or not card.startswith("card"):
            continue
        total = fields.get("VRAM Total Memory (B)")
        used = fields.get("VRAM Total Used Memory (B)")
        try:
            total_bytes = int(str(total))
            used_bytes = int(used) if used is not None else None
        except (TypeError, ValueError):
            notes.append(f"rocm-smi: {card}: no VRAM total; left out")
            continue
        if not _plausible(total_bytes, used_bytes, f"rocm-smi: {card}", notes):
            continue
        index = int(card.removeprefix("card")) if card.removeprefix("card").isdigit() else len(readings)
        readings.append(
            GPUReading(
                index=index,
                name=names.get(card, f"AMD GPU ({card})"),
                vendor="amd",
                total_bytes=total_bytes,
                free_bytes=max(0, total_bytes - used_bytes) if used_bytes is not None else None,
                used_bytes=used_bytes,
                source="rocm-smi",
            )
        )
    return readings


def detect_sysfs(root: Path, notes: list[str]) -> list[GPUReading]:
    """Read /sys/class/drm/card*/device/mem_info_vram_total (amdgpu exposes it)."""
    readings: list[GPUReading] = []
    drm = root / "class" / "drm"
    try:
        cards = sorted(
            (p for p in drm.glob("card*") if re.fullmatch(r"card\d+", p.name)),
            key=lambda p: int(p.name.removeprefix("card")),
        )
    except OSError as exc:  # an unreadable tree is no AMD GPU, not an error
        notes.append(f"cannot list {str(drm)[:200]}: {exc.strerror}")
        return []
    for card in cards:
        device = card / "device"
        total = read_int(device / "mem_info_vram_total")
        if total is None:
            continue
        used = read_int(device / "mem_info_vram_used")
        if not _plausible(total, used, f"sysfs {card.name}", notes):
            continue
        vendor_id = ""
        with contextlib.suppress(OSError):
            vendor_id = (device / "vendor").read_text(encoding="ascii").strip().lower()
        vendor: Vendor = _PCI_VENDORS.get(vendor_id, "unknown")
        name = ""
        with contextlib.suppress(OSError):
            name = (device / "product_name").read_text(encoding="utf-8", errors="replace").strip()
        if not name:
            device_id = ""
            with contextlib.suppress(OSError):
                device_id = (device / "device").read_text(encoding="ascii").strip()
            label = "AMD GPU" if vendor_id == _AMD_PCI_VENDOR else "GPU"
            name = f"{label} ({card.name}{', device ' + device_id if device_id else ''})"
        readings.append(
            GPUReading(
                index=int(card.name.removeprefix("card")),
                name=name,
                vendor=vendor,
                total_bytes=total,
                free_bytes=max(0, total - used) if used is not None else None,
                used_bytes=used,
                source="sysfs",
            )
        )
    is_dir = False
    with contextlib.suppress(OSError):  # is_dir() raises for a name too long, not only for a missing one
        is_dir = drm.is_dir()
    if not readings and is_dir:
        notes.append(f"no GPU with mem_info_vram_total under {drm}")
    return readings
