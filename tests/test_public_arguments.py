"""Every public function, every argument, hostile values: only the library's own typed errors come out.

A download tool passes whatever a listing or a user typed; a TypeError or AttributeError from deep
inside is a crash to it. Each argument in turn gets each value below while the others stay sane.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import quantadvisor
from quantadvisor.errors import QuantAdvisorError

HOSTILE: list[Any] = [
    None, True, -1, 0, 1e309, float("nan"), 2**80, "", " ", "../x", "\x1b[31mred", "a" * 5000, b"bytes",
    [], {}, object(), ("8b",), 3j, 10**400, 5e-324, "\x00",
]  # fmt: skip
SANE = {"task": "code", "model": "8b", "quant": "Q4_K_M", "repo_id": "a/b", "files": [], "fmt": "Q4_K_M"}
FUNCTIONS = [
    name
    for name in quantadvisor.__all__
    if callable(getattr(quantadvisor, name)) and not isinstance(getattr(quantadvisor, name), type)
]


def _calls(name: str) -> list[tuple[str, dict[str, Any], list[Any]]]:
    function = getattr(quantadvisor, name)
    params = [
        p for p in inspect.signature(function).parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    calls = []
    for target in params:
        for value in HOSTILE:
            args, kwargs = [], {}
            for p in params:
                if p is target:
                    v = value
                elif p.default is inspect.Parameter.empty:
                    v = SANE.get(p.name, "8b")
                else:
                    continue
                if p.kind == p.POSITIONAL_ONLY:
                    args.append(v)
                else:
                    kwargs[p.name] = v
            calls.append((target.name, kwargs, args))
    return calls


@pytest.mark.parametrize("name", FUNCTIONS)
def test_hostile_arguments_raise_only_typed_errors(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing here may reach the network
    function = getattr(quantadvisor, name)
    for target, kwargs, args in _calls(name):
        try:
            function(*args, **kwargs)
        except QuantAdvisorError:
            pass
        except Exception as exc:
            pytest.fail(f"{name}({target}={kwargs.get(target, args)!r:.40}) raised {type(exc).__name__}: {exc!s:.200}")


def test_every_public_function_is_covered() -> None:
    assert {"recommend", "estimate_memory", "estimate_speed", "expected_loss", "pick_file"} <= set(FUNCTIONS)
