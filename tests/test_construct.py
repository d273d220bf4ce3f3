"""construct(): result models built without validation, checked in full while the tests run."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from quantadvisor import construct as construct_module
from quantadvisor.construct import construct


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    count: int
    share: float
    names: list[str] = []


def test_the_test_suite_runs_with_checking_on() -> None:
    assert construct_module._VALIDATE, "tests/conftest.py sets QUANTADVISOR_VALIDATE=1"


def test_well_typed_fields_give_the_same_model_as_validation() -> None:
    made = construct(_Result, count=3, share=0.5, names=["a"])
    assert made == _Result(count=3, share=0.5, names=["a"])
    assert made.names == ["a"]
    assert _Result(count=1, share=1.0).names == []


def test_a_missing_field_fails_the_check() -> None:
    with pytest.raises(ValidationError):
        construct(_Result, count=3)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"count": 3, "share": 1}, "int given"),  # equal after validation, but serialises as 1, not 1.0
        ({"count": 3, "share": 0.5, "names": ("a",)}, r"would change \['names'\]"),
        ({"count": "3", "share": 0.5}, r"would change \['count'\]"),
    ],
)
def test_a_value_validation_would_change_fails_the_check(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(AssertionError, match=problem):
        construct(_Result, **fields)


def test_without_checking_nothing_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(construct_module, "_VALIDATE", False)
    made = construct(_Result, count=3, share=0.5)
    assert made.count == 3
    assert made.names == []


def test_lists_are_copied_as_validation_would() -> None:
    names = ["a"]
    made = construct(_Result, count=1, share=1.0, names=names)
    names.append("b")
    assert made.names == ["a"]


def test_a_result_shares_no_list_with_the_dataset_cache() -> None:
    """The ladder and the fitted model are cached per dataset: a result must not hand out their lists."""
    from quantadvisor.dataset import load_dataset
    from quantadvisor.quality import expected_loss, kld_equivalents

    ds = load_dataset()
    loss = expected_loss("W4A8", "chat", params_billions=8.0, dataset=ds)
    loss.evidence.append("not-a-record")
    assert "not-a-record" not in kld_equivalents(ds)["W4A8"][1]
    again = expected_loss("W4A8", "chat", params_billions=8.0, dataset=ds)
    assert again.evidence == loss.evidence[:-1]
