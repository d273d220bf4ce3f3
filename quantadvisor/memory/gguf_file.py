"""Exact tensor types and sizes of a local .gguf file, read from its header (no estimation)."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from .runtime import TypedTensor
from .tensors import Tensor

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from ..architecture import ModelSpec

__all__ = ["typed_tensors_from_gguf"]

_LAYER = re.compile(r"^blk\.(\d+)\.(.+)\.(weight|bias)$")


def typed_tensors_from_gguf(
    path: Path, sizes: Mapping[str, tuple[int, int]]
) -> tuple[ModelSpec, list[TypedTensor], int, str]:
    """Return (spec, typed tensors, file size, dominant quant type) for a local GGUF file."""
    from ..architecture import spec_from_gguf_metadata
    from ..dataset import load_dataset
    from ..errors import ModelResolutionError
    from ..gguf_header import read_gguf_header

    header = read_gguf_header(path)
    spec = spec_from_gguf_metadata(dict(header.metadata), name=path.stem)
    by_id = {t.type_id: name for name, t in load_dataset().ggml_types.items()}
    typed: list[TypedTensor] = []
    for info in header.tensors:
        type_name = by_id.get(info.ggml_type)
        if type_name is None or type_name not in sizes:
            raise ModelResolutionError(f"{path.name}: tensor {info.name} has unknown ggml type {info.ggml_type}")
        block, nbytes = sizes[type_name]
        rows = 1
        for dim in info.shape[1:]:
            rows *= dim
        match = _LAYER.match(info.name)
        layer = int(match.group(1)) if match else None
        role = match.group(2) if match else info.name.rsplit(".", 1)[0]
        tensor = Tensor(info.name, role, layer, tuple(info.shape))
        typed.append(TypedTensor(tensor, type_name, rows * (info.shape[0] // block) * nbytes))
    counts = Counter(t.ggml_type for t in typed if t.tensor.quantizable)
    quant = str(header.metadata.get("general.file_type", "")) or (counts.most_common(1)[0][0] if counts else "F32")
    if counts:
        quant = counts.most_common(1)[0][0]
    return spec, typed, path.stat().st_size, quant
