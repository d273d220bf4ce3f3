"""Write a sparse zero-weight GGUF from a make_manifest.py manifest (stdlib + numpy; runs on the device).

    python3 write_gguf.py MANIFEST.json OUTDIR

Header: the manifest's metadata plus a synthetic SentencePiece-style ("llama") vocabulary of exactly
n_vocab tokens (<unk>, <s>, </s>, the 256 byte tokens, then filler). Tensor data: zeros, left as
holes by `truncate` (extending the file), except the few tensors the manifest marks for MoE routing:
"ones" (F32 norms), "normal" (F32 routers, standard normal) and "embed" (token embedding: random
quant blocks whose fp16 scale fields are set to 0.01, so routing sees varied hidden states).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q2_K": 10, "Q3_K": 11,
         "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "IQ2_XXS": 16, "IQ2_XS": 17, "IQ3_XXS": 18, "IQ1_S": 19,
         "IQ4_NL": 20, "IQ3_S": 21, "IQ2_S": 22, "IQ4_XS": 23, "IQ1_M": 29, "BF16": 30, "MXFP4": 39}  # fmt: skip
# (bytes per block, offsets of fp16 scale fields to set to 0.01, offsets of fp16 fields to zero)
EMBED_BLOCKS = {"Q8_0": (34, [0], []), "Q4_0": (18, [0], []), "Q5_0": (22, [0], []), "Q4_K": (144, [0], [2]),
                "Q5_K": (176, [0], [2]), "Q6_K": (210, [208], []), "Q3_K": (110, [108], []),
                "Q2_K": (84, [80], [82])}  # fmt: skip
ALIGN = 32


def gstr(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv_bytes(key: str, vtype: int, value: object) -> bytes:
    head = gstr(key) + struct.pack("<I", vtype)
    if vtype == 8:
        return head + gstr(str(value))
    fmt = {4: "<I", 6: "<f", 7: "<?", 5: "<i"}[vtype]
    return head + struct.pack(fmt, value)


def arr(key: str, etype: int, items: bytes, n: int) -> bytes:
    return gstr(key) + struct.pack("<IIQ", 9, etype, n) + items


def vocab(n: int) -> list[bytes]:
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    toks += [f"\u2581t{i}" for i in range(n - len(toks))]
    types = [2, 3, 3] + [6] * 256 + [1] * (n - 259)
    tok_bytes = b"".join(gstr(t) for t in toks[:n])
    return [
        kv_bytes("tokenizer.ggml.model", 8, "llama"),
        arr("tokenizer.ggml.tokens", 8, tok_bytes, n),
        arr("tokenizer.ggml.scores", 6, np.zeros(n, "<f4").tobytes(), n),
        arr("tokenizer.ggml.token_type", 5, np.array(types[:n], "<i4").tobytes(), n),
        kv_bytes("tokenizer.ggml.unknown_token_id", 4, 0),
        kv_bytes("tokenizer.ggml.bos_token_id", 4, 1),
        kv_bytes("tokenizer.ggml.eos_token_id", 4, 2),
    ]


def fill_bytes(t: dict, rng: np.random.Generator) -> bytes | None:
    n, kind, ty = t["nbytes"], t["fill"], t["type"]
    if kind == "zero":
        return None
    if kind in ("ones", "normal") and ty == "F32":
        vals = np.ones(n // 4, "<f4") if kind == "ones" else rng.standard_normal(n // 4).astype("<f4")
        return vals.tobytes()
    if kind == "embed":
        if ty in ("F32", "F16", "BF16"):
            if ty == "BF16":
                return None
            dtype = "<f4" if ty == "F32" else "<f2"
            return (rng.standard_normal(n // np.dtype(dtype).itemsize) * 0.1).astype(dtype).tobytes()
        if ty in EMBED_BLOCKS:
            size, scale, zero = EMBED_BLOCKS[ty]
            blocks = rng.integers(0, 256, size=(n // size, size), dtype=np.uint8)
            for off in scale:
                blocks[:, off : off + 2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)
            for off in zero:
                blocks[:, off : off + 2] = 0
            return blocks.tobytes()
    print(f"warning: {t['name']} {ty} fill {kind} left zero", file=sys.stderr)
    return None


def main(manifest_path: str, outdir: str) -> None:
    m = json.loads(Path(manifest_path).read_text())
    kvs = [kv_bytes(k, t, v) for k, t, v in m["kv"]] + vocab(m["n_vocab"])
    infos, offsets, off = [], [], 0
    for t in m["tensors"]:
        shape = t["shape"]
        infos.append(gstr(t["name"]) + struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}Q", *shape)
                     + struct.pack("<IQ", TYPES[t["type"]], off))  # fmt: skip
        offsets.append(off)
        off += (t["nbytes"] + ALIGN - 1) // ALIGN * ALIGN
    header = b"GGUF" + struct.pack("<IQQ", 3, len(infos), len(kvs)) + b"".join(kvs) + b"".join(infos)
    data_start = (len(header) + ALIGN - 1) // ALIGN * ALIGN
    path = Path(outdir) / m["file"]
    rng = np.random.default_rng(0)
    with path.open("wb") as fh:
        fh.write(header + b"\0" * (data_start - len(header)))
        for t, o in zip(m["tensors"], offsets, strict=True):
            data = fill_bytes(t, rng)
            if data is not None:
                fh.seek(data_start + o)
                fh.write(data)
        fh.truncate(data_start + off)
    print(path, data_start + off)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
