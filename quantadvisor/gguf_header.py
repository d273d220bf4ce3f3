"""GGUF headers from untrusted files: metadata and tensor infos, parsed within fixed limits. Reads only.

GGUF headers come from repositories nobody vetted, so every count, length and offset read from the file is
checked against a limit before anything is allocated or looped over: total header bytes read, key/value count,
tensor count, string length, array length, and the number of array items turned into Python objects. Any
malformed, hostile or truncated input raises :class:`GGUFHeaderError` with a one-line message; never
``MemoryError``, ``struct.error``, ``UnicodeDecodeError`` or a hang.

Why not ``gguf.GGUFReader`` (ggml-org's ``gguf`` package): it memory-maps the whole file (over HTTP we hold
only the first megabytes), builds a numpy view for every key, array element and tensor, and checks no count or
length against a limit, so a crafted header can make it allocate or loop without bound. The ``gguf`` package
is still what the tests use to write real fixtures (``gguf.GGUFWriter``) and to cross-check
``GGML_QUANT_SIZES``.

Layout (little-endian; versions 2 and 3): magic ``GGUF``, u32 version, u64 tensor count, u64 key/value count,
the key/value pairs, the tensor infos (name, u32 n_dims, u64 dims, u32 ggml type, u64 offset), padding to
``general.alignment`` (default 32), then the tensor data.
"""

from __future__ import annotations

import enum
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

from . import limits
from .errors import ModelResolutionError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from os import PathLike

__all__ = [
    "ArraySummary",
    "BinaryReader",
    "GGUFHeader",
    "GGUFHeaderError",
    "GGUFLimits",
    "GGUFValueType",
    "MetadataValue",
    "TensorInfo",
    "parse_gguf_header",
    "read_gguf_header",
    "tensor_nbytes",
    "tensors_nbytes",
]

_MiB = 1024 * 1024
GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4  # ggml tensors have at most 4 dimensions (GGML_MAX_DIMS in ggml.h)
_INT64_MAX = 2**63 - 1
_READ_CHUNK = 1 * _MiB  # bytes pulled from the stream at a time; the byte limit still caps the total


class BinaryReader(Protocol):
    """What the parser reads from: a binary file object, or anything with ``read(size) -> bytes``."""

    def read(self, size: int = ..., /) -> bytes: ...


class GGUFHeaderError(ModelResolutionError):
    """A GGUF header is malformed, truncated, hostile or over a limit; the message says which and where."""


class GGUFValueType(enum.IntEnum):
    """Metadata value types (gguf_type in ggml's gguf.h)."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


# Fixed-size scalar types: struct format (little-endian) and size in bytes.
_SCALARS: dict[GGUFValueType, struct.Struct] = {
    GGUFValueType.UINT8: struct.Struct("<B"),
    GGUFValueType.INT8: struct.Struct("<b"),
    GGUFValueType.UINT16: struct.Struct("<H"),
    GGUFValueType.INT16: struct.Struct("<h"),
    GGUFValueType.UINT32: struct.Struct("<I"),
    GGUFValueType.INT32: struct.Struct("<i"),
    GGUFValueType.FLOAT32: struct.Struct("<f"),
    GGUFValueType.BOOL: struct.Struct("<B"),
    GGUFValueType.UINT64: struct.Struct("<Q"),
    GGUFValueType.INT64: struct.Struct("<q"),
    GGUFValueType.FLOAT64: struct.Struct("<d"),
}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass(frozen=True)
class ArraySummary:
    """A metadata array too long to keep (``tokenizer.ggml.tokens`` …): its element type and length only."""

    element_type: GGUFValueType
    length: int


Scalar: TypeAlias = int | float | bool | str
MetadataValue: TypeAlias = Scalar | list[Scalar] | ArraySummary


@dataclass(frozen=True)
class GGUFLimits:
    """Bounds on what a header may ask for. Defaults (quantadvisor/limits.py) admit every real model seen so far
    with a wide margin."""

    max_header_bytes: int = limits.MAX_GGUF_HEADER_BYTES
    """Total bytes read from the start of the file up to the end of the tensor infos."""
    max_kv_count: int = limits.MAX_GGUF_KV_COUNT
    max_tensor_count: int = limits.MAX_GGUF_TENSORS
    max_string_bytes: int = limits.MAX_GGUF_STRING_BYTES
    """Longest string (key, value, array element or tensor name); chat templates are kilobytes."""
    max_array_length: int = limits.MAX_GGUF_ARRAY_LENGTH
    """Longest metadata array; vocabularies run to ~260k tokens."""
    array_summary_threshold: int = 1024
    """Arrays longer than this are skipped over and kept as :class:`ArraySummary`."""
    max_materialized_items: int = 262_144
    """Total array items kept as Python objects across the header; later arrays are summarised."""

    def __post_init__(self) -> None:
        for name in (
            "max_header_bytes",
            "max_kv_count",
            "max_tensor_count",
            "max_string_bytes",
            "max_array_length",
            "array_summary_threshold",
            "max_materialized_items",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"GGUFLimits.{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry in the header. ``shape`` is in ggml order: ``shape[0]`` is the row length (ne0)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    """Byte offset of the tensor's data, relative to :attr:`GGUFHeader.data_offset`."""

    @property
    def n_elements(self) -> int:
        """Number of elements (product of the shape; 1 for a 0-d tensor)."""
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class GGUFHeader:
    """Everything in a GGUF file before the tensor data."""

    version: int
    metadata: Mapping[str, MetadataValue]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int
    """Absolute file offset where tensor data starts (end of the tensor infos, padded to ``alignment``)."""
    header_bytes: int
    """Bytes from the start of the file to the end of the tensor infos (before padding)."""
    _by_name: dict[str, TensorInfo] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.tensors})

    @property
    def arch(self) -> str | None:
        """The ``general.architecture`` value (``llama``, ``qwen2``, ``gemma3`` …) if it is a string."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None

    def get(self, key: str, default: MetadataValue | None = None) -> MetadataValue | None:
        """Return the metadata value for ``key``, or ``default``."""
        return self.metadata.get(key, default)

    def tensor(self, name: str) -> TensorInfo | None:
        """Return the tensor named ``name``, or None."""
        return self._by_name.get(name)


class _Cursor:
    """Sequential reader over a binary stream that never holds or reads more than ``limit`` bytes in total."""

    def __init__(self, stream: BinaryReader, limit: int, limits: GGUFLimits) -> None:
        self._stream = stream
        self._limit = limit
        self.limits = limits
        self._buf = bytearray()
        self._base = 0  # absolute offset of _buf[0]
        self._pos = 0  # read position inside _buf
        self._eof = False

    @property
    def limit(self) -> int:
        """Most bytes this cursor may read from the start of the stream."""
        return self._limit

    @property
    def offset(self) -> int:
        """Absolute offset of the next byte to read."""
        return self._base + self._pos

    def _ensure(self, n: int, what: str) -> None:
        """Make ``n`` bytes available at the read position, or raise (limit first, then truncation)."""
        if self._pos + n <= len(self._buf):
            return
        if self.offset + n > self._limit:
            raise GGUFHeaderError(
                f"GGUF header is larger than the {self._limit:,}-byte limit "
                f"({what} at offset {self.offset:,} needs {n:,} bytes)"
            )
        if self._pos:
            del self._buf[: self._pos]
            self._base += self._pos
            self._pos = 0
        while len(self._buf) < n and not self._eof:
            end = self._base + len(self._buf)
            want = min(max(n - len(self._buf), _READ_CHUNK), self._limit - end)
            try:
                data = self._stream.read(want)
            except OSError as exc:
                raise GGUFHeaderError(f"cannot read GGUF header at offset {end:,}: {exc}") from exc
            if not isinstance(data, (bytes, bytearray)):
                raise GGUFHeaderError("GGUF input must be a binary stream or bytes")
            if not data:
                self._eof = True
            self._buf += data[:want]
        if len(self._buf) < n:
            raise GGUFHeaderError(
                f"GGUF header is truncated: {what} at offset {self.offset:,} needs {n:,} bytes, "
                f"input ends at {self._base + len(self._buf):,}"
            )

    def take(self, n: int, what: str) -> bytes:
        self._ensure(n, what)
        start = self._pos
        self._pos += n
        return bytes(self._buf[start : self._pos])

    def skip(self, n: int, what: str) -> None:
        # Skipping still reads: the bytes must exist and count against the header limit.
        while n > 0:
            step = min(n, _READ_CHUNK)
            self._ensure(step, what)
            self._pos += step
            n -= step

    def unpack(self, fmt: struct.Struct, what: str) -> int | float:
        self._ensure(fmt.size, what)
        (value,) = fmt.unpack_from(self._buf, self._pos)
        self._pos += fmt.size
        return value  # type: ignore[no-any-return]  # struct returns Any; formats here are numeric

    def u32(self, what: str) -> int:
        return int(self.unpack(_U32, what))

    def u64(self, what: str) -> int:
        return int(self.unpack(_U64, what))

    def string_length(self, what: str) -> int:
        length = self.u64(what)
        if length > self.limits.max_string_bytes:
            raise GGUFHeaderError(
                f"{what} at offset {self.offset - 8:,} declares {length:,} bytes, over the "
                f"{self.limits.max_string_bytes:,}-byte string limit"
            )
        return length

    def string(self, what: str, *, strict: bool) -> str:
        raw = self.take(self.string_length(what), what)
        if strict:
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise GGUFHeaderError(f"{what} at offset {self.offset - len(raw):,} is not valid UTF-8") from None
        return raw.decode("utf-8", errors="replace")

    def skip_strings(self, count: int, what: str) -> None:
        """Skip ``count`` length-prefixed strings without building Python objects for them."""
        max_len = self.limits.max_string_bytes
        remaining = count
        while remaining:
            buf, pos, end = self._buf, self._pos, len(self._buf)
            # Fast path: walk the strings already in the buffer.
            while remaining and pos + 8 <= end:
                (length,) = _U64.unpack_from(buf, pos)
                if length > max_len or pos + 8 + length > end:
                    break
                pos += 8 + length
                remaining -= 1
            self._pos = pos
            if remaining:  # slow path for the one string that crosses the buffer edge (or is too long)
                self.skip(self.string_length(what), what)
                remaining -= 1


def _value_type(raw: int, what: str, offset: int) -> GGUFValueType:
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise GGUFHeaderError(f"{what} at offset {offset:,} has unknown value type {raw}") from None


class _Parser:
    def __init__(self, cursor: _Cursor) -> None:
        self.cur = cursor
        self.limits = cursor.limits
        self.materialized = 0

    def scalar(self, vtype: GGUFValueType, what: str) -> Scalar:
        if vtype is GGUFValueType.STRING:
            return self.cur.string(what, strict=False)
        value = self.cur.unpack(_SCALARS[vtype], what)
        if vtype is GGUFValueType.BOOL:
            return bool(value)
        return value

    def array(self, what: str) -> list[Scalar] | ArraySummary:
        cur, limits = self.cur, self.limits
        type_offset = cur.offset
        etype = _value_type(cur.u32(f"{what} element type"), what, type_offset)
        if etype is GGUFValueType.ARRAY:
            # llama.cpp's gguf.cpp has no nested arrays either; refusing them bounds recursion.
            raise GGUFHeaderError(f"{what} at offset {type_offset:,} is a nested array, which GGUF does not allow")
        length = cur.u64(f"{what} length")
        if length > limits.max_array_length:
            raise GGUFHeaderError(
                f"{what} declares {length:,} elements, over the {limits.max_array_length:,}-element array limit"
            )
        min_item = 8 if etype is GGUFValueType.STRING else _SCALARS[etype].size
        if cur.offset + length * min_item > cur.limit:  # fail now rather than after a long walk
            raise GGUFHeaderError(
                f"{what} declares {length:,} elements of at least {min_item} bytes, more than the "
                f"{cur.limit:,}-byte header limit allows"
            )
        keep = length <= limits.array_summary_threshold and self.materialized + length <= limits.max_materialized_items
        if not keep:
            if etype is GGUFValueType.STRING:
                cur.skip_strings(length, f"{what} element")
            else:
                cur.skip(length * min_item, what)
            return ArraySummary(etype, length)
        self.materialized += length
        return [self.scalar(etype, f"{what} element") for _ in range(length)]

    def value(self, what: str) -> MetadataValue:
        type_offset = self.cur.offset
        vtype = _value_type(self.cur.u32(f"{what} type"), what, type_offset)
        if vtype is GGUFValueType.ARRAY:
            return self.array(what)
        return self.scalar(vtype, what)

    def tensor_info(self, index: int) -> TensorInfo:
        cur = self.cur
        name = cur.string(f"tensor {index} name", strict=True)
        what = f"tensor {name!r}"
        n_dims = cur.u32(f"{what} n_dims")
        if n_dims > GGML_MAX_DIMS:
            raise GGUFHeaderError(f"{what} has {n_dims} dimensions; ggml allows at most {GGML_MAX_DIMS}")
        shape = tuple(cur.u64(f"{what} dimension") for _ in range(n_dims))
        elements = 1
        for dim in shape:
            if dim > _INT64_MAX:
                raise GGUFHeaderError(f"{what} has dimension {dim:,}, over the int64 range")
            elements *= dim
            if elements > _INT64_MAX:
                raise GGUFHeaderError(f"{what} has shape {list(shape)} whose element count overflows int64")
        ggml_type = cur.u32(f"{what} type")
        offset = cur.u64(f"{what} offset")
        return TensorInfo(name=name, shape=shape, ggml_type=ggml_type, offset=offset)


def _check_version(magic: bytes, raw_version: int) -> int:
    if magic != GGUF_MAGIC:
        raise GGUFHeaderError(f"not a GGUF file: magic is {magic!r}, expected {GGUF_MAGIC!r}")
    if raw_version in SUPPORTED_VERSIONS:
        return raw_version
    swapped = int.from_bytes(raw_version.to_bytes(4, "little"), "big")
    if swapped in (1, *SUPPORTED_VERSIONS):
        raise GGUFHeaderError(f"big-endian GGUF (version {swapped}) is not supported; use a little-endian file")
    raise GGUFHeaderError(
        f"unsupported GGUF version {raw_version}; supported versions are "
        + ", ".join(str(v) for v in SUPPORTED_VERSIONS)
    )


def parse_gguf_header(
    source: bytes | bytearray | memoryview | BinaryReader,
    *,
    limits: GGUFLimits | None = None,
) -> GGUFHeader:
    """Parse the header of a GGUF file from bytes or a binary stream positioned at the file's start.

    Reads sequentially and at most ``limits.max_header_bytes`` bytes; the tensor data is never read.
    """
    limits = limits or GGUFLimits()
    stream: BinaryReader = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    cur = _Cursor(stream, limits.max_header_bytes, limits)
    parser = _Parser(cur)

    magic = cur.take(4, "magic")
    version = _check_version(magic, cur.u32("version"))
    tensor_count = cur.u64("tensor count")
    if tensor_count > limits.max_tensor_count:
        raise GGUFHeaderError(
            f"GGUF header declares {tensor_count:,} tensors, over the {limits.max_tensor_count:,}-tensor limit"
        )
    kv_count = cur.u64("metadata count")
    if kv_count > limits.max_kv_count:
        raise GGUFHeaderError(
            f"GGUF header declares {kv_count:,} metadata keys, over the {limits.max_kv_count:,}-key limit"
        )

    metadata: dict[str, MetadataValue] = {}
    for index in range(kv_count):
        key_offset = cur.offset
        key = cur.string(f"metadata key {index}", strict=True)
        if key in metadata:
            raise GGUFHeaderError(f"metadata key {key!r} at offset {key_offset:,} appears twice")
        metadata[key] = parser.value(f"metadata {key!r}")

    alignment = DEFAULT_ALIGNMENT
    if "general.alignment" in metadata:
        raw_alignment = metadata["general.alignment"]
        if (
            isinstance(raw_alignment, bool)
            or not isinstance(raw_alignment, int)
            or raw_alignment <= 0
            or raw_alignment & (raw_alignment - 1)
        ):
            raise GGUFHeaderError(f"general.alignment is {raw_alignment!r}; it must be a power of two")
        alignment = raw_alignment

    tensors: list[TensorInfo] = []
    seen: set[str] = set()
    for index in range(tensor_count):
        info = parser.tensor_info(index)
        if info.name in seen:
            raise GGUFHeaderError(f"tensor {info.name!r} appears twice")
        if info.offset % alignment:
            raise GGUFHeaderError(
                f"tensor {info.name!r} has data offset {info.offset:,}, not a multiple of the alignment {alignment}"
            )
        seen.add(info.name)
        tensors.append(info)

    header_bytes = cur.offset
    data_offset = -(-header_bytes // alignment) * alignment
    return GGUFHeader(
        version=version,
        metadata=metadata,
        tensors=tuple(tensors),
        alignment=alignment,
        data_offset=data_offset,
        header_bytes=header_bytes,
    )


def read_gguf_header(path: str | PathLike[str], *, limits: GGUFLimits | None = None) -> GGUFHeader:
    """Parse the header of a local GGUF file, reading only the header bytes."""
    file_path = Path(path)
    try:
        with file_path.open("rb") as stream:
            return parse_gguf_header(stream, limits=limits)
    except GGUFHeaderError as exc:
        raise GGUFHeaderError(f"{file_path}: {exc.message}", hint=exc.hint) from exc
    except OSError as exc:
        raise GGUFHeaderError(
            f"cannot read GGUF file {file_path}: {exc.strerror or exc}",
            hint="check the path; --model takes a .gguf file, a directory or a Hub repo id",
        ) from exc


def tensor_nbytes(tensor: TensorInfo, type_sizes: Mapping[int, tuple[int, int]]) -> int:
    """Return the exact bytes of a tensor's data.

    Args:
        type_sizes: ggml type id → (elements per block, bytes per block), e.g. from ``formats.yaml``'s
            ``ggml_types`` or ``gguf.GGML_QUANT_SIZES``.
    """
    try:
        block_size, block_bytes = type_sizes[tensor.ggml_type]
    except KeyError:
        raise GGUFHeaderError(
            f"tensor {tensor.name!r} has ggml type id {tensor.ggml_type}, which is not in the type table"
        ) from None
    row = tensor.shape[0] if tensor.shape else 1
    if block_size <= 0 or row % block_size:
        raise GGUFHeaderError(
            f"tensor {tensor.name!r} has row length {row}, not a multiple of its type's block size {block_size}"
        )
    return tensor.n_elements // block_size * block_bytes


def tensors_nbytes(header: GGUFHeader, type_sizes: Mapping[int, tuple[int, int]]) -> int:
    """Return the exact bytes of all tensor data in the header (without alignment padding)."""
    return sum(tensor_nbytes(t, type_sizes) for t in header.tensors)
