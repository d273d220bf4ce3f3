"""Pydantic records shared by every module: the dataset's schema and the results' shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "GPU",
    "Architecture",
    "CatalogModel",
    "EvidenceModel",
    "EvidenceRecord",
    "Format",
    "GGMLType",
    "MeasuredBpw",
    "ModelShape",
    "Provenance",
    "Purpose",
    "Resident",
    "Rule",
    "Source",
    "TaskCategory",
]

Provenance = Literal["primary", "secondary", "derived"]
"""primary: read in the paper, its data release or the repository; secondary: a summary of a
source; derived: computed here from other records (the formula is stored)."""

TaskCategory = Literal[
    "code",
    "math",
    "reasoning",
    "chat",
    "qa",
    "summarization",
    "translation",
    "rag",
    "language-modelling",
]
"""Task categories the evidence and the decision flow speak of. `chat` covers commonsense
and conversational benchmarks (HellaSwag and similar); `qa` is knowledge QA (MMLU and similar)."""

FormatKind = Literal["weight-only", "weight+activation", "unquantized"]


class Record(BaseModel):
    """Base for every dataset record: frozen, and a typo in YAML is an error, not a silent default."""

    # defer_build: a dataset unpickled from the cache never validates, so schemas are built only
    # when YAML is actually parsed (saves ~40 ms of start-up).
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


def _require_text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


class Source(Record):
    """One entry of the bibliography."""

    id: str
    title: str
    authors: list[str]
    year: int
    arxiv: str | None = None
    url: str | None = None
    repository: str | None = None
    commit: str | None = None
    path: str | None = None
    note: str | None = None

    _check_id = field_validator("id", "title")(_require_text)

    @model_validator(mode="after")
    def _locatable(self) -> Source:
        if not (self.arxiv or self.url or self.repository):
            raise ValueError("a source needs an arxiv id, a url or a repository")
        return self


class GGMLType(Record):
    """A ggml block type: how many weights share a block and how many bytes the block takes."""

    name: str
    type_id: int
    block_size: int = Field(gt=0)
    bytes_per_block: int = Field(gt=0)
    source: str
    note: str | None = None

    @property
    def bits_per_weight(self) -> float:
        """8 × bytes per block ÷ weights per block, as ggml's type_traits imply."""
        return 8 * self.bytes_per_block / self.block_size


class MeasuredBpw(Record):
    """A published effective bits-per-weight of a whole GGUF mix, measured on one model."""

    model: str
    bits_per_weight: float = Field(gt=0)
    source: str
    note: str | None = None


class Format(Record):
    """A quantization format: a llama.cpp GGUF file type (mix) or a serving format."""

    name: str
    family: Literal["gguf", "serving"]
    kind: FormatKind
    description: str
    block_types: list[str]
    block_bits_per_weight: float = Field(gt=0)
    weight_bits: float | None = None
    activation_bits: float | None = None
    measured_bpw: list[MeasuredBpw] = []
    needs_imatrix: bool = False
    min_compute_capability: float | None = None
    runtimes: list[str]
    aliases: list[str] = []
    source: str
    note: str | None = None


class EvidenceModel(Record):
    """The model an evidence record was measured on."""

    family: str
    name: str
    params_billions: float = Field(gt=0)
    active_params_billions: float | None = None


class EvidenceRecord(Record):
    """One quality measurement (or a cited range) of a format against its unquantized baseline."""

    id: str
    source: str
    provenance: Provenance
    model: EvidenceModel | None = None
    model_size_range_billions: tuple[float, float] | None = None
    format: str
    imatrix: bool | None = None
    task: TaskCategory
    benchmark: str
    metric: str
    higher_is_better: bool
    baseline: float | None = None
    baseline_format: str | None = None
    """The format of the baseline when it is itself quantized (e.g. Q8_0); None = unquantized."""
    quantized: float | None = None
    relative_change: float | None = None
    relative_change_range: tuple[float, float] | None = None
    locator: str
    formula: str | None = None
    note: str | None = None

    _check_id = field_validator("id", "locator")(_require_text)

    @model_validator(mode="after")
    def _has_a_value(self) -> EvidenceRecord:
        if self.quantized is None and self.relative_change is None and self.relative_change_range is None:
            raise ValueError("a record needs 'quantized', 'relative_change' or 'relative_change_range'")
        if self.provenance == "derived" and not self.formula:
            raise ValueError("a derived record must store its formula")
        if self.model is None and self.model_size_range_billions is None:
            raise ValueError("a record needs 'model' or 'model_size_range_billions'")
        return self


class GPU(Record):
    """One GPU or accelerator of the catalog."""

    name: str
    vendor: Literal["nvidia", "amd", "intel", "apple"]
    aliases: list[str] = []
    memory_gib: float = Field(gt=0)
    memory_type: str | None = None
    memory_bandwidth_gbps: float = Field(gt=0)
    architecture: str
    compute_capability: float | None = None
    native_formats: list[str]
    unified_memory: bool = False
    fp16_tensor_tflops: float | None = Field(default=None, gt=0)
    """Dense FP16 tensor-core peak (half the marketed 2:4-sparse figure); sets prefill speed."""
    board_power_w: float | None = Field(default=None, gt=0)
    """Rated board power (TDP/TGP): an upper bound on what decoding draws."""
    segment: Literal["consumer", "workstation", "datacenter", "laptop", "soc"]
    source: str
    note: str | None = None


class Architecture(Record):
    """A reference architecture for a size shorthand ("8b", "30b-a3b"), standing for a real model."""

    shorthand: str
    aliases: list[str] = []
    stands_for: str
    hf_repo: str
    source: str
    config: dict[str, Any]
    note: str | None = None


Purpose = Literal["general", "coder", "reasoning", "math", "vision", "embedding"]
"""What a catalog model is for, as its own card says: `general` chat/instruct models, `coder`
(code generation), `reasoning` (thinking models), `math`, `vision` (image input), `embedding`."""

CatalogField = Literal["license", "gated", "purposes", "context_tokens", "ollama", "gguf_repos", "params"]


class ModelShape(Record):
    """A model's shape: config.json fields copied from one public copy of the file.

    Base and instruct checkpoints of a family usually share one shape; it is cited once here and
    named by each model that has it.
    """

    id: str
    config: dict[str, Any]
    source: str
    note: str | None = None

    _check_id = field_validator("id")(_require_text)


class CatalogModel(Record):
    """One open-weight model people run: its Hub repo, size, licence, purpose, shape and builds."""

    name: str
    hf_repo: str
    family: str
    shape: str
    """Id of the ModelShape (config.json fields) this model has."""
    params_billions: float = Field(gt=0)
    active_params_billions: float | None = Field(default=None, gt=0)
    params_source: str
    """Where params_billions comes from (a bibliography id)."""
    params_include: list[Literal["vision", "mtp", "audio"]] = []
    """Parts the recorded count includes that the LLM's GGUF does not hold (a vision tower, say)."""
    context_tokens: int = Field(gt=0)
    license: str
    gated: bool
    purposes: list[Purpose]
    instruct: bool
    """True for chat/instruct-tuned checkpoints, False for base (pretrained) ones."""
    gguf_repos: list[str] = []
    ollama: list[str] = []
    """Ollama library tags that pull this model (`qwen2.5-coder:7b`), without quant suffixes."""
    aliases: list[str] = []
    source: str
    """Where licence, gating and purpose were read (a bibliography id: a model card or listing)."""
    unverified: list[CatalogField] = []
    """Fields that could not be checked against a source; the note says what was assumed."""
    note: str | None = None

    _check_text = field_validator("name", "hf_repo", "family", "shape", "license")(_require_text)

    @field_validator("hf_repo")
    @classmethod
    def _repo_id(cls, value: str) -> str:
        owner, _, repo = value.partition("/")
        if not owner or not repo or "/" in repo:
            raise ValueError("must be a Hub repo id owner/name")
        return value

    @field_validator("purposes")
    @classmethod
    def _some_purpose(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one purpose")
        return value

    @field_validator("ollama")
    @classmethod
    def _ollama_tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if ":" not in tag or tag != tag.strip().lower():
                raise ValueError(f"{tag!r} is not an Ollama library tag such as qwen2.5-coder:7b (lower case)")
        return value


class Resident(Record):
    """Something else that lives in VRAM next to the LLM (an embedding model for RAG, say)."""

    name: str
    aliases: list[str] = []
    params_millions: float = Field(gt=0)
    vram_bytes: int = Field(gt=0)
    source: str
    note: str


# What a rule may test and decide (rules.py gives each key its meaning). A typo in a key would
# otherwise make a rule fire always (an unknown `when` key) or do nothing (an unknown `then` key).
RULE_WHEN: dict[str, type | tuple[type, ...]] = {
    "task": list, "format": list, "arch": list, "params_min": (int, float), "params_max": (int, float),
    "rag": bool, "cc_below": (int, float), "cc_unknown": bool, "no_model": bool,
}  # fmt: skip
RULE_THEN: dict[str, type | tuple[type, ...]] = {
    "target": str, "floor": str, "bump": int, "cap_target": str, "floor_down_to": str, "reserve_embedding": str,
    "native": bool, "exclude": bool, "released_precision": bool, "flag": str,
}  # fmt: skip
RULE_QUANT_KEYS = ("target", "floor", "cap_target", "floor_down_to")


class Rule(Record):
    """One step of the decision flow; see rules.py for what `when` and `then` may hold."""

    id: str
    question: Literal["Q0-model", "Q1-task", "Q2-size", "Q3-budget", "gate", "hazard"]
    when: dict[str, Any]
    then: dict[str, Any]
    says: str
    source: list[str]
    provenance: Provenance

    @field_validator("when")
    @classmethod
    def _known_conditions(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_keys(value, RULE_WHEN, "condition")

    @field_validator("then")
    @classmethod
    def _known_actions(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_keys(value, RULE_THEN, "action")


def _check_keys(value: dict[str, Any], allowed: dict[str, type | tuple[type, ...]], what: str) -> dict[str, Any]:
    for key, item in value.items():
        if key not in allowed:
            raise ValueError(f"unknown {what} {key!r}; known: {', '.join(sorted(allowed))}")
        kind = allowed[key]
        ok = isinstance(item, kind) and not (kind in {int, (int, float)} and isinstance(item, bool))
        if not ok:
            raise ValueError(f"{what} {key!r} must be {getattr(kind, '__name__', 'a number')}, not {item!r}")
    return value
