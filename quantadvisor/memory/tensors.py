"""The tensors of a model, named and shaped as llama.cpp's GGUF converter writes them. Pure arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..architecture import ModelSpec

__all__ = ["LayerStructures", "Tensor", "layer_structures", "tensor_inventory"]

# Roles whose weights stay in F32 whatever the file type: norms, biases, the MoE router.
_F32_ROLES = frozenset({"ffn_gate_inp", "ffn_gate_inp_shexp", "rope_freqs", "ssm_conv1d", "ssm_a", "ssm_dt"})


@dataclass(slots=True, unsafe_hash=True)
class Tensor:
    """One GGUF tensor. `shape` is in ggml order: shape[0] is the row length (the input dimension).

    Treat it as read-only: inventories are cached and shared. It is not a frozen dataclass because
    a frozen __init__ costs three times as much, and a planner builds ~10^4 of these per run; it
    hashes on (name, role, layer, shape) as a frozen one would.
    """

    name: str
    role: str
    layer: int | None
    shape: tuple[int, ...]

    # Derived once at construction (plain attributes: the planner reads them ~10^5 times).
    n_elements: int = field(init=False, compare=False)
    """Number of weights in the tensor."""
    is_expert: bool = field(init=False, compare=False)
    """True for the stacked 3-D expert tensors of an MoE layer (what --n-cpu-moe moves to the CPU)."""
    quantizable: bool = field(init=False, compare=False)
    """llama-quantize only quantizes 2-D+ weights, and never norms or the MoE router."""

    def __post_init__(self) -> None:
        shape = self.shape
        self.n_elements = math.prod(shape)
        self.is_expert = len(shape) == 3 and shape[2] > 1
        weight = len(shape) >= 2 and self.name.endswith(".weight")
        self.quantizable = weight and "norm" not in self.role and self.role not in _F32_ROLES


def tensor_inventory(spec: ModelSpec) -> list[Tensor]:
    """List every tensor of `spec` in file order (global input tensors, then layer by layer, then output)."""
    head, tail = _global_tensors(spec)
    out = list(head)
    for il in range(spec.n_layers):
        out.extend(_layer_tensors(spec, il))
    return out + tail


def _global_tensors(spec: ModelSpec) -> tuple[list[Tensor], list[Tensor]]:
    """The tensors before the layers (input embedding, RoPE factors) and after them (output)."""
    head = [Tensor("token_embd.weight", "token_embd", None, (spec.n_embd, spec.n_vocab))]
    if spec.rope_freqs:
        head.append(Tensor("rope_freqs.weight", "rope_freqs", None, (spec.rope_freqs,)))
    tail = [Tensor("output_norm.weight", "output_norm", None, (spec.n_embd,))]
    if not spec.tied_embeddings:
        tail.append(Tensor("output.weight", "output", None, (spec.n_embd, spec.n_vocab)))
    return head, tail


@dataclass(frozen=True)
class LayerStructures:
    """tensor_inventory without the repetition: a layer's tensors depend on its index only through
    whether it has attention and whether its FFN is MoE, so each such kind is listed once.

    Planners walk `layer_structure` and type each structure's representative tensors as the layer
    at hand; the names (blk.N.…) are the representative's.
    """

    global_tensors: list[Tensor]
    structures: list[list[Tensor]]
    """One representative layer's tensors per structure."""
    layer_structure: tuple[int, ...]
    """The structure of each repeating layer."""

    def with_counts(self) -> list[tuple[Tensor, int]]:
        """Every distinct tensor and how many times it occurs (once, or once per layer of its structure)."""
        counts = [0] * len(self.structures)
        for s in self.layer_structure:
            counts[s] += 1
        return [(t, 1) for t in self.global_tensors] + [
            (t, count) for tensors, count in zip(self.structures, counts, strict=True) for t in tensors
        ]


def layer_structures(spec: ModelSpec) -> LayerStructures:
    """The inventory as global tensors plus one tensor list per layer structure."""
    head, tail = _global_tensors(spec)
    kinds: dict[tuple[bool, bool], int] = {}
    structures: list[list[Tensor]] = []
    per_layer = []
    for il in range(spec.n_layers):
        kind = (spec.has_attention(il), spec.is_moe_layer(il))
        if kind not in kinds:
            kinds[kind] = len(structures)
            structures.append(_layer_tensors(spec, il))
        per_layer.append(kinds[kind])
    return LayerStructures(head + tail, structures, tuple(per_layer))


def _layer_tensors(spec: ModelSpec, il: int) -> list[Tensor]:
    def t(role: str, *shape: int, suffix: str = "weight") -> Tensor:
        return Tensor(f"blk.{il}.{role}.{suffix}", role, il, tuple(shape))

    e = spec.n_embd
    out = [t("attn_norm", e)]
    if spec.has_attention(il):
        out.extend(_attention_tensors(spec, il, t))
    else:
        out.extend(_linear_attention_tensors(spec, t))
    out.append(t("ffn_norm", e))
    if spec.norms_per_layer >= 4:
        out.extend([t("post_attention_norm", e), t("post_ffw_norm", e)])
    if spec.is_moe_layer(il):
        x, ff = spec.n_expert, spec.n_ff_exp
        out.append(t("ffn_gate_inp", e, x))
        out.extend([t("ffn_gate_exps", e, ff, x), t("ffn_up_exps", e, ff, x), t("ffn_down_exps", ff, e, x)])
        if spec.gpt_oss_biases:
            out.append(t("ffn_gate_inp", x, suffix="bias"))
            out += [t(f"ffn_{p}_exps", ff, x, suffix="bias") for p in ("gate", "up")] + [
                t("ffn_down_exps", e, x, suffix="bias")
            ]
        if spec.n_ff_shexp:
            sh = spec.n_ff_shexp
            out.extend([t("ffn_gate_shexp", e, sh), t("ffn_up_shexp", e, sh), t("ffn_down_shexp", sh, e)])
    elif spec.fused_gate_up:
        out.extend([t("ffn_up", e, 2 * spec.n_ff), t("ffn_down", spec.n_ff, e)])
    else:
        ff = spec.n_ff
        out.extend([t("ffn_gate", e, ff), t("ffn_up", e, ff), t("ffn_down", ff, e)])
    return out


def _attention_tensors(spec: ModelSpec, il: int, t: _Maker) -> list[Tensor]:
    e, hk, hv = spec.n_embd, spec.head_dim_k, spec.head_dim_v
    q_dim, k_dim, v_dim = spec.n_head * hk, spec.n_head_kv * hk, spec.n_head_kv * hv
    if spec.uses_mla:
        # DeepSeek-style latent attention: Q through an optional low-rank pair, KV through the latent.
        rope, lora = spec.qk_rope_head_dim, spec.kv_lora_rank
        out = []
        if spec.q_lora_rank:
            out += [t("attn_q_a", e, spec.q_lora_rank), t("attn_q_a_norm", spec.q_lora_rank)]
            out.append(t("attn_q_b", spec.q_lora_rank, spec.n_head * hk))
        else:
            out.append(t("attn_q", e, spec.n_head * hk))
        out += [t("attn_kv_a_mqa", e, lora + rope), t("attn_kv_a_norm", lora)]
        out.append(t("attn_kv_b", lora, spec.n_head * (hk - rope + hv)))
        out.append(t("attn_output", spec.n_head * hv, e))
        return out
    if spec.fused_qkv:
        out = [t("attn_qkv", e, q_dim + k_dim + v_dim)]
    else:
        gate = 2 if spec.attn_output_gate else 1  # the gated Q projection also emits the output gate
        out = [t("attn_q", e, gate * q_dim), t("attn_k", e, k_dim), t("attn_v", e, v_dim)]
    if spec.attn_bias:
        out += [t("attn_q", q_dim, suffix="bias"), t("attn_k", k_dim, suffix="bias"), t("attn_v", v_dim, suffix="bias")]
    if spec.qk_norm:
        out += [t("attn_q_norm", hk), t("attn_k_norm", hk)]
    out.append(t("attn_output", spec.n_head * hv, e))
    if spec.gpt_oss_biases:
        out += [t("attn_output", e, suffix="bias"), t("attn_sinks", spec.n_head)]
    return out


def _linear_attention_tensors(spec: ModelSpec, t: _Maker) -> list[Tensor]:
    """Gated DeltaNet layers of hybrids (Qwen3-Next/3.5): fused q/k/v/z and beta/alpha projections,
    a causal conv over q, k and v, per-head decay and step, a gated norm and the output projection.
    Without the linear_* config fields they are sized like a full attention block (approximate)."""
    e = spec.n_embd
    if not spec.linear_v_heads:
        q_dim = spec.n_head * spec.head_dim_k
        return [t("ssm_in", e, 2 * q_dim + 2 * spec.n_head_kv * spec.head_dim_k), t("ssm_out", q_dim, e)]
    key = spec.linear_k_heads * spec.linear_k_dim
    value = spec.linear_v_heads * spec.linear_v_dim
    return [
        t("ssm_in", e, 2 * key + 2 * value),
        t("ssm_ba", e, 2 * spec.linear_v_heads),
        t("ssm_conv1d", spec.linear_conv, 2 * key + value),
        t("ssm_a", spec.linear_v_heads),
        t("ssm_dt", spec.linear_v_heads),
        t("ssm_norm", spec.linear_v_dim),
        t("ssm_out", value, e),
    ]


if TYPE_CHECKING:
    from typing import Protocol

    class _Maker(Protocol):
        def __call__(self, role: str, *shape: int, suffix: str = "weight") -> Tensor: ...
