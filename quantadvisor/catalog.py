"""The bundled model catalog (data/models.yaml): names people type → a real model and its shape.

A name is matched, case-insensitively, against each model's Hub repo id, its repo name without
the owner, its aliases, its well-known GGUF repos and its Ollama library tags. Ollama tags may
carry a quant suffix (`llama3.1:8b-instruct-q4_K_M`); it names a file, not a model, and is dropped.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .errors import ModelResolutionError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .architecture import ModelSpec
    from .dataset import Dataset
    from .models import CatalogModel, ModelShape, Purpose

__all__ = [
    "catalog_models",
    "catalog_spec",
    "find_model",
    "lookup_model",
    "model_shape",
    "models_for",
    "suggest_models",
]

# Quant suffixes of Ollama tags and GGUF file names: q4_K_M, q8_0, iq3_xxs, fp16, bf16, mxfp4, ...
_QUANT_SUFFIX = re.compile(r"[-_.](?:i?q\d\w*|fp16|f16|bf16|fp32|f32|fp8|mxfp4|nvfp4)$", re.IGNORECASE)
# Tag words that only restate what the catalog's default tag already is (Ollama's 8b *is* instruct).
_DEFAULT_WORDS = ("-instruct", "-chat", "-it")
_URL_PREFIXES = ("https://huggingface.co/", "http://huggingface.co/", "huggingface.co/", "hf.co/")


def _dataset(dataset: Dataset | None) -> Dataset:
    from .dataset import load_dataset

    return dataset if dataset is not None else load_dataset()


def catalog_models(dataset: Dataset | None = None) -> list[CatalogModel]:
    """Return every catalog model, in file order."""
    return list(_dataset(dataset).models.values())


def _index(ds: Dataset) -> dict[str, CatalogModel]:
    """Every name a model answers to (casefolded) → the model; the first model to claim a name keeps it."""

    def build() -> dict[str, CatalogModel]:
        names: dict[str, CatalogModel] = {}
        # Stronger names first: a repo id or a model's own name beats another model's alias or GGUF repo.
        for keys in (_own_names, _other_names):
            for model in ds.models.values():
                for key in keys(model):
                    names.setdefault(key.casefold(), model)
        return names

    return ds.derived(("catalog-index",), build)


def _own_names(model: CatalogModel) -> Iterable[str]:
    yield model.hf_repo
    yield model.hf_repo.split("/", 1)[1]
    yield model.name


def _other_names(model: CatalogModel) -> Iterable[str]:
    yield from model.aliases
    yield from model.ollama
    for repo in model.gguf_repos:
        yield repo
        yield repo.split("/", 1)[-1]


def _candidates(text: str) -> list[str]:
    """The keys to try for `text`, most literal first."""
    key = text.strip().casefold()
    for prefix in _URL_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    key = key.rstrip("/")
    found = [key]
    if ":" in key:
        name, _, tag = key.partition(":")
        if "/" in name:  # hf.co/owner/repo:Q4_K_M names a quant of a repo
            found.append(name)
        else:
            tag = _QUANT_SUFFIX.sub("", tag)
            found.append(f"{name}:{tag}")
            for word in _DEFAULT_WORDS:
                if tag.endswith(word):
                    found.append(f"{name}:{tag[: -len(word)]}")
            if tag in {"", "latest"}:
                found.append(f"{name}:latest")
    elif "/" not in key:
        found.append(f"{key}:latest")  # Ollama reads a bare name as name:latest
    if key.endswith("-gguf"):
        found.append(key[: -len("-gguf")])
    return found


def find_model(name: str, dataset: Dataset | None = None) -> CatalogModel | None:
    """Return the catalog model `name` stands for, or None.

    `name` may be a Hub repo id (any case), a repo name without its owner, an alias, a GGUF repo
    of the model, or an Ollama tag with or without a quant suffix (`qwen2.5-coder:7b`).
    """
    index = _index(_dataset(dataset))
    for key in _candidates(name):
        model = index.get(key)
        if model is not None:
            return model
    return None


def suggest_models(name: str, n: int = 3, dataset: Dataset | None = None) -> list[str]:
    """Return up to `n` catalog names that look like `name` (for 'did you mean' hints).

    Repo ids are suggested for repo-like input, Ollama tags for tag-like input.
    """
    from .dataset import closest_names

    ds = _dataset(dataset)
    keys = _candidates(name)
    key = keys[0]
    wants_tag = ":" in key and "/" not in key
    if wants_tag:
        key = keys[1]  # without the quant suffix
    pool: dict[str, str] = {}  # what is compared → what is shown
    for model in ds.models.values():
        if wants_tag:
            for tag in model.ollama:
                pool.setdefault(tag, tag)
        else:
            pool.setdefault(model.hf_repo, model.hf_repo)
            pool.setdefault(model.hf_repo.split("/", 1)[1], model.hf_repo)
    probe = key if "/" in key or wants_tag else key.rsplit("/", 1)[-1]
    shown: list[str] = []
    for hit in closest_names(probe, pool, n=n * 3):
        if pool[hit] not in shown:
            shown.append(pool[hit])
    return shown[:n]


def lookup_model(name: str, dataset: Dataset | None = None) -> CatalogModel:
    """Return the catalog model `name` stands for; raise ModelResolutionError with suggestions."""
    ds = _dataset(dataset)
    found = find_model(name, ds)
    if found is not None:
        return found
    close = suggest_models(name, dataset=ds)
    raise ModelResolutionError(
        f"{name.strip()!r} is not in the model catalog",
        hint=f"did you mean {', '.join(close)}?" if close else "pass a Hub repo id owner/name or a size such as 8b",
    )


def models_for(
    purpose: Purpose | None = None,
    *,
    min_params_billions: float | None = None,
    max_params_billions: float | None = None,
    instruct: bool | None = True,
    dataset: Dataset | None = None,
) -> list[CatalogModel]:
    """Return catalog models for `purpose` (None: any) within a size range, smallest first.

    Sizes are total parameters in billions. `instruct=True` keeps chat/instruct checkpoints,
    False base checkpoints, None both. Models are not ranked against each other: within a size
    the file order of data/models.yaml is kept.
    """
    chosen = [
        model
        for model in _dataset(dataset).models.values()
        if (purpose is None or purpose in model.purposes)
        and (instruct is None or model.instruct == instruct)
        and (min_params_billions is None or model.params_billions >= min_params_billions)
        and (max_params_billions is None or model.params_billions <= max_params_billions)
    ]
    return sorted(chosen, key=lambda m: m.params_billions)  # sorted() is stable: file order within a size


def model_shape(model: CatalogModel | str, dataset: Dataset | None = None) -> ModelShape:
    """Return the ModelShape (cited config.json fields) of a catalog model or name."""
    ds = _dataset(dataset)
    entry = lookup_model(model, ds) if isinstance(model, str) else model
    return ds.model_shapes[entry.shape]


def catalog_spec(model: CatalogModel | str, dataset: Dataset | None = None) -> ModelSpec:
    """Return the ModelSpec of a catalog model (or of the model a name stands for), from its config.json fields.

    The same object comes back for the same model and dataset, so memory plans cached by
    identity are reused across calls.
    """
    ds = _dataset(dataset)
    entry = lookup_model(model, ds) if isinstance(model, str) else model
    shape = ds.model_shapes[entry.shape]

    def build() -> ModelSpec:
        from .architecture import spec_from_config

        spec = spec_from_config(shape.config, name=entry.name)
        return spec.model_copy(update={"origin": f"catalog {entry.hf_repo}"})

    return ds.derived(("catalog-spec", entry.hf_repo, shape.id), build)
