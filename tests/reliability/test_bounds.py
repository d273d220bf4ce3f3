"""Bounds before work: every size that drives a loop or an allocation is refused, with one line naming it,
before anything is built from it (quantadvisor/limits.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from quantadvisor import limits
from quantadvisor.architecture import load_model_spec, spec_from_config, spec_from_gguf_metadata
from quantadvisor.errors import InvalidRequestError, ModelResolutionError, QuantAdvisorError

from hostile import deep_json, gguf, layer_bomb, shape_keys, tensor_bomb, tensor_info, tiny_config

if TYPE_CHECKING:
    from pathlib import Path


def test_layer_bomb_gguf_is_refused_before_the_pattern_is_built(tmp_path: Path) -> None:
    data = layer_bomb()
    assert len(data) < 400  # the issue's ~270-byte header
    path = tmp_path / "bomb.gguf"
    path.write_bytes(data)
    with pytest.raises(ModelResolutionError, match=r"block_count is 1,099,511,627,776, outside the range 1 to 1,024"):
        load_model_spec(path)


@pytest.mark.parametrize("entry", ["estimate_memory", "recommend", "cli-memory", "cli-suggest"])
def test_layer_bomb_reaches_no_public_entry_point(tmp_path: Path, entry: str, capsys) -> None:
    from quantadvisor import estimate_memory, recommend
    from quantadvisor.cli import main

    path = tmp_path / "bomb.gguf"
    path.write_bytes(layer_bomb())
    if entry == "estimate_memory":
        with pytest.raises(ModelResolutionError, match="block_count"):
            estimate_memory(str(path), "Q4_K_M")
    elif entry == "recommend":
        with pytest.raises(QuantAdvisorError, match="block_count"):
            recommend("code", model=str(path), vram_gib=8)
    else:
        argv = ["memory", "--model", str(path)] if entry == "cli-memory" else ["suggest", "--task", "code"]
        argv += ["--model", str(path), "--vram", "8"] if entry == "cli-suggest" else []
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("Error: ")
        assert "block_count" in err
        assert "Traceback" not in err


def test_a_hundred_thousand_tiny_layers_are_over_the_layer_limit() -> None:
    with pytest.raises(ModelResolutionError, match="outside the range 1 to 1,024"):
        spec_from_gguf_metadata(shape_keys(layers=100_000))
    with pytest.raises(ModelResolutionError, match="num_hidden_layers"):
        spec_from_config(tiny_config(num_hidden_layers=100_000))


def test_the_layer_limit_itself_is_accepted_and_plans() -> None:
    from quantadvisor import estimate_memory

    spec = spec_from_gguf_metadata(shape_keys(layers=limits.MAX_LAYERS))
    assert spec.n_layers == limits.MAX_LAYERS
    assert spec.swa_layers is not None
    assert estimate_memory(spec, "Q4_K_M").n_layers == limits.MAX_LAYERS + 1  # + the output layer


def test_config_bomb_with_a_sliding_window_is_refused() -> None:
    with pytest.raises(ModelResolutionError, match="num_hidden_layers is 1,099,511,627,776"):
        spec_from_config(tiny_config(model_type="gemma2", num_hidden_layers=2**40, sliding_window=4096))


@pytest.mark.parametrize(
    ("key", "value"),
    [("num_hidden_layers", True), ("num_hidden_layers", "32"), ("num_hidden_layers", 32.0), ("hidden_size", 64.5),
     ("num_attention_heads", None), ("vocab_size", [256]), ("num_key_value_heads", False)],
)  # fmt: skip
def test_counts_are_never_coerced_from_bool_str_or_float(key: str, value: object) -> None:
    with pytest.raises(ModelResolutionError, match=key if value is not None else "missing"):
        spec_from_config(tiny_config(**{key: value}))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_type": "gemma2", "sliding_window": -5}, "sliding_window is -5"),
        ({"kv_lora_rank": -512}, "kv_lora_rank is -512"),
        ({"num_local_experts": 8, "num_experts_per_tok": -8}, "num_experts_per_tok is -8"),
        ({"num_local_experts": 8, "num_experts_per_tok": 9}, "num_experts_per_tok is 9, outside the range 1 to 8"),
        ({"num_key_value_heads": 8}, "8 KV heads but only 4 attention heads"),
        ({"full_attention_interval": 0}, "full_attention_interval is 0"),
        ({"head_dim": 0}, "head_dim is 0"),
        ({"tie_word_embeddings": "yes"}, "tie_word_embeddings must be true or false"),
    ],
)
def test_contradictions_and_negative_shapes_are_clear_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ModelResolutionError, match=message):
        spec_from_config(tiny_config(**overrides))


def test_gguf_contradictions_are_clear_errors() -> None:
    with pytest.raises(ModelResolutionError, match="expert_used_count is 16, outside the range 1 to 8"):
        spec_from_gguf_metadata(shape_keys("qwen3moe", window=None, expert_count=8, expert_used_count=16))
    with pytest.raises(ModelResolutionError, match="has 3 values for 2 layers"):
        spec_from_gguf_metadata(shape_keys("llama", window=None, **{"attention.head_count_kv": [4, 4, 4]}))
    with pytest.raises(ModelResolutionError, match="5 KV heads but only 4"):
        spec_from_gguf_metadata(shape_keys("llama", window=None, **{"attention.head_count_kv": 5}))


def test_a_tensor_bigger_than_its_file_is_refused(tmp_path: Path) -> None:
    from quantadvisor import estimate_memory

    path = tmp_path / "lie.gguf"
    path.write_bytes(tensor_bomb())
    assert path.stat().st_size < 700
    with pytest.raises(ModelResolutionError, match="beyond the end of the"):
        estimate_memory(str(path), "file")


def test_tensor_data_offset_past_the_end_is_refused(tmp_path: Path) -> None:
    from quantadvisor import estimate_memory

    tensors = [tensor_info("token_embd.weight", (64, 256)), tensor_info("output_norm.weight", (64,), 0, 2**40)]
    path = tmp_path / "offset.gguf"
    path.write_bytes(gguf(shape_keys("llama", window=None), tensors) + bytes(64 * 256 * 2 + 64))
    with pytest.raises(ModelResolutionError, match="beyond the end"):
        estimate_memory(str(path), "file")


def test_oversized_local_config_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    with path.open("wb") as f:  # sparse: the file is big, the disk use is not
        f.write(b'{"a": "')
        f.seek(limits.MAX_CONFIG_BYTES + 10)
        f.write(b'"}')
    with pytest.raises(ModelResolutionError, match="over the 16 MiB limit"):
        load_model_spec(path)


@pytest.mark.parametrize("depth", [limits.MAX_JSON_DEPTH + 1, 100_000])
def test_deep_json_config_is_a_model_error_not_recursion(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "config.json"
    path.write_text(deep_json(depth))
    with pytest.raises(ModelResolutionError, match="nests deeper than 64 levels"):
        load_model_spec(path)


def test_shallow_json_config_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tiny_config(rope_scaling={"rope_type": "linear", "factor": 2.0})))
    assert load_model_spec(path).n_layers == 2


@pytest.mark.parametrize("model", ["x" * 256, "x" * 256 + ".gguf", "a/" + "b" * 300, "~nosuchuser_qa/x.json",
                                   "~nosuchuser_qa", "x\x00y.gguf", "y" * 5000])  # fmt: skip
def test_odd_model_strings_are_request_errors(model: str) -> None:
    from quantadvisor import recommend

    with pytest.raises(QuantAdvisorError):
        recommend("code", model=model, vram_gib=8)


def test_request_context_is_bounded() -> None:
    from quantadvisor import estimate_memory, recommend

    with pytest.raises(InvalidRequestError):
        recommend("code", model="8b", vram_gib=8, context_tokens=10**30)
    with pytest.raises(InvalidRequestError):
        estimate_memory("8b", "Q4_K_M", context_tokens=limits.MAX_CONTEXT_TOKENS + 1)


def test_ranked_files_per_request_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from quantadvisor import rank_files

    monkeypatch.setattr(limits, "MAX_RANKED_FILES", 3)
    files = [(f"m{i}-Q4_K_M.gguf", 4_920_739_232 + i) for i in range(10)]
    rec = rank_files(files, task="chat", vram_gib=8, model="8b")
    assert len(rec.options) == 3
    assert "10 GGUF builds: only the first 3 (by name) were ranked" in rec.notes


def test_listed_files_per_request_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from quantadvisor import rank_files

    monkeypatch.setattr(limits, "MAX_LISTED_FILES", 5)
    files = ((f"m{i}-Q4_K_M.gguf", 4_920_739_232 + i) for i in range(10**9))  # a generator that never ends
    rec = rank_files(files, task="chat", vram_gib=8, model="8b")
    assert len(rec.options) == 5
    assert any("more than 5 files: only the first were read" in n for n in rec.notes)
