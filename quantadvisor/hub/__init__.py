"""Hugging Face Hub access: GGUF file listings, GGUF headers by HTTP range, config.json, and hub errors.

One module per step: refs (repo ids), filenames (quant names in file names), settings (endpoint,
offline mode, cache, timeout), listing, headers, config, card (base models), failures (exceptions → HubError).

huggingface_hub is imported inside functions only, so importing this module stays cheap. Everything goes
through huggingface_hub's own client (``HfApi``, ``hf_hub_download``, ``get_session``, ``build_hf_headers``),
so HF_TOKEN, the saved login, HF_ENDPOINT, HF_HUB_OFFLINE and the huggingface_hub cache behave as they do for
``hf``. HF_ENDPOINT, HF_HUB_OFFLINE and HF_HUB_CACHE are read when a function runs (huggingface_hub reads
them once, at import).

Needs huggingface_hub >= 1.0, whose ``get_session()`` is an httpx-style client with ``.stream()``.
"""

from __future__ import annotations

from .card import fetch_base_models
from .config import detect_checkpoint_quantization, fetch_config
from .filenames import QuantName, quant_from_filename
from .headers import DEFAULT_INITIAL_RANGE_BYTES, fetch_gguf_header
from .listing import RepoFile, gguf_builds, list_gguf_files
from .refs import is_repo_ref, parse_repo_ref

__all__ = [
    "DEFAULT_INITIAL_RANGE_BYTES",
    "QuantName",
    "RepoFile",
    "detect_checkpoint_quantization",
    "fetch_base_models",
    "fetch_config",
    "fetch_gguf_header",
    "gguf_builds",
    "is_repo_ref",
    "list_gguf_files",
    "parse_repo_ref",
    "quant_from_filename",
]
