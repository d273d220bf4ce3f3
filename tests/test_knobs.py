"""Runtime knobs on recommend()/suggest: fixed by the caller on every row, or "auto" (the planner tries)."""

from __future__ import annotations

import json

import pytest
from quantadvisor import InvalidRequestError, recommend
from quantadvisor.cli import main
from quantadvisor.knobs import RuntimeKnobs

GIB = 2**30


def test_auto_ladder_tries_q4_0_kv_last() -> None:
    assert RuntimeKnobs().ladder() == (
        ("f16", "f16", 512, True),
        ("q8_0", "q8_0", 512, True),
        ("q8_0", "q8_0", 256, True),
        ("q4_0", "q4_0", 512, True),
        ("q4_0", "q4_0", 256, True),
    )


def test_fixed_knobs_leave_one_setting() -> None:
    knobs = RuntimeKnobs.of(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn="on", n_ubatch=1024)
    assert knobs.ladder() == (("q8_0", "q8_0", 1024, True),)
    assert knobs.offload() == ("q8_0", "q8_0", 1024, True)


def test_flash_attention_off_keeps_the_v_cache_unquantized() -> None:
    ladder = RuntimeKnobs.of(flash_attn="off").ladder()
    assert {v for _, v, _, _ in ladder} == {"f16"}
    assert not any(fa for *_, fa in ladder)
    with pytest.raises(InvalidRequestError, match="requires flash attention"):
        RuntimeKnobs.of(cache_type_v="q4_0", flash_attn=False)


@pytest.mark.parametrize(
    "kwargs",
    [{"cache_type_k": "q3_k"}, {"cache_type_v": 8}, {"flash_attn": "maybe"}, {"n_ubatch": 0}, {"n_ubatch": True}],
)
def test_bad_knobs_are_invalid_requests(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        recommend("chat", model="8b", vram_gib=8, **kwargs)  # type: ignore[arg-type]


def test_q4_0_kv_lets_a_9b_at_32k_fit_an_8_gib_card() -> None:
    # With q8_0 KV a 9B at 32k is partial at every quant down to the floor on 8 GiB; q4_0 KV fits it whole.
    only_q8 = recommend("chat", model="9b", vram_gib=8, context_tokens=32768, cache_type_k="q8_0",
                        cache_type_v="q8_0")  # fmt: skip
    assert all(o.fit == "partial" for o in only_q8.options if not o.below_floor)
    rec = recommend("chat", model="9b", vram_gib=8, context_tokens=32768)
    pick = rec.pick
    assert pick is not None
    assert pick.fit == "gpu"
    assert (pick.memory.cache_type_k, pick.memory.cache_type_v) == ("q4_0", "q4_0")
    assert pick.memory.total_bytes <= 8 * GIB
    assert pick.runner_flags[6:10] == ["-ctk", "q4_0", "-ctv", "q4_0"]
    assert any("q4_0" in n for n in pick.notes)


def test_fixed_knobs_apply_to_every_row() -> None:
    rec = recommend("chat", model="8b", vram_gib=6, context_tokens=16384, cache_type_k="f16", cache_type_v="f16",
                    flash_attn="off", n_ubatch=1024)  # fmt: skip
    for o in rec.options:
        if o.family != "gguf":
            continue
        m = o.memory
        assert (m.cache_type_k, m.cache_type_v, m.flash_attn, m.n_ubatch) == ("f16", "f16", False, 1024)
        assert "-fa" in o.runner_flags
        assert o.runner_flags[o.runner_flags.index("-fa") + 1] == "off"
        assert o.runner_flags[o.runner_flags.index("-ub") + 1] == "1024"


def test_cli_knobs_reach_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["suggest", "--task", "chat", "--model", "8b", "--vram", "8", "--cache-type-k", "q8_0",
            "--cache-type-v", "q8_0", "--ubatch", "256", "--json"]  # fmt: skip
    assert main(argv) == 0
    options = json.loads(capsys.readouterr().out)["options"]
    assert {(o["memory"]["cache_type_k"], o["memory"]["n_ubatch"]) for o in options} == {("q8_0", 256)}


def test_memory_defaults_flash_attention_to_auto(capsys: pytest.CaptureFixture[str]) -> None:
    # llama.cpp's -fa auto turns flash attention on for CUDA; so does memory, unless told off.
    assert main(["memory", "--model", "8b", "--quant", "Q4_K_M", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flash_attn"] is True
    assert main(["memory", "--model", "8b", "--quant", "Q4_K_M", "--flash-attn", "off", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["flash_attn"] is False
    assert main(["memory", "--model", "8b", "--quant", "Q4_K_M", "--flash-attn", "--json"]) == 0  # bare = on
    assert json.loads(capsys.readouterr().out)["flash_attn"] is True
