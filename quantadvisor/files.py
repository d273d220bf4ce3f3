"""Real GGUF files ranked for a task and machine: a Hub repo's builds, or a download tool's (name, size) list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from . import limits
from .architecture import ModelSpec, spec_from_config, spec_from_gguf_metadata
from .errors import HubError, InvalidRequestError, ModelResolutionError, NothingFitsError
from .hub import (
    RepoFile,
    detect_checkpoint_quantization,
    fetch_base_models,
    fetch_config,
    fetch_gguf_header,
    gguf_builds,
    list_gguf_files,
    parse_repo_ref,
)
from .knobs import RuntimeKnobs
from .memory import GGUF_FILE_TYPES
from .memory.mixes import FILE_TYPE_IDS
from .planner import FileCandidate
from .request import GIB, Request, is_repo_model, prepare_request, rank_model, resolve_model

if TYPE_CHECKING:
    from pathlib import Path

    from .dataset import Dataset
    from .results import HardwareUsed, QuantOption, Recommendation
    from .rules import Prefer

__all__ = ["pick_file", "pick_option", "rank_files", "repo_model_spec"]

Files = str | Mapping[str, int] | Iterable[tuple[str, int]]

_NO_HUB = "the Hub could not answer for"

# detect_checkpoint_quantization's names where data/formats.yaml spells the format differently.
_CHECKPOINT_FORMATS = {"W4A8-INT": "W4A8"}


def rank_files(
    files: Files,
    *,
    task: str,
    vram_gib: float | None = None,
    gpu: str | None = None,
    gpus: int = 1,
    context_tokens: int = 4096,
    ram_gib: float | None = None,
    model: str | Path | dict[str, Any] | ModelSpec | None = None,
    revision: str | None = None,
    multimodal: bool = False,
    embedding_model: str | bool | None = None,
    prefer: Prefer = "balanced",
    cache_type_k: str = "auto",
    cache_type_v: str = "auto",
    flash_attn: bool | Literal["auto", "on", "off"] = "auto",
    n_ubatch: int | Literal["auto"] = "auto",
    margin_gib: float | None = None,
    dataset: Dataset | None = None,
) -> Recommendation:
    """Rank real GGUF files for `task` on this hardware; each option's `file` names the file to fetch.

    Args:
        files: a Hub repo id (``owner/name`` or ``owner/name@revision``), or the (file name, size in bytes)
            pairs a download tool already has (a mapping of name to size works too). Split builds
            (``-00001-of-00003.gguf``) are joined; ``mmproj`` files are left out of the ranking.
        model: the architecture when the files cannot give it: required for a list of pairs (a size
            shorthand, a config.json, a .gguf file or a repo id); for a repo, used only when its GGUF
            header cannot be read.
        revision: branch, tag or commit of the repo (or write ``owner/name@revision``).
        multimodal: keep the repo's largest ``mmproj`` file on the GPU beside the model.

    The other arguments are recommend()'s. Each file is sized from its real byte count, laid out like the
    predicted tensor mix of its quant type, and ranked exactly as recommend() ranks quant types. A repo
    without GGUF files (safetensors) is sized from its config.json, and the notes say which GGUF builds
    to look for; NVFP4/FP8/INT checkpoints are recognised as such. With no GPU the plan is CPU-only,
    as in recommend().

    Raises:
        InvalidRequestError: recommend()'s bad inputs; a malformed repo id or two revisions; a list
            without `model=`, with bad pairs, or without GGUF model files.
        HubError: the repo or revision was not found, is gated or private without a token, the Hub
            rate limited or timed out, or it is not cached while offline (carries ``repo_id``).
        ModelResolutionError: no file can be sized, or no header, `model=` or config.json gives the shape.
        DatasetError: the bundled or --data records fail validation.

    Example:
        >>> rec = rank_files("bartowski/Qwen2.5-Coder-7B-Instruct-GGUF", task="code", vram_gib=8)  # doctest: +SKIP
        >>> rec.pick.file, rec.pick.fit                                                           # doctest: +SKIP
        ('Qwen2.5-Coder-7B-Instruct-Q5_K_M.gguf', 'gpu')
    """
    req = prepare_request(
        task, vram_gib=vram_gib, gpu=gpu, gpus=gpus, context_tokens=context_tokens, ram_gib=ram_gib,
        embedding_model=embedding_model, prefer=prefer, dataset=dataset, margin_gib=margin_gib,
        knobs=RuntimeKnobs.of(cache_type_k=cache_type_k, cache_type_v=cache_type_v, flash_attn=flash_attn,
                              n_ubatch=n_ubatch),
    )  # fmt: skip
    repo_id: str | None = None
    skipped: list[str] = []  # listing entries that are no safe path or have no usable size
    if isinstance(files, str):
        repo_id, revision = _repo_ref(files, revision)
        try:
            listed = list_gguf_files(repo_id, revision, skipped=skipped)
        except HubError as exc:
            fallback = _catalog_fallback(repo_id, revision, exc, req)
            if fallback is None:
                raise
            return fallback
    else:
        if model is None:
            raise InvalidRequestError(
                "ranking a list of files needs model= to give the architecture",
                hint="pass model= a size such as 8b, a config.json, a .gguf file or the repo id",
            )
        if revision is not None:
            raise InvalidRequestError("revision= applies to a repo id, not to a list of files")
        listed = _entries(files, skipped)
    notes: list[str] = list(skipped)
    if multimodal:
        req, note = _with_mmproj(req, listed, repo_id)
        notes.append(note)
    texts = [f for f in listed if not f.is_mmproj]
    if not texts:
        if repo_id is None:
            raise InvalidRequestError(
                "the list holds no GGUF model files", hint="pass (file name, size in bytes) pairs of .gguf files"
            )
        return _checkpoint_answer(repo_id, revision, model, req, notes)

    spec, named_by_header, source_notes = _gguf_spec(repo_id, revision, texts, model, req.ds)
    candidates, left_out = _candidates(texts, named_by_header)
    if len(candidates) > limits.MAX_RANKED_FILES:  # each one costs a memory plan: bound the request's work
        left_out.append(
            f"{len(candidates):,} GGUF builds: only the first {limits.MAX_RANKED_FILES} (by name) were ranked"
        )
        candidates = candidates[: limits.MAX_RANKED_FILES]
    where = _where(repo_id, revision)
    if not candidates:
        raise ModelResolutionError(
            f"none of the {len(texts)} GGUF files of {where} can be sized: " + "; ".join(left_out),
            hint="name the quant type in the file name (…-Q4_K_M.gguf)",
        )
    rec = rank_model(spec, req, files=candidates)
    ranked = {o.file for o in rec.options}
    left_out += [f"{c.file}: left out by the rules for this task and GPU" for c in candidates if c.file not in ranked]
    by_name = {f.filename: f for f in texts}
    where_from = None
    if repo_id is not None:
        projectors = [f for f in listed if f.is_mmproj]
        mmproj = max(projectors, key=lambda f: f.size_bytes).filename if multimodal and projectors else None
        where_from = _Source(repo_id, revision, [p for f in listed for p in f.split_files], mmproj, bool(projectors))
    options = [_annotate(o, by_name[o.file], where_from) if o.file in by_name else o for o in rec.options]
    return rec.model_copy(update={"options": options, "notes": [*source_notes, *notes, *left_out, *rec.notes]})


def _catalog_fallback(repo_id: str, revision: str | None, exc: HubError, req: Request) -> Recommendation | None:
    """The Hub cannot answer (offline, unreachable) for a repo the catalog knows: rank its quant types
    from the catalog's shape, and say that no file of the repo was seen. None for any other repo."""
    from .catalog import catalog_spec, find_model

    known = find_model(repo_id, req.ds)
    if known is None or revision is not None or known.hf_repo.casefold() != repo_id.casefold():
        return None
    rec = rank_model(catalog_spec(known, req.ds), req)
    note = (f"{_NO_HUB} {repo_id} ({exc.message}): ranked as quant types from the model "
            "catalog's shape; no file of the repo was seen")  # fmt: skip
    return rec.model_copy(update={"notes": [note, *rec.notes]})


def pick_option(
    files: Files,
    *,
    task: str,
    vram_gib: float | None = None,
    gpu: str | None = None,
    gpus: int = 1,
    context_tokens: int = 4096,
    ram_gib: float | None = None,
    model: str | Path | dict[str, Any] | ModelSpec | None = None,
    revision: str | None = None,
    multimodal: bool = False,
    embedding_model: str | bool | None = None,
    prefer: Prefer = "balanced",
    cache_type_k: str = "auto",
    cache_type_v: str = "auto",
    flash_attn: bool | Literal["auto", "on", "off"] = "auto",
    n_ubatch: int | Literal["auto"] = "auto",
    margin_gib: float | None = None,
    dataset: Dataset | None = None,
) -> QuantOption:
    """Return the option to fetch (``.files``: every part of its build; ``.handoff``: the commands), or raise
    NothingFitsError saying why: pick_file() for callers that want the whole option (the ``pick`` command).

    Takes rank_files()' arguments; with no GPU, the file is picked for a CPU-only run from host RAM.

    Raises:
        NothingFitsError: no file fits the VRAM (nor, offloaded, the RAM); the message names the smallest.
        ModelResolutionError: the repo holds no GGUF files to download (safetensors); the hint names
            the builds to look for.
        InvalidRequestError, HubError, DatasetError: as rank_files().
    """
    rec = rank_files(
        files, task=task, vram_gib=vram_gib, gpu=gpu, gpus=gpus, context_tokens=context_tokens, ram_gib=ram_gib,
        model=model, revision=revision, multimodal=multimodal, embedding_model=embedding_model, prefer=prefer,
        cache_type_k=cache_type_k, cache_type_v=cache_type_v, flash_attn=flash_attn, n_ubatch=n_ubatch,
        margin_gib=margin_gib, dataset=dataset,
    )  # fmt: skip
    return _chosen(rec, files)


def _chosen(rec: Recommendation, files: Files) -> QuantOption:
    """The top option when it names a file; else raise why there is none (nothing fits, or no GGUF)."""
    pick = rec.pick
    if pick is not None and pick.file is not None:
        return pick
    where = files if isinstance(files, str) else "the list"
    with_file = [o for o in rec.options if o.file is not None]
    if not with_file and rec.notes and rec.notes[0].startswith(_NO_HUB):
        raise HubError(rec.notes[0], hint="a file to fetch needs the Hub: unset HF_HUB_OFFLINE or check the network")
    if not with_file:
        look_for = next((n for n in rec.notes if n.startswith("look for")), None)
        raise ModelResolutionError(
            f"{where} has no GGUF files to download (it holds safetensors weights)",
            hint=look_for or "pick a GGUF repo of this model",
        )
    hw = rec.hardware
    smallest = min(with_file, key=lambda o: o.memory.total_bytes)
    budget = f"{hw.llm_vram_bytes / GIB:.1f} GiB of VRAM" + (
        f" and {hw.ram_bytes / GIB:.1f} GiB of RAM" if hw.ram_bytes else ""
    )
    if hw.cpu_only and hw.vram_bytes > 0:  # planned CPU-only: the card is below llama.cpp's GPU buffers
        budget = (f"{hw.ram_bytes / GIB:.1f} GiB of RAM" if hw.ram_bytes else "the CPU alone") + (
            f" ({hw.vram_bytes / GIB:.1f} GiB of VRAM is below llama.cpp's GPU buffers: CPU only)"
        )
    needs = (
        f"{smallest.memory.host_bytes / GIB:.1f} GiB of RAM"
        if hw.llm_vram_bytes <= 0
        else f"{smallest.memory.total_bytes / GIB:.1f} GiB of VRAM to run on the GPU alone"
    )
    raise NothingFitsError(
        f"no GGUF file of {where} fits {budget}: the smallest, {smallest.file}, needs {needs}",
        hint=("lower the context or pick a smaller model" if hw.ram_bytes else
              "pass ram_gib (--ram) for partial offload, lower the context, or pick a smaller model"),
    )  # fmt: skip


def pick_file(
    files: Files,
    *,
    task: str,
    vram_gib: float | None = None,
    gpu: str | None = None,
    gpus: int = 1,
    context_tokens: int = 4096,
    ram_gib: float | None = None,
    model: str | Path | dict[str, Any] | ModelSpec | None = None,
    revision: str | None = None,
    multimodal: bool = False,
    embedding_model: str | bool | None = None,
    prefer: Prefer = "balanced",
    cache_type_k: str = "auto",
    cache_type_v: str = "auto",
    flash_attn: bool | Literal["auto", "on", "off"] = "auto",
    n_ubatch: int | Literal["auto"] = "auto",
    margin_gib: float | None = None,
    dataset: Dataset | None = None,
) -> str:
    """Return the one file to fetch (the first part of a split build), or raise NothingFitsError saying why.

    Takes rank_files()' arguments, raises as pick_option() does; pick_option() gives every part of a
    split build and the hand-off commands.
    """
    return pick_option(
        files, task=task, vram_gib=vram_gib, gpu=gpu, gpus=gpus, context_tokens=context_tokens, ram_gib=ram_gib,
        model=model, revision=revision, multimodal=multimodal, embedding_model=embedding_model, prefer=prefer,
        cache_type_k=cache_type_k, cache_type_v=cache_type_v, flash_attn=flash_attn, n_ubatch=n_ubatch,
        margin_gib=margin_gib, dataset=dataset,
    ).file or ""  # fmt: skip


# ------------------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------------------


def _repo_ref(ref: str, revision: str | None) -> tuple[str, str | None]:
    repo_id, at = parse_repo_ref(ref)
    if at is not None and revision is not None and at != revision:
        raise InvalidRequestError(
            f"two revisions for {repo_id}: {at!r} after '@' and {revision!r}", hint="give the revision once"
        )
    return repo_id, at or revision


def _where(repo_id: str | None, revision: str | None) -> str:
    if repo_id is None:
        return "the list"
    return f"{repo_id}@{revision}" if revision else repo_id


def _entries(files: Mapping[str, int] | Iterable[tuple[str, int]], skipped: list[str]) -> list[RepoFile]:
    """Validate (name, size) pairs and join them into GGUF builds, as a repo listing would be.

    A size that is not a positive number of bytes is the caller's error; a name that is not a safe path inside
    the repo (``..``, absolute, a drive, control characters) is skipped with a note, as in a Hub listing.
    """
    if isinstance(files, (bytes, bytearray)) or not isinstance(files, (Mapping, Iterable)):
        raise InvalidRequestError(f"files must be a repo id or (file name, size) pairs, not {type(files).__name__}")
    items = files.items() if isinstance(files, Mapping) else files
    pairs: list[tuple[str, int]] = []
    for index, item in enumerate(items):
        if index >= limits.MAX_LISTED_FILES:
            skipped.append(f"the list holds more than {limits.MAX_LISTED_FILES:,} files: only the first were read")
            break
        try:
            name, size = item
        except (TypeError, ValueError):
            raise InvalidRequestError(f"expected (file name, size in bytes) pairs, got {str(item)[:100]!r}") from None
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequestError(f"a file name must be a non-empty string, not {str(name)[:100]!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise InvalidRequestError(
                f"the size of {name[:200]!r} must be a positive number of bytes, not {str(size)[:40]!r}"
            )
        pairs.append((name.strip(), size))
    return gguf_builds(pairs, skipped)


def _with_mmproj(req: Request, listed: list[RepoFile], repo_id: str | None) -> tuple[Request, str]:
    """Keep the largest mmproj on the GPU: llama.cpp loads the projector there beside the model."""
    projectors = [f for f in listed if f.is_mmproj]
    if not projectors:
        return req, f"multimodal: {repo_id or 'the list'} has no mmproj file; only the text model is counted"
    mmproj = max(projectors, key=lambda f: f.size_bytes)
    name = mmproj.filename.rsplit("/", 1)[-1]
    note = (
        f"multimodal: {name} ({mmproj.size_bytes / GIB:.2f} GiB) stays on the GPU beside the model; "
        f"fetch it too (llama.cpp --mmproj {mmproj.filename})"
    )
    return req.with_reserve(mmproj.size_bytes, name), note


# ------------------------------------------------------------------------------------------------------------
# Architecture: GGUF header, then model=, then config.json
# ------------------------------------------------------------------------------------------------------------


def _gguf_spec(
    repo_id: str | None, revision: str | None, texts: list[RepoFile], model: object, ds: Dataset
) -> tuple[ModelSpec, tuple[str, str] | None, list[str]]:
    """The model's shape, the (file, quant) its header names, and a note on where the shape came from."""
    failure: ModelResolutionError | None = None
    if repo_id is not None:
        first = next((f for f in texts if f.complete), texts[0])  # part 1 of a split carries the metadata
        try:
            header = fetch_gguf_header(repo_id, first.filename, revision)
            spec = spec_from_gguf_metadata(dict(header.metadata), name=_where(repo_id, revision))
        except HubError:
            raise  # gated, rate limited, offline …: nothing else in the repo can be read either
        except ModelResolutionError as exc:  # a truncated, hostile or unknown header
            failure = exc
        else:
            file_type = header.get("general.file_type")
            quant = FILE_TYPE_IDS.get(file_type) if isinstance(file_type, int) else None
            said = ["shapes from the GGUF header (exact); model= was not needed"] if model is not None else []
            return spec, ((first.filename, quant) if quant else None), said
    why = f" (the GGUF header of {repo_id} could not be read: {failure.message})" if failure else ""
    if model is not None:
        spec = _model_spec(model, ds)
        if repo_id is not None:
            spec = spec.model_copy(update={"name": _where(repo_id, revision)})
        return spec, None, [f"shapes from model={_show(model)}{why}"]
    if repo_id is None or failure is None:  # a list without model= was refused before
        raise InvalidRequestError("ranking a list of files needs model= to give the architecture")
    try:
        spec, origin = _config_spec(repo_id, revision)
    except ModelResolutionError:
        raise ModelResolutionError(
            failure.message, hint="pass model= (--model): a size such as 8b, or the base model's config.json"
        ) from failure
    return spec, None, [f"shapes from {origin}{why}"]


def _show(model: object) -> str:
    if isinstance(model, ModelSpec):
        return model.name
    if isinstance(model, dict):
        return "a config dict"
    return str(model)


def repo_model_spec(ref: str, dataset: Dataset | None = None) -> ModelSpec:
    """The shape of a Hub repo (``owner/name[@revision]``): its first GGUF file's header, else its
    config.json (or its base model's). What load_model_spec() and estimate_memory() use for a repo id."""
    from .dataset import load_dataset

    return _model_spec(ref, dataset or load_dataset())


def _model_spec(model: object, ds: Dataset) -> ModelSpec:
    if is_repo_model(model):
        repo_id, revision = parse_repo_ref(str(model))
        texts = [f for f in list_gguf_files(repo_id, revision) if not f.is_mmproj]
        if texts:
            return _gguf_spec(repo_id, revision, texts, None, ds)[0]
        return _config_spec(repo_id, revision)[0]
    return resolve_model(model, ds)  # type: ignore[arg-type]


def _entry_missing(exc: HubError) -> bool:
    from huggingface_hub.errors import EntryNotFoundError  # ~0.2 s to import: Hub paths only

    return isinstance(exc.__cause__, EntryNotFoundError)


def _config_spec(repo_id: str, revision: str | None) -> tuple[ModelSpec, str]:
    """The shape from the repo's config.json, else from its base model's (the model card's base_model)."""
    try:
        return spec_from_config(fetch_config(repo_id, revision), name=_where(repo_id, revision)), "config.json"
    except HubError as exc:
        if not _entry_missing(exc):
            raise
        missing = exc
    for base in fetch_base_models(repo_id, revision):
        try:
            config = fetch_config(base)
        except HubError as exc:
            if _entry_missing(exc):
                continue
            raise
        return spec_from_config(config, name=_where(repo_id, revision)), f"config.json of the base model {base}"
    raise ModelResolutionError(
        f"{repo_id} has no config.json and names no base model that has one",
        hint="pass model= (--model): a size such as 8b, or a config.json",
    ) from missing


# ------------------------------------------------------------------------------------------------------------
# Candidates and annotations
# ------------------------------------------------------------------------------------------------------------


def _candidates(
    texts: list[RepoFile], named_by_header: tuple[str, str] | None
) -> tuple[list[FileCandidate], list[str]]:
    candidates, left_out = [], []
    for f in texts:
        quant = f.quant or (named_by_header[1] if named_by_header and named_by_header[0] == f.filename else None)
        if not f.complete:
            left_out.append(f"{f.filename}: {len(f.split_files)} of {f.parts} parts present; left out")
        elif quant is None:
            left_out.append(f"{f.filename}: no quant type in the name; left out")
        elif quant not in GGUF_FILE_TYPES:
            left_out.append(f"{f.filename}: {quant} cannot be sized by quantadvisor yet; left out")
        else:
            candidates.append(FileCandidate(quant=quant, file=f.filename, size_bytes=f.size_bytes))
    return candidates, left_out


@dataclass(frozen=True)
class _Source:
    """Where a ranked file lives, for its hand-off commands."""

    repo_id: str
    revision: str | None
    paths: list[str]
    mmproj: str | None
    has_mmproj: bool


def _annotate(option: QuantOption, f: RepoFile, source: _Source | None) -> QuantOption:
    notes = []
    if f.quant_variant:
        notes.append(
            f"{f.quant_variant} is a {option.quant} build with its own tensor mix: memory follows the real "
            f"file ({f.size_bytes / 1e9:.2f} GB), expected loss is {option.quant}'s"
        )
    if f.parts > 1:
        notes.append(
            f"split in {f.parts} parts: fetch all of {', '.join(p.rsplit('/', 1)[-1] for p in f.split_files)}; "
            "llama.cpp opens the rest from the first"
        )
    parts = list(f.split_files) if f.parts > 1 and f.split_files else [f.filename]
    update: dict[str, Any] = {"notes": [*notes, *option.notes], "files": parts, "variant": f.quant_variant}
    if source is not None:
        from .handoff import gguf_handoff

        update["handoff"] = gguf_handoff(
            option, repo_id=source.repo_id, revision=source.revision, files=parts,
            label=f.quant_variant or f.quant, repo_files=source.paths, mmproj=source.mmproj,
            has_mmproj=source.has_mmproj,
        )  # fmt: skip
    return option.model_copy(update=update)


# ------------------------------------------------------------------------------------------------------------
# Repos without GGUF files: safetensors checkpoints
# ------------------------------------------------------------------------------------------------------------


def _checkpoint_answer(
    repo_id: str, revision: str | None, model: object, req: Request, notes: list[str]
) -> Recommendation:
    """Size a safetensors repo from its config.json; say which builds to look for and what it already is."""
    where = _where(repo_id, revision)
    config: dict[str, Any] | None = None
    try:
        config = fetch_config(repo_id, revision)
    except HubError as exc:
        if not _entry_missing(exc):
            raise
        if model is None:
            raise ModelResolutionError(
                f"{where} has no GGUF files and no config.json",
                hint="check the repo id, or pass model= (--model) to size it",
            ) from exc
    if config is not None:
        spec = spec_from_config(config, name=where)
        found = detect_checkpoint_quantization(config) or _hf_quant_config(repo_id, revision)
    else:
        spec = _model_spec(model, req.ds).model_copy(update={"name": where})
        found = None
    fmt = _CHECKPOINT_FORMATS.get(found, found) if found else None
    serving = fmt is not None and fmt in req.ds.formats and req.ds.formats[fmt].family == "serving"
    rec = rank_model(spec, req, extra_serving=(fmt,) if serving and fmt else ())
    options = [
        _serve_this_repo(o, repo_id, revision, req.hardware) if o.quant == fmt and o.family == "serving" else o
        for o in rec.options
    ]
    ours = next((o for o in options if o.quant == fmt and o.family == "serving"), None)
    if fmt is None:
        notes.insert(0, f"{where} holds safetensors weights, no GGUF files: sized from its config.json")
    else:
        method = _quant_method(config or {})
        article = "an" if fmt[0] in "AEFHILMNORSX" else "a"  # an NVFP4, an FP8, a W4A16-INT
        notes.insert(0, f"{where} is {article} {fmt} checkpoint{f' ({method})' if method else ''}: it runs in vLLM or "
                        "TensorRT-LLM, not llama.cpp")  # fmt: skip
        if ours is not None:
            fits = "fits on the GPU" if ours.fit == "gpu" else "does not fit this budget"
            notes.insert(1, f"as {fmt} it {fits} ({ours.memory.total_bytes / GIB:.2f} GiB estimated)"
                            + ("" if ours.native else f"; {fmt} is not native on this GPU"))  # fmt: skip
        elif req.hardware.compute_capability is None:
            notes.insert(1, f"whether {fmt} runs on this GPU depends on its generation: pass gpu= (--gpu) to check")
        else:
            notes.insert(1, f"the rules leave {fmt} out for this task or GPU (see the trace)")
    best = next((o for o in options if o.family == "gguf" and o.fit != "none"), None)
    if best is not None:
        from .catalog import find_model

        known = find_model(repo_id, req.ds)
        if known is not None and known.gguf_repos:  # the catalog names its well-known GGUF repos
            repos = ", ".join(known.gguf_repos[:3])
            notes.append(f"look for GGUF {best.quant} builds of {repo_id}: {repos} "
                         f"(suggest --model {known.gguf_repos[0]} ranks its real files)")  # fmt: skip
        else:
            name = repo_id.rsplit("/", 1)[-1]
            notes.append(f"look for GGUF {best.quant} builds of {repo_id} (Hub repos named like {name}-GGUF) "
                         "to run it in llama.cpp")  # fmt: skip
    return rec.model_copy(update={"options": options, "notes": [*notes, *rec.notes]})


def _hf_quant_config(repo_id: str, revision: str | None) -> str | None:
    """ModelOpt writes its quantization to hf_quant_config.json; older exports leave config.json without it."""
    try:
        return detect_checkpoint_quantization(fetch_config(repo_id, revision, filename="hf_quant_config.json"))
    except HubError as exc:
        if _entry_missing(exc):
            return None
        raise
    except ModelResolutionError:
        return None


def _quant_method(config: Mapping[str, Any]) -> str | None:
    qc = config.get("quantization_config")
    if not isinstance(qc, dict):
        text = config.get("text_config")
        qc = text.get("quantization_config") if isinstance(text, dict) else None
    method = qc.get("quant_method") if isinstance(qc, dict) else None
    return (
        {"modelopt": "ModelOpt", "compressed-tensors": "compressed-tensors"}.get(str(method), method)
        if method
        else None
    )


def _serve_this_repo(option: QuantOption, repo_id: str, revision: str | None, hardware: HardwareUsed) -> QuantOption:
    from .handoff import serving_handoff

    flags = ["vllm", "serve", repo_id, *(["--revision", revision] if revision else [])]
    flags += ["--max-model-len", str(option.memory.context_tokens)]
    handoff = serving_handoff(option, repo_id=repo_id, revision=revision, hardware=hardware)
    return option.model_copy(update={"runner_flags": flags, "handoff": handoff})
