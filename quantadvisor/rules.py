"""The decision flow: evaluate data/rules.yaml, then filter, score and rank options. No I/O.

Rules are data; this module only knows what each `when`/`then` key means. The rules that fire
are returned in order as the explanation (Recommendation.trace).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from .construct import construct

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .models import Rule

__all__ = [
    "COARSE_LEVELS",
    "LADDER",
    "FiredRule",
    "FormatVerdict",
    "Policy",
    "default_embedding",
    "evaluate_format_rules",
    "evaluate_request_rules",
    "preference_order",
]

Prefer = Literal["quality", "balanced", "speed"]

# GGUF types considered for a recommendation, most bits first (the "bit levels").
LADDER: tuple[str, ...] = (
    "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "IQ4_XS", "Q3_K_L", "Q3_K_M",
    "IQ3_M", "IQ3_XS", "IQ3_XXS", "Q2_K", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_M", "IQ1_S",
)  # fmt: skip
# "One bit level" moves between these.
COARSE_LEVELS: tuple[str, ...] = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")


class FiredRule(BaseModel):
    """A rule that applied to this request, with what it says and where that comes from."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    question: str
    says: str
    source: list[str]
    provenance: str
    applies_to: str | None = None


@dataclass
class Policy:
    """What the request-level rules decided: the target and floor quant and budget handling."""

    target: str = "Q4_K_M"
    floor: str = "Q3_K_M"
    base_target: str = "Q4_K_M"
    """The target before any "one level higher when it fits" bump: what offload plans aim for."""
    reserve_embedding: str | None = None
    fired: list[FiredRule] = field(default_factory=list)

    def unbumped(self) -> Policy:
        """The same policy without the bump: a bumped type is only worth it when it fits on the GPU."""
        return Policy(self.base_target, self.floor, self.base_target, self.reserve_embedding, self.fired)


@dataclass
class FormatVerdict:
    """What the format-level rules (gates, hazards) decided for one format."""

    native: bool = True
    exclude: bool = False
    released_precision: bool = False  # the model was released in this format: no loss against its release
    flags: list[str] = field(default_factory=list)
    fired: list[FiredRule] = field(default_factory=list)


def _fired(rule: Rule, applies_to: str | None = None) -> FiredRule:
    return construct(
        FiredRule,
        id=rule.id, question=rule.question, says=rule.says, source=list(rule.source),
        provenance=rule.provenance, applies_to=applies_to,
    )  # fmt: skip


def _matches(when: dict[str, Any], facts: dict[str, Any]) -> bool:
    for key, expected in when.items():
        if key == "task" and facts.get("task") not in expected:
            return False
        if key == "format" and facts.get("format") not in expected:
            return False
        if key == "params_min" and not facts.get("params", 0) >= expected:
            return False
        if key == "params_max" and not facts.get("params", math.inf) <= expected:
            return False
        if key == "rag" and bool(facts.get("rag")) != bool(expected):
            return False
        if key == "cc_below":
            cc = facts.get("cc")
            if cc is None or cc >= expected:
                return False
        if key == "arch" and facts.get("arch") not in expected:
            return False
        if key == "no_model" and bool(facts.get("no_model")) != bool(expected):
            return False
        if key == "cc_unknown" and (facts.get("cc") is None) != bool(expected):
            return False
    return True


def _shift(quant: str, levels: int) -> str:
    """Move `quant` `levels` coarse levels up (positive) or down, staying on COARSE_LEVELS."""
    index = _coarse_index(quant)
    return COARSE_LEVELS[max(0, min(len(COARSE_LEVELS) - 1, index - levels))]


def _coarse_index(quant: str) -> int:
    if quant in COARSE_LEVELS:
        return COARSE_LEVELS.index(quant)
    position = LADDER.index(quant)
    return min(range(len(COARSE_LEVELS)), key=lambda i: abs(LADDER.index(COARSE_LEVELS[i]) - position))


def _lower(a: str, b: str) -> str:
    """The one with fewer bits of two ladder entries."""
    return a if LADDER.index(a) >= LADDER.index(b) else b


def evaluate_request_rules(
    rules: Iterable[Rule], *, task: str, params: float, rag: bool, no_model: bool = False
) -> Policy:
    """Walk Q0-Q3 in order and return the resulting policy with the rules that fired."""
    policy = Policy()
    facts = {"task": task, "params": params, "rag": rag, "no_model": no_model}
    for rule in rules:
        if rule.question not in {"Q0-model", "Q1-task", "Q2-size", "Q3-budget"}:
            continue
        if not _matches(rule.when, facts):
            continue
        then = rule.then
        if "target" in then:
            policy.target = policy.base_target = str(then["target"])
        if "floor" in then:
            policy.floor = str(then["floor"])
        if "bump" in then:
            policy.target = _shift(policy.target, int(then["bump"]))
        if "cap_target" in then:
            policy.target = _lower(policy.target, str(then["cap_target"]))
            policy.base_target = _lower(policy.base_target, str(then["cap_target"]))
        if "floor_down_to" in then:
            policy.floor = _lower(policy.floor, str(then["floor_down_to"]))
        if "reserve_embedding" in then:
            policy.reserve_embedding = str(then["reserve_embedding"])
        policy.fired.append(_fired(rule))
    for name in ("target", "base_target"):  # a target never sits below the floor
        if LADDER.index(policy.floor) < LADDER.index(getattr(policy, name)):
            policy.floor = getattr(policy, name)
    return policy


def default_embedding(rules: Iterable[Rule]) -> str | None:
    """The embedding model the RAG rule reserves when the request names none."""
    for rule in rules:
        if rule.question == "Q3-budget" and "reserve_embedding" in rule.then:
            return str(rule.then["reserve_embedding"])
    return None


def evaluate_format_rules(
    rules: Iterable[Rule], *, fmt: str, task: str, params: float, cc: float | None, arch: str | None = None
) -> FormatVerdict:
    """Apply gates and hazards to one format."""
    verdict = FormatVerdict()
    facts = {"task": task, "params": params, "cc": cc, "format": fmt, "arch": arch}
    for rule in rules:
        if rule.question not in {"gate", "hazard"} or not _matches(rule.when, facts):
            continue
        then = rule.then
        if then.get("native") is False:
            verdict.native = False
        if then.get("exclude"):
            verdict.exclude = True
        if then.get("released_precision"):
            verdict.released_precision = True
        if "flag" in then:
            verdict.flags.append(str(then["flag"]))
        verdict.fired.append(_fired(rule, applies_to=fmt))
    return verdict


def preference_order(policy: Policy, prefer: Prefer) -> list[str]:
    """GGUF types in the order the policy wants them, before fit is considered.

    balanced: the target, then down to the floor, then more bits up to Q8_0, then below the floor,
    then F16. quality: most bits first. speed: the floor first, then up to the target and beyond.
    """
    t, f = LADDER.index(policy.target), LADDER.index(policy.floor)
    if prefer == "quality":
        return list(LADDER)
    if prefer == "speed":
        order = [LADDER[i] for i in range(f, 0, -1)] + [LADDER[0]]
        return order + [LADDER[i] for i in range(f + 1, len(LADDER))]
    down = [LADDER[i] for i in range(t, f + 1)]
    up = [LADDER[i] for i in range(t - 1, 0, -1)]
    below = [LADDER[i] for i in range(f + 1, len(LADDER))]
    return down + up + below + [LADDER[0]]
