"""--model resolution (issue 12 item 2): catalog names, Ollama tags (the quant suffix picks the quant),
did-you-mean, sizes no reference has (scaled, approximate), and a Hub repo id for memory/estimate_memory."""

from __future__ import annotations

import json

import pytest
from quantadvisor import estimate_memory, recommend
from quantadvisor.architecture import load_model_spec
from quantadvisor.cli import main
from quantadvisor.errors import InvalidRequestError, ModelResolutionError
from quantadvisor.planner import model_params


@pytest.mark.parametrize(
    "name", ["Qwen2.5-Coder-7B-Instruct", "qwen2.5-coder-7b-instruct", "qwen2.5-coder:7b", "QWEN2.5-CODER:7B"]
)
def test_catalog_names_and_ollama_tags_resolve_to_the_real_shape(name: str) -> None:
    spec = load_model_spec(name)
    assert spec.name == "Qwen2.5-Coder-7B-Instruct"
    assert not spec.approximate  # the model's own config.json, not a size's stand-in
    assert spec.n_layers == 28


def test_an_ollama_quant_suffix_selects_the_quant() -> None:
    rec = recommend("code", model="llama3.1:8b-instruct-q4_K_M", vram_gib=8)
    assert rec.options[0].quant == "Q4_K_M"
    assert rec.notes[0].startswith("llama3.1:8b-instruct-q4_K_M names Q4_K_M: it is listed first")
    plain = recommend("code", model="llama3.1:8b", vram_gib=8)
    assert plain.model == rec.model == "Llama-3.1-8B-Instruct"


def test_a_close_miss_says_did_you_mean() -> None:
    with pytest.raises(InvalidRequestError, match="not in the model catalog") as info:
        recommend("code", model="qwen2.5-codr:7b", vram_gib=8)
    assert info.value.hint is not None
    assert "qwen2.5-coder:7b" in info.value.hint


@pytest.mark.parametrize(
    ("size", "total", "active"), [("0.5b", 0.5, None), ("405b", 405.0, None), ("671b-a37b", 671.0, 37.0)]
)
def test_sizes_no_reference_has_are_sized_and_labelled(size: str, total: float, active: float | None) -> None:
    """A size the catalog has a model of takes its shape; any other is a stretched reference."""
    spec = load_model_spec(size)
    assert spec.approximate
    assert spec.stands_for is not None
    assert "scaled to" in spec.stands_for or (spec.origin or "").startswith(f"size {size}: catalog ")
    params, active_params = model_params(spec)
    assert params == pytest.approx(total, rel=0.03)
    if active is None:
        assert active_params is None
    else:
        assert active_params == pytest.approx(active, rel=0.03)
    assert load_model_spec(size) is spec  # one shape per dataset: memory plans cached by identity reuse it


def test_scaled_sizes_keep_memory_monotone_in_parameters() -> None:
    sizes = ["0.5b", "1b", "2b", "3b", "5b", "8b", "100b", "405b"]
    weights = [estimate_memory(s, "Q4_K_M").weights_bytes for s in sizes]
    assert weights == sorted(weights)


def test_cli_suggest_takes_a_size_shorthand_of_any_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suggest", "--task", "chat", "--vram", "80", "--gpus", "8", "--model", "405b", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["model_approximate"] is True
    assert payload["model"] == "~405B (Llama-3.1-405B-Instruct's shape)"


@pytest.mark.parametrize(
    ("size", "model", "layers"),
    [
        ("405b", "Llama-3.1-405B-Instruct", 126),
        ("235b-a22b", "Qwen3-235B-A22B-Instruct-2507", 94),
        ("671b-a37b", "DeepSeek-V3", 61),
    ],  # DeepSeek-V3: 684.5B on the Hub with its MTP layer, 671B without
)
def test_a_size_the_catalog_has_takes_that_models_shape(size: str, model: str, layers: int) -> None:
    spec = load_model_spec(size)
    assert spec.stands_for == model
    assert spec.n_layers == layers  # the real model's depth, not a stretched reference's
    assert spec.approximate


def test_a_size_the_catalog_lacks_is_stretched() -> None:
    spec = load_model_spec("100b")
    assert spec.stands_for is not None
    assert "scaled to 100b" in spec.stands_for


def test_a_nonsense_size_is_still_an_error() -> None:
    with pytest.raises(ModelResolutionError):
        load_model_spec("0b")
    with pytest.raises(ModelResolutionError):
        load_model_spec("99999b")


# -- a Hub repo id for memory / estimate_memory -------------------------------------------------------------

gguf = pytest.importorskip("gguf")
pytest.importorskip("huggingface_hub")

import test_files  # noqa: E402 - the repo fixture needs gguf and the Hub client
import test_hub  # noqa: E402

hub = test_hub.hub
bartowski = test_files.bartowski


def test_memory_takes_a_hub_repo_id(bartowski, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "--model", test_files.REPO, "--quant", "Q4_K_M", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["n_layers"] == 33  # the GGUF header's 32 blocks + output
    assert payload["approximate"] is False
    est = estimate_memory(test_files.REPO, "Q8_0")
    assert est.n_layers == 33
    assert any(r.status == 206 for r in bartowski.requests)  # the header, by range request: never the weights


def test_a_catalog_repo_id_falls_back_to_the_catalog_when_the_hub_cannot_answer(hub, monkeypatch) -> None:
    from quantadvisor import HubError, pick_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rec = recommend("code", model="Qwen/Qwen2.5-Coder-7B-Instruct", vram_gib=8)
    assert rec.model == "Qwen2.5-Coder-7B-Instruct"
    assert rec.notes[0].startswith("the Hub could not answer for Qwen/Qwen2.5-Coder-7B-Instruct")
    assert rec.pick is not None
    with pytest.raises(HubError, match="the Hub could not answer"):  # a file to fetch needs the Hub
        pick_file("Qwen/Qwen2.5-Coder-7B-Instruct", task="code", vram_gib=8)
    with pytest.raises(HubError):  # a repo the catalog does not know is still the Hub's error
        recommend("code", model="someone/Unknown-GGUF", vram_gib=8)


def test_a_safetensors_repo_names_the_catalogs_gguf_repos(hub) -> None:
    from conftest import LLAMA31_8B_CONFIG
    from hubserver import FakeFile, FakeRepo

    config = json.dumps({**LLAMA31_8B_CONFIG, "architectures": ["LlamaForCausalLM"]}).encode()
    hub.add_repo("meta-llama/Llama-3.1-8B-Instruct", FakeRepo(files={"config.json": FakeFile(config, lfs=False)}))
    rec = recommend("chat", model="meta-llama/Llama-3.1-8B-Instruct", vram_gib=8)
    look = next(n for n in rec.notes if n.startswith("look for GGUF"))
    assert "unsloth/Llama-3.1-8B-Instruct-GGUF" in look  # the catalog's well-known GGUF repo
    assert "suggest --model unsloth/Llama-3.1-8B-Instruct-GGUF" in look


def test_every_layer_of_a_deep_model_is_asked_for() -> None:
    rec = recommend("chat", model="405b", vram_gib=141, gpus=8)
    top = rec.options[0]
    assert top.fit == "gpu"
    assert top.memory.n_layers > 99
    assert top.runner_flags[:2] == ["-ngl", str(top.memory.n_layers)]  # -ngl 99 would leave layers on the CPU


@pytest.mark.parametrize("size", ["0.0000001b", "10001b", "8b-a9b"])
def test_a_size_no_model_has_names_the_bounds(size: str) -> None:
    with pytest.raises(ModelResolutionError, match=r"outside 0\.001b to 10,000b"):
        load_model_spec(size)
