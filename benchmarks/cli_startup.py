"""Cold-start timings of the CLI (fresh processes), and a sweep of every GGUF type × 4 contexts.

Run: python benchmarks/cli_startup.py [--runs N]

Each command runs in a fresh interpreter N times (default 11), round-robin over the commands,
after one warm-up run; the median and the fastest are printed. On a shared 2-core VM runs
spread by tens of ms, so the fastest shows the cost itself and the median what a user sees.
The warm-up writes the .pyc files and the dataset pickle, as any first run does: a pip-installed
package has its bytecode compiled at install time, so PYTHONDONTWRITEBYTECODE is dropped from
the children's environment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--help"],
    ["suggest", "--task", "code", "--vram", "8", "--model", "9b"],
    ["suggest", "--task", "code", "--vram", "8"],
    ["suggest", "--task", "code", "--vram", "8", "--json"],
    ["suggest", "--task", "chat", "--gpu", "RTX 4090", "--model", "32b"],
    ["memory", "--model", "8b", "--quant", "all"],
]
TARGET_MS = 250


def cold(commands: list[list[str]], runs: int) -> list[tuple[float, float]]:
    """(median, fastest) seconds per command. Runs go round-robin over the commands, so a noisy
    spell on a shared VM lands on all of them instead of on one command's runs."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "QUANTADVISOR_VALIDATE"}}
    full = [[sys.executable, "-m", "quantadvisor", *argv] for argv in commands]
    for command in full:  # warm-up: .pyc files, dataset pickle
        subprocess.run(command, capture_output=True, check=False, env=env)
    times: list[list[float]] = [[] for _ in full]
    for _ in range(runs):
        for i, command in enumerate(full):
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False, env=env)
            times[i].append(time.perf_counter() - start)
    return [(statistics.median(t), min(t)) for t in times]


def sweep() -> float:
    from quantadvisor.memory import GGUF_FILE_TYPES, estimate_memory

    estimate_memory("8b", "Q4_K_M")  # load the dataset once; the sweep measures the arithmetic
    start = time.perf_counter()
    for quant in GGUF_FILE_TYPES:
        for ctx in (4096, 8192, 32768, 131072):
            estimate_memory("8b", quant, context_tokens=ctx, flash_attn=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    print(f"{'median':>8} {'fastest':>8}   command (target: {TARGET_MS} ms)")
    for argv, (median, fastest) in zip(COMMANDS, cold(COMMANDS, args.runs), strict=True):
        flag = "" if median * 1000 < TARGET_MS else "   over target"
        print(f"{median * 1000:6.0f} ms {fastest * 1000:5.0f} ms   quantadvisor {' '.join(argv)}{flag}")
    print(f"{sweep() * 1000:6.1f} ms            every GGUF type x 4 contexts (estimate_memory, warm dataset)")
