"""Builders of hostile inputs for the reliability suite: tiny GGUF headers that declare huge shapes, config
bombs, names that try to leave the repo or drive the terminal. Shared by tests/reliability/ and
benchmarks/reliability_bounds.py."""

from __future__ import annotations

import struct
from typing import Any

GGUF_U32, GGUF_STRING, GGUF_ARRAY, GGUF_U64 = 4, 8, 9, 10


def gstr(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str, value: Any) -> bytes:
    """One metadata pair: str → STRING, int < 2^32 → UINT32, larger int → UINT64, list of ints → UINT32 array."""
    if isinstance(value, str):
        return gstr(key) + struct.pack("<I", GGUF_STRING) + gstr(value)
    if isinstance(value, list):
        body = b"".join(struct.pack("<I", v) for v in value)
        return gstr(key) + struct.pack("<IIQ", GGUF_ARRAY, GGUF_U32, len(value)) + body
    if value < 2**32:
        return gstr(key) + struct.pack("<II", GGUF_U32, value)
    return gstr(key) + struct.pack("<IQ", GGUF_U64, value)


def tensor_info(name: str, shape: tuple[int, ...], ggml_type: int = 1, offset: int = 0) -> bytes:
    return (
        gstr(name)
        + struct.pack("<I", len(shape))
        + b"".join(struct.pack("<Q", d) for d in shape)
        + struct.pack("<IQ", ggml_type, offset)
    )


def gguf(metadata: dict[str, Any], tensors: list[bytes] | None = None) -> bytes:
    """A GGUF v3 header with `metadata` and tensor infos (no tensor data)."""
    tensors = tensors or []
    pairs = b"".join(kv(k, v) for k, v in metadata.items())
    return b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)) + pairs + b"".join(tensors)


def shape_keys(arch: str = "gemma2", *, layers: int = 2, window: int | None = 4096, **extra: Any) -> dict[str, Any]:
    """The metadata of a tiny model of `layers` blocks (embedding 64, 4 heads, vocabulary 256)."""
    meta: dict[str, Any] = {
        "general.architecture": arch,
        f"{arch}.block_count": layers,
        f"{arch}.embedding_length": 64,
        f"{arch}.attention.head_count": 4,
        f"{arch}.attention.head_count_kv": 4,
        f"{arch}.feed_forward_length": 128,
        f"{arch}.vocab_size": 256,
    }
    if window is not None:
        meta[f"{arch}.attention.sliding_window"] = window
    meta.update({f"{arch}.{k}" if not k.startswith(("general.", "tokenizer.")) else k: v for k, v in extra.items()})
    return meta


def layer_bomb() -> bytes:
    """The issue's example: a ~270-byte header declaring 2^40 blocks with a sliding window (gemma2 pattern)."""
    return gguf(shape_keys(layers=2**40))


def tensor_bomb() -> bytes:
    """A ~600-byte file whose one F16 tensor claims 2^31 × 2^31 elements (16 EiB)."""
    meta = shape_keys("llama", window=None)
    return gguf(meta, [tensor_info("blk.0.attn_q.weight", (2**31, 2**31))]) + bytes(64)


def tiny_config(**overrides: Any) -> dict[str, Any]:
    """A small, valid llama config.json; `overrides` replace or add keys."""
    config: dict[str, Any] = {
        "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 256,
    }  # fmt: skip
    config.update(overrides)
    return config


def deep_json(depth: int) -> str:
    """A JSON object nested `depth` levels deep."""
    return '{"a":' * depth + "1" + "}" * depth


# Names a listing may hold that must never be returned as a path to write.
UNSAFE_NAMES = [
    "../../x-Q4_K_M.gguf",
    "a/../../x-Q4_K_M.gguf",
    "/abs/x-Q4_K_M.gguf",
    "C:\\models\\x-Q4_K_M.gguf",
    "C:x-Q4_K_M.gguf",
    "sub\\..\\x-Q4_K_M.gguf",
    "x\x00-Q4_K_M.gguf",
    "x\x1b[2J\x1b[HPick: evil-Q4_K_M.gguf",
    "x\x1b]0;title\x07-Q4_K_M.gguf",
    "x\n-Q4_K_M.gguf",
    "./x-Q4_K_M.gguf",
    "a//x-Q4_K_M.gguf",
    "x" * 2000 + "-Q4_K_M.gguf",
]
# Names that are safe paths but carry rich markup: printed, they must read exactly as written.
MARKUP_NAMES = [
    "[/]x-Q4_K_M.gguf", "[bold red]x[/]-Q4_K_M.gguf", "[bold red]x-Q4_K_M.gguf", "[blink]x-Q4_K_M.gguf",
    "x[/link]-Q4_K_M.gguf", "[on red]x-Q4_K_M.gguf",
]  # fmt: skip
