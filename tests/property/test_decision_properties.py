"""Properties of the decision: more VRAM never hurts; sensitive tasks never get fewer bits."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from quantadvisor.api import recommend
from quantadvisor.rules import LADDER

TIER = {"gpu": 0, "moe-offload": 1, "partial": 1, "none": 3}


def _rank(option) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    return (TIER[option.fit] + (2 if option.fit == "gpu" and option.below_floor else 0), option.expected_loss.sort_key)


@settings(max_examples=12, deadline=None)
@given(vram=st.sampled_from([4, 6, 8, 10, 12, 16, 24]), model=st.sampled_from(["8b", "9b", "14b"]))
def test_more_vram_never_gives_a_worse_top_pick(vram: int, model: str) -> None:
    small = recommend("code", model=model, vram_gib=vram, ram_gib=64).options[0]
    large = recommend("code", model=model, vram_gib=vram + 8, ram_gib=64).options[0]
    assert _rank(large)[0] <= _rank(small)[0]
    if _rank(large)[0] == _rank(small)[0]:
        assert large.expected_loss.sort_key <= small.expected_loss.sort_key + 1e-9


@settings(max_examples=12, deadline=None)
@given(vram=st.sampled_from([6, 8, 10, 12, 16, 24]), model=st.sampled_from(["8b", "9b", "14b"]))
def test_more_sensitive_task_never_gets_fewer_bits(vram: int, model: str) -> None:
    code = recommend("code", model=model, vram_gib=vram, ram_gib=64).options[0]
    chat = recommend("chat", model=model, vram_gib=vram, ram_gib=64).options[0]
    if code.fit == chat.fit == "gpu":
        assert LADDER.index(code.quant) <= LADDER.index(chat.quant)
