"""The model catalog (data/models.yaml) and its lookups (quantadvisor.catalog)."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

import pytest
from quantadvisor.architecture import ModelSpec, spec_from_config
from quantadvisor.catalog import (
    catalog_models,
    catalog_spec,
    find_model,
    lookup_model,
    model_shape,
    models_for,
    suggest_models,
)
from quantadvisor.dataset import Dataset, load_dataset
from quantadvisor.errors import ModelResolutionError
from quantadvisor.planner import model_params

if TYPE_CHECKING:
    from quantadvisor.models import CatalogModel

# A recorded total within 2% of the count computed from the shape: cards round ("24B", "14.7B"),
# the Hub's safetensors totals are exact. A count that also holds a vision tower or MTP layers
# (params_include) must be at least the LLM's and at most 25% more.
TOLERANCE = 0.02
WITH_EXTRAS = 0.25
# Active counts: sources differ on whether the input embedding (a row lookup per token) is active,
# so the recorded figure must lie between the computed count without it and with it, widened by
# 15% for figures quoted to one digit, as names and cards do ("A3B" for 3.46B).
ACTIVE_ROUNDING = 0.15

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return load_dataset()


def _models() -> list[CatalogModel]:
    return catalog_models()


def _ids() -> list[str]:
    return [m.hf_repo for m in _models()]


@pytest.mark.parametrize("model", _models(), ids=_ids())
def test_shape_matches_the_recorded_parameter_count(model: CatalogModel) -> None:
    spec = catalog_spec(model)
    total, _ = model_params(spec)
    recorded = model.params_billions
    if model.params_include:
        assert total <= recorded * (1 + TOLERANCE), f"{total:.3f}B from the shape vs {recorded}B recorded"
        assert recorded <= total * (1 + WITH_EXTRAS), f"{total:.3f}B from the shape vs {recorded}B recorded"
    else:
        assert abs(total / recorded - 1) <= TOLERANCE, f"{total:.3f}B from the shape vs {recorded}B recorded"


@pytest.mark.parametrize("model", [m for m in _models() if m.active_params_billions], ids=lambda m: m.hf_repo)
def test_moe_shape_matches_the_recorded_active_count(model: CatalogModel) -> None:
    spec = catalog_spec(model)
    assert spec.is_moe, "an active count is recorded for a dense shape"
    _, active = model_params(spec)
    assert active is not None
    embedding = spec.n_vocab * spec.n_embd / 1e9
    low, high = (active - embedding) * (1 - ACTIVE_ROUNDING), active * (1 + ACTIVE_ROUNDING)
    assert model.active_params_billions is not None
    assert low <= model.active_params_billions <= high, f"computed {low:.3f}..{high:.3f}B"


def test_the_catalog_is_not_empty_and_names_are_unique(ds: Dataset) -> None:
    models = list(ds.models.values())
    assert len(models) >= 15
    names = Counter(m.name.casefold() for m in models)
    assert [n for n, c in names.items() if c > 1] == []
    tags = Counter(t for m in models for t in m.ollama)
    assert [t for t, c in tags.items() if c > 1] == [], "an Ollama tag must name one model"


def test_every_repo_id_is_well_formed(ds: Dataset) -> None:
    bad = [r for m in ds.models.values() for r in (m.hf_repo, *m.gguf_repos) if not REPO_ID.match(r)]
    assert bad == []


def test_every_shape_is_used_and_cited(ds: Dataset) -> None:
    used = {m.shape for m in ds.models.values()}
    assert set(ds.model_shapes) == used
    for shape in ds.model_shapes.values():
        assert shape.source in ds.sources
    for model in ds.models.values():
        assert model.source in ds.sources
        assert model.params_source in ds.sources


def test_context_is_the_shapes_or_says_why(ds: Dataset) -> None:
    """context_tokens comes from config.json's max_position_embeddings unless the note explains."""
    for model in ds.models.values():
        spec = catalog_spec(model)
        if spec.max_context is not None and spec.max_context != model.context_tokens:
            assert model.note, model.hf_repo
            assert "context" in model.note.casefold(), model.hf_repo


def test_unverified_fields_are_explained(ds: Dataset) -> None:
    for model in ds.models.values():
        if model.unverified:
            assert model.note, f"{model.hf_repo}: unverified fields need a note saying what was assumed"


# --------------------------------------------------------------------------- lookups


@pytest.mark.parametrize(
    ("text", "repo"),
    [
        ("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("META-LLAMA/llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("llama-3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("meta-llama/Meta-Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("llama3.1:8b", "meta-llama/Llama-3.1-8B-Instruct"),
        ("llama3.1:8b-instruct-q4_K_M", "meta-llama/Llama-3.1-8B-Instruct"),
        ("llama3.1:8b-instruct-fp16", "meta-llama/Llama-3.1-8B-Instruct"),
        ("qwen2.5:7b", "Qwen/Qwen2.5-7B-Instruct"),
        ("qwen2.5", "Qwen/Qwen2.5-7B-Instruct"),
        ("qwen2.5:latest", "Qwen/Qwen2.5-7B-Instruct"),
        ("bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen/Qwen2.5-7B-Instruct"),
        ("hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q4_K_M", "Qwen/Qwen2.5-7B-Instruct"),
        ("Qwen2.5-7B-Instruct-GGUF", "Qwen/Qwen2.5-7B-Instruct"),
        ("  gpt-oss:20b  ", "openai/gpt-oss-20b"),
    ],
)
def test_find_model_resolves_what_people_type(text: str, repo: str) -> None:
    found = find_model(text)
    assert found is not None
    assert found.hf_repo == repo


@pytest.mark.parametrize("text", ["", "nonexistent/model", "llama9:8b", "8b", "Qwen/Qwen2.5-7B-Instruct-AWQ"])
def test_find_model_returns_none_for_other_names(text: str) -> None:
    assert find_model(text) is None


def test_base_and_instruct_checkpoints_stay_apart() -> None:
    base = find_model("meta-llama/Llama-3.1-8B")
    assert base is not None
    assert not base.instruct
    assert base.ollama == []  # Ollama's llama3.1:8b is the instruct model


def test_lookup_model_suggests_close_names() -> None:
    with pytest.raises(ModelResolutionError) as info:
        lookup_model("Qwen2.5-7B-Instrut")
    assert info.value.hint is not None
    assert "Qwen/Qwen2.5-7B-Instruct" in info.value.hint


def test_suggestions_for_a_tag_are_tags() -> None:
    close = suggest_models("llama3.1:7b")
    assert close
    assert all(":" in c for c in close)
    assert "llama3.1:8b" in close


def test_suggestions_for_a_repo_are_repo_ids() -> None:
    close = suggest_models("meta-llama/Llama-3.1-8B-Instrut")
    assert close[0] == "meta-llama/Llama-3.1-8B-Instruct"


def test_models_for_filters_by_purpose_and_size() -> None:
    reasoning = models_for("reasoning")
    assert reasoning
    assert all("reasoning" in m.purposes and m.instruct for m in reasoning)
    small = models_for(max_params_billions=4)
    assert small
    assert all(m.params_billions <= 4 for m in small)
    sizes = [m.params_billions for m in models_for(None, instruct=None)]
    assert sizes == sorted(sizes)
    assert models_for("general", min_params_billions=100, max_params_billions=50) == []


def test_models_for_keeps_base_models_apart() -> None:
    base = models_for(None, instruct=False)
    assert base
    assert not any(m.instruct for m in base)


def test_catalog_spec_is_the_shapes_config_and_is_reused(ds: Dataset) -> None:
    model = lookup_model("llama3.1:8b")
    spec = catalog_spec(model)
    assert isinstance(spec, ModelSpec)
    assert spec is catalog_spec("Llama-3.1-8B-Instruct")
    assert spec.name == "Llama-3.1-8B-Instruct"
    assert spec.origin == "catalog meta-llama/Llama-3.1-8B-Instruct"
    plain = spec_from_config(model_shape(model).config)
    assert (spec.n_layers, spec.n_embd, spec.n_head_kv, spec.n_ff, spec.n_vocab) == (
        plain.n_layers,
        plain.n_embd,
        plain.n_head_kv,
        plain.n_ff,
        plain.n_vocab,
    )
    assert not spec.approximate


def test_catalog_spec_of_an_unknown_name_raises() -> None:
    with pytest.raises(ModelResolutionError, match="not in the model catalog"):
        catalog_spec("no-such-model-anywhere")


# Families added after issue 12's first pass (Phi-4, Devstral, GLM-4/4.5/4.6): present, resolvable by their Ollama
# tags, and checked against their counts by test_shape_matches_the_recorded_parameter_count like every entry.
@pytest.mark.parametrize(
    ("text", "repo", "purpose"),
    [
        ("phi4", "microsoft/phi-4", "general"),
        ("phi4-mini", "microsoft/Phi-4-mini-instruct", "general"),
        ("phi4-reasoning", "microsoft/Phi-4-reasoning", "reasoning"),
        ("phi4-mini-reasoning", "microsoft/Phi-4-mini-reasoning", "reasoning"),
        ("Devstral-Small-2507", "mistralai/Devstral-Small-2507", "coder"),
        ("devstral", "mistralai/Devstral-Small-2505", "coder"),
        ("glm4:9b", "THUDM/glm-4-9b-chat", "general"),
        ("GLM-4-9B-0414", "zai-org/GLM-4-9B-0414", "general"),
        ("glm-4.5-air", "zai-org/GLM-4.5-Air", "reasoning"),
        ("GLM-4.5", "zai-org/GLM-4.5", "reasoning"),
        ("zai-org/GLM-4.6", "zai-org/GLM-4.6", "coder"),
    ],
)
def test_added_families_resolve_and_say_what_they_are_for(text: str, repo: str, purpose: str) -> None:
    found = find_model(text)
    assert found is not None
    assert found.hf_repo == repo
    assert purpose in found.purposes


def test_glm_moe_counts_hold_the_mtp_layer_the_shape_leaves_out() -> None:
    for name in ("GLM-4.5-Air", "GLM-4.5", "GLM-4.6"):
        model = lookup_model(name)
        total, _ = model_params(catalog_spec(model))
        assert model.params_include == ["mtp"]
        assert total < model.params_billions  # the Hub count has the next-token-prediction layer on top
