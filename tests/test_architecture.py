"""ModelSpec from config.json mappings, files, folders and size shorthands."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from quantadvisor.architecture import (
    ModelSpec,
    load_model_spec,
    looks_like_shorthand,
    spec_from_config,
    spec_from_shorthand,
)
from quantadvisor.dataset import load_dataset
from quantadvisor.errors import ModelResolutionError

if TYPE_CHECKING:
    from pathlib import Path

# Shape fields of real config.json files (values as published on the Hub).
QWEN2_5_7B = {
    "model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
    "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
    "tie_word_embeddings": False, "max_position_embeddings": 32768, "sliding_window": 131072,
    "use_sliding_window": False,
}  # fmt: skip
QWEN3_8B = {
    "model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
    "tie_word_embeddings": False, "max_position_embeddings": 40960,
}  # fmt: skip
GEMMA2_9B = {
    "model_type": "gemma2", "hidden_size": 3584, "intermediate_size": 14336, "num_hidden_layers": 42,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 256, "vocab_size": 256000,
    "max_position_embeddings": 8192, "sliding_window": 4096,
}  # fmt: skip
GEMMA3_27B = {
    "model_type": "gemma3",
    "architectures": ["Gemma3ForConditionalGeneration"],
    "text_config": {
        "model_type": "gemma3_text", "head_dim": 128, "hidden_size": 5376, "intermediate_size": 21504,
        "num_attention_heads": 32, "num_hidden_layers": 62, "num_key_value_heads": 16,
        "sliding_window": 1024, "vocab_size": 262208,
    },
    "vision_config": {"hidden_size": 1152, "num_hidden_layers": 27},
}  # fmt: skip
PHI3_MINI = {
    "model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32064,
    "tie_word_embeddings": False, "max_position_embeddings": 4096,
}  # fmt: skip
MIXTRAL_8X7B = {
    "model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000,
    "num_local_experts": 8, "num_experts_per_tok": 2, "tie_word_embeddings": False,
}  # fmt: skip
QWEN3_30B_A3B = {
    "model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "moe_intermediate_size": 768,
    "num_hidden_layers": 48, "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128,
    "vocab_size": 151936, "num_experts": 128, "num_experts_per_tok": 8, "tie_word_embeddings": False,
}  # fmt: skip
DEEPSEEK_V3 = {
    "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_attention_heads": 128,
    "num_key_value_heads": 128, "vocab_size": 129280, "n_routed_experts": 256, "n_shared_experts": 1,
    "num_experts_per_tok": 8, "first_k_dense_replace": 3, "kv_lora_rank": 512, "q_lora_rank": 1536,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "tie_word_embeddings": False,
    "max_position_embeddings": 163840,
}  # fmt: skip
GPT_OSS_20B = {
    "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880, "num_hidden_layers": 24,
    "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 201088,
    "num_local_experts": 32, "num_experts_per_tok": 4, "sliding_window": 128,
    "tie_word_embeddings": False,
    "layer_types": ["sliding_attention", "full_attention"] * 12,
}  # fmt: skip


def test_llama(llama31_8b_config: dict[str, Any]) -> None:
    spec = spec_from_config(llama31_8b_config, name="Llama-3.1-8B")
    assert spec.name == "Llama-3.1-8B"
    assert (spec.arch, spec.n_layers, spec.n_embd, spec.n_head, spec.n_head_kv) == ("llama", 32, 4096, 32, 8)
    assert spec.head_dim_k == spec.head_dim_v == 128  # hidden_size / heads: the file has no head_dim
    assert (spec.n_ff, spec.n_vocab, spec.max_context) == (14336, 128256, 131072)
    assert spec.gqa_ratio == 4
    for flag in ("tied_embeddings", "attn_bias", "qk_norm", "is_moe", "uses_mla"):
        assert not getattr(spec, flag), flag
    assert spec.rope_freqs == 64  # llama3 rope_scaling: llama.cpp stores head_dim / 2 frequency factors
    assert spec.sliding_window is None
    assert not any(spec.is_swa(i) for i in range(spec.n_layers))
    assert not spec.approximate
    assert spec.origin == "config"


def test_name_defaults_to_name_or_path(llama31_8b_config: dict[str, Any]) -> None:
    llama31_8b_config["_name_or_path"] = "meta-llama/Llama-3.1-8B"
    assert spec_from_config(llama31_8b_config).name == "meta-llama/Llama-3.1-8B"
    del llama31_8b_config["_name_or_path"]
    assert spec_from_config(llama31_8b_config).name == "llama"


def test_mistral_like_config_without_kv_heads_is_multi_head() -> None:
    config = {**PHI3_MINI, "model_type": "llama"}
    del config["num_key_value_heads"]
    spec = spec_from_config(config)
    assert spec.n_head_kv == spec.n_head == 32
    assert spec.gqa_ratio == 1


def test_qwen2_has_attention_bias() -> None:
    spec = spec_from_config(QWEN2_5_7B)
    assert spec.attn_bias
    assert not spec.qk_norm
    assert spec.gqa_ratio == 7
    # sliding_window without layer_types (use_sliding_window false): every layer attends in full
    assert not any(spec.is_swa(i) for i in range(spec.n_layers))


def test_attention_bias_flag_of_other_architectures() -> None:
    assert spec_from_config({**QWEN3_8B, "model_type": "llama", "attention_bias": True}).attn_bias
    assert not spec_from_config({**QWEN3_8B, "model_type": "llama", "attention_bias": False}).attn_bias


def test_qwen3_has_qk_norm_and_explicit_head_dim() -> None:
    spec = spec_from_config(QWEN3_8B)
    assert spec.qk_norm
    assert not spec.attn_bias
    assert spec.head_dim_k == 128


def test_gemma2_alternates_sliding_window_and_ties_embeddings() -> None:
    spec = spec_from_config(GEMMA2_9B)
    assert spec.tied_embeddings  # Gemma2Config defaults tie_word_embeddings to true
    assert spec.norms_per_layer == 4
    assert spec.head_dim_k == 256  # explicit: 3584 / 16 = 224 would be wrong
    assert spec.sliding_window == 4096
    # transformers: even-indexed layers slide, odd-indexed are global
    assert [spec.is_swa(i) for i in range(4)] == [True, False, True, False]
    assert sum(spec.is_swa(i) for i in range(spec.n_layers)) == 21


def test_gemma2_explicit_untied_embeddings_are_respected() -> None:
    assert not spec_from_config({**GEMMA2_9B, "tie_word_embeddings": False}).tied_embeddings


def test_gemma3_reads_text_config_with_pattern_6() -> None:
    spec = spec_from_config(GEMMA3_27B)
    assert spec.arch == "gemma3_text"
    assert (spec.n_layers, spec.n_embd, spec.n_head, spec.n_head_kv, spec.head_dim_k) == (
        62,
        5376,
        32,
        16,
        128,
    )
    assert spec.n_vocab == 262144, "the converter keeps the tokenizer's 262,144 rows, not the config's 262208"
    assert spec.tied_embeddings
    assert spec.qk_norm
    assert spec.sliding_window == 1024
    global_layers = [i for i in range(spec.n_layers) if not spec.is_swa(i)]
    assert global_layers == [5, 11, 17, 23, 29, 35, 41, 47, 53, 59]


def test_gemma3_omitted_keys_take_transformers_defaults() -> None:
    """Gemma-3-12B's text_config omits vocab_size and head_dim: Gemma3TextConfig's defaults apply."""
    text = {k: v for k, v in GEMMA3_27B["text_config"].items() if k not in {"head_dim", "vocab_size"}}
    spec = spec_from_config({**GEMMA3_27B, "text_config": text})
    assert spec.head_dim_k == 256  # not 5376 / 32 = 168
    assert spec.n_vocab == 262144  # transformers default 262208, cut to the tokenizer by the converter
    assert spec.tied_embeddings


def test_gemma3_sliding_window_pattern_is_read() -> None:
    config = {**GEMMA3_27B, "text_config": {**GEMMA3_27B["text_config"], "sliding_window_pattern": 4}}
    spec = spec_from_config(config)
    assert [i for i in range(12) if not spec.is_swa(i)] == [3, 7, 11]


def test_layer_types_override_the_default_pattern() -> None:
    types = ["full_attention"] + ["sliding_attention"] * 41
    spec = spec_from_config({**GEMMA2_9B, "layer_types": types})
    assert not spec.is_swa(0)
    assert all(spec.is_swa(i) for i in range(1, 42))


def test_phi3_fuses_qkv_and_gate_up() -> None:
    spec = spec_from_config(PHI3_MINI)
    assert spec.fused_qkv
    assert spec.fused_gate_up
    assert spec.n_head_kv == 32


def test_mixtral_is_moe_without_dense_ffn() -> None:
    spec = spec_from_config(MIXTRAL_8X7B)
    assert spec.is_moe
    assert (spec.n_expert, spec.n_expert_used, spec.n_ff_exp, spec.n_ff) == (8, 2, 14336, 0)
    assert (spec.n_expert_shared, spec.n_ff_shexp) == (0, 0)
    assert all(spec.is_moe_layer(i) for i in range(spec.n_layers))


def test_qwen3_moe_uses_moe_intermediate_size() -> None:
    spec = spec_from_config(QWEN3_30B_A3B)
    assert (spec.n_expert, spec.n_expert_used, spec.n_ff_exp) == (128, 8, 768)
    assert spec.qk_norm
    assert spec.n_expert_shared == 0


def test_moe_without_intermediate_size_is_accepted() -> None:
    config = {k: v for k, v in QWEN3_30B_A3B.items() if k != "intermediate_size"}
    assert spec_from_config(config).n_ff_exp == 768


def test_deepseek_v3_multi_head_latent_attention() -> None:
    spec = spec_from_config(DEEPSEEK_V3)
    assert spec.uses_mla
    assert (spec.kv_lora_rank, spec.q_lora_rank, spec.qk_rope_head_dim) == (512, 1536, 64)
    assert spec.head_dim_k == 128 + 64  # nope + rope
    assert spec.head_dim_v == 128
    assert (spec.n_expert, spec.n_expert_used, spec.n_ff_exp) == (256, 8, 2048)
    assert (spec.n_expert_shared, spec.n_ff_shexp) == (1, 2048)
    assert spec.n_leading_dense_layers == 3
    assert [spec.is_moe_layer(i) for i in range(5)] == [False, False, False, True, True]


def test_gpt_oss_reads_layer_types() -> None:
    spec = spec_from_config(GPT_OSS_20B)
    assert spec.sliding_window == 128
    assert spec.swa_layers == tuple(i % 2 == 0 for i in range(24))
    assert (spec.n_expert, spec.n_expert_used, spec.n_ff_exp) == (32, 4, 2880)
    assert spec.attention_layers is None


def test_hybrid_linear_attention_layers_hold_no_kv() -> None:
    types = ["linear_attention", "linear_attention", "linear_attention", "full_attention"] * 10
    spec = spec_from_config({**QWEN3_30B_A3B, "num_hidden_layers": 40, "layer_types": types})
    assert [spec.has_attention(i) for i in range(8)] == [False, False, False, True] * 2
    via_interval = spec_from_config({**QWEN3_30B_A3B, "num_hidden_layers": 40, "full_attention_interval": 4})
    assert via_interval.attention_layers == spec.attention_layers


@pytest.mark.parametrize(
    ("drop", "model_type", "kind"),
    [
        (("num_hidden_layers", "vocab_size"), "llama", "incomplete config"),
        (("hidden_size",), "qwen2", "incomplete config"),
        (("intermediate_size",), "llama", "incomplete config"),
        (("num_attention_heads", "intermediate_size"), "bert-ish", "unknown architecture"),
    ],
)
def test_missing_fields_are_named(
    llama31_8b_config: dict[str, Any], drop: tuple[str, ...], model_type: str, kind: str
) -> None:
    config = {k: v for k, v in llama31_8b_config.items() if k not in drop}
    config["model_type"] = model_type
    with pytest.raises(ModelResolutionError) as info:
        spec_from_config(config)
    message = str(info.value)
    assert message.startswith(f"{kind} {model_type!r}: config is missing "), message
    for field in drop:
        assert field in message
    assert info.value.hint


def test_config_must_be_a_mapping() -> None:
    with pytest.raises(ModelResolutionError, match="JSON object"):
        spec_from_config(["not", "a", "dict"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- shorthands

ARCHITECTURES = load_dataset().architectures


@pytest.mark.parametrize("shorthand", list(ARCHITECTURES))
def test_every_shorthand_resolves_and_is_approximate(shorthand: str) -> None:
    arch = ARCHITECTURES[shorthand]
    spec = spec_from_shorthand(shorthand)
    assert spec.approximate
    assert spec.stands_for == arch.stands_for
    assert spec.origin == f"shorthand {shorthand}"
    assert spec.n_layers > 0
    assert spec.n_vocab > 0
    assert spec.n_head % spec.n_head_kv == 0
    assert looks_like_shorthand(shorthand)
    for alias in arch.aliases:
        assert spec_from_shorthand(alias) == spec, alias


@pytest.mark.parametrize(
    "shorthand",
    ["3b", "7b", "8b", "9b", "13b", "14b", "27b", "32b", "34b", "70b", "30b-a3b", "35b-a3b", "8x7b"],
)
def test_issue_3_shorthands_are_in_the_table(shorthand: str) -> None:
    assert shorthand in ARCHITECTURES


@pytest.mark.parametrize(
    ("shorthand", "is_moe"),
    [("8b", False), ("70b", False), ("30b-a3b", True), ("35b-a3b", True), ("8x7b", True)],
)
def test_moe_shorthands_are_moe(shorthand: str, is_moe: bool) -> None:
    assert spec_from_shorthand(shorthand).is_moe is is_moe


def test_hybrid_shorthand_keeps_kv_only_on_full_attention_layers() -> None:
    spec = spec_from_shorthand("35b-a3b")
    assert sum(spec.has_attention(i) for i in range(spec.n_layers)) == 10
    assert spec.n_ff_shexp == 512


def test_qwen3_5_text_config_keeps_qk_norm() -> None:
    assert spec_from_shorthand("35b-a3b").qk_norm


def test_8b_shorthand_matches_llama31_8b_config(llama31_8b: ModelSpec) -> None:
    spec = spec_from_shorthand("8b")
    assert spec.rope_freqs == llama31_8b.rope_freqs


def test_unknown_shorthand_lists_the_known_ones() -> None:
    # "5b" is scaled from the nearest reference now (issue 12); a form no size parses from is unknown.
    with pytest.raises(ModelResolutionError) as info:
        spec_from_shorthand("3x5b")
    assert str(info.value) == "unknown model size '3x5b'"
    hint = info.value.hint or ""
    for shorthand in ARCHITECTURES:
        assert shorthand in hint


def test_shorthands_are_case_insensitive() -> None:
    assert spec_from_shorthand("8B") == spec_from_shorthand("8b")
    assert load_model_spec(" 70b ") == spec_from_shorthand("70b")


# --------------------------------------------------------------------------- files and folders


def test_config_json_file_and_folder(tmp_path: Path, llama31_8b_config: dict[str, Any]) -> None:
    folder = tmp_path / "Llama-3.1-8B"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(llama31_8b_config), encoding="utf-8")
    from_file = load_model_spec(folder / "config.json")
    from_folder = load_model_spec(folder)
    from_str = load_model_spec(str(folder))
    assert from_file == from_folder == from_str
    assert from_folder.name == "Llama-3.1-8B"
    assert from_folder == spec_from_config(llama31_8b_config, name="Llama-3.1-8B")
    assert not from_folder.approximate


def test_load_model_spec_passes_specs_and_dicts_through(llama31_8b: ModelSpec) -> None:
    assert load_model_spec(llama31_8b) is llama31_8b
    assert load_model_spec(QWEN3_8B) == spec_from_config(QWEN3_8B)


def test_folder_without_config_json(tmp_path: Path) -> None:
    with pytest.raises(ModelResolutionError, match=r"holds no config\.json"):
        load_model_spec(tmp_path)


def test_unreadable_config_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelResolutionError, match="not a readable JSON config"):
        load_model_spec(path)


@pytest.mark.parametrize("model", ["", "   "])
def test_empty_model_name(model: str) -> None:
    with pytest.raises(ModelResolutionError, match="empty"):
        load_model_spec(model)


def test_unresolvable_name_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ModelResolutionError, match=r"not a size shorthand, a config\.json") as info:
        load_model_spec(str(tmp_path / "missing-config.json"))
    assert info.value.hint
