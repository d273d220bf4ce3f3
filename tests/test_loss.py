"""expected_loss() in the public API, the `loss` command, and the loss an option really has."""

from __future__ import annotations

import json
import math

import pytest
import quantadvisor
from quantadvisor import LossRange, expected_loss, recommend
from quantadvisor.cli import main
from quantadvisor.dataset import load_dataset
from quantadvisor.errors import InvalidRequestError
from quantadvisor.loss import loss_formats
from quantadvisor.quality.distortion import kv_cache_distortion


@pytest.mark.parametrize("name", loss_formats())
def test_every_format_has_a_range_or_a_stated_reason(name: str) -> None:
    """Every format in data/formats.yaml, the GPTQ widths and the KV-cache types: priced, or why not."""
    e = expected_loss(name, "code", model="8b")
    assert isinstance(e, LossRange)
    assert e.format == name
    if e.mid is None:
        assert e.low is None
        assert e.high is None
        assert any("no quality evidence" in n or "no record measures" in n for n in e.notes), e.notes
    else:
        assert e.low is not None
        assert e.high is not None
        assert -1.0 <= e.low <= e.mid <= e.high <= 1.0
        if e.mid > 0:
            assert e.records
            assert e.sources


@pytest.mark.parametrize(
    "name", ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "W8A16-INT", "W3A16-INT", "W2A16-INT", "MXFP4", "KV-q8_0"]
)
def test_the_formats_the_old_model_could_not_price_are_priced(name: str) -> None:
    e = expected_loss(name, "chat", model="8b")
    assert e.mid is not None
    assert e.mid > 0
    assert e.records


def test_gptq_widths_order_by_bits_and_aliases_resolve() -> None:
    w8, w4, w3, w2 = (
        expected_loss(f, "math", model="8b").mid for f in ("GPTQ-Int8", "W4A16", "W3A16-INT", "W2A16-INT")
    )
    assert w8 is not None
    assert w4 is not None
    assert w3 is not None
    assert w2 is not None
    assert w8 < w4 < w3 < w2
    assert expected_loss("q4_k_m", "coding", model="8b").format == "Q4_K_M"


@pytest.mark.parametrize(("size", "total", "active", "shape"), [
    ("0.5b", 0.5, None, "Qwen2.5-0.5B"), ("405b", 405.0, None, "Llama-3.1-405B"),
    ("671b-a37b", 671.0, 37.0, "DeepSeek-V3"), ("20b", 20.9, 4.2, "gpt-oss-20b"),
])  # fmt: skip
def test_a_size_takes_the_shape_suggest_plans_with(size: str, total: float, active: float | None, shape: str) -> None:
    """The same model stands for a size in loss and in suggest: 20b is gpt-oss-20b's MoE in both."""
    e = expected_loss("Q4_K_M", "chat", model=size)
    assert e.params_billions == pytest.approx(total, rel=0.03)
    assert (e.active_params_billions is None) == (active is None)
    if active is not None:
        assert e.active_params_billions == pytest.approx(active, rel=0.03)
    assert any(shape in n and "approximate" in n for n in e.notes)


def test_a_size_no_model_has_is_scaled_and_labelled_approximate() -> None:
    e = expected_loss("Q4_K_M", "chat", model="100b")
    assert e.params_billions == 100.0
    assert any("scaled from the nearest reference shape" in n and "approximate" in n for n in e.notes)


def test_smaller_models_lose_more_at_the_same_format() -> None:
    tiny, mid, big = (expected_loss("Q4_K_M", "math", model=m).mid for m in ("0.5b", "8b", "405b"))
    assert tiny is not None
    assert mid is not None
    assert big is not None
    assert tiny > mid > big


def test_params_beat_the_model_and_a_missing_model_is_an_8b() -> None:
    e = expected_loss("Q4_K_M", "code", params_billions=14.0)
    assert e.params_billions == 14.0
    default = expected_loss("Q4_K_M", "code")
    assert default.params_billions == 8.0
    assert any("no model given" in n for n in default.notes)


def test_unknown_names_are_bad_requests() -> None:
    with pytest.raises(InvalidRequestError, match="unknown format"):
        expected_loss("Q4_K_X", "code")
    with pytest.raises(InvalidRequestError, match="KV-cache type"):
        expected_loss("KV-q3_0", "code")
    with pytest.raises(InvalidRequestError):
        expected_loss("Q4_K_M", "dancing")


def test_expected_loss_is_lazy_public_api() -> None:
    assert "expected_loss" in quantadvisor.__all__
    assert quantadvisor.expected_loss is expected_loss


def test_cli_loss_prints_the_figure_and_its_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loss", "--quant", "Q4_K_M", "--task", "code", "--model", "8b"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Q4_K_M on code, 8.03B model: expected loss ")
    assert "nyamsuren-2024-qlmm-lua" in out
    assert "llama-cpp-perplexity-readme" in out
    assert main(["loss", "--quant", "Q4_K_M", "--task", "code", "--model", "8b", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["format"] == "Q4_K_M"
    assert 0 < payload["mid"] < 0.05
    assert payload["records"]


def test_cli_loss_bad_format_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["loss", "--quant", "Q4_K_X"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: unknown format 'Q4_K_X'")


def test_an_option_on_a_quantized_kv_cache_carries_its_cost() -> None:
    """An 8B at Q8_0 on 8 GiB runs partly offloaded with a q8_0 cache: its loss includes the cache's."""
    ds = load_dataset()
    if kv_cache_distortion(ds, "q8_0", "q8_0") is None:
        pytest.skip("no q8_0 KV-cache record")
    rec = recommend("chat", model="8b", vram_gib=8)
    cached = [o for o in rec.options if o.memory.cache_type_k == "q8_0"]
    assert cached
    for o in cached:
        assert o.expected_loss.kv_cache == "q8_0/q8_0"
        plain = expected_loss(o.quant, "chat", model="8b")
        assert o.expected_loss.mid is not None
        assert plain.mid is not None
        assert o.expected_loss.mid > plain.mid
        assert any("KV cache's cost" in n for n in o.notes)
    assert all(o.expected_loss.kv_cache is None for o in rec.options if o.memory.cache_type_k == "f16")


def test_a_released_precision_reads_so() -> None:
    from quantadvisor.render import _loss

    rec = recommend("chat", model="20b", vram_gib=16, ram_gib=64)
    pick = rec.options[0]
    assert pick.released_precision
    assert _loss(pick) == "released precision"
    assert not math.isnan(pick.expected_loss.sort_key)


def test_a_released_precision_with_a_quantized_kv_cache_reads_as_the_release_plus_the_cache() -> None:
    # gpt-oss on a card where the plan quantizes the KV cache: not "0.0% (0.0-0.0)", which reads as
    # a measured zero for the weights, but the release plus what the cache's own records cost.
    from quantadvisor.render import _loss

    rec = recommend("chat", model="20b", vram_gib=12, ram_gib=32)
    pick = rec.options[0]
    assert pick.released_precision
    assert pick.expected_loss.kv_cache is not None
    assert pick.expected_loss.mid is not None
    assert _loss(pick) == f"release+{pick.expected_loss.mid * 100:.1f}%†"


@pytest.mark.parametrize("kwargs", [{"cache_type_k": None}, {"cache_type_v": 3}, {"cache_type_k": "q9"},
                                    {"dataset": 5}, {"imatrix": "yes"}])  # fmt: skip
def test_bad_arguments_raise_the_librarys_own_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        expected_loss("Q4_K_M", "code", model="8b", **kwargs)  # type: ignore[arg-type]


def test_the_models_own_range_sits_inside_the_one_run_range() -> None:
    """model_low-model_high leaves out a benchmark run's noise: narrower, around the same mid."""
    for quant in ("Q8_0", "Q4_K_M", "Q3_K_M"):
        e = expected_loss(quant, "code", model="8b")
        assert e.low is not None
        assert e.high is not None
        assert e.mid is not None
        assert e.model_low is not None
        assert e.model_high is not None
        assert e.low <= e.model_low <= e.mid <= e.model_high <= e.high
        assert e.model_low >= 0.0
    unknown = expected_loss("TQ1_0", "code", model="8b")
    assert unknown.model_low is None
