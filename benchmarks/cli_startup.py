"""Cold-start timings of the CLI (fresh processes), and a sweep of every GGUF type × 4 contexts.

Run: python benchmarks/cli_startup.py    (prints the median of 5 runs of each command)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--help"],
    ["suggest", "--task", "code", "--vram", "8", "--model", "9b"],
    ["suggest", "--task", "code", "--vram", "8"],
    ["memory", "--model", "8b", "--quant", "all"],
]


def cold(argv: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "quantadvisor", *argv], capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sweep() -> float:
    from quantadvisor.memory import GGUF_FILE_TYPES, estimate_memory

    estimate_memory("8b", "Q4_K_M")  # load the dataset once; the sweep measures the arithmetic
    start = time.perf_counter()
    for quant in GGUF_FILE_TYPES:
        for ctx in (4096, 8192, 32768, 131072):
            estimate_memory("8b", quant, context_tokens=ctx, flash_attn=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    for argv in COMMANDS:
        print(f"{cold(argv) * 1000:8.0f} ms  quantadvisor {' '.join(argv)}")
    print(f"{sweep() * 1000:8.1f} ms  every GGUF type x 4 contexts (estimate_memory, warm dataset)")
