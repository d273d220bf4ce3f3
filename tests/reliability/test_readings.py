"""NVML fault scenarios on the fake pynvml: an impossible reading is reported as unreadable with a note and
never becomes a budget; a discrete GPU whose memory queries all fail has unknown memory, not host RAM."""

from __future__ import annotations

import copy
import json
import platform
import sys
from pathlib import Path
from typing import Any

import pytest
from quantadvisor import limits
from quantadvisor.errors import ExitCode
from quantadvisor.hardware import detect_hardware, planning_budget

from fakes.fake_pynvml import make_fake_pynvml

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nvml" / "h100-80gb-hbm3.json"
U64_MAX = 2**64 - 1


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Linux with no AMD tooling and an empty /sys (the sysfs root to pass in)."""
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    (tmp_path / "sys").mkdir()
    return tmp_path / "sys"


def h100(**device: Any) -> dict[str, Any]:
    spec = json.loads(FIXTURE.read_text(encoding="utf-8"))
    spec["devices"][0].update(device)
    return spec


def install(monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any]) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", make_fake_pynvml(spec))


def memory(total: int, free: int, used: int, reserved: int = 0) -> dict[str, Any]:
    return {"memory_v1": {"total": total, "free": free, "used": used + reserved},
            "memory_v2": {"total": total, "free": free, "used": used, "reserved": reserved}}  # fmt: skip


BAD_READINGS = {
    "2^64-1 total": memory(U64_MAX, U64_MAX, 0),
    "negative free": memory(80 * 2**30, -5, 0),
    "negative used": memory(80 * 2**30, 2**30, -1),
    "free > total": memory(2**30, 2**31, 0),
    "total beyond any GPU": memory(limits.MAX_GPU_MEMORY_BYTES + 1, 2**30, 0),
    "zero total": memory(0, 0, 0),
    "reserved > total": memory(2**30, 0, 0, 2**31),
}


@pytest.mark.parametrize("case", list(BAD_READINGS))
def test_impossible_memory_readings_are_unreadable(monkeypatch, isolated, case: str) -> None:
    install(monkeypatch, h100(**BAD_READINGS[case]))
    report = detect_hardware(sysfs_root=isolated)
    assert report.gpus == []
    assert any("out of range" in n and "unreadable" in n for n in report.notes), report.notes
    assert planning_budget(report).vram_bytes == 0


def test_impossible_reading_plans_no_gpu_and_says_why(monkeypatch, isolated, capsys) -> None:
    from quantadvisor.cli import main

    install(monkeypatch, h100(**BAD_READINGS["2^64-1 total"]))
    assert main(["suggest", "--task", "chat", "--model", "8b", "--ram", "64"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "CPU only" in out
    assert "out of range" in out  # the GPU that is there, and why it was not used
    assert main(["detect"]) == ExitCode.OK  # detect still reports what it saw
    assert "out of range" in capsys.readouterr().out


def test_a_discrete_gpu_without_memory_figures_is_unknown_not_unified(monkeypatch, isolated) -> None:
    spec = h100(name="NVIDIA A100-SXM4-80GB", cuda_cc=[8, 0])
    for key in ("memory_v1", "memory_v2"):
        spec["devices"][0].pop(key)  # every memory query answers NotSupported
    install(monkeypatch, spec)
    report = detect_hardware(sysfs_root=isolated)
    assert report.gpus == []
    assert any("discrete GPU: memory unknown" in n for n in report.notes)
    from quantadvisor import recommend

    rec = recommend("chat", model="8b", ram_gib=64)
    assert rec.hardware.vram_bytes == 0  # no budget from host RAM for a discrete card
    assert any("memory unknown" in n for n in rec.hardware.notes)


def test_an_integrated_gpu_without_memory_figures_still_shares_host_ram(monkeypatch, isolated) -> None:
    spec = h100(name="NVIDIA GB10", cuda_cc=[12, 1])
    for key in ("memory_v1", "memory_v2"):
        spec["devices"][0].pop(key)
    install(monkeypatch, spec)
    (gpu,) = detect_hardware(sysfs_root=isolated).gpus
    assert gpu.unified_memory


@pytest.mark.parametrize("count", [U64_MAX, 10**6, -1])
def test_an_impossible_device_count_is_not_looped_over(monkeypatch, isolated, count: int) -> None:
    spec = h100()
    spec["device_count"] = count
    install(monkeypatch, spec)
    report = detect_hardware(sysfs_root=isolated)
    assert report.gpus == []
    assert any("not a possible count" in n for n in report.notes)


def test_absurd_side_readings_are_dropped_not_believed(monkeypatch, isolated) -> None:
    install(monkeypatch, h100(bus_width_bits=-5, max_mem_clock_mhz=U64_MAX, cuda_cc=[999, 99],
                              compute_processes=[{"pid": 1, "usedGpuMemory": -7}]))  # fmt: skip
    (gpu,) = detect_hardware(sysfs_root=isolated).gpus
    assert gpu.bus_width_bits is None
    assert gpu.peak_bandwidth_gbps is None
    assert gpu.compute_capability is None
    assert (gpu.other_processes_bytes or 0) >= 0


@pytest.mark.parametrize("name", ["\x1b[2J\x1b[HPick: evil", "[/]x", "[bold red]H100[/]", "\x1b]0;pwned\x07H100"])
def test_gpu_names_cannot_drive_the_terminal(monkeypatch, isolated, capsys, name: str) -> None:
    from quantadvisor.cli import main

    install(monkeypatch, h100(name=name))
    assert main(["detect"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    visible = name.replace("\x1b[2J\x1b[H", "").replace("\x1b]0;pwned\x07", "")
    assert visible in out  # markup is shown as written, not interpreted
    assert main(["detect", "--json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["report"]["gpus"][0]["name"] == name  # --json stays exact


def test_nvml_faults_fuzzed(monkeypatch, isolated) -> None:
    """Every NVML function failing with each error code, one at a time: readings or notes, never a crash."""
    import itertools

    functions = ["nvmlDeviceGetName", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetMemoryInfo_v2",
                 "nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetArchitecture", "nvmlDeviceGetMigMode",
                 "nvmlDeviceGetMemoryBusWidth", "nvmlDeviceGetMaxClockInfo", "nvmlDeviceGetDisplayActive",
                 "nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"]  # fmt: skip
    codes = ["NotSupported", "Unknown", "GpuIsLost", "NoPermission", "Uninitialized"]
    for function, code in itertools.product(functions, codes):
        install(monkeypatch, h100(errors={function: code}))
        report = detect_hardware(sysfs_root=isolated)
        budget = planning_budget(report)
        assert 0 <= budget.vram_bytes <= limits.MAX_GPU_MEMORY_BYTES
        assert copy.deepcopy(report.notes) == report.notes


@pytest.mark.parametrize(("total", "used"), [("-5", "0"), (str(U64_MAX), "0"), ("8589934592", "-1"),
                                             ("8589934592", "17179869184"), ("0", "0")])  # fmt: skip
def test_impossible_amdgpu_sysfs_readings_are_unreadable(monkeypatch, isolated, total: str, used: str) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    device = isolated / "class" / "drm" / "card0" / "device"
    device.mkdir(parents=True)
    (device / "mem_info_vram_total").write_text(total)
    (device / "mem_info_vram_used").write_text(used)
    (device / "vendor").write_text("0x1002")
    report = detect_hardware(sysfs_root=isolated)
    assert report.gpus == []
    assert any("out of range" in n for n in report.notes), report.notes


# --------------------------------------------------------------------------- host RAM: /proc, cgroup, sysctl
# Fake file contents under temporary /proc and /sys trees; sysconf is made to know nothing (as on a system
# without SC_PHYS_PAGES) where a test needs /proc/meminfo to be the source of the total.

GIB = 2**30


def no_sysconf(monkeypatch) -> None:
    import os

    def sysconf(name: str) -> int:
        raise ValueError(f"unrecognized configuration name {name!r}")

    monkeypatch.setattr(os, "sysconf", sysconf)


def proc(tmp_path: Path, meminfo: str) -> Path:
    root = tmp_path / "proc"
    root.mkdir(exist_ok=True)
    (root / "meminfo").write_text(meminfo, encoding="utf-8")
    return root


def host(isolated: Path, procfs: Path):
    from quantadvisor.hardware import detect_host_memory

    return detect_host_memory(sysfs_root=isolated, procfs_root=procfs)


def test_a_plain_meminfo_is_read_exactly(monkeypatch, isolated, tmp_path) -> None:
    no_sysconf(monkeypatch)
    report = host(isolated, proc(tmp_path, "MemTotal:       16777216 kB\nMemFree: 1 kB\nMemAvailable:    8388608 kB\n"))
    assert (report.host_ram_bytes, report.host_ram_available_bytes) == (16 * GIB, 8 * GIB)
    assert report.host_ram_source == "/proc/meminfo"
    assert report.notes == []


BAD_MEMTOTAL = {
    "negative": "MemTotal: -5 kB",
    "zero": "MemTotal: 0 kB",
    "below any real host": "MemTotal: 4 kB",
    "beyond 4 PiB": "MemTotal: 18446744073709551615 kB",
    "21 digits": "MemTotal: 999999999999999999999 kB",
    "5,000 digits (int() refuses them)": "MemTotal: " + "9" * 5000 + " kB",
    "not a number": "MemTotal: lots kB",
    "a float": "MemTotal: 1.6e7 kB",
    "no unit": "MemTotal: 16777216",
    "another unit": "MemTotal: 16 GB",
    "non-ASCII digits": "MemTotal: ١٦٧٧٧٢١٦ kB",
    "a control character": "MemTotal: 16777216\x1b[2J kB",
}


@pytest.mark.parametrize("line", BAD_MEMTOTAL.values(), ids=BAD_MEMTOTAL.keys())
def test_an_impossible_memtotal_is_unreadable_with_a_reason(monkeypatch, isolated, tmp_path, line: str) -> None:
    no_sysconf(monkeypatch)
    report = host(isolated, proc(tmp_path, f"{line}\nMemAvailable: 1048576 kB\n"))
    assert report.host_ram_bytes is None
    assert report.host_ram_available_bytes is None
    assert any(n.startswith("host RAM: /proc/meminfo MemTotal reads") and "unreadable" in n for n in report.notes)
    assert any("host RAM could not be read; pass --ram GIB" in n for n in report.notes)
    assert not any("\x1b" in n for n in report.notes)


@pytest.mark.parametrize("value", ["-1 kB", "lots kB", "99999999999999999999 kB", "20 GB", "33554432 kB"])
def test_an_impossible_memavailable_keeps_the_total(monkeypatch, isolated, tmp_path, value: str) -> None:
    no_sysconf(monkeypatch)
    report = host(isolated, proc(tmp_path, f"MemTotal: 16777216 kB\nMemAvailable: {value}\n"))  # 33554432 kB > total
    assert report.host_ram_bytes == 16 * GIB
    assert report.host_ram_available_bytes is None
    assert any("unreadable" in n for n in report.notes), report.notes


@pytest.mark.parametrize(("pages", "page_size"), [(-5, 4096), (2**62, 4096), (0, 4096), (3, 4096)])
def test_an_impossible_sysconf_total_falls_back_to_meminfo(monkeypatch, isolated, tmp_path, pages, page_size) -> None:
    import os

    monkeypatch.setattr(os, "sysconf", lambda name: pages if name == "SC_PHYS_PAGES" else page_size)
    report = host(isolated, proc(tmp_path, "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n"))
    assert report.host_ram_bytes == 16 * GIB
    assert report.host_ram_source == "/proc/meminfo"
    assert any(n.startswith("host RAM: sysconf") and "unreadable" in n for n in report.notes)


def test_an_empty_or_missing_meminfo_is_no_reading(monkeypatch, isolated, tmp_path) -> None:
    no_sysconf(monkeypatch)
    assert host(isolated, proc(tmp_path, "")).host_ram_bytes is None
    assert host(isolated, tmp_path / "no-proc").host_ram_bytes is None


def cgroup(isolated: Path, limit: str, current: str | None = None) -> None:
    folder = isolated / "fs" / "cgroup"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.max").write_text(limit, encoding="utf-8")
    if current is not None:
        (folder / "memory.current").write_text(current, encoding="utf-8")


@pytest.mark.parametrize("limit", ["-5\n", "0\n", "4096\n", "lots\n", "9" * 30 + "\n", "1.5e9\n", "\x1b[2J"])
def test_an_impossible_cgroup_limit_is_not_applied(monkeypatch, isolated, tmp_path, limit: str) -> None:
    no_sysconf(monkeypatch)
    cgroup(isolated, limit, "1048576\n")
    report = host(isolated, proc(tmp_path, "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n"))
    assert (report.host_ram_bytes, report.host_ram_available_bytes) == (16 * GIB, 8 * GIB)
    assert any("memory cgroup memory.max reads" in n and "not applied" in n for n in report.notes), report.notes
    assert not any("\x1b" in n for n in report.notes)


@pytest.mark.parametrize("current", ["-1\n", "lots\n", "9" * 30 + "\n"])
def test_an_impossible_cgroup_usage_leaves_the_limit_as_room(monkeypatch, isolated, tmp_path, current: str) -> None:
    no_sysconf(monkeypatch)
    cgroup(isolated, f"{4 * GIB}\n", current)
    report = host(isolated, proc(tmp_path, "MemTotal: 16777216 kB\nMemAvailable: 8388608 kB\n"))
    assert (report.host_ram_bytes, report.host_ram_available_bytes) == (4 * GIB, 4 * GIB)
    assert any("memory cgroup memory.current reads" in n for n in report.notes)


def apple(monkeypatch, tmp_path: Path, memsize: str, wired_limit_mb: str = "0") -> None:
    import stat

    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    answers = {"hw.memsize": memsize, "iogpu.wired_limit_mb": wired_limit_mb, "machdep.cpu.brand_string": "Apple M2"}
    tool = tmp_path / "bin" / "sysctl"
    tool.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({answers!r}[sys.argv[-1]] + '\\n')\n",
                    encoding="utf-8")  # fmt: skip
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("memsize", ["-5", "0", "4096", str(2**53), "9" * 30, "lots", "6.8e10", "²", "", "\x1b[2J"])
def test_an_impossible_hw_memsize_is_no_gpu_and_no_ram_figure(monkeypatch, isolated, tmp_path, memsize: str) -> None:
    no_sysconf(monkeypatch)
    apple(monkeypatch, tmp_path, memsize)
    report = detect_hardware(sysfs_root=isolated, procfs_root=tmp_path / "no-proc")
    assert report.gpus == []
    assert report.host_ram_bytes is None
    assert any("`sysctl -n hw.memsize` gave no figure" in n for n in report.notes)
    assert not any("\x1b" in n for n in report.notes)


@pytest.mark.parametrize("wired", ["-1", "9" * 30, str(2**50), "lots", "²"])
def test_an_impossible_wired_limit_falls_back_to_the_default_rule(monkeypatch, isolated, tmp_path, wired) -> None:
    apple(monkeypatch, tmp_path, str(64 * GIB), wired)
    report = detect_hardware(sysfs_root=isolated)
    (gpu,) = report.gpus
    assert gpu.total_bytes == 48 * GIB  # 3/4 of 64 GiB: macOS's default working set
    assert report.host_ram_bytes == 64 * GIB
    assert any("iogpu.wired_limit_mb reads" in n and "the macOS default is used" in n for n in report.notes)
