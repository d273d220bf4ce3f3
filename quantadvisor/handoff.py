"""Hand-off commands: the shell lines that fetch one option and run it as planned, per runner people use.

llama.cpp's llama-server, the Hugging Face CLI (hf download), Ollama, LM Studio (lms) and vLLM. Each
flag name was checked against the runner's own documentation; docs/cli.md#hand-off-commands cites them.
Every word that comes from a listing (repo id, file name, revision, tag) is shell-quoted with
shlex.quote: file names come from untrusted Hub listings and must not become shell syntax.
Pure string building: no I/O.
"""

from __future__ import annotations

import math
import re
import shlex
from typing import TYPE_CHECKING

from .construct import construct
from .results import Handoff

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .results import HardwareUsed, QuantOption

__all__ = [
    "LOCAL_DIR", "gguf_handoff", "gpu_memory_utilization", "handoff_lines", "llama_cpp_tag", "local_handoff",
    "serving_handoff",
]  # fmt: skip

LOCAL_DIR = "models"
"""Where the hf download command puts files (--local-dir), and where llama_server_local reads them."""

# llama.cpp common/download.cpp: get_gguf_split_info() and find_best_model() (commit 0216dab3).
_LLAMA_SPLIT_RE = re.compile(r"^(.+)-([0-9]{5})-of-([0-9]{5})$", re.IGNORECASE)
_LLAMA_TAG_RE = re.compile(r"[-.]([A-Z0-9_]+)$", re.IGNORECASE)
# Names llama.cpp's -hf never picks as the model (gguf_filename_is_model()).
_SIDECARS = ("mmproj", "imatrix", "mtp-", "eagle3-", "dflash-", "dspark-")
_GLOB = re.compile(r"[*?\[\]]")
# Ollama's single KV cache setting (OLLAMA_KV_CACHE_TYPE) takes these; it needs flash attention.
_OLLAMA_KV_TYPES = ("f16", "q8_0", "q4_0")


def _q(word: str) -> str:
    return shlex.quote(word)


def _line(*words: str) -> str:
    """Join words already quoted (flags, numbers) or quoted here (anything from a listing)."""
    return " ".join(words)


def _is_model(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.lower().endswith(".gguf") and not any(s in name for s in _SIDECARS)


def _split_info(path: str) -> tuple[int, int]:
    """(index, count) of a llama.cpp split name (``-00001-of-00003.gguf``); (1, 1) for a single file."""
    stem = path[:-5] if path.lower().endswith(".gguf") else path
    match = _LLAMA_SPLIT_RE.match(stem)
    return (int(match.group(2)), int(match.group(3))) if match else (1, 1)


def llama_cpp_tag(label: str, first_file: str, repo_files: Sequence[str]) -> bool:
    """Whether ``-hf repo:LABEL`` makes llama.cpp pick exactly `first_file` among `repo_files`.

    llama.cpp takes the first model file whose path matches ``LABEL[.-]`` (case-insensitive), skipping
    later parts of a split build (common/download.cpp find_best_model). A label that two builds share
    (Q4_K_M and UD-Q4_K_M, say) is not exact, so the caller names the file with --hf-file instead.
    """
    pattern = re.compile(re.escape(label) + r"[.-]", re.IGNORECASE)
    matches = [p for p in repo_files if _is_model(p) and pattern.search(p) and _split_info(p)[0] == 1]
    return matches == [first_file]


def _include_pattern(files: Sequence[str]) -> list[str]:
    """hf download --include patterns (fnmatch) that cover exactly these files."""
    if len(files) == 1 or any(_GLOB.search(f) for f in files):
        return list(files)
    first = files[0]
    stem = first[:-5]
    match = _LLAMA_SPLIT_RE.match(stem)
    if match is None:
        return list(files)
    return [f"{match.group(1)}-*-of-{match.group(3)}.gguf"]


def _hf_download(repo_id: str, revision: str | None, files: Sequence[str]) -> str:
    words = ["hf", "download", _q(repo_id)]
    for pattern in _include_pattern(files):
        words += ["--include", _q(pattern)]
    if revision:
        words += ["--revision", _q(revision)]
    return _line(*words, "--local-dir", LOCAL_DIR)


def _flags(option: QuantOption) -> list[str]:
    """llama.cpp flags of the plan (-ngl, -c, -fa, -ctk/-ctv, -ub, --n-cpu-moe): the planner's own list,
    quoted (they are numbers and type names, but quoting keeps the rule simple)."""
    return [_q(f) for f in option.runner_flags]


def _ollama(
    option: QuantOption, ref: str | None, why_not: str | None
) -> tuple[str | None, dict[str, int], dict[str, str], list[str]]:
    if ref is None:
        return None, {}, {}, [f"Ollama: {why_not}"] if why_not else []
    est = option.memory
    params = {"num_ctx": est.context_tokens, "num_gpu": est.gpu_layers}
    env: dict[str, str] = {}
    notes: list[str] = []
    if est.cache_type_k != "f16" or est.cache_type_v != "f16":
        if est.cache_type_k == est.cache_type_v and est.cache_type_k in _OLLAMA_KV_TYPES:
            env = {"OLLAMA_FLASH_ATTENTION": "1", "OLLAMA_KV_CACHE_TYPE": est.cache_type_k}
        else:
            notes.append(
                f"Ollama: one KV cache type for K and V (OLLAMA_KV_CACHE_TYPE: {', '.join(_OLLAMA_KV_TYPES)}); "
                f"this plan's -ctk {est.cache_type_k} -ctv {est.cache_type_v} has no Ollama equivalent"
            )
    if est.n_cpu_moe:
        notes.append("Ollama: no --n-cpu-moe; it splits by whole layers, so this expert offload is llama.cpp only")
    return _line("ollama", "run", _q(ref)), params, env, notes


def gguf_handoff(
    option: QuantOption,
    *,
    repo_id: str,
    revision: str | None,
    files: Sequence[str],
    label: str | None,
    repo_files: Sequence[str],
    mmproj: str | None = None,
    has_mmproj: bool = False,
) -> Handoff:
    """The commands for a real GGUF build of a Hub repo.

    Args:
        files: every file of the build, in order (all parts of a split; the first is the one to open).
        label: the quant as the file name spells it (``Q4_K_M``, ``Q6_K_L``, ``UD-Q4_K_XL``): the tag.
        repo_files: every path in the repo, to check that the tag selects this build and nothing else.
        mmproj: the projector to fetch and load too (``--multimodal``), or None.
        has_mmproj: the repo holds a projector; without ``mmproj`` llama-server is told not to load it
            (``-hf`` fetches one by default, and it takes VRAM this plan did not count).
    """
    first = files[0]
    legacy_parts = len(files) > 1 and _split_info(first)[1] == 1  # old ".gguf.partNofM": joined with cat
    notes: list[str] = []
    flags = _flags(option)
    exact_tag = label is not None and llama_cpp_tag(label, first, repo_files)
    hf_ref = f"{repo_id}:{label}"
    local = f"{LOCAL_DIR}/{first}"
    mm_local = ["--mmproj", _q(f"{LOCAL_DIR}/{mmproj}")] if mmproj else []
    server_local: str | None = _line("llama-server", "-m", _q(local), *flags, *mm_local)
    download = _hf_download(repo_id, revision, [*files, *([mmproj] if mmproj else [])])

    server: str | None
    if legacy_parts:
        server = server_local = None
        notes.append(
            f"{first.rsplit('/', 1)[-1]} is in {len(files)} byte-split parts (.partNofM): join them with cat "
            "into one .gguf before any runner can load it"
        )
    elif revision:
        server = None  # -hf has no revision: download the pinned files, then run them
        notes.append("llama-server -hf fetches the main branch: for this revision, hf download then llama-server -m")
    else:
        source = ["-hf", _q(hf_ref)] if exact_tag else ["-hf", _q(repo_id), "--hf-file", _q(first)]
        mm = ([] if mmproj else ["--no-mmproj"]) if has_mmproj else []
        server = _line("llama-server", *source, *flags, *mm)

    # Ollama and LM Studio resolve the same tag through the Hub; neither takes a revision, and Ollama
    # refuses sharded GGUF (ollama/ollama#5245).
    why_not = None
    if revision:
        why_not = "hf.co references take no revision; use llama.cpp for a pinned one"
    elif len(files) > 1:
        why_not = "Ollama does not load split GGUF builds (ollama/ollama#5245)"
    elif label is None:
        why_not = "the file name carries no quant tag for hf.co to select it by"
    elif not exact_tag:
        why_not = f"the tag {label} matches more than one build in {repo_id}, so hf.co cannot name this file alone"
    ollama, params, env, ollama_notes = _ollama(option, None if why_not else f"hf.co/{hf_ref}", why_not)
    notes += ollama_notes
    lms = None
    if not revision and exact_tag and not legacy_parts:
        lms = _line("lms", "get", _q(f"https://huggingface.co/{repo_id}@{label}"))
    return construct(
        Handoff,
        llama_server=server, hf_download=download, llama_server_local=server_local, ollama=ollama,
        ollama_parameters=params, ollama_env=env, lm_studio=lms, vllm=None, notes=notes,
        fetch=[*files, *([mmproj] if mmproj else [])],
    )  # fmt: skip


def local_handoff(option: QuantOption, path: str) -> Handoff:
    """The command for a .gguf file already on disk: llama-server -m with the planned flags."""
    return construct(Handoff, llama_server_local=_line("llama-server", "-m", _q(path), *_flags(option)))


def gpu_memory_utilization(option: QuantOption, hardware: HardwareUsed) -> float | None:
    """vLLM's --gpu-memory-utilization: the share of each card this plan may take (its budget per GPU
    over the card's total), floored to two decimals so vLLM never reserves more than was planned."""
    if not hardware.card_bytes or hardware.llm_vram_bytes <= 0:
        return None
    per_gpu = hardware.llm_vram_bytes / max(1, hardware.n_gpus)
    return max(0.01, math.floor(min(1.0, per_gpu / hardware.card_bytes) * 100) / 100)


def serving_handoff(option: QuantOption, *, repo_id: str, revision: str | None, hardware: HardwareUsed) -> Handoff:
    """``vllm serve`` for a serving checkpoint repo (NVFP4, FP8, INT): its context, memory share and KV type."""
    est = option.memory
    words = ["vllm", "serve", _q(repo_id)]
    if revision:
        words += ["--revision", _q(revision)]
    words += ["--max-model-len", str(est.context_tokens)]
    share = gpu_memory_utilization(option, hardware)
    if share is not None:
        words += ["--gpu-memory-utilization", f"{share:.2f}"]
    if est.cache_type_k != "f16":
        words += ["--kv-cache-dtype", "fp8"]  # vLLM's quantized KV cache is FP8 (auto = the model's dtype)
    if hardware.n_gpus > 1:
        words += ["--tensor-parallel-size", str(hardware.n_gpus)]
    download = _line("hf", "download", _q(repo_id), *(["--revision", _q(revision)] if revision else []))
    return construct(Handoff, vllm=_line(*words), hf_download=download)


def handoff_lines(handoff: Handoff) -> list[str]:
    """The commands as the CLI prints them under the pick: one line per runner, labelled."""
    lines = []
    if handoff.llama_server:
        lines.append(f"llama.cpp:  {handoff.llama_server}")
    if handoff.hf_download:
        lines.append(f"download:   {handoff.hf_download}")
    if handoff.llama_server_local:
        lines.append(f"{'then:' if handoff.hf_download else 'llama.cpp:':<11} {handoff.llama_server_local}")
    if handoff.ollama:
        env = " ".join(f"{k}={v}" for k, v in handoff.ollama_env.items())
        params = ", ".join(f"/set parameter {k} {v}" for k, v in handoff.ollama_parameters.items())
        lines.append(f"Ollama:     {handoff.ollama}" + (f"  (in the session: {params})" if params else ""))
        if env:
            lines.append(f"            with the server started as: {env} ollama serve")
    if handoff.lm_studio:
        lines.append(f"LM Studio:  {handoff.lm_studio}")
    if handoff.vllm:
        lines.append(f"vLLM:       {handoff.vllm}")
    return lines
