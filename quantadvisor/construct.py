"""Building result models from values quantadvisor computed itself, without validating them again.

Validating a pydantic model first builds its schema: about 2 ms per class, 30 ms of every CLI run
for the ~15 result classes, spent re-checking integers and strings this package just computed.
`construct()` skips that; untrusted input (config.json, GGUF headers, NVML, data/*.yaml) is still
validated where it enters. With QUANTADVISOR_VALIDATE=1, which the test suite sets, every call is
checked instead: the fields must validate, validation must not change them (a tuple where a list
is declared, a dict where a model is), and they must serialise without a type warning.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["VALIDATE_ENV_VAR", "construct"]

VALIDATE_ENV_VAR = "QUANTADVISOR_VALIDATE"
_VALIDATE = os.environ.get(VALIDATE_ENV_VAR) == "1"

M = TypeVar("M", bound=BaseModel)


def construct(cls: type[M], /, **fields: Any) -> M:
    """`cls(**fields)` for fields of the declared types, without the validation pass.

    Lists and dicts are copied, as validation would: a result must not share a container with a
    cache (the KLD ladder's evidence ids, a planner's per-quant notes) that a caller could mutate.
    """
    for name, value in fields.items():
        if type(value) in (list, dict):
            fields[name] = value.copy()
    made = cls.model_construct(**fields)
    if _VALIDATE:
        _check(cls, made, fields)
    return made


def _check(cls: type[BaseModel], made: BaseModel, fields: dict[str, Any]) -> None:
    validated = cls(**fields)  # raises ValidationError on a missing field or a wrong type
    if validated != made:
        changed = [name for name in fields if getattr(validated, name) != getattr(made, name)]
        raise AssertionError(f"{cls.__name__}: validation would change {changed or 'the model'}")
    for name, value in fields.items():
        if type(value) is not type(getattr(validated, name)) and not isinstance(value, BaseModel):
            raise AssertionError(
                f"{cls.__name__}.{name}: {type(value).__name__} given, validation makes it "
                f"{type(getattr(validated, name)).__name__}"
            )
    made.model_dump(warnings="error")
