"""Time and peak memory of the worst inputs the limits in quantadvisor/limits.py admit or refuse.

Each case runs in a fresh interpreter (peak RSS is that process's own ru_maxrss), three times; the figures
printed are the median wall time and the largest peak RSS. Run from the repository root:

    PYTHONPATH=$PWD python benchmarks/reliability_bounds.py

docs/reliability.md quotes its output. Nothing here is a test: the tests check behaviour, this prints figures.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from quantadvisor import limits  # noqa: E402

from hostile import deep_json, gguf, layer_bomb, shape_keys, tiny_config  # noqa: E402

RUNNER = r"""
import resource, sys, time
sys.modules.setdefault("pynvml", None)
t0 = time.perf_counter()
outcome = "ok"
try:
    exec(compile(sys.argv[1], "<case>", "exec"))
except Exception as exc:  # the case's outcome: a library error is the expected answer for refused inputs
    outcome = type(exc).__name__ + ": " + str(exc)[:90]
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the parent that forked this process.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(f"{wall:.3f} {usage.ru_utime + usage.ru_stime:.3f} {peak} {outcome}")
"""


def run(code: str, repeats: int = 3) -> tuple[float, float, int, str]:
    """Median wall and CPU seconds (the case only, after interpreter start-up) and the largest peak RSS (KiB)."""
    walls, cpus, peaks, outcome = [], [], [], ""
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", RUNNER, code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)  # fmt: skip
        wall, cpu, peak, outcome = out.stdout.strip().split(" ", 3)
        walls.append(float(wall))
        cpus.append(float(cpu))
        peaks.append(int(peak))
    return statistics.median(walls), statistics.median(cpus), max(peaks), outcome


def _write_vocab_header(path: Path, tokens: int) -> None:
    import struct

    from hostile import gstr, kv

    meta = shape_keys("llama", window=None)
    meta.pop("llama.vocab_size")
    pairs = b"".join(kv(k, v) for k, v in meta.items())
    array = gstr("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, tokens)
    with path.open("wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, len(meta) + 1) + pairs + array)
        f.write((struct.pack("<Q", 8) + b"tok_____") * tokens)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="qa-bounds-"))
    bomb = tmp / "bomb.gguf"
    bomb.write_bytes(layer_bomb())
    many = tmp / "100k.gguf"
    many.write_bytes(gguf(shape_keys("gemma2", layers=100_000)))
    widest = tmp / "max-layers.gguf"
    widest.write_bytes(gguf(shape_keys("gemma2", layers=limits.MAX_LAYERS)))
    deep = tmp / "deep" / "config.json"
    deep.parent.mkdir()
    deep.write_text(deep_json(100_000))
    big = tmp / "big" / "config.json"
    big.parent.mkdir()
    with big.open("wb") as f:
        f.seek(500 * 2**20)
        f.write(b"}")
    moe = tmp / "moe" / "config.json"
    moe.parent.mkdir()
    moe.write_text(json.dumps(tiny_config(model_type="qwen3_moe", num_hidden_layers=limits.MAX_LAYERS,
                                          num_experts=limits.MAX_EXPERTS, num_experts_per_tok=8,
                                          moe_intermediate_size=64)))  # fmt: skip
    files = [(f"m-Q4_K_M-{i}.gguf", 4_000_000_000 + i) for i in range(limits.MAX_LISTED_FILES)]
    vocab = tmp / "vocab.gguf"  # a header just under the 64 MiB limit: 3.9 M eight-byte token strings
    _write_vocab_header(vocab, 3_900_000)
    (tmp / "files.json").write_text(json.dumps(files))
    cases = {
        f"GGUF header, 2^40 blocks + sliding window ({bomb.stat().st_size} B): suggest": (
            f"from quantadvisor import recommend; recommend('code', model={str(bomb)!r}, vram_gib=8)"),
        "GGUF header, 100,000 tiny layers: suggest": (
            f"from quantadvisor import recommend; recommend('code', model={str(many)!r}, vram_gib=8)"),
        f"GGUF header, {limits.MAX_LAYERS} tiny layers (the limit): suggest": (
            f"from quantadvisor import recommend; recommend('code', model={str(widest)!r}, vram_gib=8)"),
        f"config.json, {limits.MAX_LAYERS} layers x {limits.MAX_EXPERTS} experts: suggest": (
            f"from quantadvisor import recommend; recommend('code', model={str(moe)!r}, vram_gib=8)"),
        "config.json of 500 MB: load_model_spec": (
            f"from quantadvisor import load_model_spec; load_model_spec({str(big)!r})"),
        "config.json nested 100,000 deep: load_model_spec": (
            f"from quantadvisor import load_model_spec; load_model_spec({str(deep)!r})"),
        f"{limits.MAX_LISTED_FILES:,} listed files: rank_files": (
            "import json; from quantadvisor import rank_files; "
            f"rank_files([tuple(p) for p in json.load(open({str(tmp / 'files.json')!r}))], task='chat', "
            "vram_gib=8, model='8b')"),
        f"GGUF header of {vocab.stat().st_size / 2**20:.0f} MiB (3.9 M tokens): load_model_spec": (
            f"from quantadvisor import load_model_spec; load_model_spec({str(vocab)!r})"),
        "Hub that accepts and never answers (HF_HUB_DOWNLOAD_TIMEOUT=2): rank_files": (
            "import os, socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8); "
            "os.environ['HF_ENDPOINT'] = 'http://127.0.0.1:%d' % s.getsockname()[1]; "
            "os.environ['HF_HUB_DOWNLOAD_TIMEOUT'] = '2'; "
            "from quantadvisor import rank_files; rank_files('org/repo', task='chat', vram_gib=8)"),
        "baseline: suggest --model 8b": "from quantadvisor import recommend; recommend('code', model='8b', vram_gib=8)",
    }  # fmt: skip
    print(f"{'case':<74} {'wall s':>7} {'CPU s':>6} {'peak MiB':>9}  outcome")
    for label, code in cases.items():
        wall, cpu, peak_kib, outcome = run(code)
        print(f"{label:<74} {wall:7.2f} {cpu:6.2f} {peak_kib / 1024:9.0f}  {outcome[:60]}")


if __name__ == "__main__":
    main()
