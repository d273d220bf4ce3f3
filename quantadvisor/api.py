"""recommend() and friends: fill in missing inputs (hardware, model), run the rules, rank options."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from .architecture import ModelSpec, load_model_spec
from .construct import construct
from .errors import InvalidRequestError, ModelResolutionError
from .memory import MemoryEstimate, gguf_file_bytes, gguf_layout, type_sizes, typed_tensors
from .memory.fit import fit_gpu_layers, fit_moe_offload
from .memory.runtime import Layout, plan_runtime
from .quality import ExpectedLoss, effective_params, expected_loss
from .rules import (
    LADDER,
    FiredRule,
    Policy,
    Prefer,
    default_embedding,
    evaluate_format_rules,
    evaluate_request_rules,
    preference_order,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .dataset import Dataset
    from .hardware import Budget, GPUReading

__all__ = ["TASKS", "HardwareUsed", "QuantOption", "Recommendation", "SizeChoice", "normalise_task", "recommend"]

GIB = 2**30
TASKS = ("code", "math", "reasoning", "chat", "qa", "summarization", "translation", "rag")
_TASK_ALIASES = {
    "coding": "code", "programming": "code", "maths": "math", "mathematics": "math",
    "reason": "reasoning", "thinking": "reasoning", "conversation": "chat", "assistant": "chat",
    "general": "chat", "knowledge": "qa", "question-answering": "qa", "knowledge-qa": "qa",
    "summarize": "summarization", "summarise": "summarization", "summarisation": "summarization",
    "translate": "translation", "retrieval": "rag",
}  # fmt: skip
Fit = Literal["gpu", "partial", "moe-offload", "none"]
# Serving formats offered beside GGUF when the GPU generation is known (gated by the rules).
_SERVING = ("NVFP4", "FP8", "W4A16-INT", "W8A8-INT")
# Runtime settings tried, cheapest in quality first, until an option fits (flash attention on, as
# llama.cpp's default -fa auto does on CUDA): f16 KV, then q8_0 KV, then a smaller ubatch.
_KNOBS = (("f16", "f16", 512), ("q8_0", "q8_0", 512), ("q8_0", "q8_0", 256))
_SERVING_NOTE = "served by vLLM/TensorRT-LLM: weights + KV + runtime estimated with llama.cpp's buffers (approximate)"
# The no-model matrix compares sizes on the common rungs of the ladder only.
_MATRIX_QUANTS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "MXFP4_MOE", "Q3_K_M", "IQ3_XXS", "Q2_K", "IQ2_M")
# Quants that only make sense for mixture-of-experts models (dense models would be all Q8_0).
_MOE_ONLY = ("MXFP4_MOE",)
# Host memory bandwidth for offload slowdowns: dual-channel DDR5-4800, 2 × 64 bit × 4800 MT/s.
_HOST_BANDWIDTH_GBPS = 76.8


class HardwareUsed(BaseModel):
    """The budget the recommendation planned with, and where each figure came from."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    vram_bytes: int
    llm_vram_bytes: int
    ram_bytes: int | None
    gpu_name: str | None
    n_gpus: int
    compute_capability: float | None
    bandwidth_gbps: float | None
    reserved_bytes: int = 0
    reserved_for: str | None = None
    source: str
    steps: list[str]
    notes: list[str] = []
    """What detection could not read (no NVML, NotSupported queries …), one line each."""


class LossRange(BaseModel):
    """Expected relative loss on the task's benchmarks (fractions) and what it rests on."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    mid: float | None
    """None when no evidence covers the format (a ternary TQ type on an ordinary model, say)."""
    low: float | None
    high: float | None
    estimate: bool
    records: list[str]

    @property
    def sort_key(self) -> float:
        """mid for sorting; an unknown loss sorts last."""
        return math.inf if self.mid is None else self.mid


class QuantOption(BaseModel):
    """One way to run the model: a quant, how it fits, its expected loss and how to launch it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    quant: str
    family: Literal["gguf", "serving"]
    kind: str
    model: str
    bits_per_weight: float
    memory: MemoryEstimate
    fit: Fit
    gpu_layers: int
    n_cpu_moe: int = 0
    expected_loss: LossRange
    evidence: list[str]
    notes: list[str]
    runner_flags: list[str]
    native: bool = True
    released_precision: bool = False
    meets_target: bool
    below_floor: bool
    headroom_bytes: int
    slowdown: float | None = None
    file: str | None = None
    files: list[str] = []
    """Every file to fetch for this option (all parts of a split build, in order); empty when not a real file."""


class SizeChoice(BaseModel):
    """The best option for one reference model size (the no-model matrix)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    size: str
    stands_for: str
    params_billions: float
    active_params_billions: float | None
    best: QuantOption | None


class Recommendation(BaseModel):
    """The ranked options (best first), the rules that fired, and the hardware budget used."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    task: str
    prefer: str
    context_tokens: int
    model: str | None
    model_approximate: bool
    target: str
    floor: str
    hardware: HardwareUsed
    options: list[QuantOption]
    by_size: list[SizeChoice] = []
    trace: list[FiredRule]
    notes: list[str]

    @property
    def pick(self) -> QuantOption | None:
        """The top option, or None when nothing can run."""
        return self.options[0] if self.options and self.options[0].fit != "none" else None


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


def _finite(value: float) -> float | None:
    """JSON has no NaN: an unknown figure is None."""
    return None if math.isnan(value) or math.isinf(value) else value


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


_PARAMS: dict[int, tuple[ModelSpec, tuple[float, float | None]]] = {}


def _model_params(spec: ModelSpec) -> tuple[float, float | None]:
    """Total and (for MoE) active parameters, in billions, from the tensor shapes (cached by identity)."""
    hit = _PARAMS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    value = _count_params(spec)
    if len(_PARAMS) > 256:  # a long-lived embedding tool ranking many repos must not grow without bound
        _PARAMS.clear()
    _PARAMS[id(spec)] = (spec, value)
    return value


def _count_params(spec: ModelSpec) -> tuple[float, float | None]:
    from .memory import parameter_count

    total, active = parameter_count(spec)
    return total / 1e9, (active / 1e9 if spec.is_moe else None)


def _budget(
    *, vram_gib: float | None, gpu: str | None, gpus: int, ram_gib: float | None, dataset: Dataset
) -> tuple[Budget, list[float], list[str]]:
    """The planning budget, the GPUs' measured peak bandwidths (GB/s) and detection notes."""
    from .hardware import detect_hardware, hardware_from_overrides, planning_budget

    if vram_gib is not None or gpu is not None:
        report = hardware_from_overrides(vram_gib=vram_gib, gpu=gpu, gpus=gpus, ram_gib=ram_gib, dataset=dataset)
    else:
        if gpus != 1:
            raise InvalidRequestError(
                "--gpus describes cards you plan for; detected GPUs are counted as found",
                hint="add --vram GIB (per card) or --gpu NAME",
            )
        report = detect_hardware()
        if not report.gpus:
            from .errors import HardwareDetectionError

            why = report.notes[0] if report.notes else "no GPU was found"
            raise HardwareDetectionError(
                f"no GPU to plan for: {why}",
                hint="pass --vram GIB or --gpu NAME to plan for a GPU, or --vram 0 to plan for the CPU only",
            )
        if ram_gib is not None:  # keep the detected GPUs, replace host RAM (and its MemAvailable)
            report = hardware_from_overrides(ram_gib=ram_gib, base=report, dataset=dataset)
    return planning_budget(report), _bandwidths(report.gpus, dataset), list(report.notes)


def _flags(est: MemoryEstimate, fit: Fit, quant: str, family: str) -> list[str]:
    if family == "serving":
        return ["vllm", "serve", f"<a {quant} checkpoint>", "--max-model-len", str(est.context_tokens)]
    flags = ["-ngl", str(est.gpu_layers if est.gpu_layers < est.n_layers else 99), "-c", str(est.context_tokens)]
    flags += ["-fa", "on" if est.flash_attn else "off"]
    if est.cache_type_k != "f16" or est.cache_type_v != "f16":
        flags += ["-ctk", est.cache_type_k, "-ctv", est.cache_type_v]
    if est.n_ubatch != 512:
        flags += ["-ub", str(est.n_ubatch)]
    if est.n_cpu_moe:
        flags += ["--n-cpu-moe", str(est.n_cpu_moe)]
    return flags


def _slowdown(est: MemoryEstimate, spec: ModelSpec, gpu_bw: float | None) -> float | None:
    """Decode slowdown against all-GPU, from the bytes each token reads and where they live.

    Decoding is bandwidth-bound: every token reads the dense weights and n_expert_used/n_expert of
    the experts, at the GPU's bandwidth or, for what stays in RAM, the host's. An estimate: compute,
    PCIe transfers and the KV cache are left out.
    """
    if not gpu_bw:
        return None
    share = spec.n_expert_used / spec.n_expert if spec.is_moe and spec.n_expert else 1.0
    gpu_read = est.weights_bytes - est.gpu_expert_bytes + est.gpu_expert_bytes * share
    host_dense = est.host_weights_bytes - est.host_expert_bytes - est.input_embedding_bytes
    host_read = max(0, host_dense) + est.host_expert_bytes * share
    full = (gpu_read + host_read) / (gpu_bw * 1e9)
    split = gpu_read / (gpu_bw * 1e9) + host_read / (_HOST_BANDWIDTH_GBPS * 1e9)
    return round(split / full, 2) if full > 0 else None


@dataclass(frozen=True)
class FileCandidate:
    """A real GGUF file to rank: the ftype it was made as (Q4_K_M …), its name and its exact size."""

    quant: str
    file: str
    size_bytes: int


class _Planner:
    """Fits one model's options to a budget; one instance per request."""

    def __init__(
        self, spec: ModelSpec, *, task: str, context: int, budget_bytes: int, ram_bytes: int | None,
        cc: float | None, gpu_bw: float | None, n_gpus: int, policy: Policy, prefer: Prefer, dataset: Dataset,
    ) -> None:  # fmt: skip
        self.spec, self.task, self.context, self.budget = spec, task, context, budget_bytes
        self.ram, self.cc, self.gpu_bw, self.n_gpus = ram_bytes, cc, gpu_bw, n_gpus
        self.policy, self.prefer, self.ds = policy, prefer, dataset
        self.sizes = type_sizes(dataset)
        self.params, self.active = _model_params(spec)
        self.eff = effective_params(self.params, self.active)
        self.trace: list[FiredRule] = []
        self._layouts: dict[tuple[str, int | None], tuple[Layout, int]] = {}
        self._losses: dict[str, ExpectedLoss] = {}

    def _estimate(self, quant: str, *, file_bytes: int | None = None, **kw: Any) -> MemoryEstimate:
        """plan_runtime for `quant` (or a real file of `file_bytes`) with estimate_memory's defaults
        for the knobs not in `kw`; the layout is computed once per planner."""
        layout, nbytes = self._layout(quant, file_bytes)
        knobs = {"gpu_layers": None, "cache_type_k": "f16", "cache_type_v": "f16", "flash_attn": False,
                 "n_ubatch": 512, **kw}  # fmt: skip
        return plan_runtime(
            self.spec, layout, self.sizes, quant=quant, file_bytes=nbytes, context_tokens=self.context,
            n_gpus=self.n_gpus, gpu_present=self.budget > 0, **knobs,
        )  # fmt: skip

    def _layout(self, quant: str, file_bytes: int | None) -> tuple[Layout, int]:
        key = (quant, file_bytes)
        hit = self._layouts.get(key)
        if hit is None:
            if file_bytes is None:
                fmt = self.ds.find_format(quant)
                hit = gguf_layout(self.spec, quant, self.sizes, imatrix=bool(fmt and fmt.needs_imatrix))
            else:
                hit = (self._file_layout(quant, file_bytes), file_bytes)
            self._layouts[key] = hit
        return hit

    def _file_layout(self, quant: str, file_bytes: int) -> Layout:
        """The predicted `quant` mix with every tensor scaled so the file comes to `file_bytes` (a real file)."""
        fmt = self.ds.find_format(quant)
        typed = typed_tensors(self.spec, quant, self.sizes, imatrix=bool(fmt and fmt.needs_imatrix))
        data = sum(t.nbytes for t in typed)
        header = gguf_file_bytes(typed, self.spec) - data  # metadata, tensor infos, alignment padding
        scale = max(1, file_bytes - header) / max(1, data)
        return Layout.of(self.spec, [replace(t, nbytes=round(t.nbytes * scale)) for t in typed])

    def _fit(self, quant: str, file_bytes: int | None = None) -> tuple[MemoryEstimate, Fit]:
        if self.budget <= 0:
            est = self._estimate(quant, file_bytes=file_bytes, flash_attn=True)
            return est, ("partial" if self.ram is None or est.host_bytes <= self.ram else "none")

        def on_gpu(knobs: tuple[str, str, int]) -> MemoryEstimate:
            k, v, ub = knobs
            return self._estimate(
                quant, file_bytes=file_bytes, flash_attn=True, cache_type_k=k, cache_type_v=v, n_ubatch=ub
            )

        def fits(est: MemoryEstimate) -> bool:
            # prompt_bytes: the CUDA pool a long prompt adds on top of the calibrated footprint.
            return est.total_bytes + est.prompt_bytes <= self.budget

        # The knobs only shrink memory (q8_0 halves every layer's KV while the f16 copy the FA kernel
        # makes is one layer's; a smaller ubatch shrinks the compute buffer), so when the most compact
        # set does not fit, none does: one plan instead of three for what must be offloaded.
        est = on_gpu(_KNOBS[-1])
        if fits(est):
            roomier = (e for knobs in _KNOBS[:-1] if fits(e := on_gpu(knobs)))
            return next(roomier, est), "gpu"
        budget = self.budget - est.prompt_bytes
        k, v, ub = _KNOBS[1]

        def estimator(**kw: Any) -> MemoryEstimate:
            return self._estimate(
                quant, file_bytes=file_bytes, flash_attn=True, cache_type_k=k, cache_type_v=v, n_ubatch=ub, **kw
            )

        if self.spec.is_moe:
            moe = fit_moe_offload(estimator, self.spec.n_layers, budget)
            if moe is not None and (self.ram is None or moe.host_bytes <= self.ram):
                return moe, "moe-offload"
        if self.spec.is_moe:
            # Not even the dense part fits with every expert in RAM: offload layers too, experts
            # first (-ngl N with --n-cpu-moe for all layers keeps the most dense weights on the GPU).
            every = self.spec.n_layers

            def layers_then_experts(**kw: Any) -> MemoryEstimate:
                return estimator(n_cpu_moe=every, **kw)

            partial = fit_gpu_layers(layers_then_experts, self.spec.n_layers + 1, budget)
        else:
            partial = fit_gpu_layers(estimator, self.spec.n_layers + 1, budget)
        if partial is not None and (self.ram is None or partial.host_bytes <= self.ram):
            return partial, "partial"
        return estimator(), "none"

    def option(
        self, quant: str, family: Literal["gguf", "serving"], *, file: str | None = None, file_bytes: int | None = None
    ) -> QuantOption | None:
        """One option; with `file`/`file_bytes`, a real GGUF file of that size laid out like the `quant` mix."""
        fmt = self.ds.find_format(quant) if family == "gguf" else self.ds.formats.get(quant)
        if quant in _MOE_ONLY and not self.spec.is_moe:
            return None
        verdict = evaluate_format_rules(
            self.ds.rules.values(), fmt=quant, task=self.task, params=self.eff, cc=self.cc, arch=self.spec.arch
        )
        self.trace.extend(r for r in verdict.fired if r.id not in {t.id for t in self.trace})
        if verdict.exclude:
            return None
        needs = fmt.min_compute_capability if fmt is not None else None
        if family == "serving" and needs and self.cc is not None and self.cc < needs and verdict.native:
            # Formats without a gate rule still carry their kernels' minimum in data/formats.yaml.
            verdict.native = False
            verdict.flags.append(f"{quant} kernels need compute capability {needs:g} (this GPU: {self.cc:g})")
        if family == "serving":
            est = self._serving_estimate(quant)
            fits = self.budget > 0 and est.total_bytes + est.prompt_bytes <= self.budget
            fit: Fit = "gpu" if fits else "none"
        else:
            est, fit = self._fit(quant, file_bytes)
        loss = self.loss(quant)
        if verdict.released_precision:
            loss = construct(
                ExpectedLoss,
                format=quant, task=self.task, mid=0.0, low=0.0, high=0.0, evidence=[], sources=[],
                notes=["the model's released precision: no loss against the release"], estimate=False,
            )  # fmt: skip
        bpw = est.file_bytes * 8 / (self.params * 1e9)
        notes = [*verdict.flags, *loss.notes, *est.notes]
        slow = _slowdown(est, self.spec, self.gpu_bw) if fit in {"partial", "moe-offload"} else None
        if fit == "partial":
            notes.append(
                f"{est.gpu_layers} of {est.n_layers} layers on the GPU"
                + (f"; decode about {slow}x slower than all-GPU (estimate)" if slow else "")
            )
        if fit in {"partial", "moe-offload"} and self.ram is None:
            notes.append(f"needs about {est.host_bytes / GIB:.1f} GiB of system RAM (not checked: pass --ram GIB)")
        if fit == "moe-offload":
            notes.append(
                f"experts of the first {est.n_cpu_moe} layers in host RAM (--n-cpu-moe)"
                + (f"; decode about {slow}x slower (estimate)" if slow else "")
            )
        in_ladder = quant in LADDER
        t_index, f_index = LADDER.index(self.policy.target), LADDER.index(self.policy.floor)
        q_index = LADDER.index(quant) if in_ladder else self._nearest_ladder_index(loss)
        return construct(
            QuantOption,
            quant=quant, family=family, kind=fmt.kind if fmt else "weight-only", model=self.spec.name,
            bits_per_weight=round(bpw, 3), memory=est, fit=fit, gpu_layers=est.gpu_layers, n_cpu_moe=est.n_cpu_moe,
            expected_loss=construct(
                LossRange,
                mid=_finite(loss.mid), low=_finite(loss.low), high=_finite(loss.high), estimate=loss.estimate,
                records=loss.evidence,
            ),
            evidence=loss.sources, notes=notes, runner_flags=_flags(est, fit, quant, family), native=verdict.native,
            released_precision=verdict.released_precision,
            meets_target=q_index <= t_index or verdict.released_precision,
            below_floor=q_index > f_index and not verdict.released_precision,
            headroom_bytes=self.budget - est.total_bytes - est.prompt_bytes, slowdown=slow,
            file=file, files=[file] if file else [],
        )  # fmt: skip

    def loss(self, quant: str) -> ExpectedLoss:
        """expected_loss of `quant` for this task and model, computed once per planner."""
        hit = self._losses.get(quant)
        if hit is None:
            hit = self._losses[quant] = expected_loss(
                quant, self.task, params_billions=self.params, active_params_billions=self.active, dataset=self.ds,
                family=self.spec.stands_for or self.spec.name,
            )  # fmt: skip
        return hit

    def _nearest_ladder_index(self, loss: ExpectedLoss) -> int:
        """Place a format off the ladder at the first ladder type with at least its expected loss."""
        if not math.isnan(loss.mid):
            for i, q in enumerate(LADDER):
                if self.loss(q).mid >= loss.mid - 1e-12:
                    return i
        return len(LADDER) - 1

    def _loss_preference(self, option: QuantOption, order: dict[str, int]) -> float:
        """Rank a format off the ladder (serving, MXFP4_MOE) just after the ladder type whose expected
        loss it matches; the ladder's losses need no memory plan, so the place does not depend on
        which other options were evaluated."""
        best, best_gap = len(order), math.inf
        for quant, index in order.items():
            gap = abs(self.loss(quant).mid - option.expected_loss.sort_key)
            if gap < best_gap:
                best, best_gap = index, gap
        return best + 0.5

    def _serving_estimate(self, quant: str) -> MemoryEstimate:
        """A serving checkpoint (vLLM/TensorRT-LLM): checkpoint weights + KV + the same runtime overheads."""
        from .memory import checkpoint_bytes

        base = self._estimate("BF16", flash_attn=True)
        # vLLM keeps every weight on the GPU, the input embedding included (llama.cpp leaves it on the host).
        weights = checkpoint_bytes(self.spec, quant, self.ds)
        total = weights + base.kv_cache_bytes + base.compute_bytes + base.overhead_bytes
        return base.model_copy(
            update={
                "quant": quant, "file_bytes": weights, "weights_bytes": weights, "total_bytes": total,
                "host_weights_bytes": 0, "notes": [*base.notes, _SERVING_NOTE],
            }
        )  # fmt: skip

    def options(self, quants: tuple[str, ...] = (*LADDER, *_MOE_ONLY), *, serving: bool = True) -> list[QuantOption]:
        out = [o for q in quants if (o := self.option(q, "gguf")) is not None]
        if serving and self.cc is not None:
            out += [o for q in _SERVING if q in self.ds.formats and (o := self.option(q, "serving")) is not None]
        return self.rank(out)

    def best_option(self, quants: tuple[str, ...]) -> QuantOption | None:
        """The top-ranked option among `quants`, evaluating as few as the ranking allows.

        Formats off the ladder (MXFP4_MOE) are placed by expected loss and always evaluated. Then, in
        preference order, the first native ladder type that fits fully on the GPU at or above the
        floor beats every later one, so the search stops there; a type that cannot fit fully costs
        one memory plan, not an offload search. When none fits fully, the first native type in the
        offload order that fits partly (or with experts in RAM) beats every later one.
        """
        order = [q for q in preference_order(self.policy, self.prefer) if q in quants]
        seen = [o for q in quants if q not in order and (o := self.option(q, "gguf")) is not None]
        if any(o.released_precision and o.fit == "gpu" for o in seen):
            return self.rank(seen)[0]
        offload: list[str] = []
        for quant in order:
            if not self._fits_fully(quant):
                offload.append(quant)
                continue
            option = self.option(quant, "gguf")
            if option is None:
                continue
            seen.append(option)
            if option.fit == "gpu" and option.native and not option.below_floor:
                break
        else:
            for quant in preference_order(self.policy.unbumped(), self.prefer):
                if quant not in offload or (option := self.option(quant, "gguf")) is None:
                    continue
                seen.append(option)
                if option.fit in {"partial", "moe-offload"} and option.native:
                    break
        ranked = self.rank(seen)
        return ranked[0] if ranked and ranked[0].fit != "none" else None

    def _fits_fully(self, quant: str) -> bool:
        """Whether `quant` fits on the GPU with the most compact runtime knobs (what _fit tries first)."""
        if self.budget <= 0:
            return False
        k, v, ub = _KNOBS[-1]
        est = self._estimate(quant, flash_attn=True, cache_type_k=k, cache_type_v=v, n_ubatch=ub)
        return est.total_bytes + est.prompt_bytes <= self.budget

    def file_options(self, files: Sequence[FileCandidate]) -> list[QuantOption]:
        """Rank real GGUF files: each sized from its own byte count, ranked like the quant type it is."""
        out = [self.option(f.quant, "gguf", file=f.file, file_bytes=f.size_bytes) for f in files]
        return self.rank([o for o in out if o is not None])

    def rank(self, out: list[QuantOption]) -> list[QuantOption]:
        """Order options best first: what fits before what does not, then the policy's preference."""
        order = {q: i for i, q in enumerate(preference_order(self.policy, self.prefer))}
        # A bumped target ("one level higher when it fits") only counts on the GPU; offload plans aim
        # at the unbumped target.
        offload_order = {q: i for i, q in enumerate(preference_order(self.policy.unbumped(), self.prefer))}

        def key(o: QuantOption) -> tuple[float, float, float]:
            tier = {"gpu": 0.0, "partial": 1.0, "moe-offload": 1.0, "none": 4.0}[o.fit]
            if o.fit == "gpu" and o.below_floor:
                tier = 3.0
            if not o.native:
                tier += 0.5
            prefs = order if o.fit == "gpu" else offload_order
            if o.released_precision:
                pref = -1.0  # the format the model was released in: lossless against it, and small
            elif o.quant in prefs:
                pref = float(prefs[o.quant])
            else:
                pref = self._loss_preference(o, prefs)
            if tier == 4.0:
                return (tier, o.memory.total_bytes, pref)
            return (tier, pref, -o.headroom_bytes)

        return sorted(out, key=key)


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


def _resolve_model(model: str | Path | dict[str, Any] | ModelSpec, ds: Dataset) -> ModelSpec:
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


def recommend(
    task: str,
    *,
    model: str | Path | dict[str, Any] | ModelSpec | None = None,
    vram_gib: float | None = None,
    gpu: str | None = None,
    gpus: int = 1,
    context_tokens: int = 4096,
    ram_gib: float | None = None,
    embedding_model: str | bool | None = None,
    prefer: Prefer = "balanced",
    dataset: Dataset | None = None,
) -> Recommendation:
    """Rank the quantized builds of `model` (or of every reference size) for `task` on this hardware.

    Args:
        task: code, math, reasoning, chat, qa, summarization, translation or rag (aliases accepted).
        model: a size shorthand ("9b", "30b-a3b"), a config.json (dict, file or folder), a .gguf file,
            a Hub repo id, or None to compare the reference sizes (3B-70B, dense and MoE).
        vram_gib / gpu: plan for this much VRAM (GiB) or this catalog GPU; neither = detect (NVML).
        context_tokens: the context the model will run with (llama.cpp -c).
        embedding_model: a resident embedding model for RAG (True = BGE-M3) whose VRAM is reserved.
        prefer: "quality", "balanced" (default) or "speed".

    Example:
        >>> rec = recommend("code", vram_gib=8, model="9b")       # doctest: +SKIP
        >>> rec.options[0].quant, rec.options[0].fit               # doctest: +SKIP
        ('Q5_K_M', 'gpu')
    """
    if is_repo_model(model):
        from .files import rank_files

        return rank_files(
            str(model), task=task, vram_gib=vram_gib, gpu=gpu, gpus=gpus, context_tokens=context_tokens,
            ram_gib=ram_gib, embedding_model=embedding_model, prefer=prefer, dataset=dataset,
        )  # fmt: skip
    req = _prepare(
        task, vram_gib=vram_gib, gpu=gpu, gpus=gpus, context_tokens=context_tokens, ram_gib=ram_gib,
        embedding_model=embedding_model, prefer=prefer, dataset=dataset,
    )  # fmt: skip
    if model is not None:
        local = _local_gguf(model, req.ds)
        spec = local[0] if local else _resolve_model(model, req.ds)
        return _rank_model(spec, req, local_file=local[1] if local else None)
    return _compare_sizes(req)


@dataclass(frozen=True)
class _Request:
    """A validated request: the task, the hardware budget and the planner's common arguments."""

    ds: Dataset
    task: str
    prefer: Prefer
    context: int
    rag: bool
    hardware: HardwareUsed
    common: dict[str, Any]

    def with_reserve(self, nbytes: int, what: str) -> _Request:
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


def _prepare(
    task: str, *, vram_gib: float | None, gpu: str | None, gpus: int, context_tokens: int, ram_gib: float | None,
    embedding_model: str | bool | None, prefer: Prefer, dataset: Dataset | None,
) -> _Request:  # fmt: skip
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
        source=budget.source, steps=list(budget.steps), notes=hw_notes,
    )  # fmt: skip
    common = {
        "task": task, "context": context_tokens, "budget_bytes": llm_budget, "ram_bytes": budget.ram_bytes,
        "cc": budget.compute_capability, "gpu_bw": gpu_bw, "n_gpus": hardware.n_gpus, "prefer": prefer, "dataset": ds,
    }  # fmt: skip
    rag = bool(reserve)
    req = _Request(ds, task, prefer, context_tokens, rag, hardware, common)
    return req.with_reserve(reserve, reserved_for) if reserve and reserved_for else req


def _local_gguf(model: object, ds: Dataset) -> tuple[ModelSpec, FileCandidate | None] | None:
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


def _rank_model(
    spec: ModelSpec,
    req: _Request,
    *,
    files: Sequence[FileCandidate] | None = None,
    extra_serving: Sequence[str] = (),
    local_file: FileCandidate | None = None,
) -> Recommendation:
    """Rank the options of one model: every GGUF type (and serving format), or the given real files.

    With `local_file` (a .gguf on disk), that file is ranked among the types it could be requantized to.
    """
    params, active = _model_params(spec)
    eff = effective_params(params, active)
    policy = evaluate_request_rules(req.ds.rules.values(), task=req.task, params=eff, rag=req.rag)
    planner = _Planner(spec, policy=policy, **req.common)
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


def _size_planner(shorthand: str, req: _Request) -> tuple[_Planner, float, float | None]:
    """The planner for one reference size of the no-model matrix, and its total and active parameters."""
    spec = load_model_spec(shorthand, req.ds)
    params, active = _model_params(spec)
    eff = effective_params(params, active)
    policy = evaluate_request_rules(req.ds.rules.values(), task=req.task, params=eff, rag=req.rag, no_model=True)
    # The matrix compares GGUF sizes: serving formats need a named GPU generation, so no cc here.
    return _Planner(spec, policy=policy, **{**req.common, "cc": None}), params, active


def _compare_sizes(req: _Request) -> Recommendation:
    rows: list[SizeChoice] = []
    best: list[tuple[QuantOption, float]] = []
    trace: list[FiredRule] = []
    first_policy: Policy | None = None
    for arch in sorted(req.ds.architectures.values(), key=lambda a: _size_key(a.shorthand)):
        planner, params, active = _size_planner(arch.shorthand, req)
        first_policy = first_policy or planner.policy
        trace.extend(r for r in planner.policy.fired if r.id not in {t.id for t in trace})
        top = planner.best_option(_MATRIX_QUANTS)
        row = construct(
            SizeChoice, size=arch.shorthand, stands_for=arch.stands_for, params_billions=round(params, 2),
            active_params_billions=round(active, 2) if active else None, best=top,
        )  # fmt: skip
        rows.append(row)
        if top is not None:
            best.append((top, planner.eff))

    def overall(item: tuple[QuantOption, float]) -> tuple[int, float, float]:
        # Fully on the GPU beats experts in RAM beats partial offload; within a tier the largest
        # size at >= 3.5 bpw that meets the floor wins (arXiv:2505.15030).
        o, eff = item
        ok = not o.below_floor and o.bits_per_weight >= 3.5
        tier = {"gpu": 0, "moe-offload": 1, "partial": 2}.get(o.fit, 3) if ok else 4
        return (tier, -eff, o.expected_loss.sort_key)

    ranked = [o for o, _ in sorted(best, key=overall)]
    policy = first_policy or Policy()
    if not ranked:
        notes = ["no reference size fits this budget, even partially offloaded"]
    else:
        notes = [
            f"overall pick: {ranked[0].model} as {ranked[0].quant} "
            "(largest size at ≥3.5 bpw that meets the task's floor)",
            "expected loss is relative to each model's own unquantized score: a larger model quantized to "
            "about 3.5 bpw or more usually still scores higher than a smaller one at more bits (arXiv:2505.15030)",
        ]
    return construct(
        Recommendation,
        task=req.task, prefer=req.prefer, context_tokens=req.context, model=None, model_approximate=True,
        target=policy.target, floor=policy.floor, hardware=req.hardware, options=ranked, by_size=rows, trace=trace,
        notes=notes,
    )  # fmt: skip


def _size_key(shorthand: str) -> float:
    digits = "".join(ch if ch.isdigit() or ch == "." else " " for ch in shorthand).split()
    if "x" in shorthand:
        return float(digits[0]) * float(digits[1])
    return float(digits[0]) if digits else 0.0


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
