"""estimate_memory on a real (tiny) GGUF file written by ggml-org's gguf writer: exact tensor bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from quantadvisor.memory import estimate_memory

if TYPE_CHECKING:
    from pathlib import Path


def _write_tiny_llama(path: Path) -> int:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_embedding_length(256)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_feed_forward_length(512)
    writer.add_context_length(2048)
    writer.add_vocab_size(1000)
    tensor_bytes = 0

    def add(name: str, array: np.ndarray) -> None:
        nonlocal tensor_bytes
        writer.add_tensor(name, array)
        tensor_bytes += array.nbytes

    add("token_embd.weight", np.zeros((1000, 256), dtype=np.float16))
    for i in range(2):
        for role, shape in [("attn_q", (256, 256)), ("attn_k", (128, 256)), ("attn_v", (128, 256)),
                            ("attn_output", (256, 256)), ("ffn_gate", (512, 256)), ("ffn_up", (512, 256)),
                            ("ffn_down", (256, 512))]:  # fmt: skip
            add(f"blk.{i}.{role}.weight", np.zeros(shape, dtype=np.float16))
        add(f"blk.{i}.attn_norm.weight", np.zeros(256, dtype=np.float32))
        add(f"blk.{i}.ffn_norm.weight", np.zeros(256, dtype=np.float32))
    add("output_norm.weight", np.zeros(256, dtype=np.float32))
    add("output.weight", np.zeros((1000, 256), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensor_bytes


def test_local_gguf_gives_exact_weights(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    tensor_bytes = _write_tiny_llama(path)
    est = estimate_memory(path, "F16", context_tokens=1024)
    assert est.quant == "F16"
    assert est.file_bytes == path.stat().st_size
    # Everything but the input embedding (host) is on the GPU with all layers offloaded.
    assert est.weights_bytes + est.host_weights_bytes == tensor_bytes
    assert est.host_weights_bytes == 1000 * 256 * 2
    # 2 layers × 1024 cells × 2 KV heads × 64 dims × (2 + 2) bytes
    assert est.kv_cache_bytes == 2 * 1024 * 2 * 64 * 4


def test_suggest_ranks_the_local_file_itself(tmp_path: Path) -> None:
    from quantadvisor import recommend

    path = tmp_path / "tiny.gguf"
    _write_tiny_llama(path)
    rec = recommend("chat", model=str(path), vram_gib=8)
    mine = [o for o in rec.options if o.file == str(path)]
    assert len(mine) == 1
    assert mine[0].quant == "F16"
    assert mine[0].memory.file_bytes == path.stat().st_size
