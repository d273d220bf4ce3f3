"""Host memory (MemAvailable, cgroup limits, Windows) and running vendor tools with a time limit."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path

from .readings import format_gib

SUBPROCESS_TIMEOUT_S = 3.0


def run_tool(argv: list[str], notes: list[str]) -> str | None:
    """Run a fixed tool with a 3 s limit; return stdout, or None with the reason added to `notes`."""
    import shutil  # detection only: these stay out of the start-up of planning commands
    import subprocess

    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        notes.append(f"`{' '.join(argv)}` did not answer within {SUBPROCESS_TIMEOUT_S:g} s")
        return None
    except OSError as exc:
        notes.append(f"`{' '.join(argv)}` could not run: {exc.strerror or exc}")
        return None
    if done.returncode != 0:
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        notes.append(f"`{' '.join(argv)}` exited {done.returncode}" + (f": {first[0]}" if first else ""))
        return None
    return done.stdout


def _meminfo() -> dict[str, int]:
    """MemTotal/MemAvailable from /proc/meminfo, in bytes (empty off Linux)."""
    try:
        text = Path("/proc/meminfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}
    found: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"(MemTotal|MemAvailable):\s+(\d+)\s*kB", line)
        if match:
            found[match.group(1)] = int(match.group(2)) * 1024
    return found


def _windows_memory() -> tuple[int, int] | None:  # pragma: no cover - exercised on Windows only
    if sys.platform != "win32":
        return None
    import ctypes

    class _MemoryStatusEx(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = _MemoryStatusEx()
    status.dwLength = ctypes.sizeof(_MemoryStatusEx)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return int(status.ullTotalPhys), int(status.ullAvailPhys)


def _cgroup_limit(root: Path) -> tuple[int, int | None] | None:
    """(limit, current usage) of this process's memory cgroup (v2, else v1); None if unlimited."""
    for limit_file, usage_file in (
        ("fs/cgroup/memory.max", "fs/cgroup/memory.current"),
        ("fs/cgroup/memory/memory.limit_in_bytes", "fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        limit = read_int(root / limit_file)  # "max" (v2, unlimited) reads as None
        if limit is not None and limit < 2**60:  # v1 writes ~2^63 for "unlimited"
            return limit, read_int(root / usage_file)
    return None


def read_host_ram(notes: list[str], sysfs_root: Path) -> tuple[int | None, int | None, str | None]:
    """Return (total, available, source): total from sysconf, available from Linux's MemAvailable,
    both capped by a container's memory cgroup limit."""
    info = _meminfo()
    total: int | None = None
    source: str | None = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        source = "sysconf"
    if (total is None or total <= 0) and "MemTotal" in info:
        total, source = info["MemTotal"], "/proc/meminfo"
    available = info.get("MemAvailable")
    if total is None or total <= 0:
        windows = _windows_memory()
        if windows is not None:
            total, available = windows
            source = "GlobalMemoryStatusEx"
    if total is None or total <= 0:
        notes.append("host RAM could not be read; pass --ram GIB to plan CPU offload")
        return None, None, None
    cgroup = _cgroup_limit(sysfs_root)
    if cgroup is not None and cgroup[0] < total:
        limit, usage = cgroup
        notes.append(f"host RAM: a memory cgroup limits this process to {format_gib(limit)} of {format_gib(total)}")
        total, source = limit, f"{source}, cgroup limit"
        room = max(0, limit - usage) if usage is not None else limit
        available = min(available, room) if available is not None else room
    return total, available, source


def read_int(path: Path) -> int | None:
    """The integer in a small text file (sysfs, cgroup), or None if it cannot be read or parsed."""
    try:
        return int(path.read_text(encoding="ascii").strip(), 0)
    except (OSError, ValueError):
        return None
