"""Hypothesis fuzzing of the public functions and of CLI argument vectors: whatever the arguments' types and
values, only QuantAdvisorError subclasses come out (exit codes as documented, one Error: line, no traceback)."""

from __future__ import annotations

import io
import math
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quantadvisor import estimate_memory, load_model_spec, pick_file, rank_files, recommend
from quantadvisor.errors import ExitCode, QuantAdvisorError

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# Values of every kind a caller might pass by mistake, plus plausible ones so deeper code runs too.
odd_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
    st.text(max_size=12), st.binary(max_size=8), st.just(math.inf), st.just(10**400), st.just(""),
    st.just("~nosuchuser_qa/x"), st.just("x" * 300), st.just("a\x00b"), st.just(Path("/nonexistent/x.gguf")),
)  # fmt: skip
odd = st.one_of(odd_scalars, st.lists(odd_scalars, max_size=3), st.dictionaries(st.text(max_size=4), odd_scalars,
                max_size=3), st.just(object()), st.just(float))  # fmt: skip
tasks = st.one_of(st.sampled_from(["code", "chat", "rag", "math", "coding"]), odd)
models = st.one_of(st.sampled_from(["8b", "3b", "30b-a3b", "120b", "org/x@../y", "x.gguf", "x.json"]), odd)
vram = st.one_of(st.sampled_from([0, 0.5, 8, 24.0, 80]), odd)
contexts = st.one_of(st.sampled_from([512, 4096, 131072]), odd)


def only_library_errors(call, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    try:
        call(*args, **kwargs)
    except QuantAdvisorError as exc:
        message = exc.message
    else:
        return
    assert message  # one statement of fact, never empty


@FUZZ
@given(task=tasks, model=models, vram_gib=vram, context=contexts, gpus=st.one_of(st.just(1), odd),
       ram=st.one_of(st.none(), odd), prefer=st.one_of(st.just("balanced"), odd), gpu=st.one_of(st.none(), odd),
       embedding=st.one_of(st.none(), odd))  # fmt: skip
def test_recommend_raises_only_library_errors(task, model, vram_gib, context, gpus, ram, prefer, gpu, embedding):
    only_library_errors(
        recommend, task, model=model, vram_gib=vram_gib, context_tokens=context, gpus=gpus, ram_gib=ram,
        prefer=prefer, gpu=gpu, embedding_model=embedding, dataset=None,
    )  # fmt: skip


@FUZZ
@given(model=models, quant=st.one_of(st.sampled_from(["Q4_K_M", "Q8_0", "IQ2_M", "all"]), odd), context=contexts,
       layers=st.one_of(st.none(), odd), ctk=st.one_of(st.just("f16"), odd), fa=st.one_of(st.booleans(), odd),
       ub=st.one_of(st.just(512), odd), moe=st.one_of(st.just(0), odd), n_gpus=st.one_of(st.just(1), odd),
       dataset=st.one_of(st.none(), odd))  # fmt: skip
def test_estimate_memory_raises_only_library_errors(model, quant, context, layers, ctk, fa, ub, moe, n_gpus, dataset):
    only_library_errors(
        estimate_memory, model, quant, context_tokens=context, gpu_layers=layers, cache_type_k=ctk, flash_attn=fa,
        n_ubatch=ub, n_cpu_moe=moe, n_gpus=n_gpus, dataset=dataset,
    )  # fmt: skip


names = st.one_of(st.sampled_from(["a-Q4_K_M.gguf", "../a-Q8_0.gguf", "/x-Q6_K.gguf", "b-00001-of-00002.gguf",
                                   "mmproj-f16.gguf", "C:\\x-Q4_K_M.gguf"]), odd)  # fmt: skip
sizes = st.one_of(st.integers(min_value=-5, max_value=2**62), odd)
file_lists = st.one_of(
    st.lists(st.tuples(names, sizes), max_size=4),
    st.dictionaries(st.text(max_size=20), sizes, max_size=3),
    st.lists(odd, max_size=3),
    odd,
)


@FUZZ
@given(files=file_lists, task=tasks, model=st.one_of(st.just("8b"), models), vram_gib=vram,
       revision=st.one_of(st.none(), odd), multimodal=st.one_of(st.booleans(), odd))  # fmt: skip
def test_rank_and_pick_raise_only_library_errors(files, task, model, vram_gib, revision, multimodal):
    if isinstance(files, str) and "/" in files:
        return  # a repo id would ask the network: the hostile-Hub tests cover repos
    for call in (rank_files, pick_file):
        only_library_errors(call, files, task=task, model=model, vram_gib=vram_gib, revision=revision,
                            multimodal=multimodal)  # fmt: skip


config_values = st.one_of(st.integers(min_value=-(2**41), max_value=2**41), st.booleans(), st.text(max_size=5),
                          st.floats(), st.none(), st.lists(st.integers(-3, 5000), max_size=3))  # fmt: skip
config_keys = st.sampled_from([
    "num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "vocab_size",
    "intermediate_size", "head_dim", "num_local_experts", "num_experts_per_tok", "moe_intermediate_size",
    "sliding_window", "sliding_window_pattern", "kv_lora_rank", "layer_types", "full_attention_interval",
    "first_k_dense_replace", "tie_word_embeddings", "max_position_embeddings", "model_type", "text_config",
    "linear_num_value_heads", "qk_rope_head_dim", "n_shared_experts", "rope_scaling",
])  # fmt: skip


@FUZZ
@given(
    changes=st.dictionaries(config_keys, config_values, max_size=6),
    model_type=st.sampled_from(["llama", "gemma2", "gemma3", "qwen3_moe", "deepseek_v3", "gpt_oss", "x"]),
)
def test_load_model_spec_on_fuzzed_configs_raises_only_library_errors(changes, model_type):
    from hostile import tiny_config

    config = tiny_config(model_type=model_type, num_local_experts=8, num_experts_per_tok=2)
    config.update(changes)
    only_library_errors(load_model_spec, config)
    try:
        spec = load_model_spec(config)
    except QuantAdvisorError:
        return
    only_library_errors(estimate_memory, spec, "Q4_K_M")  # whatever is accepted can be planned


@FUZZ
@given(model=odd)
def test_load_model_spec_on_odd_arguments_raises_only_library_errors(model):
    only_library_errors(load_model_spec, model)


def test_detect_hardware_with_the_fake_nvml_never_raises(monkeypatch) -> None:
    """detect_hardware takes no untrusted argument but sysfs_root; odd values are the caller's own error."""
    from quantadvisor.hardware import detect_hardware

    monkeypatch.setitem(sys.modules, "pynvml", None)  # no NVML
    report = detect_hardware(sysfs_root="/nonexistent-sysfs")
    assert report.gpus == [] or all(g.total_bytes >= 0 for g in report.gpus)


# ---- CLI argument vectors ---------------------------------------------------------------------------------

words = st.sampled_from([
    "suggest", "memory", "detect", "formats", "evidence", "gpus", "--task", "code", "chat", "--model", "8b", "120b",
    "--vram", "0", "1", "-1", "nan", "inf", "1e400", "--ram", "--gpu", "RTX 4090", "--gpus", "0", "2", "--context",
    "32k", "0k", "--quant", "Q4_K_M", "all", "--json", "--all", "--explain", "--rag", "none", "--prefer", "speed",
    "--format", "--source", "--search", "", " ", "--data", "/nonexistent", "--revision", "main", "--multimodal",
    "--cache-type-k", "q4_0", "--flash-attn", "on", "--gpu-layers", "-3", "--n-cpu-moe", "99999999999999999999",
    "--ubatch", "x", "~nosuchuser_qa", "x" * 300, "a\x1b[2Jb", "[/]", "org/repo@..", "--debug",
])  # fmt: skip
DOCUMENTED = {int(code) for code in ExitCode}


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(argv=st.lists(st.one_of(words, st.text(max_size=6)), max_size=9))
def test_cli_argv_gives_documented_exit_codes_and_no_traceback(argv, monkeypatch) -> None:
    from quantadvisor.cli import main

    if "--debug" in argv or any("/" in w and not w.startswith("/") for w in argv):
        return  # --debug re-raises on purpose; repo ids would ask the network (the hostile-Hub tests do)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # detection finds no GPU, deterministically
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    assert code in DOCUMENTED
    assert "Traceback" not in err.getvalue()
    if code not in (0, 3) and err.getvalue():
        first = err.getvalue().splitlines()[0]
        assert first.startswith(("Error: ", "usage: ", "{")) or "error:" in err.getvalue()


@pytest.mark.parametrize("argv", [["suggest", "--task", "code", "--model", "x" * 256], ["suggest", "--task", "code",
                                  "--model", "~nosuchuser_qa", "--vram", "8"]])  # fmt: skip
def test_issue_examples_in_the_cli(argv, capsys) -> None:
    from quantadvisor.cli import main

    assert main(argv) == ExitCode.USAGE
    assert capsys.readouterr().err.startswith("Error: ")


@pytest.mark.parametrize(
    "argv",
    [["evidence", "--source", ""], ["evidence", "--format", ""], ["evidence", "--task", " "], ["--data", "", "gpus"],
     ["gpus", "--search", ""], ["suggest", "--task", "code", "--model", "", "--vram", "8"],
     ["suggest", "--task", "", "--vram", "8"]],
)  # fmt: skip
def test_empty_option_values_are_usage_errors(argv, capsys) -> None:
    from quantadvisor.cli import main

    assert main(argv) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("Error: --")
    assert "is empty" in err
