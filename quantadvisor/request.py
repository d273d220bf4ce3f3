"""One request's shared handling: validate the arguments, work out the hardware budget, resolve the model
and rank its options. recommend() (api) and rank_files() (files) both build on it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import limits
from .architecture import ModelSpec, load_model_spec
from .construct import construct
from .errors import InvalidRequestError, ModelResolutionError
from .knobs import RuntimeKnobs
from .limits import real_number
from .memory import type_sizes
from .memory.runtime import DEFAULTS
from .planner import FileCandidate, Planner, model_params
from .quality import effective_params
from .results import HardwareUsed, Recommendation
from .rules import default_embedding, evaluate_request_rules
from .speed import speed_facts
from .untrusted import exists, is_file, local_path

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .dataset import Dataset
    from .hardware import Budget, GPUReading
    from .results import QuantOption
    from .rules import Prefer

__all__ = [
    "GIB", "GPU_FLOOR_BYTES", "TASKS", "Request", "is_repo_model", "local_gguf", "normalise_task", "prepare_request",
    "rank_model", "resolve_model", "tag_quant", "thin_headroom",
]  # fmt: skip

GIB = 2**30
# Any plan with a layer on a GPU pays llama.cpp's CUDA context and the runtime seen whenever layers
# run there, before any weight or compute buffer (memory/runtime.py, both measured): a card with
# less than this cannot hold a layer of any model, so such a request is CPU-only, as --vram 0.
GPU_FLOOR_BYTES = DEFAULTS.cuda_context_bytes + DEFAULTS.offload_runtime_bytes
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
    if len(task) > 64:  # no task name is this long; difflib on a huge string is slow
        raise InvalidRequestError(f"unknown task {_short(task)}", hint=f"use one of {', '.join(TASKS)}")
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


def _short(value: object) -> str:
    """A repr of an argument short enough for a one-line error (a 10^6-digit int is not printed)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a huge number"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_number(value: float | None, name: str, *, allow_zero: bool = True) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequestError(f"{name} must be a number, not {_short(value)}")
    if isinstance(value, int) and abs(value) > 2**60:  # float(value) would overflow for 10^400
        raise InvalidRequestError(f"{name} {_short(value)} is beyond any machine (at most 1 PiB)")
    if math.isnan(value) or math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
        raise InvalidRequestError(f"{name} must be a finite number {'≥' if allow_zero else '>'} 0, not {value}")
    if value > 1024 * 1024:
        raise InvalidRequestError(f"{name} {value:g} is beyond any machine (at most 1 PiB)")
    return float(value)


def _budget(
    *, vram_gib: float | None, gpu: str | None, gpus: int, ram_gib: float | None, margin_bytes: int | None,
    dataset: Dataset,
) -> tuple[Budget, list[float], list[str], int | None]:  # fmt: skip
    """The planning budget, the GPUs' measured peak bandwidths (GB/s), detection notes, and the total
    memory of the smallest card planned with (what vLLM's --gpu-memory-utilization is a fraction of).

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
    budget = planning_budget(report, safety_margin_bytes=margin_bytes)
    used = [g.total_bytes for g, b in zip(report.gpus, budget.per_gpu_bytes, strict=True) if b > 0]
    return budget, _bandwidths(report.gpus, dataset), list(report.notes), (min(used) if used else None)


def is_repo_model(model: object) -> bool:
    """Whether `model` names a Hub repo (owner/name[@revision]) rather than a local file, folder or size."""
    if not isinstance(model, str) or len(model) > limits.MAX_MODEL_ARG_CHARS or exists(local_path(model)):
        return False  # a local path wins over a repo id of the same spelling (models/x.gguf)
    if model.strip().lower().endswith((".gguf", ".json")):
        return False  # a missing local file: load_model_spec says so instead of asking the Hub
    if "/" not in model:
        return False  # sizes ("9b") and bare names never are: skip importing the Hub client
    from .hub import is_repo_ref

    return is_repo_ref(model)


def resolve_model(model: str | Path | dict[str, Any] | ModelSpec, ds: Dataset) -> ModelSpec:
    is_file = isinstance(model, (str, Path)) and str(model).strip().lower().endswith((".gguf", ".json"))
    if is_file and not exists(local_path(str(model))):
        raise InvalidRequestError(f"{str(model)[:200]}: no such file", hint="check the path, or pass a size such as 8b")
    try:
        return load_model_spec(model, ds)
    except ModelResolutionError as exc:
        raise InvalidRequestError(exc.message, hint=exc.hint) from exc


_TAG_QUANT = re.compile(r"[-_.](i?q\d\w*|fp16|f16|bf16|fp32|f32|mxfp4)$", re.IGNORECASE)


def tag_quant(model: object) -> str | None:
    """The GGUF type an Ollama tag names (``llama3.1:8b-instruct-q4_K_M`` → ``Q4_K_M``), or None.

    Only a ``name:tag`` without a slash is a tag; the suffix is read as a file name's quant is.
    """
    if not isinstance(model, str) or ":" not in model or "/" in model:
        return None
    match = _TAG_QUANT.search(model.strip().partition(":")[2])
    if match is None:
        return None
    from .hub import quant_from_filename

    named = quant_from_filename(f"x-{match.group(1)}.gguf")
    return named.base if named is not None else None


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
    cards: tuple[int, ...] = ()
    """Each planned GPU's budget for the LLM (what a per-GPU figure is checked against)."""
    host_bandwidth_gbps: float | None = None
    price_per_kwh: float | None = None

    def as_cpu_only(self, why: str) -> Request:
        """This request planned as with no GPU (--vram 0): host RAM read when not given (and then
        checked), the RAM column, and commands that keep llama.cpp off the GPU (--device none)."""
        from .hardware import detect_host_memory, planning_budget
        from .speed import speed_facts

        hw = self.hardware
        ram, steps = hw.ram_bytes, [*hw.steps, f"CPU only: {why}"]
        if ram is None:
            host = planning_budget(detect_host_memory())
            ram = host.ram_bytes
            steps = [s for s in steps if not s.startswith("host RAM unknown")]
            steps += [s for s in host.steps if s.startswith("host RAM")]
        hardware = hw.model_copy(
            update={"llm_vram_bytes": 0, "ram_bytes": ram, "cpu_only": True, "steps": steps,
                    "notes": [*hw.notes, f"CPU only: {why}"], "bandwidth_gbps": None}
        )  # fmt: skip
        common = {
            **self.common, "budget_bytes": 0, "card_budget_bytes": 0, "ram_bytes": ram, "gpu_bw": None,
            "device_none": True, **speed_facts(None, None, 1, self.ds, self.host_bandwidth_gbps, self.price_per_kwh),
        }  # fmt: skip
        return replace(self, hardware=hardware, common=common, cards=())

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
        # The resident model sits on one card: the one with the most room.
        cards = sorted(self.cards)
        if cards:
            cards[-1] = max(0, cards[-1] - nbytes)
        card = min(cards, default=0) if llm > 0 else 0
        common = {**self.common, "budget_bytes": llm, "card_budget_bytes": card}
        return replace(self, hardware=hardware, common=common, cards=tuple(cards))


def prepare_request(
    task: str, *, vram_gib: float | None, gpu: str | None, gpus: int, context_tokens: int, ram_gib: float | None,
    embedding_model: str | bool | None, prefer: Prefer, dataset: Dataset | None, knobs: RuntimeKnobs | None = None,
    host_bandwidth_gbps: float | None = None, price_per_kwh: float | None = None,
    margin_gib: float | None = None,
) -> Request:  # fmt: skip
    """Validate the inputs and work out the hardware budget (detecting the GPU when none is given)."""
    from .dataset import Dataset, load_dataset

    if dataset is not None and not isinstance(dataset, Dataset):
        raise InvalidRequestError(f"dataset must be a Dataset from load_dataset(), not {type(dataset).__name__}")
    ds = dataset or load_dataset()
    task = normalise_task(task)
    if not isinstance(prefer, str) or prefer not in ("quality", "balanced", "speed"):
        raise InvalidRequestError(f"unknown preference {_short(prefer)}", hint="use quality, balanced or speed")
    if (
        isinstance(context_tokens, bool)
        or not isinstance(context_tokens, int)
        or not 0 < context_tokens <= limits.MAX_CONTEXT_TOKENS
    ):
        raise InvalidRequestError(
            f"context must be a number of tokens from 1 to {limits.MAX_CONTEXT_TOKENS:,}, not {_short(context_tokens)}"
        )
    vram_gib = _check_number(vram_gib, "VRAM (GiB)")
    ram_gib = _check_number(ram_gib, "RAM (GiB)")
    margin_gib = _check_number(margin_gib, "margin (GiB)")
    margin_bytes = None if margin_gib is None else round(margin_gib * GIB)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 1 <= gpus <= limits.MAX_GPUS:
        raise InvalidRequestError(f"gpus must be from 1 to {limits.MAX_GPUS}, not {_short(gpus)}")
    if gpu is not None and (not isinstance(gpu, str) or not gpu.strip()):
        raise InvalidRequestError(f"gpu must be a GPU name such as 'RTX 4090', not {_short(gpu)}")
    if embedding_model is not None and not isinstance(embedding_model, (str, bool)):
        raise InvalidRequestError(f"embedding_model must be a name, True or False, not {_short(embedding_model)}")
    if task == "rag" and embedding_model is None:
        # RAG implies an embedding model in VRAM: the rule names the default (embedding_model=False
        # or --rag none when it runs elsewhere).
        embedding_model = default_embedding(ds.rules.values()) or None
    if isinstance(embedding_model, str) and embedding_model.strip().lower() in {"none", "no", "off"}:
        embedding_model = False
    reserve, reserved_for = _reserved(embedding_model, ds)
    budget, measured_bw, hw_notes, card_bytes = _budget(
        vram_gib=vram_gib, gpu=gpu, gpus=gpus, ram_gib=ram_gib, margin_bytes=margin_bytes, dataset=ds
    )
    llm_budget = budget.vram_bytes if budget.vram_bytes > 0 else 0
    from .hardware import DEFAULT_SAFETY_MARGIN_BYTES

    gpu_bw = min(measured_bw) if measured_bw else None
    cards = tuple(b for b in budget.per_gpu_bytes if b > 0)
    hardware = construct(
        HardwareUsed,
        vram_bytes=budget.vram_bytes, llm_vram_bytes=llm_budget, ram_bytes=budget.ram_bytes, gpu_name=budget.gpu_name,
        n_gpus=max(1, sum(1 for b in budget.per_gpu_bytes if b > 0)),
        compute_capability=budget.compute_capability, bandwidth_gbps=gpu_bw,
        source=budget.source, steps=list(budget.steps), notes=hw_notes, cpu_only=budget.vram_bytes <= 0,
        margin_bytes=DEFAULT_SAFETY_MARGIN_BYTES if margin_bytes is None else margin_bytes, card_bytes=card_bytes,
    )  # fmt: skip
    common = {
        "task": task, "context": context_tokens, "budget_bytes": llm_budget, "ram_bytes": budget.ram_bytes,
        "cc": budget.compute_capability, "gpu_bw": gpu_bw, "n_gpus": hardware.n_gpus, "prefer": prefer, "dataset": ds,
        "knobs": knobs or RuntimeKnobs(), "card_budget_bytes": min(cards, default=0),
        **speed_facts(budget.gpu_name, gpu_bw, hardware.n_gpus, ds, host_bandwidth_gbps, price_per_kwh),
    }  # fmt: skip
    rag = bool(reserve)
    req = Request(ds, task, prefer, context_tokens, rag, hardware, common, cards, host_bandwidth_gbps, price_per_kwh)
    req = req.with_reserve(reserve, reserved_for) if reserve and reserved_for else req
    card = req.common["card_budget_bytes"]
    given = real_number(vram_gib) or 0.0
    if hardware.cpu_only and hardware.vram_bytes <= 0 and given > 0:
        # The margin took the whole card: as --vram 0 (RAM read and checked, --device none), not a bare
        # "CPU only" with RAM unknown.
        req = req.as_cpu_only(
            f"the {hardware.margin_bytes / GIB:.2f} GiB margin leaves nothing of the {given:g} GiB card "
            "(--margin GIB to change it)"
        )
    elif hardware.vram_bytes > 0 and card < GPU_FLOOR_BYTES:
        req = req.as_cpu_only(
            f"{card / GIB:.2f} GiB for the model per GPU is below llama.cpp's fixed GPU buffers (a "
            f"{DEFAULTS.cuda_context_bytes / 2**20:.0f} MiB CUDA context + "
            f"{DEFAULTS.offload_runtime_bytes / 2**20:.0f} MiB once a layer runs there, before any weight): "
            "planned as with no GPU, run with --device none"
        )
    return req


def local_gguf(model: object, ds: Dataset) -> tuple[ModelSpec, FileCandidate | None] | None:
    """A .gguf file on disk: its shape, and the file as a candidate (its own type and exact size).

    One header read serves both.
    """
    if not isinstance(model, (str, Path)) or not str(model).lower().endswith(".gguf"):
        return None
    path = local_path(str(model))
    if path is None or not is_file(path):
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
    if planner.below_gpu_buffers:
        # No card holds this model's smallest GPU plan: the request is CPU-only, exactly as --vram 0.
        req = req.as_cpu_only(
            f"{req.common['card_budget_bytes'] / GIB:.2f} GiB for the model per GPU is below {spec.name}'s smallest "
            f"GPU plan ({planner.gpu_buffers_bytes / GIB:.2f} GiB: the output layer with llama.cpp's CUDA context "
            "and compute buffers): planned as with no GPU, run with --device none"
        )
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
    options = thin_headroom(options, req.hardware)
    return construct(
        Recommendation,
        task=req.task, prefer=req.prefer, context_tokens=req.context, model=spec.name,
        model_approximate=spec.approximate, target=policy.target, floor=policy.floor, hardware=req.hardware,
        options=options, trace=[*policy.fired, *planner.trace], notes=_notes(options, spec, req.context),
        offload_target=None if policy.unbumped().target == policy.target else policy.unbumped().target,
    )  # fmt: skip


def thin_headroom(options: list[QuantOption], hw: HardwareUsed) -> list[QuantOption]:
    """Say so on an option that leaves less free on a card than llama.cpp's default --fit-target.

    Only a margin below the default (--margin 0.5, margin_gib=0) lets that happen: with the default,
    every option that fits keeps at least 1 GiB free per GPU.
    """
    from .hardware import DEFAULT_SAFETY_MARGIN_BYTES

    if hw.vram_bytes <= 0 or hw.cpu_only or hw.margin_bytes >= DEFAULT_SAFETY_MARGIN_BYTES:
        return options
    out = []
    for o in options:
        free = o.headroom_bytes + hw.margin_bytes
        on_gpu = o.memory.total_bytes > 0  # a CPU-only row (the card below its GPU plan) holds nothing there
        if o.fit != "none" and on_gpu and free < DEFAULT_SAFETY_MARGIN_BYTES:
            note = (
                f"leaves {max(0, free) / GIB:.2f} GiB free on the GPU, under llama.cpp's default --fit-target "
                f"of {DEFAULT_SAFETY_MARGIN_BYTES / GIB:.0f} GiB (--margin {hw.margin_bytes / GIB:g}): another "
                "program or a longer prompt can push it out of memory"
            )
            o = o.model_copy(update={"notes": [*o.notes, note]})  # noqa: PLW2901 - the annotated copy replaces it
        out.append(o)
    return out


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
