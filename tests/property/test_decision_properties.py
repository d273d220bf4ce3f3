"""Properties of the decision: more VRAM never hurts; sensitive tasks never get fewer bits."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st
from quantadvisor.api import QuantOption, recommend
from quantadvisor.rules import LADDER

MODELS = st.sampled_from(["3b", "8b", "9b", "14b", "20b", "30b-a3b", "32b", "70b"])
VRAM = st.floats(min_value=2.0, max_value=48.0).map(lambda v: round(v, 1))


def _tier(option: QuantOption) -> int:
    """The ranking tier (api.rank): GPU at or above the floor, offload, GPU below the floor, none."""
    if option.fit == "none":
        return 3
    if option.fit == "gpu":
        return 2 if option.below_floor else 0
    return 1


@settings(max_examples=25, deadline=None)
@given(vram=VRAM, extra=st.floats(min_value=0.5, max_value=32.0), model=MODELS, task=st.sampled_from(["code", "chat"]))
@example(vram=38.0, extra=2.0, model="70b", task="chat")  # IQ4_XS → Q4_K_S: more bits, a little more loss
@example(vram=19.0, extra=1.0, model="32b", task="chat")
def test_more_vram_never_gives_a_worse_top_pick(vram: float, extra: float, model: str, task: str) -> None:
    small = recommend(task, model=model, vram_gib=vram, ram_gib=256).options[0]
    large = recommend(task, model=model, vram_gib=vram + extra, ram_gib=256).options[0]
    assert _tier(large) <= _tier(small)
    if _tier(large) == _tier(small) == 0:
        # On the GPU, more room never means a worse pick by the ranking's own criterion
        # (tests/reliability/test_monotone.py says why that is not "a higher expected loss" alone).
        if large.speed is not None and small.speed is not None:
            more_loss = large.expected_loss.sort_key > small.expected_loss.sort_key + 1e-9
            no_faster = large.speed.decode_tokens_per_s <= small.speed.decode_tokens_per_s * (1 + 1e-9)
            assert not (more_loss and no_faster) or large.meets_target
        else:  # no speed (--vram names no GPU): the ladder order, so never fewer bits
            assert large.bits_per_weight >= small.bits_per_weight - 1e-9 or large.meets_target


@settings(max_examples=25, deadline=None)
@given(vram=VRAM, model=MODELS, sensitive=st.sampled_from(["code", "math"]))
def test_more_sensitive_task_never_gets_fewer_bits(vram: float, model: str, sensitive: str) -> None:
    hard = recommend(sensitive, model=model, vram_gib=vram, ram_gib=256).options[0]
    easy = recommend("chat", model=model, vram_gib=vram, ram_gib=256).options[0]
    if hard.fit == easy.fit == "gpu" and hard.quant in LADDER and easy.quant in LADDER:
        assert LADDER.index(hard.quant) <= LADDER.index(easy.quant)


@settings(max_examples=25, deadline=None)
@given(vram=VRAM, model=MODELS, task=st.sampled_from(["code", "math", "chat", "rag"]))
def test_every_gpu_option_fits_the_budget(vram: float, model: str, task: str) -> None:
    rec = recommend(task, model=model, vram_gib=vram, ram_gib=256)
    for option in rec.options:
        if option.fit in {"gpu", "partial", "moe-offload"}:
            assert option.memory.total_bytes + option.memory.prompt_bytes <= rec.hardware.llm_vram_bytes


SHORTHANDS = st.sampled_from(
    ["1b", "8b", "9b", "12b", "13b", "20b", "27b", "30b-a3b", "35b-a3b", "8x7b", "70b", "120b"]
)


@settings(max_examples=60, deadline=None)
@given(
    shorthand=SHORTHANDS,
    vram=st.sampled_from([0.0, 2.0, 4.0, 6.0, 8.0, 11.0, 12.0, 16.0, 24.0, 48.0, 80.0]),
    ram=st.sampled_from([None, 8.0, 32.0, 256.0]),
    task=st.sampled_from(["code", "math", "chat", "rag"]),
    prefer=st.sampled_from(["quality", "balanced", "speed"]),
    context=st.sampled_from([4096, 32768, 131072]),
    gpus=st.sampled_from([1, 2, 8]),
)
def test_matrix_pruned_search_equals_the_full_ranking(
    shorthand: str, vram: float, ram: float | None, task: str, prefer: str, context: int, gpus: int
) -> None:
    """best_option skips the plans the ranking cannot need; it must pick what ranking every option picks."""
    from quantadvisor.api import _MATRIX_QUANTS, _size_planner
    from quantadvisor.request import prepare_request

    req = prepare_request(
        task, vram_gib=vram, gpu=None, gpus=gpus, context_tokens=context, ram_gib=ram, embedding_model=None,
        prefer=prefer, dataset=None,  # type: ignore[arg-type]
    )  # fmt: skip
    pruned, _, _ = _size_planner(shorthand, req)
    full, _, _ = _size_planner(shorthand, req)
    every = full.rank([o for q in _MATRIX_QUANTS if (o := full.option(q, "gguf")) is not None])
    expected = every[0] if every and every[0].fit != "none" else None
    got = pruned.best_option(_MATRIX_QUANTS)
    assert (got and (got.quant, got.fit, got.gpu_layers, got.n_cpu_moe)) == (
        expected and (expected.quant, expected.fit, expected.gpu_layers, expected.n_cpu_moe)
    )
