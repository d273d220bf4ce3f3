"""Ranking with speed: under every preference, an option worse in expected loss AND slower never
ranks above the option that beats it on both."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from quantadvisor import QuantOption, recommend
from quantadvisor.architecture import load_model_spec
from quantadvisor.dataset import load_dataset
from quantadvisor.planner import Planner
from quantadvisor.quality import effective_params
from quantadvisor.rules import evaluate_request_rules

PREFS = st.sampled_from(["quality", "balanced", "speed"])
GPUS = st.sampled_from(["RTX 4060", "RTX 4090", "H100 SXM", "H200", "M2 Max"])
MODELS = st.sampled_from(["3b", "8b", "9b", "14b", "20b", "30b-a3b", "32b", "70b"])


def _beats(a: QuantOption, b: QuantOption) -> bool:
    if a.fit == "none" or b.fit == "none" or a.speed is None or b.speed is None or a.expected_loss.mid is None:
        return False
    return a.expected_loss.sort_key < b.expected_loss.sort_key and (
        a.speed.decode_tokens_per_s > b.speed.decode_tokens_per_s
    )


def _assert_no_dominated_above(options: list[QuantOption]) -> None:
    for i, upper in enumerate(options):
        for lower in options[i + 1 :]:
            assert not _beats(lower, upper), f"{upper.quant} ranks above {lower.quant}, which beats it on both"


@settings(max_examples=20, deadline=None)
@given(model=MODELS, gpu=GPUS, prefer=PREFS, task=st.sampled_from(["chat", "code"]))
def test_recommendations_never_rank_a_dominated_option_first(model: str, gpu: str, prefer: str, task: str) -> None:
    rec = recommend(task, model=model, gpu=gpu, ram_gib=256, prefer=prefer)  # type: ignore[arg-type]
    _assert_no_dominated_above(rec.options)
    assert all(o.rank_reason for o in rec.options)


_DS = load_dataset()
_SPEC = load_model_spec("8b", _DS)


def _planner(prefer: str) -> Planner:
    params = 8.03
    policy = evaluate_request_rules(_DS.rules.values(), task="chat", params=effective_params(params, None), rag=False)
    return Planner(
        _SPEC, task="chat", context=4096, budget_bytes=24 * 2**30, ram_bytes=None, cc=8.9, gpu_bw=1008.0,
        n_gpus=1, policy=policy, prefer=prefer, dataset=_DS,  # type: ignore[arg-type]
    )  # fmt: skip


_BASE = _planner("balanced").options()


@settings(max_examples=60, deadline=None)
@given(
    prefer=PREFS,
    figures=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=0.5), st.floats(min_value=0.5, max_value=500.0)),
        min_size=len(_BASE), max_size=len(_BASE),
    ),
)  # fmt: skip
def test_any_losses_and_speeds_keep_dominance(prefer: str, figures: list[tuple[float, float]]) -> None:
    # Whatever the expected-loss model says (it changes), the order respects dominance.
    options = []
    for option, (loss, speed) in zip(_BASE, figures, strict=True):
        assert option.speed is not None
        options.append(
            option.model_copy(
                update={
                    "expected_loss": option.expected_loss.model_copy(update={"mid": loss}),
                    "speed": option.speed.model_copy(update={"decode_tokens_per_s": speed}),
                }
            )
        )
    _assert_no_dominated_above(_planner(prefer).rank(options))


def test_speed_preference_orders_fitting_options_by_decode() -> None:
    rec = recommend("chat", model="9b", gpu="RTX 4090", prefer="speed")
    at_floor = [o for o in rec.options if o.fit == "gpu" and not o.below_floor and o.native and o.family == "gguf"]
    speeds = [o.speed.decode_tokens_per_s for o in at_floor if o.speed is not None]
    assert speeds == sorted(speeds, reverse=True)
