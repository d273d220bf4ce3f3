"""rank_files / pick_file against the local Hub look-alike (tests/hubserver.py): the real huggingface_hub client."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
pytest.importorskip("huggingface_hub")

from quantadvisor import (  # noqa: E402
    HubError,
    InvalidRequestError,
    ModelResolutionError,
    NothingFitsError,
    pick_file,
    rank_files,
    recommend,
)
from quantadvisor.architecture import spec_from_config  # noqa: E402
from quantadvisor.cli import main  # noqa: E402
from quantadvisor.errors import ExitCode  # noqa: E402

import test_hub  # noqa: E402 - reuses its Hub fixture; after the importorskips on purpose
from conftest import LLAMA31_8B_CONFIG  # noqa: E402
from hubserver import FakeFile, FakeRepo  # noqa: E402

hub = test_hub.hub  # the fake Hub on 127.0.0.1, named by HF_ENDPOINT, with a fresh cache and no login

GiB = 2**30
REPO = "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF"
STEM = "Meta-Llama-3.1-8B-Instruct"
# Published sizes of bartowski's Llama-3.1-8B-Instruct builds (bytes), Q8_0 split here to test joining.
SIZES = {
    f"{STEM}-Q8_0/{STEM}-Q8_0-00001-of-00002.gguf": 5_000_000_000,
    f"{STEM}-Q8_0/{STEM}-Q8_0-00002-of-00002.gguf": 3_540_789_728,
    f"{STEM}-Q6_K_L.gguf": 6_850_179_232,
    f"{STEM}-Q6_K.gguf": 6_596_011_424,
    f"{STEM}-Q5_K_M.gguf": 5_732_992_416,
    f"{STEM}-Q4_K_M.gguf": 4_920_739_232,
    f"{STEM}-IQ4_XS.gguf": 4_447_688_608,
    f"{STEM}-Q3_K_M.gguf": 4_018_918_304,
    f"{STEM}-IQ2_M.gguf": 2_948_530_592,
}
MMPROJ = f"mmproj-{STEM}-f16.gguf"
MMPROJ_BYTES = 624_434_336
NVFP4_CONFIG = {
    **LLAMA31_8B_CONFIG,
    "quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16},
}


def llama_header(tmp_path, *, file_type: int | None = None) -> bytes:
    """The head of a Llama-3.1-8B GGUF as gguf.GGUFWriter writes it: real metadata, one small tensor."""
    path = tmp_path / "llama.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Meta Llama 3.1 8B Instruct")
    writer.add_block_count(32)
    writer.add_context_length(131072)
    writer.add_embedding_length(4096)
    writer.add_feed_forward_length(14336)
    writer.add_head_count(32)
    writer.add_head_count_kv(8)
    writer.add_vocab_size(128256)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_tensor("output_norm.weight", np.zeros(4096, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


@pytest.fixture
def bartowski(hub, tmp_path):
    """A bartowski-like repo: single files, a 2-part split in a folder, an mmproj, an imatrix and a README."""
    head = llama_header(tmp_path)
    files = {name: FakeFile(head, size=size) for name, size in SIZES.items()}
    files[MMPROJ] = FakeFile(head, size=MMPROJ_BYTES)
    files[f"{STEM}.imatrix"] = FakeFile(b"imatrix", size=5_000_000)
    files["README.md"] = FakeFile(b"# Llama", lfs=False)
    hub.add_repo(REPO, FakeRepo(files=files, branches=("main", "v2")))
    return hub


def option_by_file(rec, name):
    return next(o for o in rec.options if o.file == name)


# -- a GGUF repo -----------------------------------------------------------------------------------------------


def test_rank_a_bartowski_like_repo(bartowski):
    rec = rank_files(REPO, task="code", vram_gib=8)
    first_part = f"{STEM}-Q8_0/{STEM}-Q8_0-00001-of-00002.gguf"
    expected = {name for name in SIZES if "00002-of" not in name}
    assert {o.file for o in rec.options} == expected  # no mmproj, no imatrix, one entry per split build
    assert rec.model == REPO
    assert not rec.model_approximate
    for o in rec.options:
        real = sum(size for name, size in SIZES.items() if name.startswith(o.file.split("-00001-of")[0]))
        assert o.memory.file_bytes == real  # each option is sized from its real file
        assert o.family == "gguf"
    q8 = option_by_file(rec, first_part)
    assert q8.quant == "Q8_0"
    assert any("split in 2 parts" in n and "00002-of-00002.gguf" in n for n in q8.notes)
    assert [p.rsplit("-", 3)[-3:] for p in q8.files] == [["00001", "of", "00002.gguf"], ["00002", "of", "00002.gguf"]]
    assert all(o.files == [o.file] for o in rec.options if o.quant != "Q8_0")
    q6l = option_by_file(rec, f"{STEM}-Q6_K_L.gguf")
    assert q6l.quant == "Q6_K"
    assert any(n.startswith("Q6_K_L is a Q6_K build") for n in q6l.notes)
    assert q6l.memory.weights_bytes > option_by_file(rec, f"{STEM}-Q6_K.gguf").memory.weights_bytes
    pick = rec.pick
    assert pick is not None
    assert pick.fit == "gpu"
    assert pick.memory.total_bytes <= 8 * GiB
    # Only the header was read, by range requests: no GGUF file was downloaded whole.
    gets = [r for r in bartowski.requests if r.method == "GET" and r.path.endswith(".gguf")]
    assert gets
    assert all(r.headers.get("range", "").startswith("bytes=0-") for r in gets)
    assert sum(r.body_bytes for r in bartowski.requests) < 3 * 2**20


def test_files_rank_like_recommend_ranks_quant_types(bartowski):
    """Fits, expected loss, runner flags and the trace are recommend()'s for the same shape and budget."""
    rec = rank_files(REPO, task="code", vram_gib=8, context_tokens=8192)
    ref = recommend("code", model=spec_from_config(LLAMA31_8B_CONFIG, name="ref"), vram_gib=8, context_tokens=8192)
    by_quant = {o.quant: o for o in ref.options}
    for o in rec.options:
        twin = by_quant[o.quant]
        # The header's shape lacks only the 64 llama3 rope factors of the config's: the same loss to 1e-6,
        # unless the real file's few extra bytes made it plan with another KV cache (whose cost is in the loss).
        if o.expected_loss.kv_cache == twin.expected_loss.kv_cache:
            assert o.expected_loss.mid == pytest.approx(twin.expected_loss.mid, rel=1e-6)
            assert o.expected_loss.records == twin.expected_loss.records
        else:
            assert o.memory.cache_type_k != twin.memory.cache_type_k
        assert o.meets_target == twin.meets_target
        assert o.below_floor == twin.below_floor
        # A real file within 1% of the predicted size fits the same way with the same flags.
        if abs(o.memory.file_bytes - twin.memory.file_bytes) < 0.01 * twin.memory.file_bytes:
            assert (o.fit, o.runner_flags) == (twin.fit, twin.runner_flags)
    assert (rec.target, rec.floor) == (ref.target, ref.floor)
    assert [r.id for r in rec.trace if r.applies_to is None] == [r.id for r in ref.trace if r.applies_to is None]
    ranked = list(dict.fromkeys(o.quant for o in rec.options))  # Q6_K and Q6_K_L are both Q6_K
    assert ranked == [o.quant for o in ref.options if o.quant in ranked]


def test_weights_are_the_real_file_laid_out_like_the_mix(bartowski):
    rec = rank_files(REPO, task="chat", vram_gib=4, ram_gib=64)
    o = option_by_file(rec, f"{STEM}-Q4_K_M.gguf")
    assert o.fit == "partial"
    assert 0 < o.gpu_layers < 33
    held = o.memory.weights_bytes + o.memory.host_weights_bytes
    assert 0.99 * SIZES[f"{STEM}-Q4_K_M.gguf"] < held < SIZES[f"{STEM}-Q4_K_M.gguf"]


def test_multimodal_keeps_the_mmproj_on_the_gpu(bartowski):
    text = rank_files(REPO, task="chat", vram_gib=8)
    both = rank_files(REPO, task="chat", vram_gib=8, multimodal=True)
    assert both.hardware.reserved_bytes == MMPROJ_BYTES
    assert both.hardware.llm_vram_bytes == text.hardware.llm_vram_bytes - MMPROJ_BYTES
    assert any(MMPROJ in n and "--mmproj" in n for n in both.notes)
    assert MMPROJ not in {o.file for o in both.options}
    same = option_by_file(both, f"{STEM}-Q4_K_M.gguf")
    assert same.headroom_bytes == option_by_file(text, f"{STEM}-Q4_K_M.gguf").headroom_bytes - MMPROJ_BYTES


def test_multimodal_without_an_mmproj_says_so(hub, tmp_path):
    hub.add_repo("org/Text-GGUF", FakeRepo(files={"t-Q4_K_M.gguf": FakeFile(llama_header(tmp_path), size=5 * 10**9)}))
    rec = rank_files("org/Text-GGUF", task="chat", vram_gib=8, multimodal=True)
    assert rec.hardware.reserved_bytes == 0
    assert any("has no mmproj file" in n for n in rec.notes)


def test_pick_file_returns_a_file_that_fits_8_gib(bartowski):
    name = pick_file(REPO, task="code", vram_gib=8)
    assert name in SIZES
    option = option_by_file(rank_files(REPO, task="code", vram_gib=8), name)
    assert option.fit == "gpu"
    assert option.memory.total_bytes <= 8 * GiB
    assert pick_file(REPO, task="chat", vram_gib=24, prefer="quality").startswith(f"{STEM}-Q8_0/")


def test_pick_file_raises_nothing_fits(bartowski):
    # 0.5 GiB is below llama.cpp's GPU buffers: planned CPU-only, as --vram 0, against the 2 GiB of RAM.
    match = r"no GGUF file of .* fits 2\.0 GiB of RAM \(0\.5 GiB of VRAM is below llama.cpp's GPU buffers: CPU only\)"
    with pytest.raises(NothingFitsError, match=match) as info:
        pick_file(REPO, task="chat", vram_gib=0.5, ram_gib=2, margin_gib=0)
    assert f"{STEM}-IQ2_M.gguf" in str(info.value)  # the smallest is named
    assert info.value.exit_code == ExitCode.NOTHING_FITS
    assert info.value.hint


def test_revision_reaches_the_hub(bartowski):
    rank_files(REPO + "@v2", task="chat", vram_gib=8)
    assert any(r.path == f"/api/models/{REPO}/revision/v2" for r in bartowski.requests)
    assert any("/resolve/v2/" in r.path for r in bartowski.requests)
    with pytest.raises(InvalidRequestError, match="two revisions"):
        rank_files(REPO + "@v2", task="chat", vram_gib=8, revision="main")


def test_header_file_type_names_an_unnamed_file(hub, tmp_path):
    head = llama_header(tmp_path, file_type=15)  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    hub.add_repo("org/Plain-GGUF", FakeRepo(files={"model.gguf": FakeFile(head, size=4_920_739_232)}))
    rec = rank_files("org/Plain-GGUF", task="chat", vram_gib=8)
    assert [(o.file, o.quant) for o in rec.options] == [("model.gguf", "Q4_K_M")]


def test_unreadable_header_falls_back_to_model_then_config(hub, tmp_path):
    hostile = b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62)
    files = {"m-Q4_K_M.gguf": FakeFile(hostile, size=4_920_739_232)}
    hub.add_repo("evil/Evil-GGUF", FakeRepo(files=dict(files)))
    rec = rank_files("evil/Evil-GGUF", task="chat", vram_gib=8, model="8b")
    assert rec.options[0].file == "m-Q4_K_M.gguf"
    assert any(
        n.startswith("shapes from model=8b (the GGUF header of evil/Evil-GGUF could not be read") for n in rec.notes
    )
    with pytest.raises(ModelResolutionError, match="metadata keys") as info:
        rank_files("evil/Evil-GGUF", task="chat", vram_gib=8)
    assert "model=" in (info.value.hint or "")

    config = FakeFile(json.dumps(LLAMA31_8B_CONFIG).encode(), lfs=False)
    hub.add_repo("evil/WithConfig-GGUF", FakeRepo(files={**files, "config.json": config}))
    rec = rank_files("evil/WithConfig-GGUF", task="chat", vram_gib=8)
    assert rec.options[0].memory.n_layers == 33
    assert any(n.startswith("shapes from config.json (the GGUF header") for n in rec.notes)

    hub.add_repo("meta/Llama-8B", FakeRepo(files={"config.json": config}))
    hub.add_repo("evil/WithBase-GGUF", FakeRepo(files=dict(files), card_data={"base_model": "meta/Llama-8B"}))
    rec = rank_files("evil/WithBase-GGUF", task="chat", vram_gib=8)
    assert any(n.startswith("shapes from config.json of the base model meta/Llama-8B") for n in rec.notes)


def test_offline_ranks_the_cached_files_without_a_request(hub, tmp_path, monkeypatch):
    import os

    from huggingface_hub import hf_hub_download

    head = llama_header(tmp_path)
    hub.add_repo("org/Cached-GGUF", FakeRepo(files={"c-Q5_K_M.gguf": FakeFile(head), "c-Q8_0.gguf": FakeFile(head)}))
    hf_hub_download("org/Cached-GGUF", "c-Q5_K_M.gguf", endpoint=hub.url, cache_dir=os.environ["HF_HUB_CACHE"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = len(hub.requests)
    rec = rank_files("org/Cached-GGUF", task="chat", vram_gib=8)
    assert [(o.file, o.memory.file_bytes) for o in rec.options] == [("c-Q5_K_M.gguf", len(head))]
    assert len(hub.requests) == seen
    with pytest.raises(HubError, match="HF_HUB_OFFLINE is set"):
        rank_files(REPO, task="chat", vram_gib=8)


def test_model_is_not_needed_when_the_header_reads(bartowski):
    rec = rank_files(REPO, task="chat", vram_gib=8, model="70b")
    assert rec.options[0].memory.n_layers == 33  # the header's 32 layers, not the 70B's 80
    assert "shapes from the GGUF header (exact); model= was not needed" in rec.notes


# -- a list of (name, size) pairs ------------------------------------------------------------------------------


def test_rank_a_list_of_pairs_with_a_size_shorthand():
    pairs = [*SIZES.items(), (MMPROJ, MMPROJ_BYTES), ("README.md", 5000)]
    rec = rank_files(pairs, task="code", vram_gib=8, model="8b")
    assert {o.file for o in rec.options} == {n for n in SIZES if "00002-of" not in n}
    assert rec.model_approximate  # a shorthand stands for a reference shape
    assert pick_file(dict(pairs), task="code", vram_gib=8, model="8b") == rec.pick.file
    assert (
        rank_files(pairs, task="code", vram_gib=8, model="8b", multimodal=True).hardware.reserved_bytes == MMPROJ_BYTES
    )


@pytest.mark.parametrize(
    ("files", "model", "fragment"),
    [
        ([("a-Q4_K_M.gguf", 10**9)], None, "needs model="),
        ([("a-Q4_K_M.gguf",)], "8b", "pairs"),
        ([("a-Q4_K_M.gguf", -1)], "8b", "positive number of bytes"),
        ([("a-Q4_K_M.gguf", "big")], "8b", "positive number of bytes"),
        ([("README.md", 10)], "8b", "no GGUF model files"),
    ],
)
def test_bad_lists_are_invalid_requests(files, model, fragment):
    with pytest.raises(InvalidRequestError, match=fragment):
        rank_files(files, task="chat", vram_gib=8, model=model)


def test_files_without_a_quant_type_are_left_out_with_a_note():
    rec = rank_files([("a-Q4_K_M.gguf", 4_920_739_232), ("b.gguf", 10**9)], task="chat", vram_gib=8, model="8b")
    assert [o.file for o in rec.options] == ["a-Q4_K_M.gguf"]
    assert "b.gguf: no quant type in the name; left out" in rec.notes
    with pytest.raises(ModelResolutionError, match="can be sized"):
        rank_files([("b.gguf", 10**9)], task="chat", vram_gib=8, model="8b")


# -- safetensors repos -----------------------------------------------------------------------------------------


def test_safetensors_repo_says_which_builds_to_look_for(hub):
    files = {
        "config.json": FakeFile(json.dumps(LLAMA31_8B_CONFIG).encode(), lfs=False),
        "model-00001-of-00004.safetensors": FakeFile(b"{}", size=4_976_698_672),
    }
    hub.add_repo("meta-llama/Llama-3.1-8B-Instruct", FakeRepo(files=files))
    rec = rank_files("meta-llama/Llama-3.1-8B-Instruct", task="code", vram_gib=8)
    assert rec.pick is not None
    assert rec.pick.file is None
    assert (
        rec.notes[0]
        == "meta-llama/Llama-3.1-8B-Instruct holds safetensors weights, no GGUF files: sized from its config.json"
    )
    look = [n for n in rec.notes if n.startswith("look for")]
    assert look == [  # the model catalog knows this repo's well-known GGUF build
        f"look for GGUF {rec.pick.quant} builds of meta-llama/Llama-3.1-8B-Instruct: "
        "unsloth/Llama-3.1-8B-Instruct-GGUF (suggest --model unsloth/Llama-3.1-8B-Instruct-GGUF ranks its real files)"
    ]
    with pytest.raises(ModelResolutionError, match="has no GGUF files to download") as info:
        pick_file("meta-llama/Llama-3.1-8B-Instruct", task="code", vram_gib=8)
    assert info.value.hint == look[0]
    assert recommend("code", model="meta-llama/Llama-3.1-8B-Instruct", vram_gib=8).notes == rec.notes


def test_nvfp4_modelopt_repo_is_recognised(hub):
    config = FakeFile(json.dumps(NVFP4_CONFIG).encode(), lfs=False)
    hub.add_repo("nvidia/Llama-3.1-8B-Instruct-FP4", FakeRepo(files={"config.json": config}))
    rec = rank_files("nvidia/Llama-3.1-8B-Instruct-FP4", task="chat", gpu="RTX 5090")
    assert rec.notes[0] == (
        "nvidia/Llama-3.1-8B-Instruct-FP4 is an NVFP4 checkpoint (ModelOpt): "
        "it runs in vLLM or TensorRT-LLM, not llama.cpp"
    )
    nvfp4 = next(o for o in rec.options if o.quant == "NVFP4")
    assert nvfp4.family == "serving"
    assert nvfp4.native
    assert nvfp4.fit == "gpu"
    assert nvfp4.runner_flags[:3] == ["vllm", "serve", "nvidia/Llama-3.1-8B-Instruct-FP4"]
    assert rec.notes[1].startswith("as NVFP4 it fits on the GPU")

    unknown = rank_files("nvidia/Llama-3.1-8B-Instruct-FP4", task="chat", vram_gib=32)
    assert unknown.notes[0] == rec.notes[0]
    assert "pass gpu= (--gpu)" in unknown.notes[1]
    assert all(o.family == "gguf" for o in unknown.options)


def test_repo_with_nothing_to_size(hub):
    hub.add_repo("org/Empty", FakeRepo(files={"README.md": FakeFile(b"# nothing", lfs=False)}))
    with pytest.raises(ModelResolutionError, match=r"has no GGUF files and no config\.json") as info:
        rank_files("org/Empty", task="chat", vram_gib=8)
    assert not isinstance(info.value, HubError)
    assert rank_files("org/Empty", task="chat", vram_gib=8, model="8b").options


# -- recommend() and the CLI -----------------------------------------------------------------------------------


def test_recommend_routes_repo_ids_to_rank_files(bartowski):
    rec = recommend("code", model=REPO, vram_gib=8)
    assert rec.pick is not None
    assert rec.pick.file in SIZES


def test_a_local_path_is_never_a_repo_id(hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidRequestError, match=r"models/x\.gguf: no such file"):
        recommend("chat", model="models/x.gguf", vram_gib=8)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "x.gguf").write_bytes(llama_header(tmp_path))
    rec = recommend("chat", model="models/x.gguf", vram_gib=8)
    assert rec.options
    # The local file itself is ranked among the types it could be requantized to; nothing asks the Hub.
    assert {o.file for o in rec.options if o.file} <= {"models/x.gguf"}
    assert hub.requests == []


def test_cli_suggest_a_repo(bartowski, capsys):
    argv = ["suggest", "--task", "code", "--vram", "8", "--model", REPO, "--revision", "v2", "--multimodal"]
    assert main([*argv, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["pick"]["file"] in SIZES
    assert payload["hardware"]["reserved_bytes"] == MMPROJ_BYTES
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"llama-server -m models/{payload['pick']['file']} -ngl" in out  # after hf download --revision v2
    assert f"hf download {REPO} --include {payload['pick']['file']} --include {MMPROJ} --revision v2" in out
    assert " Q4_K_M " in out  # 80 columns (a pipe): the quant column, no file column
    assert " Q8_0 ×2 " in out  # a build split in two files


def test_cli_revision_needs_a_repo(capsys):
    assert main(["suggest", "--task", "code", "--vram", "8", "--model", "8b", "--revision", "v2"]) == 2
    assert capsys.readouterr().err.startswith("Error: --revision applies to a Hugging Face repo id")


@pytest.mark.parametrize(
    ("repo_id", "message", "hint"),
    [
        ("org/Missing-GGUF", "Error: repo org/Missing-GGUF was not found on http://127.0.0.1", "spelling"),
        ("meta-llama/Gated-GGUF", "Error: meta-llama/Gated-GGUF is a gated repo", "hf auth login"),
        ("org/Limited-GGUF", "Error: the Hub is rate-limiting requests (HTTP 429)", "retry"),
    ],
)
def test_cli_hub_errors_exit_4_with_one_line(hub, tmp_path, capsys, repo_id, message, hint):
    head = llama_header(tmp_path)
    hub.add_repo("meta-llama/Gated-GGUF", FakeRepo(files={"g-Q4_K_M.gguf": FakeFile(head, size=GiB)}, gated=True))
    hub.add_repo("org/Limited-GGUF", FakeRepo(status=429))
    assert main(["suggest", "--task", "chat", "--vram", "8", "--model", repo_id]) == ExitCode.ENVIRONMENT
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert errors[0].startswith(message)
    assert hint in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    with pytest.raises(HubError) as info:
        pick_file(repo_id, task="chat", vram_gib=8)
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    assert info.value.repo_id == repo_id


def test_ternary_files_have_no_nan_in_json() -> None:
    import json

    from quantadvisor import rank_files

    rec = rank_files(
        [("m-TQ1_0.gguf", 2_200_000_000), ("m-Q4_K_M.gguf", 4_920_733_856)], task="code", vram_gib=8, model="8b"
    )
    text = json.dumps(rec.model_dump(mode="json"), allow_nan=False)  # raises on NaN/inf
    tq = next(o for o in rec.options if o.quant == "TQ1_0")
    assert tq.expected_loss.mid is None
    assert '"mid": null' in text
    assert rec.options[0].quant == "Q4_K_M"  # an unknown loss never outranks a known one


def test_pick_file_without_a_gpu_plans_from_host_ram(monkeypatch) -> None:
    # No GPU found: the same CPU-only plan as recommend(), not a HardwareDetectionError.
    from quantadvisor.hardware import HardwareReport

    ram = 6 * GiB
    report = HardwareReport(gpus=[], host_ram_bytes=ram, host_ram_available_bytes=ram, source="none")
    monkeypatch.setattr("quantadvisor.hardware.detect_hardware", lambda: report)
    name = pick_file(list(SIZES.items()), task="chat", model="8b")
    option = option_by_file(rank_files(list(SIZES.items()), task="chat", model="8b"), name)
    assert option.gpu_layers == 0
    assert option.memory.host_bytes <= ram
    with pytest.raises(NothingFitsError, match="GiB of RAM"):
        pick_file(list(SIZES.items()), task="chat", model="8b", ram_gib=1)
