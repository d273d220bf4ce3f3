"""One request's shared handling: validate the arguments, work out the hardware budget, resolve the model
and rank its options. recommend() (api) and rank_files() (files) both build on it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .architecture import ModelSpec, load_model_spec
from .construct import construct
from .errors import InvalidRequestError, ModelResolutionError
from .knobs import RuntimeKnobs
from .memory import type_sizes
from .planner import FileCandidate, Planner, model_params
from .quality import effective_params
from .results import HardwareUsed, Recommendation
from .rules import default_embedding, evaluate_request_rules
from .speed import speed_facts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .dataset import Dataset
    from .hardware import Budget, GPUReading
    from .results import QuantOption
    from .rules import Prefer

__all__ = [
    "GIB", "TASKS", "Request", "is_repo_model", "local_gguf", "normalise_task", "prepare_request", "rank_model",
    "resolve_model",
]  # fmt: skip

GIB = 2**30
TASKS = ("code", "math", "reasoning", "chat", "qa", "summarization", "translation", "rag")

_TASK_ALIASES = {
    "coding": "code", "programming": "code", "maths": "math", "mathematics": "math",
    "reason": "reasoning", "thinking": "reasoning", "conversation": "chat", "assistant": "chat",
    "general": "chat", "knowledge": "qa", "question-answering": "qa", "knowledge-qa": "qa",
    "summarize": "summarization", "summarise": "summarization", "summarisation": "summarization",
    "translate": "translation", "retrieval": "rag",
}  # fmt: skip


def normalise_task(task: str) -> str:
    """Map a task name or alias to one of TASKS."""
    if not isinstance(task, str):
        raise InvalidRequestError(f"task must be a string, not {type(task).__name__}")
    key = task.strip().lower().replace("_", "-").replace(" ", "-")
    key = _TASK_ALIASES.get(key, key)
    if key not in TASKS:
        from .dataset import closest_names

        close = closest_names(key, [*TASKS, *_TASK_ALIASES])
        raise InvalidRequestError(
            f"unknown task {task!r}",
            hint=f"use one of {', '.join(TASKS)}" + (f" (did you mean {close[0]}?)" if close else ""),
        )
    return key


def _check_number(value: float | None, name: str, *, allow_zero: bool = True) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(f"{name} must be a number, not {value!r}")
    if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
        raise InvalidRequestError(f"{name} must be a finite number {'≥' if allow_zero else '>'} 0, not {value}")
    if value > 1024 * 1024:
        raise InvalidRequestError(f"{name} {value:g} is beyond any machine (at most 1 PiB)")
    return float(value)


def _budget(
    *, vram_gib: float | None, gpu: str | None, gpus: int, ram_gib: float | None, dataset: Dataset
) -> tuple[Budget, list[float], list[str]]:
    """The planning budget, the GPUs' measured peak bandwidths (GB/s) and detection notes.

    No GPU (none detected, or --vram 0) is one behaviour: a CPU-only plan checked against the host
    RAM this machine reports (MemAvailable), unless --ram replaces it.
    """
    from .hardware import detect_hardware, detect_host_memory, hardware_from_overrides, planning_budget

    if vram_gib == 0 and gpu is None:
        # CPU-only by request: this machine's RAM still bounds the plan; no GPU driver is queried.
        base = detect_host_memory() if ram_gib is None else None
        report = hardware_from_overrides(vram_gib=0, ram_gib=ram_gib, base=base, dataset=dataset)
    elif vram_gib is not None or gpu is not None:
        report = hardware_from_overrides(vram_gib=vram_gib, gpu=gpu, gpus=gpus, ram_gib=ram_gib, dataset=dataset)
    else:
        if gpus != 1:
            raise InvalidRequestError(
                "--gpus describes cards you plan for; detected GPUs are counted as found",
                hint="add --vram GIB (per card) or --gpu NAME",
            )
        report = detect_hardware()
        if ram_gib is not None:  # keep the detected GPUs, replace host RAM (and its MemAvailable)
            report = hardware_from_overrides(ram_gib=ram_gib, base=report, dataset=dataset)
    return planning_budget(report), _bandwidths(report.gpus, dataset), list(report.notes)


def is_repo_model(model: object) -> bool:
    """Whether `model` names a Hub repo (owner/name[@revision]) rather than a local file, folder or size."""
    if not isinstance(model, str) or Path(model).expanduser().exists():
        return False  # a local path wins over a repo id of the same spelling (models/x.gguf)
    if model.strip().lower().endswith((".gguf", ".json")):
        return False  # a missing local file: load_model_spec says so instead of asking the Hub
    if "/" not in model:
        return False  # sizes ("9b") and bare names never are: skip importing the Hub client
    from .hub import is_repo_ref

    return is_repo_ref(model)


def resolve_model(model: str | Path | dict[str, Any] | ModelSpec, ds: Dataset) -> ModelSpec:
    is_file = isinstance(model, (str, Path)) and str(model).strip().lower().endswith((".gguf", ".json"))
    if is_file and not Path(str(model)).expanduser().exists():
        raise InvalidRequestError(f"{model}: no such file", hint="check the path, or pass a size such as 8b")
    try:
        return load_model_spec(model, ds)
    except ModelResolutionError as exc:
        raise InvalidRequestError(exc.message, hint=exc.hint) from exc


def _reserved(embedding_model: str | bool | None, ds: Dataset) -> tuple[int, str | None]:
    if not embedding_model:
        return 0, None
    name = "bge-m3" if embedding_model is True else str(embedding_model)
    wanted = name.strip().casefold()
    for r in ds.residents.values():
        if wanted == r.name.casefold() or wanted in (a.casefold() for a in r.aliases):
            return r.vram_bytes, r.name
    from .dataset import closest_names

    close = closest_names(name, [r.name for r in ds.residents.values()])
    raise InvalidRequestError(
        f"unknown embedding model {name!r}",
        hint=f"known: {', '.join(r.name for r in ds.residents.values())}"
        + (f" (closest: {close[0]})" if close else ""),
    )


@dataclass(frozen=True)
class Request:
    """A validated request: the task, the hardware budget and the planner's common arguments."""

    ds: Dataset
    task: str
    prefer: Prefer
    context: int
    rag: bool
    hardware: HardwareUsed
    common: dict[str, Any]

    def with_reserve(self, nbytes: int, what: str) -> Request:
        """Keep `nbytes` of VRAM for something beside the LLM (an embedding model, an mmproj)."""
        hw = self.hardware
        llm = max(0, hw.llm_vram_bytes - nbytes) if hw.vram_bytes > 0 else 0
        hardware = hw.model_copy(
            update={
                "llm_vram_bytes": llm, "reserved_bytes": hw.reserved_bytes + nbytes,
                "reserved_for": f"{hw.reserved_for} + {what}" if hw.reserved_for else what,
                "steps": [*hw.steps, f"reserve {what}: {nbytes / GIB:.2f} GiB → {llm / GIB:.2f} GiB for the LLM"],
            }
        )  # fmt: skip
        return replace(self, hardware=hardware, common={**self.common, "budget_bytes": llm})


def prepare_request(
    task: str, *, vram_gib: float | None, gpu: str | None, gpus: int, context_tokens: int, ram_gib: float | None,
    embedding_model: str | bool | None, prefer: Prefer, dataset: Dataset | None, knobs: RuntimeKnobs | None = None,
    host_bandwidth_gbps: float | None = None, price_per_kwh: float | None = None,
) -> Request:  # fmt: skip
    """Validate the inputs and work out the hardware budget (detecting the GPU when none is given)."""
    from .dataset import load_dataset

    ds = dataset or load_dataset()
    task = normalise_task(task)
    if prefer not in ("quality", "balanced", "speed"):
        raise InvalidRequestError(f"unknown preference {prefer!r}", hint="use quality, balanced or speed")
    if isinstance(context_tokens, bool) or not isinstance(context_tokens, int) or context_tokens <= 0:
        raise InvalidRequestError(f"context must be a positive number of tokens, not {context_tokens!r}")
    vram_gib = _check_number(vram_gib, "VRAM (GiB)")
    ram_gib = _check_number(ram_gib, "RAM (GiB)")
    if not isinstance(gpus, int) or gpus < 1:
        raise InvalidRequestError(f"gpus must be 1 or more, not {gpus!r}")
    if task == "rag" and embedding_model is None:
        # RAG implies an embedding model in VRAM: the rule names the default (embedding_model=False
        # or --rag none when it runs elsewhere).
        embedding_model = default_embedding(ds.rules.values()) or None
    if isinstance(embedding_model, str) and embedding_model.strip().lower() in {"none", "no", "off"}:
        embedding_model = False
    reserve, reserved_for = _reserved(embedding_model, ds)
    budget, measured_bw, hw_notes = _budget(vram_gib=vram_gib, gpu=gpu, gpus=gpus, ram_gib=ram_gib, dataset=ds)
    llm_budget = budget.vram_bytes if budget.vram_bytes > 0 else 0
    gpu_bw = min(measured_bw) if measured_bw else None
    hardware = construct(
        HardwareUsed,
        vram_bytes=budget.vram_bytes, llm_vram_bytes=llm_budget, ram_bytes=budget.ram_bytes, gpu_name=budget.gpu_name,
        n_gpus=max(1, sum(1 for b in budget.per_gpu_bytes if b > 0)),
        compute_capability=budget.compute_capability, bandwidth_gbps=gpu_bw,
        source=budget.source, steps=list(budget.steps), notes=hw_notes, cpu_only=budget.vram_bytes <= 0,
    )  # fmt: skip
    common = {
        "task": task, "context": context_tokens, "budget_bytes": llm_budget, "ram_bytes": budget.ram_bytes,
        "cc": budget.compute_capability, "gpu_bw": gpu_bw, "n_gpus": hardware.n_gpus, "prefer": prefer, "dataset": ds,
        "knobs": knobs or RuntimeKnobs(),
        **speed_facts(budget.gpu_name, gpu_bw, hardware.n_gpus, ds, host_bandwidth_gbps, price_per_kwh),
    }  # fmt: skip
    rag = bool(reserve)
    req = Request(ds, task, prefer, context_tokens, rag, hardware, common)
    return req.with_reserve(reserve, reserved_for) if reserve and reserved_for else req


def local_gguf(model: object, ds: Dataset) -> tuple[ModelSpec, FileCandidate | None] | None:
    """A .gguf file on disk: its shape, and the file as a candidate (its own type and exact size).

    One header read serves both.
    """
    if not isinstance(model, (str, Path)) or not str(model).lower().endswith(".gguf"):
        return None
    path = Path(str(model)).expanduser()
    if not path.is_file():
        return None
    from .memory import GGUF_FILE_TYPES
    from .memory.gguf_file import typed_tensors_from_gguf

    spec, _, size, quant = typed_tensors_from_gguf(path, type_sizes(ds))
    quant = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M"}.get(quant, quant)
    candidate = FileCandidate(quant=quant, file=str(path), size_bytes=size) if quant in GGUF_FILE_TYPES else None
    return spec, candidate


def rank_model(
    spec: ModelSpec,
    req: Request,
    *,
    files: Sequence[FileCandidate] | None = None,
    extra_serving: Sequence[str] = (),
    local_file: FileCandidate | None = None,
) -> Recommendation:
    """Rank the options of one model: every GGUF type (and serving format), or the given real files.

    With `local_file` (a .gguf on disk), that file is ranked among the types it could be requantized to.
    """
    params, active = model_params(spec)
    eff = effective_params(params, active)
    policy = evaluate_request_rules(req.ds.rules.values(), task=req.task, params=eff, rag=req.rag)
    planner = Planner(spec, policy=policy, **req.common)
    if files is None:
        options = planner.options()
        have = {o.quant for o in options}
        extra = [o for q in extra_serving if q not in have and (o := planner.option(q, "serving")) is not None]
        options = planner.rank([*options, *extra]) if extra else options
        if local_file is not None:
            mine = planner.file_options([local_file])
            others = [o for o in options if o.quant != local_file.quant]
            options = planner.rank([*mine, *others])
    else:
        options = planner.file_options(files)
    return construct(
        Recommendation,
        task=req.task, prefer=req.prefer, context_tokens=req.context, model=spec.name,
        model_approximate=spec.approximate, target=policy.target, floor=policy.floor, hardware=req.hardware,
        options=options, trace=[*policy.fired, *planner.trace], notes=_notes(options, spec, req.context),
    )  # fmt: skip


def _bandwidths(readings: Sequence[GPUReading], ds: Dataset) -> list[float]:
    """Peak memory bandwidth (GB/s) of each GPU: NVML's reading (bus width × memory clock) or the
    catalog's figure for a named card. A bare --vram card has none, so no offload slowdown is shown."""
    out = []
    for g in readings:
        if g.peak_bandwidth_gbps:
            out.append(g.peak_bandwidth_gbps)
        elif g.vendor != "unknown":
            from .hardware import lookup_gpu

            try:
                out.append(lookup_gpu(g.name, ds).memory_bandwidth_gbps)
            except InvalidRequestError:
                continue
    return out


def _notes(options: list[QuantOption], spec: ModelSpec, context_tokens: int) -> list[str]:
    notes = []
    if spec.max_context and context_tokens > spec.max_context:
        notes.append(
            f"context {context_tokens} is beyond {spec.stands_for or spec.name}'s trained {spec.max_context} tokens: "
            "llama.cpp will allocate it, but quality past the trained length is not what this advice measures"
        )
    if spec.approximate:
        notes.append(f"size shorthand: shapes of {spec.stands_for} (approximate for other models of this size)")
    if not options or options[0].fit == "none":
        notes.append("nothing fits this budget; the smallest options are listed with what they would need")
    return notes
