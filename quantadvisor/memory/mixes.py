"""Which ggml type llama-quantize gives each tensor for a GGUF file type. Pure arithmetic.

A paraphrase of llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp, ggerganov/llama.cpp
@ 059325d9; same rules after the 2026 refactor, PR #19770); see docs/methodology.md. No code copied.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ..architecture import ModelSpec
    from .tensors import Tensor

__all__ = ["BASE_TYPE", "FILE_TYPE_IDS", "GGUF_FILE_TYPES", "MixAssigner", "assign_types", "position_class"]

# The ggml block type each file type starts from (llama_model_quantize_impl's default_type).
BASE_TYPE: dict[str, str] = {
    "F32": "F32", "F16": "F16", "BF16": "BF16", "Q8_0": "Q8_0", "Q6_K": "Q6_K",
    "Q5_K_M": "Q5_K", "Q5_K_S": "Q5_K", "Q5_0": "Q5_0", "Q5_1": "Q5_1",
    "Q4_K_M": "Q4_K", "Q4_K_S": "Q4_K", "Q4_0": "Q4_0", "Q4_1": "Q4_1",
    "IQ4_XS": "IQ4_XS", "IQ4_NL": "IQ4_NL",
    "Q3_K_L": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_S": "Q3_K",
    "IQ3_M": "IQ3_S", "IQ3_S": "IQ3_S", "IQ3_XS": "IQ3_S", "IQ3_XXS": "IQ3_XXS",
    "Q2_K": "Q2_K", "Q2_K_S": "Q2_K", "IQ2_M": "IQ2_S", "IQ2_S": "IQ2_XS", "IQ2_XS": "IQ2_XS",
    "IQ2_XXS": "IQ2_XXS", "IQ1_M": "IQ1_M", "IQ1_S": "IQ1_S", "TQ1_0": "TQ1_0", "TQ2_0": "TQ2_0",
    "MXFP4_MOE": "MXFP4",
}  # fmt: skip
GGUF_FILE_TYPES = tuple(BASE_TYPE)

# llama.cpp's llama_ftype (general.file_type in a GGUF header) → the file type name; read when a file's
# name announces no quant type (gguf-py's LlamaFileType has the same numbers).
FILE_TYPE_IDS: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}  # fmt: skip


_UNQUANTIZED = {"F32", "F16", "BF16"}
_LOW_IQ = {"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"}
# Row-length fallbacks (2026 code): K/IQ types need rows divisible by 256.
_FALLBACK = {
    "TQ1_0": "Q4_0", "TQ2_0": "Q4_0", "Q2_K": "Q4_0", "Q3_K": "Q4_0",
    "IQ2_XXS": "IQ4_NL", "IQ2_XS": "IQ4_NL", "IQ2_S": "IQ4_NL", "IQ3_XXS": "IQ4_NL", "IQ3_S": "IQ4_NL",
    "IQ1_S": "IQ4_NL", "IQ1_M": "IQ4_NL", "IQ4_XS": "IQ4_NL",
    "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0",
}  # fmt: skip


def _more_bits(i: int, n: int) -> bool:
    """llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def position_class(i: int, n: int) -> tuple[bool, bool, bool, bool, bool, bool]:
    """Every fact about index `i` of `n` that the mix rules read: i < n/16, i < n/8, i >= 7n/8, the
    every-third test of _more_bits, and (for the attn_v count) i < 2 and i < 4. Two layers (or
    counts) with the same class get the same types, so a planner can type one per class."""
    return i < n // 16, i < n // 8, i >= 7 * n // 8, (i - n // 8) % 3 == 2, i < 2, i < 4


@functools.lru_cache(maxsize=64)
def _position_codes(n: int) -> tuple[int, ...]:
    """position_class(i, n) for i in 0..n, each packed into a 6-bit integer."""
    return tuple(sum(bit << k for k, bit in enumerate(position_class(i, n))) for i in range(n + 1))


class MixAssigner:
    """Types tensors of a `file_type` GGUF of `spec` in file order (llama-quantize's single pass).

    The pass carries one counter, the number of attn_v tensors seen so far, which some mixes use
    in place of the layer index; `types()` may be called on consecutive slices of the tensors.
    """

    def __init__(
        self,
        spec: ModelSpec,
        tensors: Sequence[Tensor] | int,
        file_type: str,
        block_sizes: Mapping[str, int],
        *,
        imatrix: bool = False,
    ) -> None:
        """`tensors`: the whole inventory, or just its count_attn_v()."""
        self.spec, self.file_type, self.block_sizes, self.imatrix = spec, file_type, block_sizes, imatrix
        self.base = BASE_TYPE[file_type]
        self.n_wv = tensors if isinstance(tensors, int) else count_attn_v(tensors)
        self.counters = {"wv": 0, "gqa": spec.gqa_ratio}
        self.quantize = self.base not in _UNQUANTIZED
        self._layer_codes, self._wv_codes = _position_codes(spec.n_layers), _position_codes(self.n_wv)

    def state(self, layer: int) -> int:
        """What the types of `layer`'s tensors depend on besides their roles and shapes, as one
        integer: the position classes of the layer and of the attn_v count so far."""
        return self._layer_codes[layer] << 6 | self._wv_codes[self.counters["wv"]]

    def types(self, tensors: Sequence[Tensor], *, layer: int | None = None) -> list[str]:
        """The ggml type of each tensor (same order), advancing the pass over them.

        `layer` types one repeating layer's tensors as layer `layer`, whatever index they carry
        (a planner passes one representative layer of each structure).
        """
        out = []
        for tensor in tensors:
            if not tensor.quantizable:
                out.append("F32")
            elif not self.quantize:
                out.append(self.base)
            else:
                chosen = _choose(
                    self.spec, tensor, self.file_type, self.base, self.n_wv, self.counters, imatrix=self.imatrix,
                    layer=layer,
                )  # fmt: skip
                out.append(_fit_rows(chosen, tensor, self.block_sizes))
        return out


def count_attn_v(tensors: Iterable[tuple[Tensor, int]] | Sequence[Tensor]) -> int:
    """llama-quantize's n_attention_wv: the quantizable attn_v (or fused attn_qkv) tensors.

    Takes the tensors, or (tensor, how many times it occurs) pairs as LayerStructures.with_counts() gives.
    """
    pairs = (item if isinstance(item, tuple) else (item, 1) for item in tensors)
    return sum(n for t, n in pairs if t.role in {"attn_v", "attn_qkv"} and t.quantizable)


def assign_types(
    spec: ModelSpec,
    tensors: list[Tensor],
    file_type: str,
    block_sizes: Mapping[str, int],
    *,
    imatrix: bool = False,
) -> list[str]:
    """Return the ggml type of each tensor (same order) in a `file_type` GGUF of `spec`."""
    return MixAssigner(spec, tensors, file_type, block_sizes, imatrix=imatrix).types(tensors)


def _fit_rows(chosen: str, tensor: Tensor, block_sizes: Mapping[str, int]) -> str:
    """Apply llama-quantize's fallback when the row length is not a multiple of the block size."""
    row = tensor.shape[0]
    if row % block_sizes[chosen] == 0:
        return chosen
    fallback = _FALLBACK.get(chosen, "F16")
    return fallback if row % block_sizes[fallback] == 0 else "F16"


def _choose(
    spec: ModelSpec,
    tensor: Tensor,
    ft: str,
    base: str,
    n_wv: int,
    counters: dict[str, int],
    *,
    imatrix: bool,
    layer: int | None = None,
) -> str:
    role, n = tensor.role, spec.n_layers
    i = layer if layer is not None else tensor.layer if tensor.layer is not None else 0
    gqa, n_expert = counters["gqa"], spec.n_expert
    is_output = role == "output" or (role == "token_embd" and spec.tied_embeddings)

    if ft == "MXFP4_MOE":
        # Stacked expert tensors → MXFP4; everything else → Q8_0 (the output included).
        return "MXFP4" if tensor.is_expert else "Q8_0"
    if is_output:
        if tensor.shape[0] % 256:
            return "Q8_0"
        if ft in {"IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"}:
            return "Q5_K"
        return base if base == "Q8_0" else "Q6_K"
    if role == "token_embd":
        if ft in {"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"}:
            return "Q2_K"
        if ft in {"IQ2_S", "IQ2_M", "IQ3_XXS"}:
            return "IQ3_S"
        if ft in {"TQ1_0", "TQ2_0"}:
            return "Q4_K"
        return base
    if ft in _LOW_IQ:
        return _choose_low_iq(spec, tensor, i, ft, base, counters)
    if role == "attn_v":
        new = base
        wv = counters["wv"]
        if ft == "Q2_K":
            new = "Q4_K" if gqa >= 4 else "Q3_K"
        elif ft == "Q2_K_S" and gqa >= 4:
            new = "Q4_K"
        elif ft == "IQ3_XXS":
            new = "Q4_K" if gqa >= 4 else ("IQ3_S" if not imatrix else "IQ3_XXS")
        elif (ft in {"IQ3_XS", "IQ3_S"} and gqa >= 4) or ft == "IQ3_M":
            new = "Q4_K"
        elif ft == "Q3_K_M":
            new = "Q5_K" if wv < 2 else "Q4_K"
        elif ft == "Q3_K_L" or (ft in {"IQ4_NL", "IQ4_XS"} and gqa >= 4):
            new = "Q5_K"
        elif ft in {"Q4_K_M", "Q5_K_M"} and _more_bits(wv, n_wv):
            new = "Q6_K"
        elif ft == "Q4_K_S" and wv < 4:
            new = "Q5_K"
        if _is_70b(spec) and new in {"Q3_K", "Q4_K"}:
            # 8 query heads share each attn_v row: more bits cost almost nothing there.
            new = "Q5_K"
        if n_expert == 8:
            new = "Q8_0"
        counters["wv"] += 1
        return new
    if role == "attn_k":
        if n_expert == 8:
            return "Q8_0"
        if ft == "IQ3_XS":
            return "IQ3_XXS"
        return "IQ2_S" if ft == "IQ3_XXS" else base
    if role == "attn_q":
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(ft, base)
    if role.startswith("ffn_down"):
        return _choose_ffn_down(spec, i, ft, base, imatrix=imatrix)
    if role == "attn_output":
        if n_expert == 8:
            eight = {"Q2_K", "IQ3_XS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS"}
            return "Q5_K" if ft in eight else base
        return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}.get(ft, base)
    if role == "attn_qkv":
        if ft in {"Q3_K_M", "Q3_K_L", "IQ3_M"}:
            return "Q4_K"
        return {"Q4_K_M": "Q5_K", "Q5_K_M": "Q6_K"}.get(ft, base)
    if role.startswith(("ffn_gate", "ffn_up")) and ft == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
        return "IQ3_XXS"
    return base


def _choose_ffn_down(spec: ModelSpec, i: int, ft: str, base: str, *, imatrix: bool) -> str:
    n = spec.n_layers
    if ft == "Q2_K":
        return "Q3_K"
    if ft == "Q2_K_S":
        return "Q4_K" if i < n // 8 else base
    if ft == "IQ3_XXS" and not imatrix:
        return "Q4_K" if i < n // 8 else "Q3_K"
    if ft == "Q3_K_M":
        return "Q5_K" if i < n // 16 else "Q4_K"
    if ft == "IQ3_M" and (i < n // 8 or (spec.n_expert == 8 and _more_bits(i, n))):
        return "Q4_K"
    if ft == "Q3_K_L":
        return "Q5_K"
    if ft == "Q4_K_M":
        return "Q6_K" if _more_bits(i, n) else base
    if ft in {"IQ4_NL", "IQ4_XS"} and not imatrix and i < n // 8:
        return "Q5_K"
    if ft == "Q5_K_M" and _more_bits(i, n):
        return "Q6_K"
    if ft == "Q4_K_S" and i < n // 8:
        return "Q5_K"
    if ft in {"Q4_0", "Q5_0"} and imatrix and i < n // 8:
        return "Q4_1" if ft == "Q4_0" else "Q5_1"
    return base


def _choose_low_iq(spec: ModelSpec, tensor: Tensor, i: int, ft: str, base: str, counters: dict[str, int]) -> str:
    """The 1-2 bit IQ mixes keep attention V, the first FFN-down layers and attn_output higher."""
    role, n = tensor.role, spec.n_layers
    s_mix = ft in {"IQ2_S", "IQ2_M"}
    if role == "attn_v":
        counters["wv"] += 1
        if spec.gqa_ratio >= 4 or spec.n_expert >= 4:
            return "Q4_K"
        return "IQ3_S" if s_mix else "Q2_K"
    if role == "attn_k" and spec.n_expert == 8:
        return "Q4_K"
    if role.startswith("ffn_down"):
        return ("IQ3_S" if s_mix else "Q2_K") if i < n // 8 else base
    if role == "attn_output":
        if spec.n_expert == 8:
            return "Q5_K"
        if ft in {"IQ1_S", "IQ1_M"}:
            return "IQ2_XXS"
        return "IQ3_S" if s_mix else base
    if ft == "IQ2_M" and role in {"attn_k", "attn_q"}:
        return "IQ2_S"
    return base


def _is_70b(spec: ModelSpec) -> bool:
    """llama.cpp's LLM_TYPE_70B: an 80-layer grouped-query llama/qwen2-family model."""
    return spec.n_layers == 80 and spec.n_head_kv < spec.n_head and not spec.is_moe
