"""Hardware detection, catalog lookup, overrides and the planning budget.

NVML is replaced by a fake `pynvml` module in sys.modules (tests/fakes/fake_pynvml.py); AMD tools,
sysctl and sysfs are replaced by fake executables on PATH and temporary trees. Nothing inside
quantadvisor.hardware is patched. tests/fixtures/nvml/h100-80gb-hbm3.json is a copy of
../shared/fixtures/nvml/h100-80gb-hbm3.json (what NVML reported on a real H100), so the suite does
not depend on the layout beside the checkout.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import platform
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from quantadvisor import hardware
from quantadvisor.dataset import Dataset, load_dataset
from quantadvisor.errors import InvalidRequestError
from quantadvisor.hardware import (
    DEFAULT_SAFETY_MARGIN_BYTES,
    DISPLAY_ALLOWANCE_BYTES,
    GIB,
    MIB,
    GPUReading,
    HardwareReport,
    apple_working_set_bytes,
    detect_hardware,
    hardware_from_overrides,
    lookup_gpu,
    planning_budget,
)
from quantadvisor.models import GPU

from fakes.fake_pynvml import make_fake_pynvml, record_snapshot

FIXTURES = Path(__file__).parent / "fixtures" / "nvml"
H100_TOTAL = 85_520_809_984
H100_FREE = 85_017_493_504
H100_RESERVED = 503_316_480


def h100_spec() -> dict[str, Any]:
    return json.loads((FIXTURES / "h100-80gb-hbm3.json").read_text(encoding="utf-8"))


def nvml_device(
    name: str,
    total: int,
    used: int,
    reserved: int,
    *,
    cc: tuple[int, int],
    arch: int,
    bus: int,
    clock: int,
    display: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    free = total - used - reserved
    return {
        "name": name,
        "memory_v1": {"total": total, "free": free, "used": used + reserved},
        "memory_v2": {"total": total, "free": free, "used": used, "reserved": reserved},
        "cuda_cc": list(cc),
        "architecture": arch,
        "mig_mode": [0, 0],
        "bus_width_bits": bus,
        "max_mem_clock_mhz": clock,
        "display_active": display,
        **extra,
    }


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A Linux machine with no AMD tooling and an empty /sys; returns the sysfs root to pass in."""
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    root = tmp_path / "sys"
    root.mkdir()
    return root


def install_nvml(monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any]) -> Any:
    fake = make_fake_pynvml(spec)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def fake_tool(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!{sys.executable}\n{script}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


# --------------------------------------------------------------------------- NVML: one GPU


def test_h100_fixture_is_read_field_by_field(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    fake = install_nvml(monkeypatch, h100_spec())
    report = detect_hardware(sysfs_root=isolated)

    assert report.source == "nvml"
    (gpu,) = report.gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.vendor == "nvidia"
    assert gpu.total_bytes == H100_TOTAL
    assert gpu.free_bytes == H100_FREE
    assert gpu.used_bytes == 0  # v2: the driver reserve is not "used"
    assert gpu.reserved_bytes == H100_RESERVED
    assert gpu.other_processes_bytes == 0
    assert gpu.compute_capability == 9.0
    assert gpu.architecture == "hopper"
    assert gpu.mig_enabled is False
    assert gpu.mig_instances == []
    assert gpu.driver_version == "580.159.04"
    assert gpu.cuda_driver_version == "13.0"
    assert gpu.bus_width_bits == 5120
    assert gpu.max_mem_clock_mhz == 2619
    assert gpu.peak_bandwidth_gbps == pytest.approx(3352.3)  # 5120/8 × 2619 × 2 MB/s; H100 SXM spec 3.35 TB/s
    assert gpu.display_active is False
    assert gpu.source == "nvml"
    assert fake.calls[-1] == "nvmlShutdown"
    assert report.notes == []


def test_h100_budget_keeps_driver_reserve_apart_from_other_processes(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    install_nvml(monkeypatch, h100_spec())
    budget = planning_budget(detect_hardware(sysfs_root=isolated))

    expected = H100_TOTAL - H100_RESERVED - DEFAULT_SAFETY_MARGIN_BYTES
    assert budget.vram_bytes == expected == H100_FREE - DEFAULT_SAFETY_MARGIN_BYTES
    assert budget.per_gpu_bytes == [expected]
    assert budget.compute_capability == 9.0
    assert budget.gpu_name == "NVIDIA H100 80GB HBM3"
    assert budget.source == "nvml"
    line = budget.steps[0]
    assert "total 79.65 GiB" in line
    assert "driver reserved 0.47 GiB" in line
    assert "in use by other processes 0.00 GiB" in line
    assert "safety margin 1.00 GiB" in line
    assert line.endswith(f"= {expected / GIB:.2f} GiB")
    assert any("CUDA context" in s and "memory model" in s for s in budget.steps)


def test_v1_only_driver_counts_reserve_inside_used_and_says_so(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    spec = h100_spec()
    del spec["devices"][0]["memory_v2"]
    install_nvml(monkeypatch, spec)
    report = detect_hardware(sysfs_root=isolated)

    (gpu,) = report.gpus
    assert gpu.reserved_bytes is None
    assert gpu.used_bytes == H100_RESERVED  # v1 counts the reserve as used
    assert any("v1 memory API" in n for n in report.notes)
    budget = planning_budget(report)
    assert budget.vram_bytes == H100_FREE - DEFAULT_SAFETY_MARGIN_BYTES
    assert "NVML v1 'used', driver reserve included" in budget.steps[0]


def test_h100_recorded_on_the_device_matches_quantadvisor_detect(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    # h100-recorded.json: record_snapshot() on the lent H100 (driver 580.159.04); h100-detect-output.json:
    # what `quantadvisor detect --json` printed there in the same run.
    spec = json.loads((FIXTURES / "h100-recorded.json").read_text(encoding="utf-8"))
    real = json.loads((FIXTURES / "h100-detect-output.json").read_text(encoding="utf-8"))
    install_nvml(monkeypatch, spec)
    (gpu,) = detect_hardware(sysfs_root=isolated).gpus
    assert gpu.model_dump(mode="json") == real["report"]["gpus"][0]
    assert real["budget"]["vram_bytes"] == gpu.free_bytes - DEFAULT_SAFETY_MARGIN_BYTES


def test_h200_fixture_recorded_by_the_recorder(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    # tests/fixtures/nvml/h200.json: record_snapshot() on a real H200 (driver 580.159.04).
    spec = json.loads((FIXTURES / "h200.json").read_text(encoding="utf-8"))
    install_nvml(monkeypatch, spec)
    report = detect_hardware(sysfs_root=isolated)
    (gpu,) = report.gpus
    assert gpu.name == "NVIDIA H200"
    assert gpu.total_bytes == 150_754_820_096
    assert gpu.reserved_bytes == 644_939_776  # larger than the H100's 480 MiB
    assert gpu.used_bytes == 0
    assert gpu.other_processes_bytes == 0  # empty process lists, as recorded
    assert gpu.peak_bandwidth_gbps == pytest.approx(4814.3)  # 6016/8 × 3201 × 2; H200 spec 4.8 TB/s
    assert report.notes == []
    budget = planning_budget(report)
    assert budget.vram_bytes == 150_109_880_320 - DEFAULT_SAFETY_MARGIN_BYTES


def test_recorder_writes_what_the_fake_reads(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    recorded = record_snapshot(make_fake_pynvml(h100_spec()))
    assert recorded["devices"][0]["memory_v2"]["reserved"] == H100_RESERVED
    install_nvml(monkeypatch, h100_spec())
    original = detect_hardware(sysfs_root=isolated)
    install_nvml(monkeypatch, json.loads(json.dumps(recorded)))
    # Compare the GPUs only: host MemAvailable moves between two reads on a busy machine.
    assert detect_hardware(sysfs_root=isolated).gpus == original.gpus


# --------------------------------------------------------------------------- NVML: two mixed GPUs


def two_gpu_spec() -> dict[str, Any]:
    rtx4090 = nvml_device(
        "NVIDIA GeForce RTX 4090",
        25_757_220_864,
        used=1_300 * MIB,
        reserved=340 * MIB,
        cc=(8, 9),
        arch=8,
        bus=384,
        clock=10_501,
        display=1,
        graphics_processes=[{"pid": 1000, "usedGpuMemory": 400 * MIB}, {"pid": 1001, "usedGpuMemory": None}],
        compute_processes=[
            {"pid": 1000, "usedGpuMemory": 400 * MIB},
            {"pid": 2000, "usedGpuMemory": 500 * MIB},
        ],
    )
    rtx3060 = nvml_device(
        "NVIDIA GeForce RTX 3060",
        12_884_901_888,
        used=0,
        reserved=250 * MIB,
        cc=(8, 6),
        arch=7,
        bus=192,
        clock=7501,
    )
    return {"driver": "560.35.03", "cuda_driver_version": 12060, "devices": [rtx4090, rtx3060]}


def test_two_mixed_gpus(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    install_nvml(monkeypatch, two_gpu_spec())
    report = detect_hardware(sysfs_root=isolated)

    big, small = report.gpus
    assert (big.index, small.index) == (0, 1)
    assert big.architecture == "ada"
    assert small.architecture == "ampere"
    assert big.display_active is True
    assert big.other_processes_bytes == 900 * MIB  # pid 1000 counted once; pid 1001 reports nothing
    assert big.peak_bandwidth_gbps == pytest.approx(1008.1)
    assert small.peak_bandwidth_gbps == pytest.approx(360.0)
    assert big.cuda_driver_version == small.cuda_driver_version == "12.6"
    assert any("report no memory figure" in n for n in report.notes)

    budget = planning_budget(report)
    first = 25_757_220_864 - 340 * MIB - 1_300 * MIB - DEFAULT_SAFETY_MARGIN_BYTES
    second = 12_884_901_888 - 250 * MIB - DEFAULT_SAFETY_MARGIN_BYTES
    assert budget.per_gpu_bytes == [first, second]
    assert budget.vram_bytes == first + second
    assert budget.compute_capability == 8.6  # the lowest: format gates must hold on every card
    assert budget.gpu_name == "NVIDIA GeForce RTX 4090 + NVIDIA GeForce RTX 3060"
    assert "in use by other processes 1.27 GiB (processes listed: 0.88 GiB)" in budget.steps[0]
    assert "display 0 (its memory is already in use above)" in budget.steps[0]
    assert any(s.startswith("across 2 GPUs") for s in budget.steps)


def test_plan_without_current_usage_keeps_reserve_and_display_allowance(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    install_nvml(monkeypatch, two_gpu_spec())
    budget = planning_budget(detect_hardware(sysfs_root=isolated), use_free=False)

    first = 25_757_220_864 - 340 * MIB - DISPLAY_ALLOWANCE_BYTES - DEFAULT_SAFETY_MARGIN_BYTES
    assert budget.per_gpu_bytes[0] == first
    assert "display allowance 1.00 GiB" in budget.steps[0]
    assert "display 0" in budget.steps[1]


# --------------------------------------------------------------------------- NVML: MIG


def test_mig_enabled_lists_instances_and_plans_with_the_largest(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    spec = h100_spec()
    dev = spec["devices"][0]
    dev["mig_mode"] = [1, 1]
    dev["max_mig_device_count"] = 7
    dev["mig_devices"] = [
        {
            "slot": 0,
            "name": "NVIDIA H100 80GB HBM3 MIG 3g.40gb",
            "gpu_instance_id": 2,
            "memory_v1": {"total": 42_481_549_312, "free": 42_466_082_816, "used": 15_466_496},
        },
        {
            "slot": 3,
            "name": "NVIDIA H100 80GB HBM3 MIG 1g.10gb",
            "gpu_instance_id": 9,
            "memory_v1": {"total": 10_468_982_784, "free": 10_453_516_288, "used": 15_466_496},
        },
    ]
    install_nvml(monkeypatch, spec)
    report = detect_hardware(sysfs_root=isolated)

    (gpu,) = report.gpus
    assert gpu.mig_enabled is True
    assert [(m.index, m.gpu_instance_id) for m in gpu.mig_instances] == [(0, 2), (3, 9)]
    assert gpu.mig_instances[0].name == "NVIDIA H100 80GB HBM3 MIG 3g.40gb"
    assert gpu.mig_instances[1].total_bytes == 10_468_982_784
    assert report.notes == []  # empty slots answer NotFound, which is not a problem

    budget = planning_budget(report)
    assert budget.vram_bytes == 42_466_082_816 - DEFAULT_SAFETY_MARGIN_BYTES
    assert "a CUDA process sees one MIG device" in budget.steps[0]
    assert "3g.40gb" in budget.steps[0]


def test_mig_enabled_without_instances_is_left_out(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    spec = h100_spec()
    spec["devices"][0].update(mig_mode=[1, 1], max_mig_device_count=7, mig_devices=[])
    install_nvml(monkeypatch, spec)
    budget = planning_budget(detect_hardware(sysfs_root=isolated))
    assert budget.vram_bytes == 0
    assert budget.gpu_name is None
    assert "no MIG device exists; left out" in budget.steps[0]


# --------------------------------------------------------------------------- NVML: failures


@pytest.mark.parametrize("error", ["DriverNotLoaded", "LibraryNotFound", "Unknown"])
def test_nvml_error_at_init_falls_back_to_host_ram(monkeypatch: pytest.MonkeyPatch, isolated: Path, error: str) -> None:
    spec = h100_spec()
    spec["init_error"] = error
    fake = install_nvml(monkeypatch, spec)
    report = detect_hardware(sysfs_root=isolated)

    assert report.gpus == []
    assert report.source == "none"
    assert any(f"NVML unavailable: NVMLError_{error} at nvmlInit" in n for n in report.notes)
    assert any("host RAM only" in n for n in report.notes)
    assert "nvmlShutdown" not in fake.calls  # nothing to shut down after a failed init
    budget = planning_budget(report)
    assert budget.vram_bytes == 0
    assert budget.per_gpu_bytes == []
    assert budget.ram_bytes == (report.host_ram_available_bytes or report.host_ram_bytes)
    assert "no GPU: planning CPU-only with host RAM" in budget.steps


def test_nvml_with_no_devices(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    install_nvml(monkeypatch, {"driver": "580.159.04", "devices": []})
    report = detect_hardware(sysfs_root=isolated)
    assert report.gpus == []
    assert "NVML found no NVIDIA GPU" in report.notes


def test_pynvml_not_installed(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    report = detect_hardware(sysfs_root=isolated)
    assert report.gpus == []
    assert report.notes[0] == "NVML unavailable: nvidia-ml-py (pynvml) is not installed"
    assert report.host_ram_bytes is None or report.host_ram_bytes > 0


def test_not_supported_queries_leave_fields_empty_and_keep_going(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    dev = nvml_device(
        "NVIDIA GeForce GTX 1080",
        8_589_934_592,
        used=200 * MIB,
        reserved=0,
        cc=(6, 1),
        arch=4,
        bus=256,
        clock=5005,
    )
    for key in ("architecture", "bus_width_bits", "display_active", "mig_mode", "max_mem_clock_mhz"):
        dev[key] = None  # NotSupported
    dev["errors"] = {
        "nvmlDeviceGetComputeRunningProcesses": "NoPermission",
        "nvmlDeviceGetGraphicsRunningProcesses": "NotSupported",
    }
    install_nvml(monkeypatch, {"devices": [dev]})  # no driver / CUDA version either
    report = detect_hardware(sysfs_root=isolated)

    (gpu,) = report.gpus
    assert gpu.compute_capability == 6.1
    assert gpu.architecture is None
    assert gpu.bus_width_bits is None
    assert gpu.max_mem_clock_mhz is None
    assert gpu.peak_bandwidth_gbps is None
    assert gpu.display_active is None
    assert gpu.mig_enabled is False
    assert gpu.other_processes_bytes is None
    assert gpu.driver_version is None
    assert gpu.cuda_driver_version is None
    # NotSupported is expected and quiet; anything else is reported.
    assert report.notes == [
        "GPU 0 (NVIDIA GeForce GTX 1080): nvmlDeviceGetComputeRunningProcesses failed "
        "(NVMLError_NoPermission); field left empty"
    ]
    budget = planning_budget(report)
    assert budget.vram_bytes == 8_589_934_592 - 200 * MIB - DEFAULT_SAFETY_MARGIN_BYTES
    assert "display unknown" in budget.steps[0]


def test_gpu_without_memory_figures_is_treated_as_unified_memory(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    dev = {
        "name": "NVIDIA GB10",
        "cuda_cc": [12, 1],
        "architecture": 10,
        "mig_mode": [0, 0],
        "memory_v2": None,
    }
    install_nvml(monkeypatch, {"driver": "580.95.05", "cuda_driver_version": 13000, "devices": [dev]})
    report = detect_hardware(sysfs_root=isolated)
    if report.host_ram_bytes is None:
        pytest.skip("host RAM unreadable here")
    (gpu,) = report.gpus
    assert gpu.unified_memory is True
    assert gpu.total_bytes == report.host_ram_bytes
    assert any("treating it as unified memory" in n for n in report.notes)
    budget = planning_budget(report)
    assert budget.vram_bytes <= report.host_ram_bytes


def test_failing_device_handle_is_left_out(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    spec = two_gpu_spec()
    fake = install_nvml(monkeypatch, spec)
    real = fake.nvmlDeviceGetHandleByIndex

    def lost(index: int) -> Any:
        if index == 1:
            raise fake.NVMLError(fake.NVML_ERROR_GPU_IS_LOST)
        return real(index)

    fake.nvmlDeviceGetHandleByIndex = lost
    report = detect_hardware(sysfs_root=isolated)
    assert [g.index for g in report.gpus] == [0]
    assert "GPU 1: cannot open (NVMLError_GpuIsLost); left out" in report.notes


def test_container_memory_limit_caps_host_ram(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    cgroup = isolated / "fs" / "cgroup"
    cgroup.mkdir(parents=True)
    (cgroup / "memory.max").write_text(f"{GIB}\n", encoding="ascii")
    (cgroup / "memory.current").write_text(f"{256 * MIB}\n", encoding="ascii")
    report = detect_hardware(sysfs_root=isolated)
    if report.host_ram_bytes is None:
        pytest.skip("host RAM unreadable here")
    assert report.host_ram_bytes == GIB
    assert report.host_ram_available_bytes is not None
    assert report.host_ram_available_bytes <= 768 * MIB
    assert any("memory cgroup limits this process to 1.00 GiB" in n for n in report.notes)


def test_unlimited_cgroup_changes_nothing(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    cgroup = isolated / "fs" / "cgroup"
    cgroup.mkdir(parents=True)
    (cgroup / "memory.max").write_text("max\n", encoding="ascii")
    report = detect_hardware(sysfs_root=isolated)
    assert not any("cgroup" in n for n in report.notes)


# --------------------------------------------------------------------------- AMD


def write_sysfs_card(root: Path, card: str, files: dict[str, str]) -> None:
    device = root / "class" / "drm" / card / "device"
    device.mkdir(parents=True)
    for name, text in files.items():
        (device / name).write_text(text + "\n", encoding="ascii")


def test_sysfs_amd_fallback(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    write_sysfs_card(
        isolated,
        "card1",
        {
            "vendor": "0x1002",
            "device": "0x744c",
            "mem_info_vram_total": "25753026560",
            "mem_info_vram_used": "1073741824",
        },
    )
    write_sysfs_card(isolated, "card0", {"vendor": "0x8086", "device": "0x4680"})  # iGPU: no VRAM file
    (isolated / "class" / "drm" / "card1-DP-1").mkdir()  # connectors are not cards

    report = detect_hardware(sysfs_root=isolated)
    (gpu,) = report.gpus
    assert report.source == "sysfs"
    assert gpu.index == 1
    assert gpu.vendor == "amd"
    assert gpu.name == "AMD GPU (card1, device 0x744c)"
    assert gpu.total_bytes == 25_753_026_560
    assert gpu.used_bytes == GIB
    assert gpu.free_bytes == 25_753_026_560 - GIB
    assert gpu.compute_capability is None
    budget = planning_budget(report)
    assert budget.vram_bytes == 25_753_026_560 - GIB - DEFAULT_SAFETY_MARGIN_BYTES
    assert budget.compute_capability is None


def test_rocm_smi_json(monkeypatch: pytest.MonkeyPatch, isolated: Path, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    fake_tool(
        tmp_path / "bin",
        "rocm-smi",
        "import json, sys\n"
        "if '--showproductname' in sys.argv:\n"
        "    print(json.dumps({'card0': {'Card Series': 'Radeon RX 7900 XTX'}}))\n"
        "else:\n"
        "    print(json.dumps({'card0': {'VRAM Total Memory (B)': '25753026560',"
        " 'VRAM Total Used Memory (B)': '536870912'}, 'system': {}}))",
    )
    report = detect_hardware(sysfs_root=isolated)
    (gpu,) = report.gpus
    assert report.source == "rocm-smi"
    assert gpu.name == "Radeon RX 7900 XTX"
    assert gpu.total_bytes == 25_753_026_560
    assert gpu.free_bytes == 25_753_026_560 - 512 * MIB


def test_hanging_tool_is_time_boxed_and_becomes_a_note(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr(hardware.host, "SUBPROCESS_TIMEOUT_S", 0.3)  # read where tools are run
    fake_tool(tmp_path / "bin", "rocm-smi", "import time\ntime.sleep(30)")
    report = detect_hardware(sysfs_root=isolated)
    assert report.gpus == []
    assert any("did not answer within 0.3 s" in n for n in report.notes)


def test_amdsmi_when_installed(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)

    class FakeAmdSmi:
        class AmdSmiMemoryType:
            VRAM = 0

        shut_down = False

        @staticmethod
        def amdsmi_init() -> None:
            return None

        @staticmethod
        def amdsmi_get_processor_handles() -> list[str]:
            return ["h0"]

        @staticmethod
        def amdsmi_get_gpu_memory_total(handle: str, kind: int) -> int:
            return 68_702_699_520

        @staticmethod
        def amdsmi_get_gpu_memory_usage(handle: str, kind: int) -> int:
            return 0

        @staticmethod
        def amdsmi_get_gpu_asic_info(handle: str) -> dict[str, str]:
            return {"market_name": "AMD Instinct MI210"}

        @classmethod
        def amdsmi_shut_down(cls) -> None:
            cls.shut_down = True

    monkeypatch.setitem(sys.modules, "amdsmi", FakeAmdSmi)
    report = detect_hardware(sysfs_root=isolated)
    (gpu,) = report.gpus
    assert report.source == "amdsmi"
    assert gpu.name == "AMD Instinct MI210"
    assert gpu.free_bytes == 68_702_699_520
    assert FakeAmdSmi.shut_down is True


# --------------------------------------------------------------------------- Apple Silicon


@pytest.mark.parametrize(
    ("ram_gib", "expected_mib"),
    [
        # Observed recommendedMaxWorkingSetSize in llama.cpp logs (docs/hardware.md).
        (16, 10922.67),
        (32, 21845.33),
        (48, 36864.0),
        (64, 49152.0),
        (96, 73728.0),
    ],
)
def test_apple_working_set_rule(ram_gib: int, expected_mib: float) -> None:
    assert apple_working_set_bytes(ram_gib * GIB) / MIB == pytest.approx(expected_mib, abs=0.01)


@pytest.mark.parametrize(("wired_limit_mb", "expected"), [(0, 48 * GIB), (57344, 56 * GIB)])
def test_apple_silicon_detection(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, tmp_path: Path, wired_limit_mb: int, expected: int
) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    fake_tool(
        tmp_path / "bin",
        "sysctl",
        "import sys\n"
        f"answers = {{'hw.memsize': '{64 * GIB}', 'iogpu.wired_limit_mb': '{wired_limit_mb}',"
        " 'machdep.cpu.brand_string': 'Apple M2 Max'}\n"
        "print(answers[sys.argv[-1]])",
    )
    report = detect_hardware(sysfs_root=isolated)
    (gpu,) = report.gpus
    assert report.source == "sysctl"
    assert report.host_ram_bytes == 64 * GIB
    assert report.host_ram_source == "sysctl hw.memsize"
    assert gpu.vendor == "apple"
    assert gpu.name == "Apple M2 Max"
    assert gpu.unified_memory is True
    assert gpu.total_bytes == expected
    budget = planning_budget(report)
    assert budget.vram_bytes == expected - DEFAULT_SAFETY_MARGIN_BYTES
    assert budget.ram_bytes == 64 * GIB - expected  # one pool: the GPU's share is not counted twice


def test_apple_without_sysctl_answer(monkeypatch: pytest.MonkeyPatch, isolated: Path) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    report = detect_hardware(sysfs_root=isolated)  # no sysctl on PATH
    assert report.gpus == []
    assert any("hw.memsize" in n for n in report.notes)


# --------------------------------------------------------------------------- catalog lookup


def catalog_gpu(name: str, memory_gib: float, **extra: Any) -> GPU:
    fields: dict[str, Any] = {
        "name": name,
        "vendor": "nvidia",
        "memory_gib": memory_gib,
        "memory_bandwidth_gbps": 272.0,
        "architecture": "ada",
        "compute_capability": 8.9,
        "native_formats": ["fp16", "int8", "fp8"],
        "segment": "consumer",
        "source": "test",
    }
    fields.update(extra)
    return GPU(**fields)


@pytest.fixture
def catalog() -> Dataset:
    gpus = [
        catalog_gpu("RTX 4060", 8),
        catalog_gpu("RTX 4060 Ti", 8, aliases=["RTX 4060 Ti 8GB"]),
        catalog_gpu("RTX 4060 Ti 16GB", 16),
        catalog_gpu("RTX 4090", 24, memory_bandwidth_gbps=1008.0),
        catalog_gpu("H100 SXM", 80, segment="datacenter", architecture="hopper", compute_capability=9.0),
        catalog_gpu("H100 PCIe", 80, segment="datacenter", architecture="hopper", compute_capability=9.0),
        catalog_gpu(
            "Radeon RX 7900 XTX",
            24,
            vendor="amd",
            architecture="rdna3",
            compute_capability=None,
            aliases=["7900xtx"],
        ),
        catalog_gpu(
            "Apple M3 Max 48GB",
            48,
            vendor="apple",
            architecture="apple9",
            compute_capability=None,
            unified_memory=True,
            segment="soc",
            memory_bandwidth_gbps=400.0,
        ),
    ]
    return Dataset(
        sources={},
        ggml_types={},
        formats={},
        evidence={},
        gpus={g.name: g for g in gpus},
        architectures={},
        residents={},
        rules={},
    )


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("RTX 4060", "RTX 4060"),
        ("4060", "RTX 4060"),
        ("rtx4060", "RTX 4060"),
        ("GeForce RTX 4060", "RTX 4060"),
        ("NVIDIA GeForce RTX 4060", "RTX 4060"),
        ("  rtx-4060 ", "RTX 4060"),
        ("RTX 4060 8GB", "RTX 4060"),
        ("4060 ti", "RTX 4060 Ti"),
        ("rtx4060ti", "RTX 4060 Ti"),
        ("RTX 4060 Ti 8GB", "RTX 4060 Ti"),
        ("4060 Ti 16GB", "RTX 4060 Ti 16GB"),
        ("AMD Radeon RX 7900 XTX", "Radeon RX 7900 XTX"),
        ("7900XTX", "Radeon RX 7900 XTX"),
        ("m3 max", "Apple M3 Max 48GB"),
    ],
)
def test_lookup_gpu_is_tolerant_of_spelling(catalog: Dataset, typed: str, expected: str) -> None:
    assert lookup_gpu(typed, catalog).name == expected


def test_lookup_gpu_unknown_lists_closest(catalog: Dataset) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        lookup_gpu("RTX 4066", catalog)
    assert "unknown GPU 'RTX 4066'" in caught.value.message
    assert caught.value.hint is not None
    assert "RTX 4060" in caught.value.hint
    assert "--vram" in caught.value.hint


def test_lookup_gpu_ambiguous_lists_candidates(catalog: Dataset) -> None:
    with pytest.raises(InvalidRequestError, match="matches several catalog GPUs: H100 PCIe, H100 SXM"):
        lookup_gpu("h100", catalog)


def test_lookup_gpu_answers_repeat_names_from_its_cache_and_keeps_refusing_bad_ones(catalog: Dataset) -> None:
    # Every recommend(gpu=...) looks its card up; the second lookup must be the first's answer, and
    # a name that failed must fail again rather than be remembered as something.
    first = lookup_gpu("rtx4060", catalog)
    assert lookup_gpu("rtx4060", catalog) is first
    assert first.name == lookup_gpu("GeForce RTX 4060", catalog).name
    for _ in range(2):
        with pytest.raises(InvalidRequestError, match="matches several"):
            lookup_gpu("h100", catalog)
    with pytest.raises(InvalidRequestError, match="must be a string"):
        lookup_gpu(4060, catalog)  # type: ignore[arg-type]


def test_lookup_gpu_empty_name(catalog: Dataset) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        lookup_gpu(" - ", catalog)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("4060", "GeForce RTX 4060"),
        ("rtx4060", "GeForce RTX 4060"),
        ("GeForce RTX 4060", "GeForce RTX 4060"),
        ("NVIDIA GeForce RTX 4060", "GeForce RTX 4060"),
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),  # what NVML calls the cards in the fixtures
        ("NVIDIA H200", "H200"),
    ],
)
def test_bundled_catalog_spellings(typed: str, expected: str) -> None:
    dataset = load_dataset()
    if expected not in dataset.gpus:
        pytest.skip(f"{expected} is not in data/gpus.yaml")
    assert lookup_gpu(typed, dataset).name == expected


def test_every_bundled_catalog_gpu_finds_itself() -> None:
    dataset = load_dataset()
    if not dataset.gpus:
        pytest.skip("data/gpus.yaml has no GPUs yet")
    for gpu in dataset.gpus.values():
        assert lookup_gpu(gpu.name, dataset) is gpu
        for alias in gpu.aliases:
            assert lookup_gpu(alias, dataset) is gpu, alias


# --------------------------------------------------------------------------- overrides


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan, math.inf, -math.inf, "8", True])
def test_override_vram_validation(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="--vram"):
        hardware_from_overrides(vram_gib=bad)


@pytest.mark.parametrize("bad", [-2, math.nan, math.inf])
def test_override_ram_validation(bad: float) -> None:
    with pytest.raises(InvalidRequestError, match="--ram"):
        hardware_from_overrides(ram_gib=bad)


@pytest.mark.parametrize("bad", [0, -1, 65, 1.5, True])
def test_override_gpus_validation(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="--gpus"):
        hardware_from_overrides(vram_gib=8, gpus=bad)


def test_override_vram_zero_is_cpu_only() -> None:
    report = hardware_from_overrides(vram_gib=0, ram_gib=32)
    assert report.gpus == []
    assert report.host_ram_bytes == 32 * GIB
    budget = planning_budget(report)
    assert budget.vram_bytes == 0
    assert budget.ram_bytes == 32 * GIB


def test_override_vram_keeps_the_detected_cards_margin() -> None:
    # Issue 12: a planned card keeps llama.cpp's 1 GiB --fit-target, as a detected one does.
    report = hardware_from_overrides(vram_gib=8)
    (gpu,) = report.gpus
    assert gpu.source == "user"
    assert gpu.total_bytes == 8 * GIB
    assert report.host_ram_bytes is None
    budget = planning_budget(report)
    assert budget.vram_bytes == 7 * GIB
    assert "safety margin 1.00 GiB (llama.cpp's default --fit-target)" in budget.steps[0]
    assert "host RAM unknown" in budget.steps[-1]
    assert planning_budget(report, safety_margin_bytes=0).vram_bytes == 8 * GIB  # --margin 0: the whole card


def test_override_two_catalog_cards(catalog: Dataset) -> None:
    report = hardware_from_overrides(gpu="rtx4090", gpus=2, ram_gib=64, dataset=catalog)
    assert report.source == "catalog"
    assert [g.name for g in report.gpus] == ["RTX 4090", "RTX 4090"]
    assert [g.index for g in report.gpus] == [0, 1]
    assert report.gpus[0].peak_bandwidth_gbps == 1008.0
    assert report.gpus[0].compute_capability == 8.9
    budget = planning_budget(report)
    assert budget.per_gpu_bytes == [23 * GIB] * 2  # each planned card keeps the 1 GiB margin
    assert budget.gpu_name == "2 × RTX 4090"
    assert budget.ram_bytes == 64 * GIB


def test_override_vram_replaces_catalog_memory(catalog: Dataset) -> None:
    report = hardware_from_overrides(gpu="4060 ti", vram_gib=16, dataset=catalog)
    (gpu,) = report.gpus
    assert gpu.name == "RTX 4060 Ti"
    assert gpu.total_bytes == 16 * GIB
    assert gpu.source == "user"
    assert any("replaces the catalog's 8 GiB" in n for n in report.notes)


def test_override_unified_memory_catalog_gpu(catalog: Dataset) -> None:
    report = hardware_from_overrides(gpu="M3 Max", dataset=catalog)
    (gpu,) = report.gpus
    assert gpu.unified_memory is True
    assert gpu.total_bytes == 36 * GIB  # 3/4 of 48 GiB
    assert report.host_ram_bytes == 48 * GIB
    budget = planning_budget(report)
    assert budget.ram_bytes == 12 * GIB


def test_override_unified_memory_nvidia_catalog_gpu(catalog: Dataset) -> None:
    spark = catalog_gpu("DGX Spark", 128, architecture="blackwell", unified_memory=True, segment="soc")
    dataset = dataclasses.replace(catalog, gpus={**catalog.gpus, "DGX Spark": spark})
    report = hardware_from_overrides(gpu="dgx spark", dataset=dataset)
    (gpu,) = report.gpus
    assert gpu.total_bytes == 128 * GIB  # CUDA may allocate the whole pool; no macOS rule here
    assert report.host_ram_bytes == 128 * GIB
    assert planning_budget(report).ram_bytes == 0


def test_override_unknown_gpu_raises(catalog: Dataset) -> None:
    with pytest.raises(InvalidRequestError, match="unknown GPU"):
        hardware_from_overrides(gpu="RTX 9999", dataset=catalog)


def test_override_keeps_what_the_base_report_found() -> None:
    base = HardwareReport(
        gpus=[GPUReading(index=0, name="Detected", vendor="nvidia", total_bytes=12 * GIB, source="nvml")],
        host_ram_bytes=64 * GIB,
        host_ram_available_bytes=40 * GIB,
        host_ram_source="sysconf",
        source="nvml",
        notes=["from detection"],
    )
    report = hardware_from_overrides(ram_gib=16, base=base)
    assert report.gpus == base.gpus
    assert report.source == "nvml"
    assert report.host_ram_bytes == 16 * GIB
    assert report.host_ram_source == "user"
    assert report.notes == ["from detection"]
    kept = hardware_from_overrides(base=base)
    assert kept.host_ram_available_bytes == 40 * GIB


# --------------------------------------------------------------------------- budget arithmetic


def reading(**fields: Any) -> GPUReading:
    base: dict[str, Any] = {"index": 0, "name": "Card", "vendor": "nvidia", "source": "nvml"}
    base.update(fields)
    return GPUReading(**base)


def test_budget_arithmetic_with_everything_subtracted() -> None:
    gpu = reading(
        total_bytes=24 * GIB,
        free_bytes=20 * GIB,
        used_bytes=int(3.5 * GIB),
        reserved_bytes=GIB // 2,
        other_processes_bytes=3 * GIB,
        display_active=True,
        compute_capability=8.6,
    )
    report = HardwareReport(
        gpus=[gpu],
        host_ram_bytes=64 * GIB,
        host_ram_available_bytes=48 * GIB,
        host_ram_source="x",
        source="nvml",
    )
    budget = planning_budget(report, safety_margin_bytes=512 * MIB)
    assert budget.vram_bytes == 24 * GIB - GIB // 2 - int(3.5 * GIB) - 512 * MIB
    assert budget.ram_bytes == 48 * GIB  # available, not total, when planning with what is free
    assert budget.steps[0] == (
        "GPU 0 Card: total 24.00 GiB (nvml) − driver reserved 0.50 GiB − in use by other processes "
        "3.50 GiB (processes listed: 3.00 GiB) − display 0 (its memory is already in use above) − "
        "safety margin 0.50 GiB (as requested) = 19.50 GiB"
    )
    assert "host RAM: available 48.00 GiB (MemAvailable) of total 64.00 GiB (x)" in budget.steps
    total_ram = planning_budget(report, use_free=False)
    assert total_ram.ram_bytes == 64 * GIB


def test_budget_never_goes_negative() -> None:
    report = HardwareReport(
        gpus=[reading(total_bytes=512 * MIB, free_bytes=400 * MIB, used_bytes=112 * MIB, reserved_bytes=0)],
        source="nvml",
    )
    budget = planning_budget(report)
    assert budget.vram_bytes == 0
    assert budget.per_gpu_bytes == [0]
    assert budget.gpu_name is None
    assert budget.compute_capability is None
    assert any("nothing left to plan with; left out" in s for s in budget.steps)


def test_budget_compute_capability_unknown_if_any_used_gpu_lacks_it() -> None:
    report = HardwareReport(
        gpus=[
            reading(index=0, total_bytes=24 * GIB, compute_capability=8.9),
            reading(index=1, name="Other", total_bytes=24 * GIB, compute_capability=None),
        ],
        source="nvml",
    )
    assert planning_budget(report).compute_capability is None


@pytest.mark.parametrize("bad", [-1, True])
def test_budget_rejects_bad_margin(bad: Any) -> None:
    report = HardwareReport(gpus=[], source="none")
    with pytest.raises(InvalidRequestError, match="safety margin"):
        planning_budget(report, safety_margin_bytes=bad)


def test_budget_is_frozen_json() -> None:
    budget = planning_budget(hardware_from_overrides(vram_gib=12, gpus=2))
    dumped = budget.model_dump(mode="json")
    assert dumped["vram_bytes"] == 22 * GIB  # 2 × (12 − the 1 GiB margin)
    assert dumped["per_gpu_bytes"] == [11 * GIB, 11 * GIB]
    with pytest.raises(ValueError, match="frozen"):
        budget.vram_bytes = 0  # type: ignore[misc]


def test_reports_are_immutable_copies() -> None:
    report = hardware_from_overrides(vram_gib=8)
    clone = copy.deepcopy(report)
    assert clone == report


# --------------------------------------------------------------------------- this machine


def test_detect_hardware_on_this_machine_never_raises() -> None:
    report = detect_hardware()
    budget = planning_budget(report)
    assert budget.vram_bytes >= 0
    assert len(budget.per_gpu_bytes) == len(report.gpus)
    json.dumps(report.model_dump(mode="json"))


def test_unified_memory_chip_with_a_size_is_planned_with_that_size() -> None:
    gpu = lookup_gpu("M3 Max 36GB")
    assert gpu.memory_gib == 36
    assert gpu.unified_memory
    report = hardware_from_overrides(gpu="M3 Max 36GB")
    # macOS's default GPU working set on 36 GiB: two thirds (docs/hardware.md).
    assert report.gpus[0].total_bytes == 24 * GIB
    with pytest.raises(InvalidRequestError):
        lookup_gpu("M3 Max 512GB")  # larger than the chip's largest option


@pytest.mark.parametrize("root", [True, 5, 1.5, b"/sys", object(), "a" * 5000])
@pytest.mark.parametrize("label", ["sysfs_root", "procfs_root"])
def test_a_root_that_is_not_a_path_is_the_callers_error(root: object, label: str) -> None:
    from quantadvisor.errors import InvalidRequestError
    from quantadvisor.hardware.detect import detect_host_memory

    with pytest.raises(InvalidRequestError, match=label):
        detect_hardware(**{label: root})  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=label):
        detect_host_memory(**{label: root})  # type: ignore[arg-type]
