"""Limits on untrusted input, in one place: every size that drives a loop or an allocation is checked
against one of these before anything is built from it. docs/reliability.md explains each figure.

Each limit sits well above every real model or machine seen (the margin is given), and low enough that the
work one request can cause stays bounded: at most MAX_LAYERS per-layer structures, MAX_LISTED_FILES files
ranked, MAX_CONFIG_BYTES of JSON read. No I/O, no heavy imports.
"""

from __future__ import annotations

import math

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CONTEXT_TOKENS",
    "MAX_CPU_THREADS",
    "MAX_DATA_FILE_BYTES",
    "MAX_EMBEDDING",
    "MAX_EXPERTS",
    "MAX_FEED_FORWARD",
    "MAX_GGUF_ARRAY_LENGTH",
    "MAX_GGUF_HEADER_BYTES",
    "MAX_GGUF_KV_COUNT",
    "MAX_GGUF_STRING_BYTES",
    "MAX_GGUF_TENSORS",
    "MAX_GPUS",
    "MAX_GPU_MEMORY_BYTES",
    "MAX_HEADS",
    "MAX_HEAD_DIM",
    "MAX_HOST_BANDWIDTH_GBPS",
    "MAX_HOST_MEMORY_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_LAYERS",
    "MAX_LISTED_FILES",
    "MAX_MODEL_ARG_CHARS",
    "MAX_NAME_CHARS",
    "MAX_PARAMS_BILLIONS",
    "MAX_RANKED_FILES",
    "MAX_VOCAB",
    "MIN_HOST_MEMORY_BYTES",
    "MIN_PARAMS_BILLIONS",
    "real_number",
]  # fmt: skip

_MiB = 1024 * 1024

# --- model shapes (ModelSpec fields; config.json and GGUF headers) ---------------------------------------
MAX_LAYERS = 1024
"""Transformer blocks. Real models have fewer than 200 (Llama-3.1-405B: 126); each layer costs planning work."""
MAX_EMBEDDING = 131_072
"""hidden_size / embedding_length. Largest seen: 18,432 (Nemotron-4-340B); 7x margin."""
MAX_HEADS = 1024
"""Attention heads (query or KV). Largest seen: 128 (DeepSeek-V3, Llama-3.1-405B)."""
MAX_HEAD_DIM = 8192
"""Per-head K or V width. Largest seen: 576 (DeepSeek MLA's compressed KV + rope)."""
MAX_FEED_FORWARD = 1_048_576
"""intermediate_size / expert width. Largest seen: 73,728 (Nemotron-4-340B)."""
MAX_VOCAB = 4_194_304
"""Vocabulary rows. Largest seen: 262,208 (Gemma 3); 16x margin."""
MAX_EXPERTS = 4096
"""Routed experts per MoE layer. Largest seen: 512 (Qwen3-Next, Qwen3.5-MoE)."""
MIN_PARAMS_BILLIONS = 0.001
"""The smallest parameter count accepted, in billions (1 M). Smallest LLM seen: SmolLM-135M (0.135)."""
MAX_PARAMS_BILLIONS = 100_000.0
"""A model's parameter count in billions (expected_loss's params_billions). Largest seen: about 1,000
(Kimi K2, 1.04 T); 100x margin."""
MAX_CONTEXT_TOKENS = 2**24
"""Context tokens (a request's context, a model's max_position_embeddings, a sliding window): 16.7 M.
Largest trained context seen: 10 M (Llama 4 Scout)."""

# --- files and listings ---------------------------------------------------------------------------------
MAX_CONFIG_BYTES = 16 * _MiB
"""A config.json (local or from the Hub). Real ones are kilobytes; compressed-tensors ignore lists < 1 MiB."""
MAX_JSON_DEPTH = 64
"""Nesting depth of a config.json. Real configs nest 3-5 deep; deeper JSON would exhaust the stack."""
MAX_GGUF_HEADER_BYTES = 64 * _MiB
"""Bytes read of a GGUF header (metadata + tensor infos). Real headers: 2-12 MiB (the vocabulary)."""
MAX_GGUF_KV_COUNT = 65_536
"""GGUF metadata keys. Real files: 30-60."""
MAX_GGUF_TENSORS = 65_536
"""GGUF tensor infos. Real files: up to ~1,100 (DeepSeek-V3) or ~25k with unstacked experts."""
MAX_GGUF_STRING_BYTES = 32 * _MiB
"""One GGUF string (chat templates are kilobytes)."""
MAX_GGUF_ARRAY_LENGTH = 16_777_216
"""One GGUF metadata array (vocabularies run to ~260k tokens)."""
MAX_LISTED_FILES = 10_000
"""Files in a Hub listing or a caller's (name, size) list that are looked at (cheap: names and sizes only)."""
MAX_RANKED_FILES = 128
"""GGUF builds sized and ranked per request (each costs a memory plan, ~5-10 ms). Large GGUF repos hold ~30-60
builds (bartowski, unsloth); a split build counts once."""
MAX_NAME_CHARS = 1024
"""A file path inside a repo. The Hub's own limit on a path is lower than this."""
MAX_MODEL_ARG_CHARS = 4096
"""A --model / model= string: a path, a repo id or a size; longer is refused before touching the disk."""
MAX_DATA_FILE_BYTES = 32 * _MiB
"""One data/ (or --data override) YAML file. The bundled evidence file is ~1 MiB."""

# --- hardware readings ----------------------------------------------------------------------------------
MAX_HOST_BANDWIDTH_GBPS = 20_000
"""Host memory bandwidth a user may give (--ram-bandwidth). Largest real: ~5,300 GB/s (MI300A's unified
HBM3); server DDR5 ~1,200. ~4x margin: a typo such as 1e308 would otherwise price decode at nothing."""
MAX_GPU_MEMORY_BYTES = 4 * 2**40
"""Memory one GPU may report: 4 TiB. Largest real: 288 GB (B300, MI355X); unified GH200/GB10 below 1 TiB."""
MAX_HOST_MEMORY_BYTES = 2**52
"""Host RAM a reading may report (sysconf, /proc/meminfo, a memory cgroup, sysctl hw.memsize, Windows): 4 PiB, the
physical address space of x86-64 with 5-level paging; 4-level paging stops at 64 TiB, and servers with 64 TiB
existed when 5-level paging was added (kernel.org, Documentation/arch/x86/x86_64/5level-paging.rst)."""
MIN_HOST_MEMORY_BYTES = 16 * _MiB
"""The least host RAM (or memory cgroup limit) a reading may report: 16 MiB. The process reading it is resident
in more (CPython 3 alone: ~8.5 MiB RSS; with quantadvisor.hardware imported: ~27 MiB, measured on Linux x86-64,
2026-12-02), so a smaller figure is a bad reading, not a small machine."""

MAX_GPUS = 64
"""GPUs one plan may span (gpus=, --gpus). Largest single hosts seen: 16 GPUs (NVIDIA HGX 2); 4x margin."""

MAX_CPU_THREADS = 65_536
"""CPU threads a plan may assume (--threads). Largest machines seen: 1,024 hardware threads."""


def real_number(value: object) -> float | None:
    """`value` as a float when it is a real, finite int or float (not a bool); None otherwise.

    math.isfinite(10**400) raises OverflowError: an int beyond a float's range is not a number here.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
