"""More VRAM never turns a fit into none, nor picks a worse option in the same fit tier.

"Worse" is what the ranking itself weighs: with speeds known, a higher expected loss and no faster decode
(balanced and speed may trade a slightly higher loss for a faster decode once more VRAM makes a faster
type fit: that is not a worse pick); with no speed, or under prefer="quality", the quant ladder's order,
so fewer bits per weight. (IQ4_XS prices a little below Q4_K_S on the KLD ladders while the ladder puts
Q4_K_S first, so "a higher expected loss" alone is not what this ranking promises.)
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quantadvisor import QuantOption, recommend
from quantadvisor.errors import ExitCode

_TIER = {"gpu": 0, "moe-offload": 1, "partial": 2, "none": 3}


@pytest.mark.parametrize("vram", [0, 0.5, 1, 1.5, 2])
def test_120b_at_context_512_plans_at_every_small_budget(vram: float) -> None:
    """The issue's example: --vram 0 planned a CPU-only run, --vram 1 exited 3 (nothing fits)."""
    rec = recommend("chat", model="120b", context_tokens=512, vram_gib=vram, ram_gib=128)
    assert rec.pick is not None
    assert rec.pick.fit != "none"


def test_cli_120b_vram_1_is_not_nothing_fits(capsys: pytest.CaptureFixture[str]) -> None:
    from quantadvisor.cli import main

    argv = ["suggest", "--task", "chat", "--model", "120b", "--context", "512", "--vram", "1", "--ram", "128"]
    assert main(argv) == ExitCode.OK
    assert "CPU only" in capsys.readouterr().out


def test_a_budget_below_the_gpu_buffers_says_cpu_only() -> None:
    rec = recommend("chat", model="120b", context_tokens=512, vram_gib=1, ram_gib=128, margin_gib=0)  # all 1 GiB
    cpu_only = [o for o in rec.options if o.fit == "partial" and o.gpu_layers == 0]
    assert cpu_only
    assert any("below llama.cpp's fixed GPU buffers" in n for n in cpu_only[0].notes)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(["3b", "8b", "30b-a3b", "120b", "70b"]),
    low=st.sampled_from([0.0, 0.25, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0]),
    extra=st.sampled_from([0.25, 1.0, 4.0, 16.0, 64.0]),
    context=st.sampled_from([512, 4096, 32768]),
    ram=st.sampled_from([16.0, 64.0, 256.0]),  # given: --vram 0 would read this machine's RAM
    prefer=st.sampled_from(["quality", "balanced", "speed"]),
)
def test_more_vram_never_worsens_the_pick(model, low, extra, context, ram, prefer) -> None:
    small = recommend("chat", model=model, context_tokens=context, vram_gib=low, ram_gib=ram, prefer=prefer).pick
    large = recommend("chat", model=model, context_tokens=context, vram_gib=low + extra, ram_gib=ram,
                      prefer=prefer).pick  # fmt: skip
    if small is None:
        return
    assert large is not None, f"{model}: {low} GiB picks {small.quant}, {low + extra} GiB picks nothing"
    assert _TIER[large.fit] <= _TIER[small.fit]
    # The same tier and KV cache: never a worse expected loss. (An offload plan runs a q8_0 cache
    # whose small cost is in its loss; a CPU-only plan at less VRAM may keep f16.)
    if large.fit == small.fit and large.expected_loss.kv_cache == small.expected_loss.kv_cache:
        assert not worse_pick(large, small, prefer), f"{model}: {low}→{low + extra} GiB: {small.quant}→{large.quant}"


def worse_pick(large: QuantOption, small: QuantOption, prefer: str) -> bool:
    """Whether `large` is worse than `small` by the ranking's own criterion.

    With both speeds known (a GPU with a known bandwidth) and prefer != "quality": more loss and no
    faster decode. Otherwise the ranking keeps the quant ladder's order, and worse is fewer bits per weight.
    """
    if prefer != "quality" and large.speed is not None and small.speed is not None:
        more_loss = large.expected_loss.sort_key > small.expected_loss.sort_key + 1e-9
        return more_loss and large.speed.decode_tokens_per_s <= small.speed.decode_tokens_per_s * (1 + 1e-9)
    return large.bits_per_weight < small.bits_per_weight - 1e-9
