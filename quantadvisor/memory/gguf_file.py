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
    from ..gguf_header import read_gguf_header, tensor_nbytes
    from .mixes import FILE_TYPE_IDS

    header = read_gguf_header(path)
    names = {t.name for t in header.tensors}
    # No output.weight: the output layer reuses token_embd (tied embeddings), as llama.cpp does.
    spec = spec_from_gguf_metadata(dict(header.metadata), name=path.stem, tied="output.weight" not in names)
    ids = {t.type_id: (name, (t.block_size, t.bytes_per_block)) for name, t in load_dataset().ggml_types.items()}
    id_sizes = {type_id: size for type_id, (_, size) in ids.items()}
    try:
        file_size = path.stat().st_size
    except OSError as exc:
        raise ModelResolutionError(f"{path.name}: cannot read its size ({exc.strerror or exc})") from None
    data_room = file_size - header.data_offset
    typed: list[TypedTensor] = []
    for info in header.tensors:
        if info.ggml_type not in ids:
            raise ModelResolutionError(f"{path.name}: tensor {info.name} has unknown ggml type {info.ggml_type}")
        nbytes = tensor_nbytes(info, id_sizes)  # validates row lengths against the block size
        if info.offset + nbytes > data_room:  # a header that lies about its tensors is priced at nothing
            raise ModelResolutionError(
                f"{path.name}: tensor {info.name} declares {nbytes:,} bytes at data offset {info.offset:,}, "
                f"beyond the end of the {file_size:,}-byte file"
            )
        match = _LAYER.match(info.name)
        layer = int(match.group(1)) if match else None
        if layer is not None and layer >= spec.n_layers:
            raise ModelResolutionError(
                f"{path.name}: tensor {info.name} belongs to layer {layer}, but the header declares "
                f"{spec.n_layers} layers"
            )
        role = match.group(2) if match else info.name.rsplit(".", 1)[0]
        shape = tuple(info.shape) or (1,)
        typed.append(TypedTensor(Tensor(info.name, role, layer, shape), ids[info.ggml_type][0], nbytes))
    file_type = header.metadata.get("general.file_type")
    quant = FILE_TYPE_IDS.get(file_type) if isinstance(file_type, int) else None
    if quant is None:  # no (known) file type: name it after the most common quantized block type
        counts = Counter(t.ggml_type for t in typed if t.tensor.quantizable)
        quant = counts.most_common(1)[0][0] if counts else "F32"
    return spec, typed, file_size, quant
