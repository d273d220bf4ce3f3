"""Predicted vs measured llama.cpp memory: the H100 calibration points, then six other architectures.

Run: python benchmarks/memory_accuracy.py [path/to/calibration.csv]
The default CSV is tests/data/llama3.1-8b-h100.csv, the 29 calibration runs shipped with the repo
(the same file as the shared calibration set; see its README). The second table is
tests/data/out-of-sample-h100.csv: 59 runs of Gemma-2/3, Qwen2.5, Qwen3-MoE, Llama-3.2-3B and
Mistral-Small-24B shapes (docs/research/out-of-sample-memory.md). Both are in every clone.
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

from quantadvisor.architecture import spec_from_config
from quantadvisor.dataset import load_dataset

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
DEFAULT_CSV = REPO / "tests" / "data" / "llama3.1-8b-h100.csv"
OUT_OF_SAMPLE_CSV = REPO / "tests" / "data" / "out-of-sample-h100.csv"
# The measured shapes, by the size shorthand they were generated from.
OUT_OF_SAMPLE_SHAPES = {
    "Gemma-3-12B": "12b", "Gemma-2-9B": "9b", "Qwen2.5-7B": "7b", "Qwen3-30B-A3B": "30b-a3b",
    "Llama-3.2-3B": "3b", "Mistral-Small-24B": "24b",
}  # fmt: skip

# Llama-3.1-8B config as the calibration GGUFs were built (see the calibration README).
LLAMA31_8B = next(a for a in load_dataset().architectures.values() if a.stands_for == "Llama-3.1-8B")


def main(argv: list[str]) -> int:
    from quantadvisor.memory import estimate_memory

    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_CSV
    if not path.is_file():
        print(f"no calibration CSV at {path}: pass one, e.g. python {argv[0]} tests/data/llama3.1-8b-h100.csv")
        return 2
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    spec = spec_from_config(LLAMA31_8B.config, name="Llama-3.1-8B")
    errors, file_errors = [], {}
    header = (
        f"{'quant':7} {'ctx':>6} {'ngl':>3} {'fa':3} {'ctk':5} {'ub':>4} {'prompt':6} | "
        f"{'real MiB':>8} {'pred MiB':>8} {'err %':>6} | {'KV':>5} {'compute real/pred':>17}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        est = estimate_memory(
            spec, row["quant_type"], context_tokens=int(row["n_ctx"]),
            gpu_layers=int(row["n_gpu_layers"]), cache_type_k=row["cache_type_k"], cache_type_v=row["cache_type_v"],
            flash_attn=row["flash_attn"] == "on", n_ubatch=int(row["n_ubatch"]), imatrix=False,
        )  # fmt: skip
        real = float(row["nvml_used_peak_mib"]) - float(row["nvml_used_before_mib"])
        pred = est.total_bytes / MIB
        long_prompt = "prompt=long" in row["notes"]
        if long_prompt:
            # A ~2.3k-token prompt grows the CUDA pool; predict it at the prompt's length.
            from quantadvisor.memory.runtime import prompt_pool_bytes

            tokens = int(row["notes"].split("prompt_eval=")[1].split("/ ")[1].split(" tokens")[0])
            pred += (
                prompt_pool_bytes(spec, tokens, flash_attn=row["flash_attn"] == "on", n_ubatch=int(row["n_ubatch"]))
                / MIB
            )
        err = (pred - real) / real * 100
        errors.append(abs(err))
        real_file = int(row["file_size_bytes"])
        file_errors[row["quant_type"]] = (est.file_bytes - real_file) / real_file * 100
        prompt = "long" if long_prompt else "short"
        print(
            f"{row['quant_type']:7} {row['n_ctx']:>6} {row['n_gpu_layers']:>3} {row['flash_attn']:3} "
            f"{row['cache_type_k']:5} {row['n_ubatch']:>4} {prompt:6} | {real:8.0f} {pred:8.0f} {err:+6.2f} | "
            f"{est.kv_cache_bytes / MIB:5.0f} {float(row['compute_buffer_mib']):8.1f}/{est.compute_bytes / MIB:8.1f}"
        )
    print()
    median, worst = statistics.median(errors), max(errors)
    print(f"GPU footprint: {len(errors)} points, median |error| {median:.2f}%, worst {worst:.2f}%")
    print("GGUF file size error by type: " + ", ".join(f"{q} {e:+.3f}%" for q, e in file_errors.items()))
    print()
    out_of_sample()
    return 0


def compare_out_of_sample(path: Path = OUT_OF_SAMPLE_CSV) -> list[dict[str, float | str]]:
    """Each measured run beside estimate_memory's prediction (MiB): weights, KV, compute, total."""
    from quantadvisor.architecture import spec_from_shorthand
    from quantadvisor.memory import estimate_memory

    out: list[dict[str, float | str]] = []
    with path.open(encoding="utf-8") as handle:
        measured = list(csv.DictReader(handle))
    for row in measured:
        spec = spec_from_shorthand(OUT_OF_SAMPLE_SHAPES[row["model"]])
        ngl = int(row["ngl"])
        est = estimate_memory(
            spec, row["quant"], context_tokens=int(row["ctx"]), gpu_layers=None if ngl >= 99 else ngl,
            cache_type_k=row["ctk"], cache_type_v=row["ctv"], flash_attn=row["fa"] == "on",
            n_cpu_moe=int(row["n_cpu_moe"]), imatrix=False,
        )  # fmt: skip
        out.append({
            "run": f"{row['model']} c{row['ctx']} fa-{row['fa']} {row['ctk']} ngl{ngl} cpu-moe{row['n_cpu_moe']}",
            "weights": float(row["model_gpu_mib"]), "weights_pred": est.weights_bytes / MIB,
            "kv": float(row["kv_gpu_mib"]), "kv_pred": est.kv_cache_bytes / MIB,
            "compute": float(row["compute_gpu_mib"]), "compute_pred": est.compute_bytes / MIB,
            "host_compute": float(row["compute_host_mib"]), "host_compute_pred": est.host_compute_bytes / MIB,
            "total": float(row["nvml_mib"]), "total_pred": est.total_bytes / MIB,
        })  # fmt: skip
    return out


def out_of_sample() -> None:
    rows = compare_out_of_sample()
    print(f"{'run':58} | {'total real/pred MiB':>19} {'err %':>6} | {'compute real/pred':>17} | KV Δ")
    for r in rows:
        err = (float(r["total_pred"]) - float(r["total"])) / float(r["total"]) * 100
        print(
            f"{r['run']:58} | {r['total']:9.0f}/{r['total_pred']:9.0f} {err:+6.2f} | "
            f"{r['compute']:8.1f}/{r['compute_pred']:8.1f} | {float(r['kv_pred']) - float(r['kv']):+.2f}"
        )
    errors = [abs(float(r["total_pred"]) - float(r["total"])) / float(r["total"]) * 100 for r in rows]
    print(
        f"\nOther architectures: {len(rows)} runs, median |error| {statistics.median(errors):.2f}%, "
        f"worst {max(errors):.2f}%, worst compute miss "
        f"{max(abs(float(r['compute_pred']) - float(r['compute'])) for r in rows):.1f} MiB"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
