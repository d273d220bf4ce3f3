"""Acceptance tests for recommend(): the seed's RTX 4060 8 GB matrix, gates and hazards."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import pytest
from quantadvisor import InvalidRequestError, recommend

if TYPE_CHECKING:
    from pathlib import Path

GIB = 2**30


def test_9b_code_gets_q5_k_m_fully_on_the_gpu() -> None:
    # The whole card (--margin 0): Q5_K_M fits to the last few hundred MiB, and says so.
    rec = recommend("code", model="9b", gpu="RTX 4060", margin_gib=0)
    pick = rec.options[0]
    assert (pick.quant, pick.fit) == ("Q5_K_M", "gpu")
    assert 7.0 * GIB <= pick.memory.total_bytes <= rec.hardware.llm_vram_bytes
    assert any("under llama.cpp's default --fit-target" in n for n in pick.notes)


def test_a_planned_card_keeps_the_default_margin() -> None:
    # Issue 12: --gpu keeps the 1 GiB a detected card keeps, so the pick leaves that much free.
    rec = recommend("code", model="9b", gpu="RTX 4060")
    pick = rec.options[0]
    assert rec.hardware.margin_bytes == 1 * GIB
    assert rec.hardware.llm_vram_bytes == 7 * GIB
    assert (pick.quant, pick.fit) == ("Q4_K_M", "gpu")
    assert 8 * GIB - pick.memory.total_bytes - pick.memory.prompt_bytes >= 1 * GIB
    assert not any("--fit-target" in n for n in pick.notes)
    half = recommend("code", model="9b", gpu="RTX 4060", margin_gib=0.5)
    assert half.hardware.llm_vram_bytes == 7.5 * GIB


def test_margin_must_be_a_number_of_gib() -> None:
    with pytest.raises(InvalidRequestError, match="margin"):
        recommend("code", model="9b", vram_gib=8, margin_gib=-1)


# With the GPU's bandwidth known, balanced ranks by max(loss, the target's) x (fastest / decode)
# (planner.rank): the pick is a 4-bit type at the target's loss or a faster one just past it.
_FOUR_BIT = {"Q4_K_M", "Q4_K_S", "IQ4_XS"}


def test_9b_chat_gets_a_4_bit_type_near_the_target() -> None:
    rec = recommend("chat", model="9b", gpu="RTX 4060")
    assert rec.target == "Q4_K_M"
    assert (rec.options[0].quant in _FOUR_BIT, rec.options[0].fit) == (True, "gpu")
    assert "Q4_K_M" in [o.quant for o in rec.options[:3]]
    # More bits than the target buy nothing the task needs and decode slower: they rank below it.
    order = [o.quant for o in rec.options]
    assert order.index("Q4_K_M") < order.index("Q5_K_M") < order.index("Q6_K")


def test_9b_rag_with_bge_m3_gets_a_4_bit_type_q4_k_m_at_the_limit() -> None:
    rec = recommend("rag", model="9b", gpu="RTX 4060", embedding_model="bge-m3", margin_gib=0)  # the whole card
    pick = rec.options[0]
    assert (pick.quant in _FOUR_BIT, pick.fit) == (True, "gpu")
    assert rec.hardware.reserved_bytes > 1 * GIB
    q4 = next(o for o in rec.options if o.quant == "Q4_K_M")
    assert q4.fit == "gpu"
    assert q4.headroom_bytes < 0.25 * GIB  # at the limit
    assert any(r.id == "q3-rag-embedding" for r in rec.trace)


def test_32b_gets_4_bit_partially_offloaded_about_24_layers() -> None:
    rec = recommend("chat", model="32b", gpu="RTX 4060", ram_gib=64)
    pick = rec.options[0]
    assert (pick.quant in _FOUR_BIT, pick.fit) == (True, "partial")
    assert 20 <= pick.gpu_layers <= 30
    assert "-ngl" in pick.runner_flags


def test_35b_a3b_moe_gets_4_bit_with_experts_offloaded() -> None:
    rec = recommend("chat", model="35b-a3b", gpu="RTX 4060", ram_gib=64)
    pick = rec.options[0]
    assert (pick.quant in _FOUR_BIT, pick.fit) == (True, "moe-offload")
    assert 6.0 * GIB <= pick.memory.total_bytes <= 7 * GIB  # the card's 8 GiB less the 1 GiB margin
    assert "--n-cpu-moe" in pick.runner_flags


def test_code_on_13b_never_gets_w8a8_int() -> None:
    for gpu in ("RTX 4090", "H100 SXM", "RTX 5090"):
        rec = recommend("code", model="13b", gpu=gpu)
        assert all(o.quant != "W8A8-INT" for o in rec.options)
        assert any(r.id == "hazard-w8a8-int-code" for r in rec.trace)


def test_nvfp4_native_on_5090_not_on_4090() -> None:
    on_5090 = {o.quant: o for o in recommend("chat", model="8b", gpu="RTX 5090").options}
    on_4090 = {o.quant: o for o in recommend("chat", model="8b", gpu="RTX 4090").options}
    assert on_5090["NVFP4"].native
    assert not on_4090["NVFP4"].native


def test_no_model_compares_sizes_and_picks_one() -> None:
    rec = recommend("code", vram_gib=8, ram_gib=32)
    assert len(rec.by_size) >= 10
    assert rec.pick is not None
    assert rec.pick.bits_per_weight >= 3.5
    assert any(r.id == "q0-bigger-model-at-3.5-bpw" for r in rec.trace)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"vram_gib": -1}, "VRAM"),
        ({"vram_gib": math.nan}, "VRAM"),
        ({"vram_gib": math.inf}, "VRAM"),
        ({"vram_gib": 8, "context_tokens": 0}, "context"),
        ({"gpu": "RTX 9999 Hyper"}, "GPU"),
        ({"vram_gib": 8, "model": "banana"}, "banana"),
        ({"vram_gib": 8, "prefer": "fastest"}, "preference"),
    ],
)
def test_bad_input_raises_invalid_request(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        recommend("code", **kwargs)  # type: ignore[arg-type]
    assert fragment.lower() in str(info.value).lower()


def test_unknown_task_is_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="unknown task"):
        recommend("poetry", vram_gib=8)


def test_zero_vram_plans_cpu_only() -> None:
    rec = recommend("chat", model="8b", vram_gib=0, ram_gib=32)
    assert rec.hardware.cpu_only
    assert rec.options[0].gpu_layers == 0
    assert rec.options[0].memory.total_bytes == 0


def _host_only(ram_gib: float) -> object:
    from quantadvisor.hardware import HardwareReport

    ram = round(ram_gib * GIB)
    return HardwareReport(
        gpus=[], host_ram_bytes=ram, host_ram_available_bytes=ram, host_ram_source="/proc/meminfo", source="none"
    )


def test_no_gpu_found_is_a_cpu_only_plan_from_host_ram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("quantadvisor.hardware.detect_hardware", lambda: _host_only(16))
    rec = recommend("chat", model="8b")
    assert rec.hardware.cpu_only
    assert rec.hardware.ram_bytes == 16 * GIB
    assert rec.pick is not None
    assert rec.pick.gpu_layers == 0
    assert rec.pick.memory.host_bytes <= 16 * GIB


def test_zero_vram_reads_the_host_ram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("quantadvisor.hardware.detect_host_memory", lambda: _host_only(6))
    rec = recommend("chat", model="14b", vram_gib=0)
    assert rec.hardware.ram_bytes == 6 * GIB  # not "RAM unknown"
    fitting = [o for o in rec.options if o.fit != "none"]
    assert fitting
    assert all(o.memory.host_bytes <= 6 * GIB for o in fitting)
    assert any(o.fit == "none" for o in rec.options)  # Q8_0 of a 14B needs more than 6 GiB


def test_every_gpu_option_fits_the_budget() -> None:
    for task in ("code", "chat"):
        for vram in (6, 8, 12, 24):
            rec = recommend(task, model="14b", vram_gib=vram, ram_gib=64)
            for o in rec.options:
                if o.fit == "gpu":
                    assert o.memory.total_bytes <= rec.hardware.llm_vram_bytes


def test_gpt_oss_keeps_its_released_mxfp4_experts() -> None:
    rec = recommend("chat", model="20b", vram_gib=16, ram_gib=64)
    pick = rec.options[0]
    assert pick.quant == "MXFP4_MOE"
    assert pick.released_precision
    assert pick.expected_loss.mid == 0.0
    assert any(r.id == "released-mxfp4-experts" for r in rec.trace)


def test_mxfp4_moe_is_not_offered_for_dense_models() -> None:
    rec = recommend("chat", model="8b", vram_gib=16)
    assert all(o.quant != "MXFP4_MOE" for o in rec.options)


def test_fits_leave_room_for_the_long_prompt_pool() -> None:
    rec = recommend("chat", model="8b", vram_gib=8)
    for o in rec.options:
        if o.fit in {"gpu", "partial", "moe-offload"}:
            assert o.memory.total_bytes + o.memory.prompt_bytes <= rec.hardware.llm_vram_bytes


def test_gpt_oss_mxfp4_is_native_on_any_gpu_and_wins_in_the_size_matrix() -> None:
    rec = recommend("chat", model="20b", gpu="RTX 4090")
    assert (rec.options[0].quant, rec.options[0].native) == ("MXFP4_MOE", True)
    matrix = recommend("chat", vram_gib=24, ram_gib=64)
    best = {row.size: row.best for row in matrix.by_size}
    assert best["20b"] is not None
    assert best["20b"].quant == "MXFP4_MOE"


def test_mid_size_models_keep_the_code_floor() -> None:
    rec = recommend("code", model="32b", vram_gib=24, ram_gib=64)
    assert rec.floor == "Q4_K_M"
    assert rec.target == "Q4_K_M"


def test_bump_only_applies_on_the_gpu() -> None:
    # 13B code: Q6_K is the bumped target, but it does not fit the 4060; offload plans aim at Q5_K_M.
    rec = recommend("code", model="13b", gpu="RTX 4060", ram_gib=64)
    assert rec.target == "Q6_K"
    assert rec.options[0].fit == "partial"
    by_quant = {o.quant: o for o in rec.options}
    q5 = by_quant["Q5_K_M"].expected_loss.mid
    assert q5 is not None
    # Offloaded, a loss below Q5_K_M's counts as Q5_K_M's (balanced's target term), not Q6_K's.
    assert f"counted as the target's {q5 * 100:.2g}%" in (by_quant["Q6_K"].rank_reason or "")
    assert rec.options[0].quant in {"Q5_K_M", "Q5_K_S", "Q4_K_M"}


def test_rag_reserves_bge_m3_unless_told_otherwise() -> None:
    assert recommend("rag", model="9b", gpu="RTX 4060").hardware.reserved_for == "BGE-M3"
    assert recommend("rag", model="9b", gpu="RTX 4060", embedding_model=False).hardware.reserved_for is None


def test_tiny_budget_moe_offloads_layers_with_every_expert_in_ram() -> None:
    rec = recommend("chat", model="30b-a3b", vram_gib=1.5, ram_gib=64, margin_gib=0)  # all 1.5 GiB
    pick = rec.options[0]
    assert pick.fit == "partial"
    assert pick.n_cpu_moe == 48  # every expert in RAM ...
    assert pick.gpu_layers > 1  # ... so many dense layers still fit on the GPU
    assert pick.runner_flags[-2:] == ["--n-cpu-moe", "48"]


@pytest.mark.parametrize("model", [None, "9b", "30b-a3b"])
def test_results_survive_a_json_round_trip(model: str | None) -> None:
    """Results are built without validation; parsing their JSON back must give the same models."""
    from quantadvisor import Recommendation

    rec = recommend("code", model=model, vram_gib=8, gpu=None)
    assert Recommendation.model_validate_json(rec.model_dump_json()) == rec


def test_an_f16_cache_that_fits_is_used_even_when_q8_0_would_not() -> None:
    """A q8_0 cache is not always smaller in total: the f16 copy the FA kernel makes is paid on
    every GPU, and Gemma-3's sliding-window layers leave little KV to halve. Found by review: with
    the most compact knobs tried alone, Q4_K_M dropped to a partial offload here. 3.05 GiB, not 3.0:
    each card's share plus its own 12 MiB CUDA pool is checked against that card, and at 3.0 the f16
    plan is 10 MB over on every card."""
    rec = recommend("chat", model="12b", vram_gib=3.05, gpus=8, context_tokens=131072, margin_gib=0)
    top = rec.options[0]
    assert (top.quant, top.fit, top.memory.cache_type_k) == ("Q4_K_M", "gpu", "f16")


def test_the_no_model_answer_names_coder_models_for_code() -> None:
    # Issue 12: "--task code --vram 8" answered a general Gemma; each size row now names the catalog's
    # models of that size made for the task (by their cards), and the pick goes to such a row.
    rec = recommend("code", vram_gib=8)
    rows = {r.size: r for r in rec.by_size}
    assert rows["7b"].models_purpose == "coder"
    assert "Qwen2.5-Coder-7B-Instruct" in rows["7b"].models
    assert rows["14b"].models == ["Qwen2.5-Coder-14B-Instruct"]
    pick_row = next(r for r in rec.by_size if r.best is rec.options[0])
    assert pick_row.models_purpose == "coder"
    assert rec.notes[0].startswith(f"overall pick: the {pick_row.size} size (")
    assert "with coder models" in rec.notes[0]
    assert any("not ranked" in n for n in rec.options[0].notes)


def test_math_rows_name_reasoning_models_and_chat_rows_general_ones() -> None:
    math_rows = {r.size: r for r in recommend("math", vram_gib=24).by_size}
    assert math_rows["14b"].models_purpose == "reasoning"
    assert "DeepSeek-R1-Distill-Qwen-14B" in math_rows["14b"].models
    chat_rows = {r.size: r for r in recommend("chat", vram_gib=24).by_size}
    assert chat_rows["14b"].models_purpose == "general"
    assert "DeepSeek-R1-Distill-Qwen-14B" not in chat_rows["14b"].models
    # Sizing and loss are the row's reference shape whatever the models: the same for both tasks' rows.
    assert math_rows["14b"].stands_for == chat_rows["14b"].stands_for


def test_without_speeds_each_rank_reason_says_where_the_policy_puts_it() -> None:
    """A bare --vram has no bandwidth: the order is the policy's, and each line says which part of it."""
    rec = recommend("chat", model="9b", vram_gib=12)
    assert all(o.speed is None for o in rec.options)
    reasons = {o.quant: o.rank_reason or "" for o in rec.options}
    assert "the task's target, Q4_K_M" in reasons["Q4_K_M"]
    # preference_order goes down the ladder from the target (Q4_K_S before IQ4_XS, though IQ4_XS
    # reads fewer bytes per token), then up from it, fewer bits first.
    order = "in the ladder's order (Q4_K_S, IQ4_XS, Q3_K_L, Q3_K_M)"
    assert f"below the target Q4_K_M, down to the floor Q3_K_M {order}" in reasons["Q3_K_M"]
    assert "fewer bytes per token" not in reasons["IQ4_XS"]
    assert "above the target Q4_K_M: after every type down to the floor, fewer bits first" in reasons["Q6_K"]
    assert all("speed unknown" not in r for r in reasons.values())


def test_cpu_only_rank_reasons_say_cpu_only_and_why_an_option_moved_up() -> None:
    """CPU-only plans have speeds, so the dominance pass lifts options out of the ladder order: those
    say so ("moved up: beats #N") instead of their ladder place; none says "offloaded"."""
    rec = recommend("chat", model="8b", vram_gib=0, ram_gib=64)
    place = {o.quant: i + 1 for i, o in enumerate(rec.options)}
    reasons = {o.quant: o.rank_reason or "" for o in rec.options}
    assert all("offloaded" not in r for r in reasons.values())
    assert reasons["Q4_K_M"].startswith("#1 Q4_K_M: CPU only;")
    assert place["IQ4_XS"] < place["Q4_K_S"]  # IQ4_XS: lower loss and faster, lifted above Q4_K_S
    assert reasons["IQ4_XS"].endswith(f": moved up: beats #{place['Q4_K_S']} on loss and speed")
    lifted = [r for r in reasons.values() if "moved up" in r]
    assert all("ladder" not in r and "target" not in r for r in lifted)


def test_a_budget_below_the_gpu_buffers_keeps_llama_cpp_off_the_gpu() -> None:
    """The note says "run on the CPU only (llama.cpp --device none)": the flags say it too. With
    --vram 0 (no GPU by request) the plan is the same but no device flag is added."""
    small = recommend("chat", model="8b", vram_gib=1.25).pick
    none = recommend("chat", model="8b", vram_gib=0, ram_gib=64).pick
    assert small is not None
    assert none is not None
    assert small.runner_flags[-2:] == ["--device", "none"]
    assert small.runner_flags[:-2] == none.runner_flags
    assert "--device" not in none.runner_flags


def test_the_fixed_buffers_are_compared_with_one_card_not_the_sum() -> None:
    """Two 1.65 GiB cards leave 0.65 GiB each: no card holds the 1.24 GiB of -ngl 1, so the plan is
    CPU-only as on one 2.2 GiB card (the old check put 1.24 GiB on a 0.65 GiB card)."""
    two = recommend("chat", model="8b", vram_gib=1.65, gpus=2)
    one = recommend("chat", model="8b", vram_gib=2.2)
    assert two.pick is not None
    assert one.pick is not None
    assert (two.pick.quant, two.pick.gpu_layers) == (one.pick.quant, one.pick.gpu_layers) == ("Q4_K_M", 0)


@pytest.mark.parametrize(("model", "vram", "gpus"), [("8b", 3.3, 2), ("8b", 2.5, 4), ("30b-a3b", 6, 2), ("14b", 5, 3)])
def test_every_gpu_share_fits_its_own_card(model: str, vram: float, gpus: int) -> None:
    rec = recommend("chat", model=model, vram_gib=vram, gpus=gpus, ram_gib=256)
    card = rec.hardware.llm_vram_bytes // gpus
    assert any(o.fit in {"gpu", "partial", "moe-offload"} and o.memory.per_gpu_bytes for o in rec.options)
    for o in rec.options:
        if o.fit != "none" and o.family == "gguf":
            assert max(o.memory.per_gpu_bytes, default=0) + o.memory.prompt_bytes <= card, o.quant


def test_one_layer_on_the_gpu_is_planned_when_it_fits() -> None:
    """The smallest GPU plan is -ngl 1 (1.2485 GiB for 8B), below -ngl 0's buffers (1.261 GiB with
    the staged output weight): 1.255 GiB must offload a layer, not fall back to the CPU."""
    pick = recommend("chat", model="8b", vram_gib=2.255).pick
    assert pick is not None
    assert pick.gpu_layers >= 1
    assert "--device" not in pick.runner_flags


def test_a_card_the_margin_takes_whole_is_planned_as_vram_0() -> None:
    """--vram 0.5 (all of it the 1 GiB margin) answers as --vram 0: host RAM read, --device none."""
    zero = recommend("code", model="8b", vram_gib=0)
    half = recommend("code", model="8b", vram_gib=0.5)
    assert half.hardware.cpu_only
    assert half.hardware.ram_bytes == zero.hardware.ram_bytes
    assert [o.quant for o in half.options] == [o.quant for o in zero.options]
    assert half.pick is not None
    assert "--device none" in " ".join(half.pick.runner_flags)
    assert any("margin leaves nothing" in n for n in half.hardware.notes)


def test_a_model_whose_smallest_gpu_plan_exceeds_the_card_is_a_cpu_only_request(tmp_path: Path) -> None:
    """-ngl 0 may fit where -ngl 1 does not; the fit never plans -ngl 0, so that card is CPU-only."""
    config = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "vocab_size": 128256,
              "intermediate_size": 14336}  # fmt: skip
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    rec = recommend("code", model=str(path), vram_gib=2.2)
    assert rec.hardware.cpu_only
    assert all(o.gpu_layers == 0 for o in rec.options if o.fit != "none")


def test_an_unquantized_f32_cache_carries_no_dagger() -> None:
    rec = recommend("code", model="8b", vram_gib=8, cache_type_k="f32", cache_type_v="f32")
    assert all(o.expected_loss.kv_cache is None for o in rec.options)


def test_when_nothing_fits_the_smallest_options_come_first() -> None:
    """'The smallest options are listed with what they would need': by what they need, not the ladder."""
    rec = recommend("chat", model="120b", vram_gib=0, ram_gib=16)
    assert rec.pick is None
    need = [o.memory.total_bytes + o.memory.host_bytes for o in rec.options]
    assert need == sorted(need)


def test_a_size_matrix_with_every_size_on_the_cpu_says_cpu_only() -> None:
    rec = recommend("code", vram_gib=1.8, gpus=2)  # 0.8 GiB per card after the margin: no size's GPU plan fits
    assert rec.hardware.cpu_only
    assert all(r.best is None or r.best.memory.total_bytes == 0 for r in rec.by_size)
