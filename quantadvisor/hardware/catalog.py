"""Finding a GPU in the bundled catalog (data/gpus.yaml) from a name as people write it ("4060 ti 16gb")."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from ..dataset import Dataset
    from ..models import GPU


# Brand words that people add or leave out ("NVIDIA GeForce RTX 4060" = "RTX 4060").
_BRAND_WORDS = frozenset({"nvidia", "geforce", "amd", "ati", "radeon", "intel", "apple"})


def _tokens(text: str) -> tuple[str, ...]:
    spaced = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", text.casefold())
    return tuple(t for t in re.findall(r"[a-z]+|\d+(?:\.\d+)?", spaced) if t not in _BRAND_WORDS)


def _split_memory_size(tokens: tuple[str, ...]) -> tuple[tuple[str, ...], float | None]:
    """Take "<n> gb" out of the words: ("rtx", "4060", "8", "gb") → (("rtx", "4060"), 8.0)."""
    kept: list[str] = []
    size: float | None = None
    skip = False
    for i, tok in enumerate(tokens):
        if skip:
            skip = False
            continue
        if tok[0].isdigit() and i + 1 < len(tokens) and tokens[i + 1] == "gb":
            size, skip = float(tok), True
            continue
        kept.append(tok)
    return tuple(kept), size


def _match_tokens(
    wanted: tuple[str, ...], catalog: dict[str, GPU], size_gib: float | None = None
) -> list[tuple[int, str]]:
    """(words left over, name) for every GPU whose name or an alias holds all wanted words.

    With `size_gib`, only GPUs of about that memory size count ("RTX 4060 Ti 16GB").
    """
    hits: dict[str, int] = {}
    for name, gpu in catalog.items():
        if size_gib is not None and abs(gpu.memory_gib - size_gib) > max(1.0, 0.05 * size_gib):
            continue
        for label in (name, gpu.name, *gpu.aliases):
            have = _tokens(label)
            if set(wanted) <= set(have):
                extra = len(have) - len(set(wanted))
                hits[name] = min(hits.get(name, extra), extra)
    return sorted((extra, name) for name, extra in hits.items())


def _configured_unified(core: tuple[str, ...], size_gib: float, catalog: dict[str, GPU]) -> GPU | None:
    """ "M3 Max 36GB": a unified-memory chip (catalog: its largest option) with the memory asked for."""
    hits = [(extra, n) for extra, n in _match_tokens(core, catalog) if catalog[n].unified_memory]
    if not hits:
        return None
    best = [n for extra, n in hits if extra == hits[0][0]]
    if len(best) != 1 or size_gib > catalog[best[0]].memory_gib:
        return None
    gpu = catalog[best[0]]
    note = f"{gpu.name} configured with {size_gib:g} GB of unified memory (the catalog lists its largest option)"
    return gpu.model_copy(
        update={"name": f"{gpu.name} {size_gib:g}GB", "memory_gib": size_gib, "aliases": [], "note": note}
    )


def lookup_gpu(name: str, dataset: Dataset | None = None) -> GPU:
    """Return the catalog GPU called `name`, tolerant of spelling ("4060", "rtx4060", "GeForce RTX 4060").

    Exact names and aliases win; otherwise the GPU whose name holds every word of `name` with the
    fewest words left over ("4060" is the RTX 4060, not the 4060 Ti). Unknown or ambiguous names
    raise InvalidRequestError listing the closest matches.
    """
    if dataset is None:
        from ..dataset import load_dataset

        dataset = load_dataset()
    if not isinstance(name, str):
        raise InvalidRequestError(f"GPU name must be a string, not {type(name).__name__}")
    # A name's answer is fixed for a dataset, and matching scans the whole catalog with regexes:
    # every recommend() with --gpu asks again, so found names are kept (misses raise and are not).
    found: dict[str, GPU] = dataset.derived("gpu_lookups", dict)
    if name not in found:
        if len(found) > 256:
            found.clear()
        found[name] = _lookup_uncached(name, dataset)
    return found[name]


def _lookup_uncached(name: str, dataset: Dataset) -> GPU:
    catalog = dataset.gpus
    wanted = _tokens(name)
    if not wanted:
        raise InvalidRequestError(f"GPU name {name!r} is empty", hint="e.g. --gpu 'RTX 4060'")
    squashed = "".join(wanted)
    for key, gpu in catalog.items():
        for label in (key, gpu.name, *gpu.aliases):
            if "".join(_tokens(label)) == squashed:
                return gpu
    core, size_gib = _split_memory_size(wanted)
    sized = _match_tokens(core, catalog, size_gib) if core and size_gib else []
    if core and size_gib and not sized:
        configured = _configured_unified(core, size_gib, catalog)
        if configured is not None:
            return configured
    hits = sized or _match_tokens(wanted, catalog)
    if hits:
        best = [n for extra, n in hits if extra == hits[0][0]]
        if len(best) == 1:
            return catalog[best[0]]
        raise InvalidRequestError(
            f"GPU name {name!r} matches several catalog GPUs: {', '.join(best[:6])}",
            hint=f"use the full name, e.g. --gpu {best[0]!r}",
        )
    from ..dataset import closest_names

    labels = {label: key for key, gpu in catalog.items() for label in (key, *gpu.aliases)}
    close = list(dict.fromkeys(labels[c] for c in closest_names(name, labels, n=5)))
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise InvalidRequestError(
        f"unknown GPU {name!r}: not in the catalog of {len(catalog)} GPUs",
        hint=hint + "or plan by memory size: --vram GIB",
    )
