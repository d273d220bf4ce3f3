"""Command-line interface: argparse, main(argv) -> int, known errors → one line and an exit code.

Heavy modules (pydantic models, yaml, rich, pynvml, huggingface_hub) are imported inside the
command handlers so that `quantadvisor --help` starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .errors import ExitCode, QuantAdvisorError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from _typeshed import SupportsWrite

    from .dataset import Dataset

__all__ = ["build_parser", "main"]

TASK_HELP = "code, math, reasoning, chat, qa, summarization, translation, rag"


def _gib(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of GiB") from None


def _positive_int(text: str) -> int:
    """A positive whole number; '32k' means 32 × 1024, as llama.cpp users count contexts."""
    raw = text.strip().lower()
    scale = 1024 if raw.endswith("k") else 1
    digits = raw[:-1] if scale > 1 else raw
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (e.g. 8192 or 32k)")
    value = int(digits) * scale
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _ubatch(text: str) -> int | str:
    """llama.cpp's -ub: a positive number of tokens, or 'auto' (the planner picks)."""
    return "auto" if text.strip().lower() == "auto" else _positive_int(text)


def _gbps(text: str) -> float:
    """A positive finite number (GB/s, or a price)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def _ram_bandwidth(text: str) -> float:
    """GB/s of host RAM: positive, finite and within limits.MAX_HOST_BANDWIDTH_GBPS."""
    from .limits import MAX_HOST_BANDWIDTH_GBPS

    value = _gbps(text)
    if value > MAX_HOST_BANDWIDTH_GBPS:
        limit = f"{MAX_HOST_BANDWIDTH_GBPS:,}"
        raise argparse.ArgumentTypeError(f"{text} GB/s is beyond any real machine's (limit {limit})")
    return value


def _nonnegative_int(text: str) -> int:
    """0 or a positive whole number ('16k' allowed)."""
    return 0 if text.strip() == "0" else _positive_int(text)


_CACHE_TYPES_HELP = "f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1"


class _Parser(argparse.ArgumentParser):
    """argparse, with its messages (which quote the arguments back) stripped of terminal escape sequences."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            from .untrusted import terminal_text

            super()._print_message(terminal_text(message), file)


class _JsonErrorParser(_Parser):
    """An ArgumentParser that raises its usage errors, so main() can print them as JSON."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def build_parser(*, json_errors: bool = False) -> argparse.ArgumentParser:
    """The argparse tree: one sub-command per job (usage errors raised, not printed, with json_errors)."""
    parser_class = _JsonErrorParser if json_errors else _Parser
    # fmt: off
    parser = parser_class(
        prog="quantadvisor",
        description="Which quantized build of a local LLM to run on this hardware, and why.",
        epilog="Run 'quantadvisor COMMAND --help' for a command's options. Every command takes --json.",
    )
    parser.add_argument("--version", action="version", version=f"quantadvisor {__version__}")
    parser.add_argument("--data", metavar="DIR",
                        help="extra YAML data folder; its records override the bundled ones (default: none)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for known errors too (default: off)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    s = sub.add_parser("suggest", help="rank quantizations for a task, model and machine",
                       description="Rank the quantized builds of a model (or of every reference size) for a task "
                       "on this machine or one you plan for.")
    s.add_argument("--task", required=True, help=f"what the model is for: {TASK_HELP} (required)")
    s.add_argument("--model", help="a name (Qwen2.5-Coder-7B-Instruct), Ollama tag (qwen2.5-coder:7b), size (9b, "
                   "30b-a3b, 405b), config.json, folder, .gguf file or Hub repo id[@revision] "
                   "(default: compare every reference size)")
    s.add_argument("--revision", metavar="REV", help="branch, tag or commit of the Hub repo (default: main)")
    s.add_argument("--multimodal", action="store_true",
                   help="count the repo's mmproj (vision projector) on the GPU (default: text model only)")
    s.add_argument("--vram", type=_gib, metavar="GIB",
                   help="plan for this much VRAM per card; 0 = CPU only (default: detect the GPU)")
    s.add_argument("--gpu", metavar="NAME", help='plan for a catalog GPU, e.g. "RTX 4060" (default: detect)')
    s.add_argument("--gpus", type=_positive_int, default=1, metavar="N",
                   help="number of identical cards for --vram/--gpu (default: 1)")
    s.add_argument("--ram", type=_gib, metavar="GIB",
                   help="host RAM for offload and CPU-only plans (default: this machine's available RAM when "
                   "detecting or with --vram 0, else unchecked)")
    s.add_argument("--context", type=_positive_int, default=4096, metavar="N",
                   help="context tokens, llama.cpp -c; 32k = 32768 (default: 4096)")
    s.add_argument("--rag", nargs="?", const="bge-m3", metavar="EMBEDDING_MODEL",
                   help="reserve VRAM for a resident embedding model; bare --rag = BGE-M3, 'none' = off "
                   "(default: none, BGE-M3 with --task rag)")
    s.add_argument("--prefer", choices=["quality", "balanced", "speed"], default="balanced",
                   help="balanced: expected loss (at least the target's) x slowdown against the fastest; "
                   "quality: the most "
                   "bits that fit; speed: the fastest decode at or above the task's floor; without a known GPU "
                   "bandwidth (bare --vram), the task's ladder order (default: balanced)")
    s.add_argument("--ram-bandwidth", type=_ram_bandwidth, metavar="GBPS",
                   help="system RAM bandwidth in GB/s for offloaded speed (default: 76.8, dual-channel DDR5-4800; "
                   "the chip's own on unified memory)")
    s.add_argument("--price-kwh", type=_gbps, metavar="PRICE",
                   help="electricity price per kWh: adds a cost per million tokens at the GPU's TDP (default: none)")
    s.add_argument("--cache-type-k", "-ctk", default="auto", metavar="TYPE",
                   help=f"KV cache type for K, llama.cpp -ctk: auto or {_CACHE_TYPES_HELP} (default: auto = f16, "
                   "then q8_0, then q4_0 until it fits on the GPU)")
    s.add_argument("--cache-type-v", "-ctv", default="auto", metavar="TYPE",
                   help="KV cache type for V, llama.cpp -ctv; a quantized V needs flash attention (default: auto)")
    s.add_argument("--flash-attn", choices=["auto", "on", "off"], default="auto",
                   help="flash attention, llama.cpp -fa (default: auto = on, as llama.cpp's -fa auto "
                   "on CUDA)")
    s.add_argument("--ubatch", type=_ubatch, default="auto", metavar="N",
                   help="physical batch, llama.cpp -ub: a number or auto (default: auto = 512, then 256 to fit)")
    s.add_argument("--margin", type=_gib, metavar="GIB",
                   help="VRAM to keep free per GPU, detected or planned; 0 plans the whole card "
                   "(default: 1, llama.cpp's --fit-target)")
    s.add_argument("--explain", action="store_true",
                   help="print the rules that fired with their citations, and the budget arithmetic (default: off)")
    s.add_argument("--all", action="store_true", help="show every option (default: the top ten)")
    s.add_argument("--json", action="store_true", help="print the Recommendation as JSON; errors as JSON on stderr")

    m = sub.add_parser("memory", help="predict llama.cpp memory for a model and quant",
                       description="Predict what llama.cpp allocates on the GPU and the host for a model as a GGUF "
                       "quant, with the given runtime settings.")
    m.add_argument("--model", required=True, help="a name or Ollama tag, size (8b, 405b), config.json, folder, .gguf "
                   "file or Hub repo id (required)")
    m.add_argument("--quant", help="GGUF type (Q4_K_M …) or 'all' (default: a .gguf file's own type; "
                   "required otherwise)")
    m.add_argument("--context", type=_positive_int, default=4096, metavar="N",
                   help="context tokens, llama.cpp -c; 32k = 32768 (default: 4096)")
    m.add_argument("--cache-type-k", "-ctk", default="f16", metavar="TYPE",
                   help=f"KV cache type for K, llama.cpp -ctk: {_CACHE_TYPES_HELP} (default: f16)")
    m.add_argument("--cache-type-v", "-ctv", default="f16", metavar="TYPE",
                   help="KV cache type for V, llama.cpp -ctv; a quantized V needs flash attention (default: f16)")
    m.add_argument("--flash-attn", nargs="?", const="on", choices=["auto", "on", "off"], default="auto",
                   help="flash attention, llama.cpp -fa; bare --flash-attn = on (default: auto = on, as llama.cpp's "
                   "-fa auto on CUDA)")
    m.add_argument("--gpu-layers", type=int, metavar="N", help="llama.cpp -ngl; 0 = weights on the host (default: all)")
    m.add_argument("--n-cpu-moe", type=int, default=0, metavar="N",
                   help="llama.cpp --n-cpu-moe: experts of the first N layers in host RAM (default: 0)")
    m.add_argument("--ubatch", type=_positive_int, default=512, metavar="N",
                   help="physical batch, llama.cpp -ub (default: 512)")
    m.add_argument("--gpu", metavar="NAME",
                   help='catalog GPU for a decode/prefill tok/s column, e.g. "H100 SXM" (default: no speed)')
    m.add_argument("--ram-bandwidth", type=_ram_bandwidth, metavar="GBPS",
                   help="system RAM bandwidth in GB/s for offloaded speed (default: 76.8, dual-channel DDR5-4800)")
    m.add_argument("--depth", type=_nonnegative_int, default=0, metavar="N",
                   help="tokens already in the KV cache when decoding, llama-bench -d (default: 0)")
    m.add_argument("--json", action="store_true", help="print the MemoryEstimate as JSON; errors as JSON on stderr")

    k = sub.add_parser("pick", help="print the GGUF file(s) of a Hub repo to fetch, one per line (for scripts)",
                       description="Pick the GGUF build of a Hub repo for a task on this machine (or one you plan "
                       "for) and print its file names, one per line: every part of a split build, and the mmproj "
                       "with --multimodal. Exit code 3 when nothing fits.")
    k.add_argument("repo", metavar="REPO", help="Hugging Face repo id, owner/name[@revision]")
    k.add_argument("--task", required=True, help=f"what the model is for: {TASK_HELP} (required)")
    k.add_argument("--revision", metavar="REV", help="branch, tag or commit of the repo (default: main)")
    k.add_argument("--multimodal", action="store_true",
                   help="count the repo's mmproj on the GPU and print it too (default: text model only)")
    k.add_argument("--vram", type=_gib, metavar="GIB",
                   help="plan for this much VRAM per card; 0 = CPU only (default: detect the GPU)")
    k.add_argument("--gpu", metavar="NAME", help='plan for a catalog GPU, e.g. "RTX 4060" (default: detect)')
    k.add_argument("--gpus", type=_positive_int, default=1, metavar="N",
                   help="number of identical cards for --vram/--gpu (default: 1)")
    k.add_argument("--ram", type=_gib, metavar="GIB", help="host RAM for offload plans (default: as suggest)")
    k.add_argument("--context", type=_positive_int, default=4096, metavar="N",
                   help="context tokens, llama.cpp -c; 32k = 32768 (default: 4096)")
    k.add_argument("--prefer", choices=["quality", "balanced", "speed"], default="balanced",
                   help="as suggest (default: balanced)")
    k.add_argument("--margin", type=_gib, metavar="GIB",
                   help="VRAM to keep free per GPU; 0 plans the whole card (default: 1)")
    k.add_argument("--json", action="store_true", help="print the chosen option (files, plan, commands) as JSON")

    d = sub.add_parser("detect", help="show the GPUs and memory found, and the planning budget")
    d.add_argument("--json", action="store_true", help="print the report and budget as JSON")

    f = sub.add_parser("formats", help="list the quantization formats and what they need")
    f.add_argument("--json", action="store_true", help="print the formats as JSON")

    e = sub.add_parser("evidence", help="list the cited quality evidence behind the expected loss")
    e.add_argument("--format", help="only records of this format, e.g. Q4_K_M (default: all)")
    e.add_argument("--task", help="only records of this task category, e.g. code, math, chat, language-modelling "
                   "(default: all)")
    e.add_argument("--source", help="only records from this source id (default: all)")
    e.add_argument("--json", action="store_true", help="print the records, with their citations, as JSON")

    lo = sub.add_parser("loss", help="expected quality loss of one format for a task and model, with its sources")
    lo.add_argument("--quant", required=True,
                    help="a GGUF type or serving format (Q4_K_M, W4A16-INT, NVFP4 ...), or KV-q8_0 for a KV cache")
    lo.add_argument("--task", default="chat", help=f"{TASK_HELP} (default: chat)")
    lo.add_argument("--model", help="a size (8b, 0.5b, 405b, 671b-a37b: any size, approximate) or a model name "
                    "(default: an 8B dense model)")
    lo.add_argument("--cache-type-k", "-ctk", default="f16", help="K cache type the model runs with (default: f16)")
    lo.add_argument("--cache-type-v", "-ctv", default="f16", help="V cache type the model runs with (default: f16)")
    lo.add_argument("--json", action="store_true", help="print the LossEstimate as JSON")

    g = sub.add_parser("gpus", help="list the GPU catalog (memory, bandwidth, native formats)")
    g.add_argument("--search", help="only GPUs whose name contains this, e.g. 4060 (default: all)")
    g.add_argument("--json", action="store_true", help="print the GPUs as JSON")
    # fmt: on
    return parser


def _dataset(args: argparse.Namespace) -> Dataset:
    from .dataset import load_dataset

    return load_dataset(args.data)


def _print_json(payload: object) -> None:
    import json

    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def _cmd_suggest(args: argparse.Namespace) -> int:
    from .api import is_repo_model

    ds = _dataset(args)
    model = args.model
    if is_repo_model(model):
        from .files import rank_files
        from .render import spinner

        with spinner(f"fetching {model} from the Hugging Face Hub"):
            rec = rank_files(
                model, task=args.task, vram_gib=args.vram, gpu=args.gpu, gpus=args.gpus, context_tokens=args.context,
                ram_gib=args.ram, revision=args.revision, multimodal=args.multimodal, embedding_model=args.rag,
                prefer=args.prefer, margin_gib=args.margin, dataset=ds, **_knobs(args),
            )  # fmt: skip
    else:
        if args.revision or args.multimodal:
            from .errors import InvalidRequestError

            flag = "--revision" if args.revision else "--multimodal"
            raise InvalidRequestError(
                f"{flag} applies to a Hugging Face repo id, not to --model {model}",
                hint="pass --model owner/name (a GGUF repo), or leave the flag out",
            )
        rec = _recommend(args, ds)
    if args.json:
        payload = rec.model_dump(mode="json")
        payload["pick"] = rec.pick.model_dump(mode="json") if rec.pick else None
        _print_json(payload)
    else:
        from .render import render_recommendation  # rich loads only for tables, not --json

        render_recommendation(rec, ds, explain=args.explain, show_all=args.all)
    return ExitCode.OK if rec.pick is not None else ExitCode.NOTHING_FITS


def _recommend(args: argparse.Namespace, ds: Dataset):  # type: ignore[no-untyped-def]
    from .api import recommend as rec_fn

    return rec_fn(
        args.task, model=args.model, vram_gib=args.vram, gpu=args.gpu, gpus=args.gpus, context_tokens=args.context,
        ram_gib=args.ram, embedding_model=args.rag, prefer=args.prefer, margin_gib=args.margin, dataset=ds,
        host_bandwidth_gbps=args.ram_bandwidth, price_per_kwh=args.price_kwh, **_knobs(args),
    )  # fmt: skip


def _knobs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "cache_type_k": args.cache_type_k, "cache_type_v": args.cache_type_v, "flash_attn": args.flash_attn,
        "n_ubatch": args.ubatch,
    }  # fmt: skip


def _cmd_pick(args: argparse.Namespace) -> int:
    from .files import pick_option

    option = pick_option(
        args.repo, task=args.task, vram_gib=args.vram, gpu=args.gpu, gpus=args.gpus, context_tokens=args.context,
        ram_gib=args.ram, revision=args.revision, multimodal=args.multimodal, prefer=args.prefer,
        margin_gib=args.margin, dataset=_dataset(args),
    )  # fmt: skip
    if args.json:
        _print_json(option.model_dump(mode="json"))
        return ExitCode.OK
    # The build's files (every part of a split), and the projector with --multimodal: what to download.
    names = option.handoff.fetch if option.handoff and option.handoff.fetch else option.files or [option.file or ""]
    sys.stdout.write("".join(f"{name}\n" for name in names))
    return ExitCode.OK


def _cmd_memory(args: argparse.Namespace) -> int:
    from .errors import InvalidRequestError
    from .memory import GGUF_FILE_TYPES, estimate_memory

    ds = _dataset(args)
    is_file = str(args.model).lower().endswith(".gguf")
    if is_file and args.quant and args.quant.lower() == "all":
        raise InvalidRequestError("a .gguf file holds one quantization: --quant all does not apply to it")
    if not is_file and not args.quant:
        raise InvalidRequestError("--quant is required unless --model is a .gguf file", hint="e.g. --quant Q4_K_M")
    if is_file:
        quants = [args.quant or "file"]
    else:
        quants = list(GGUF_FILE_TYPES) if args.quant.lower() == "all" else [args.quant]
    estimates = [
        estimate_memory(
            args.model, q, context_tokens=args.context, gpu_layers=args.gpu_layers, cache_type_k=args.cache_type_k,
            cache_type_v=args.cache_type_v, flash_attn=args.flash_attn != "off",  # auto = on, as llama.cpp -fa auto
            n_ubatch=args.ubatch, n_cpu_moe=args.n_cpu_moe, dataset=ds,
        )
        for q in quants
    ]  # fmt: skip
    speeds = []
    if args.gpu:
        from .speed import estimate_speed

        speeds = [
            estimate_speed(
                args.model, e.quant, gpu=args.gpu, gpu_layers=e.gpu_layers, n_cpu_moe=args.n_cpu_moe,
                context_tokens=args.context, depth_tokens=args.depth, flash_attn=e.flash_attn,
                cache_type_k=e.cache_type_k, cache_type_v=e.cache_type_v, n_ubatch=args.ubatch,
                host_bandwidth_gbps=args.ram_bandwidth, dataset=ds,
            )
            for e in estimates
        ]  # fmt: skip
    if args.json:
        dumped = [e.model_dump(mode="json") for e in estimates]
        for d, sp in zip(dumped, speeds, strict=False):
            d["speed"] = sp.model_dump(mode="json")
        _print_json(dumped[0] if len(dumped) == 1 else dumped)
    else:
        from .render import render_memory  # rich loads only for tables, not --json

        render_memory(estimates, speeds)
    return ExitCode.OK


def _cmd_detect(args: argparse.Namespace) -> int:
    from .hardware import detect_hardware, planning_budget

    report = detect_hardware()
    budget = planning_budget(report)
    if args.json:
        _print_json({"report": report.model_dump(mode="json"), "budget": budget.model_dump(mode="json")})
    else:
        from .render import render_detect  # rich loads only for tables, not --json

        render_detect(report, budget)
    return ExitCode.OK


def _cmd_formats(args: argparse.Namespace) -> int:

    ds = _dataset(args)
    if args.json:
        _print_json([f.model_dump(mode="json") for f in ds.formats.values()])
    else:
        from .render import render_formats  # rich loads only for tables, not --json

        render_formats(ds)
    return ExitCode.OK


def _cmd_evidence(args: argparse.Namespace) -> int:
    from .errors import InvalidRequestError

    ds = _dataset(args)
    records = list(ds.evidence.values())
    if args.format:
        fmt = ds.format(args.format)
        records = [r for r in records if r.format == fmt.name or r.format.startswith(fmt.name + "+")]
    if args.task:
        from .api import normalise_task

        tasks = sorted({r.task for r in ds.evidence.values()})
        if args.task not in tasks:
            args.task = normalise_task(args.task)  # the same aliases as suggest ("coding" → code)
        if args.task not in tasks:
            from .dataset import closest_names

            close = closest_names(args.task, tasks)
            raise InvalidRequestError(
                f"no evidence task {args.task!r}",
                hint=f"use one of {', '.join(tasks)}" + (f" (closest: {close[0]})" if close else ""),
            )
        records = [r for r in records if r.task == args.task]
    if args.source:
        ds.source(args.source)
        records = [r for r in records if r.source == args.source]
    if args.json:
        _print_json(
            [{**r.model_dump(mode="json"), "citation": ds.sources[r.source].model_dump(mode="json")} for r in records]
        )
    else:
        from .render import render_evidence  # rich loads only for tables, not --json

        render_evidence(records, ds)
    return ExitCode.OK


def _cmd_loss(args: argparse.Namespace) -> int:
    from .loss import expected_loss

    ds = _dataset(args)
    estimate = expected_loss(
        args.quant, args.task, model=args.model, cache_type_k=args.cache_type_k, cache_type_v=args.cache_type_v,
        dataset=ds,
    )  # fmt: skip
    if args.json:
        _print_json(estimate.model_dump(mode="json"))
    else:
        from .render import render_loss  # rich loads only for tables, not --json

        render_loss(estimate, ds)
    return ExitCode.OK


def _cmd_gpus(args: argparse.Namespace) -> int:

    ds = _dataset(args)
    gpus = list(ds.gpus.values())
    if args.search:
        needle = args.search.casefold().replace(" ", "")
        gpus = [g for g in gpus if needle in (g.name + "".join(g.aliases)).casefold().replace(" ", "")]
    if args.json:
        _print_json([g.model_dump(mode="json") for g in gpus])
    else:
        from .render import render_gpus  # rich loads only for tables, not --json

        render_gpus(gpus, ds)
    return ExitCode.OK


_COMMANDS = {
    "suggest": _cmd_suggest,
    "memory": _cmd_memory,
    "pick": _cmd_pick,
    "detect": _cmd_detect,
    "formats": _cmd_formats,
    "evidence": _cmd_evidence,
    "loss": _cmd_loss,
    "gpus": _cmd_gpus,
}


def entry() -> NoReturn:
    """The process entry point (the quantadvisor script and python -m quantadvisor): main(), then exit.

    The cyclic garbage collector is switched off: a run builds ~10^5 objects (pydantic, rich, the
    dataset) and has no cycles worth collecting, yet the collector's passes during start-up and
    at interpreter exit cost ~25 ms of a ~250 ms run; gc.freeze() keeps the final pass from
    walking them. In-process callers use main(), which leaves the collector alone. A reader that
    closes the pipe early (head, a pager) ends the run quietly with exit code 1, as rich does
    when its own write meets the closed pipe.
    """
    gc.disable()
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        code = _closed_pipe()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (1, quietly, when stdout's reader has gone)."""
    # The CLI uses no pydantic plugins; skipping their entry-point scan saves ~18 ms per start.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    # A machine reading --json output reads errors as JSON too, argparse's usage errors included.
    words = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in words
    parser = build_parser(json_errors=as_json)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    except _UsageError as exc:
        command = next((w for w in words if w in _COMMANDS), "COMMAND")
        return _fail(str(exc), f"see quantadvisor {command} --help", ExitCode.USAGE, as_json=True)
    if args.command is None:
        parser.print_help()
        return ExitCode.USAGE
    debug = args.debug or os.environ.get("QUANTADVISOR_DEBUG") == "1"
    as_json = bool(getattr(args, "json", False))
    try:
        _check_not_empty(args)
        return int(_COMMANDS[args.command](args))
    except QuantAdvisorError as exc:
        if debug:
            raise
        return _fail(exc.message, exc.hint, exc.exit_code, as_json=as_json)
    except KeyboardInterrupt:
        return _fail("interrupted", None, ExitCode.INTERRUPTED, as_json=as_json, label="Interrupted")
    except BrokenPipeError:
        return _closed_pipe()


def _check_not_empty(args: argparse.Namespace) -> None:
    """An option given an empty value (--source '', --data '') is a mistake, not "no filter"."""
    for key, value in vars(args).items():
        if isinstance(value, str) and not value.strip():
            from .errors import InvalidRequestError

            flag = key if key == "repo" else "--" + key.replace("_", "-")
            raise InvalidRequestError(f"{flag} is empty", hint=f"give {flag} a value, or leave it out")


class _UsageError(Exception):
    """argparse's complaint, raised instead of printed when the output must stay JSON."""


def _fail(message: str, hint: str | None, code: int, *, as_json: bool, label: str = "Error") -> int:
    """Report a known failure on stderr: one Error:/Hint: pair, or one JSON object under --json."""
    if as_json:
        import json

        payload = {"error": message, "hint": hint, "exit_code": int(code)}
        sys.stderr.write(json.dumps(payload, ensure_ascii=False) + "\n")
    elif label == "Interrupted":
        sys.stderr.write("Interrupted\n")
    else:
        from .untrusted import terminal_text  # names in messages come from listings and files: no escapes

        sys.stderr.write(f"Error: {_one_line(terminal_text(message))}\n")
        if hint:
            sys.stderr.write(f"Hint: {_one_line(terminal_text(hint))}\n")
    return int(code)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _closed_pipe() -> int:
    """The reader went away: point stdout at /dev/null so the flush at exit cannot fail again, and
    exit 1 without a message (the Python docs' recipe, and what rich does on its own writes)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # an in-process stdout may have no fd
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1
