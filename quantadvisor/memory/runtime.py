"""What llama.cpp allocates at run time: weights per device, KV cache, compute buffers, CUDA context.

Pure arithmetic on a ModelSpec and a per-tensor type plan; see docs/methodology.md for the
equations and the calibration rows each constant came from.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ..construct import construct
from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ..architecture import ModelSpec
    from .tensors import Tensor

__all__ = [
    "CACHE_TYPES",
    "MemoryEstimate",
    "RuntimeConstants",
    "TypedTensor",
    "kv_cache_bytes",
    "plan_runtime",
]

MIB = 1024 * 1024

# llama.cpp's --cache-type-k/-ctk and -ctv accept exactly these (common/arg.cpp kv_cache_types).
CACHE_TYPES: dict[str, str] = {
    "f32": "F32", "f16": "F16", "bf16": "BF16", "q8_0": "Q8_0", "q4_0": "Q4_0",
    "q4_1": "Q4_1", "iq4_nl": "IQ4_NL", "q5_0": "Q5_0", "q5_1": "Q5_1",
}  # fmt: skip
_UNQUANTIZED_CACHE = {"f32", "f16", "bf16"}


@dataclass(frozen=True)
class RuntimeConstants:
    """Constants not derivable from shapes, each measured (see docs/methodology.md for the rows).

    cuda_context_bytes: NVML footprint minus llama.cpp's buffers with -ngl 0 (528 MiB, H100,
    CUDA 13, llama.cpp 0c1e57098). offload_runtime_bytes: the extra seen whenever layers run on
    the GPU (595-602 MiB in all 27 offloaded runs, so 597 - 528 = 69 MiB). kv_pad: llama.cpp pads
    the cache length to 256 cells. header_bytes_per_token: GGUF metadata, mostly the tokenizer,
    measured as file size minus tensor bytes over n_vocab (61 B/token, Llama-3.1 BPE tokenizer);
    the default for tokenizer families without their own figure (memory.header_bytes).
    """

    cuda_context_bytes: int = 528 * MIB
    offload_runtime_bytes: int = 69 * MIB
    kv_pad: int = 256
    header_bytes_per_token: int = 61


DEFAULTS = RuntimeConstants()


@dataclass(frozen=True)
class TypedTensor:
    """A tensor with the ggml type it is stored in and its exact size in bytes."""

    tensor: Tensor
    ggml_type: str
    nbytes: int


class MemoryEstimate(BaseModel):
    """What llama.cpp will hold, in bytes. GPU figures cover every GPU used; host is system RAM.

    `n_layers` counts llama.cpp's offloadable layers (repeating layers + the output layer), as its
    "offloaded 33/33 layers" log line does; `gpu_layers` is the matching -ngl value.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    model: str
    quant: str
    file_bytes: int
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int
    total_bytes: int
    prompt_bytes: int = 0
    """Extra GPU memory once a long prompt is processed (CUDA pool, cuBLAS): not in total_bytes,
    which is the footprint after a short prompt, as measured; planners add it for headroom."""
    host_bytes: int
    host_weights_bytes: int
    gpu_expert_bytes: int = 0
    """Of weights_bytes, the MoE expert tensors (only n_expert_used of n_expert are read per token)."""
    host_expert_bytes: int = 0
    """Of host_weights_bytes, the MoE expert tensors kept in RAM (--n-cpu-moe)."""
    input_embedding_bytes: int = 0
    """token_embd, always in RAM; a token reads one row of it, so it costs no bandwidth."""
    host_kv_cache_bytes: int
    host_compute_bytes: int
    gpu_layers: int
    n_layers: int
    n_cpu_moe: int = 0
    per_gpu_bytes: list[int] = []
    context_tokens: int
    cache_type_k: str
    cache_type_v: str
    flash_attn: bool
    n_ubatch: int
    approximate: bool
    notes: list[str] = []

    @property
    def total_gib(self) -> float:
        """GPU total in GiB."""
        return self.total_bytes / 2**30


def _row_bytes(ggml_type: str, n: int, sizes: Mapping[str, tuple[int, int]]) -> float:
    block, nbytes = sizes[ggml_type]
    return n / block * nbytes


def _pad(value: int, to: int) -> int:
    return -(-value // to) * to


def validate_cache_types(cache_type_k: str, cache_type_v: str, *, flash_attn: bool) -> tuple[str, str]:
    """Normalise cache types; a quantized V cache needs flash attention, as in llama.cpp."""
    for label, raw in (("cache_type_k", cache_type_k), ("cache_type_v", cache_type_v)):
        if not isinstance(raw, str):
            raise InvalidRequestError(f"{label} must be a cache type name such as f16, not {type(raw).__name__}")
    k, v = cache_type_k.strip().lower(), cache_type_v.strip().lower()
    for label, value in (("cache_type_k", k), ("cache_type_v", v)):
        if value not in CACHE_TYPES:
            raise InvalidRequestError(
                f"{label} {value!r} is not a llama.cpp cache type", hint=f"use one of {', '.join(CACHE_TYPES)}"
            )
    if v not in _UNQUANTIZED_CACHE and not flash_attn:
        raise InvalidRequestError(
            f"a quantized V cache ({v}) requires flash attention in llama.cpp",
            hint="add --flash-attn (llama.cpp: -fa on), or keep -ctv f16",
        )
    return k, v


def kv_cells(spec: ModelSpec, layer: int, context_tokens: int, n_ubatch: int, pad: int = 256) -> int:
    """Cache cells for one layer: the padded context, or the window plus a ubatch for SWA layers."""
    full = _pad(context_tokens, pad)
    if spec.is_swa(layer) and spec.sliding_window:
        return min(full, _pad(spec.sliding_window + n_ubatch, pad))
    return full


def kv_layer_bytes(
    spec: ModelSpec,
    layer: int,
    context_tokens: int,
    cache_type_k: str,
    cache_type_v: str,
    sizes: Mapping[str, tuple[int, int]],
    *,
    n_ubatch: int = 512,
    pad: int = 256,
) -> int:
    """Bytes of one layer's K and V cache: cells × (n_embd_k_gqa × K bytes + n_embd_v_gqa × V bytes)."""
    if not spec.has_attention(layer):
        return recurrent_state_bytes(spec)
    k_dim, v_dim = _kv_dims(spec)
    cells = kv_cells(spec, layer, context_tokens, n_ubatch, pad)
    k = _row_bytes(CACHE_TYPES[cache_type_k], k_dim, sizes)
    v = _row_bytes(CACHE_TYPES[cache_type_v], v_dim, sizes) if v_dim else 0.0
    return int(cells * (k + v))


def recurrent_state_bytes(spec: ModelSpec, n_seq: int = 1) -> int:
    """F32 state of one linear-attention layer, fixed whatever the context.

    llama.cpp's recurrent memory holds (d_conv − 1)·(d_inner + 2·n_group·d_state) conv values plus a
    d_state × d_inner SSM state per sequence (d_inner = V heads × V dim, n_group = K heads, d_state =
    K dim): about 2.1 MiB a layer for Qwen3.5-35B-A3B.
    """
    if not spec.linear_v_heads:
        return 0
    d_inner = spec.linear_v_heads * spec.linear_v_dim
    conv = (spec.linear_conv - 1) * (d_inner + 2 * spec.linear_k_heads * spec.linear_k_dim)
    return (conv + spec.linear_k_dim * d_inner) * 4 * n_seq


def kv_cache_bytes(
    spec: ModelSpec,
    context_tokens: int,
    cache_type_k: str,
    cache_type_v: str,
    sizes: Mapping[str, tuple[int, int]],
    *,
    n_ubatch: int = 512,
) -> int:
    """KV cache of the whole model at `context_tokens`."""
    return sum(
        kv_layer_bytes(spec, il, context_tokens, cache_type_k, cache_type_v, sizes, n_ubatch=n_ubatch)
        for il in range(spec.n_layers)
    )


def _kv_dims(spec: ModelSpec) -> tuple[int, int]:
    """(n_embd_k_gqa, n_embd_v_gqa) per attention layer.

    MLA models (DeepSeek V2/V3 family) cache only the compressed latent plus the RoPE part, as
    one KV head of width kv_lora_rank + qk_rope_head_dim; V is a view of K, so -ctv has no effect.
    """
    if spec.uses_mla:
        return spec.kv_lora_rank + spec.qk_rope_head_dim, 0
    return spec.n_head_kv * spec.head_dim_k, spec.n_head_kv * spec.head_dim_v


def compute_buffer_bytes(
    spec: ModelSpec,
    context_tokens: int,
    *,
    flash_attn: bool,
    n_ubatch: int,
    output_on_gpu: bool,
    staged_weight_bytes: int = 0,
    staged_layer_bytes: int = 0,
    host_layer_weight_bytes: int = 0,
    host_weight_is_expert: bool = False,
    staged_kv_bytes: tuple[int, int] = (0, 0),
    kv_f16: bool = True,
    pad: int = 256,
) -> int:
    """The GPU compute buffer: the peak of ggml's graph allocator over the whole graph.

    The allocator frees each tensor after its last use and reuses the best-fitting hole, so the
    buffer is the largest live set, not a sum. Candidates (traced in llama.cpp 0c1e57098, see
    docs/research/compute-buffers.md; u = ubatch, N = cache cells, E = n_embd, M = KQ mask):

    - output: u × (E + vocab) × 4 (the reserve assumes every token of the ubatch is an output);
    - FFN: M + u·4·(2E + max(E, q_dim)) + 3·u·n_ff·4 (gate, up and their product live at once);
    - attention with flash attention: M + u·4·(2E + q_dim) + u·n_head·head_dim_v·4, plus f16
      copies of the whole K and V when the cache is not f16;
    - attention without it: M + u·n_embd_v_gqa·8 + u·4·(2E + 2·q_dim) + N·u·n_head·4 (the scores).

    With layers on the CPU, op offload copies their weights into this buffer for large batches.
    With -ngl 0 (docs/research/ngl0-compute-buffer.md) the output weight is staged on top of the
    final hidden state and the logits on top of it; the hidden state sits at the bottom of the
    buffer, except in the layout seen with Llama-3's rope_freqs and flash attention, where it sits
    above the last FFN's live set (residual, SwiGLU output, staged ffn_down). Each layer's K and V
    cache views are staged too (`staged_kv_bytes`: one layer's K and V copies). With some repeating
    layers (or only their experts, --n-cpu-moe) on the CPU, the largest such weight is staged
    beside one FFN's activations (docs/research/out-of-sample-memory.md §5.2, §5.4: exact on the
    traced --n-cpu-moe run, a lower bound on the dense one).

    Interleaved sliding-window models (Gemma 2/3) build the mask and V indices once per cache.
    """
    u, f32 = n_ubatch, 4
    n_cells = _pad(context_tokens, pad)
    e, q_dim = spec.n_embd, spec.n_head * spec.head_dim_k
    k_gqa, v_gqa = _kv_dims(spec)
    mask = n_cells * u * (2 if flash_attn else 4)
    swa_mask, swa_v_idxs = _swa_cache_inputs(spec, n_cells, u, flash_attn=flash_attn, pad=pad)
    mask += swa_mask
    small = 10 * 1024  # positions, token ids, output ids
    output = u * (e + spec.n_vocab) * f32
    base = small + mask + u * f32 * (2 * e + max(e, q_dim))
    if spec.is_moe:
        ffn = base + 3 * u * f32 * max(spec.n_expert_used * spec.n_ff_exp, spec.n_ff_shexp, spec.n_ff)
    else:
        ffn = base + 3 * u * f32 * spec.n_ff
    scores = n_cells * u * spec.n_head * f32
    if flash_attn:
        attn = small + mask + u * f32 * (2 * e + q_dim) + u * spec.n_head * spec.head_dim_v * f32
        if not kv_f16:
            attn += n_cells * (k_gqa + v_gqa) * 2  # the CUDA FA kernel converts K and V to f16
    else:
        attn = small + mask + u * v_gqa * 8 + swa_v_idxs + u * f32 * (2 * e + 2 * q_dim) + scores
    peak = max(attn, ffn, output if output_on_gpu else 0)
    if staged_weight_bytes:
        # The hidden state is computed in place from the last ffn_down output, wherever the allocator's
        # best fit put that: at offset 0 (a bottom hole was free), or, with Llama-3's rope_freqs and
        # flash attention, just above the last FFN's live set: residual, SwiGLU output, ffn_down copy.
        ffn_width = spec.n_expert_used * spec.n_ff_exp if spec.is_moe else spec.n_ff
        below = u * f32 * (e + ffn_width) + staged_layer_bytes if spec.rope_freqs and flash_attn else 0
        peak = max(peak, below + staged_weight_bytes + output)
    k_copy, v_copy = staged_kv_bytes
    if k_copy or v_copy:
        # Attention of a host-resident layer runs on the GPU on copies of its whole K and V views.
        if flash_attn:
            peak = max(peak, attn + k_copy + v_copy)
        else:
            # v_idxs stay with the CPU's set_rows. From the second of two consecutive full-attention
            # layers on, the residual sits in the freed K slot, so K takes the old V slot and V goes
            # on top (traced on Mistral-Small-24B; iSWA models alternate cache kinds and do not).
            k_slots = 1 if _is_iswa(spec) else 2
            staged_attn = small + mask + u * f32 * (2 * e + 2 * q_dim) + k_slots * k_copy + v_copy + scores
            peak = max(peak, staged_attn)
    if host_layer_weight_bytes and u >= _OP_OFFLOAD_MIN_BATCH:
        # SwiGLU of the FFN (of the used experts), then its output ([E, n_used, u] for experts).
        width = spec.n_expert_used * (spec.n_ff_exp + e) if host_weight_is_expert else spec.n_ff + e
        act = u * f32 * width
        peak = max(peak, base + act + host_layer_weight_bytes)
    return int(peak)


def _staged_kv(
    spec: ModelSpec,
    context_tokens: int,
    cache_type_k: str,
    cache_type_v: str,
    sizes: Mapping[str, tuple[int, int]],
    *,
    pad: int,
) -> tuple[int, int]:
    """Bytes of the K and V views of one full-context layer, as op offload copies them to the GPU."""
    if not any(spec.has_attention(il) for il in range(spec.n_layers)):
        return 0, 0
    k_dim, v_dim = _kv_dims(spec)
    cells = _pad(context_tokens, pad)
    k = _row_bytes(CACHE_TYPES[cache_type_k], k_dim, sizes)
    v = _row_bytes(CACHE_TYPES[cache_type_v], v_dim, sizes) if v_dim else 0.0
    return int(cells * k), int(cells * v)


# ggml-cuda offloads an op on host weights to the GPU from this batch size (ggml-cuda.cu, offload_op).
_OP_OFFLOAD_MIN_BATCH = 32


def _is_iswa(spec: ModelSpec) -> bool:
    """Interleaved sliding-window attention: some attention layers use a window, some do not."""
    if not spec.sliding_window or not spec.swa_layers:
        return False
    kinds = {spec.swa_layers[il] for il in range(spec.n_layers) if spec.has_attention(il)}
    return kinds == {True, False}


def _swa_cache_inputs(spec: ModelSpec, n_cells: int, u: int, *, flash_attn: bool, pad: int) -> tuple[int, int]:
    """The second cache's KQ mask and (without flash attention) V indices of an iSWA model.

    llama.cpp's build_attn_inp_kv_iswa (src/llama-graph.cpp) builds both once per cache; the
    sliding-window cache holds min(N, pad(window + ubatch)) cells.
    """
    if not _is_iswa(spec) or spec.sliding_window is None:
        return 0, 0
    n_swa = min(n_cells, _pad(spec.sliding_window + u, pad))
    _, v_gqa = _kv_dims(spec)
    return n_swa * u * (2 if flash_attn else 4), (0 if flash_attn else u * v_gqa * 8)


def host_compute_bytes(spec: ModelSpec, context_tokens: int, *, flash_attn: bool, n_ubatch: int) -> int:
    """The pinned host compute buffer: the ubatch's embeddings (twice), the KQ mask, V indices
    (one mask and one index set per cache for iSWA models)."""
    n_cells = _pad(context_tokens, 256)
    _, v_gqa = _kv_dims(spec)
    mask = n_cells * n_ubatch * (2 if flash_attn else 4)
    v_idxs = 0 if flash_attn else n_ubatch * v_gqa * 8  # int64 indices into the transposed V cache
    swa_mask, swa_v_idxs = _swa_cache_inputs(spec, n_cells, n_ubatch, flash_attn=flash_attn, pad=256)
    return 2 * n_ubatch * spec.n_embd * 4 + mask + v_idxs + swa_mask + swa_v_idxs


def prompt_pool_bytes(spec: ModelSpec, context_tokens: int, *, flash_attn: bool, n_ubatch: int) -> int:
    """Extra GPU memory once a prompt fills the context (not in a short-prompt footprint).

    The CUDA pool grows to 12 MiB for any prompt of a ubatch or more; without flash attention it
    also keeps an f16 copy of the softmaxed scores (cells × ubatch × n_head × 2) and cuBLAS takes
    ~96 MiB with its workspace on first use. Measured: +170 MiB at a 2.3k prompt, +1 GiB at 30k.
    """
    pool = 12 * MIB
    if flash_attn:
        return pool
    n_cells = _pad(context_tokens, 256)
    scores = n_cells * n_ubatch * spec.n_head * 2 + n_ubatch * spec.n_head * spec.head_dim_v * 2
    return pool + scores + 96 * MIB


_KINDS: dict[int, tuple[object, tuple[tuple[bool, bool], ...]]] = {}


def _layer_kinds(spec: ModelSpec) -> tuple[tuple[bool, bool], ...]:
    """(has attention, sliding window) per layer, cached by identity: the cache layout of each layer."""
    hit = _KINDS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    kinds = tuple((spec.has_attention(il), spec.is_swa(il)) for il in range(spec.n_layers))
    if len(_KINDS) > 256:
        _KINDS.clear()
    _KINDS[id(spec)] = (spec, kinds)
    return kinds


@dataclass(frozen=True)
class Layout:
    """Per-layer byte totals of one GGUF, so placing -ngl/--n-cpu-moe is arithmetic, not a tensor walk."""

    token_embd: int
    output: int  # output.weight (when untied) + output_norm: the "output layer"
    other_global: int  # rope_freqs and similar, kept on the host
    layer_dense: tuple[int, ...]  # bytes per repeating layer, experts excluded
    layer_expert: tuple[int, ...]  # stacked expert tensors per layer
    layer_largest: tuple[int, ...]  # largest matrix per layer (op-offload staging)
    output_largest: int
    layer_expert_largest: tuple[int, ...] = ()  # largest stacked expert tensor per layer
    # Bytes per ggml type, summed over the repeating layers (non-expert and expert tensors apart)
    # and over the output layer: what a token reads at each kernel's speed (quantadvisor.speed).
    # Empty when the layout was built from sizes alone.
    dense_type_bytes: tuple[tuple[str, int], ...] = ()
    expert_type_bytes: tuple[tuple[str, int], ...] = ()
    output_type_bytes: tuple[tuple[str, int], ...] = ()

    @functools.cached_property
    def largest_prefix(self) -> tuple[int, ...]:
        """largest_prefix[i] = the largest matrix of layers [0, i) (0 for none)."""
        return tuple(itertools.accumulate(self.layer_largest, max, initial=0))

    @functools.cached_property
    def expert_largest_prefix(self) -> tuple[int, ...]:
        """expert_largest_prefix[i] = the largest expert tensor of layers [0, i) (0 for none)."""
        per_layer = self.layer_expert_largest or (0,) * len(self.layer_largest)
        return tuple(itertools.accumulate(per_layer, max, initial=0))

    @functools.cached_property
    def dense_prefix(self) -> tuple[int, ...]:
        """dense_prefix[i] = bytes of the non-expert tensors of layers [0, i)."""
        return tuple(itertools.accumulate(self.layer_dense, initial=0))

    @functools.cached_property
    def expert_prefix(self) -> tuple[int, ...]:
        """expert_prefix[i] = bytes of the expert tensors of layers [0, i)."""
        return tuple(itertools.accumulate(self.layer_expert, initial=0))

    @classmethod
    def of(cls, spec: ModelSpec, typed: Sequence[TypedTensor]) -> Layout:
        """Sum the typed tensors per layer, and their bytes per ggml type."""
        layout = cls.build(spec, [t.tensor for t in typed], [t.nbytes for t in typed])
        dense: dict[str, int] = {}
        expert: dict[str, int] = {}
        output: dict[str, int] = {}
        for t in typed:
            if t.tensor.layer is None:
                if t.tensor.role in {"output", "output_norm"}:
                    output[t.ggml_type] = output.get(t.ggml_type, 0) + t.nbytes
                continue
            into = expert if t.tensor.is_expert else dense
            into[t.ggml_type] = into.get(t.ggml_type, 0) + t.nbytes
        return dataclasses.replace(
            layout,
            dense_type_bytes=tuple(dense.items()),
            expert_type_bytes=tuple(expert.items()),
            output_type_bytes=tuple(output.items()),
        )

    @classmethod
    def build(cls, spec: ModelSpec, tensors: Sequence[Tensor], nbytes: Sequence[int]) -> Layout:
        """Sum tensor sizes (same order as `tensors`) per layer: input, output layer, repeating layers."""
        global_tensors: list[tuple[Tensor, int]] = []
        per_layer: dict[int, tuple[list[Tensor], list[int]]] = {}
        for t, size in zip(tensors, nbytes, strict=True):
            if t.layer is None:
                global_tensors.append((t, size))
            else:
                group = per_layer.setdefault(t.layer, ([], []))
                group[0].append(t)
                group[1].append(size)
        layers = {il: layer_sums(ts, sizes) for il, (ts, sizes) in per_layer.items()}
        return cls.from_parts(spec, global_tensors, layers)

    @classmethod
    def from_parts(
        cls,
        spec: ModelSpec,
        global_tensors: Sequence[tuple[Tensor, int]],
        layers: Mapping[int, tuple[int, int, int, int]],
    ) -> Layout:
        """The layout from the global tensors (with sizes) and each layer's layer_sums()."""
        token_embd = output = other = output_largest = 0
        for t, size in global_tensors:
            if t.role == "token_embd":
                token_embd += size
            elif t.role == "rope_freqs":
                other += size
            else:
                output += size
                output_largest = max(output_largest, size)
        if spec.tied_embeddings:
            output_largest = max(output_largest, token_embd)
        n = spec.n_layers
        dense, expert, largest, expert_largest = [0] * n, [0] * n, [0] * n, [0] * n
        for il, (d, e, big, big_expert) in layers.items():
            dense[il], expert[il], largest[il], expert_largest[il] = d, e, big, big_expert
        return cls(
            token_embd, output, other, tuple(dense), tuple(expert), tuple(largest), output_largest,
            tuple(expert_largest),
        )  # fmt: skip


def layer_sums(tensors: Sequence[Tensor], nbytes: Sequence[int]) -> tuple[int, int, int, int]:
    """One repeating layer's bytes: (non-expert tensors, stacked expert tensors, largest matrix,
    largest expert tensor)."""
    dense = expert = largest = largest_expert = 0
    for t, size in zip(tensors, nbytes, strict=True):
        if t.is_expert:
            expert += size
            largest_expert = max(largest_expert, size)
        else:
            dense += size
        if len(t.shape) >= 2 and size > largest:
            largest = size
    return dense, expert, largest, largest_expert


def plan_runtime(
    spec: ModelSpec,
    typed: Sequence[TypedTensor] | Layout,
    sizes: Mapping[str, tuple[int, int]],
    *,
    quant: str,
    file_bytes: int,
    context_tokens: int,
    gpu_layers: int | None,
    cache_type_k: str,
    cache_type_v: str,
    flash_attn: bool,
    n_ubatch: int,
    n_cpu_moe: int = 0,
    n_gpus: int = 1,
    gpu_present: bool = True,
    constants: RuntimeConstants = DEFAULTS,
) -> MemoryEstimate:
    """Place every tensor, KV cell and buffer on the GPU(s) or the host for a given -ngl."""
    layout = typed if isinstance(typed, Layout) else Layout.of(spec, typed)
    n_offloadable = spec.n_layers + 1
    ngl = n_offloadable if gpu_layers is None else gpu_layers
    if ngl < 0:
        raise InvalidRequestError(f"gpu_layers must be 0 or more, not {ngl}")
    ngl = min(ngl, n_offloadable)
    if not gpu_present:
        ngl = 0
    if n_cpu_moe < 0:
        raise InvalidRequestError(f"n_cpu_moe must be 0 or more, not {n_cpu_moe}")
    output_on_gpu = ngl >= 1
    first_gpu_layer = spec.n_layers - max(0, ngl - 1)  # -ngl N: output layer + the last N-1 layers

    # The input embedding's get_rows runs on the CPU; a tied embedding is copied to the output layer.
    host_weights = layout.token_embd + layout.other_global
    gpu_weights = layout.token_embd if spec.tied_embeddings and output_on_gpu else 0
    if output_on_gpu:
        gpu_weights += layout.output
    else:
        host_weights += layout.output
    # Layers [first_gpu_layer, n) are on the GPU, but their experts stay on the host below n_cpu_moe.
    n, f = spec.n_layers, first_gpu_layer
    moe_cut = min(max(n_cpu_moe, f), n)
    dense_p, expert_p = layout.dense_prefix, layout.expert_prefix
    gpu_experts = expert_p[n] - expert_p[moe_cut]
    host_experts = expert_p[moe_cut]
    gpu_weights += dense_p[n] - dense_p[f] + gpu_experts
    host_weights += dense_p[f] + host_experts

    gpu_kv = host_kv = 0
    per_kind: dict[tuple[bool, bool], int] = {}
    for il, kind in enumerate(_layer_kinds(spec)):
        if kind not in per_kind:
            per_kind[kind] = kv_layer_bytes(
                spec, il, context_tokens, cache_type_k, cache_type_v, sizes, n_ubatch=n_ubatch, pad=constants.kv_pad
            )
        if il >= first_gpu_layer:
            gpu_kv += per_kind[kind]
        else:
            host_kv += per_kind[kind]

    notes: list[str] = []
    if gpu_present:
        # With the output layer on the CPU, op offload stages its weight in the GPU buffer.
        staged = layout.output_largest if not output_on_gpu else 0
        last_on_host = spec.n_layers > 0 and first_gpu_layer > spec.n_layers - 1
        # Weights of repeating layers left on the host (whole layers below first_gpu_layer, or just
        # the experts below the --n-cpu-moe cut) are staged in the compute buffer by op offload.
        host_dense, host_expert = layout.largest_prefix[f], layout.expert_largest_prefix[moe_cut]
        compute = compute_buffer_bytes(
            spec, context_tokens, flash_attn=flash_attn, n_ubatch=n_ubatch, output_on_gpu=output_on_gpu,
            staged_weight_bytes=staged, staged_layer_bytes=layout.layer_largest[-1] if staged and last_on_host else 0,
            host_layer_weight_bytes=max(host_dense, host_expert),
            host_weight_is_expert=host_expert >= host_dense and spec.is_moe,
            staged_kv_bytes=_staged_kv(spec, context_tokens, cache_type_k, cache_type_v, sizes, pad=constants.kv_pad)
            if staged
            else (0, 0),
            kv_f16=cache_type_k == "f16" and cache_type_v == "f16", pad=constants.kv_pad,
        )  # fmt: skip
        prompt = prompt_pool_bytes(spec, context_tokens, flash_attn=flash_attn, n_ubatch=n_ubatch)
        per_gpu_overhead = constants.cuda_context_bytes + (constants.offload_runtime_bytes if ngl else 0)
        used_gpus = max(1, min(n_gpus, ngl)) if ngl else 1
        overhead = per_gpu_overhead * used_gpus
        compute *= used_gpus  # each GPU reserves the graph's peak for its own split
    else:
        compute = overhead = prompt = 0
        used_gpus = 0
    host_compute = host_compute_bytes(spec, context_tokens, flash_attn=flash_attn, n_ubatch=n_ubatch)
    output_buffer = spec.n_vocab * 4  # logits of one decoded token, in pinned host memory
    total = gpu_weights + gpu_kv + compute + overhead
    per_gpu = _split_per_gpu(gpu_weights + gpu_kv, compute, overhead, used_gpus)
    if spec.approximate:
        notes.append(f"shape of {spec.stands_for or spec.name} used for a size shorthand: approximate")
    return construct(
        MemoryEstimate,
        model=spec.name,
        quant=quant,
        file_bytes=file_bytes,
        weights_bytes=gpu_weights,
        kv_cache_bytes=gpu_kv,
        compute_bytes=compute,
        overhead_bytes=overhead,
        total_bytes=total,
        prompt_bytes=prompt,
        host_bytes=host_weights + host_kv + host_compute + output_buffer,
        host_weights_bytes=host_weights,
        gpu_expert_bytes=gpu_experts,
        host_expert_bytes=host_experts,
        input_embedding_bytes=layout.token_embd,
        host_kv_cache_bytes=host_kv,
        host_compute_bytes=host_compute,
        gpu_layers=ngl,
        n_layers=n_offloadable,
        n_cpu_moe=n_cpu_moe,
        per_gpu_bytes=per_gpu,
        context_tokens=context_tokens,
        cache_type_k=cache_type_k,
        cache_type_v=cache_type_v,
        flash_attn=flash_attn,
        n_ubatch=n_ubatch,
        approximate=spec.approximate,
        notes=notes,
    )


def _split_per_gpu(layer_bytes: int, compute: int, overhead: int, n: int) -> list[int]:
    """Share layer-resident bytes evenly (llama.cpp's default tensor split is by free memory)."""
    if n <= 0:
        return []
    share = layer_bytes // n
    return [share + (compute + overhead) // n for _ in range(n)]
