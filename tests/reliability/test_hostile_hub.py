"""A hostile Hub (tests/hubserver.py with lying listings, header and config bombs, deep JSON, a server that
never answers) against the real huggingface_hub client: names never leave the repo, readings are checked,
work is bounded and only QuantAdvisorErrors come out."""

from __future__ import annotations

import pytest

pytest.importorskip("huggingface_hub")

from quantadvisor import pick_file, rank_files
from quantadvisor.errors import ExitCode, HubError, ModelResolutionError, QuantAdvisorError
from quantadvisor.untrusted import repo_path_problem

import test_hub
from hostile import UNSAFE_NAMES, deep_json, gguf, layer_bomb, shape_keys
from hubserver import FakeFile, FakeRepo

hub = test_hub.hub
GiB = 2**30
REPO = "evil/Tiny-GGUF"


def llama_head() -> bytes:
    """A small honest header: the metadata of an 8B Llama, no tensors."""
    keys = shape_keys("llama", layers=32, window=None)
    keys.update({"llama.embedding_length": 4096, "llama.attention.head_count": 32, "llama.attention.head_count_kv": 8,
                 "llama.feed_forward_length": 14336, "llama.vocab_size": 128256})  # fmt: skip
    return gguf(keys)


def add(hub, files: dict[str, FakeFile], repo_id: str = REPO, **repo: object) -> None:
    hub.add_repo(repo_id, FakeRepo(files=files, **repo))  # type: ignore[arg-type]


def safe_requests(hub) -> None:
    """Every request the client made stayed on this repo's API and resolve paths (or the fake CDN)."""
    for r in hub.requests:
        assert ".." not in r.path
        assert r.path.startswith((f"/api/models/{REPO}", f"/{REPO}/resolve/", "/cdn/")), r.path


def test_traversal_and_control_names_are_skipped_with_a_note(hub) -> None:
    files = {name: FakeFile(llama_head(), size=5 * GiB) for name in UNSAFE_NAMES}
    files["ok-Q4_K_M.gguf"] = FakeFile(llama_head(), size=4_920_739_232)
    add(hub, files)
    rec = rank_files(REPO, task="chat", vram_gib=8)
    assert [o.file for o in rec.options] == ["ok-Q4_K_M.gguf"]
    assert pick_file(REPO, task="chat", vram_gib=8) == "ok-Q4_K_M.gguf"
    skipped = [n for n in rec.notes if n.endswith("; skipped")]
    assert len(skipped) >= 10  # the huge and odd names too (the client may itself drop a few)
    assert all("\x1b" not in n and "\x00" not in n for n in rec.notes)  # shown by repr, never raw
    safe_requests(hub)


def test_a_repo_of_only_unsafe_names_gets_no_request_outside_it(hub) -> None:
    add(hub, {name: FakeFile(llama_head(), size=5 * GiB) for name in UNSAFE_NAMES[:7]})
    with pytest.raises(QuantAdvisorError):
        pick_file(REPO, task="chat", vram_gib=8)
    safe_requests(hub)


@pytest.mark.parametrize("size", [0, -5, 1.5, "big", 2**60, True])
def test_lying_sizes_are_skipped(hub, size: object) -> None:
    add(hub, {"lie-Q8_0.gguf": FakeFile(llama_head(), size=9 * GiB, listed_size=size),
              "ok-Q4_K_M.gguf": FakeFile(llama_head(), size=4_920_739_232)})  # fmt: skip
    rec = rank_files(REPO, task="chat", vram_gib=8)
    assert "lie-Q8_0.gguf" not in {o.file for o in rec.options}
    assert pick_file(REPO, task="chat", vram_gib=8) == "ok-Q4_K_M.gguf"


def test_header_bomb_is_refused_and_model_is_used_instead(hub) -> None:
    add(hub, {"bomb-Q4_K_M.gguf": FakeFile(layer_bomb(), size=4_920_739_232)})
    with pytest.raises(ModelResolutionError, match="block_count"):
        rank_files(REPO, task="chat", vram_gib=8)
    rec = rank_files(REPO, task="chat", vram_gib=8, model="8b")
    assert rec.pick is not None
    assert any("block_count" in n for n in rec.notes)  # says why the header was not used


def test_config_bomb_is_refused_before_download(hub) -> None:
    add(hub, {"config.json": FakeFile(b"{", size=17 * 2**20, lfs=False)}, repo_id="evil/Big")
    with pytest.raises(ModelResolutionError, match="over the 16 MiB limit"):
        rank_files("evil/Big", task="chat", vram_gib=8)
    assert not [r for r in hub.file_gets("config.json") if r.method == "GET" and r.body_bytes > 2**20]


def test_deep_config_json_is_a_model_error(hub) -> None:
    add(hub, {"config.json": FakeFile(deep_json(50_000).encode(), lfs=False)}, repo_id="evil/Deep")
    with pytest.raises(ModelResolutionError, match="nests deeper than 64"):
        rank_files("evil/Deep", task="chat", vram_gib=8)


@pytest.mark.parametrize(
    "body",
    [deep_json(100_000).encode(), b'{"id": "evil/Tiny-GGUF", "siblings": "x"}', b"[1, 2",
     b'{"siblings": [{"rfilename": 5, "size": "x", "lfs": "y"}]}', b"\xff\xfe"],
)  # fmt: skip
def test_malformed_model_info_is_a_hub_error(hub, body: bytes) -> None:
    add(hub, {}, info_body=body)
    with pytest.raises(QuantAdvisorError) as info:
        rank_files(REPO, task="chat", vram_gib=8)
    assert type(info.value).__module__.startswith("quantadvisor")


def test_a_server_that_never_answers_times_out(hub, monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", 1)
    add(hub, {}, hang=True)
    with pytest.raises(HubError, match="did not answer within 1 s"):
        rank_files(REPO, task="chat", vram_gib=8)


def test_credentials_in_hf_endpoint_are_redacted(monkeypatch, capsys) -> None:
    from quantadvisor.cli import main

    monkeypatch.setenv("HF_ENDPOINT", "http://user:s3cret-pass@127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(HubError) as info:
        rank_files("org/repo", task="chat", vram_gib=8)
    assert "s3cret" not in str(info.value)
    assert "s3cret" not in (info.value.hint or "")
    assert main(["suggest", "--task", "chat", "--model", "org/repo", "--vram", "8"]) == ExitCode.ENVIRONMENT
    captured = capsys.readouterr()
    assert "s3cret" not in captured.err + captured.out
    assert "***@127.0.0.1" in captured.err


@pytest.mark.parametrize(("name", "value"), [("HF_HUB_DOWNLOAD_TIMEOUT", "abc"), ("HF_HUB_ETAG_TIMEOUT", "-3"),
                                             ("HF_ENDPOINT", "ftp://x")])  # fmt: skip
def test_bad_hub_settings_are_environment_errors(monkeypatch, capsys, name: str, value: str) -> None:
    from quantadvisor.cli import main

    monkeypatch.setenv(name, value)
    assert main(["suggest", "--task", "chat", "--model", "org/repo", "--vram", "8"]) == ExitCode.ENVIRONMENT
    assert name in capsys.readouterr().err


@pytest.mark.slow
def test_bad_timeout_in_a_fresh_process_is_one_line(tmp_path) -> None:
    """huggingface_hub parses HF_HUB_DOWNLOAD_TIMEOUT with int() at import: it must not be imported first."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_DOWNLOAD_TIMEOUT": "abc", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "quantadvisor", "suggest", "--task", "chat", "--model", "org/repo",
                          "--vram", "8"], capture_output=True, text=True, env=env, timeout=60, check=False)  # fmt: skip
    assert out.returncode == ExitCode.ENVIRONMENT, out.stderr
    assert out.stderr.startswith("Error: HF_HUB_DOWNLOAD_TIMEOUT='abc'")
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_names_are_named_unsafe(name: str) -> None:
    assert repo_path_problem(name) is not None


@pytest.mark.parametrize("name", ["a-Q4_K_M.gguf", "Q8_0/a-Q8_0-00001-of-00002.gguf", "[/]x.gguf", "é/ü.gguf"])
def test_safe_names_are_safe(name: str) -> None:
    assert repo_path_problem(name) is None


def test_local_list_with_unsafe_names_skips_them() -> None:
    pairs = [(n, 5 * GiB) for n in UNSAFE_NAMES] + [("ok-Q4_K_M.gguf", 4_920_739_232)]
    rec = rank_files(pairs, task="chat", vram_gib=8, model="8b")
    assert [o.file for o in rec.options] == ["ok-Q4_K_M.gguf"]
    assert sum(n.endswith("; skipped") for n in rec.notes) == len(UNSAFE_NAMES)


def test_header_fetch_refuses_an_unsafe_file_name() -> None:
    from quantadvisor.errors import InvalidRequestError
    from quantadvisor.hub import fetch_gguf_header

    with pytest.raises(InvalidRequestError, match="not a file path inside a repo"):
        fetch_gguf_header("org/repo", "../../other/x.gguf")
