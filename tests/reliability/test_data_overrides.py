"""Corrupted data/ overrides (--data DIR): an empty, truncated, oversized or aliased file, or a record id given
twice, is a DatasetError naming the file, never silently accepted; names in overrides print safely."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml
from quantadvisor import limits
from quantadvisor.dataset import load_dataset
from quantadvisor.errors import DatasetError, ExitCode

if TYPE_CHECKING:
    from pathlib import Path


def gpu_record(name: str = "Test Accelerator 9000") -> dict[str, object]:
    bundled = next(iter(load_dataset().gpus.values()))
    return {**bundled.model_dump(mode="json"), "name": name, "aliases": [], "memory_gib": 96.0}


def override(tmp_path: Path, text: str, name: str = "gpus.yaml") -> Path:
    folder = tmp_path / "mydata"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def good_text(*names: str) -> str:
    return yaml.safe_dump({"schema_version": 1, "gpus": [gpu_record(n) for n in names or ("Test Accelerator 9000",)]})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "mydata/gpus.yaml: the file is empty"),
        ("  \n\n", "mydata/gpus.yaml: the file is empty"),
        ("# nothing but a comment\n", "mydata/gpus.yaml: the file holds no YAML document"),
        ("schema_version: 1\ngpus:\n  - name: X", "mydata/gpus.yaml: the file does not end with a newline"),
        ("schema_version: 1\ngpus:\n  - {name: 'X',\n", "mydata/gpus.yaml: invalid YAML"),
    ],
)
def test_empty_or_truncated_override_is_an_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message.replace("(", r"\(")):
        load_dataset(override(tmp_path, text))


def test_half_truncated_override_is_an_error(tmp_path: Path) -> None:
    text = good_text()
    with pytest.raises(DatasetError, match=r"mydata/gpus\.yaml"):
        load_dataset(override(tmp_path, text[: len(text) // 2]))


def test_duplicate_ids_in_one_override_file_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"mydata/gpus.yaml: gpus record 2 .*already defined in mydata/gpus.yaml"):
        load_dataset(override(tmp_path, good_text("Dup GPU", "Dup GPU")))


def test_the_same_id_in_two_override_files_is_an_error(tmp_path: Path) -> None:
    override(tmp_path, good_text("Dup GPU"), "a.yaml")
    folder = override(tmp_path, good_text("Dup GPU"), "b.yaml")
    with pytest.raises(DatasetError, match=r"mydata/b.yaml: .*\(another override file\)"):
        load_dataset(folder)


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["schema_version: 1", "x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 values
    with pytest.raises(DatasetError, match=r"mydata/gpus\.yaml: more than 1,000,000 YAML values"):
        load_dataset(override(tmp_path, "\n".join(lines) + "\n"))


def test_oversized_override_is_refused_before_parsing(tmp_path: Path) -> None:
    folder = tmp_path / "mydata"
    folder.mkdir()
    with (folder / "big.yaml").open("wb") as f:  # sparse
        f.seek(limits.MAX_DATA_FILE_BYTES + 1)
        f.write(b"\n")
    with pytest.raises(DatasetError, match=r"mydata/big\.yaml: over the 32 MiB limit"):
        load_dataset(folder)


@pytest.mark.parametrize("argv_data", ["", " "])
def test_empty_data_dir_is_an_error(argv_data: str, capsys: pytest.CaptureFixture[str]) -> None:
    from quantadvisor.cli import main

    assert main(["--data", argv_data, "gpus"]) == ExitCode.USAGE
    assert "--data is empty" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="is empty"):
        load_dataset(argv_data)


def test_corrupt_override_in_the_cli_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from quantadvisor.cli import main

    folder = override(tmp_path, "")
    assert main(["--data", str(folder), "gpus"]) == ExitCode.ERROR
    err = capsys.readouterr().err
    assert (
        err == "Error: mydata/gpus.yaml: the file is empty\nHint: remove it, or give it a schema_version and records\n"
    )


def test_hostile_names_in_an_override_print_safely(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from quantadvisor.cli import main

    folder = override(tmp_path, good_text("\x1b[2J\x1b]0;t\x07[bold red]Evil[/] GPU", "Test Accelerator 9000"))
    assert "Test Accelerator 9000" in load_dataset(folder).gpus  # a good override loads
    assert main(["--data", str(folder), "gpus", "--search", "Evil"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "[bold red]Evil[/] GPU" in out
