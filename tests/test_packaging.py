"""The built wheel carries every data file and works without the repository next to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with the hatchling installed by the test extra, offline.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("quantadvisor-*.whl")
    return built


@pytest.mark.slow
def test_wheel_holds_every_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for data_file in sorted((REPO / "data").glob("*.yaml")):
        assert f"quantadvisor/_data/{data_file.name}" in names, data_file.name
    assert "quantadvisor/py.typed" in names


@pytest.mark.slow
def test_non_editable_install_finds_the_data(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # The installed copy comes first on the path; the repository is not the working directory.
    env = {**os.environ, "PYTHONPATH": str(target), "QUANTADVISOR_NO_CACHE": "1"}
    code = (
        "import json, quantadvisor.dataset as d; ds = d.load_dataset(); "
        "print(json.dumps([str(d.bundled_data_dir()), len(ds.formats), len(ds.gpus), len(ds.evidence)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    data_dir, n_formats, n_gpus, n_evidence = json.loads(result.stdout)
    assert Path(data_dir).is_relative_to(target)
    assert n_formats >= 40
    assert n_gpus >= 60
    assert n_evidence >= 200
    cli = subprocess.run(
        [sys.executable, "-m", "quantadvisor", "suggest", "--task", "code", "--vram", "8", "--model", "9b", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["pick"]["quant"] == "Q4_K_M"  # 8 GiB less the 1 GiB margin
