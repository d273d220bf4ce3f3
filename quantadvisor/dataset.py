"""Find, parse, validate and cache the bundled data/ (plus an optional override directory)."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import DatasetError, InvalidRequestError
from .limits import MAX_DATA_FILE_BYTES
from .models import (
    GPU,
    RULE_QUANT_KEYS,
    Architecture,
    CatalogModel,
    EvidenceRecord,
    Format,
    GGMLType,
    ModelShape,
    Resident,
    Rule,
    Source,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Sequence

    from .architecture import ModelSpec

__all__ = ["DATA_ENV_VAR", "Dataset", "bundled_data_dir", "closest_names", "load_dataset"]

DATA_ENV_VAR = "QUANTADVISOR_DATA"
SCHEMA_VERSION = 1

# Top-level list key → record class and the field that identifies a record.
_SECTIONS: dict[str, tuple[type[BaseModel], str]] = {
    "sources": (Source, "id"),
    "ggml_types": (GGMLType, "name"),
    "formats": (Format, "name"),
    "evidence": (EvidenceRecord, "id"),
    "gpus": (GPU, "name"),
    "architectures": (Architecture, "shorthand"),
    "residents": (Resident, "name"),
    "rules": (Rule, "id"),
    "model_shapes": (ModelShape, "id"),
    "models": (CatalogModel, "hf_repo"),
}

T = TypeVar("T", bound=BaseModel)
D = TypeVar("D")


@dataclass(frozen=True)
class Dataset:
    """Every validated record, by section, in file order (overrides replace records in place)."""

    sources: dict[str, Source]
    ggml_types: dict[str, GGMLType]
    formats: dict[str, Format]
    evidence: dict[str, EvidenceRecord]
    gpus: dict[str, GPU]
    architectures: dict[str, Architecture]
    residents: dict[str, Resident]
    rules: dict[str, Rule]
    model_shapes: dict[str, ModelShape] = field(default_factory=dict)
    models: dict[str, CatalogModel] = field(default_factory=dict)
    """The model catalog (data/models.yaml) by Hub repo id; quantadvisor.catalog looks names up."""
    files: tuple[Path, ...] = field(default=())
    reference_specs: dict[str, tuple[Architecture, ModelSpec]] = field(default_factory=dict)
    """Each architecture's ModelSpec by shorthand, validated with the data (and pickled with it),
    beside the record it was resolved from: a copy of the dataset with other records
    (dataclasses.replace) resolves its own."""
    _derived: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, key: Hashable, compute: Callable[[], D]) -> D:
        """A value computed from this dataset (a lookup table, the KLD ladder), once per dataset.

        Treat the value as read-only. It is not pickled with the dataset: the code that computes
        it is not part of the disk cache's key.
        """
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]  # type: ignore[no-any-return]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_derived": {}}

    def format(self, name: str) -> Format:
        """Return the format called `name` (case-insensitive, aliases allowed)."""
        found = self.find_format(name)
        if found is None:
            raise InvalidRequestError(
                f"unknown format {name!r}",
                hint=_did_you_mean(name, self.formats),
            )
        return found

    def find_format(self, name: str) -> Format | None:
        """Return the format called `name` (case-insensitive, aliases allowed), or None."""
        return self._format_names.get(name.strip().casefold())

    @functools.cached_property
    def _format_names(self) -> dict[str, Format]:
        names: dict[str, Format] = {}
        for fmt in reversed(list(self.formats.values())):  # the first definition wins, as a scan would
            for alias in fmt.aliases:
                names[alias.casefold()] = fmt
        for fmt in reversed(list(self.formats.values())):
            names[fmt.name.casefold()] = fmt  # a name beats another format's alias
        return names

    def source(self, source_id: str) -> Source:
        """Return the bibliography entry `source_id`."""
        try:
            return self.sources[source_id]
        except KeyError:
            raise InvalidRequestError(
                f"unknown source {source_id!r}", hint=_did_you_mean(source_id, self.sources)
            ) from None


def closest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to `n` candidates that look like `name` (for 'did you mean' hints)."""
    pool = list(candidates)
    lowered = {c.casefold(): c for c in pool}
    import difflib

    hits = difflib.get_close_matches(name.casefold(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def _did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = closest_names(name, candidates)
    return f"did you mean {', '.join(close)}?" if close else None


def bundled_data_dir() -> Path:
    """Return the directory holding the bundled YAML: inside the wheel, or <repo>/data when editable."""
    here = Path(__file__).resolve().parent  # a wheel installs files, so no importlib.resources needed
    packaged = here / "_data"
    if packaged.is_dir():
        return packaged
    repo_data = here.parent / "data"
    if repo_data.is_dir():
        return repo_data
    raise DatasetError(
        "the bundled data directory is missing (neither quantadvisor/_data nor <repo>/data exists)",
        hint="reinstall quantadvisor: pip install --force-reinstall quantadvisor",
    )


def _yaml_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def _display(path: Path) -> str:
    """Name a data file the way a user would look for it (data/evidence.yaml)."""
    return f"{path.parent.name}/{path.name}"


def _field_path(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "(record)"


def _parse_file(path: Path) -> dict[str, list[tuple[int, BaseModel]]]:
    """Read one YAML file and validate every record; errors name file, record and field."""
    import yaml  # here, not at the top: a start-up served from the pickle cache never needs it

    where = _display(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_DATA_FILE_BYTES + 1)
        if len(data) > MAX_DATA_FILE_BYTES:
            raise DatasetError(f"{where}: over the {MAX_DATA_FILE_BYTES // 2**20} MiB limit for a data file")
        text = data.decode("utf-8")
        if not text.strip():
            raise DatasetError(f"{where}: the file is empty", hint="remove it, or give it a schema_version and records")
        if not text.endswith("\n"):  # every editor ends a file with a newline; a cut-off copy does not
            raise DatasetError(
                f"{where}: the file does not end with a newline: it looks truncated",
                hint="restore the whole file (or add the final newline if it is complete)",
            )
        # libyaml's C loader when the wheel has it: the pure-Python one costs ~0.5 s at start-up.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        raw = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except OSError as exc:
        raise DatasetError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{where}: not UTF-8 text: {exc.reason}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise DatasetError(f"{where}: invalid YAML{at}: {problem}") from exc
    if raw is None:
        raise DatasetError(f"{where}: the file holds no YAML document")
    if _node_count_over(raw, _MAX_YAML_NODES):
        raise DatasetError(f"{where}: more than {_MAX_YAML_NODES:,} YAML values (aliases expanded): not a data file")
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: the top level must be a mapping of section names to lists")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DatasetError(f"{where}: schema_version is {version!r}, this quantadvisor reads {SCHEMA_VERSION}")
    parsed: dict[str, list[tuple[int, BaseModel]]] = {}
    for key, value in raw.items():
        if key == "schema_version":
            continue
        if key not in _SECTIONS:
            raise DatasetError(f"{where}: unknown section {key!r}; expected one of {', '.join(sorted(_SECTIONS))}")
        if value is None:
            continue
        if not isinstance(value, list):
            raise DatasetError(f"{where}: section {key!r} must be a list of records")
        cls, id_field = _SECTIONS[key]
        records: list[tuple[int, BaseModel]] = []
        for index, item in enumerate(value, start=1):
            label = f"record {index}"
            if isinstance(item, dict) and id_field in item:
                label += f" ({id_field} {item[id_field]!r})"
            if not isinstance(item, dict):
                raise DatasetError(f"{where}: {key} {label}: must be a mapping")
            try:
                records.append((index, cls.model_validate(item)))
            except ValidationError as exc:
                first = exc.errors()[0]
                more = len(exc.errors()) - 1
                extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
                raise DatasetError(
                    f"{where}: {key} {label}: field '{_field_path(first['loc'])}': {first['msg']}{extra}"
                ) from exc
        parsed[key] = records
    return parsed


Origin = dict[tuple[str, str], tuple[Path, int]]

# The largest bundled file holds ~25,000 YAML values (evidence.yaml); an alias bomb
# (a: &a [x, x], b: &b [*a, *a], …) holds billions.
_MAX_YAML_NODES = 1_000_000


def _node_count_over(raw: object, limit: int) -> bool:
    """Whether walking `raw` (aliases expanded, as validation would) visits more than `limit` values."""
    stack = [raw]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _merge(files: Sequence[Path], *, override_from: int) -> tuple[dict[str, dict[str, BaseModel]], Origin]:
    """Merge sections of all files; an id defined twice is an error unless the later file overrides."""
    merged: dict[str, dict[str, BaseModel]] = {key: {} for key in _SECTIONS}
    origin: Origin = {}
    positions: dict[tuple[str, str], int] = {}
    # Override files are read first: a corrupt one fails before the bundled files are validated.
    order = [*range(override_from, len(files)), *range(override_from)]
    parsed = {position: _parse_file(files[position]) for position in order}
    for position, path in enumerate(files):
        is_override = position >= override_from
        for key, records in parsed[position].items():
            id_field = _SECTIONS[key][1]
            for index, record in records:
                ident = str(getattr(record, id_field))
                previous = origin.get((key, ident))
                earlier = positions.get((key, ident))
                if previous is not None and is_override and earlier is not None and earlier >= override_from:
                    # An override may replace a bundled record once; twice (in one file or two) is ambiguous.
                    raise DatasetError(
                        f"{_display(path)}: {key} record {index} ({id_field} {ident!r}): "
                        f"already defined in {_display(previous[0])}"
                        + ("" if earlier == position else " (another override file)")
                    )
                if previous is not None and not is_override:
                    raise DatasetError(
                        f"{_display(path)}: {key} record {index} ({id_field} {ident!r}): "
                        f"already defined in {_display(previous[0])}"
                    )
                merged[key][ident] = record
                origin[(key, ident)] = (path, index)
                positions[(key, ident)] = position
    return merged, origin


def _check_references(merged: dict[str, dict[str, Any]], origin: Origin) -> None:
    """Every record's source must exist in the bibliography; formats must name real ggml types."""
    sources = merged["sources"]

    def where(key: str, ident: str) -> str:
        path, index = origin[(key, ident)]
        id_field = _SECTIONS[key][1]
        return f"{_display(path)}: {key} record {index} ({id_field} {ident!r})"

    for key in ("ggml_types", "formats", "evidence", "gpus", "architectures", "residents", "model_shapes", "models"):
        for ident, record in merged[key].items():
            if record.source not in sources:
                raise DatasetError(
                    f"{where(key, ident)}: field 'source': {record.source!r} is not in the bibliography",
                    hint=_did_you_mean(record.source, sources),
                )
    for ident, fmt in merged["formats"].items():
        for measured in fmt.measured_bpw:
            if measured.source not in sources:
                raise DatasetError(
                    f"{where('formats', ident)}: field 'measured_bpw.source': "
                    f"{measured.source!r} is not in the bibliography"
                )
        if fmt.family == "gguf":
            missing = [b for b in fmt.block_types if b not in merged["ggml_types"]]
            if missing:
                raise DatasetError(
                    f"{where('formats', ident)}: field 'block_types': unknown ggml type(s) {', '.join(missing)}"
                )
    from .rules import LADDER

    for ident, rule in merged["rules"].items():
        for key in RULE_QUANT_KEYS:
            if key in rule.then and rule.then[key] not in LADDER:
                raise DatasetError(
                    f"{where('rules', ident)}: field 'then.{key}': {rule.then[key]!r} is not on the quant ladder",
                    hint=f"use one of {', '.join(LADDER)}",
                )
        for source_id in rule.source:
            if source_id not in sources:
                raise DatasetError(f"{where('rules', ident)}: field 'source': {source_id!r} is not in the bibliography")
    for ident, model in merged["models"].items():
        if model.params_source not in sources:
            raise DatasetError(
                f"{where('models', ident)}: field 'params_source': {model.params_source!r} is not in the bibliography",
                hint=_did_you_mean(model.params_source, sources),
            )
        if model.shape not in merged["model_shapes"]:
            raise DatasetError(
                f"{where('models', ident)}: field 'shape': {model.shape!r} is not a model_shapes id",
                hint=_did_you_mean(model.shape, merged["model_shapes"]),
            )
    for ident, record in merged["evidence"].items():
        # KV-cache records name the cache ("KV-q8_0") or weights plus cache ("Q8_0+KV-q8_0").
        weights = record.format.split("+KV-")[0]
        if not weights.startswith("KV-") and weights not in merged["formats"]:
            raise DatasetError(
                f"{where('evidence', ident)}: field 'format': {record.format!r} is not a known format",
                hint=_did_you_mean(record.format, merged["formats"]),
            )


def _resolve_extra_dir(extra_dir: str | os.PathLike[str] | None) -> Path | None:
    chosen = extra_dir if extra_dir is not None else os.environ.get(DATA_ENV_VAR) or None
    if chosen is None:
        return None
    origin = "--data" if extra_dir is not None else DATA_ENV_VAR
    from .untrusted import is_dir, local_path

    if not isinstance(chosen, (str, os.PathLike)):
        raise DatasetError(f"the data directory must be a path, not {type(chosen).__name__}")
    text = os.fspath(chosen)
    if not isinstance(text, str) or not text.strip():
        raise DatasetError(f"{origin} is empty", hint="name a directory of YAML overrides, or leave it out")
    path = local_path(text)
    if path is None or not is_dir(path):
        raise DatasetError(f"{origin} names {text[:200]!r}, which is not a directory")
    return path


@functools.lru_cache(maxsize=8)
def _load_cached(extra_dir: Path | None) -> Dataset:
    bundled = _yaml_files(bundled_data_dir())
    extra = _yaml_files(extra_dir) if extra_dir is not None else []
    cache = _disk_cache_path([*bundled, *extra])
    if cache is not None:
        hit = _read_disk_cache(cache)
        if hit is not None:
            return hit
    dataset = _parse_and_validate(bundled, extra)
    if cache is not None:
        _write_disk_cache(cache, dataset)
    return dataset


# A validated dataset is pickled in the user's cache directory, keyed by quantadvisor's version
# and each data file's path, size and mtime: parsing and validating ~450 KB of YAML costs about
# 70 ms per start-up, unpickling about 10 ms. Any problem with the cache just means a re-parse.
CACHE_ENV_VAR = "QUANTADVISOR_CACHE_DIR"


def _disk_cache_path(files: Sequence[Path]) -> Path | None:
    import hashlib

    from . import __version__

    if os.environ.get("QUANTADVISOR_NO_CACHE") == "1":
        return None
    root = os.environ.get(CACHE_ENV_VAR) or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    digest = hashlib.sha256(__version__.encode())
    # The schema is code: a changed models.py, dataset.py or architecture.py (the pickled reference
    # ModelSpecs) must not be served an old pickle.
    here = Path(__file__).resolve().parent
    for path in [here / "models.py", here / "dataset.py", here / "architecture.py", *files]:
        try:
            st = path.stat()
        except OSError:
            return None
        digest.update(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return Path(root) / "quantadvisor" / f"dataset-{digest.hexdigest()[:24]}.pickle"


def _read_disk_cache(path: Path) -> Dataset | None:
    import pickle

    try:
        with path.open("rb") as handle:
            value = pickle.load(handle)  # noqa: S301 - our own file, in the user's own cache dir
    except Exception:
        return None
    return value if isinstance(value, Dataset) else None


def _write_disk_cache(path: Path, dataset: Dataset) -> None:
    import pickle
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False) as handle:
            pickle.dump(dataset, handle, protocol=pickle.HIGHEST_PROTOCOL)
        Path(handle.name).replace(path)  # atomic: a concurrent reader never sees half a file
    except OSError:
        pass  # a read-only home directory only costs the re-parse


def _reference_specs(
    architectures: dict[str, Architecture], origin: Origin
) -> dict[str, tuple[Architecture, ModelSpec]]:
    """Resolve every reference architecture's config now: a bad shape is a dataset error naming
    its record, and the size shorthands need no validation at run time."""
    from .architecture import reference_spec
    from .errors import ModelResolutionError

    specs = {}
    for ident, arch in architectures.items():
        try:
            specs[arch.shorthand] = (arch, reference_spec(arch))
        except ModelResolutionError as exc:
            path, index = origin[("architectures", ident)]
            raise DatasetError(
                f"{_display(path)}: architectures record {index} (shorthand {ident!r}): field 'config': {exc.message}"
            ) from exc
    return specs


def _check_shapes(shapes: dict[str, ModelShape], origin: Origin) -> None:
    """Every catalog shape must read as a ModelSpec: a bad config is a dataset error naming its record.

    The specs are not kept (a lookup builds the one it needs), so the pickle stays small.
    """
    from .architecture import spec_from_config
    from .errors import ModelResolutionError

    for ident, shape in shapes.items():
        try:
            spec_from_config(shape.config, name=ident)
        except ModelResolutionError as exc:
            path, index = origin[("model_shapes", ident)]
            raise DatasetError(
                f"{_display(path)}: model_shapes record {index} (id {ident!r}): field 'config': {exc.message}"
            ) from exc


def _parse_and_validate(bundled: list[Path], extra: list[Path]) -> Dataset:
    merged, origin = _merge([*bundled, *extra], override_from=len(bundled))
    _check_references(merged, origin)
    _check_shapes(merged["model_shapes"], origin)  # type: ignore[arg-type]
    return Dataset(
        reference_specs=_reference_specs(merged["architectures"], origin),  # type: ignore[arg-type]
        sources=merged["sources"],  # type: ignore[arg-type]
        ggml_types=merged["ggml_types"],  # type: ignore[arg-type]
        formats=merged["formats"],  # type: ignore[arg-type]
        evidence=merged["evidence"],  # type: ignore[arg-type]
        gpus=merged["gpus"],  # type: ignore[arg-type]
        architectures=merged["architectures"],  # type: ignore[arg-type]
        residents=merged["residents"],  # type: ignore[arg-type]
        rules=merged["rules"],  # type: ignore[arg-type]
        model_shapes=merged["model_shapes"],  # type: ignore[arg-type]
        models=merged["models"],  # type: ignore[arg-type]
        files=(*bundled, *extra),
    )


def load_dataset(extra_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load and validate the bundled data, extended or overridden by `extra_dir` or $QUANTADVISOR_DATA.

    The result is cached per directory: later calls cost nothing.

    Raises:
        DatasetError: a file is missing or unreadable, or a record fails validation (file, record, field).
    """
    return _load_cached(_resolve_extra_dir(extra_dir))
