"""Model architectures: a ModelSpec from a config.json, a GGUF header or a size shorthand."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import limits
from .errors import ModelResolutionError

if TYPE_CHECKING:
    from .dataset import Dataset
    from .models import Architecture, CatalogModel

__all__ = [
    "ModelSpec",
    "load_model_spec",
    "nearest_reference",
    "shorthand_size",
    "spec_from_config",
    "spec_from_gguf_metadata",
]

# config.json model_type values we know how to read; others must at least carry the core fields.
KNOWN_MODEL_TYPES = frozenset(
    {
        "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "phi3",
        "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3", "gpt_oss", "granite",
        "qwen3_next", "qwen3_5", "qwen3_5_moe", "olmo2", "mistral3", "ministral",
    }
)  # fmt: skip

# Defaults of transformers' configuration classes for keys real config.json files often omit
# (Gemma3TextConfig, Gemma2Config): without them such configs could not be read.
_MODEL_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3_text": {"vocab_size": 262208, "head_dim": 256, "tie_word_embeddings": True, "sliding_window_pattern": 6},
    "gemma3": {"vocab_size": 262208, "head_dim": 256, "tie_word_embeddings": True, "sliding_window_pattern": 6},
    "gemma2": {"vocab_size": 256000, "head_dim": 256, "tie_word_embeddings": True},
}

# Embedding rows the GGUF converter keeps when config.json pads the vocabulary: llama.cpp's
# Gemma3Model.modify_tensors (conversion/gemma.py @ 0c1e57098) cuts token_embd to the tokenizer's
# 262,144 tokens, so a Gemma-3 GGUF has 262144 rows, not the config's 262208.
_GGUF_VOCAB_ROWS: dict[str, int] = {"gemma3": 262144, "gemma3_text": 262144}

_CORE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


class ModelSpec(BaseModel):
    """The shape of a decoder-only LLM, as much as memory and quantization rules need.

    Names follow llama.cpp's hparams where they differ from Hugging Face's.
    """

    # strict: a bool, a string or a float is never coerced into a count.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, strict=True)

    name: str = Field(max_length=limits.MAX_NAME_CHARS)
    arch: str = Field(max_length=256)
    # Shapes from untrusted configs and GGUF headers: every count has a range (quantadvisor/limits.py), so a
    # zero width is an error here, not a ZeroDivisionError three modules later, and a huge one never drives
    # a loop or an allocation.
    n_layers: int = Field(gt=0, le=limits.MAX_LAYERS)
    n_embd: int = Field(gt=0, le=limits.MAX_EMBEDDING)
    n_head: int = Field(gt=0, le=limits.MAX_HEADS)
    n_head_kv: int = Field(gt=0, le=limits.MAX_HEADS)
    head_dim_k: int = Field(gt=0, le=limits.MAX_HEAD_DIM)
    head_dim_v: int = Field(ge=0, le=limits.MAX_HEAD_DIM)
    n_ff: int = Field(ge=0, le=limits.MAX_FEED_FORWARD)
    n_vocab: int = Field(gt=0, le=limits.MAX_VOCAB)
    tied_embeddings: bool = False
    attn_bias: bool = False
    # gpt-oss: an attention-output bias, learned per-head attention sinks, and router and expert biases
    # (all F32; gpt-oss-120b carries 160 MB of them).
    gpt_oss_biases: bool = False
    qk_norm: bool = False
    norms_per_layer: int = Field(default=2, ge=0, le=16)
    fused_qkv: bool = False
    fused_gate_up: bool = False
    rope_freqs: int = Field(default=0, ge=0, le=limits.MAX_HEAD_DIM)
    # Mixture of experts (0 experts = dense)
    n_expert: int = Field(default=0, ge=0, le=limits.MAX_EXPERTS)
    n_expert_used: int = Field(default=0, ge=0, le=limits.MAX_EXPERTS)
    n_ff_exp: int = Field(default=0, ge=0, le=limits.MAX_FEED_FORWARD)
    n_expert_shared: int = Field(default=0, ge=0, le=limits.MAX_EXPERTS)
    n_ff_shexp: int = Field(default=0, ge=0, le=limits.MAX_FEED_FORWARD)
    n_leading_dense_layers: int = Field(default=0, ge=0, le=limits.MAX_LAYERS)
    # Attention variants
    sliding_window: int | None = Field(default=None, gt=0, le=limits.MAX_CONTEXT_TOKENS)
    swa_layers: tuple[bool, ...] | None = Field(default=None, max_length=limits.MAX_LAYERS)
    attention_layers: tuple[bool, ...] | None = Field(default=None, max_length=limits.MAX_LAYERS)
    attn_output_gate: bool = False  # Qwen3-Next/3.5: Q projection doubled to gate the attention output
    # Linear-attention (Gated DeltaNet) layers of hybrid models: heads and head dims of K and V,
    # and the causal-conv kernel width. 0 = unknown (such layers are then sized like attention).
    linear_k_heads: int = Field(default=0, ge=0, le=limits.MAX_HEADS)
    linear_v_heads: int = Field(default=0, ge=0, le=limits.MAX_HEADS)
    linear_k_dim: int = Field(default=0, ge=0, le=limits.MAX_HEAD_DIM)
    linear_v_dim: int = Field(default=0, ge=0, le=limits.MAX_HEAD_DIM)
    linear_conv: int = Field(default=0, ge=0, le=64)
    kv_lora_rank: int = Field(default=0, ge=0, le=limits.MAX_EMBEDDING)
    q_lora_rank: int = Field(default=0, ge=0, le=limits.MAX_EMBEDDING)
    qk_rope_head_dim: int = Field(default=0, ge=0, le=limits.MAX_HEAD_DIM)
    max_context: int | None = Field(default=None, gt=0, le=limits.MAX_CONTEXT_TOKENS)
    # Provenance: where the numbers came from, and whether they are only a reference shape
    approximate: bool = False
    stands_for: str | None = None
    origin: str = "config"

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        """Shapes that contradict each other are refused here, with the fields named."""
        problems = []
        if self.n_head_kv > self.n_head:
            problems.append(f"{self.n_head_kv} KV heads but only {self.n_head} attention heads")
        if self.n_expert > 1 and not 1 <= self.n_expert_used <= self.n_expert:
            problems.append(f"{self.n_expert_used} experts used per token out of {self.n_expert}")
        if self.n_expert <= 1 and self.n_expert_used > 1:
            problems.append(f"{self.n_expert_used} experts used per token but {self.n_expert} experts")
        if self.n_leading_dense_layers > self.n_layers:
            problems.append(f"{self.n_leading_dense_layers} leading dense layers of {self.n_layers}")
        for field in ("swa_layers", "attention_layers"):
            pattern = getattr(self, field)
            if pattern is not None and len(pattern) != self.n_layers:
                problems.append(f"{field} has {len(pattern)} entries for {self.n_layers} layers")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def is_moe(self) -> bool:
        """True when the FFN of (some) layers is a mixture of experts."""
        return self.n_expert > 1

    @property
    def uses_mla(self) -> bool:
        """True for DeepSeek-style multi-head latent attention."""
        return self.kv_lora_rank > 0

    @property
    def gqa_ratio(self) -> int:
        """Query heads per KV head (llama.cpp's n_gqa)."""
        return max(1, self.n_head // max(1, self.n_head_kv))

    def is_swa(self, layer: int) -> bool:
        """True when `layer` uses a sliding window (its KV cache is capped at the window)."""
        return bool(self.sliding_window and self.swa_layers and self.swa_layers[layer])

    def has_attention(self, layer: int) -> bool:
        """False for linear-attention/recurrent layers of hybrid models (no KV cache)."""
        return self.attention_layers is None or self.attention_layers[layer]

    def is_moe_layer(self, layer: int) -> bool:
        """True when `layer`'s FFN is a mixture of experts."""
        return self.is_moe and layer >= self.n_leading_dense_layers


def _get(config: dict[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in config and config[name] is not None:
            return config[name]
    return default


def _pattern(n_layers: int, period: int) -> tuple[bool, ...]:
    """llama.cpp's set_swa_pattern(period): layer i is SWA unless i % period == period - 1."""
    return tuple(i % period < period - 1 for i in range(n_layers))


def _show(value: object) -> str:
    """A short repr of an untrusted value for a message (a 10^6-element list is not printed whole)."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = 60
    short.maxlist = short.maxtuple = short.maxdict = 6
    return short.repr(value)


def _count(value: object, field: str, what: str, *, low: int = 0, high: int) -> int:
    """A whole number in [low, high], checked before anything is built from it: no bool, str or float."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelResolutionError(f"{what}: {field} must be a whole number, not {_show(value)}")
    if not low <= value <= high:
        raise ModelResolutionError(
            f"{what}: {field} is {value:,}, outside the range {low:,} to {high:,} (quantadvisor/limits.py)"
        )
    return value


def _build(fields: dict[str, Any], what: str) -> ModelSpec:
    """Validate the collected fields; a bad shape becomes one ModelResolutionError naming the field."""
    fields["name"] = str(fields.get("name", ""))[: limits.MAX_NAME_CHARS]
    fields["arch"] = str(fields.get("arch", ""))[:256]
    try:
        return ModelSpec(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        if not field:  # a contradiction between fields (the model validator)
            raise ModelResolutionError(f"{what}: inconsistent shape: {msg}") from exc
        raise ModelResolutionError(f"{what}: field {field!r}: {msg} (got {_show(first.get('input'))})") from exc


def spec_from_config(config: dict[str, Any], *, name: str | None = None) -> ModelSpec:
    """Build a ModelSpec from a Hugging Face config.json mapping."""
    try:
        return _spec_from_config(config, name=name)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ModelResolutionError(f"config.json: a shape field is not a usable number ({exc})") from exc


def _spec_from_config(config: dict[str, Any], *, name: str | None = None) -> ModelSpec:
    if not isinstance(config, dict):
        raise ModelResolutionError("a model config must be a JSON object")
    # Multimodal wrappers (Gemma 3, Mistral 3, Qwen 3.5 VL) keep the LLM under text_config.
    text = config.get("text_config")
    if isinstance(text, dict) and "hidden_size" in text:
        merged = {**{k: v for k, v in config.items() if k != "text_config"}, **text}
        merged.setdefault("model_type", text.get("model_type", config.get("model_type")))
        config = merged
    model_type = str(config.get("model_type") or "unknown")[:256]
    config = {**_MODEL_TYPE_DEFAULTS.get(model_type, {}), **config}
    what = "config.json"

    def count(*keys: str, default: object = None, low: int = 0, high: int) -> int:
        value = _get(config, *keys, default=default)
        return _count(value, keys[0], what, low=low, high=high)

    missing = [f for f in _CORE_FIELDS if _get(config, f) is None]
    n_expert = count("num_experts", "num_local_experts", "n_routed_experts", default=0, high=limits.MAX_EXPERTS)
    is_moe = n_expert > 1
    if not is_moe and _get(config, "intermediate_size") is None:
        missing.append("intermediate_size")
    if missing:
        kind = "unknown architecture" if model_type not in KNOWN_MODEL_TYPES else "incomplete config"
        raise ModelResolutionError(
            f"{kind} {_show(model_type)}: config is missing {', '.join(missing)}",
            hint="pass a config.json of a decoder-only LLM, or a size shorthand such as 8b or 30b-a3b",
        )

    # Every count is checked against its limit before anything (a per-layer pattern) is built from it.
    n_layers = count("num_hidden_layers", low=1, high=limits.MAX_LAYERS)
    n_embd = count("hidden_size", low=1, high=limits.MAX_EMBEDDING)
    n_head = count("num_attention_heads", low=1, high=limits.MAX_HEADS)
    n_head_kv = count("num_key_value_heads", default=n_head, low=1, high=limits.MAX_HEADS)
    head_dim = count("head_dim", default=max(1, n_embd // n_head), low=1, high=limits.MAX_HEAD_DIM)
    n_vocab = count("vocab_size", low=1, high=limits.MAX_VOCAB)
    n_vocab = min(n_vocab, _GGUF_VOCAB_ROWS.get(model_type, n_vocab))
    tied_raw = _get(config, "tie_word_embeddings", default=model_type.startswith("gemma"))
    if not isinstance(tied_raw, bool):
        raise ModelResolutionError(f"{what}: tie_word_embeddings must be true or false, not {_show(tied_raw)}")
    max_context = _get(config, "max_position_embeddings")
    if not (isinstance(max_context, int) and not isinstance(max_context, bool)):
        max_context = None  # informational only (a note when the context is longer): unusable values are dropped
    elif not 0 < max_context <= limits.MAX_CONTEXT_TOKENS:
        max_context = None
    fields: dict[str, Any] = {
        "name": name or str(_get(config, "_name_or_path", default=model_type)),
        "arch": model_type,
        "n_layers": n_layers,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_head_kv": n_head_kv,
        "head_dim_k": head_dim,
        "head_dim_v": head_dim,
        "n_ff": count("intermediate_size", default=0, high=limits.MAX_FEED_FORWARD),
        "n_vocab": n_vocab,
        "tied_embeddings": tied_raw,
        "max_context": max_context,
    }
    if model_type in {"qwen2", "qwen2_moe"} or _get(config, "attention_bias", default=False) is True:
        fields["attn_bias"] = True
    if model_type.startswith(("qwen3", "gemma3")):  # every Qwen3/3.5 and Gemma 3 variant normalises q and k
        fields["qk_norm"] = True
    if model_type in {"gemma2", "gemma3", "gemma3_text"}:
        fields["norms_per_layer"] = 4  # pre- and post-norms around attention and FFN
    if model_type == "gpt_oss":
        fields["gpt_oss_biases"] = True
    if model_type == "phi3":
        fields["fused_qkv"] = True
        fields["fused_gate_up"] = True
    rope_scaling = _get(config, "rope_scaling", default={}) or {}
    if isinstance(rope_scaling, dict) and rope_scaling.get("rope_type") == "llama3":
        fields["rope_freqs"] = head_dim // 2  # llama.cpp stores the llama3 frequency factors

    # Mixture of experts
    if is_moe:
        fields["n_expert"] = n_expert
        fields["n_expert_used"] = count("num_experts_per_tok", "num_experts_per_token", default=2, low=1,
                                        high=n_expert)  # fmt: skip
        fields["n_ff_exp"] = count("moe_intermediate_size", "intermediate_size", default=0,
                                   high=limits.MAX_FEED_FORWARD)  # fmt: skip
        if fields["n_ff_exp"] <= 0:
            raise ModelResolutionError(
                f"incomplete config {model_type!r}: a mixture of experts without moe_intermediate_size "
                "or intermediate_size (the width of each expert)"
            )
        shared_size = count("shared_expert_intermediate_size", default=0, high=limits.MAX_FEED_FORWARD)
        n_shared = count("n_shared_experts", default=1 if shared_size else 0, high=limits.MAX_EXPERTS)
        if n_shared and not shared_size:
            shared_size = n_shared * fields["n_ff_exp"]
        fields["n_expert_shared"] = n_shared
        fields["n_ff_shexp"] = shared_size
        fields["n_leading_dense_layers"] = count("first_k_dense_replace", default=0, high=n_layers)
        if model_type == "mixtral":
            fields["n_ff"] = 0

    # Multi-head latent attention (DeepSeek V2/V3, Kimi K2): llama.cpp caches the compressed KV.
    kv_lora = count("kv_lora_rank", default=0, high=limits.MAX_EMBEDDING)
    if kv_lora:
        rope_dim = count("qk_rope_head_dim", default=64, high=limits.MAX_HEAD_DIM)
        fields.update(
            kv_lora_rank=kv_lora,
            q_lora_rank=count("q_lora_rank", default=0, high=limits.MAX_EMBEDDING),
            qk_rope_head_dim=rope_dim,
            head_dim_k=count("qk_nope_head_dim", default=128, high=limits.MAX_HEAD_DIM) + rope_dim,
            head_dim_v=count("v_head_dim", default=128, high=limits.MAX_HEAD_DIM),
        )

    # Sliding-window and hybrid layers
    layer_types = _get(config, "layer_types")
    has_window = _get(config, "sliding_window") is not None
    if isinstance(layer_types, list) and len(layer_types) == n_layers:
        kinds = [str(t) for t in layer_types]
        if any(k == "sliding_attention" for k in kinds) and has_window:
            fields["sliding_window"] = count("sliding_window", low=1, high=limits.MAX_CONTEXT_TOKENS)
            fields["swa_layers"] = tuple(k == "sliding_attention" for k in kinds)
        if any(k in {"linear_attention", "mamba", "recurrent"} for k in kinds):
            fields["attention_layers"] = tuple(k not in {"linear_attention", "mamba", "recurrent"} for k in kinds)
    elif model_type in {"gemma2", "gpt_oss"} and has_window:
        fields["sliding_window"] = count("sliding_window", low=1, high=limits.MAX_CONTEXT_TOKENS)
        fields["swa_layers"] = _pattern(n_layers, 2)
    elif model_type in {"gemma3", "gemma3_text"} and has_window:
        fields["sliding_window"] = count("sliding_window", low=1, high=limits.MAX_CONTEXT_TOKENS)
        fields["swa_layers"] = _pattern(n_layers, count("sliding_window_pattern", default=6, low=1, high=n_layers))
    if _get(config, "linear_num_value_heads"):
        fields.update(
            linear_k_heads=count("linear_num_key_heads", default=0, high=limits.MAX_HEADS),
            linear_v_heads=count("linear_num_value_heads", default=0, high=limits.MAX_HEADS),
            linear_k_dim=count("linear_key_head_dim", default=0, high=limits.MAX_HEAD_DIM),
            linear_v_dim=count("linear_value_head_dim", default=0, high=limits.MAX_HEAD_DIM),
            linear_conv=count("linear_conv_kernel_dim", default=4, high=64),
        )
    if _get(config, "attn_output_gate", default=False) is True:
        fields["attn_output_gate"] = True
    if "attention_layers" not in fields and _get(config, "full_attention_interval") is not None:
        interval = count("full_attention_interval", low=1, high=n_layers)
        fields["attention_layers"] = tuple((i + 1) % interval == 0 for i in range(n_layers))
    return _build(fields, what)


# GGUF key suffixes (after "<arch>.") → the ModelSpec field they fill.
def spec_from_gguf_metadata(
    metadata: dict[str, Any], *, name: str | None = None, tied: bool | None = None
) -> ModelSpec:
    """Build a ModelSpec from a GGUF header's key/value metadata (exact shapes, no estimation).

    `tied`: whether the file has no output.weight tensor (the output reuses token_embd).
    """
    try:
        return _spec_from_gguf(metadata, name=name, tied=tied)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ModelResolutionError(f"GGUF header: a shape key is not a usable number ({exc})") from exc


def _spec_from_gguf(metadata: dict[str, Any], *, name: str | None, tied: bool | None) -> ModelSpec:
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise ModelResolutionError("GGUF header has no general.architecture key")
    arch = arch[:256]
    what = "GGUF header"

    def key(suffix: str, default: Any = None) -> Any:
        return metadata.get(f"{arch}.{suffix}", default)

    def count(suffix: str, default: object = None, *, low: int = 0, high: int) -> int:
        return _count(key(suffix, default), f"{arch}.{suffix}", what, low=low, high=high)

    missing = [k for k in ("block_count", "embedding_length", "attention.head_count") if key(k) is None]
    if missing:
        raise ModelResolutionError(f"GGUF architecture {arch!r} lacks {', '.join(f'{arch}.{m}' for m in missing)}")
    # Every count is checked against its limit before anything (a per-layer pattern) is built from it.
    n_layers = count("block_count", low=1, high=limits.MAX_LAYERS)

    def per_layer(suffix: str, default: object, *, low: int, high: int) -> tuple[int, list[int] | None]:
        """A count that may be given per layer (an array of n_layers values): (its largest value, the list)."""
        raw = key(suffix, default)
        if isinstance(raw, list):
            if len(raw) != n_layers:
                raise ModelResolutionError(f"{what}: {arch}.{suffix} has {len(raw)} values for {n_layers} layers")
            values = [_count(v, f"{arch}.{suffix}", what, low=low, high=high) for v in raw]
            return max(values), values
        return _count(raw, f"{arch}.{suffix}", what, low=low, high=high), None

    n_embd = count("embedding_length", low=1, high=limits.MAX_EMBEDDING)
    n_head_i, _ = per_layer("attention.head_count", None, low=1, high=limits.MAX_HEADS)
    n_head_kv, kv_list = per_layer("attention.head_count_kv", n_head_i, low=0, high=limits.MAX_HEADS)
    head_k = count("attention.key_length", max(1, n_embd // n_head_i), low=1, high=limits.MAX_HEAD_DIM)
    head_v = count("attention.value_length", head_k, high=limits.MAX_HEAD_DIM)
    vocab = key("vocab_size")
    if vocab is None:
        tokens = metadata.get("tokenizer.ggml.tokens")
        vocab = getattr(tokens, "length", None) or (len(tokens) if isinstance(tokens, list) else None)
    n_vocab = _count(vocab, f"{arch}.vocab_size (or the token list)", what, low=1, high=limits.MAX_VOCAB)
    ff, _ = per_layer("feed_forward_length", 0, low=0, high=limits.MAX_FEED_FORWARD)
    context = key("context_length")
    good_context = isinstance(context, int) and not isinstance(context, bool)
    fields: dict[str, Any] = {
        "name": name or str(metadata.get("general.name") or arch),
        "arch": arch,
        "n_layers": n_layers,
        "n_embd": n_embd,
        "n_head": n_head_i,
        "n_head_kv": max(1, n_head_kv),
        "head_dim_k": head_k,
        "head_dim_v": head_v,
        "n_ff": ff,
        "n_vocab": n_vocab,
        # informational only (a note when the context is longer): unusable values are dropped
        "max_context": context if good_context and 0 < context <= limits.MAX_CONTEXT_TOKENS else None,
        "origin": "gguf",
    }
    n_expert = count("expert_count", 0, high=limits.MAX_EXPERTS)
    if n_expert > 1:
        fields.update(
            n_expert=n_expert,
            n_expert_used=count("expert_used_count", 0, low=1, high=n_expert),
            n_ff_exp=count("expert_feed_forward_length", 0, high=limits.MAX_FEED_FORWARD),
            n_expert_shared=count("expert_shared_count", 0, high=limits.MAX_EXPERTS),
            n_ff_shexp=count("expert_shared_feed_forward_length", 0, high=limits.MAX_FEED_FORWARD),
            n_leading_dense_layers=count("leading_dense_block_count", 0, high=n_layers),
        )
    if key("attention.sliding_window") is not None:
        window = count("attention.sliding_window", low=0, high=limits.MAX_CONTEXT_TOKENS)
        if window:
            fields["sliding_window"] = window
            period = {"gemma2": 2, "gpt-oss": 2, "gemma3": 6}.get(arch)
            pattern = key("attention.sliding_window_pattern")
            if isinstance(pattern, list):
                if len(pattern) != n_layers:
                    raise ModelResolutionError(
                        f"{what}: {arch}.attention.sliding_window_pattern has {len(pattern)} values "
                        f"for {n_layers} layers"
                    )
                fields["swa_layers"] = tuple(bool(p) for p in pattern)
            elif pattern is not None:
                fields["swa_layers"] = _pattern(n_layers, count("attention.sliding_window_pattern", low=1,
                                                                high=n_layers))  # fmt: skip
            elif period:
                fields["swa_layers"] = _pattern(n_layers, period)
    if kv_list is not None:
        fields["attention_layers"] = tuple(v > 0 for v in kv_list)
    kv_lora = count("attention.kv_lora_rank", 0, high=limits.MAX_EMBEDDING)
    if kv_lora:
        fields["kv_lora_rank"] = kv_lora
        fields["qk_rope_head_dim"] = count("rope.dimension_count", 64, high=limits.MAX_HEAD_DIM)
    if tied is not None:
        fields["tied_embeddings"] = tied
    return _build(fields, what)


_SHORTHAND = re.compile(r"^\s*(\d+(\.\d+)?)\s*[bB]\s*$|^\s*\d+x\d+b\s*$|^\s*\d+(\.\d+)?b-a\d+(\.\d+)?b\s*$", re.I)


def looks_like_shorthand(text: str) -> bool:
    """True for strings shaped like "8b", "30b-a3b" or "8x7b"."""
    return bool(_SHORTHAND.match(text))


_ANY_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*b(?:\s*-\s*a(\d+(?:\.\d+)?)\s*b)?\s*$", re.I)


def shorthand_size(text: str) -> tuple[float, float | None] | None:
    """(total, active) billions of a size shorthand: "0.5b" → (0.5, None), "671b-a37b" → (671.0, 37.0).

    None for anything else ("8x7b" names a reference shape, not a size: see nearest_reference).
    """
    match = _ANY_SIZE.match(text)
    if match is None:
        return None
    total, active = float(match.group(1)), float(match.group(2)) if match.group(2) else None
    if total <= 0 or (active is not None and not 0 < active <= total):
        return None
    return total, active


def nearest_reference(total_b: float, active_b: float | None, dataset: Dataset | None = None) -> Architecture:
    """The reference shape nearest in size (log scale) to a model of this size: MoE to MoE, dense to dense.

    Any size shorthand is scaled from it (approximate): its family, layer layout and ratios.
    """
    from .dataset import load_dataset

    ds = dataset or load_dataset()
    pool = [(a, size) for a in ds.architectures.values() if (size := shorthand_size(a.shorthand)) is not None]

    def is_moe(arch: Architecture) -> bool:
        resolved = ds.reference_specs.get(arch.shorthand)
        return resolved[1].is_moe if resolved is not None else "-a" in arch.shorthand

    same = [(a, size) for a, size in pool if is_moe(a) == (active_b is not None)] or pool
    if not same:
        raise ModelResolutionError("no reference shape in data/architectures.yaml")

    def distance(item: tuple[Architecture, tuple[float, float | None]]) -> float:
        _, (total, active) = item
        gap = abs(math.log(total / total_b))
        if active is not None and active_b is not None:
            gap += abs(math.log(active / active_b))
        return gap

    return min(same, key=distance)[0]


def spec_from_shorthand(shorthand: str, dataset: Dataset | None = None) -> ModelSpec:
    """Resolve a size shorthand through the reference-architecture table in data/ (approximate).

    The dataset holds each shorthand's ModelSpec, resolved when it was loaded, so the same object
    comes back every time and memory plans cached by identity are reused across calls.
    """
    from .dataset import load_dataset

    ds = dataset or load_dataset()
    return _resolve_shorthand(shorthand.strip().casefold(), shorthand, ds)


def reference_spec(arch: Architecture) -> ModelSpec:
    """The ModelSpec a size shorthand stands for: the reference model's config, marked approximate."""
    spec = spec_from_config(arch.config, name=arch.stands_for)
    return spec.model_copy(
        update={"approximate": True, "stands_for": arch.stands_for, "origin": f"shorthand {arch.shorthand}"}
    )


def _resolve_shorthand(wanted: str, shorthand: str, ds: Dataset) -> ModelSpec:
    from .dataset import closest_names

    for arch in ds.architectures.values():
        if wanted == arch.shorthand.casefold() or wanted in (a.casefold() for a in arch.aliases):
            resolved = ds.reference_specs.get(arch.shorthand)
            return resolved[1] if resolved is not None and resolved[0] is arch else reference_spec(arch)
    sizes = _parse_size(wanted)
    if sizes is not None:
        return ds.derived(
            ("scaled-shorthand", sizes), lambda: _catalog_sized_spec(sizes, ds) or _scaled_spec(sizes, ds)
        )
    if _SIZE_RE.match(wanted):  # a size, but none a model has
        raise ModelResolutionError(
            f"model size {shorthand!r} is outside {limits.MIN_PARAMS_BILLIONS:g}b to {_MAX_SCALED_BILLIONS:,.0f}b "
            "(an MoE's active size at most its total)",
            hint="give the size in billions of parameters, such as 8b, 0.5b or 671b-a37b",
        )
    known = sorted(a.shorthand for a in ds.architectures.values())
    close = closest_names(wanted, known)
    raise ModelResolutionError(
        f"unknown model size {shorthand!r}",
        hint=f"use one of {', '.join(known)}" + (f" (closest: {', '.join(close)})" if close else ""),
    )


_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)b(?:-a(\d+(?:\.\d+)?)b)?$")
_MAX_SCALED_BILLIONS = 10_000.0  # 10T parameters: beyond any published model; a typo, not a size
# Per-layer lists (sliding/full, linear/full attention) cannot be stretched to another depth.
_PER_LAYER_KEYS = ("layer_types", "sliding_window_pattern", "full_attention_interval", "attention_chunk_size")


def _parse_size(text: str) -> tuple[float, float | None] | None:
    """("671b-a37b") → (671.0, 37.0); ("0.5b") → (0.5, None); None for any other form (8x7b, ...)."""
    match = _SIZE_RE.match(text.strip().casefold())
    if match is None:
        return None
    total, active = float(match.group(1)), float(match.group(2)) if match.group(2) else None
    if not limits.MIN_PARAMS_BILLIONS <= total <= _MAX_SCALED_BILLIONS:
        return None
    if active is not None and not limits.MIN_PARAMS_BILLIONS <= active <= total:
        return None
    return total, active


def _scalable(arch: Architecture) -> bool:
    text = arch.config.get("text_config", arch.config)
    return isinstance(text, dict) and not any(k in text for k in _PER_LAYER_KEYS)


def _params(spec: ModelSpec) -> tuple[float, float]:
    from .memory import parameter_count  # memory imports this module: at call time only

    total, active = parameter_count(spec)
    return total / 1e9, active / 1e9


def _stretch(config: dict[str, Any], depth: float, width: float, experts: float) -> dict[str, Any]:
    """A copy of `config` with depth × layers, width × heads (head size kept, so hidden grows with
    them) and feed-forward sizes, and experts × the expert count."""
    import copy

    out = copy.deepcopy(config)
    c = out.get("text_config", out)
    heads, kv = int(c["num_attention_heads"]), int(c.get("num_key_value_heads") or c["num_attention_heads"])
    head_dim = int(c.get("head_dim") or c["hidden_size"] // heads)
    groups = max(1, round(heads / kv * width)) if kv < heads else 1
    new_kv = kv if kv < heads else max(1, round(kv * width))
    c["num_attention_heads"] = new_heads = groups * new_kv
    c["num_key_value_heads"] = new_kv
    c["head_dim"] = head_dim
    c["hidden_size"] = max(64, round(c["hidden_size"] * new_heads / heads / 64) * 64)
    c["num_hidden_layers"] = max(1, round(c["num_hidden_layers"] * depth))
    for key in ("intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size"):
        if isinstance(c.get(key), int) and c[key] > 0:
            c[key] = max(64, round(c[key] * width / 64) * 64)
    for key in ("num_experts", "num_local_experts", "n_routed_experts"):
        if isinstance(c.get(key), int) and c[key] > 0:
            used = int(c.get("num_experts_per_tok") or c.get("experts_per_token") or 1)
            c[key] = max(used + 1, round(c[key] * experts))
    return out


def _catalog_sized_spec(sizes: tuple[float, float | None], ds: Dataset) -> ModelSpec | None:
    """A size the catalog has a model of ("405b": Llama-3.1-405B, "235b-a22b": Qwen3-235B-A22B) takes
    that model's own cited shape rather than a stretched reference: still approximate for other models
    of the size, and labelled so. Totals within 2 %, active parameters within 10 % (names round them).
    """
    total, active = sizes
    from .catalog import catalog_spec

    def counted(m: CatalogModel) -> float:
        # A Hub count that includes weights llama.cpp does not load (DeepSeek-V3's multi-token-prediction
        # layer: 684.5B, 671B without it): the size of the shape itself, which is what "671b" names.
        return _params(catalog_spec(m, ds))[0] if m.params_include else m.params_billions

    def matches(m: CatalogModel) -> bool:
        if abs(m.params_billions - total) > 0.05 * total or abs(counted(m) - total) > 0.02 * total:
            return False
        if active is None or m.active_params_billions is None:
            return active is None and m.active_params_billions is None
        return abs(m.active_params_billions - active) <= 0.10 * active

    found = sorted((m for m in ds.models.values() if matches(m)), key=lambda m: abs(counted(m) - total))
    if not found:
        return None

    model = found[0]
    label = f"{total:g}b" + (f"-a{active:g}b" if active is not None else "")
    return catalog_spec(model, ds).model_copy(
        update={
            "name": f"~{label.upper()} ({model.name}'s shape)",
            "approximate": True,
            "stands_for": model.name,
            "origin": f"size {label}: catalog {model.hf_repo}",
        }
    )


def _scaled_spec(sizes: tuple[float, float | None], ds: Dataset) -> ModelSpec:
    """A size no reference has ("0.5b", "405b", "671b-a37b"): the nearest reference shape of the same
    kind (dense or MoE), stretched to the size. Approximate, and labelled so.

    Depth and width grow together (each by the cube root of the parameter ratio, so the weights
    scale with it); a second pass corrects the depth (MoE: the active parameters; the expert count
    then brings the total). KV cache and buffers follow the stretched shape: a guess at the real
    model's, not a measurement. References with per-layer attention patterns are not stretched.
    """
    import math

    total, active = sizes
    moe = active is not None
    pool = [a for a in ds.architectures.values() if _scalable(a)]
    refs = []
    for arch in pool:
        spec = spec_from_shorthand(arch.shorthand, ds)
        if spec.is_moe == moe:
            refs.append((arch, spec, *_params(spec)))
    if not refs:
        raise ModelResolutionError(f"no reference shape to scale to {total:g}B", hint="pass a config.json")

    def distance(item: tuple[Architecture, ModelSpec, float, float]) -> float:
        _, _, t, a = item
        return abs(math.log(total / t)) + (abs(math.log((active or a) / a)) if moe else 0.0)

    arch, _, ref_total, ref_active = min(refs, key=distance)
    goal, have = (active, ref_active) if active is not None else (total, ref_total)
    width = (goal / have) ** (1 / 3)
    config = _stretch(arch.config, width, width, 1.0)
    for _ in range(2):  # correct the depth, then (MoE) the expert count, from the shape's own count
        spec = spec_from_config(config, name=arch.stands_for)
        t, a = _params(spec)
        got = a if moe else t
        config = _stretch(config, goal / got if got > 0 else 1.0, 1.0, 1.0)
        if moe and active is not None:
            spec = spec_from_config(config, name=arch.stands_for)
            t, a = _params(spec)
            config = _stretch(config, 1.0, 1.0, (total - a) / max(1e-9, t - a))
    label = f"{total:g}b" + (f"-a{active:g}b" if active is not None else "")
    spec = spec_from_config(config, name=f"~{label.upper()} (scaled from {arch.stands_for})")
    return spec.model_copy(
        update={"approximate": True, "stands_for": f"{arch.stands_for} scaled to {label}", "origin": f"scaled {label}"}
    )


def load_model_spec(model: str | Path | dict[str, Any] | ModelSpec, dataset: Dataset | None = None) -> ModelSpec:
    """Resolve `model`: a ModelSpec, a config dict, a config.json file or folder, or a size shorthand.

    Hub repo ids and .gguf files are resolved by the hub package and api.py, which call this for the rest.

    Raises:
        ModelResolutionError: an unknown shorthand, an unreadable or unsupported config or GGUF header.
    """
    from . import untrusted
    from .dataset import Dataset

    if dataset is not None and not isinstance(dataset, Dataset):
        raise ModelResolutionError(f"dataset must be a Dataset from load_dataset(), not {type(dataset).__name__}")
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, dict):
        return spec_from_config(model)
    if not isinstance(model, (str, Path)):
        raise ModelResolutionError(
            f"model must be a size, a path, a config dict or a ModelSpec, not {type(model).__name__}"
        )
    text = str(model).strip()
    if not text:
        raise ModelResolutionError("the model name is empty", hint="pass a size such as 8b, or a config.json")
    if len(text) > limits.MAX_MODEL_ARG_CHARS:
        raise ModelResolutionError(f"the model name is over {limits.MAX_MODEL_ARG_CHARS} characters")
    path = untrusted.local_path(text)
    if path is not None and untrusted.is_dir(path):
        path = path / "config.json"
        if not untrusted.is_file(path):
            raise ModelResolutionError(f"{_show(text)}: the folder holds no config.json")
    if path is not None and untrusted.is_file(path):
        if path.suffix == ".gguf":
            from .gguf_header import read_gguf_header

            header = read_gguf_header(path)
            return spec_from_gguf_metadata(dict(header.metadata), name=path.stem)
        config = untrusted.read_json_file(path, str(path))
        return spec_from_config(config, name=path.parent.name or path.stem)
    if looks_like_shorthand(text):
        return spec_from_shorthand(text, dataset)
    from .catalog import catalog_spec, find_model, suggest_models

    found = find_model(text, dataset)
    if found is not None:
        return catalog_spec(found, dataset)
    if "/" in text:
        from .request import is_repo_model

        if is_repo_model(text):  # a Hub repo: its GGUF header, else its config.json
            from .files import repo_model_spec

            return repo_model_spec(text, dataset)
    close = suggest_models(text, dataset=dataset)
    if close:
        raise ModelResolutionError(
            f"cannot resolve model {_show(text)}: not in the model catalog, and not a size, a config.json or a file",
            hint=f"did you mean {', '.join(close)}? (or a size such as 8b, or a Hub repo id owner/name)",
        )
    raise ModelResolutionError(
        f"cannot resolve model {_show(text)}: not a size shorthand, a config.json, a folder or a .gguf file",
        hint="pass a size such as 8b or 30b-a3b, a path to config.json, or a Hub repo id owner/name",
    )
