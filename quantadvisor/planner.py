"""Fitting one model's quantization options to a memory budget, and ranking them.

A Planner holds one request's facts (model shape, task, budget, policy). For each GGUF type or
serving format it plans llama.cpp's memory, picks the fit (all on the GPU, partly offloaded, MoE
experts in RAM, or none), attaches the expected loss and the launch flags, and ranks the options.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from .construct import VALIDATE_ENV_VAR, construct
from .knobs import KnobSet, RuntimeKnobs
from .memory import MemoryEstimate, gguf_file_bytes, gguf_layout, gpu_weights_floor, type_sizes, typed_tensors
from .memory.fit import fit_gpu_layers, fit_moe_offload
from .memory.runtime import DEFAULTS, Layout, plan_runtime
from .quality import ExpectedLoss, effective_params, expected_loss, kv_cache_distortion
from .results import Fit, LossRange, QuantOption
from .rules import LADDER, FiredRule, Policy, Prefer, evaluate_format_rules, preference_order
from .speed import DeviceFacts, HostFacts, SpeedEstimate, energy_of, host_facts, predict_serving_speed, predict_speed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .architecture import ModelSpec
    from .dataset import Dataset

__all__ = ["FileCandidate", "Planner", "model_params"]

GIB = 2**30
_VALIDATING = os.environ.get(VALIDATE_ENV_VAR) == "1"
# Serving formats offered beside GGUF when the GPU generation is known (gated by the rules).
_SERVING = ("NVFP4", "FP8", "W4A16-INT", "W8A8-INT")


_SERVING_NOTE = "served by vLLM/TensorRT-LLM: weights + KV + runtime estimated with llama.cpp's buffers (approximate)"

# Quants that only make sense for mixture-of-experts models (dense models would be all Q8_0).
_MOE_ONLY = ("MXFP4_MOE",)


def model_params(spec: ModelSpec) -> tuple[float, float | None]:
    """Total and (for MoE) active parameters, in billions, from the tensor shapes."""
    from .memory import parameter_count

    total, active = parameter_count(spec)  # a sum over the cached layer structures
    return total / 1e9, (active / 1e9 if spec.is_moe else None)


def _flags(est: MemoryEstimate, fit: Fit, quant: str, family: str, *, device_none: bool = False) -> list[str]:
    if family == "serving":
        return ["vllm", "serve", f"<a {quant} checkpoint>", "--max-model-len", str(est.context_tokens)]
    # All layers: 99 as people write it, or the count itself for a model deeper than that (a 405B has 127).
    every = max(99, est.n_layers)
    flags = ["-ngl", str(est.gpu_layers if est.gpu_layers < est.n_layers else every), "-c", str(est.context_tokens)]
    flags += ["-fa", "on" if est.flash_attn else "off"]
    if est.cache_type_k != "f16" or est.cache_type_v != "f16":
        flags += ["-ctk", est.cache_type_k, "-ctv", est.cache_type_v]
    if est.n_ubatch != 512:
        flags += ["-ub", str(est.n_ubatch)]
    if est.n_cpu_moe:
        flags += ["--n-cpu-moe", str(est.n_cpu_moe)]
    if device_none:
        # -ngl 0 alone still puts the CUDA context and compute buffers on the GPU; "--device none"
        # offloads nothing (common/arg.cpp at 0c1e57098: "none = don't offload").
        flags += ["--device", "none"]
    return flags


@dataclass(frozen=True)
class FileCandidate:
    """A real GGUF file to rank: the ftype it was made as (Q4_K_M …), its name and its exact size."""

    quant: str
    file: str
    size_bytes: int


class Planner:
    """Fits one model's options to a budget; one instance per request."""

    def __init__(
        self, spec: ModelSpec, *, task: str, context: int, budget_bytes: int, ram_bytes: int | None,
        cc: float | None, gpu_bw: float | None, n_gpus: int, policy: Policy, prefer: Prefer, dataset: Dataset,
        knobs: RuntimeKnobs | None = None, device: DeviceFacts | None = None, host: HostFacts | None = None,
        price_per_kwh: float | None = None, card_budget_bytes: int | None = None, device_none: bool = False,
    ) -> None:  # fmt: skip
        self.spec, self.task, self.context, self.budget = spec, task, context, budget_bytes
        # What one card holds: every per-GPU figure is checked against it (the budget is their sum).
        self.card_budget = budget_bytes // max(1, n_gpus) if card_budget_bytes is None else card_budget_bytes
        # The request is CPU-only because its GPU budget is too small (not for want of a GPU): its
        # commands keep llama.cpp off the GPU with --device none.
        self.device_none = device_none
        if device is None and gpu_bw:
            device = DeviceFacts(name=None, bandwidth_gbps=gpu_bw, bandwidth_source="detected", n_gpus=n_gpus)
        # Speed needs a GPU's bandwidth: a bare --vram card has none, so its GPU plans carry no speed.
        self.device = device if budget_bytes > 0 else None
        self.host = host or host_facts(None, self.device, None)
        self.price_per_kwh = price_per_kwh
        self.ram, self.cc, self.gpu_bw, self.n_gpus = ram_bytes, cc, gpu_bw, n_gpus
        self.policy, self.prefer, self.ds = policy, prefer, dataset
        self.knobs = knobs or RuntimeKnobs()
        # The (K cache, V cache, ubatch, flash attention) settings tried until an option fits on the GPU.
        self.ladder = self.knobs.ladder()
        self.sizes = type_sizes(dataset)
        self.params, self.active = model_params(spec)
        self.active_weights = round((self.active if self.active is not None else self.params) * 1e9)
        self.eff = effective_params(self.params, self.active)
        self.trace: list[FiredRule] = []
        self._layouts: dict[tuple[str, int | None], tuple[Layout, int]] = {}
        self._losses: dict[tuple[str, str, str], ExpectedLoss] = {}
        # A card too small for llama.cpp's smallest GPU plan (one layer, the output, with its CUDA
        # context and compute buffer) runs nothing on the GPU: planned exactly as with no GPU
        # (--device none), speeds included, so 0.25 GiB and 1.25 GiB of a bare --vram card give one answer.
        self.gpu_buffers_bytes = self._gpu_buffers_bytes() if self.budget > 0 else 0
        self.below_gpu_buffers = self.budget > 0 and self.gpu_buffers_bytes > self.card_budget
        if self.below_gpu_buffers:
            self.budget, self.card_budget, self.device = 0, 0, None
            self.host = host or host_facts(None, None, None)

    def _gpu_buffers_bytes(self) -> int:
        """The smallest GPU plan of Q4_K_M with the settings an offloaded plan runs: -ngl 1 (the output
        layer, every expert in RAM), the fewest layers the fit ever places. Below it no option can put a
        layer on the GPU, so all of them run on the CPU (an -ngl 0 footprint that fits changes nothing)."""
        k, v, ub, fa = self.knobs.offload()
        moe = self.spec.n_layers if self.spec.is_moe else 0
        est = self._estimate("Q4_K_M", gpu_layers=1, gpu_present=True, cache_type_k=k, cache_type_v=v,
                             n_ubatch=ub, flash_attn=fa, n_cpu_moe=moe)  # fmt: skip
        return _card_bytes(est)

    def _estimate(
        self, quant: str, *, file_bytes: int | None = None, gpu_present: bool | None = None, **kw: Any
    ) -> MemoryEstimate:
        """plan_runtime for `quant` (or a real file of `file_bytes`) with estimate_memory's defaults
        for the knobs not in `kw`; the layout is computed once per planner."""
        layout, nbytes = self._layout(quant, file_bytes)
        knobs = {"gpu_layers": None, "cache_type_k": "f16", "cache_type_v": "f16", "flash_attn": False,
                 "n_ubatch": 512, **kw}  # fmt: skip
        return plan_runtime(
            self.spec, layout, self.sizes, quant=quant, file_bytes=nbytes, context_tokens=self.context,
            n_gpus=self.n_gpus, gpu_present=self.budget > 0 if gpu_present is None else gpu_present, **knobs,
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
        if self.budget <= 0:  # CPU only: the first settings (f16 KV unless fixed), checked against RAM
            est = self._on_gpu(quant, self.ladder[0], file_bytes)
            return est, ("partial" if self.ram is None or est.host_bytes <= self.ram else "none")

        for knobs in self.ladder:
            est = self._on_gpu(quant, knobs, file_bytes)
            if self._fits(est):
                return est, "gpu"
        budget, card = self.budget - est.prompt_bytes, self.card_budget - est.prompt_bytes
        k, v, ub, fa = self.knobs.offload()

        def estimator(**kw: Any) -> MemoryEstimate:
            return self._estimate(
                quant, file_bytes=file_bytes, flash_attn=fa, cache_type_k=k, cache_type_v=v, n_ubatch=ub, **kw
            )

        if self.spec.is_moe:
            moe = fit_moe_offload(estimator, self.spec.n_layers, budget, per_gpu_budget_bytes=card)
            if moe is not None and (self.ram is None or moe.host_bytes <= self.ram):
                return moe, "moe-offload"
        if self.spec.is_moe:
            # Not even the dense part fits with every expert in RAM: offload layers too, experts
            # first (-ngl N with --n-cpu-moe for all layers keeps the most dense weights on the GPU).
            every = self.spec.n_layers

            def layers_then_experts(**kw: Any) -> MemoryEstimate:
                return estimator(n_cpu_moe=every, **kw)

            partial = fit_gpu_layers(layers_then_experts, self.spec.n_layers + 1, budget, per_gpu_budget_bytes=card)
        else:
            partial = fit_gpu_layers(estimator, self.spec.n_layers + 1, budget, per_gpu_budget_bytes=card)
        if partial is not None and (self.ram is None or partial.host_bytes <= self.ram):
            return partial, "partial"
        # A budget below llama.cpp's fixed GPU buffers is no worse than no GPU: the CPU-only plan that a
        # budget of 0 gets still runs (more VRAM must never turn a plan into none).
        k0, v0, ub0, fa0 = self.ladder[0]
        cpu = self._estimate(
            quant, file_bytes=file_bytes, flash_attn=fa0, cache_type_k=k0, cache_type_v=v0, n_ubatch=ub0,
            gpu_present=False,
        )  # fmt: skip
        if self.ram is None or cpu.host_bytes <= self.ram:
            return cpu, "partial"
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
            # Tensor parallel splits the checkpoint evenly: each card holds its share.
            fits = self.budget > 0 and est.total_bytes + est.prompt_bytes <= self.budget
            fits = fits and (est.total_bytes + est.prompt_bytes) / max(1, self.n_gpus) <= self.card_budget
            fit: Fit = "gpu" if fits else "none"
        else:
            est, fit = self._fit(quant, file_bytes)
        # The loss of the option as planned: the weights' and, when the plan quantizes it, the KV cache's.
        loss = self.loss(quant, est.cache_type_k, est.cache_type_v)
        if verdict.released_precision:
            # No loss against the release itself; a quantized KV cache still costs what it costs.
            loss = self.loss("F16", est.cache_type_k, est.cache_type_v)
            loss = loss.model_copy(
                update={"notes": ["the model's released precision: no loss against the release", *loss.notes]}
            )
        bpw = est.file_bytes * 8 / (self.params * 1e9)
        notes = [*verdict.flags, *loss.notes, *est.notes]
        speed = self._speed(quant, family, est, fit, file_bytes)
        decode = (
            f"; decode about {speed.decode_tokens_per_s:.3g} tok/s, bound by {speed.decode_bound} (estimate)"
            if speed is not None
            else ""
        )
        # CPU-only because the GPU budget is too small for llama.cpp's buffers (not for want of a GPU).
        no_offload = family == "gguf" and fit == "partial" and est.total_bytes == 0 and est.gpu_layers == 0
        device_none = no_offload and (self.device_none or self.below_gpu_buffers or self.budget > 0)
        if device_none:
            notes.append(
                "the GPU budget is below llama.cpp's fixed GPU buffers: run on the CPU only "
                "(llama.cpp --device none), as with no GPU"
            )
        elif fit == "partial" and self.budget > 0:
            notes.append(f"{est.gpu_layers} of {est.n_layers} layers on the GPU" + decode)
        if fit in {"partial", "moe-offload"} and self.ram is None:
            notes.append(f"needs about {est.host_bytes / GIB:.1f} GiB of system RAM (not checked: pass --ram GIB)")
        if fit == "moe-offload":
            notes.append(f"experts of the first {est.n_cpu_moe} layers in host RAM (--n-cpu-moe)" + decode)
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
                model_low=_finite(loss.model_low), model_high=_finite(loss.model_high),
                records=loss.evidence, sources=loss.sources, notes=loss.notes,
                # Only a cache whose cost is in the figures is named (the table's †).
                kv_cache=None if (kv := kv_cache_distortion(self.ds, est.cache_type_k, est.cache_type_v)) is None
                or kv[0] <= 0  # f16, or f32/bf16 (no cost): no dagger
                else f"{est.cache_type_k}/{est.cache_type_v}",
            ),
            evidence=loss.sources, notes=notes, native=verdict.native,
            runner_flags=_flags(est, fit, quant, family, device_none=device_none),
            released_precision=verdict.released_precision,
            meets_target=q_index <= t_index or verdict.released_precision,
            below_floor=q_index > f_index and not verdict.released_precision,
            headroom_bytes=self.budget - est.total_bytes - est.prompt_bytes, speed=speed,
            file=file, files=[file] if file else [],
        )  # fmt: skip

    def _speed(
        self, quant: str, family: str, est: MemoryEstimate, fit: Fit, file_bytes: int | None
    ) -> SpeedEstimate | None:
        """Decode/prefill of a plan that runs (quantadvisor.speed), with energy at the board's power."""
        if fit == "none" or (self.device is None and self.budget > 0):
            return None
        if family == "serving":
            bf16 = round(self.params * 1e9 * 2)  # the same checkpoint in BF16: two bytes a weight
            speed = predict_serving_speed(
                self.spec, quant, bf16, est.weights_bytes, self.device, self.host, active_params=self.active_weights
            )
        else:
            layout = self._layout(quant, file_bytes)[0]
            return predict_speed(
                self.spec, layout, est, self.device, self.host, active_params=self.active_weights,
                price_per_kwh=self.price_per_kwh,
            )  # fmt: skip
        if speed is None or self.device is None:
            return speed
        energy = energy_of(speed.decode_tokens_per_s, self.device.board_power_w, self.price_per_kwh)
        return speed.model_copy(update={"energy": energy}) if energy is not None else speed

    def loss(self, quant: str, cache_type_k: str = "f16", cache_type_v: str = "f16") -> ExpectedLoss:
        """expected_loss of `quant` (with this KV cache) for this task and model, computed once per planner."""
        key = (quant, cache_type_k, cache_type_v)
        hit = self._losses.get(key)
        if hit is None:
            hit = self._losses[key] = expected_loss(
                quant, self.task, params_billions=self.params, active_params_billions=self.active, dataset=self.ds,
                family=self.spec.stands_for or self.spec.name, cache_type_k=cache_type_k, cache_type_v=cache_type_v,
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

        Without speeds (a bare --vram budget) the ranking follows the ladder, so it can stop early:
        formats off the ladder (MXFP4_MOE) are placed by expected loss and always evaluated. Then, in
        preference order, the first native ladder type that fits fully on the GPU at or above the
        floor beats every later one, so the search stops there; a type that cannot fit fully costs
        one memory plan, not an offload search. When none fits fully, the first native type in the
        offload order that fits partly (or with experts in RAM) beats every later one.
        """
        if self.device is not None or self.budget <= 0:
            # Speeds are known (a GPU with a bandwidth, or a CPU-only plan): balanced and speed do not
            # follow the ladder, and the dominance pass may lift any later type, so nothing can be skipped.
            ranked = self.rank([o for q in quants if (o := self.option(q, "gguf")) is not None])
            return ranked[0] if ranked and ranked[0].fit != "none" else None
        order = [q for q in preference_order(self.policy, self.prefer) if q in quants]
        seen = [o for q in quants if q not in order and (o := self.option(q, "gguf")) is not None]
        if any(o.released_precision and o.fit == "gpu" and o.native for o in seen):
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
        """Whether `quant` fits on the GPU with some runtime knobs (what _fit tries first).

        The most compact set usually decides, so it is tried first; the others still are: a q8_0
        cache is not always smaller in total (the f16 copy the FA kernel makes is paid per GPU, and
        sliding-window or hybrid models keep few full-attention layers to save on).
        """
        if self.budget <= 0:
            return False
        fmt = self.ds.find_format(quant)
        if fmt is not None and fmt.block_types:
            # Decided without typing the file: its weights alone (at the format's fewest bits)
            # plus one CUDA context are already over (a big model on a small card, most of the matrix).
            floor = gpu_weights_floor(self.spec, fmt.block_types, self.sizes) + DEFAULTS.cuda_context_bytes
            if floor > self.budget:
                return False
        compact = self._on_gpu(quant, self.ladder[-1])
        if self._fits(compact):
            return True
        if compact.weights_bytes + compact.overhead_bytes > self.budget:
            return False  # the part no knob changes is already too big
        return any(self._fits(self._on_gpu(quant, knobs)) for knobs in self.ladder[:-1])

    def _on_gpu(self, quant: str, knobs: KnobSet, file_bytes: int | None = None) -> MemoryEstimate:
        """Every layer on the GPU (none without one) with these (K cache, V cache, ubatch, flash attention) knobs."""
        k, v, ub, fa = knobs
        return self._estimate(quant, file_bytes=file_bytes, flash_attn=fa, cache_type_k=k, cache_type_v=v, n_ubatch=ub)

    def _fits(self, est: MemoryEstimate) -> bool:
        # prompt_bytes: the CUDA pool a long prompt adds on top of the calibrated footprint; each
        # GPU's share is checked against its own card, not only the sum against the sum.
        return est.total_bytes + est.prompt_bytes <= self.budget and _card_bytes(est) <= self.card_budget

    def file_options(self, files: Sequence[FileCandidate]) -> list[QuantOption]:
        """Rank real GGUF files: each sized from its own byte count, ranked like the quant type it is."""
        out = [self.option(f.quant, "gguf", file=f.file, file_bytes=f.size_bytes) for f in files]
        return self.rank([o for o in out if o is not None])

    def rank(self, out: list[QuantOption]) -> list[QuantOption]:
        """Order options best first: what fits before what does not, then the preference.

        With speeds known, `speed` orders each fit tier by decode speed, and `balanced` by expected
        loss (at least the target's) times how many times slower than the fastest option at or above
        the floor it decodes (docs/methodology.md, "Ranking"); `quality`, and any
        request without speeds, keep the ladder order. Under every preference a last pass lifts an
        option above any it beats on both loss and speed.
        """
        order = {q: i for i, q in enumerate(preference_order(self.policy, self.prefer))}
        # A bumped target ("one level higher when it fits") only counts on the GPU; offload plans aim
        # at the unbumped target.
        offload_order = {q: i for i, q in enumerate(preference_order(self.policy.unbumped(), self.prefer))}
        runs = [o for o in out if o.fit != "none"]
        # Speed ranks only with a GPU whose bandwidth is known (CPU-only plans keep the ladder order).
        timed = (
            self.device is not None
            and bool(runs)
            and all(o.speed is not None for o in runs)
            and self.prefer != "quality"
        )
        # The reference for balanced's speed term: the fastest option at or above the task's floor.
        fastest = max((_decode(o) for o in runs if not o.below_floor), default=0.0) or max(
            (_decode(o) for o in runs), default=0.0
        )

        # balanced: a loss at or below the task's target counts as the target's ("sufficient"), the
        # target run with the option's own KV cache, so the two figures compare like with like.
        def target_loss(o: QuantOption) -> float:
            target = self.policy.target if o.fit == "gpu" else self.policy.unbumped().target
            return self.loss(target, o.memory.cache_type_k, o.memory.cache_type_v).mid * 100

        def tier_of(o: QuantOption) -> float:
            tier = {"gpu": 0.0, "partial": 1.0, "moe-offload": 1.0, "none": 4.0}[o.fit]
            if o.fit == "gpu" and o.below_floor:
                tier = 3.0
            elif timed and o.below_floor and o.fit != "none":
                tier = 3.25  # offloaded below the floor: after everything at or above it
            if not o.native:
                tier += 0.5
            if timed and o.family == "serving" and tier < 4.0:
                tier += 0.25  # vLLM speeds rest on one published ratio: after llama.cpp's within a fit
            return tier

        def key(o: QuantOption) -> tuple[float, float, float]:
            tier = tier_of(o)
            if tier == 4.0:
                # What it would need, smallest first: GPU memory, or host RAM for a CPU-only plan.
                return (tier, o.memory.total_bytes + o.memory.host_bytes, 0.0)
            if timed and self.prefer == "speed":
                return (tier, -_decode(o), -o.headroom_bytes)
            if timed:
                return (tier, _balanced_cost(o, fastest, target_loss(o)), -o.headroom_bytes)
            prefs = order if o.fit == "gpu" else offload_order
            if o.released_precision:
                pref = -1.0  # the format the model was released in: lossless against it, and small
            elif o.quant in prefs:
                pref = float(prefs[o.quant])
            else:
                pref = self._loss_preference(o, prefs)
            return (tier, pref, -o.headroom_bytes)

        ranked, beaten = _lift_dominating(sorted(out, key=key))
        how = "speed" if timed and self.prefer == "speed" else "balanced" if timed else "ladder"
        place_of = {id(o): i + 1 for i, o in enumerate(ranked)}

        def why(o: QuantOption) -> str:
            passed = beaten.get(id(o))
            if passed is not None:  # its tier's order put it lower: the dominance pass lifted it
                return f"{':' if how == 'ladder' else ';'} moved up: beats #{place_of[id(passed)]} on loss and speed"
            return self._ladder_place(o) if how == "ladder" else ""

        return [
            _with_reason(o, _reason(o, i + 1, how, tier_of(o), fastest, target_loss(o)) + why(o))
            for i, o in enumerate(ranked)
        ]

    def _ladder_place(self, o: QuantOption) -> str:
        """Where the policy's order (rules.preference_order) puts `o` (the ranking without speeds), in words."""
        policy = self.policy if o.fit == "gpu" else self.policy.unbumped()
        if o.released_precision:
            return ": the model's released precision first"
        if o.quant not in LADDER:
            return ": off the ladder, beside the type of the same expected loss"
        if self.prefer == "quality":
            return ": more bits first (prefer quality)"
        i, t, f = LADDER.index(o.quant), LADDER.index(policy.target), LADDER.index(policy.floor)
        if self.prefer == "speed":
            place = "at or above the floor, fewer bits first" if i <= f else "below the floor, more bits first"
            return f": {place} (prefer speed)"
        if i == 0:
            place = f"{o.quant}, unquantized: last in the policy's order"
        elif i == t:
            place = f"the task's target, {o.quant}"
        elif t < i <= f:
            down = ", ".join(LADDER[t + 1 : f + 1])
            place = f"below the target {policy.target}, down to the floor {policy.floor} in the ladder's order ({down})"
        elif i < t:
            up = ", ".join(LADDER[t - 1 : 0 : -1])
            place = f"above the target {policy.target}: after every type down to the floor, fewer bits first ({up})"
        else:
            place = f"below the floor {policy.floor}: after every type at or above it, more bits first"
        return f": {place}"


# balanced: cost = max(expected loss, the target's) x (fastest decode / this decode). Scale-free: the
# order does not change if every expected loss is multiplied by the same factor.
_LOSS_FLOOR = 1e-4  # a lossless target (released precision) still leaves speed to decide


def _with_reason(o: QuantOption, reason: str) -> QuantOption:
    """o with its rank_reason set: a shallow copy (model_copy's work without its per-call overhead,
    which a ranking of ~25 options pays on every request)."""
    if _VALIDATING:
        return o.model_copy(update={"rank_reason": reason})
    made = QuantOption.__new__(QuantOption)
    object.__setattr__(made, "__dict__", {**o.__dict__, "rank_reason": reason})
    object.__setattr__(made, "__pydantic_fields_set__", {*o.__pydantic_fields_set__, "rank_reason"})
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


def _card_bytes(est: MemoryEstimate) -> int:
    """What the fullest GPU of a plan holds, with the prompt pool (on the main GPU) on top."""
    return max(est.per_gpu_bytes, default=est.total_bytes) + est.prompt_bytes


def _decode(o: QuantOption) -> float:
    return o.speed.decode_tokens_per_s if o.speed is not None else 0.0


def _balanced_cost(o: QuantOption, fastest: float, target_loss: float) -> float:
    """max(expected loss, the target's) x fastest / decode, in percentage points."""
    loss = max(o.expected_loss.sort_key * 100, target_loss, _LOSS_FLOOR)
    speed = _decode(o)
    if speed <= 0 or fastest <= 0:
        return math.inf
    return loss * fastest / speed


def _lift_dominating(ranked: list[QuantOption]) -> tuple[list[QuantOption], dict[int, QuantOption]]:
    """Move every option above the first one ranked before it that it beats on loss and speed.

    Returns the order and, by id, the option each moved one was last lifted above.
    """
    # (loss, decode) of options that run with both figures known; the others neither move nor are passed.
    figures = [
        (o.expected_loss.sort_key, _decode(o))
        if o.fit != "none" and o.speed is not None and math.isfinite(o.expected_loss.sort_key)
        else None
        for o in ranked
    ]
    items = list(zip(figures, ranked, strict=True))
    beaten: dict[int, QuantOption] = {}
    for _ in range(len(items) * len(items)):
        moved = False
        for j in range(1, len(items)):
            fj = items[j][0]
            if fj is None:
                continue
            lj, vj = fj
            i = next((i for i in range(j) if (fi := items[i][0]) is not None and lj < fi[0] and vj > fi[1]), None)
            if i is not None:
                beaten[id(items[j][1])] = items[i][1]
                items.insert(i, items.pop(j))
                moved = True
                break
        if not moved:
            break
    return [o for _f, o in items], beaten


def _reason(o: QuantOption, place: int, how: str, tier: float, fastest: float, target_loss: float) -> str:
    """One line on why `o` sits at `place`."""
    where = {0.0: "fits on the GPU", 1.0: "offloaded", 3.0: "below the task's floor", 4.0: "does not fit"}
    if o.fit == "partial" and o.gpu_layers == 0 and o.memory.total_bytes == 0:
        where[1.0] = "CPU only"  # nothing on the GPU: not an offload
    fit = where.get(math.floor(tier), where[1.0]) + (", not native here" if tier % 1 >= 0.5 else "")
    if o.family == "serving":
        fit += ", vLLM"
    loss = o.expected_loss.mid
    loss_text = "unknown loss" if loss is None else f"{loss * 100:.1f}% expected loss"
    speed = f"{_decode(o):.3g} tok/s" if o.speed is not None else "speed unknown"
    if how == "speed":
        why = f"{speed}: faster first"
    elif how == "balanced" and o.speed is not None and loss is not None and fastest > 0:
        counted = max(loss * 100, target_loss, _LOSS_FLOOR)
        at = f" (counted as the target's {target_loss:.2g}%)" if counted > loss * 100 else ""
        slower = fastest / _decode(o) if _decode(o) > 0 else math.inf
        why = f"cost {counted * slower:.3g} = {loss_text}{at} x {slower:.2f} ({speed} vs {fastest:.3g})"
    else:
        why = loss_text if o.speed is None else f"{loss_text}, {speed}"
    return f"#{place} {o.quant}: {fit}; {why}"


def _finite(value: float) -> float | None:
    """JSON has no NaN: an unknown figure is None."""
    return None if math.isnan(value) or math.isinf(value) else value
