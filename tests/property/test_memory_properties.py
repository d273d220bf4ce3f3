"""Properties of the memory model that must hold for any shape, context, cache type and budget."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from hypothesis import given, settings
from hypothesis import strategies as st
from quantadvisor.architecture import spec_from_config, spec_from_shorthand
from quantadvisor.memory import estimate_memory
from quantadvisor.memory.fit import fit_gpu_layers, fit_moe_offload

if TYPE_CHECKING:
    from quantadvisor.architecture import ModelSpec
    from quantadvisor.memory import MemoryEstimate

# Modest example counts: the whole file runs in a few seconds.
FAST = settings(max_examples=40, deadline=None)

# File types in order of bits per weight (each step up never stores a tensor in fewer bits).
LADDER = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")
CACHE = st.sampled_from(["f16", "bf16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0", "iq4_nl"])


@functools.cache
def _shorthand(name: str) -> ModelSpec:
    return spec_from_shorthand(name)


@st.composite
def dense_configs(draw: st.DrawFn) -> ModelSpec:
    """Llama-like configs, FFN widths included that are not multiples of 256 (row-size fallbacks)."""
    head_dim = draw(st.sampled_from([64, 80, 128]))
    n_head_kv = draw(st.sampled_from([1, 2, 4, 8]))
    n_head = n_head_kv * draw(st.sampled_from([1, 2, 4, 8]))
    config = {
        "model_type": draw(st.sampled_from(["llama", "qwen2", "qwen3", "mistral"])),
        "hidden_size": n_head * head_dim,
        "intermediate_size": 128 * draw(st.integers(4, 120)),
        "num_hidden_layers": draw(st.integers(1, 40)),
        "num_attention_heads": n_head,
        "num_key_value_heads": n_head_kv,
        "head_dim": head_dim,
        "vocab_size": draw(st.integers(1000, 160_000)),
        "tie_word_embeddings": draw(st.booleans()),
    }
    return spec_from_config(config, name="generated")


SPECS = st.one_of(
    dense_configs(),
    st.sampled_from(["1b", "8b", "9b", "13b", "27b", "30b-a3b", "8x7b", "20b", "35b-a3b"]).map(_shorthand),
)


def _estimator(spec: ModelSpec, quant: str, **fixed: Any) -> functools.partial[MemoryEstimate]:
    return functools.partial(estimate_memory, spec, quant, **fixed)


RUNTIME = st.fixed_dictionaries(
    {
        "cache_type_k": CACHE,
        "flash_attn": st.booleans(),
        "gpu_layers": st.one_of(st.none(), st.integers(0, 100)),
        "n_ubatch": st.sampled_from([128, 512, 2048]),
    }
)


@FAST
@given(
    spec=SPECS,
    quant=st.sampled_from(LADDER),
    contexts=st.tuples(st.integers(1, 131072), st.integers(1, 131072)).map(sorted),
    runtime=RUNTIME,
)
def test_memory_never_falls_as_context_rises(
    spec: ModelSpec, quant: str, contexts: list[int], runtime: dict[str, Any]
) -> None:
    # a quantized V cache needs flash attention; K may be quantized either way
    cache_v = runtime["cache_type_k"] if runtime["flash_attn"] else "f16"
    short, long = (estimate_memory(spec, quant, context_tokens=c, cache_type_v=cache_v, **runtime) for c in contexts)
    assert short.total_bytes <= long.total_bytes
    assert short.kv_cache_bytes <= long.kv_cache_bytes
    assert short.compute_bytes <= long.compute_bytes
    assert short.host_bytes <= long.host_bytes
    assert short.weights_bytes == long.weights_bytes


@FAST
@given(spec=SPECS)
def test_file_size_never_falls_as_bits_rise(spec: ModelSpec) -> None:
    sizes = [estimate_memory(spec, quant).file_bytes for quant in LADDER]
    assert sizes == sorted(sizes), dict(zip(LADDER, sizes, strict=True))


@FAST
@given(
    spec=SPECS,
    context=st.integers(1, 65536),
    pair=st.tuples(st.sampled_from(LADDER), st.sampled_from(LADDER)),
)
def test_gpu_memory_never_falls_as_bits_rise(spec: ModelSpec, context: int, pair: tuple[str, str]) -> None:
    low, high = sorted(pair, key=LADDER.index)
    assert (
        estimate_memory(spec, low, context_tokens=context).total_bytes
        <= estimate_memory(spec, high, context_tokens=context).total_bytes
    )


@FAST
@given(spec=SPECS, gpu_layers=st.one_of(st.none(), st.integers(0, 10_000)), quant=st.sampled_from(LADDER))
def test_gpu_layers_never_exceed_n_layers(spec: ModelSpec, gpu_layers: int | None, quant: str) -> None:
    est = estimate_memory(spec, quant, gpu_layers=gpu_layers)
    assert 0 <= est.gpu_layers <= est.n_layers == spec.n_layers + 1
    if gpu_layers is None:
        assert est.gpu_layers == est.n_layers


@FAST
@given(
    spec=SPECS,
    layers=st.tuples(st.integers(1, 100), st.integers(1, 100)).map(sorted),
    context=st.integers(1, 32768),
)
def test_gpu_memory_never_falls_as_layers_are_offloaded(spec: ModelSpec, layers: list[int], context: int) -> None:
    """The monotonicity fit_gpu_layers' binary search relies on."""
    fewer, more = (estimate_memory(spec, "Q4_K_M", gpu_layers=n, context_tokens=context) for n in layers)
    assert fewer.total_bytes <= more.total_bytes
    assert fewer.host_bytes >= more.host_bytes


@FAST
@given(spec=SPECS, fraction=st.floats(0.0, 1.3), context=st.integers(256, 65536), quant=st.sampled_from(LADDER))
def test_fit_gpu_layers_never_exceeds_the_budget_and_is_maximal(
    spec: ModelSpec, fraction: float, context: int, quant: str
) -> None:
    estimate = _estimator(spec, quant, context_tokens=context)
    full = estimate(gpu_layers=None)
    budget = int(full.total_bytes * fraction)
    plan = fit_gpu_layers(estimate, full.n_layers, budget)
    if plan is None:
        assert estimate(gpu_layers=1).total_bytes > budget
        return
    assert plan.total_bytes <= budget
    assert 1 <= plan.gpu_layers <= full.n_layers
    if plan.gpu_layers < full.n_layers:
        assert estimate(gpu_layers=plan.gpu_layers + 1).total_bytes > budget


@FAST
@given(spec=SPECS, fractions=st.tuples(st.floats(0.0, 1.3), st.floats(0.0, 1.3)).map(sorted))
def test_more_budget_never_gives_fewer_layers(spec: ModelSpec, fractions: list[float]) -> None:
    estimate = _estimator(spec, "Q4_K_M", context_tokens=8192)
    full = estimate(gpu_layers=None)
    small, large = (fit_gpu_layers(estimate, full.n_layers, int(full.total_bytes * f)) for f in fractions)
    assert (small.gpu_layers if small else 0) <= (large.gpu_layers if large else 0)


@FAST
@given(
    name=st.sampled_from(["30b-a3b", "8x7b", "20b", "35b-a3b"]),
    fractions=st.tuples(st.floats(0.0, 1.2), st.floats(0.0, 1.2)).map(sorted),
    context=st.integers(256, 65536),
)
def test_moe_offload_never_exceeds_the_budget_and_more_budget_keeps_more_experts(
    name: str, fractions: list[float], context: int
) -> None:
    spec = _shorthand(name)
    estimate = _estimator(spec, "Q4_K_M", context_tokens=context)
    full = estimate(n_cpu_moe=0).total_bytes
    small, large = (fit_moe_offload(estimate, spec.n_layers, int(full * f)) for f in fractions)
    for plan, fraction in ((small, fractions[0]), (large, fractions[1])):
        if plan is not None:
            assert plan.total_bytes <= int(full * fraction)
            assert 0 <= plan.n_cpu_moe <= spec.n_layers
    if small is not None:
        assert large is not None
        assert large.n_cpu_moe <= small.n_cpu_moe


@settings(max_examples=60, deadline=None)
@given(
    spec=dense_configs(),
    extra_layers=st.integers(0, 90),
    ft=st.sampled_from(["Q2_K", "Q3_K_M", "Q3_K_S", "Q4_K_S", "Q4_K_M", "Q5_K_M", "IQ3_M", "IQ3_XXS", "IQ2_M"]),
    imatrix=st.booleans(),
)
def test_layer_reuse_matches_typing_every_tensor(spec: ModelSpec, extra_layers: int, ft: str, imatrix: bool) -> None:
    """The planner types one layer per (structure, position class); any depth must agree with the full pass."""
    from quantadvisor.dataset import load_dataset
    from quantadvisor.memory import gguf_file_bytes, gguf_layout, type_sizes, typed_tensors
    from quantadvisor.memory.runtime import Layout

    spec = spec.model_copy(update={"n_layers": spec.n_layers + extra_layers})
    sizes = type_sizes(load_dataset())
    typed = typed_tensors(spec, ft, sizes, imatrix=imatrix)
    layout, file_bytes = gguf_layout(spec, ft, sizes, imatrix=imatrix)
    assert layout == Layout.of(spec, typed)
    assert file_bytes == gguf_file_bytes(typed, spec)
