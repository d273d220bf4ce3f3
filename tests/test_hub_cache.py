"""The Hub cache (quantadvisor/hub/cache.py): a second suggest on the same repo asks the local Hub
look-alike nothing, HF_HUB_OFFLINE=1 answers from the cache, and a bad cache file is only a miss."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytest.importorskip("gguf")
pytest.importorskip("huggingface_hub")

from quantadvisor import rank_files
from quantadvisor.cli import main
from quantadvisor.hub import cache

import test_files
import test_hub

hub = test_hub.hub
bartowski = test_files.bartowski
REPO = test_files.REPO


def _suggest(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["suggest", "--task", "code", "--vram", "8", "--model", REPO, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_second_suggest_makes_no_request(bartowski, capsys):
    first = _suggest(capsys)
    asked = len(bartowski.requests)
    assert asked > 0
    second = _suggest(capsys)
    assert len(bartowski.requests) == asked  # the listing and the header both came from the cache
    assert second["options"] == first["options"]


def test_offline_answers_from_the_cache(bartowski, capsys, monkeypatch):
    first = _suggest(capsys)
    asked = len(bartowski.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = _suggest(capsys)
    assert len(bartowski.requests) == asked
    assert offline["pick"] == first["pick"]


def test_a_stale_branch_is_asked_again_and_a_commit_never_is(bartowski, monkeypatch):
    rank_files(REPO, task="chat", vram_gib=8)
    asked = len(bartowski.requests)
    later = time.time() + cache.REF_MAX_AGE_S + 60
    monkeypatch.setattr(cache.time, "time", lambda: later)
    rank_files(REPO, task="chat", vram_gib=8)
    fresh = bartowski.requests[asked:]
    assert [r.path for r in fresh] == [f"/api/models/{REPO}"]  # the listing again; the header still cached
    sha = bartowski.repos[REPO].sha
    before = len(bartowski.requests)
    rank_files(REPO, task="chat", vram_gib=8, revision=sha)  # a commit is its own key: no request at all
    assert len(bartowski.requests) == before


@pytest.mark.parametrize("damage", ["garbage", "huge", "truncated-header"])
def test_a_damaged_cache_file_is_a_miss(bartowski, damage):
    first = rank_files(REPO, task="chat", vram_gib=8)
    root = Path(cache._root(REPO))
    sha = bartowski.repos[REPO].sha
    listing = root / sha / "listing.json"
    header = next((root / sha / "headers").iterdir())
    if damage == "garbage":
        listing.write_text('{"not": "a list"}')
    elif damage == "huge":
        with listing.open("ab") as f:
            f.truncate(cache._MAX_LISTING_BYTES + 1)  # sparse: over the bound without filling a disk
    else:
        header.write_bytes(header.read_bytes()[:100])
    asked = len(bartowski.requests)
    again = rank_files(REPO, task="chat", vram_gib=8)
    assert len(bartowski.requests) > asked  # the Hub was asked instead
    assert [o.file for o in again.options] == [o.file for o in first.options]


def test_a_cached_listing_is_validated_like_the_hubs(bartowski):
    rank_files(REPO, task="chat", vram_gib=8)
    sha = bartowski.repos[REPO].sha
    listing = Path(cache._root(REPO)) / sha / "listing.json"
    entries = json.loads(listing.read_text())
    listing.write_text(json.dumps([*entries, ["../../etc/passwd-Q4_K_M.gguf", 10], ["x-Q2_K.gguf", -5]]))
    rec = rank_files(REPO, task="chat", vram_gib=8)
    assert all("passwd" not in (o.file or "") and o.file != "x-Q2_K.gguf" for o in rec.options)


def test_the_cache_leaves_hf_cache_scan_clean(bartowski):
    import os

    from huggingface_hub import scan_cache_dir

    rank_files(REPO, task="chat", vram_gib=8)
    assert cache.load_listing(REPO, bartowski.repos[REPO].sha)  # saved ...
    hub_cache = Path(os.environ["HF_HUB_CACHE"])
    hub_cache.mkdir(parents=True, exist_ok=True)
    assert scan_cache_dir(hub_cache).warnings == []  # ... beside the hub cache, not as a bogus repo in it
