"""Bounded GGUF header parser: real files written by gguf.GGUFWriter, and crafted hostile headers."""

from __future__ import annotations

import io
import random
import struct
import time
import tracemalloc

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from quantadvisor.errors import ModelResolutionError  # noqa: E402 - after the importorskip on purpose
from quantadvisor.gguf_header import (  # noqa: E402
    ArraySummary,
    GGUFHeader,
    GGUFHeaderError,
    GGUFLimits,
    GGUFValueType,
    TensorInfo,
    parse_gguf_header,
    read_gguf_header,
    tensor_nbytes,
    tensors_nbytes,
)

QUANT_SIZES = {int(k): v for k, v in gguf.GGML_QUANT_SIZES.items()}
MiB = 1024 * 1024


def write_tiny_gguf(path, *, vocab: int = 300, alignment: int | None = None) -> None:
    """A small but real GGUF: llama metadata, a token list, a per-layer array, F32/F16/Q4_K/Q8_0 tensors."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_block_count(2)
    writer.add_context_length(4096)
    writer.add_embedding_length(256)
    writer.add_head_count(4)
    writer.add_array("llama.attention.head_count_kv", [2, 1])
    writer.add_float32("llama.rope.freq_base", 10000.0)
    writer.add_bool("tokenizer.ggml.add_bos_token", True)
    writer.add_int8("test.int8", -5)
    writer.add_uint16("test.uint16", 65535)
    writer.add_int64("test.int64", -(2**40))
    writer.add_float64("test.float64", 0.125)
    writer.add_token_list([f"tok{i}" for i in range(vocab)])
    writer.add_token_scores([0.0] * vocab)
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    writer.add_tensor("token_embd.weight", np.zeros((300, 256), dtype=np.float16))  # 300 rows whatever the vocab
    writer.add_tensor(
        "blk.0.attn_q.weight", np.zeros((256, 144), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q4_K
    )
    writer.add_tensor(
        "blk.0.ffn_down.weight",
        np.zeros((64, 8 * 34), dtype=np.uint8),
        raw_dtype=gguf.GGMLQuantizationType.Q8_0,
    )
    writer.add_tensor("output_norm.weight", np.ones(256, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture
def tiny_path(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path)
    return path


# -- round trip ----------------------------------------------------------------------------------------------


def test_round_trip_matches_gguf_reader(tiny_path):
    header = read_gguf_header(tiny_path)
    reader = gguf.GGUFReader(str(tiny_path))

    assert header.version == 3
    assert header.arch == "llama"
    assert header.get("general.name") == "tiny"
    assert header.get("llama.block_count") == 2
    assert header.get("llama.attention.head_count_kv") == [2, 1]
    assert header.get("llama.rope.freq_base") == pytest.approx(10000.0)
    assert header.get("tokenizer.ggml.add_bos_token") is True
    assert header.get("test.int8") == -5
    assert header.get("test.uint16") == 65535
    assert header.get("test.int64") == -(2**40)
    assert header.get("test.float64") == 0.125
    assert header.get("missing", 7) == 7
    assert set(header.metadata) == set(reader.fields) - {
        "GGUF.version", "GGUF.tensor_count", "GGUF.kv_count",
    }  # fmt: skip

    assert header.data_offset == reader.data_offset
    assert header.alignment == 32
    assert header.header_bytes <= header.data_offset < header.header_bytes + 32
    assert [t.name for t in header.tensors] == [t.name for t in reader.tensors]
    for mine, theirs in zip(header.tensors, reader.tensors, strict=True):
        assert mine.shape == tuple(int(d) for d in theirs.shape)
        assert mine.ggml_type == int(theirs.tensor_type)
        assert header.data_offset + mine.offset == theirs.data_offset
        assert tensor_nbytes(mine, QUANT_SIZES) == theirs.n_bytes
    assert header.tensor("blk.0.attn_q.weight") == TensorInfo("blk.0.attn_q.weight", (256, 256), 12, 256 * 300 * 2)
    assert header.tensor("nope") is None
    assert tensors_nbytes(header, QUANT_SIZES) == sum(int(t.n_bytes) for t in reader.tensors)


def test_large_arrays_are_summarised_not_materialised(tiny_path):
    header = read_gguf_header(tiny_path, limits=GGUFLimits(array_summary_threshold=100))
    assert header.get("tokenizer.ggml.tokens") == ArraySummary(GGUFValueType.STRING, 300)
    assert header.get("tokenizer.ggml.scores") == ArraySummary(GGUFValueType.FLOAT32, 300)
    assert header.get("llama.attention.head_count_kv") == [2, 1]

    everything = read_gguf_header(tiny_path, limits=GGUFLimits(array_summary_threshold=1000))
    tokens = everything.get("tokenizer.ggml.tokens")
    assert isinstance(tokens, list)
    assert tokens[:2] == ["tok0", "tok1"]
    assert len(tokens) == 300

    capped = read_gguf_header(tiny_path, limits=GGUFLimits(max_materialized_items=350))
    assert isinstance(capped.get("tokenizer.ggml.tokens"), list)  # first 300 items fit the budget
    assert capped.get("tokenizer.ggml.scores") == ArraySummary(GGUFValueType.FLOAT32, 300)  # the next 300 do not


def test_bytes_stream_and_path_agree(tiny_path):
    data = tiny_path.read_bytes()
    from_path = read_gguf_header(tiny_path)
    assert parse_gguf_header(data) == from_path
    assert parse_gguf_header(memoryview(data)) == from_path
    assert parse_gguf_header(io.BytesIO(data)) == from_path


def test_only_the_header_is_read(tiny_path):
    data = tiny_path.read_bytes()
    stream = CountingStream(data)
    header = parse_gguf_header(stream)
    assert stream.bytes_read <= max(header.header_bytes, 1 * MiB)
    assert header.header_bytes < len(data)


def test_custom_alignment(tmp_path):
    path = tmp_path / "aligned.gguf"
    write_tiny_gguf(path, alignment=64)
    header = read_gguf_header(path)
    assert header.alignment == 64
    assert header.data_offset % 64 == 0
    assert header.data_offset == gguf.GGUFReader(str(path)).data_offset


def test_version_2_is_read(tiny_path):
    data = bytearray(tiny_path.read_bytes())
    data[4:8] = struct.pack("<I", 2)  # v2 and v3 share the layout for little-endian files
    assert parse_gguf_header(bytes(data)).version == 2


def test_big_token_list_stays_in_bounded_memory(tmp_path):
    path = tmp_path / "vocab.gguf"
    write_tiny_gguf(path, vocab=100_000)  # ~1.7 MB of token strings: crosses the parser's 1 MiB read chunks
    started = time.perf_counter()
    header = read_gguf_header(path)
    assert time.perf_counter() - started < 1.0
    assert header.get("tokenizer.ggml.tokens") == ArraySummary(GGUFValueType.STRING, 100_000)
    tracemalloc.start()
    try:
        assert read_gguf_header(path) == header
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 6 * MiB, f"peak {peak / MiB:.1f} MiB"


def test_missing_file_is_a_header_error(tmp_path):
    with pytest.raises(GGUFHeaderError, match="cannot read GGUF file") as info:
        read_gguf_header(tmp_path / "absent.gguf")
    assert isinstance(info.value, ModelResolutionError)
    assert info.value.hint


def test_tensor_nbytes_checks_type_and_row():
    table = {12: (256, 144), 0: (1, 4)}
    assert tensor_nbytes(TensorInfo("a", (512, 3), 12, 0), table) == 2 * 3 * 144
    assert tensor_nbytes(TensorInfo("scalar", (), 0, 0), table) == 4
    with pytest.raises(GGUFHeaderError, match="type id 99"):
        tensor_nbytes(TensorInfo("b", (256,), 99, 0), table)
    with pytest.raises(GGUFHeaderError, match="not a multiple of its type's block size 256"):
        tensor_nbytes(TensorInfo("c", (100, 2), 12, 0), table)


def test_limits_are_validated():
    with pytest.raises(ValueError, match="max_kv_count"):
        GGUFLimits(max_kv_count=-1)
    assert GGUFLimits(max_header_bytes=10).max_header_bytes == 10


# -- crafted hostile headers ---------------------------------------------------------------------------------


class CountingStream:
    """A binary stream that counts what the parser reads; endless (zeros) if ``tail`` is True."""

    def __init__(self, data: bytes, *, tail: bool = False) -> None:
        self._data = data
        self._pos = 0
        self._tail = tail
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        assert size >= 0, "the parser must never read without a size"
        chunk = self._data[self._pos : self._pos + size]
        if self._tail:
            chunk += bytes(size - len(chunk))
        self._pos += len(chunk)
        self.bytes_read += len(chunk)
        return chunk


def gstr(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str, vtype: int, payload: bytes) -> bytes:
    return gstr(key) + struct.pack("<I", vtype) + payload


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def u64(value: int) -> bytes:
    return struct.pack("<Q", value)


def head(n_tensors: int, n_kv: int, *, version: int = 3, magic: bytes = b"GGUF") -> bytes:
    return magic + u32(version) + u64(n_tensors) + u64(n_kv)


def tensor(name: str, dims: list[int], ggml_type: int = 0, offset: int = 0) -> bytes:
    return gstr(name) + u32(len(dims)) + b"".join(u64(d) for d in dims) + u32(ggml_type) + u64(offset)


ARCH = kv("general.architecture", 8, gstr("llama"))


def assert_rejects(data: bytes | CountingStream, match: str, limits: GGUFLimits | None = None) -> GGUFHeaderError:
    started = time.perf_counter()
    with pytest.raises(GGUFHeaderError, match=match) as info:
        parse_gguf_header(data, limits=limits)
    assert time.perf_counter() - started < 1.0
    message = str(info.value)
    assert "\n" not in message
    return info.value


def test_bad_magic():
    assert_rejects(b"GGML" + bytes(20), "not a GGUF file")
    assert_rejects(b"", "truncated")


@pytest.mark.parametrize("version", [0, 1, 4, 0xFFFFFFFF])
def test_unsupported_version(version):
    assert_rejects(head(0, 0, version=version), "unsupported GGUF version|big-endian")


def test_big_endian_is_rejected_clearly():
    data = b"GGUF" + struct.pack(">I", 3) + struct.pack(">Q", 0) + struct.pack(">Q", 0)
    assert_rejects(data, "big-endian GGUF")


def test_huge_kv_count():
    assert_rejects(head(0, 2**63) + ARCH, "metadata keys, over the 65,536-key limit")


def test_huge_tensor_count():
    assert_rejects(head(2**40, 1) + ARCH, "tensors, over the 65,536-tensor limit")


def test_kv_count_beyond_the_data_is_truncation():
    assert_rejects(head(0, 60_000) + ARCH, "truncated")


def test_huge_key_length():
    assert_rejects(head(0, 1) + u64(2**62) + b"abc", "string limit")


def test_huge_string_value_length():
    assert_rejects(head(0, 1) + gstr("k") + u32(8) + u64(2**60), "string limit")


def test_string_value_longer_than_the_header_limit_reads_only_the_limit():
    data = head(0, 1) + gstr("k") + u32(8) + u64(3 * MiB)
    stream = CountingStream(data, tail=True)
    assert_rejects(stream, "larger than the 1,048,576-byte limit", GGUFLimits(max_header_bytes=MiB))
    assert stream.bytes_read <= MiB


def test_huge_array_length():
    assert_rejects(head(0, 1) + gstr("a") + u32(9) + u32(0) + u64(2**40), "array limit")


def test_array_longer_than_header_budget_fails_before_walking():
    # 10M uint64 = 80 MB, under the element limit but over the 64 MiB header limit.
    assert_rejects(head(0, 1) + gstr("a") + u32(9) + u32(10) + u64(10_000_000), "header limit allows")
    # 15M strings need at least 8 bytes each.
    assert_rejects(head(0, 1) + gstr("a") + u32(9) + u32(8) + u64(15_000_000), "header limit allows")


def test_string_array_with_hostile_element_length():
    data = head(0, 1) + gstr("a") + u32(9) + u32(8) + u64(5000) + gstr("x") + u64(2**61)
    assert_rejects(data, "string limit")


def test_nested_arrays_are_refused():
    inner = u32(0) + u64(2) + b"\x01\x02"
    data = head(0, 1) + gstr("nested") + u32(9) + u32(9) + u64(1) + inner
    assert_rejects(data, "nested array")


def test_unknown_value_type():
    assert_rejects(head(0, 1) + gstr("k") + u32(99) + u32(0), "unknown value type 99")
    assert_rejects(head(0, 1) + gstr("k") + u32(9) + u32(77) + u64(1), "unknown value type 77")


def test_duplicate_key():
    assert_rejects(head(0, 2) + ARCH + ARCH, "appears twice")


def test_invalid_utf8_key_and_lenient_values():
    raw_key = gstr(b"k\xff") + u32(4) + u32(1)
    assert_rejects(head(0, 1) + raw_key, "not valid UTF-8")
    header = parse_gguf_header(head(0, 1) + kv("general.name", 8, gstr(b"caf\xe9")))
    assert header.get("general.name") == "caf\ufffd"


def test_too_many_dimensions():
    data = head(1, 1) + ARCH + tensor("t", [1, 1, 1, 1, 1])
    assert_rejects(data, "5 dimensions; ggml allows at most 4")
    assert_rejects(head(1, 1) + ARCH + gstr("t") + u32(2**31), "dimensions")


def test_overflowing_shape_product():
    assert_rejects(head(1, 1) + ARCH + tensor("t", [2**32, 2**32]), "overflows int64")
    assert_rejects(head(1, 1) + ARCH + tensor("t", [2**64 - 1]), "over the int64 range")


def test_duplicate_tensor_and_misaligned_offset():
    assert_rejects(head(2, 1) + ARCH + tensor("t", [4]) + tensor("t", [4], offset=32), "appears twice")
    assert_rejects(head(1, 1) + ARCH + tensor("t", [4], offset=3), "not a multiple of the alignment 32")


@pytest.mark.parametrize("alignment", [0, 3, 48])
def test_bad_alignment(alignment):
    assert_rejects(head(0, 2) + ARCH + kv("general.alignment", 4, u32(alignment)), "power of two")
    assert_rejects(head(0, 1) + kv("general.alignment", 8, gstr("32")), "power of two")


def test_header_over_the_byte_limit(tiny_path):
    error = assert_rejects(
        tiny_path.read_bytes(), "larger than the 4,096-byte limit", GGUFLimits(max_header_bytes=4096)
    )
    assert isinstance(error, ModelResolutionError)


def test_configured_limits_are_applied(tiny_path):
    data = tiny_path.read_bytes()
    assert_rejects(data, "metadata keys, over the 3-key limit", GGUFLimits(max_kv_count=3))
    assert_rejects(data, "tensors, over the 2-tensor limit", GGUFLimits(max_tensor_count=2))
    assert_rejects(data, "over the 100-element array limit", GGUFLimits(max_array_length=100))
    assert_rejects(data, "over the 4-byte string limit", GGUFLimits(max_string_bytes=4))


def test_truncated_at_every_offset(tmp_path):
    path = tmp_path / "small.gguf"
    write_tiny_gguf(path, vocab=3)
    data = path.read_bytes()
    full = parse_gguf_header(data)
    for cut in range(full.header_bytes):
        with pytest.raises(GGUFHeaderError, match="truncated"):
            parse_gguf_header(data[:cut])
    assert parse_gguf_header(data[: full.header_bytes]) == full  # the header alone is enough


def test_random_corruption_never_escapes_as_another_error(tmp_path):
    path = tmp_path / "small.gguf"
    write_tiny_gguf(path, vocab=3)
    data = path.read_bytes()
    end = parse_gguf_header(data).header_bytes
    rng = random.Random(1234)  # noqa: S311 - a seeded fuzzer, not cryptography
    started = time.perf_counter()
    outcomes: list[str] = []
    for _ in range(600):
        mutated = bytearray(data[:end])
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(mutated))
            mutated[position] = rng.choice([0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)])
        try:
            result = parse_gguf_header(bytes(mutated))
        except GGUFHeaderError as exc:  # anything else escapes and fails the test
            outcomes.append(str(exc))
        else:
            assert isinstance(result, GGUFHeader)
    assert outcomes  # the mutations did hit the checks
    assert not [message for message in outcomes if "\n" in message]
    assert time.perf_counter() - started < 5.0
