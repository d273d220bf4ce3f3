"""Memory model: GGUF file sizes per tensor, llama.cpp runtime memory, and fitting a VRAM budget.

`estimate_memory()` is the stable entry point; the submodules hold the pure arithmetic:
tensors (shapes), mixes (which type each tensor gets), runtime (placement and buffers), fit.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from .mixes import GGUF_FILE_TYPES, MixAssigner, assign_types, count_attn_v
from .runtime import (
    CACHE_TYPES,
    DEFAULTS,
    Layout,
    MemoryEstimate,
    RuntimeConstants,
    TypedTensor,
    kv_cache_bytes,
    layer_sums,
    plan_runtime,
    validate_cache_types,
)
from .tensors import LayerStructures, Tensor, layer_structures, tensor_inventory

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..architecture import ModelSpec
    from ..dataset import Dataset

__all__ = [
    "CACHE_TYPES",
    "GGUF_FILE_TYPES",
    "MemoryEstimate",
    "RuntimeConstants",
    "Tensor",
    "TypedTensor",
    "checkpoint_bytes",
    "estimate_memory",
    "gguf_file_bytes",
    "gguf_layout",
    "gpu_weights_floor",
    "header_bytes",
    "kv_cache_bytes",
    "model_tensors",
    "parameter_count",
    "type_sizes",
    "typed_tensors",
]


def type_sizes(dataset: Dataset | None = None) -> dict[str, tuple[int, int]]:
    """ggml type name → (weights per block, bytes per block), from data/formats.yaml.

    The same dict object is returned for the same dataset (treat it as read-only): the layout
    cache below keys on it.
    """
    from ..dataset import load_dataset

    ds = dataset or load_dataset()
    return ds.derived(
        "type_sizes", lambda: {name: (t.block_size, t.bytes_per_block) for name, t in ds.ggml_types.items()}
    )


class _IdentityCache:
    """A small LRU keyed by the identity of (spec, sizes) plus plain values.

    Hashing a ModelSpec (a pydantic model with per-layer tuples) on every lookup cost more than
    the arithmetic it saved; the planner reuses the same objects, so identity is the right key.
    The cache holds the objects it keys on, so their ids stay unique while cached.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: OrderedDict[tuple[object, ...], tuple[tuple[object, ...], Any]] = OrderedDict()

    def get(self, objects: tuple[object, ...], extra: tuple[object, ...]) -> Any:
        key = (*map(id, objects), *extra)
        hit = self.items.get(key)
        if hit is None or any(a is not b for a, b in zip(hit[0], objects, strict=True)):
            return None
        self.items.move_to_end(key)
        return hit[1]

    def put(self, objects: tuple[object, ...], extra: tuple[object, ...], value: Any) -> None:
        self.items[(*map(id, objects), *extra)] = (objects, value)
        if len(self.items) > self.size:
            self.items.popitem(last=False)


_PLANS = _IdentityCache()


def _plan_for(
    spec: ModelSpec, ft: str, sizes: Mapping[str, tuple[int, int]], imatrix: bool, constants: RuntimeConstants
) -> tuple[Layout, int]:
    """The per-layer layout and the file size of one (shape, file type), cached.

    A model repeats a few layer structures; within one, the types depend only on the layer's
    position class (mixes.position_class), so each (structure, class) is typed and sized once.
    """
    cached = _PLANS.get((spec, sizes), (ft, imatrix, constants))
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    inventory = _structures(spec)
    block_sizes = {name: block for name, (block, _) in sizes.items()}
    mix = MixAssigner(spec, _attn_v_count(spec), ft, block_sizes, imatrix=imatrix)
    global_types = mix.types(inventory.global_tensors)
    global_tensors = [
        (t, _tensor_bytes(ty, t.shape, sizes)) for t, ty in zip(inventory.global_tensors, global_types, strict=True)
    ]
    data = sum(_pad32(size) for _, size in global_tensors)  # tensor data, each tensor padded to 32 bytes
    layers: dict[int, tuple[int, int, int, int]] = {}
    done: dict[int, tuple[tuple[int, int, int, int], int, int, tuple[tuple[str, int, bool], ...]]] = {}
    type_bytes: dict[tuple[str, bool], int] = {}
    for layer, structure in enumerate(inventory.layer_structure):
        key = structure << 12 | mix.state(layer)
        hit = done.get(key)
        if hit is None:
            wv = mix.counters["wv"]
            group = inventory.structures[structure]
            types = mix.types(group, layer=layer)
            nbytes = [_tensor_bytes(ty, t.shape, sizes) for t, ty in zip(group, types, strict=True)]
            typed = tuple((ty, n, t.is_expert) for t, ty, n in zip(group, types, nbytes, strict=True))
            hit = done[key] = (layer_sums(group, nbytes), sum(map(_pad32, nbytes)), mix.counters["wv"] - wv, typed)
        else:
            mix.counters["wv"] += hit[2]
        layers[layer] = hit[0]
        data += hit[1]
        for ty, n, is_expert in hit[3]:
            type_bytes[ty, is_expert] = type_bytes.get((ty, is_expert), 0) + n
    output_types: dict[str, int] = {}
    for (t, size), ty in zip(global_tensors, global_types, strict=True):
        if t.role in {"output", "output_norm"}:
            output_types[ty] = output_types.get(ty, 0) + size
    layout = dataclasses.replace(
        Layout.from_parts(spec, global_tensors, layers),
        dense_type_bytes=tuple((ty, n) for (ty, e), n in type_bytes.items() if not e),
        expert_type_bytes=tuple((ty, n) for (ty, e), n in type_bytes.items() if e),
        output_type_bytes=tuple(output_types.items()),
    )
    value = (layout, header_bytes(spec, constants) + _infos_bytes(spec) + data)
    _PLANS.put((spec, sizes), (ft, imatrix, constants), value)
    return value


def _pad32(size: int) -> int:
    return -(-size // 32) * 32


_STRUCTURES = _IdentityCache()


def _structures(spec: ModelSpec) -> LayerStructures:
    """layer_structures(spec), cached by identity."""
    cached = _STRUCTURES.get((spec,), ())
    if cached is None:
        cached = layer_structures(spec)
        _STRUCTURES.put((spec,), (), cached)
    return cached  # type: ignore[no-any-return]


def _attn_v_count(spec: ModelSpec) -> int:
    """count_attn_v over the whole inventory, from its structures."""
    return count_attn_v(_structures(spec).with_counts())


def gpu_weights_floor(spec: ModelSpec, block_types: Sequence[str], sizes: Mapping[str, tuple[int, int]]) -> int:
    """A lower bound on the GPU weights of a GGUF with every layer offloaded, without typing it.

    Every quantizable weight is stored in one of the format's block types (data/formats.yaml; a
    row-size fallback only ever picks a larger type), so none takes fewer bits than the smallest of
    them; F32 tensors take 4 bytes a weight. The input embedding stays on the host unless tied.
    """
    bits = min(8 * sizes[t][1] / sizes[t][0] for t in block_types)
    total = 0.0
    for t, n in _structures(spec).with_counts():
        if t.role == "rope_freqs" or (t.role == "token_embd" and not spec.tied_embeddings):
            continue
        total += n * t.n_elements * (bits / 8 if t.quantizable else 4)
    return int(total)


def parameter_count(spec: ModelSpec) -> tuple[int, int]:
    """(all weights, weights read per token): experts count n_expert_used / n_expert of their size."""
    total = active = 0.0
    share = spec.n_expert_used / spec.n_expert if spec.n_expert else 1.0
    for t, n in _structures(spec).with_counts():
        total += t.n_elements * n
        active += t.n_elements * n * (share if t.is_expert else 1.0)
    return int(total), round(active)


def gguf_layout(
    spec: ModelSpec,
    file_type: str,
    sizes: Mapping[str, tuple[int, int]],
    *,
    imatrix: bool,
    constants: RuntimeConstants = DEFAULTS,
) -> tuple[Layout, int]:
    """The per-layer byte layout and file size of a `file_type` GGUF of `spec` (Q4_K_M, q4_k_m, …).

    For planners that place one file many times (every -ngl of a search): plan_runtime takes the
    layout directly, skipping estimate_memory's argument checks and model resolution.
    """
    return _plan_for(spec, _gguf_name(file_type), sizes, imatrix, constants)


def _file_bytes(spec: ModelSpec, infos: int, nbytes: list[int], constants: RuntimeConstants) -> int:
    """GGUF file size: metadata (mostly the tokenizer) + tensor infos + 32-byte-aligned tensor data."""
    return header_bytes(spec, constants) + infos + sum(map(_pad32, nbytes))


# GGUF metadata bytes per vocabulary token (mostly the tokenizer's arrays) by tokenizer family: what
# published files leave over after their exact tensor data and tensor-info records, within ~500 B
# across every quant of a family (docs/research/gguf-file-sizes.md, 41 files). BPE files also store
# the merges; SentencePiece files store scores instead. Other families use the Llama-3 figure
# measured on the calibration files (RuntimeConstants.header_bytes_per_token).
_HEADER_BYTES_PER_TOKEN: dict[str, float] = {
    "gemma2": 23.6, "gemma3": 24.8, "gemma3_text": 24.8,  # SentencePiece, 256,000 / 262,144 tokens
    "qwen2": 39.0, "qwen2_moe": 39.0, "qwen3": 39.0, "qwen3_moe": 39.0,  # Qwen BPE, ~152k tokens
    "gpt_oss": 64.6,  # o200k BPE, 201,088 tokens
}  # fmt: skip
# Llama-2, Mistral 7B v0.x, Phi-3: SentencePiece vocabularies of at most 32,768 tokens (a 2023
# TinyLlama conversion with a merges list showed 53 B/token: converters differ).
_SENTENCEPIECE_32K = (22.6, {"llama", "mistral", "phi3"}, 32768)


def header_bytes(spec: ModelSpec, constants: RuntimeConstants = DEFAULTS) -> int:
    """Bytes of a GGUF file before its tensor infos: metadata, mostly the tokenizer."""
    per_token = _HEADER_BYTES_PER_TOKEN.get(spec.arch)
    small_spm, archs, max_vocab = _SENTENCEPIECE_32K
    if per_token is None and spec.arch in archs and spec.n_vocab <= max_vocab:
        per_token = small_spm
    return round((per_token if per_token is not None else constants.header_bytes_per_token) * spec.n_vocab)


def _info_records(tensors: list[Tensor]) -> int:
    """GGUF tensor-info records: name string, dims, type and offset per tensor (type-independent)."""
    return sum(len(t.name) + 8 + 4 + 8 * len(t.shape) + 4 + 8 for t in tensors)


_INFOS = _IdentityCache()


def _infos_bytes(spec: ModelSpec) -> int:
    """_info_records of spec's own inventory, from its structures, cached by identity.

    A layer's tensor names differ from its structure's representative only in the digits of blk.N.
    """
    cached = _INFOS.get((spec,), ())
    if cached is None:
        inventory = _structures(spec)
        rep_layer = [(group[0].layer or 0) if group else 0 for group in inventory.structures]
        per_structure = [_info_records(group) for group in inventory.structures]
        cached = _info_records(inventory.global_tensors) + sum(
            per_structure[s] + len(inventory.structures[s]) * (len(str(il)) - len(str(rep_layer[s])))
            for il, s in enumerate(inventory.layer_structure)
        )
        _INFOS.put((spec,), (), cached)
    return cached  # type: ignore[no-any-return]


def _tensor_bytes(ggml_type: str, shape: tuple[int, ...], sizes: Mapping[str, tuple[int, int]]) -> int:
    block, nbytes = sizes[ggml_type]
    rows = 1
    for dim in shape[1:]:
        rows *= dim
    return rows * (shape[0] // block) * nbytes


def typed_tensors(
    spec: ModelSpec, file_type: str, sizes: Mapping[str, tuple[int, int]], *, imatrix: bool = False
) -> list[TypedTensor]:
    """Every tensor of a `file_type` GGUF of `spec` with its ggml type and exact byte size."""
    return list(_typed(spec, _gguf_name(file_type), sizes, imatrix))


_INVENTORIES = _IdentityCache()


def model_tensors(spec: ModelSpec) -> list[Tensor]:
    """tensor_inventory(spec), cached by identity; treat the list as read-only."""
    return _inventory(spec)


def _inventory(spec: ModelSpec) -> list[Tensor]:
    """tensor_inventory, cached by identity: the same for every file type of one shape."""
    tensors = _INVENTORIES.get((spec,), ())
    if tensors is None:
        tensors = tensor_inventory(spec)
        _INVENTORIES.put((spec,), (), tensors)
    return tensors  # type: ignore[no-any-return]


def _typed(spec: ModelSpec, ft: str, sizes: Mapping[str, tuple[int, int]], imatrix: bool) -> tuple[TypedTensor, ...]:
    tensors = _inventory(spec)
    block_sizes = {name: block for name, (block, _) in sizes.items()}
    types = assign_types(spec, tensors, ft, block_sizes, imatrix=imatrix)
    return tuple(TypedTensor(t, ty, _tensor_bytes(ty, t.shape, sizes)) for t, ty in zip(tensors, types, strict=True))


def _gguf_name(file_type: str) -> str:
    wanted = file_type.strip().upper()
    aliases = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M", "FP16": "F16", "FP32": "F32"}
    wanted = aliases.get(wanted, wanted)
    if wanted not in GGUF_FILE_TYPES:
        from ..dataset import closest_names

        close = closest_names(file_type, GGUF_FILE_TYPES)
        raise InvalidRequestError(
            f"{file_type!r} is not a GGUF file type",
            hint=f"did you mean {', '.join(close)}?" if close else f"use one of {', '.join(GGUF_FILE_TYPES)}",
        )
    return wanted


def gguf_file_bytes(typed: list[TypedTensor], spec: ModelSpec, constants: RuntimeConstants = DEFAULTS) -> int:
    """GGUF file size of typed tensors: metadata + tensor infos + 32-byte-aligned tensor data."""
    return _file_bytes(spec, _info_records([t.tensor for t in typed]), [t.nbytes for t in typed], constants)


def checkpoint_bytes(spec: ModelSpec, fmt: str, dataset: Dataset | None = None) -> int:
    """Size of a safetensors checkpoint in a serving format (NVFP4, FP8, W4A16-INT, BF16 …).

    Linear layers take the format's storage bits from data/formats.yaml (NVFP4 4.5, MXFP4 4.25,
    FP8/INT8 8, INT4 with group-128 FP16 scales 4.125); embeddings, LM head and norms stay BF16, as
    ModelOpt and compressed-tensors checkpoints keep them.
    """
    from ..dataset import load_dataset

    ds = dataset or load_dataset()
    serving = {name: f for name, f in ds.formats.items() if f.family == "serving"}
    if fmt not in serving:
        raise InvalidRequestError(f"{fmt!r} is not a checkpoint format", hint=", ".join(serving))
    bits = serving[fmt].block_bits_per_weight
    total = 0.0
    for t in _inventory(spec):
        if t.quantizable and t.role not in {"token_embd", "output"}:
            total += t.n_elements * bits / 8
        else:
            total += t.n_elements * 2
    return int(total)


def _check_int(name: str, value: object, minimum: int, maximum: int = 2**31) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        what = "a positive integer" if minimum == 1 else f"an integer of at least {minimum}"
        shown = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge number"
        raise InvalidRequestError(f"{name} must be {what} (at most {maximum:,}), not {shown[:80]}")


def estimate_memory(
    model: str | Path | dict[str, Any] | ModelSpec,
    quant: str,
    *,
    context_tokens: int = 4096,
    gpu_layers: int | None = None,
    cache_type_k: str = "f16",
    cache_type_v: str = "f16",
    flash_attn: bool = False,
    n_ubatch: int = 512,
    n_cpu_moe: int = 0,
    n_gpus: int = 1,
    imatrix: bool | None = None,
    gpu_present: bool = True,
    dataset: Dataset | None = None,
    constants: RuntimeConstants = DEFAULTS,
) -> MemoryEstimate:
    """Predict what llama.cpp allocates for `model` as a `quant` GGUF.

    Args:
        model: a size shorthand ("8b", "30b-a3b"), a config.json (dict, file or folder), a .gguf
            file (exact tensor types are read from its header), or a ModelSpec.
        quant: a GGUF file type (Q4_K_M, IQ4_XS, Q8_0, …).
        gpu_layers: llama.cpp's -ngl: the output layer plus N-1 repeating layers; None = all.
        imatrix: whether the file was made with an importance matrix (changes a few tensor types
            in IQ4_*, IQ3_XXS and Q4_0/Q5_0); None assumes one for the types that need it.
        n_cpu_moe: llama.cpp's --n-cpu-moe: keep the experts of the first N layers in host RAM.

    Returns:
        A MemoryEstimate with integer byte fields; total_bytes is the GPU footprint.

    Raises:
        InvalidRequestError: an unknown quant or cache type, a quantized V cache without flash
            attention, a non-positive context/ubatch, or a model file that does not exist.
        ModelResolutionError: an unknown size shorthand, or a config/GGUF whose shape cannot be read.
        DatasetError: the bundled or --data records fail validation.
    """
    from ..architecture import load_model_spec
    from ..dataset import Dataset, load_dataset

    # The result is built without validation (construct.py), so the arguments are checked here.
    from ..limits import MAX_CONTEXT_TOKENS

    _check_int("context_tokens", context_tokens, 1, MAX_CONTEXT_TOKENS)
    _check_int("n_ubatch", n_ubatch, 1)
    _check_int("n_gpus", n_gpus, 1, 1024)
    if not isinstance(quant, str):
        raise InvalidRequestError(f"quant must be a GGUF type name such as Q4_K_M, not {type(quant).__name__}")
    if dataset is not None and not isinstance(dataset, Dataset):
        raise InvalidRequestError(f"dataset must be a Dataset from load_dataset(), not {type(dataset).__name__}")
    if not isinstance(constants, RuntimeConstants):
        raise InvalidRequestError(f"constants must be RuntimeConstants, not {type(constants).__name__}")
    _check_int("n_cpu_moe", n_cpu_moe, 0)
    if gpu_layers is not None:
        _check_int("gpu_layers", gpu_layers, 0)
    for name, flag in (("flash_attn", flash_attn), ("gpu_present", gpu_present)):
        if not isinstance(flag, bool):
            raise InvalidRequestError(f"{name} must be True or False, not {flag!r}")
    if imatrix is not None and not isinstance(imatrix, bool):
        raise InvalidRequestError(f"imatrix must be True, False or None, not {imatrix!r}")
    k, v = validate_cache_types(cache_type_k, cache_type_v, flash_attn=flash_attn)
    ds = dataset or load_dataset()
    sizes = type_sizes(ds)
    from ..untrusted import is_file, local_path

    is_gguf = isinstance(model, (str, Path)) and str(model).endswith(".gguf")
    gguf_path = local_path(str(model)) if is_gguf else None
    typed: list[TypedTensor] | Layout
    file_note: str | None = None
    if gguf_path is not None and is_file(gguf_path):
        from .gguf_file import typed_tensors_from_gguf

        spec, typed, file_bytes, quant_name = typed_tensors_from_gguf(gguf_path, sizes)
        if quant and quant.strip().upper() not in {quant_name.upper(), "FILE"}:
            file_note = f"{gguf_path.name} is {quant_name}: sized from its own tensors, not as {quant}"

    else:
        spec = load_model_spec(model, ds)
        quant_name = _gguf_name(quant)
        fmt = ds.find_format(quant_name)
        use_imatrix = bool(fmt.needs_imatrix) if imatrix is None and fmt is not None else bool(imatrix)
        layout, file_bytes = _plan_for(spec, quant_name, sizes, use_imatrix, constants)
        typed = layout
    estimate = plan_runtime(
        spec, typed, sizes, quant=quant_name, file_bytes=file_bytes, context_tokens=context_tokens,
        gpu_layers=gpu_layers, cache_type_k=k, cache_type_v=v, flash_attn=flash_attn, n_ubatch=n_ubatch,
        n_cpu_moe=n_cpu_moe, n_gpus=n_gpus, gpu_present=gpu_present, constants=constants,
    )  # fmt: skip
    if file_note:
        estimate = estimate.model_copy(update={"notes": [*estimate.notes, file_note]})
    return estimate
