"""The CLI through its real entry point: exit codes, JSON, one-line errors, documented commands."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from quantadvisor.cli import build_parser, main


def test_suggest_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suggest", "--task", "code", "--vram", "8", "--model", "9b", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["options"][0]["quant"] == "Q4_K_M"  # 7 GiB: the card less llama.cpp's 1 GiB --fit-target
    assert payload["pick"]["fit"] == "gpu"
    assert payload["hardware"]["margin_bytes"] == 2**30
    assert payload["trace"]


def test_suggest_margin_zero_plans_the_whole_card(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suggest", "--task", "code", "--vram", "8", "--model", "9b", "--margin", "0", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["hardware"]["llm_vram_bytes"] == 8 * 2**30
    assert payload["pick"]["quant"] == "Q5_K_M"
    assert any("--fit-target" in n for n in payload["pick"]["notes"])


def test_suggest_table_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suggest", "--task", "chat", "--gpu", "RTX 4060", "--model", "9b", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "Pick:" in out
    assert "Q4_K_M" in out
    assert "q1-tolerant-tasks" in out
    assert "-ngl" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["suggest", "--task", "poetry", "--vram", "8"],
        ["suggest", "--task", "code", "--vram", "-3"],
        ["suggest", "--task", "code", "--vram", "nan"],
        ["suggest", "--task", "code", "--gpu", "RTX 9999"],
        ["suggest", "--task", "code", "--vram", "8", "--model", "not-a-model"],
        ["memory", "--model", "8b", "--quant", "Q9_Z"],
        ["memory", "--model", "8b", "--quant", "Q4_K_M", "--cache-type-v", "q8_0", "--flash-attn", "off"],
        ["suggest", "--task", "code", "--vram", "8", "--cache-type-v", "q8_0", "--flash-attn", "off"],
        ["suggest", "--task", "code", "--vram", "8", "--cache-type-k", "q3_k"],
        ["suggest", "--task", "code", "--vram", "8", "--ubatch", "0"],
        ["evidence", "--format", "Q4_K_MM"],
        ["suggest", "--task", "code", "--vram", "8", "--context", "0"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip()


def test_nothing_fits_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suggest", "--task", "chat", "--model", "70b", "--vram", "1", "--ram", "4"]) == 3


def test_corrupt_data_dir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("schema_version: 1\ngpus: [{name: x}\n")
    assert main(["--data", str(tmp_path), "gpus"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ")
    assert "bad.yaml" in err
    assert "Traceback" not in err


def test_memory_json_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "--model", "8b", "--quant", "Q4_K_M", "--context", "8192", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    for field in ("file_bytes", "weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes",
                  "total_bytes", "host_bytes", "gpu_layers", "n_layers"):  # fmt: skip
        assert isinstance(payload[field], int)
    assert payload["kv_cache_bytes"] == 1024 * 2**20


def test_formats_evidence_gpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formats", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) >= 40
    assert main(["evidence", "--format", "Q4_K_M", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records
    assert all("citation" in r for r in records)
    assert main(["gpus", "--search", "4060", "--json"]) == 0
    assert any("4060" in g["name"] for g in json.loads(capsys.readouterr().out))


def test_every_command_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"quantadvisor {name}" in doc, name


def _no_gpu_machine(monkeypatch: pytest.MonkeyPatch, ram_gib: float = 24.0) -> None:
    """What detection reports on a machine without a GPU driver (tests/test_hardware.py covers how)."""
    from quantadvisor.hardware import HardwareReport

    ram = round(ram_gib * 2**30)
    report = HardwareReport(
        gpus=[], host_ram_bytes=ram, host_ram_available_bytes=ram, host_ram_source="/proc/meminfo", source="none",
        notes=["NVML unavailable: NVMLError_LibraryNotFound"],
    )  # fmt: skip
    monkeypatch.setattr("quantadvisor.hardware.detect_hardware", lambda: report)
    monkeypatch.setattr("quantadvisor.hardware.detect_host_memory", lambda: report)


def test_no_gpu_detected_plans_cpu_only(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _no_gpu_machine(monkeypatch)
    assert main(["suggest", "--task", "chat", "--model", "8b"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chat, CPU only (no GPU found): 24.0 GiB of RAM")
    assert "-ngl 0" in out
    assert "RAM unknown" not in out


@pytest.mark.parametrize("argv", [["--vram", "0"], []])
def test_cpu_only_never_picks_more_than_the_ram(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # One behaviour for "no GPU found" and "--vram 0": the matrix is checked against the host's RAM.
    _no_gpu_machine(monkeypatch, ram_gib=23.5)
    assert main(["suggest", "--task", "chat", *argv, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["hardware"]["cpu_only"] is True
    assert payload["hardware"]["ram_bytes"] == round(23.5 * 2**30)
    assert payload["pick"]["memory"]["host_bytes"] <= payload["hardware"]["ram_bytes"]
    assert payload["pick"]["gpu_layers"] == 0
    too_big = {r["size"] for r in payload["by_size"] if r["best"] is None}
    assert {"70b", "72b"} <= too_big


@pytest.mark.parametrize("vram", ["1.25", "2.2"])
def test_a_card_below_the_gpu_buffers_is_planned_as_vram_0(
    vram: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """1.25 GiB (0.25 to plan with) is below any model's GPU buffers (the request's floor); 2.2 GiB
    is below 8B's smallest GPU plan (the planner's): both are --vram 0's answer, RAM read and checked."""
    _no_gpu_machine(monkeypatch, ram_gib=23.5)
    assert main(["suggest", "--task", "chat", "--model", "8b", "--vram", "0", "--json"]) == 0
    zero = json.loads(capsys.readouterr().out)
    assert main(["suggest", "--task", "chat", "--model", "8b", "--vram", vram, "--json"]) == 0
    small = json.loads(capsys.readouterr().out)
    hw = small["hardware"]
    assert (hw["cpu_only"], hw["llm_vram_bytes"], hw["ram_bytes"]) == (True, 0, round(23.5 * 2**30))
    assert any("below" in n and "--device none" in n for n in hw["notes"])
    for a, b in zip(zero["options"], small["options"], strict=True):
        assert (a["quant"], a["fit"], a["speed"]) == (b["quant"], b["fit"], b["speed"])
        assert b["runner_flags"] == [*a["runner_flags"], "--device", "none"]
    assert main(["suggest", "--task", "chat", "--model", "8b", "--vram", vram]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chat, CPU only (")
    assert "below llama.cpp's GPU buffers): 23.5 GiB of RAM" in " ".join(out.split())
    assert "RAM GiB" in out
    assert "GiB on the GPU" not in out


def test_the_matrix_puts_sizes_on_the_gpu_before_cpu_only_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 1.2 GiB to plan with, most sizes cannot hold their smallest GPU plan: those rows are
    planned as --vram 0 (RAM read and checked: 70b does not fit 23.5 GiB), shown in RAM, and never
    picked over sizes with layers on the GPU (the old pick: 72b CPU-only, 45 GiB of RAM unchecked)."""
    _no_gpu_machine(monkeypatch, ram_gib=23.5)
    assert main(["suggest", "--task", "chat", "--vram", "2.2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    rows = {r["size"]: r["best"] for r in payload["by_size"]}
    assert rows["70b"] is None
    cpu = [b for b in rows.values() if b and b["gpu_layers"] == 0]
    assert cpu
    assert all(b["runner_flags"][-2:] == ["--device", "none"] for b in cpu)
    assert all(b["memory"]["host_bytes"] <= round(23.5 * 2**30) for b in cpu)
    assert payload["pick"]["gpu_layers"] > 0
    assert main(["suggest", "--task", "chat", "--vram", "2.2"]) == 0
    out = capsys.readouterr().out
    assert " RAM  f16   CPU only" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["suggest", "--task", "code", "--vram", "1e308", "--model", "8b"],
        ["suggest", "--task", "code", "--vram", "8", "--ram", "1e300", "--model", "8b"],
        ["suggest", "--task", "code", "--vram", "8", "--context", "1k2"],
        ["suggest", "--task", "code", "--gpus", "2", "--model", "8b"],
        ["memory", "--model", "8b"],
    ],
)
def test_more_bad_input_is_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip()


def test_context_k_suffix_counts_in_1024s(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "--model", "8b", "--quant", "Q4_K_M", "--context", "32k", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["context_tokens"] == 32768


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 0,
         "vocab_size": 32000, "intermediate_size": 11008},
        {"model_type": "llama", "hidden_size": "abc", "num_hidden_layers": 32, "num_attention_heads": 32,
         "vocab_size": 32000, "intermediate_size": 11008},
        {"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
         "vocab_size": 32000, "num_local_experts": 8, "num_experts_per_tok": 2},
    ],
)  # fmt: skip
def test_malformed_configs_are_one_line(
    config: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert main(["memory", "--model", str(path), "--quant", "Q4_K_M"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ")
    assert "Traceback" not in err


def _run_module(*argv: str) -> subprocess.Popen[bytes]:
    """The CLI as a user runs it: a fresh interpreter through cli.entry()."""
    command = [sys.executable, "-m", "quantadvisor", *argv]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_entry_point_exit_codes_in_a_real_process() -> None:
    ok = _run_module("suggest", "--task", "code", "--vram", "8", "--model", "9b", "--json")
    out, err = ok.communicate(timeout=60)
    assert ok.returncode == 0, err
    assert json.loads(out)["options"][0]["quant"] == "Q4_K_M"
    bad = _run_module("suggest", "--task", "poetry", "--vram", "8")
    out, err = bad.communicate(timeout=60)
    assert bad.returncode == 2
    assert err.decode().startswith("Error: unknown task 'poetry'")
    assert "Traceback" not in err.decode()


def test_a_reader_closing_the_pipe_ends_the_run_quietly() -> None:
    proc = _run_module("suggest", "--task", "code", "--vram", "8", "--model", "9b", "--explain")
    assert proc.stdout is not None
    proc.stdout.close()  # before the first write: every write meets a closed pipe
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err == b""


@pytest.mark.parametrize(
    ("argv", "code", "fragment"),
    [
        (["suggest", "--task", "poetry", "--vram", "8", "--json"], 2, "unknown task"),
        (["suggest", "--task", "code", "--vram", "x", "--json"], 2, "not a number of GiB"),
        (["memory", "--json"], 2, "--model"),
        (["suggest", "--task", "chat", "--model", "70b", "--vram", "0.5", "--ram", "1", "--json"], 3, None),
    ],
)
def test_json_errors_are_json_on_stderr(
    argv: list[str], code: int, fragment: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == code
    captured = capsys.readouterr()
    if fragment is None:  # nothing fits is a result: the Recommendation on stdout, nothing on stderr
        assert json.loads(captured.out)["pick"] is None
        assert captured.err == ""
        return
    assert captured.out == ""
    error = json.loads(captured.err)
    assert set(error) == {"error", "hint", "exit_code"}
    assert error["exit_code"] == code
    assert fragment in error["error"]
    assert error["hint"]


def test_top_level_help_lists_every_command_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 10, name  # a description, not just the name


def test_every_option_has_help_with_its_default() -> None:
    # What a newcomer reads in --help: each option says what it does, and options with a default say it.
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():  # type: ignore[union-attr]
        for action in command._actions:
            if action.dest in {"help"}:
                continue
            assert action.help, f"{name} {action.option_strings}"
            takes_value = action.nargs != 0 and not isinstance(action, argparse._StoreTrueAction)
            if takes_value and not action.required and action.dest != "json":
                assert "default" in action.help, f"{name} {action.option_strings}: {action.help}"
