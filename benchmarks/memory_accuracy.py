"""Predicted vs measured llama.cpp memory for every H100 calibration point, with % errors.

Run: python benchmarks/memory_accuracy.py [path/to/calibration.csv]
The default CSV is ../shared/calibration/llama3.1-8b-h100.csv (next to the repo checkout).
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
DEFAULT_CSV = REPO.parent / "shared" / "calibration" / "llama3.1-8b-h100.csv"

# Llama-3.1-8B config as the calibration GGUFs were built (see the calibration README).
LLAMA31_8B = next(a for a in load_dataset().architectures.values() if a.stands_for == "Llama-3.1-8B")


def main(argv: list[str]) -> int:
    from quantadvisor.memory import estimate_memory

    path = Path(argv[1]) if len(argv) > 1 else DEFAULT_CSV
    rows = list(csv.DictReader(path.open()))
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
