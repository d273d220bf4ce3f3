"""Hub access against a local Hub look-alike (tests/hubserver.py); the real huggingface_hub client talks."""

from __future__ import annotations

import json
import os
import socket
import struct

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
pytest.importorskip("huggingface_hub")

from quantadvisor.errors import ExitCode, HubError, InvalidRequestError  # noqa: E402
from quantadvisor.gguf_header import GGUFHeaderError, read_gguf_header  # noqa: E402
from quantadvisor.hub import (  # noqa: E402
    QuantName,
    detect_checkpoint_quantization,
    fetch_config,
    fetch_gguf_header,
    is_repo_ref,
    list_gguf_files,
    parse_repo_ref,
    quant_from_filename,
)

from hubserver import FakeFile, FakeHub, FakeRepo  # noqa: E402 - after the importorskips on purpose

TOKEN = "hf_test_token_for_the_fake_hub"  # noqa: S105 - a fake token for the fake Hub
GiB = 1024**3
MiB = 1024**2
SHA = "0123456789abcdef0123456789abcdef01234567"
LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 2}
NVFP4_CONFIG = {
    **LLAMA_CONFIG,
    "quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4", "group_size": 16},
}


def gguf_bytes(tmp_path, name: str = "m.gguf", *, vocab: int = 200) -> bytes:
    """A small real GGUF written by gguf.GGUFWriter."""
    path = tmp_path / name
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_block_count(2)
    writer.add_embedding_length(256)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_token_list([f"t{i}" for i in range(vocab)])
    writer.add_tensor("token_embd.weight", np.zeros((8, 256), dtype=np.float16))
    writer.add_tensor(
        "blk.0.attn_q.weight", np.zeros((256, 144), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q4_K
    )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A fake Hub on 127.0.0.1 named by HF_ENDPOINT, with a fresh cache and no login."""
    from huggingface_hub import close_session, constants

    server = FakeHub().start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in (
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_OIDC_RESOURCE",
    ):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub read these at import; make sure a developer's own settings cannot leak into the tests.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-stored-tokens"))
    yield server
    server.stop()
    close_session()


@pytest.fixture
def bartowski(hub, tmp_path):
    """A bartowski-like repo: single files, a 3-part split in a folder, an mmproj, an imatrix, a README."""
    data = gguf_bytes(tmp_path)
    files = {
        "Tiny-Q4_K_M.gguf": FakeFile(data, size=4_683_073_952),  # a real-sized file; only its head exists
        "Tiny-Q6_K_L.gguf": FakeFile(data, size=6_596_011_424),
        "Tiny-IQ4_XS.gguf": FakeFile(data, size=4_223_456_000),
        "Tiny-Q8_0/Tiny-Q8_0-00001-of-00003.gguf": FakeFile(data, size=3 * GiB),
        "Tiny-Q8_0/Tiny-Q8_0-00002-of-00003.gguf": FakeFile(b"part2", size=3 * GiB),
        "Tiny-Q8_0/Tiny-Q8_0-00003-of-00003.gguf": FakeFile(b"part3", size=1_234_567),
        "mmproj-Tiny-f16.gguf": FakeFile(data, size=856_000_000),
        "Tiny-imatrix.gguf": FakeFile(b"imatrix", size=5_000_000),
        "README.md": FakeFile(b"# Tiny", lfs=False),
    }
    hub.add_repo("bartowski/Tiny-GGUF", FakeRepo(files=files, branches=("main", "v2")))
    return data


# -- repo references and quant names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("bartowski/Qwen2.5-Coder-7B-Instruct-GGUF", ("bartowski/Qwen2.5-Coder-7B-Instruct-GGUF", None)),
        ("unsloth/gpt-oss-20b-GGUF@main", ("unsloth/gpt-oss-20b-GGUF", "main")),
        ("org/name@" + SHA, ("org/name", SHA)),
        ("org/name@refs/pr/3", ("org/name", "refs/pr/3")),
        ("  org/name  ", ("org/name", None)),
    ],
)
def test_parse_repo_ref(ref, expected):
    assert parse_repo_ref(ref) == expected
    assert is_repo_ref(ref)


@pytest.mark.parametrize(
    "ref",
    ["gpt2", "org/", "/name", "a/b/c", "org/na me", "org--x/name", "org/na..me", "org/name.git", "org/name@",
     "o/n@a b", "-org/name", "org/name-", "./model.gguf", "C:\\models\\x.gguf", "org/" + "n" * 97],
)  # fmt: skip
def test_parse_repo_ref_rejects(ref):
    with pytest.raises(InvalidRequestError, match="is not a Hugging Face repo id") as info:
        parse_repo_ref(ref)
    assert info.value.exit_code == ExitCode.USAGE
    assert info.value.hint
    assert not is_repo_ref(ref)


@pytest.mark.parametrize(
    ("filename", "base", "variant"),
    [
        ("Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf", "Q4_K_M", None),
        ("qwen2.5-coder-7b-instruct-q4_k_m.gguf", "Q4_K_M", None),
        ("Meta-Llama-3-8B-Instruct.Q5_K_S.gguf", "Q5_K_S", None),
        ("gemma-2-9b-it-IQ4_XS.gguf", "IQ4_XS", None),
        ("gemma-2-9b-it-IQ2_XXS.gguf", "IQ2_XXS", None),
        ("DeepSeek-R1-IQ1_S.gguf", "IQ1_S", None),
        ("Model-IQ3_M.gguf", "IQ3_M", None),
        ("gemma-2-9b-it-Q6_K_L.gguf", "Q6_K", "Q6_K_L"),
        ("Llama-3.2-3B-Instruct-Q4_K_L.gguf", "Q4_K_M", "Q4_K_L"),
        ("Llama-3.2-3B-Instruct-Q3_K_XL.gguf", "Q3_K_L", "Q3_K_XL"),
        ("Llama-3.2-3B-Instruct-Q3_K_L.gguf", "Q3_K_L", None),  # a real llama-quantize ftype
        ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "Q4_K_M", "UD-Q4_K_XL"),
        ("UD-Q4_K_XL/Qwen3-235B-A22B-UD-Q4_K_XL-00001-of-00003.gguf", "Q4_K_M", "UD-Q4_K_XL"),
        ("DeepSeek-R1-UD-IQ1_S-00001-of-00003.gguf", "IQ1_S", "UD-IQ1_S"),
        ("Qwen3-8B-UD-Q8_K_XL.gguf", "Q8_0", "UD-Q8_K_XL"),
        ("gpt-oss-20b-MXFP4_MOE.gguf", "MXFP4_MOE", None),
        ("gpt-oss-20b-mxfp4.gguf", "MXFP4_MOE", None),
        ("Qwen3-8B-BF16.gguf", "BF16", None),
        ("BF16/Qwen3-235B-BF16-00002-of-00010.gguf", "BF16", None),
        ("model-f16.gguf", "F16", None),
        ("model-F16.gguf", "F16", None),
        ("model-fp16.gguf", "F16", None),
        ("ggml-model-f32.gguf", "F32", None),
        ("Llama-3-8B.Q8_0.gguf", "Q8_0", None),
        ("Model-Q4_0.gguf", "Q4_0", None),
        ("Model-Q4_0_4_4.gguf", "Q4_0", "Q4_0_4_4"),
        ("Model-Q2_K.gguf", "Q2_K", None),
        ("Model-Q4_K.gguf", "Q4_K_M", None),  # llama-quantize's alias
        ("bitnet-b1.58-TQ1_0.gguf", "TQ1_0", None),
        ("Model.i1-Q4_K_M.gguf", "Q4_K_M", None),  # mradermacher imatrix quants
        ("Q4_K_M/Model-00001-of-00002.gguf", "Q4_K_M", None),  # quant only in the folder name
        ("Model-Q8_0.gguf.part1of2", "Q8_0", None),
    ],
)
def test_quant_from_filename(filename, base, variant):
    quant = quant_from_filename(filename)
    assert quant == QuantName(base, variant)
    assert quant.label == (variant or base)
    assert str(quant) == quant.label


@pytest.mark.parametrize("filename", ["model.gguf", "README.md", "Qwen2.5-7B-Instruct.gguf", "llava-v1.5-mmproj.gguf"])
def test_quant_from_filename_none(filename):
    assert quant_from_filename(filename) is None


# -- listing -------------------------------------------------------------------------------------------------


def test_list_bartowski_like_repo(bartowski, hub):
    files = {f.filename: f for f in list_gguf_files("bartowski/Tiny-GGUF")}
    assert sorted(files) == [
        "Tiny-IQ4_XS.gguf",
        "Tiny-Q4_K_M.gguf",
        "Tiny-Q6_K_L.gguf",
        "Tiny-Q8_0/Tiny-Q8_0-00001-of-00003.gguf",
        "mmproj-Tiny-f16.gguf",
    ]
    q4 = files["Tiny-Q4_K_M.gguf"]
    assert (q4.size_bytes, q4.quant, q4.quant_variant, q4.parts, q4.is_mmproj) == (
        4_683_073_952,
        "Q4_K_M",
        None,
        1,
        False,
    )
    assert q4.split_files == ("Tiny-Q4_K_M.gguf",)
    q6 = files["Tiny-Q6_K_L.gguf"]
    assert (q6.quant, q6.quant_variant) == ("Q6_K", "Q6_K_L")
    split = files["Tiny-Q8_0/Tiny-Q8_0-00001-of-00003.gguf"]
    assert split.parts == 3
    assert split.complete
    assert split.size_bytes == 6 * GiB + 1_234_567
    assert split.split_files == tuple(f"Tiny-Q8_0/Tiny-Q8_0-0000{i}-of-00003.gguf" for i in (1, 2, 3))
    assert split.quant == "Q8_0"
    mmproj = files["mmproj-Tiny-f16.gguf"]
    assert mmproj.is_mmproj
    assert mmproj.quant == "F16"
    # One model-info call with file metadata; no file was downloaded to list the repo.
    assert [(r.method, r.path, r.query) for r in hub.requests] == [
        ("GET", "/api/models/bartowski/Tiny-GGUF", {"blobs": ["true"]})
    ]


def test_list_at_a_revision(bartowski, hub):
    assert list_gguf_files("bartowski/Tiny-GGUF", revision="v2")
    assert hub.requests[-1].path == "/api/models/bartowski/Tiny-GGUF/revision/v2"


def test_list_falls_back_to_the_tree_when_info_has_no_sizes(hub, tmp_path):
    data = gguf_bytes(tmp_path)
    files = {
        "BF16/Tiny-BF16-00001-of-00002.gguf": FakeFile(data, size=10 * GiB),
        "BF16/Tiny-BF16-00002-of-00002.gguf": FakeFile(data, size=2 * GiB),
        "Tiny-UD-Q4_K_XL.gguf": FakeFile(data, size=5 * GiB),
        "Tiny-Q2_K-00001-of-00002.gguf": FakeFile(data, size=1 * GiB),  # part 2 never uploaded
    }
    hub.add_repo("unsloth/Tiny-GGUF", FakeRepo(files=files, sizes_in_info=False))
    listed = {f.filename: f for f in list_gguf_files("unsloth/Tiny-GGUF")}
    assert listed["BF16/Tiny-BF16-00001-of-00002.gguf"].size_bytes == 12 * GiB
    assert listed["BF16/Tiny-BF16-00001-of-00002.gguf"].quant == "BF16"
    assert (listed["Tiny-UD-Q4_K_XL.gguf"].quant, listed["Tiny-UD-Q4_K_XL.gguf"].quant_variant) == (
        "Q4_K_M",
        "UD-Q4_K_XL",
    )
    incomplete = listed["Tiny-Q2_K-00001-of-00002.gguf"]
    assert (incomplete.parts, incomplete.complete) == (2, False)
    tree = [r for r in hub.requests if "/tree/" in r.path]
    assert tree
    assert tree[0].path == "/api/models/unsloth/Tiny-GGUF/tree/main"
    assert tree[0].query.get("recursive") == ["True"] or tree[0].query.get("recursive") == ["true"]


# -- GGUF headers over HTTP ranges ---------------------------------------------------------------------------


def test_fetch_header_reads_only_the_first_bytes(bartowski, hub, tmp_path):
    header = fetch_gguf_header("bartowski/Tiny-GGUF", "Tiny-Q4_K_M.gguf")
    (tmp_path / "local.gguf").write_bytes(bartowski)
    assert header == read_gguf_header(tmp_path / "local.gguf")
    assert header.arch == "qwen2"
    assert header.get("qwen2.block_count") == 2

    gets = [r for r in hub.requests if r.method == "GET"]
    assert gets
    assert all(r.headers.get("range", "").startswith("bytes=0-") for r in gets)
    assert gets[0].path == "/bartowski/Tiny-GGUF/resolve/main/Tiny-Q4_K_M.gguf"
    assert gets[0].status == 302  # the Hub sends LFS files to its CDN; the range follows the redirect
    served = [r for r in gets if r.status == 206]
    assert len(served) == 1
    assert served[0].headers["range"] == "bytes=0-2097151"
    assert sum(r.body_bytes for r in gets) <= 2 * MiB  # of a 4.7 GB file
    assert not [r for r in gets if r.status == 200]


def test_fetch_header_grows_ranges_geometrically(hub, tmp_path):
    data = gguf_bytes(tmp_path, vocab=3000)  # header ~40 kB
    hub.add_repo("org/Grow-GGUF", FakeRepo(files={"m-Q8_0.gguf": FakeFile(data, size=20 * GiB)}))
    header = fetch_gguf_header("org/Grow-GGUF", "m-Q8_0.gguf", initial_bytes=4096)
    assert header.header_bytes > 16_384
    ranges = [r.headers["range"] for r in hub.requests if r.status == 206]
    spans = [tuple(int(x) for x in rng.removeprefix("bytes=").split("-")) for rng in ranges]
    starts = [a for a, _ in spans]
    lengths = [b - a + 1 for a, b in spans]
    assert lengths[:4] == [4096, 8192, 16384, 32768]
    assert starts == [sum(lengths[:i]) for i in range(len(lengths))]  # contiguous, nothing fetched twice
    assert sum(lengths) < 2 * header.header_bytes + 4096


def test_fetch_header_stops_at_max_bytes(hub, tmp_path):
    data = gguf_bytes(tmp_path, vocab=3000)
    hub.add_repo("org/Big-GGUF", FakeRepo(files={"m-Q8_0.gguf": FakeFile(data, size=20 * GiB)}))
    with pytest.raises(GGUFHeaderError, match=r"org/Big-GGUF/m-Q8_0.gguf: .*10,000-byte"):
        fetch_gguf_header("org/Big-GGUF", "m-Q8_0.gguf", initial_bytes=4096, max_bytes=10_000)
    ends = [int(r.headers["range"].rsplit("-", 1)[1]) for r in hub.requests if r.status == 206]
    assert max(ends) < 10_000


def test_fetch_header_of_a_hostile_file_is_a_header_error(hub):
    hostile = b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62)
    hub.add_repo("evil/Evil-GGUF", FakeRepo(files={"evil-Q4_K_M.gguf": FakeFile(hostile, size=8 * GiB)}))
    with pytest.raises(GGUFHeaderError, match=r"evil/Evil-GGUF/evil-Q4_K_M\.gguf: .*metadata keys, over") as info:
        fetch_gguf_header("evil/Evil-GGUF", "evil-Q4_K_M.gguf")
    assert "\n" not in str(info.value)


def test_fetch_header_when_the_server_ignores_range(hub, tmp_path):
    data = gguf_bytes(tmp_path) + bytes(6 * MiB)
    hub.add_repo("org/NoRange-GGUF", FakeRepo(files={"m-Q4_0.gguf": FakeFile(data, lfs=False)}, ignore_range=True))
    header = fetch_gguf_header("org/NoRange-GGUF", "m-Q4_0.gguf", initial_bytes=64 * 1024)
    assert header.arch == "qwen2"


def test_fetch_header_sends_the_token_from_hf_token(hub, monkeypatch, tmp_path):
    data = gguf_bytes(tmp_path)
    hub.add_repo("me/Private-GGUF", FakeRepo(files={"p-Q4_K_M.gguf": FakeFile(data, size=GiB)}, token=TOKEN))
    with pytest.raises(HubError, match="HTTP 401"):
        fetch_gguf_header("me/Private-GGUF", "p-Q4_K_M.gguf")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert fetch_gguf_header("me/Private-GGUF", "p-Q4_K_M.gguf").arch == "qwen2"
    assert [f.filename for f in list_gguf_files("me/Private-GGUF")] == ["p-Q4_K_M.gguf"]
    assert hub.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"


# -- config.json ---------------------------------------------------------------------------------------------


def test_fetch_config_and_detect_quantization(hub):
    hub.add_repo(
        "nvidia/Tiny-NVFP4",
        FakeRepo(files={"config.json": FakeFile(json.dumps(NVFP4_CONFIG).encode(), lfs=False)}),
    )
    config = fetch_config("nvidia/Tiny-NVFP4")
    assert config == NVFP4_CONFIG
    assert detect_checkpoint_quantization(config) == "NVFP4"
    methods = [(r.method, r.path) for r in hub.requests]
    path = "/nvidia/Tiny-NVFP4/resolve/main/config.json"
    # A probe HEAD without retries, then hf_hub_download's own HEAD and GET into the cache.
    assert methods == [("HEAD", path), ("HEAD", path), ("GET", path)]
    assert fetch_config("nvidia/Tiny-NVFP4") == NVFP4_CONFIG  # cached now: HEADs only
    assert [r.method for r in hub.requests[3:]] == ["HEAD", "HEAD"]


def test_fetch_config_uses_the_cache_when_offline_or_the_hub_fails(hub, monkeypatch):
    repo = hub.add_repo(
        "org/Tiny", FakeRepo(files={"config.json": FakeFile(json.dumps(LLAMA_CONFIG).encode(), lfs=False)})
    )
    assert fetch_config("org/Tiny") == LLAMA_CONFIG
    seen = len(hub.requests)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert fetch_config("org/Tiny") == LLAMA_CONFIG
    assert len(hub.requests) == seen  # offline: not one request

    monkeypatch.delenv("HF_HUB_OFFLINE")
    repo.status = 500
    assert fetch_config("org/Tiny") == LLAMA_CONFIG  # the Hub is down; the cached copy answers


def test_fetch_config_rejects_non_json(hub):
    hub.add_repo("org/Bad", FakeRepo(files={"config.json": FakeFile(b"{not json", lfs=False)}))
    with pytest.raises(Exception, match="is not a readable JSON config") as info:
        fetch_config("org/Bad")
    assert not isinstance(info.value, HubError)
    assert "\n" not in str(info.value)


# -- offline -------------------------------------------------------------------------------------------------


def test_offline_and_not_cached(bartowski, hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for call in (
        lambda: list_gguf_files("bartowski/Tiny-GGUF"),
        lambda: fetch_gguf_header("bartowski/Tiny-GGUF", "Tiny-Q4_K_M.gguf"),
        lambda: fetch_config("bartowski/Tiny-GGUF"),
    ):
        with pytest.raises(HubError, match="not in the local cache and HF_HUB_OFFLINE is set") as info:
            call()
        assert info.value.exit_code == ExitCode.ENVIRONMENT
        assert "HF_HUB_OFFLINE" in (info.value.hint or "")
        assert info.value.repo_id == "bartowski/Tiny-GGUF"
    assert hub.requests == []


def test_offline_reads_cached_gguf_files(hub, monkeypatch, tmp_path):
    from huggingface_hub import hf_hub_download

    data = gguf_bytes(tmp_path)
    hub.add_repo("org/Cached-GGUF", FakeRepo(files={"c-Q5_K_M.gguf": FakeFile(data), "c-Q8_0.gguf": FakeFile(data)}))
    hf_hub_download("org/Cached-GGUF", "c-Q5_K_M.gguf", endpoint=hub.url, cache_dir=os.environ["HF_HUB_CACHE"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    seen = len(hub.requests)
    listed = list_gguf_files("org/Cached-GGUF")
    assert [(f.filename, f.size_bytes, f.quant) for f in listed] == [("c-Q5_K_M.gguf", len(data), "Q5_K_M")]
    assert fetch_gguf_header("org/Cached-GGUF", "c-Q5_K_M.gguf").arch == "qwen2"
    assert len(hub.requests) == seen


# -- errors --------------------------------------------------------------------------------------------------


def add_error_repos(hub: FakeHub, tmp_path) -> None:
    data = gguf_bytes(tmp_path)
    config = FakeFile(json.dumps(LLAMA_CONFIG).encode(), lfs=False)
    model = FakeFile(data, size=GiB)
    for repo_id, repo in {
        "meta-llama/Gated": FakeRepo(gated=True),
        "me/Private": FakeRepo(token=TOKEN),
        "org/Limited": FakeRepo(status=429),
        "org/Broken": FakeRepo(status=500),
        "org/Unavailable": FakeRepo(status=503),
        "org/Ok": FakeRepo(),
    }.items():
        repo.files.update({"config.json": config, "m-Q4_K_M.gguf": model})
        hub.add_repo(repo_id, repo)


CALLS = {
    "list": list_gguf_files,
    "header": lambda repo: fetch_gguf_header(repo, "m-Q4_K_M.gguf"),
    "config": fetch_config,
}


ALL = ["list", "header", "config"]


@pytest.mark.parametrize(
    ("repo_id", "calls", "message", "hint"),
    [
        ("meta-llama/Gated", ["header", "config"], "is a gated repo", "hf auth login"),
        ("me/Private", ALL, "or it is private or gated and this request is not logged in", "HF_TOKEN"),
        ("org/Missing", ALL, "repo org/Missing was not found on http://127.0.0.1", "spelling"),
        ("org/Limited", ALL, r"rate-limiting requests \(HTTP 429\)", "retry"),
        ("org/Broken", ALL, r"server error \(HTTP 500\)", "retry later"),
        ("org/Unavailable", ["list", "header"], r"server error \(HTTP 503\)", "retry later"),
    ],
)  # fmt: skip
def test_hub_errors_are_one_line_hub_errors(hub, tmp_path, *, repo_id, calls, message, hint):
    add_error_repos(hub, tmp_path)
    for name in calls:
        with pytest.raises(HubError, match=message) as info:
            CALLS[name](repo_id)
        error = info.value
        assert "\n" not in str(error), name
        assert hint in (error.hint or ""), name
        assert "\n" not in (error.hint or "")
        assert error.repo_id == repo_id
        assert error.exit_code == ExitCode.ENVIRONMENT
        assert error.__cause__ is not None or name == "header"  # the library's error stays as the cause


def test_gated_hint_names_the_login_command_and_the_page(hub, tmp_path):
    add_error_repos(hub, tmp_path)
    with pytest.raises(HubError) as info:
        fetch_config("meta-llama/Gated")
    assert (
        info.value.hint
        == f"accept its terms at {hub.url}/meta-llama/Gated, then log in with `hf auth login` or set HF_TOKEN"
    )


def test_revision_and_file_not_found(hub, tmp_path):
    add_error_repos(hub, tmp_path)
    for call in (
        lambda: list_gguf_files("org/Ok", revision="nope"),
        lambda: fetch_config("org/Ok", revision="nope"),
        lambda: fetch_gguf_header("org/Ok", "m-Q4_K_M.gguf", revision="nope"),
    ):
        with pytest.raises(HubError, match=r"revision 'nope' was not found in org/Ok"):
            call()
    with pytest.raises(HubError, match=r"absent\.gguf was not found in org/Ok at revision main"):
        fetch_gguf_header("org/Ok", "absent.gguf")
    with pytest.raises(HubError, match=r"absent\.json was not found in org/Ok"):
        fetch_config("org/Ok", filename="absent.json")


def test_timeout(hub, tmp_path):
    data = gguf_bytes(tmp_path)
    hub.add_repo("org/Slow", FakeRepo(files={"m-Q4_K_M.gguf": FakeFile(data)}, delay_s=0.5))
    for call in (
        lambda: list_gguf_files("org/Slow", timeout=0.1),
        lambda: fetch_gguf_header("org/Slow", "m-Q4_K_M.gguf", timeout=0.1),
    ):
        with pytest.raises(HubError, match=r"did not answer within 0\.1 s") as info:
            call()
        assert "HF_HUB_DOWNLOAD_TIMEOUT" in (info.value.hint or "")


def test_no_network(hub, monkeypatch):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    for call in (
        lambda: list_gguf_files("org/Any"),
        lambda: fetch_gguf_header("org/Any", "m.gguf"),
        lambda: fetch_config("org/Any"),
    ):
        with pytest.raises(HubError, match=f"cannot reach the Hub at http://127.0.0.1:{port}") as info:
            call()
        assert "HF_HUB_OFFLINE=1" in (info.value.hint or "")


def test_invalid_repo_id_never_reaches_the_network(hub):
    for call in (lambda: list_gguf_files("not a repo"), lambda: fetch_config("a/b/c")):
        with pytest.raises(InvalidRequestError):
            call()
    assert hub.requests == []


# -- checkpoint quantization ---------------------------------------------------------------------------------


def ct_config(fmt: str, weights: dict, activations: dict | None = None) -> dict:
    group = {"targets": ["Linear"], "weights": weights, "input_activations": activations, "format": fmt}
    return {
        "quantization_config": {
            "quant_method": "compressed-tensors",
            "format": fmt,
            "config_groups": {"group_0": group},
        }
    }


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (LLAMA_CONFIG, None),
        (NVFP4_CONFIG, "NVFP4"),
        ({"quantization_config": {"quant_method": "modelopt", "quant_algo": "FP8"}}, "FP8"),
        ({"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "NVFP4"}}, "NVFP4"),
        ({"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "W4A16_AWQ"}}, "W4A16-INT"),
        (ct_config("nvfp4-pack-quantized", {"num_bits": 4, "type": "float", "group_size": 16},
                   {"num_bits": 4, "type": "float", "group_size": 16}), "NVFP4"),
        (ct_config("float-quantized", {"num_bits": 8, "type": "float", "strategy": "channel"},
                   {"num_bits": 8, "type": "float", "dynamic": True}), "FP8"),
        (ct_config("pack-quantized", {"num_bits": 4, "type": "int", "group_size": 128}), "W4A16-INT"),
        (ct_config("pack-quantized", {"num_bits": 8, "type": "int", "group_size": 128}), "W8A16-INT"),
        (ct_config("int-quantized", {"num_bits": 8, "type": "int"}, {"num_bits": 8}), "W8A8-INT"),
        (ct_config("mxfp4-pack-quantized", {"num_bits": 4, "type": "float", "group_size": 32}), "MXFP4"),
        ({"quantization_config": {"quant_method": "compressed-tensors", "format": "float-quantized"}}, "FP8"),
        ({"quantization_config": {"quant_method": "mxfp4"}}, "MXFP4"),
        ({"quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}, "FP8"),
        ({"quantization_config": {"quant_method": "awq", "bits": 4}}, "W4A16-INT"),
        ({"quantization_config": {"quant_method": "gptq", "bits": 8}}, "W8A16-INT"),
        ({"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}}, "BNB-4BIT"),
        ({"quantization_config": {"quant_method": "hqq"}}, "HQQ"),
        ({"text_config": {"quantization_config": NVFP4_CONFIG["quantization_config"]}}, "NVFP4"),
    ],
)  # fmt: skip
def test_detect_checkpoint_quantization(config, expected):
    assert detect_checkpoint_quantization(config) == expected
