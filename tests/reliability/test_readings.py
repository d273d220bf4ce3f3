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
