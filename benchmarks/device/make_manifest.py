"""Tensor manifests for zero-weight llama-bench GGUFs, from quantadvisor's own inventory.

Runs here (needs quantadvisor); writes one JSON per (model, type) that write_gguf.py turns into a
sparse GGUF on the device. Method: tests/data/speed-h200.README.md and speed-h200-heldout.README.md.

    PYTHONPATH=. python benchmarks/device/make_manifest.py OUTDIR MODEL:TYPE [MODEL:TYPE ...]

MODEL is a shorthand (8b, 70b, 8x7b) or a catalog repo id; the tensor list is
`typed_tensors(load_model_spec(MODEL), TYPE)`, the metadata the keys llama.cpp 0c1e57098 reads.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from quantadvisor.architecture import load_model_spec  # noqa: E402
from quantadvisor.dataset import load_dataset  # noqa: E402
from quantadvisor.memory import type_sizes, typed_tensors  # noqa: E402

GGML_TYPES = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10, "Q3_K": 11,
    "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "IQ2_XXS": 16, "IQ2_XS": 17, "IQ3_XXS": 18, "IQ1_S": 19,
    "IQ4_NL": 20, "IQ3_S": 21, "IQ2_S": 22, "IQ4_XS": 23, "IQ1_M": 29, "BF16": 30, "MXFP4": 39,
}  # fmt: skip
FILE_TYPES = {  # llama.cpp's LlamaFileType (general.file_type)
    "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11, "Q3_K_M": 12,
    "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "IQ2_XXS": 19,
    "IQ2_XS": 20, "Q2_K_S": 21, "IQ3_XS": 22, "IQ3_XXS": 23, "IQ1_S": 24, "IQ4_NL": 25, "IQ3_S": 26,
    "IQ3_M": 27, "IQ2_S": 28, "IQ2_M": 29, "IQ4_XS": 30, "IQ1_M": 31, "BF16": 32, "MXFP4_MOE": 38,
}  # fmt: skip
# quantadvisor's arch name → GGUF general.architecture (Mixtral and Mistral convert as llama).
GGUF_ARCH = {
    "llama": "llama", "mistral": "llama", "mixtral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe", "gemma2": "gemma2", "gemma3": "gemma3", "gemma3_text": "gemma3",
    "gpt_oss": "gpt-oss", "deepseek_v2": "deepseek2", "phi3": "phi3",
}  # fmt: skip
U32, F32, BOOL = 4, 6, 7


def manifest(model: str, quant: str) -> dict[str, object]:
    ds = load_dataset()
    spec = load_model_spec(model, ds)
    arch = GGUF_ARCH[spec.arch]
    typed = typed_tensors(spec, quant, type_sizes(ds), imatrix=quant.startswith(("IQ1", "IQ2")))
    moe = spec.n_expert > 0
    tensors = []
    for t in typed:
        name, shape = t.tensor.name, list(t.tensor.shape)
        if arch == "gpt-oss" and name.endswith("ffn_norm.weight"):
            name = name.replace("ffn_norm", "post_attention_norm")  # the openai-moe loader's name
        fill = "zero"
        if moe and name == "token_embd.weight":
            fill = "embed"  # random: zero hidden states would tie every router
        elif moe and name.endswith("norm.weight"):
            fill = "ones"
        elif moe and name.endswith("ffn_gate_inp.weight"):
            fill = "normal"
        if arch == "deepseek2" and name.endswith("attn_kv_b.weight"):
            # Current converters split kv_b for MLA: k_b {qk_nope, kv_lora_rank, n_head} (Q4_K cannot
            # hold 128-wide rows: llama-quantize falls back to Q5_0) and v_b {kv_lora_rank, v_dim, n_head}.
            blk, nope, rank = name.rsplit(".", 2)[0], spec.head_dim_k - spec.qk_rope_head_dim, spec.kv_lora_rank
            for part, dims, ty in (("k_b", [nope, rank, spec.n_head], "Q5_0"),
                                   ("v_b", [rank, spec.head_dim_v, spec.n_head], t.ggml_type)):  # fmt: skip
                n = dims[0] * dims[1] * dims[2]
                size = {"Q5_0": n // 32 * 22, "Q4_K": n // 256 * 144, "Q6_K": n // 256 * 210, "Q8_0": n // 32 * 34}[ty]
                tensors.append({"name": f"{blk}.attn_{part}.weight", "shape": dims, "type": ty, "nbytes": size,
                                "fill": fill})  # fmt: skip
            continue
        tensors.append({"name": name, "shape": shape, "type": t.ggml_type, "nbytes": t.nbytes, "fill": fill})
        if arch == "gpt-oss" and name.endswith("attn_output.bias"):
            # real gpt-oss files carry q/k/v biases; the inventory lacks them (speed-h200.README.md)
            blk = name.rsplit(".", 2)[0]
            for part, n in (("q", spec.n_head * spec.head_dim_k), ("k", spec.n_head_kv * spec.head_dim_k),
                            ("v", spec.n_head_kv * spec.head_dim_v)):  # fmt: skip
                tensors.append({"name": f"{blk}.attn_{part}.bias", "shape": [n], "type": "F32", "nbytes": 4 * n,
                                "fill": "zero"})  # fmt: skip
    kv: list[list[object]] = [
        ["general.architecture", 8, arch],
        ["general.name", 8, f"{spec.name} {quant} (zero weights)"],
        ["general.file_type", U32, FILE_TYPES[quant]],
        [f"{arch}.context_length", U32, spec.max_context or 8192],
        [f"{arch}.embedding_length", U32, spec.n_embd],
        [f"{arch}.block_count", U32, spec.n_layers],
        [f"{arch}.feed_forward_length", U32, spec.n_ff or spec.n_ff_exp],
        [f"{arch}.attention.head_count", U32, spec.n_head],
        [f"{arch}.attention.head_count_kv", U32, spec.n_head_kv],
        [f"{arch}.attention.key_length", U32, spec.head_dim_k],
        [f"{arch}.attention.value_length", U32, spec.head_dim_v],
        [f"{arch}.attention.layer_norm_rms_epsilon", F32, 1e-5],
        [f"{arch}.rope.dimension_count", U32, spec.qk_rope_head_dim or spec.head_dim_k],
        [f"{arch}.rope.freq_base", F32, 10000.0],
        [f"{arch}.vocab_size", U32, spec.n_vocab],
    ]
    if moe:
        kv += [[f"{arch}.expert_count", U32, spec.n_expert], [f"{arch}.expert_used_count", U32, spec.n_expert_used]]
        if arch != "llama":
            kv.append([f"{arch}.expert_feed_forward_length", U32, spec.n_ff_exp])
    if spec.sliding_window:
        kv.append([f"{arch}.attention.sliding_window", U32, spec.sliding_window])
    if arch == "gemma2":
        kv += [[f"{arch}.attn_logit_softcapping", F32, 50.0], [f"{arch}.final_logit_softcapping", F32, 30.0]]
    if arch == "deepseek2":
        kv += [
            [f"{arch}.leading_dense_block_count", U32, spec.n_leading_dense_layers],
            [f"{arch}.expert_shared_count", U32, spec.n_expert_shared],
            [f"{arch}.expert_weights_scale", F32, 1.0],
            [f"{arch}.expert_weights_norm", BOOL, False],
            [f"{arch}.expert_gating_func", U32, 1],
            [f"{arch}.attention.kv_lora_rank", U32, spec.kv_lora_rank],
            # MLA layout (as convert_hf_to_gguf writes it): one latent KV head of kv_lora_rank + rope
            # dims, the per-head sizes under the _mla keys.
            [f"{arch}.attention.key_length_mla", U32, spec.head_dim_k],
            [f"{arch}.attention.value_length_mla", U32, spec.head_dim_v],
        ]
        for row in kv:
            if row[0] == f"{arch}.attention.head_count_kv":
                row[2] = 1
            elif row[0] == f"{arch}.attention.key_length":
                row[2] = spec.kv_lora_rank + (spec.qk_rope_head_dim or 0)
            elif row[0] == f"{arch}.attention.value_length":
                row[2] = spec.kv_lora_rank
        if spec.q_lora_rank:
            kv.append([f"{arch}.attention.q_lora_rank", U32, spec.q_lora_rank])
    tag = re.sub(r"[^A-Za-z0-9.]+", "-", model.rsplit("/", 1)[-1])
    return {"file": f"{tag}-{quant}.gguf", "model": model, "spec_name": spec.name, "arch": arch, "quant": quant,
            "n_layers": spec.n_layers, "n_vocab": spec.n_vocab, "tensor_bytes": sum(t["nbytes"] for t in tensors),
            "kv": kv, "tensors": tensors}  # fmt: skip


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for item in argv[1:]:
        model, quant = item.rsplit(":", 1)
        m = manifest(model, quant)
        (out / (str(m["file"]) + ".json")).write_text(json.dumps(m))
        print(m["file"], m["tensor_bytes"] / 2**30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
