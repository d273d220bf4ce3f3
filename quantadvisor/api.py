"""recommend(): hand a prepared request's model (or every reference size) to the planner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from .architecture import ModelSpec, load_model_spec
from .construct import construct
from .knobs import RuntimeKnobs
from .planner import FileCandidate, Planner, model_params
from .quality import effective_params
from .request import (
    GIB,
    TASKS,
    Request,
    is_repo_model,
    local_gguf,
    normalise_task,
    prepare_request,
    rank_model,
    resolve_model,
    tag_quant,
    thin_headroom,
)
from .results import HardwareUsed, QuantOption, Recommendation, SizeChoice
from .rules import FiredRule, Policy, Prefer, evaluate_request_rules

if TYPE_CHECKING:
    from pathlib import Path

    from .dataset import Dataset

__all__ = [
    "TASKS", "FileCandidate", "HardwareUsed", "QuantOption", "Recommendation", "SizeChoice", "is_repo_model",
    "normalise_task", "recommend",
]  # fmt: skip

# The no-model matrix compares sizes on the common rungs of the ladder only.
_MATRIX_QUANTS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_XS", "MXFP4_MOE", "Q3_K_M", "IQ3_XXS", "Q2_K", "IQ2_M")


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
    cache_type_k: str = "auto",
    cache_type_v: str = "auto",
    flash_attn: bool | Literal["auto", "on", "off"] = "auto",
    n_ubatch: int | Literal["auto"] = "auto",
    host_bandwidth_gbps: float | None = None,
    price_per_kwh: float | None = None,
    margin_gib: float | None = None,
    dataset: Dataset | None = None,
) -> Recommendation:
    """Rank the quantized builds of `model` (or of every reference size) for `task` on this hardware.

    Args:
        task: code, math, reasoning, chat, qa, summarization, translation or rag (aliases accepted).
        model: a size shorthand ("9b", "30b-a3b"), a config.json (dict, file or folder), a .gguf file,
            a Hub repo id, or None to compare the reference sizes (3B-70B, dense and MoE).
        vram_gib: plan for this much VRAM per card (GiB); 0 = CPU only; neither this nor `gpu` = detect (NVML).
        gpu: plan for this catalog GPU ("RTX 4060").
        context_tokens: the context the model will run with (llama.cpp -c).
        embedding_model: a resident embedding model for RAG (True = BGE-M3) whose VRAM is reserved.
        prefer: "quality", "balanced" (default) or "speed".
        cache_type_k: llama.cpp's -ctk, fixed on every option, or "auto" (default): f16 at ubatch 512,
            then q8_0, ubatch 256, then q4_0 until an option fits on the GPU. Each option's ``memory``
            says which settings it uses.
        cache_type_v: llama.cpp's -ctv, likewise; a quantized V cache needs flash attention.
        flash_attn: llama.cpp's -fa: True/"on", False/"off", or "auto" (default: on, as -fa auto on CUDA).
        n_ubatch: llama.cpp's -ub, or "auto" (default: 512, then 256 to fit).
        host_bandwidth_gbps: system RAM bandwidth (GB/s) for offloaded speed estimates; default an
            assumed dual-channel DDR5-4800 (76.8 GB/s), or the chip's own on unified memory.
        price_per_kwh: turns each option's energy (at the GPU's rated power) into a cost per million tokens.
        margin_gib: VRAM to keep free per GPU (default 1 GiB, llama.cpp's --fit-target), for a detected
            card and a planned one (vram_gib / gpu) alike; 0 plans to the last byte.

    With no GPU (none detected, or vram_gib=0) the plan is CPU-only: every option runs from host
    RAM (``rec.hardware.cpu_only``), checked against the RAM this machine reports unless `ram_gib`
    replaces it. Nothing fitting is a result (``rec.pick is None``), not an exception.

    Raises:
        InvalidRequestError: an unknown task, preference, GPU, embedding model or runtime knob; a
            negative, infinite or absurd VRAM/RAM/context; a model file that does not exist.
        ModelResolutionError: a GGUF file or config whose shape cannot be read.
        HubError: for a repo id, the Hub could not answer (see rank_files).
        DatasetError: the bundled or --data records fail validation.

    Example:
        >>> rec = recommend("code", vram_gib=8, model="9b")       # doctest: +SKIP
        >>> rec.options[0].quant, rec.options[0].fit               # doctest: +SKIP
        ('Q4_K_M', 'gpu')
    """
    if is_repo_model(model):
        from .files import rank_files

        return rank_files(
            str(model), task=task, vram_gib=vram_gib, gpu=gpu, gpus=gpus, context_tokens=context_tokens,
            ram_gib=ram_gib, embedding_model=embedding_model, prefer=prefer, cache_type_k=cache_type_k,
            cache_type_v=cache_type_v, flash_attn=flash_attn, n_ubatch=n_ubatch, margin_gib=margin_gib,
            dataset=dataset,
        )  # fmt: skip
    req = prepare_request(
        task, vram_gib=vram_gib, gpu=gpu, gpus=gpus, context_tokens=context_tokens, ram_gib=ram_gib,
        embedding_model=embedding_model, prefer=prefer, dataset=dataset, margin_gib=margin_gib,
        knobs=RuntimeKnobs.of(cache_type_k=cache_type_k, cache_type_v=cache_type_v, flash_attn=flash_attn,
                              n_ubatch=n_ubatch),
        host_bandwidth_gbps=host_bandwidth_gbps, price_per_kwh=price_per_kwh,
    )  # fmt: skip
    if model is not None:
        local = local_gguf(model, req.ds)
        spec = local[0] if local else resolve_model(model, req.ds)
        rec = rank_model(spec, req, local_file=local[1] if local else None)
        named = tag_quant(model)
        if named is not None:
            rec = _tag_first(rec, named, str(model))
        if local and local[1] is not None:
            from .handoff import local_handoff

            path = local[1].file
            options = [o.model_copy(update={"handoff": local_handoff(o, path)}) if o.file == path else o
                       for o in rec.options]  # fmt: skip
            rec = rec.model_copy(update={"options": options})
        return rec
    return _compare_sizes(req)


def _tag_first(rec: Recommendation, quant: str, tag: str) -> Recommendation:
    """An Ollama tag with a quant suffix names the file: that quant goes first, the ranking's own pick noted."""
    mine = [o for o in rec.options if o.quant == quant and o.family == "gguf"]
    if not mine:
        return rec.model_copy(update={"notes": [*rec.notes, f"{tag} names {quant}, which the rules leave out here"]})
    best = rec.options[0]
    note = f"{tag} names {quant}: it is listed first" + (
        f" (the ranking alone would pick {best.quant})" if best.quant != quant else ""
    )
    rest = [o for o in rec.options if o not in mine]
    return rec.model_copy(update={"options": [*mine, *rest], "notes": [note, *rec.notes]})


def _size_planner(shorthand: str, req: Request) -> tuple[Planner, float, float | None]:
    """The planner for one reference size of the no-model matrix, and its total and active parameters."""
    spec = load_model_spec(shorthand, req.ds)
    params, active = model_params(spec)
    eff = effective_params(params, active)
    policy = evaluate_request_rules(req.ds.rules.values(), task=req.task, params=eff, rag=req.rag, no_model=True)
    # The matrix compares GGUF sizes: serving formats need a named GPU generation, so no cc here.
    return Planner(spec, policy=policy, **{**req.common, "cc": None}), params, active


# Which catalog purposes suit a task, most specific first (a model's own card says what it is for).
_TASK_PURPOSES: dict[str, tuple[str, ...]] = {
    "code": ("coder",), "math": ("math", "reasoning"), "reasoning": ("reasoning",),
}  # fmt: skip
# A catalog model stands under the reference size nearest to it, if within this factor (log distance).
_ROW_DISTANCE = 0.5


def _models_by_row(req: Request) -> dict[str, tuple[list[str], str]]:
    """Catalog models per reference size that suit the task: {shorthand: (names, purpose)}.

    Each instruct model goes to the nearest reference size of its kind (dense or MoE; for MoE the
    active parameters count too). Purposes come from the models' cards; nothing is ranked.
    """
    import math

    from .catalog import catalog_models

    refs = []
    for arch in req.ds.architectures.values():
        spec = load_model_spec(arch.shorthand, req.ds)
        total, active = model_params(spec)
        refs.append((arch.shorthand, total, active))
    by_row: dict[str, dict[str, list[str]]] = {}  # purposes as plain strings
    for m in catalog_models(req.ds):
        if not m.instruct or "embedding" in m.purposes:
            continue
        best, best_d = None, math.inf
        for shorthand, total, active in refs:
            if (active is None) != (m.active_params_billions is None):
                continue
            d = abs(math.log(m.params_billions / total))
            if active is not None and m.active_params_billions is not None:
                d += abs(math.log(m.active_params_billions / active))
            if d < best_d:
                best, best_d = shorthand, d
        if best is None or best_d > _ROW_DISTANCE:
            continue
        for kind in m.purposes:
            by_row.setdefault(best, {}).setdefault(str(kind), []).append(m.name)
    wanted = _TASK_PURPOSES.get(req.task, ())
    out: dict[str, tuple[list[str], str]] = {}
    for shorthand, purposes in by_row.items():
        for purpose in (*wanted, "general"):
            if purposes.get(purpose):
                out[shorthand] = (purposes[purpose], purpose)
                break
    return out


def _compare_sizes(req: Request) -> Recommendation:
    rows: list[SizeChoice] = []
    row_models = _models_by_row(req)
    best: list[tuple[QuantOption, float]] = []
    trace: list[FiredRule] = []
    first_policy: Policy | None = None
    cpu_req: Request | None = None  # the request as --vram 0 (host RAM read once), for sizes that need it
    for arch in sorted(req.ds.architectures.values(), key=lambda a: _size_key(a.shorthand)):
        planner, params, active = _size_planner(arch.shorthand, req)
        if planner.below_gpu_buffers:
            # No card holds this size's smallest GPU plan: planned exactly as --vram 0, RAM checked.
            cpu_req = cpu_req or req.as_cpu_only(
                "a size whose smallest GPU plan (the output layer with llama.cpp's CUDA context and compute "
                "buffers) does not fit the card is planned as with no GPU, run with --device none"
            )
            planner, params, active = _size_planner(arch.shorthand, cpu_req)
        first_policy = first_policy or planner.policy
        trace.extend(r for r in planner.policy.fired if r.id not in {t.id for t in trace})
        top = planner.best_option(_MATRIX_QUANTS)
        top = thin_headroom([top], req.hardware)[0] if top is not None else None
        names, purpose = row_models.get(arch.shorthand, ([], None))
        if top is not None and names:
            note = (f"{req.task} models of this size (catalog, by their cards; not ranked): {', '.join(names)}; "
                    f"sized as {arch.stands_for}")  # fmt: skip
            top = top.model_copy(update={"notes": [note, *top.notes]})
        row = construct(
            SizeChoice, size=arch.shorthand, stands_for=arch.stands_for, params_billions=round(params, 2),
            active_params_billions=round(active, 2) if active else None, best=top, models=names,
            models_purpose=purpose,
        )  # fmt: skip
        rows.append(row)
        if top is not None:
            best.append((top, planner.eff))
    suited = {id(r.best) for r in rows if r.best is not None and r.models_purpose in _TASK_PURPOSES.get(req.task, ())}

    def overall(item: tuple[QuantOption, float]) -> tuple[int, int, float, float]:
        # Fully on the GPU beats experts in RAM beats partial offload beats the CPU alone (a size
        # whose card is below llama.cpp's GPU buffers); within a tier a size with models made for
        # the task (coder models for code, by their cards) comes first, then the largest size at
        # >= 3.5 bpw that meets the floor wins (arXiv:2505.15030).
        o, eff = item
        ok = not o.below_floor and o.bits_per_weight >= 3.5
        tier = {"gpu": 0, "moe-offload": 1, "partial": 2}.get(o.fit, 4) if ok else 5
        if tier == 2 and o.gpu_layers == 0 and o.memory.total_bytes == 0:
            tier = 3
        return (tier, 0 if id(o) in suited else 1, -eff, o.expected_loss.sort_key)

    ranked = [o for o, _ in sorted(best, key=overall)]
    policy = first_policy or Policy()
    cpu_note = []
    if cpu_req is not None and not req.hardware.cpu_only:
        ram = cpu_req.hardware.ram_bytes
        checked = (
            f"checked against this machine's {ram / GIB:.1f} GiB of RAM; offloaded sizes are checked only "
            "with --ram GIB"
            if ram
            else "host RAM unknown (--ram GIB)"
        )
        cpu_note = [f"sizes marked CPU only: the card is below their smallest GPU plan, so they are planned as "
                    f"with no GPU ({checked}) and run with --device none"]  # fmt: skip
    if not ranked:
        notes = ["no reference size fits this budget, even partially offloaded"]
    else:
        top_row = next(r for r in rows if r.best is ranked[0])
        named = f" ({', '.join(top_row.models[:3])})" if top_row.models else ""
        kind = f" with {top_row.models_purpose} models" if id(ranked[0]) in suited else ""
        top = ranked[0]
        if req.hardware.cpu_only:
            fit = ""
        elif top.fit == "partial" and top.gpu_layers == 0:
            fit = "none fits on the GPU: "
        elif top.fit != "gpu":
            fit = "none fits fully on the GPU: "
        else:
            fit = "fully on the GPU: "
        notes = [
            f"overall pick: the {top_row.size} size{named} as {top.quant} "
            f"({fit}the largest size{kind} at ≥3.5 bpw and the task's floor)",
            "expected loss is relative to each model's own unquantized score: a larger model quantized to "
            "about 3.5 bpw or more usually still scores higher than a smaller one at more bits (arXiv:2505.15030)",
        ]
    notes += cpu_note
    hardware = req.hardware
    on_gpu = [r for r in rows if r.best is not None and r.best.memory.total_bytes > 0]
    if cpu_req is not None and not on_gpu:
        # Every size is below its smallest GPU plan: the whole answer is CPU-only, and says so.
        hardware, notes = cpu_req.hardware, [n for n in notes if n not in cpu_note]
    return construct(
        Recommendation,
        task=req.task, prefer=req.prefer, context_tokens=req.context, model=None, model_approximate=True,
        target=policy.target, floor=policy.floor, hardware=hardware, options=ranked, by_size=rows, trace=trace,
        notes=notes,
    )  # fmt: skip


def _size_key(shorthand: str) -> float:
    digits = "".join(ch if ch.isdigit() or ch == "." else " " for ch in shorthand).split()
    if "x" in shorthand:
        return float(digits[0]) * float(digits[1])
    return float(digits[0]) if digits else 0.0
