"""The quantization a GGUF file name announces (Q4_K_M, UD-Q4_K_XL, IQ2_M …) and its split parts."""

from __future__ import annotations

import re
from dataclasses import dataclass

# llama-quantize ftype names (tools/quantize/quantize.cpp QUANT_OPTIONS) that file names use as they are.
_FTYPES = frozenset(
    {
        "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q1_0", "Q2_0",
        "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
        "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
        "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4_MOE", "NVFP4", "F16", "BF16", "F32",
    }
)  # fmt: skip

# Bare K levels: llama-quantize's Q3_K / Q4_K / Q5_K aliases point to the _M mixes.
_K_ALIASES = {
    "Q2_K": "Q2_K",
    "Q3_K": "Q3_K_M",
    "Q4_K": "Q4_K_M",
    "Q5_K": "Q5_K_M",
    "Q6_K": "Q6_K",
    "Q8_K": "Q8_0",
}

# "_L"/"_XL" builds that are not llama-quantize ftypes (bartowski Q6_K_L = Q6_K with Q8_0 embed/output;
# unsloth UD-Q4_K_XL = dynamic mix around Q4_K_M): the base is the richest standard mix of that K level.
_UPGRADED_BASE = {"2": "Q2_K", "3": "Q3_K_L", "4": "Q4_K_M", "5": "Q5_K_M", "6": "Q6_K", "8": "Q8_0"}

_SPELLINGS = {"FP16": "F16", "FP32": "F32", "MXFP4": "MXFP4_MOE"}

_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])(?P<ud>UD[-_])?(?P<q>"
    r"IQ1_[SM]|IQ2_(?:XXS|XS|S|M)|IQ3_(?:XXS|XS|S|M)|IQ4_(?:NL|XS)"
    r"|TQ[12]_0"
    r"|Q[2-8]_K(?:_(?:XXL|XL|S|M|L))?"
    r"|Q[458]_[01](?:_[48]_[48])?"
    r"|Q[12]_0"
    r"|MXFP4(?:_MOE)?|NVFP4"
    r"|BF16|FP16|F16|FP32|F32"
    r")(?![A-Za-z0-9])",
    re.IGNORECASE | re.ASCII,
)

SPLIT_RE = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)

PART_RE = re.compile(r"^(?P<stem>.+\.gguf)\.part(?P<index>\d{1,3})of(?P<count>\d{1,3})$", re.IGNORECASE)


@dataclass(frozen=True)
class QuantName:
    """A quant type read from a file name.

    ``base`` is a llama-quantize ftype name (``Q4_K_M``, ``IQ4_XS``, ``Q8_0``, ``BF16``, ``MXFP4_MOE`` …): the
    standard mix the file is, or is built around. ``variant`` is the name as published when the file is not
    exactly that mix: bartowski's ``Q6_K_L`` (base ``Q6_K``, embed/output at Q8_0), unsloth's ``UD-Q4_K_XL``
    (base ``Q4_K_M``), ``Q4_0_4_4`` (base ``Q4_0``, ARM repack); None for a plain ftype. The real file size,
    not the base, says how big a variant is.
    """

    base: str
    variant: str | None = None

    @property
    def label(self) -> str:
        """The name to show: the variant if any, else the base."""
        return self.variant or self.base

    def __str__(self) -> str:
        return self.label


def _quant_name(token: str, dynamic: bool) -> QuantName:
    name = _SPELLINGS.get(token, token)
    if name in _FTYPES:
        base, variant = name, None
    elif name in _K_ALIASES:
        base, variant = _K_ALIASES[name], None
    elif re.fullmatch(r"Q\d_K_(?:L|XL|XXL|S|M)", name):
        base, variant = _UPGRADED_BASE[name[1]], name
    else:  # Q4_0_4_4, Q4_0_8_8 … (ARM repacks of Q4_0)
        base, variant = name[:4], name
    if dynamic:
        variant = f"UD-{name}"
    return QuantName(base, variant)


def _strip_split_suffix(basename: str) -> str:
    for pattern in (SPLIT_RE, PART_RE):
        match = pattern.match(basename)
        if match:
            return match.group("stem")
    return basename


def quant_from_filename(name: str) -> QuantName | None:
    """Return the quant type a GGUF file name announces, or None if it names none.

    Reads the file's base name (then its folders) case-insensitively; the last quant token wins, so
    ``Qwen2.5-7B-Instruct-Q4_K_M.gguf``, ``model.q4_k_m.gguf`` and ``Q4_K_M/model-Q4_K_M-00001-of-00002.gguf``
    all give ``QuantName("Q4_K_M")``.
    """
    parts = name.replace("\\", "/").split("/")
    candidates = [_strip_split_suffix(parts[-1]), *reversed(parts[:-1])]
    for text in candidates:
        stem = re.sub(r"\.gguf$", "", text, flags=re.IGNORECASE)
        matches = list(_QUANT_RE.finditer(stem))
        if matches:
            last = matches[-1]
            return _quant_name(last.group("q").upper(), dynamic=last.group("ud") is not None)
    return None
