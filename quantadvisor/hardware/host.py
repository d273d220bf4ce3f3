"""Host memory (MemAvailable, cgroup limits, Windows) and running vendor tools with a time limit."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .. import limits
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


_MEMINFO_KEYS = ("MemTotal", "MemAvailable")
_MAX_PROC_FILE_BYTES = 64 * 1024  # /proc/meminfo is ~1.5 kB; a small sysfs or cgroup file a few bytes
_MAX_DIGITS = 20  # 2^64 has 20 digits: a longer number is no reading (and int() refuses > 4,300 digits)
_NUMBER_RE = re.compile(rf"[0-9]{{1,{_MAX_DIGITS}}}")
_MEMINFO_VALUE_RE = re.compile(r"\s*(\S+)\s+kB\s*")  # "MemTotal:       16318756 kB"


def _shown(text: str) -> str:
    """A reading quoted for a note: repr escapes control characters, and a long one is cut."""
    text = text.strip()
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


def parse_count(text: str) -> int | None:
    """The whole number `text` holds (surrounding whitespace allowed), or None: no sign, no unit, 20 digits at most."""
    text = text.strip()
    return int(text) if _NUMBER_RE.fullmatch(text) else None


def checked_ram_bytes(value: int | None, what: str, raw: str, notes: list[str], *, floor: int) -> int | None:
    """`value` if a real host can have that many bytes (`floor` .. MAX_HOST_MEMORY_BYTES); else None, with a note
    saying `what` read `raw` and why it is left unread."""
    if value is None:
        notes.append(f"host RAM: {what} reads {_shown(raw)}, not a whole number: unreadable")
        return None
    if not floor <= value <= limits.MAX_HOST_MEMORY_BYTES:
        notes.append(
            f"host RAM: {what} reads {value:,} bytes, outside {floor:,} .. {limits.MAX_HOST_MEMORY_BYTES:,}: unreadable"
        )
        return None
    return value


def _read_small(path: Path) -> str | None:
    """The first 64 KiB of a /proc or /sys file as text (undecodable bytes replaced), or None."""
    try:
        with path.open("rb") as handle:
            return handle.read(_MAX_PROC_FILE_BYTES).decode("ascii", errors="replace")
    except OSError:
        return None


def _meminfo(proc_root: Path) -> tuple[dict[str, int], dict[str, str]]:
    """(MemTotal/MemAvailable in bytes, the reason each one that is present could not be used); empty off Linux."""
    text = _read_small(proc_root / "meminfo")
    found: dict[str, int] = {}
    problems: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, _, rest = line.partition(":")
        if key not in _MEMINFO_KEYS or key in found or key in problems:
            continue  # the first line of each key counts, as the kernel writes each once
        match = _MEMINFO_VALUE_RE.fullmatch(rest)
        kib = parse_count(match.group(1)) if match else None
        reasons: list[str] = []
        if match is None:
            reasons.append(f"host RAM: /proc/meminfo {key} reads {_shown(rest)}, not a number of kB: unreadable")
        else:
            # MemAvailable may be 0 on a machine under pressure; MemTotal never is.
            floor = limits.MIN_HOST_MEMORY_BYTES if key == "MemTotal" else 0
            checked = checked_ram_bytes(
                None if kib is None else kib * 1024, f"/proc/meminfo {key}", rest, reasons, floor=floor
            )
            if checked is not None:
                found[key] = checked
        if reasons:
            problems[key] = reasons[0]
    return found, problems


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


def _cgroup_limit(root: Path, notes: list[str]) -> tuple[int, int | None] | None:
    """(limit, current usage) of this process's memory cgroup (v2, else v1); None if unlimited or unreadable."""
    for limit_file, usage_file in (
        ("fs/cgroup/memory.max", "fs/cgroup/memory.current"),
        ("fs/cgroup/memory/memory.limit_in_bytes", "fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        raw = _read_small(root / limit_file)
        if raw is None or raw.strip() == "max":  # absent, or v2's "unlimited"
            continue
        limit = parse_count(raw)
        if limit is not None and limit >= 2**60:  # v1 writes ~2^63 for "unlimited"
            continue
        # This process runs inside the cgroup, so a limit below MIN_HOST_MEMORY_BYTES cannot be true either.
        where = f"memory cgroup {limit_file.rsplit('/', 1)[-1]}"
        limit = checked_ram_bytes(limit, where, raw, notes, floor=limits.MIN_HOST_MEMORY_BYTES)
        if limit is None:
            notes[-1] += "; the cgroup limit is not applied"
            return None
        raw_usage = _read_small(root / usage_file)
        usage = None
        if raw_usage is not None:
            usage = checked_ram_bytes(parse_count(raw_usage), f"memory cgroup {usage_file.rsplit('/', 1)[-1]}",
                                      raw_usage, notes, floor=0)  # fmt: skip
        return limit, usage
    return None


def _sysconf_total() -> int | None:
    """SC_PHYS_PAGES x SC_PAGE_SIZE, or None where sysconf does not know them (Windows, some BSDs)."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    if isinstance(pages, bool) or isinstance(page_size, bool) or not isinstance(pages, int) \
            or not isinstance(page_size, int):  # fmt: skip
        return None
    if pages == -1 or page_size == -1:  # sysconf's "no such limit"
        return None
    return pages * page_size


def read_host_ram(
    notes: list[str], sysfs_root: Path, proc_root: Path | None = None
) -> tuple[int | None, int | None, str | None]:
    """Return (total, available, source): total from sysconf, available from Linux's MemAvailable,
    both capped by a container's memory cgroup limit.

    Every figure is range-checked (MIN_HOST_MEMORY_BYTES .. MAX_HOST_MEMORY_BYTES for a total, 0 .. the total for
    what is available): an impossible one is unreadable, with a note, and the next source is tried.
    `proc_root` replaces /proc (tests use a temporary tree).
    """
    info, problems = _meminfo(proc_root if proc_root is not None else Path("/proc"))
    total: int | None = None
    source: str | None = None
    pages_total = _sysconf_total()
    if pages_total is not None:
        total = checked_ram_bytes(pages_total, "sysconf (SC_PHYS_PAGES x SC_PAGE_SIZE)", str(pages_total), notes,
                                  floor=limits.MIN_HOST_MEMORY_BYTES)  # fmt: skip
        source = "sysconf" if total is not None else None
    if total is None and "MemTotal" in info:
        total, source = info["MemTotal"], "/proc/meminfo"
    elif total is None and "MemTotal" in problems:
        notes.append(problems["MemTotal"])
    available = info.get("MemAvailable")
    if "MemAvailable" in problems:
        notes.append(problems["MemAvailable"])
    if total is None:
        windows = _windows_memory()
        if windows is not None:
            win_total, win_available = windows
            total = checked_ram_bytes(win_total, "GlobalMemoryStatusEx ullTotalPhys", str(win_total), notes,
                                      floor=limits.MIN_HOST_MEMORY_BYTES)  # fmt: skip
            available = checked_ram_bytes(win_available, "GlobalMemoryStatusEx ullAvailPhys", str(win_available),
                                          notes, floor=0)  # fmt: skip
            source = "GlobalMemoryStatusEx" if total is not None else None
    if total is None:
        notes.append("host RAM could not be read; pass --ram GIB to plan CPU offload")
        return None, None, None
    if available is not None and available > total:
        notes.append(f"host RAM: {available:,} bytes available is more than the {total:,} total: available unreadable")
        available = None
    cgroup = _cgroup_limit(sysfs_root, notes)
    if cgroup is not None and cgroup[0] < total:
        limit, usage = cgroup
        notes.append(f"host RAM: a memory cgroup limits this process to {format_gib(limit)} of {format_gib(total)}")
        total, source = limit, f"{source}, cgroup limit"
        room = max(0, limit - usage) if usage is not None else limit
        available = min(available, room) if available is not None else room
    return total, available, source


def read_int(path: Path) -> int | None:
    """The integer in a small text file (sysfs, cgroup), or None if it cannot be read or parsed."""
    text = _read_small(path)
    if text is None or len(text.strip()) > _MAX_DIGITS + 2:  # "0x" and 16 hex digits fit; a longer one is no reading
        return None
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None
