"""config.json of a repo, and the quantization a safetensors checkpoint was saved in (compressed-tensors, ModelOpt)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import limits
from ..errors import ModelResolutionError
from ..untrusted import read_json_file
from .failures import is_transient, translate_error
from .refs import check_filename, check_repo_id
from .settings import hub_cache_dir, is_offline, resolve_endpoint, resolve_timeout

if TYPE_CHECKING:
    from collections.abc import Mapping


_MiB = 1024 * 1024


def fetch_config(
    repo_id: str,
    revision: str | None = None,
    *,
    filename: str = "config.json",
    token: str | bool | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Return a repo's config.json (or another JSON file) through the huggingface_hub cache.

    A cached copy answers when the Hub cannot (HF_HUB_OFFLINE, no network, rate limit, server error).
    """
    check_repo_id(repo_id, revision)
    check_filename(filename)
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache

    base = resolve_endpoint(endpoint)
    cache_dir = hub_cache_dir()
    seconds = resolve_timeout(timeout)
    offline = is_offline()
    try:
        if not offline:
            # Probe first, without retries: when nothing is cached, hf_hub_download retries 429/5xx/timeouts
            # with backoff (and honours a 429's reset time), which can stall for minutes behind a spinner.
            try:
                meta = get_hf_file_metadata(
                    hf_hub_url(repo_id, filename, revision=revision, endpoint=base),
                    token=token,
                    timeout=seconds,
                    endpoint=base,
                )
            except Exception as exc:
                cached = try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision)
                if not (is_transient(exc) and isinstance(cached, str)):
                    raise
                path = cached  # the Hub is unreachable or overloaded; the cached copy answers
            else:
                if isinstance(meta.size, int) and meta.size > limits.MAX_CONFIG_BYTES:  # refuse before downloading
                    raise ModelResolutionError(
                        f"{filename} of {repo_id} is {meta.size:,} bytes, over the "
                        f"{limits.MAX_CONFIG_BYTES // _MiB} MiB limit for a config"
                    )
                path = hf_hub_download(
                    repo_id, filename, revision=revision, cache_dir=cache_dir, endpoint=base, token=token,
                    etag_timeout=seconds,
                )  # fmt: skip
        else:
            path = hf_hub_download(
                repo_id, filename, revision=revision, cache_dir=cache_dir, endpoint=base, token=token,
                local_files_only=True,
            )  # fmt: skip
    except Exception as exc:
        error = translate_error(
            exc, repo_id=repo_id, revision=revision, filename=filename, endpoint=base, timeout=timeout
        )
        if error is None:
            raise
        raise error from exc
    data = read_json_file(Path(path), f"{filename} of {repo_id}")
    if not isinstance(data, dict):
        raise ModelResolutionError(f"{filename} of {repo_id} is not a JSON object")
    return data


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _scheme_name(weights: Mapping[str, Any], activations: Mapping[str, Any] | None) -> str | None:
    """Name a compressed-tensors weight/activation scheme: NVFP4, MXFP4, FP8, W4A16-INT, W8A8-INT …"""
    w_bits, w_type = _int(weights.get("num_bits")), str(weights.get("type", "int")).lower()
    if w_bits is None:
        return None
    a_bits = _int(activations.get("num_bits")) if activations else None
    a_type = str(activations.get("type", "int")).lower() if activations else None
    if w_type == "float":
        if w_bits == 4:  # NVFP4 scales every 16 elements, MXFP4 every 32
            return "MXFP4" if _int(weights.get("group_size")) == 32 else "NVFP4"
        if w_bits == 8:
            return "FP8"
        return f"FP{w_bits}"
    if a_bits is None or a_bits >= 16:
        return f"W{w_bits}A16-INT"
    suffix = "FP" if a_type == "float" else "INT"
    return f"W{w_bits}A{a_bits}-{suffix}"


_CT_FORMATS = {
    "nvfp4-pack-quantized": "NVFP4",
    "mxfp4-pack-quantized": "MXFP4",
}


def _compressed_tensors_scheme(qc: Mapping[str, Any]) -> str | None:
    groups = qc.get("config_groups")
    formats = [qc.get("format")]
    schemes: list[str] = []
    if isinstance(groups, dict):
        for group in groups.values():
            if not isinstance(group, dict):
                continue
            formats.append(group.get("format"))
            weights = group.get("weights")
            activations = group.get("input_activations")
            if isinstance(weights, dict):
                name = _scheme_name(weights, activations if isinstance(activations, dict) else None)
                if name:
                    schemes.append(name)
    for fmt in formats:
        if isinstance(fmt, str) and fmt.lower() in _CT_FORMATS:
            return _CT_FORMATS[fmt.lower()]
    if schemes:
        return schemes[0]
    fmt = formats[0]
    if isinstance(fmt, str):
        if fmt == "float-quantized":
            return "FP8"
        if fmt == "int-quantized":
            return "W8A8-INT"
    return None


def _modelopt_scheme(algo: object) -> str | None:
    if not isinstance(algo, str):
        return None
    name = algo.upper()
    if "NVFP4" in name:
        return "NVFP4"
    if "MXFP4" in name:
        return "MXFP4"
    if name.startswith("FP8"):
        return "FP8"
    if "W4A8" in name:
        return "W4A8-INT"
    if "INT4" in name or "W4A16" in name:
        return "W4A16-INT"
    if "INT8" in name or "W8A8" in name:
        return "W8A8-INT"
    return name


def detect_checkpoint_quantization(config: Mapping[str, Any]) -> str | None:
    """Name the quantization of a safetensors checkpoint from its config.json, or None if it has none.

    Recognises ModelOpt (``quant_method: modelopt``, ``quant_algo`` NVFP4/FP8/…; also the ``quantization``
    block of ``hf_quant_config.json``), compressed-tensors (``nvfp4-pack-quantized``, ``float-quantized``,
    ``pack-quantized`` with ``num_bits`` …), and the usual ``quant_method`` values (fp8, mxfp4, awq, gptq,
    bitsandbytes). Returns ``NVFP4``, ``MXFP4``, ``FP8``, ``W4A16-INT``, ``W8A16-INT``, ``W4A8-INT``,
    ``W8A8-INT``, ``BNB-4BIT``, ``BNB-8BIT``, or the upper-cased ``quant_method`` for methods not listed.
    """
    hf_quant = config.get("quantization")
    if isinstance(hf_quant, dict) and "quant_algo" in hf_quant:  # hf_quant_config.json from ModelOpt
        return _modelopt_scheme(hf_quant.get("quant_algo"))
    qc = config.get("quantization_config")
    if not isinstance(qc, dict):
        text_config = config.get("text_config")  # multimodal configs nest the language model's config
        if isinstance(text_config, dict) and isinstance(text_config.get("quantization_config"), dict):
            qc = text_config["quantization_config"]
        else:
            return None
    method = str(qc.get("quant_method", "")).lower()
    if method == "modelopt":
        return _modelopt_scheme(qc.get("quant_algo"))
    if method == "compressed-tensors":
        return _compressed_tensors_scheme(qc) or "COMPRESSED-TENSORS"
    if method in {"fp8", "fbgemm_fp8"}:
        return "FP8"
    if method == "mxfp4":
        return "MXFP4"
    if method in {"awq", "gptq", "autoround", "auto-round"}:
        bits = _int(qc.get("bits")) or 4
        return f"W{bits}A16-INT"
    if method == "bitsandbytes":
        return "BNB-4BIT" if qc.get("load_in_4bit") else "BNB-8BIT"
    return method.upper() or None
