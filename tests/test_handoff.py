"""Hand-off commands (quantadvisor/handoff.py): exact text for a bartowski-like repo on the local Hub
look-alike (a split build, a variant, an mmproj), a revision, a serving checkpoint, and quoting."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

pytest.importorskip("gguf")
pytest.importorskip("huggingface_hub")

from quantadvisor import rank_files
from quantadvisor.handoff import handoff_lines, llama_cpp_tag

import test_files
import test_hub
from hubserver import FakeFile, FakeRepo

hub = test_hub.hub
bartowski = test_files.bartowski
REPO, STEM = test_files.REPO, test_files.STEM
GOLDEN = Path(__file__).resolve().parent / "golden"


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("QUANTADVISOR_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: regenerate on purpose if intended"


def _dump(rec) -> str:
    out = []
    for o in rec.options:
        out.append(f"# {o.file} ({o.quant}, {o.fit})")
        assert o.handoff is not None
        out += handoff_lines(o.handoff)
        out += [f"· {n}" for n in o.handoff.notes]
        out.append(f"ollama parameters: {o.handoff.ollama_parameters} env: {o.handoff.ollama_env}")
    return "\n".join(out) + "\n"


def test_every_file_of_a_repo_gets_its_commands(bartowski):
    rec = rank_files(REPO, task="code", vram_gib=8, ram_gib=32)
    _check("handoff-bartowski-8gib.txt", _dump(rec))


def test_split_build_downloads_every_part_and_runs_from_the_first(bartowski):
    rec = rank_files(REPO, task="chat", vram_gib=24)
    q8 = next(o for o in rec.options if o.quant == "Q8_0")
    h = q8.handoff
    assert h is not None
    first = f"{STEM}-Q8_0/{STEM}-Q8_0-00001-of-00002.gguf"
    assert h.hf_download == (
        f"hf download {REPO} --include '{STEM}-Q8_0/{STEM}-Q8_0-*-of-00002.gguf' --local-dir models"
    )
    assert h.llama_server == f"llama-server -hf {REPO}:Q8_0 {' '.join(q8.runner_flags)} --no-mmproj"
    assert h.llama_server_local == f"llama-server -m models/{first} {' '.join(q8.runner_flags)}"
    assert h.ollama is None
    assert any("split GGUF" in n for n in h.notes)
    # The --include pattern matches both parts and nothing else in the repo (fnmatch, as hf download does).
    import fnmatch

    pattern = shlex.split(h.hf_download)[4]
    assert sorted(p for p in test_files.SIZES if fnmatch.fnmatch(p, pattern)) == sorted(q8.files)


def test_multimodal_fetches_and_loads_the_projector(bartowski):
    rec = rank_files(REPO, task="chat", vram_gib=8, multimodal=True)
    h = rec.pick.handoff
    assert h is not None
    assert "--no-mmproj" not in (h.llama_server or "")
    assert h.hf_download.endswith(f"--include {test_files.MMPROJ} --local-dir models")
    assert h.llama_server_local.endswith(f"--mmproj models/{test_files.MMPROJ}")


def test_a_revision_pins_the_download_and_leaves_hf_references_out(bartowski):
    rec = rank_files(REPO, task="chat", vram_gib=8, revision="v2")
    h = rec.pick.handoff
    assert h is not None
    assert h.llama_server is None
    assert h.ollama is None
    assert h.lm_studio is None
    assert "--revision v2 --local-dir models" in h.hf_download
    assert h.llama_server_local.startswith(f"llama-server -m models/{rec.pick.file} -ngl")


def test_ollama_parameters_match_the_plan(bartowski):
    rec = rank_files(REPO, task="chat", vram_gib=8)
    single = next(o for o in rec.options if o.quant == "Q4_K_M")
    h = single.handoff
    assert h.ollama == f"ollama run hf.co/{REPO}:Q4_K_M"
    assert h.lm_studio == f"lms get https://huggingface.co/{REPO}@Q4_K_M"
    assert h.ollama_parameters == {"num_ctx": 4096, "num_gpu": single.memory.gpu_layers}


def test_a_card_below_the_gpu_buffers_runs_with_no_device(bartowski):
    """-ngl 0 alone still puts llama.cpp's CUDA context and compute buffers on the GPU the plan
    said it would not use: the command says --device none; Ollama's num_gpu 0 is its equivalent."""
    rec = rank_files(REPO, task="chat", vram_gib=1.25)
    h = rec.pick.handoff
    assert rec.pick.gpu_layers == 0
    assert "-ngl 0 -c 4096 -fa on --device none" in h.llama_server
    assert h.llama_server_local.endswith("--device none")
    assert h.ollama_parameters["num_gpu"] == 0


def test_a_tag_two_builds_share_names_the_file(hub, tmp_path):
    head = test_files.llama_header(tmp_path)
    files = {
        "m-Q4_K_M.gguf": FakeFile(head, size=4_900_000_000),
        "m-UD-Q4_K_M.gguf": FakeFile(head, size=5_000_000_000),
    }
    hub.add_repo("org/Two-GGUF", FakeRepo(files=files))
    rec = rank_files("org/Two-GGUF", task="chat", vram_gib=12)
    plain = next(o for o in rec.options if o.file == "m-Q4_K_M.gguf").handoff
    assert plain.llama_server.startswith("llama-server -hf org/Two-GGUF --hf-file m-Q4_K_M.gguf -ngl")
    assert plain.ollama is None
    assert plain.lm_studio is None
    ud = next(o for o in rec.options if o.file == "m-UD-Q4_K_M.gguf").handoff
    assert ud.llama_server.startswith("llama-server -hf org/Two-GGUF:UD-Q4_K_M -ngl")


def test_names_from_a_listing_are_shell_quoted(bartowski):
    # Built directly: whatever names the listing validation lets through, the commands quote them.
    from quantadvisor.handoff import gguf_handoff

    option = rank_files(REPO, task="chat", vram_gib=8).pick
    name = "we ird/$(touch pwned); m`id`-Q4_K_M.gguf"
    h = gguf_handoff(option, repo_id="org/Odd-GGUF", revision="v1;rm", files=[name], label="Q4_K_M'x",
                     repo_files=[name])  # fmt: skip
    for command in (h.llama_server, h.hf_download, h.llama_server_local, h.ollama, h.lm_studio):
        if command is None:
            continue
        words = shlex.split(command)  # the shell sees each name as one word, never as syntax
        assert name in words or f"models/{name}" in words or any("Q4_K_M'x" in w for w in words), command
    assert shlex.split(h.hf_download)[3:7] == ["--include", name, "--revision", "v1;rm"]
    assert h.llama_server is None  # a revision: -hf cannot pin one
    assert shlex.split(h.llama_server_local)[:3] == ["llama-server", "-m", f"models/{name}"]


def test_llama_cpp_tag_follows_find_best_model():
    paths = ["a/m-Q8_0-00001-of-00002.gguf", "a/m-Q8_0-00002-of-00002.gguf", "m-Q6_K.gguf", "m-Q6_K_L.gguf",
             "mmproj-m-Q6_K.gguf"]  # fmt: skip
    assert llama_cpp_tag("Q8_0", paths[0], paths)
    assert llama_cpp_tag("Q6_K", "m-Q6_K.gguf", paths)  # Q6_K_L and the projector do not match Q6_K[.-]
    assert llama_cpp_tag("q6_k_l", "m-Q6_K_L.gguf", paths)  # case-insensitive
    assert not llama_cpp_tag("Q6_K", "m-Q6_K.gguf", [*paths, "other/m-Q6_K.gguf"])


def test_serving_checkpoint_gets_vllm_serve(hub):
    hub.add_repo("nvidia/Llama-3.1-8B-Instruct-NVFP4", FakeRepo(files={
        "config.json": FakeFile(__import__("json").dumps(test_files.NVFP4_CONFIG).encode(), lfs=False)}))  # fmt: skip
    rec = rank_files("nvidia/Llama-3.1-8B-Instruct-NVFP4", task="chat", gpu="RTX 5090", context_tokens=8192)
    ours = next(o for o in rec.options if o.quant == "NVFP4" and o.family == "serving")
    assert ours.handoff is not None
    assert ours.handoff.vllm == (
        "vllm serve nvidia/Llama-3.1-8B-Instruct-NVFP4 --max-model-len 8192 --gpu-memory-utilization 0.96"
    )
    assert ours.handoff.hf_download == "hf download nvidia/Llama-3.1-8B-Instruct-NVFP4"
    assert all(o.handoff is None for o in rec.options if o is not ours)  # quant types name no real repo


def test_a_local_file_runs_where_it_is(tmp_path):
    from quantadvisor import recommend

    path = tmp_path / "my model-Q4_K_M.gguf"
    path.write_bytes(test_files.llama_header(tmp_path, file_type=15))  # 15 = MOSTLY_Q4_K_M
    rec = recommend("chat", model=str(path), vram_gib=8)
    mine = next(o for o in rec.options if o.file == str(path))
    assert mine.handoff is not None
    assert mine.handoff.llama_server_local == f"llama-server -m {shlex.quote(str(path))} {' '.join(mine.runner_flags)}"
    assert all(o.handoff is None for o in rec.options if o is not mine)


# -- the pick command ---------------------------------------------------------------------------------------


def test_pick_prints_every_part_of_the_build(bartowski, capsys):
    import json

    from quantadvisor.cli import main

    assert main(["pick", REPO, "--task", "chat", "--vram", "24", "--prefer", "quality"]) == 0
    out = capsys.readouterr().out
    assert out == f"{STEM}-Q8_0/{STEM}-Q8_0-00001-of-00002.gguf\n{STEM}-Q8_0/{STEM}-Q8_0-00002-of-00002.gguf\n"
    assert main(["pick", REPO, "--task", "chat", "--vram", "8", "--multimodal", "--json"]) == 0
    option = json.loads(capsys.readouterr().out)
    assert option["file"] in test_files.SIZES
    assert option["handoff"]["fetch"] == [option["file"], test_files.MMPROJ]
    assert main(["pick", REPO, "--task", "chat", "--vram", "8", "--multimodal"]) == 0
    assert capsys.readouterr().out.splitlines() == option["handoff"]["fetch"]


def test_pick_exits_3_when_nothing_fits(bartowski, capsys):
    from quantadvisor.cli import main

    assert main(["pick", REPO, "--task", "chat", "--vram", "0.5", "--ram", "2", "--margin", "0"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("Error: no GGUF file of ")
