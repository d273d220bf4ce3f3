"""expected_loss(): the loss of one format (or KV-cache type) for a task and a model, with its evidence.

A thin public front on quality/: resolves the format's name (aliases, any case), the task and the
model (a size shorthand of any size, a catalog name, a config), then asks the fitted model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .architecture import ModelSpec
    from .dataset import Dataset
    from .results import LossEstimate

__all__ = ["expected_loss", "loss_formats"]

DEFAULT_PARAMS_B = 8.0
# llama.cpp's KV-cache types a "KV-<type>" name may carry (--cache-type-k/-v).
_KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


def loss_formats(dataset: Dataset | None = None) -> list[str]:
    """Every name expected_loss prices: data/formats.yaml's formats, the serving INT widths, and KV-cache types."""
    from .dataset import load_dataset
    from .quality.distortion import ASSUMED_EQUIVALENT

    ds = dataset or load_dataset()
    names = list(ds.formats)
    names += [n for n in ASSUMED_EQUIVALENT if n not in ds.formats]
    names += [f"KV-{t}" for t in _KV_TYPES if t not in {"f32", "f16", "bf16"}]
    return names


def expected_loss(
    quant: str,
    task: str,
    *,
    model: str | ModelSpec | None = None,
    params_billions: float | None = None,
    active_params_billions: float | None = None,
    cache_type_k: str = "f16",
    cache_type_v: str = "f16",
    imatrix: bool | None = None,
    dataset: Dataset | None = None,
) -> LossEstimate:
    """Expected relative loss of `quant` on `task`'s benchmarks, with the evidence ids it rests on.

    Args:
        quant: a GGUF type or serving format (Q4_K_M, IQ4_XS, W4A16-INT, GPTQ-Int8, NVFP4 …), or
            "KV-q8_0" / "KV-q8_0/q4_0" for an unquantized model with that K/V cache.
        task: code, math, reasoning, chat, qa, summarization, translation, rag (aliases accepted).
        model: a size ("8b", "0.5b", "405b", "671b-a37b": any size, scaled from the nearest
            reference shape and labelled approximate), a catalog name, or a ModelSpec.
        params_billions: the size directly, in billions of parameters (beats `model`'s).
        active_params_billions: for an MoE, the parameters each token uses (beats `model`'s).
        cache_type_k: the K cache type the model runs with; its cost is added.
        cache_type_v: the V cache type, likewise.

    Returns:
        A LossEstimate (a LossRange): mid/low/high as fractions (None with a reason in `notes` when nothing prices
        the format), `records` and `sources` it rests on, `estimate` when no record measured it.

    Example:
        >>> expected_loss("Q4_K_M", "code", model="8b").mid  # doctest: +SKIP
        0.011
    """
    from .construct import construct
    from .dataset import Dataset, load_dataset
    from .memory.runtime import validate_cache_types
    from .quality import expected_loss as quality_loss
    from .quality import kv_cache_distortion
    from .request import normalise_task
    from .results import LossEstimate

    if dataset is not None and not isinstance(dataset, Dataset):
        raise InvalidRequestError(f"dataset must be a Dataset from load_dataset(), not {type(dataset).__name__}")
    if imatrix is not None and not isinstance(imatrix, bool):
        raise InvalidRequestError(f"imatrix must be True, False or None, not {type(imatrix).__name__}")
    # The cost of a V cache does not depend on flash attention, which only gates whether llama.cpp runs it.
    cache_type_k, cache_type_v = validate_cache_types(cache_type_k, cache_type_v, flash_attn=True)
    ds = dataset or load_dataset()
    if not isinstance(quant, str) or not quant.strip():
        raise InvalidRequestError(f"the format must be a name such as Q4_K_M, not {quant!r}")
    name = _format_name(quant.strip(), ds)
    task = normalise_task(task)
    params, active, family, notes = _size(model, params_billions, active_params_billions, ds)
    params = _checked_size(params, "params_billions") or DEFAULT_PARAMS_B  # never None: checked
    active = _checked_size(active, "active_params_billions")
    if active is not None and active > params:
        raise InvalidRequestError(f"active_params_billions ({active:g}) exceeds params_billions ({params:g})")
    e = quality_loss(
        name, task, params_billions=params, active_params_billions=active, family=family, dataset=ds,
        imatrix=imatrix, cache_type_k=cache_type_k, cache_type_v=cache_type_v,
    )  # fmt: skip
    if name.startswith("KV-"):
        k, _, v = name[3:].partition("/")
        cache_type_k, cache_type_v = k, v or k
    # Named only when its cost is in the figures (a type no run measures is said in the notes instead).
    priced = kv_cache_distortion(ds, cache_type_k, cache_type_v)
    kv = None if priced is None or priced[0] <= 0 else f"{cache_type_k}/{cache_type_v}"  # f32/bf16 cost nothing

    def finite(x: float) -> float | None:
        return None if math.isnan(x) else x  # nothing prices it

    return construct(
        LossEstimate,
        mid=finite(e.mid), low=finite(e.low), high=finite(e.high), estimate=e.estimate, records=list(e.evidence),
        model_low=finite(e.model_low), model_high=finite(e.model_high),
        kv_cache=kv, sources=list(e.sources), notes=[*notes, *e.notes], format=name, task=task,
        params_billions=params, active_params_billions=active,
    )  # fmt: skip


def _format_name(quant: str, ds: Dataset) -> str:
    from .quality.distortion import ASSUMED_EQUIVALENT

    if quant.upper().startswith("KV-"):
        k, _, v = quant[3:].casefold().partition("/")
        for t in (k, v or k):
            if t not in _KV_TYPES:
                raise InvalidRequestError(f"unknown KV-cache type {t!r}", hint=f"use one of {', '.join(_KV_TYPES)}")
        return f"KV-{k}" + (f"/{v}" if v and v != k else "")
    for extra in ASSUMED_EQUIVALENT:
        if quant.casefold() == extra.casefold():
            return extra
    return ds.format(quant).name  # raises with a did-you-mean for an unknown name


def _checked_size(value: object, label: str) -> float | None:
    """A size in billions as a float, refused unless a positive finite number up to MAX_PARAMS_BILLIONS."""
    from .limits import MAX_PARAMS_BILLIONS, MIN_PARAMS_BILLIONS, real_number

    if value is None and label == "active_params_billions":
        return None
    number = real_number(value)
    if number is None or not MIN_PARAMS_BILLIONS <= number <= MAX_PARAMS_BILLIONS:
        raise InvalidRequestError(
            f"{label} must be a number of billions from {MIN_PARAMS_BILLIONS:g} to {MAX_PARAMS_BILLIONS:g}, "
            f"not {value!r:.40}"
        )
    return number


def _size(
    model: str | ModelSpec | None, params: float | None, active: float | None, ds: Dataset
) -> tuple[float, float | None, str | None, list[str]]:
    """(total, active, family, notes) from the arguments; an 8B model when none is given."""
    from .architecture import ModelSpec, load_model_spec, nearest_reference, shorthand_size

    if params is not None:
        family = model.stands_for or model.name if isinstance(model, ModelSpec) else model
        return params, active, family, []
    if model is None:
        return DEFAULT_PARAMS_B, None, None, [f"no model given: a dense model of {DEFAULT_PARAMS_B:g}B parameters"]
    if isinstance(model, ModelSpec):
        return (*_spec_params(model), model.stands_for or model.name, [])
    text = str(model).strip()
    size = shorthand_size(text)
    if size is not None:
        # The shape suggest plans with (a reference, a catalog model of that size, or a stretched
        # reference): "20b" is gpt-oss-20b's MoE, "671b-a37b" DeepSeek-V3's, in both commands.
        spec = load_model_spec(text, ds)
        if "scaled to" not in (spec.stands_for or ""):  # a real model's shape, not a stretched one
            total, active = _spec_params(spec)
            return total, active, spec.stands_for, [f"size {text}: {spec.stands_for}, approximate for other models"]
        # Any other size: the loss scales with the size itself; the family is unknown (factor 1).
        ref = nearest_reference(*size, ds)
        note = f"size {text}: scaled from the nearest reference shape ({ref.shorthand}, {ref.stands_for}), approximate"
        return size[0], size[1], None, [note]
    from .catalog import find_model
    from .request import resolve_model

    found = find_model(text, ds)
    if found is not None:
        return found.params_billions, found.active_params_billions, found.name, []
    spec = resolve_model(text, ds)  # a reference shorthand such as 8x7b, a config.json, a GGUF file
    notes = [f"size {text}: {spec.stands_for}, approximate for other models"] if spec.approximate else []
    return (*_spec_params(spec), spec.stands_for or spec.name, notes)


def _spec_params(spec: ModelSpec) -> tuple[float, float | None]:
    from .planner import model_params

    return model_params(spec)
