"""Join battery JSONL (battery.sh's rows.jsonl, one file per device call) with the manifests into
tests/data/speed-h200-heldout.csv (the columns of speed-h200.csv).

    PYTHONPATH=. python benchmarks/device/to_csv.py OUT.csv MANIFEST_DIR CALL_DIR [CALL_DIR ...]

Each CALL_DIR is one call's $OUT: rows.jsonl, and gen.log (write_gguf.py's "path bytes" lines).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

COLUMNS = (
    "group",
    "model",
    "shorthand",
    "arch",
    "quant",
    "file_bytes",
    "tensor_bytes",
    "n_params",
    "n_layers",
    "n_gpu_layers",
    "n_cpu_moe",
    "n_prompt",
    "n_gen",
    "n_depth",
    "flash_attn",
    "n_threads",
    "n_batch",
    "n_ubatch",
    "type_k",
    "type_v",
    "load_mode",
    "reps",
    "avg_ts",
    "stddev_ts",
    "median_ts",
    "max_ts",
    "samples_ts",
    "avg_ns",
    "test_time",
)


def main(argv: list[str]) -> int:
    out, man_dir, sources = Path(argv[0]), Path(argv[1]), argv[2:]
    manifests = {p.name[: -len(".json")]: json.loads(p.read_text()) for p in man_dir.glob("*.json")}
    rows = []
    for src in sources:
        sizes = {}
        for line in (Path(src) / "gen.log").read_text().splitlines():
            if line.startswith("/"):
                path, size = line.split()
                sizes[Path(path).name] = int(size)
        for line in (Path(src) / "rows.jsonl").read_text().splitlines():
            r = json.loads(line)
            m = manifests[r["file"]]
            samples = sorted(r["samples_ts"])
            mid = len(samples) // 2
            median = samples[mid] if len(samples) % 2 else (samples[mid - 1] + samples[mid]) / 2
            rows.append({
                "group": r["group"], "model": m["spec_name"], "shorthand": m["model"], "arch": m["arch"],
                "quant": m["quant"], "file_bytes": sizes[r["file"]], "tensor_bytes": r["model_size"],
                "n_params": r["model_n_params"], "n_layers": m["n_layers"], "n_gpu_layers": r["n_gpu_layers"],
                "n_cpu_moe": r.get("n_cpu_moe", 0), "n_prompt": r["n_prompt"], "n_gen": r["n_gen"],
                "n_depth": r["n_depth"], "flash_attn": int(r["flash_attn"]), "n_threads": r["n_threads"],
                "n_batch": r["n_batch"], "n_ubatch": r["n_ubatch"], "type_k": r["type_k"], "type_v": r["type_v"],
                "load_mode": "none", "reps": len(samples), "avg_ts": round(r["avg_ts"], 2),
                "stddev_ts": round(r["stddev_ts"], 2), "median_ts": round(median, 2), "max_ts": round(samples[-1], 2),
                "samples_ts": ";".join(f"{s:.2f}" for s in r["samples_ts"]), "avg_ns": r["avg_ns"],
                "test_time": r["test_time"],
            })  # fmt: skip
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(len(rows), "rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
