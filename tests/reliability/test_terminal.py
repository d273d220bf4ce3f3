"""Untrusted text printed to a terminal: escape sequences and control characters stripped, rich markup shown
as written (never interpreted, never a MarkupError), the printed launch command the real file; --json exact."""

from __future__ import annotations

import json
import shlex

import pytest
from quantadvisor import rank_files
from quantadvisor.render import render_recommendation, safe_text
from quantadvisor.untrusted import terminal_text

from hostile import MARKUP_NAMES, UNSAFE_NAMES

GiB = 2**30


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the file column shows from 120 columns


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_markup_in_a_file_name_prints_as_written(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from quantadvisor.dataset import load_dataset

    rec = rank_files([(name, 4_920_739_232)], task="chat", vram_gib=8, model="8b")
    assert rec.pick is not None
    assert rec.pick.file == name  # the library returns the name exactly
    render_recommendation(rec, load_dataset())
    out = capsys.readouterr().out
    # the printed command names the real file: its whole path, shell-quoted (a base name alone would
    # print "[/]x-Q4_K_M.gguf" as "]x-Q4_K_M.gguf", another file)
    assert f"llama-server -m {shlex.quote(name)} " in out
    assert name.rsplit("/", 1)[-1].removesuffix(".gguf") in out  # and so does the table


def test_names_with_escapes_never_reach_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from quantadvisor.dataset import load_dataset

    pairs = [(n, 5 * GiB) for n in UNSAFE_NAMES] + [("ok-Q4_K_M.gguf", 4_920_739_232)]
    rec = rank_files(pairs, task="chat", vram_gib=8, model="8b")
    render_recommendation(rec, load_dataset(), explain=True, show_all=True)
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\x00" not in out
    assert "llama-server -m ok-Q4_K_M.gguf " in out  # the real pick's command
    # one real "Pick:" line; the fake one only as quoted text inside its skipped-name note
    assert sum(line.startswith("Pick:") for line in out.splitlines()) == 1


def test_error_lines_carry_no_escape_sequences(capsys: pytest.CaptureFixture[str]) -> None:
    from quantadvisor.cli import main

    code = main(["suggest", "--task", "chat", "--model", "x\x1b[2J\x1b]0;t\x07\n-Q4.gguf", "--vram", "8"])
    assert code == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert err.count("\n") <= 2  # one Error line and one Hint line
    assert err.startswith("Error: ")


def test_json_output_keeps_names_exact(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    from quantadvisor.cli import main

    # A .gguf file whose name carries markup: its shape is read, and --json names it exactly.
    from hostile import gguf, shape_keys

    path = tmp_path / "[bold]m-Q4_K_M.gguf"
    path.write_bytes(gguf(shape_keys("llama", window=None)))
    assert main(["memory", "--model", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "[bold]m-Q4_K_M"
    assert main(["memory", "--model", str(path)]) == 0
    assert capsys.readouterr().out.startswith("[bold]m-Q4_K_M: context 4096")  # shown as written


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("a\x1b[31mred\x1b[0m", "ared"), ("x\x1b]8;;http://evil\x07link\x1b]8;;\x07", "xlink"), ("t\tab\nok", "t\tab\nok"),
     ("\u202egnp.exe", "gnp.exe"), ("a\x00b\x7fc\x9bd", "abc"), ("http://u:p@h/x", "http://***@h/x")],
)  # fmt: skip
def test_terminal_text_strips_controls(raw: str, shown: str) -> None:
    assert terminal_text(raw) == shown


def test_safe_text_escapes_markup_that_rich_would_read() -> None:
    from rich.text import Text

    for name in MARKUP_NAMES:
        assert Text.from_markup(safe_text(name)).plain == name


def test_the_loss_command_prints_untrusted_names_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """Notes of an expected loss name catalog models and data/ records: markup and escapes stay inert."""
    from quantadvisor import expected_loss
    from quantadvisor.dataset import load_dataset
    from quantadvisor.render import render_loss

    e = expected_loss("Q4_K_M", "code", model="8b")
    hostile = e.model_copy(update={"notes": ["[bold red]x[/] \x1b[2Jcleared"]})
    render_loss(hostile, load_dataset())
    out = capsys.readouterr().out
    assert "[bold red]x[/]" in out
    assert "\x1b" not in out
