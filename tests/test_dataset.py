"""The bundled dataset: schema, citations, block sizes against gguf-py, and the loader's errors."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
import quantadvisor.dataset as dataset_module
import yaml
from quantadvisor.dataset import DATA_ENV_VAR, bundled_data_dir, load_dataset
from quantadvisor.errors import DatasetError
from quantadvisor.memory.mixes import BASE_TYPE, GGUF_FILE_TYPES
from quantadvisor.models import GPU, EvidenceRecord, Format, GGMLType, Source

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from quantadvisor.dataset import Dataset

# Issue 2's list of llama.cpp GGUF file types, and the serving formats the evidence speaks of.
ISSUE_GGUF_TYPES = [
    "F32",
    "F16",
    "BF16",
    "Q8_0",
    "Q6_K",
    "Q5_K_M",
    "Q5_K_S",
    "Q5_0",
    "Q5_1",
    "Q4_K_M",
    "Q4_K_S",
    "Q4_0",
    "Q4_1",
    "IQ4_XS",
    "IQ4_NL",
    "Q3_K_L",
    "Q3_K_M",
    "Q3_K_S",
    "IQ3_M",
    "IQ3_S",
    "IQ3_XS",
    "IQ3_XXS",
    "Q2_K",
    "Q2_K_S",
    "IQ2_M",
    "IQ2_S",
    "IQ2_XS",
    "IQ2_XXS",
    "IQ1_M",
    "IQ1_S",
    "TQ1_0",
    "TQ2_0",
    "MXFP4_MOE",
]
ISSUE_SERVING_FORMATS = ("NVFP4", "MXFP4", "FP8", "W8A16-INT", "W4A16-INT", "W4A8", "W8A8-INT")

# ggml types newer than the gguf-py release pinned for tests; each must say so in its note.
NOT_IN_GGUF_PY = {"Q2_0"}

# Which field identifies a record in each section (as the loader's messages name it).
ID_FIELD = {
    "sources": "id",
    "ggml_types": "name",
    "formats": "name",
    "evidence": "id",
    "gpus": "name",
    "architectures": "shorthand",
    "residents": "name",
    "rules": "id",
    "model_shapes": "id",
    "models": "hf_repo",
}


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return load_dataset()


REAL_DATA = dataset_module.bundled_data_dir()

# The files a record of each file may cite (sources, formats, ggml types): a corrupt-file test
# copies only these, so it parses no more YAML than the check needs.
NEEDS: dict[str, tuple[str, ...]] = {
    "architectures": ("architectures",),
    "evidence": ("evidence", "formats", "sources"),
    "formats": ("formats", "sources"),
    "gpus": ("gpus",),
    "rules": ("rules", "sources"),
    "sources": ("sources",),
}

KEEP_RECORDS = 20
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the tests read a lot of YAML
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """Copy some (or all) bundled files to tmp_path/data and make the loader read that as bundled data."""
    copy = tmp_path / "data"
    monkeypatch.setattr(dataset_module, "bundled_data_dir", lambda: copy)
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)

    def make(*stems: str, shrink: str | None = None) -> Path:
        copy.mkdir()
        for path in sorted(REAL_DATA.glob("*.yaml")):
            if stems and path.stem not in stems:
                continue
            if path.stem == shrink:
                # Keep the records a test corrupts and drop the rest: the pure-Python YAML parser
                # takes ~0.3 s over the whole of evidence.yaml.
                raw = _read(path)
                section = TARGETS[path.stem][0]
                raw[section] = (raw.get(section) or [])[:KEEP_RECORDS]
                _write(copy / path.name, raw)
            else:
                shutil.copy(path, copy / path.name)
        dataset_module._load_cached.cache_clear()
        return copy

    yield make
    dataset_module._load_cached.cache_clear()


def _read(path: Path) -> dict[str, Any]:
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 (a safe loader)
    assert isinstance(raw, dict)
    return raw


def _write(path: Path, raw: dict[str, Any]) -> None:
    path.write_text(yaml.dump(raw, Dumper=_Dumper, sort_keys=False, allow_unicode=True), encoding="utf-8")


# --------------------------------------------------------------------------- the bundled data


def test_bundled_data_loads_and_validates(ds: Dataset) -> None:
    names = {p.name for p in ds.files}
    assert {"sources.yaml", "formats.yaml", "evidence.yaml", "gpus.yaml", "architectures.yaml"} <= names
    assert all(isinstance(s, Source) for s in ds.sources.values())
    assert all(isinstance(t, GGMLType) for t in ds.ggml_types.values())
    assert all(isinstance(f, Format) for f in ds.formats.values())
    assert all(isinstance(e, EvidenceRecord) for e in ds.evidence.values())
    assert all(isinstance(g, GPU) for g in ds.gpus.values())
    for section in ("sources", "ggml_types", "formats", "evidence", "gpus", "architectures"):
        assert getattr(ds, section), f"section {section} is empty"


def test_every_file_declares_schema_version_1(ds: Dataset) -> None:
    for path in ds.files:
        assert _read(path).get("schema_version") == 1, path.name


def test_every_source_reference_is_in_the_bibliography(ds: Dataset) -> None:
    missing = []
    for section in ("ggml_types", "formats", "evidence", "gpus", "architectures", "residents"):
        for ident, record in getattr(ds, section).items():
            if record.source not in ds.sources:
                missing.append(f"{section} {ident}: {record.source}")
    for ident, fmt in ds.formats.items():
        missing += [f"formats {ident} measured_bpw: {m.source}" for m in fmt.measured_bpw if m.source not in ds.sources]
    for ident, rule in ds.rules.items():
        missing += [f"rules {ident}: {s}" for s in rule.source if s not in ds.sources]
    assert missing == []


def test_ids_are_unique_across_all_bundled_files(ds: Dataset) -> None:
    """Read the raw YAML (the merged dicts would hide a duplicate) and count every id per section."""
    seen: dict[str, Counter[str]] = {key: Counter() for key in ID_FIELD}
    for path in ds.files:
        for key, records in _read(path).items():
            if key == "schema_version" or not records:
                continue
            seen[key].update(str(r[ID_FIELD[key]]) for r in records)
    duplicates = {key: [i for i, n in counts.items() if n > 1] for key, counts in seen.items()}
    assert all(not d for d in duplicates.values()), duplicates


def test_evidence_records_are_well_formed(ds: Dataset) -> None:
    for ident, record in ds.evidence.items():
        assert record.locator.strip(), ident
        if record.provenance == "derived":
            assert record.formula, f"{ident}: a derived record must store its formula"
        if record.model is not None and record.model.active_params_billions is not None:
            assert record.model.active_params_billions <= record.model.params_billions, ident


def test_ggml_type_bits_per_weight_is_8_bytes_over_block(ds: Dataset) -> None:
    for name, t in ds.ggml_types.items():
        assert t.bits_per_weight == pytest.approx(8 * t.bytes_per_block / t.block_size), name


def test_ggml_types_match_gguf_py_quant_sizes(ds: Dataset) -> None:
    """Block size, bytes per block and type id agree with ggml-org's gguf-py, type by type."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    mismatches = []
    for name, t in ds.ggml_types.items():
        if name in NOT_IN_GGUF_PY:
            assert "gguf-py" in (t.note or ""), f"{name}: say in its note why gguf-py cannot check it"
            continue
        try:
            qtype = GGMLQuantizationType[name]
        except KeyError:
            mismatches.append(f"{name}: not a GGMLQuantizationType in gguf-py")
            continue
        expected = GGML_QUANT_SIZES[qtype]
        if (t.block_size, t.bytes_per_block) != expected:
            mismatches.append(f"{name}: ours {(t.block_size, t.bytes_per_block)}, gguf-py {expected}")
        if t.type_id != qtype.value:
            mismatches.append(f"{name}: type_id {t.type_id}, gguf-py {qtype.value}")
    assert mismatches == []


def test_every_gguf_type_of_issue_2_exists(ds: Dataset) -> None:
    for name in ISSUE_GGUF_TYPES:
        fmt = ds.find_format(name)
        assert fmt is not None, name
        assert fmt.family == "gguf", name
        assert fmt.runtimes, name
        assert "llama.cpp" in fmt.runtimes, name
    assert set(ISSUE_GGUF_TYPES) == set(GGUF_FILE_TYPES), "the memory model and issue 2 list differ"


def test_serving_formats_of_issue_2_exist(ds: Dataset) -> None:
    for name in ISSUE_SERVING_FORMATS:
        fmt = ds.find_format(name)
        assert fmt is not None, name
        assert fmt.kind in {"weight-only", "weight+activation"}, name
        assert fmt.runtimes, name
    # BF16/FP16 as served (not the GGUF type of the same name)
    assert any(f.family == "serving" and f.kind == "unquantized" for f in ds.formats.values())


def test_gguf_formats_are_consistent_with_their_block_types(ds: Dataset) -> None:
    for name in ISSUE_GGUF_TYPES:
        fmt = ds.formats[name]
        base = ds.ggml_types[fmt.block_types[0]]
        assert fmt.block_types[0] == BASE_TYPE[name], f"{name}: base type differs from the memory model"
        assert fmt.block_bits_per_weight == pytest.approx(base.bits_per_weight), name
        for measured in fmt.measured_bpw:
            # a mix only ever raises some tensors above its base type (published figures are rounded)
            assert measured.bits_per_weight >= fmt.block_bits_per_weight - 0.005, (name, measured.model)


def test_types_llama_quantize_refuses_without_imatrix_need_one(ds: Dataset) -> None:
    # tools/quantize/quantize.cpp: "Please do not use IQ1_S, IQ1_M, IQ2_S, IQ2_XXS, IQ2_XS or Q2_K_S
    # quantization without an importance matrix".
    for name in ("IQ1_S", "IQ1_M", "IQ2_S", "IQ2_XXS", "IQ2_XS", "Q2_K_S"):
        assert ds.formats[name].needs_imatrix, name
    for name in ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K", "F16"):
        assert not ds.formats[name].needs_imatrix, name


def test_at_least_60_gpus_of_every_vendor(ds: Dataset) -> None:
    assert len(ds.gpus) >= 60
    assert {g.vendor for g in ds.gpus.values()} == {"nvidia", "amd", "intel", "apple"}
    assert all(g.unified_memory for g in ds.gpus.values() if g.vendor == "apple")


@pytest.mark.parametrize(
    "needle", ["T4", "A10", "L4", "L40S", "A100", "H100", "H200", "B200", "MI300X", "4090", "3090", "5090"]
)
def test_gpu_catalog_covers_issue_2_cards(ds: Dataset, needle: str) -> None:
    names = [g.name for g in ds.gpus.values()] + [a for g in ds.gpus.values() for a in g.aliases]
    assert any(needle in n for n in names), needle


def _cites(ds: Dataset, source_id: str, needle: str) -> bool:
    src = ds.sources[source_id]
    return any(needle in (text or "") for text in (src.id, src.arxiv, src.url, src.title, src.note, src.repository))


@pytest.mark.parametrize(
    ("needle", "what"),
    [
        ("2508.16712", "Shi & Ding (qMeter)"),
        ("2601.09527", "per-model numbers from its raw data release"),
        ("2505.15030", "on-device LLM evaluation"),
        ("pull/1684", "llama.cpp k-quants PR"),
        ("QUANT_OPTIONS", "llama-quantize size/ΔPPL rows"),
        ("IQ4_XS errors", "cross-model IQ4_XS errors"),
        ("quantized KV cache", "quality cost of KV-cache quantization"),
        ("LLaMA 3 8b scoreboard", "llama.cpp per-type KLD/PPL tables"),
    ],
)
def test_evidence_covers_each_source_issue_2_requires(ds: Dataset, needle: str, what: str) -> None:
    cited = {e.source for e in ds.evidence.values()}
    assert any(_cites(ds, s, needle) for s in cited), f"no evidence from {what} ({needle})"


def test_evidence_covers_the_llama2_vs_llama3_and_70b_comparisons(ds: Dataset) -> None:
    models = {e.model.name for e in ds.evidence.values() if e.model and e.task == "language-modelling"}
    assert {"Llama-2-7B", "Llama-3-8B"} <= models
    assert any("70B" in m for m in models)


def test_shi_ding_ranges_are_secondary(ds: Dataset) -> None:
    """Issue 2: the widely quoted task ranges of arXiv:2508.16712 are secondary."""
    records = [e for e in ds.evidence.values() if ds.sources[e.source].arxiv == "2508.16712"]
    assert records
    assert all(e.provenance == "secondary" for e in records if e.relative_change_range is not None)


def test_kv_cache_quantization_evidence_exists(ds: Dataset) -> None:
    assert any("KV-" in e.format for e in ds.evidence.values())


# --------------------------------------------------------------------------- corrupt files

# file → (section, record number, wrong-type field and value, a required field to delete)
TARGETS: dict[str, tuple[str, int, str, Any, str]] = {
    "evidence": ("evidence", 12, "baseline", "not a number", "benchmark"),
    "formats": ("formats", 3, "block_bits_per_weight", "eight", "description"),
    "gpus": ("gpus", 5, "memory_gib", "lots", "architecture"),
    "architectures": ("architectures", 2, "config", "not a mapping", "stands_for"),
    "sources": ("sources", 4, "year", "last year", "title"),
    "rules": ("rules", 1, "provenance", "hearsay", "says"),
}
STEMS = sorted(TARGETS)


def _target_record(data_dir: Path, stem: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Return the file, its raw content and the record to corrupt (adding a rule if there is none)."""
    path = data_dir / f"{stem}.yaml"
    raw = _read(path)
    section, number = TARGETS[stem][:2]
    records = raw.get(section) or []
    if stem == "rules" and len(records) < number:
        any_source = _read(REAL_DATA / "sources.yaml")["sources"][0]["id"]
        records.append(
            {
                "id": "test-rule", "question": "gate", "when": {}, "then": {}, "says": "a test rule",
                "source": [any_source], "provenance": "primary",
            }
        )  # fmt: skip
    raw[section] = records
    assert len(records) >= number, f"{stem}.yaml has fewer than {number} {section} records"
    return path, raw, records[number - 1]


def _record_label(stem: str, record: dict[str, Any]) -> str:
    """The start of the message issue 2 asks for: data/evidence.yaml: evidence record 12 (id '…'):"""
    section, number = TARGETS[stem][:2]
    key = ID_FIELD[section]
    return f"data/{stem}.yaml: {section} record {number} ({key} {record[key]!r}): "


def _load_error(extra_dir: Path | None = None) -> str:
    dataset_module._load_cached.cache_clear()
    with pytest.raises(DatasetError) as info:
        load_dataset(extra_dir)
    return str(info.value)


@pytest.mark.parametrize("stem", STEMS)
def test_invalid_yaml_names_the_file_and_line(data_copy: Callable[..., Path], stem: str) -> None:
    path = data_copy(stem, shrink=stem) / f"{stem}.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nbroken: [unclosed\n", encoding="utf-8")
    message = _load_error()
    assert re.match(rf"data/{stem}\.yaml: invalid YAML at line \d+, column \d+", message), message


@pytest.mark.parametrize("stem", STEMS)
def test_wrong_schema_version_names_the_file(data_copy: Callable[..., Path], stem: str) -> None:
    path = data_copy(stem, shrink=stem) / f"{stem}.yaml"
    raw = _read(path)
    raw["schema_version"] = 2
    _write(path, raw)
    message = _load_error()
    assert message.startswith(f"data/{stem}.yaml: schema_version is 2, this quantadvisor reads 1"), message


@pytest.mark.parametrize("stem", STEMS)
def test_unknown_field_names_file_record_and_field(data_copy: Callable[..., Path], stem: str) -> None:
    path, raw, record = _target_record(data_copy(stem, shrink=stem), stem)
    record["colour"] = "blue"
    _write(path, raw)
    message = _load_error()
    assert message.startswith(_record_label(stem, record) + "field 'colour': "), message
    assert "Extra inputs are not permitted" in message


@pytest.mark.parametrize("stem", STEMS)
def test_wrong_type_names_file_record_and_field(data_copy: Callable[..., Path], stem: str) -> None:
    path, raw, record = _target_record(data_copy(stem, shrink=stem), stem)
    field, value = TARGETS[stem][2:4]
    record[field] = value
    _write(path, raw)
    message = _load_error()
    assert message.startswith(_record_label(stem, record) + f"field '{field}': "), message


@pytest.mark.parametrize("stem", STEMS)
def test_missing_field_names_file_record_and_field(data_copy: Callable[..., Path], stem: str) -> None:
    path, raw, record = _target_record(data_copy(stem, shrink=stem), stem)
    field = TARGETS[stem][4]
    del record[field]
    _write(path, raw)
    message = _load_error()
    assert message.startswith(_record_label(stem, record) + f"field '{field}': Field required"), message


def test_unknown_section_names_the_file(data_copy: Callable[..., Path]) -> None:
    path = data_copy("gpus", shrink="gpus") / "gpus.yaml"
    raw = _read(path)
    raw["gpu"] = raw.pop("gpus")
    _write(path, raw)
    assert _load_error().startswith("data/gpus.yaml: unknown section 'gpu'")


def test_a_file_that_is_not_a_mapping_is_an_error(data_copy: Callable[..., Path]) -> None:
    (data_copy("gpus", shrink="gpus") / "gpus.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    assert _load_error().startswith("data/gpus.yaml: the top level must be a mapping")


def test_a_record_that_is_not_a_mapping_is_an_error(data_copy: Callable[..., Path]) -> None:
    path = data_copy("gpus", shrink="gpus") / "gpus.yaml"
    raw = _read(path)
    raw["gpus"][4] = "RTX 9090"
    _write(path, raw)
    assert _load_error().startswith("data/gpus.yaml: gpus record 5: must be a mapping")


REFERENCE_STEMS = sorted(set(TARGETS) - {"sources"})


def _break_source_reference(data_copy: Callable[..., Path], stem: str) -> dict[str, Any]:
    path, raw, record = _target_record(data_copy(*NEEDS[stem], shrink=stem), stem)
    record["source"] = ["no-such-source-2099"] if stem == "rules" else "no-such-source-2099"
    _write(path, raw)
    return record


@pytest.mark.parametrize("stem", REFERENCE_STEMS)
def test_missing_source_reference_names_file_record_and_field(data_copy: Callable[..., Path], stem: str) -> None:
    record = _break_source_reference(data_copy, stem)
    message = _load_error()
    assert message.startswith(_record_label(stem, record) + "field 'source': "), message
    assert "'no-such-source-2099' is not in the bibliography" in message, message


def test_removing_a_cited_source_is_an_error(data_copy: Callable[..., Path]) -> None:
    data_dir = data_copy(*NEEDS["formats"])
    sources_path = data_dir / "sources.yaml"
    raw = _read(sources_path)
    defined = {s["id"] for s in raw["sources"]}
    cited = next(f["source"] for f in _read(data_dir / "formats.yaml")["formats"] if f["source"] in defined)
    raw["sources"] = [s for s in raw["sources"] if s["id"] != cited]
    _write(sources_path, raw)
    assert f"{cited!r} is not in the bibliography" in _load_error()


def test_duplicate_id_across_bundled_files_is_an_error(data_copy: Callable[..., Path]) -> None:
    data_dir = data_copy("gpus", "sources", shrink="gpus")
    first = _read(data_dir / "sources.yaml")["sources"][0]
    raw = _read(data_dir / "gpus.yaml")
    raw["sources"].append(dict(first))
    _write(data_dir / "gpus.yaml", raw)
    message = _load_error()
    # files load in name order, so sources.yaml meets the id gpus.yaml already defined
    assert re.match(
        rf"data/sources\.yaml: sources record 1 \(id {re.escape(repr(first['id']))}\): "
        r"already defined in data/gpus\.yaml",
        message,
    ), message


def test_duplicate_id_within_one_file_is_an_error(data_copy: Callable[..., Path]) -> None:
    path = data_copy("gpus", shrink="gpus") / "gpus.yaml"
    raw = _read(path)
    raw["gpus"].append(dict(raw["gpus"][0]))
    _write(path, raw)
    message = _load_error()
    assert message.startswith(f"data/gpus.yaml: gpus record {len(raw['gpus'])} "), message
    assert message.endswith("already defined in data/gpus.yaml"), message


# --------------------------------------------------------------------------- override directory


def _override_dir(tmp_path: Path, ds: Dataset) -> tuple[Path, str, str]:
    """An extra directory that changes one bundled GPU, adds one GPU and adds one source."""
    bundled = next(iter(ds.gpus.values()))
    changed = {**bundled.model_dump(mode="json"), "memory_gib": 12345.0}
    added = {
        **bundled.model_dump(mode="json"),
        "name": "Test Accelerator 9000",
        "aliases": [],
        "memory_gib": 96.0,
        "source": "test-override-source",
    }
    extra = tmp_path / "mydata"
    extra.mkdir()
    _write(
        extra / "gpus.yaml",
        {
            "schema_version": 1,
            "sources": [
                {"id": "test-override-source", "title": "A local measurement", "authors": ["me"],
                 "year": 2026, "url": "https://example.invalid/measurement"}
            ],
            "gpus": [changed, added],
        },
    )  # fmt: skip
    return extra, bundled.name, "Test Accelerator 9000"


def test_extra_dir_extends_and_overrides(tmp_path: Path, ds: Dataset) -> None:
    extra, changed, added = _override_dir(tmp_path, ds)
    merged = load_dataset(extra)
    assert merged.gpus[changed].memory_gib == 12345.0
    assert merged.gpus[added].memory_gib == 96.0
    assert "test-override-source" in merged.sources
    assert len(merged.gpus) == len(ds.gpus) + 1
    assert list(merged.gpus).index(changed) == list(ds.gpus).index(changed), "overrides replace in place"
    assert extra / "gpus.yaml" in merged.files
    assert ds.gpus[changed].memory_gib != 12345.0, "the bundled records are not modified"


def test_env_var_names_the_extra_dir(
    data_copy: Callable[..., Path], tmp_path: Path, ds: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_copy("gpus", shrink="gpus")
    extra, changed, added = _override_dir(tmp_path, ds)
    monkeypatch.setenv(DATA_ENV_VAR, str(extra))
    merged = load_dataset()
    assert merged.gpus[changed].memory_gib == 12345.0
    assert added in merged.gpus


def test_extra_dir_argument_wins_over_env_var(
    data_copy: Callable[..., Path], tmp_path: Path, ds: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_copy("gpus", shrink="gpus")
    extra, changed, added = _override_dir(tmp_path, ds)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(DATA_ENV_VAR, str(extra))
    merged = load_dataset(empty)
    assert added not in merged.gpus
    assert merged.gpus[changed].memory_gib == ds.gpus[changed].memory_gib


def test_extra_dir_is_validated_the_same_way(data_copy: Callable[..., Path], tmp_path: Path, ds: Dataset) -> None:
    data_copy("gpus", shrink="gpus")
    extra, _, _ = _override_dir(tmp_path, ds)
    raw = _read(extra / "gpus.yaml")
    raw["gpus"][1]["memory_gib"] = -1
    _write(extra / "gpus.yaml", raw)
    message = _load_error(extra)
    assert message.startswith("mydata/gpus.yaml: gpus record 2 (name 'Test Accelerator 9000'): field 'memory_gib': "), (
        message
    )


def test_extra_dir_record_citing_an_unknown_source_is_an_error(
    data_copy: Callable[..., Path], tmp_path: Path, ds: Dataset
) -> None:
    data_copy("gpus", shrink="gpus")
    extra, _, added = _override_dir(tmp_path, ds)
    raw = _read(extra / "gpus.yaml")
    del raw["sources"]
    _write(extra / "gpus.yaml", raw)
    message = _load_error(extra)
    assert "'test-override-source' is not in the bibliography" in message, message
    assert repr(added) in message


def test_extra_dir_that_does_not_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DatasetError, match=r"--data names .* which is not a directory"):
        load_dataset(tmp_path / "nowhere")
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=rf"{DATA_ENV_VAR} names .* which is not a directory"):
        load_dataset()


def test_loading_is_cached(data_copy: Callable[..., Path], tmp_path: Path) -> None:
    data_copy("gpus", shrink="gpus")
    first = load_dataset()
    assert load_dataset() is first
    assert load_dataset(tmp_path / "data") is not first, "an extra directory is cached under its own key"


def test_unknown_format_suggests_close_names(ds: Dataset) -> None:
    from quantadvisor.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError) as info:
        ds.format("Q4_K_N")
    assert info.value.hint is not None
    assert "Q4_K_M" in info.value.hint
    assert ds.format("q4_k_m").name == "Q4_K_M"


def test_validated_dataset_is_cached_on_disk_and_survives_a_corrupt_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import quantadvisor.dataset as dataset_module

    monkeypatch.setenv("QUANTADVISOR_CACHE_DIR", str(tmp_path))
    dataset_module._load_cached.cache_clear()
    first = dataset_module.load_dataset()
    pickles = list((tmp_path / "quantadvisor").glob("dataset-*.pickle"))
    assert len(pickles) == 1
    dataset_module._load_cached.cache_clear()
    assert dataset_module.load_dataset() == first  # served from the pickle
    pickles[0].write_bytes(b"not a pickle")
    dataset_module._load_cached.cache_clear()
    assert dataset_module.load_dataset() == first  # a corrupt cache is ignored and rewritten
    dataset_module._load_cached.cache_clear()


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"when": {"params_mx": 14.99}, "then": {"bump": 1}}, "unknown condition 'params_mx'"),
        ({"when": {"task": "code"}, "then": {}}, "condition 'task' must be list"),
        ({"when": {}, "then": {"target": "Q5_K"}}, "'Q5_K' is not on the quant ladder"),
        ({"when": {}, "then": {"prefer_vram": True}}, "unknown action 'prefer_vram'"),
    ],
)
def test_rule_typos_are_dataset_errors(tmp_path: Path, rule: dict[str, object], fragment: str) -> None:
    import quantadvisor.dataset as dataset_module
    import yaml
    from quantadvisor.errors import DatasetError

    record = {"id": "typo", "question": "Q2-size", "says": "x", "source": ["song-2025-on-device"],
              "provenance": "secondary", **rule}  # fmt: skip
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"schema_version": 1, "rules": [record]}))
    dataset_module._load_cached.cache_clear()
    with pytest.raises(DatasetError, match=fragment):
        dataset_module.load_dataset(tmp_path)
    dataset_module._load_cached.cache_clear()


def test_reference_specs_are_resolved_with_the_data(ds: Dataset) -> None:
    from quantadvisor.architecture import load_model_spec

    assert set(ds.reference_specs) == {a.shorthand for a in ds.architectures.values()}
    arch, spec = ds.reference_specs["9b"]
    assert arch is ds.architectures["9b"]
    assert spec.approximate
    assert spec.stands_for == arch.stands_for
    assert load_model_spec("9b", ds) is spec, "the shorthand resolves to the pickled spec itself"


def test_a_copy_with_other_architectures_resolves_its_own_specs(ds: Dataset) -> None:
    import dataclasses

    from quantadvisor.architecture import load_model_spec

    arch = ds.architectures["8b"]
    shallow = arch.model_copy(update={"config": {**arch.config, "num_hidden_layers": 16}})
    copy = dataclasses.replace(ds, architectures={**ds.architectures, "8b": shallow})
    assert load_model_spec("8b", copy).n_layers == 16
    assert load_model_spec("8b", ds).n_layers == 32


def test_an_architecture_with_an_impossible_shape_names_its_record(tmp_path: Path, ds: Dataset) -> None:
    bundled = bundled_data_dir() / "architectures.yaml"
    raw = _read(bundled)
    arch = dict(raw["architectures"][0])
    arch["config"] = {**arch["config"], "num_hidden_layers": 0}
    (tmp_path / "extra").mkdir()
    _write(tmp_path / "extra" / "architectures.yaml", {"schema_version": 1, "architectures": [arch]})
    with pytest.raises(DatasetError, match=rf"architectures record 1 \(shorthand '{arch['shorthand']}'\).*config"):
        load_dataset(tmp_path / "extra")


def test_derived_values_are_computed_once_and_never_pickled(ds: Dataset) -> None:
    import pickle

    calls: list[int] = []
    first = ds.derived(("test", "once"), lambda: calls.append(1) or {"value": 1})
    assert ds.derived(("test", "once"), lambda: calls.append(1) or {"value": 2}) is first
    assert calls == [1]
    copy = pickle.loads(pickle.dumps(ds))  # noqa: S301 - our own bytes
    assert ("test", "once") not in copy._derived, "the code computing them is not in the disk cache key"
    assert copy.gpus == ds.gpus


def test_a_persisted_value_is_computed_once_per_data_and_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dataset.persisted keeps a costly derived value (the loss fit) on disk, keyed by data and code."""
    import dataclasses

    import quantadvisor.dataset as dataset_module

    monkeypatch.setenv("QUANTADVISOR_CACHE_DIR", str(tmp_path))
    code = tmp_path / "code.py"
    code.write_text("v1\n")
    calls: list[int] = []

    def compute() -> dict[str, int]:
        calls.append(1)
        return {"value": len(calls)}

    dataset_module._load_cached.cache_clear()
    try:
        first = dataset_module.load_dataset()
        assert first.persisted("probe", dict, compute, [code]) == {"value": 1}
        assert len(list((tmp_path / "quantadvisor").glob("derived-probe-*.pickle"))) == 1
        dataset_module._load_cached.cache_clear()
        again = dataset_module.load_dataset()
        assert again is not first
        assert again.persisted("probe", dict, compute, [code]) == {"value": 1}  # read from disk
        assert len(calls) == 1
        code.write_text("v2, a different size\n")  # edited code is never served an old value
        dataset_module._load_cached.cache_clear()
        assert dataset_module.load_dataset().persisted("probe", dict, compute, [code]) == {"value": 2}
        copy = dataclasses.replace(again)  # a copy (cross-validation folds) has no disk key
        assert copy.persisted("probe", dict, compute, [code]) == {"value": 3}
        assert len(list((tmp_path / "quantadvisor").glob("derived-probe-*.pickle"))) == 2
        for path in (tmp_path / "quantadvisor").glob("derived-probe-*.pickle"):
            path.write_bytes(b"not a pickle")  # a corrupt file is a miss, not an error
        dataset_module._load_cached.cache_clear()
        assert dataset_module.load_dataset().persisted("probe", dict, compute, [code]) == {"value": 4}
    finally:
        dataset_module._load_cached.cache_clear()
