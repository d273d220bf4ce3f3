"""The speed model: per-type kernel efficiency, placement, fixed costs, energy and input checks."""

from __future__ import annotations

import pytest
from quantadvisor import InvalidRequestError, estimate_speed, recommend
from quantadvisor.speed import DEFAULT_HOST_BANDWIDTH_GBPS, energy_of, serving_decode_ratio


def test_q6_k_decodes_slower_than_q8_0_on_an_h100() -> None:
    # Issue 10's H100 figures: 267 (Q4_K_M) > 230 (Q8_0) > 201 (Q6_K) t/s, though Q6_K reads fewer bytes.
    speeds = {q: estimate_speed("8b", q, gpu="H100 SXM").decode_tokens_per_s for q in ("Q4_K_M", "Q8_0", "Q6_K")}
    assert speeds["Q4_K_M"] > speeds["Q8_0"] > speeds["Q6_K"]
    assert 267 * 0.8 < speeds["Q4_K_M"] < 267 * 1.2


def test_more_bandwidth_decodes_faster_and_names_its_facts() -> None:
    slow = estimate_speed("8b", "Q4_K_M", gpu="RTX 4060")
    fast = estimate_speed("8b", "Q4_K_M", gpu="NVIDIA H200")
    assert fast.decode_tokens_per_s > 3 * slow.decode_tokens_per_s
    assert fast.gpu_bandwidth_gbps == 4800
    assert "catalog" in (fast.gpu_bandwidth_source or "")
    assert fast.decode_low < fast.decode_tokens_per_s < fast.decode_high
    assert fast.prefill_low < fast.prefill_tokens_per_s < fast.prefill_high


def test_a_small_model_on_a_fast_gpu_is_bound_by_fixed_costs() -> None:
    assert estimate_speed("1b", "Q4_K_M", gpu="H200").decode_bound == "per-layer-overhead"
    assert estimate_speed("70b", "Q8_0", gpu="H200").decode_bound == "gpu-bandwidth"


def test_offload_is_slower_and_bound_by_host_bandwidth() -> None:
    full = estimate_speed("8b", "Q4_K_M", gpu="RTX 4090")
    half = estimate_speed("8b", "Q4_K_M", gpu="RTX 4090", gpu_layers=16)
    assert half.decode_tokens_per_s < full.decode_tokens_per_s / 2
    assert half.decode_bound == "host-bandwidth"
    assert half.host_bandwidth_gbps == DEFAULT_HOST_BANDWIDTH_GBPS
    assert "assumed" in half.host_bandwidth_source
    faster_ram = estimate_speed("8b", "Q4_K_M", gpu="RTX 4090", gpu_layers=16, host_bandwidth_gbps=200)
    assert faster_ram.decode_tokens_per_s > half.decode_tokens_per_s
    assert faster_ram.host_bandwidth_source.startswith("given")
    # Op offload streams the host layers' weights over PCIe for a 512-token prompt.
    assert half.prefill_ms["pcie"] > 0
    assert full.prefill_ms["pcie"] == 0


def test_a_model_too_big_for_the_card_is_planned_offloaded() -> None:
    est = estimate_speed("70b", "Q4_K_M", gpu="RTX 4090")
    assert any("-ngl" in n for n in est.notes)
    assert est.decode_tokens_per_s < 10


def test_moe_reads_only_the_active_experts() -> None:
    moe = estimate_speed("30b-a3b", "Q4_K_M", gpu="H200")
    dense = estimate_speed("32b", "Q4_K_M", gpu="H200")
    assert moe.decode_tokens_per_s > 2 * dense.decode_tokens_per_s
    offloaded = estimate_speed("30b-a3b", "Q4_K_M", gpu="H200", n_cpu_moe=48)
    assert offloaded.decode_tokens_per_s < moe.decode_tokens_per_s
    assert offloaded.decode_ms["host_weights"] > 0


def test_depth_slows_decode_through_the_kv_cache() -> None:
    short = estimate_speed("8b", "Q4_K_M", gpu="H100 SXM", context_tokens=32768)
    deep = estimate_speed("8b", "Q4_K_M", gpu="H100 SXM", context_tokens=32768, depth_tokens=16384)
    assert deep.decode_ms["gpu_kv"] > 50 * short.decode_ms["gpu_kv"]
    assert deep.decode_tokens_per_s < short.decode_tokens_per_s


def test_unified_memory_uses_the_chips_bandwidth_for_the_host() -> None:
    est = estimate_speed("8b", "Q4_0", gpu="M2 Ultra")
    assert est.host_bandwidth_gbps == 800
    assert "unified" in est.host_bandwidth_source


def test_energy_is_board_power_times_decode_time() -> None:
    est = estimate_speed("8b", "Q4_K_M", gpu="H200", price_per_kwh=0.30)
    assert est.energy is not None
    assert est.energy.board_power_w == 700
    assert est.energy.joules_per_token == pytest.approx(700 / est.decode_tokens_per_s, rel=1e-3)
    assert est.energy.kwh_per_million_tokens == pytest.approx(est.energy.joules_per_token / 3.6, rel=1e-2)
    assert est.energy.cost_per_million_tokens == pytest.approx(0.30 * est.energy.kwh_per_million_tokens, rel=1e-2)
    assert est.energy.upper_bound
    assert energy_of(100.0, None) is None


def test_nvfp4_is_anchored_on_the_published_pair() -> None:
    ratio, why = serving_decode_ratio("NVFP4", 12.0)
    assert ratio == pytest.approx(410.7 / 260.1)
    assert "2601.09527" in why
    slower, why_old = serving_decode_ratio("NVFP4", 9.0)
    assert "10.0" in why_old
    assert slower != ratio


@pytest.mark.parametrize(
    "kwargs",
    [{"gpus": 0}, {"depth_tokens": -1}, {"cpu_threads": 0}, {"host_bandwidth_gbps": -5}, {"vram_gib": float("nan")}],
)
def test_bad_arguments_raise_the_domain_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        estimate_speed("8b", "Q4_K_M", gpu="H100 SXM", **kwargs)  # type: ignore[arg-type]


def test_unknown_gpu_names_raise_the_domain_error() -> None:
    with pytest.raises(InvalidRequestError):
        estimate_speed("8b", "Q4_K_M", gpu="Voodoo 5")


@pytest.mark.parametrize("bandwidth", [1e308, 20_001.0, float("nan"), -1.0, True, "fast"])
def test_a_host_bandwidth_no_machine_has_is_refused(bandwidth: object) -> None:
    """--ram-bandwidth 1e308 priced offloaded decode as if host RAM cost nothing."""
    with pytest.raises(InvalidRequestError):
        estimate_speed("8b", "Q4_K_M", gpu="RTX 4090", gpu_layers=16, host_bandwidth_gbps=bandwidth)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        recommend("chat", model="8b", gpu="RTX 4090", host_bandwidth_gbps=bandwidth)  # type: ignore[arg-type]


def test_cli_refuses_a_host_bandwidth_beyond_any_machine(capsys: pytest.CaptureFixture[str]) -> None:
    from quantadvisor.cli import main

    assert main(["suggest", "--task", "chat", "--gpu", "RTX 4090", "--ram-bandwidth", "1e308"]) == 2
    assert "beyond any real machine" in capsys.readouterr().err
