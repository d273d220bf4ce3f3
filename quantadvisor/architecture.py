"""Model architectures: a ModelSpec from a config.json, a GGUF header or a size shorthand."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ModelResolutionError

if TYPE_CHECKING:
    from .dataset import Dataset
    from .models import Architecture

__all__ = ["ModelSpec", "load_model_spec", "spec_from_config", "spec_from_gguf_metadata"]

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

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    arch: str
    # Shapes from untrusted configs and GGUF headers: a zero or negative width is an error here,
    # not a ZeroDivisionError three modules later.
    n_layers: int = Field(gt=0, le=100_000)
    n_embd: int = Field(gt=0, le=10_000_000)
    n_head: int = Field(gt=0, le=100_000)
    n_head_kv: int = Field(gt=0, le=100_000)
    head_dim_k: int = Field(gt=0, le=100_000)
    head_dim_v: int = Field(ge=0, le=100_000)
    n_ff: int = Field(ge=0, le=100_000_000)
    n_vocab: int = Field(gt=0, le=100_000_000)
    tied_embeddings: bool = False
    attn_bias: bool = False
    # gpt-oss: an attention-output bias, learned per-head attention sinks, and router and expert biases
    # (all F32; gpt-oss-120b carries 160 MB of them).
    gpt_oss_biases: bool = False
    qk_norm: bool = False
    norms_per_layer: int = 2
    fused_qkv: bool = False
    fused_gate_up: bool = False
    rope_freqs: int = 0
    # Mixture of experts (0 experts = dense)
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    n_expert_shared: int = 0
    n_ff_shexp: int = 0
    n_leading_dense_layers: int = 0
    # Attention variants
    sliding_window: int | None = None
    swa_layers: tuple[bool, ...] | None = None
    attention_layers: tuple[bool, ...] | None = None
    attn_output_gate: bool = False  # Qwen3-Next/3.5: Q projection doubled to gate the attention output
    # Linear-attention (Gated DeltaNet) layers of hybrid models: heads and head dims of K and V,
    # and the causal-conv kernel width. 0 = unknown (such layers are then sized like attention).
    linear_k_heads: int = 0
    linear_v_heads: int = 0
    linear_k_dim: int = 0
    linear_v_dim: int = 0
    linear_conv: int = 0
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    max_context: int | None = None
    # Provenance: where the numbers came from, and whether they are only a reference shape
    approximate: bool = False
    stands_for: str | None = None
    origin: str = "config"

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


def _build(fields: dict[str, Any], what: str) -> ModelSpec:
    """Validate the collected fields; a bad shape becomes one ModelResolutionError naming the field."""
    try:
        return ModelSpec(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ModelResolutionError(f"{what}: field {field!r}: {first['msg']} (got {first.get('input')!r})") from exc


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
    model_type = str(config.get("model_type") or "unknown")
    config = {**_MODEL_TYPE_DEFAULTS.get(model_type, {}), **config}
    missing = [f for f in _CORE_FIELDS if _get(config, f) is None]
    is_moe = _get(config, "num_experts", "num_local_experts", "n_routed_experts", default=0) > 1
    if not is_moe and _get(config, "intermediate_size") is None:
        missing.append("intermediate_size")
    if missing:
        kind = "unknown architecture" if model_type not in KNOWN_MODEL_TYPES else "incomplete config"
        raise ModelResolutionError(
            f"{kind} {model_type!r}: config is missing {', '.join(missing)}",
            hint="pass a config.json of a decoder-only LLM, or a size shorthand such as 8b or 30b-a3b",
        )

    n_layers = int(config["num_hidden_layers"])
    n_embd = int(config["hidden_size"])
    n_head = int(config["num_attention_heads"])
    n_head_kv = int(_get(config, "num_key_value_heads", default=n_head))
    head_dim = int(_get(config, "head_dim", default=n_embd // n_head))
    n_vocab = int(config["vocab_size"])
    n_vocab = min(n_vocab, _GGUF_VOCAB_ROWS.get(model_type, n_vocab))
    tied = bool(_get(config, "tie_word_embeddings", default=model_type.startswith("gemma")))
    fields: dict[str, Any] = {
        "name": name or str(_get(config, "_name_or_path", default=model_type)),
        "arch": model_type,
        "n_layers": n_layers,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_head_kv": n_head_kv,
        "head_dim_k": head_dim,
        "head_dim_v": head_dim,
        "n_ff": int(_get(config, "intermediate_size", default=0)),
        "n_vocab": n_vocab,
        "tied_embeddings": tied,
        "max_context": _get(config, "max_position_embeddings"),
    }
    if model_type in {"qwen2", "qwen2_moe"} or _get(config, "attention_bias", default=False):
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
    n_expert = int(_get(config, "num_experts", "num_local_experts", "n_routed_experts", default=0))
    if n_expert > 1:
        fields["n_expert"] = n_expert
        fields["n_expert_used"] = int(_get(config, "num_experts_per_tok", "num_experts_per_token", default=2))
        fields["n_ff_exp"] = int(_get(config, "moe_intermediate_size", "intermediate_size", default=0))
        if fields["n_ff_exp"] <= 0:
            raise ModelResolutionError(
                f"incomplete config {model_type!r}: a mixture of experts without moe_intermediate_size "
                "or intermediate_size (the width of each expert)"
            )
        shared_size = int(_get(config, "shared_expert_intermediate_size", default=0))
        n_shared = int(_get(config, "n_shared_experts", default=1 if shared_size else 0))
        if n_shared and not shared_size:
            shared_size = n_shared * fields["n_ff_exp"]
        fields["n_expert_shared"] = n_shared
        fields["n_ff_shexp"] = shared_size
        fields["n_leading_dense_layers"] = int(_get(config, "first_k_dense_replace", default=0))
        if model_type == "mixtral":
            fields["n_ff"] = 0

    # Multi-head latent attention (DeepSeek V2/V3, Kimi K2): llama.cpp caches the compressed KV.
    kv_lora = int(_get(config, "kv_lora_rank", default=0) or 0)
    if kv_lora:
        rope_dim = int(_get(config, "qk_rope_head_dim", default=64))
        fields.update(
            kv_lora_rank=kv_lora,
            q_lora_rank=int(_get(config, "q_lora_rank", default=0) or 0),
            qk_rope_head_dim=rope_dim,
            head_dim_k=int(_get(config, "qk_nope_head_dim", default=128)) + rope_dim,
            head_dim_v=int(_get(config, "v_head_dim", default=128)),
        )

    # Sliding-window and hybrid layers
    layer_types = _get(config, "layer_types")
    window = _get(config, "sliding_window")
    if isinstance(layer_types, list) and len(layer_types) == n_layers:
        kinds = [str(t) for t in layer_types]
        if any(k == "sliding_attention" for k in kinds) and window:
            fields["sliding_window"] = int(window)
            fields["swa_layers"] = tuple(k == "sliding_attention" for k in kinds)
        if any(k in {"linear_attention", "mamba", "recurrent"} for k in kinds):
            fields["attention_layers"] = tuple(k not in {"linear_attention", "mamba", "recurrent"} for k in kinds)
    elif model_type in {"gemma2", "gpt_oss"} and window:
        fields["sliding_window"] = int(window)
        fields["swa_layers"] = _pattern(n_layers, 2)
    elif model_type in {"gemma3", "gemma3_text"} and window:
        fields["sliding_window"] = int(window)
        fields["swa_layers"] = _pattern(n_layers, int(_get(config, "sliding_window_pattern", default=6)))
    if _get(config, "linear_num_value_heads"):
        fields.update(
            linear_k_heads=int(_get(config, "linear_num_key_heads", default=0)),
            linear_v_heads=int(_get(config, "linear_num_value_heads", default=0)),
            linear_k_dim=int(_get(config, "linear_key_head_dim", default=0)),
            linear_v_dim=int(_get(config, "linear_value_head_dim", default=0)),
            linear_conv=int(_get(config, "linear_conv_kernel_dim", default=4)),
        )
    if _get(config, "attn_output_gate", default=False):
        fields["attn_output_gate"] = True
    interval = _get(config, "full_attention_interval")
    if "attention_layers" not in fields and interval:
        fields["attention_layers"] = tuple((i + 1) % int(interval) == 0 for i in range(n_layers))
    return _build(fields, "config.json")


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
    if not isinstance(arch, str):
        raise ModelResolutionError("GGUF header has no general.architecture key")

    def key(suffix: str, default: Any = None) -> Any:
        return metadata.get(f"{arch}.{suffix}", default)

    n_layers = key("block_count")
    n_embd = key("embedding_length")
    n_head = key("attention.head_count")
    missing = [
        k
        for k, v in (("block_count", n_layers), ("embedding_length", n_embd), ("attention.head_count", n_head))
        if v is None
    ]
    if missing:
        raise ModelResolutionError(f"GGUF architecture {arch!r} lacks {', '.join(f'{arch}.{m}' for m in missing)}")
    n_head_i = int(n_head if not isinstance(n_head, list) else max(n_head))
    n_kv = key("attention.head_count_kv", n_head_i)
    kv_list = n_kv if isinstance(n_kv, list) else None
    n_head_kv = int(max(n_kv) if isinstance(n_kv, list) else n_kv)
    head_k = int(key("attention.key_length", int(n_embd) // n_head_i))
    head_v = int(key("attention.value_length", head_k))
    vocab = key("vocab_size")
    if vocab is None:
        tokens = metadata.get("tokenizer.ggml.tokens")
        vocab = getattr(tokens, "length", None) or (len(tokens) if isinstance(tokens, list) else None)
    ff = key("feed_forward_length", 0)
    fields: dict[str, Any] = {
        "name": name or str(metadata.get("general.name") or arch),
        "arch": arch,
        "n_layers": int(n_layers),
        "n_embd": int(n_embd),
        "n_head": n_head_i,
        "n_head_kv": n_head_kv,
        "head_dim_k": head_k,
        "head_dim_v": head_v,
        "n_ff": int(max(ff) if isinstance(ff, list) else ff),
        "n_vocab": int(vocab or 0),
        "max_context": key("context_length"),
        "origin": "gguf",
    }
    n_expert = int(key("expert_count", 0) or 0)
    if n_expert > 1:
        fields.update(
            n_expert=n_expert,
            n_expert_used=int(key("expert_used_count", 0) or 0),
            n_ff_exp=int(key("expert_feed_forward_length", 0) or 0),
            n_expert_shared=int(key("expert_shared_count", 0) or 0),
            n_ff_shexp=int(key("expert_shared_feed_forward_length", 0) or 0),
            n_leading_dense_layers=int(key("leading_dense_block_count", 0) or 0),
        )
    window = key("attention.sliding_window")
    if window:
        fields["sliding_window"] = int(window)
        period = {"gemma2": 2, "gpt-oss": 2, "gemma3": 6}.get(arch)
        pattern = key("attention.sliding_window_pattern")
        if isinstance(pattern, list) and len(pattern) == int(n_layers):
            fields["swa_layers"] = tuple(bool(p) for p in pattern)
        elif period:
            fields["swa_layers"] = _pattern(int(n_layers), int(pattern) if isinstance(pattern, int) else period)
    if kv_list is not None:
        fields["attention_layers"] = tuple(int(v) > 0 for v in kv_list)
    kv_lora = key("attention.kv_lora_rank")
    if kv_lora:
        fields["kv_lora_rank"] = int(kv_lora)
        fields["qk_rope_head_dim"] = int(key("rope.dimension_count", 64))
    if tied is not None:
        fields["tied_embeddings"] = tied
    return _build(fields, "GGUF header")


_SHORTHAND = re.compile(r"^\s*(\d+(\.\d+)?)\s*[bB]\s*$|^\s*\d+x\d+b\s*$|^\s*\d+(\.\d+)?b-a\d+(\.\d+)?b\s*$", re.I)


def looks_like_shorthand(text: str) -> bool:
    """True for strings shaped like "8b", "30b-a3b" or "8x7b"."""
    return bool(_SHORTHAND.match(text))


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
    known = sorted(a.shorthand for a in ds.architectures.values())
    close = closest_names(wanted, known)
    raise ModelResolutionError(
        f"unknown model size {shorthand!r}",
        hint=f"use one of {', '.join(known)}" + (f" (closest: {', '.join(close)})" if close else ""),
    )


def load_model_spec(model: str | Path | dict[str, Any] | ModelSpec, dataset: Dataset | None = None) -> ModelSpec:
    """Resolve `model`: a ModelSpec, a config dict, a config.json file or folder, or a size shorthand.

    Hub repo ids and .gguf files are resolved by the hub package and api.py, which call this for the rest.

    Raises:
        ModelResolutionError: an unknown shorthand, an unreadable or unsupported config or GGUF header.
    """
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, dict):
        return spec_from_config(model)
    text = str(model).strip()
    if not text:
        raise ModelResolutionError("the model name is empty", hint="pass a size such as 8b, or a config.json")
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / "config.json"
        if not path.is_file():
            raise ModelResolutionError(f"{text}: the folder holds no config.json")
    if path.is_file():
        if path.suffix == ".gguf":
            from .gguf_header import read_gguf_header

            header = read_gguf_header(path)
            return spec_from_gguf_metadata(dict(header.metadata), name=path.stem)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelResolutionError(f"{path}: not a readable JSON config ({exc})") from exc
        return spec_from_config(config, name=path.parent.name or path.stem)
    if looks_like_shorthand(text):
        return spec_from_shorthand(text, dataset)
    raise ModelResolutionError(
        f"cannot resolve model {text!r}: not a size shorthand, a config.json, a folder or a .gguf file",
        hint="pass a size such as 8b or 30b-a3b, a path to config.json, or a Hub repo id owner/name",
    )
