"""Rich tables for the CLI. The only module that imports rich."""

from __future__ import annotations

import contextlib
import os
import re
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .dataset import Dataset
    from .hardware import Budget, HardwareReport
    from .memory import MemoryEstimate
    from .models import GPU, EvidenceRecord
    from .results import QuantOption, Recommendation
    from .speed import SpeedEstimate

__all__ = [
    "render_detect", "render_evidence", "render_formats", "render_gpus", "render_memory",
    "render_recommendation", "spinner",
]  # fmt: skip

GIB = 2**30
# Where the hardware figures came from, in words.
_ORIGIN = {"catalog": "from the catalog", "user": "as given", "nvml": "detected, NVML", "sysctl": "detected, sysctl"}


_LOSS_LEGEND = (
    "[dim]expected loss: mid (low–high) relative to unquantized on this task's benchmarks; "
    "* = carried over from other formats or sizes, not measured directly[/]"
)


def _console() -> Console:
    import sys

    # Pipes and CI logs get a 100-column layout instead of rich's 80-column default.
    width = None if sys.stdout.isatty() else 100
    return Console(highlight=False, soft_wrap=False, width=width, emoji=False)  # no :codes: in our text


def _gib(value: int | None) -> str:
    return "–" if value is None else f"{value / GIB:.2f}"


def _bar(used: int, budget: int, width: int = 12) -> str:
    if budget <= 0:
        return ""
    filled = min(width, round(width * used / budget))
    over = used > budget
    return ("[red]" if over else "[green]") + "█" * filled + "[/]" + "░" * (width - filled)


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    """Show a spinner on stderr while something slow (the Hub) runs."""
    console = Console(stderr=True)
    with console.status(message):
        yield


def _loss(o: QuantOption) -> str:
    e = o.expected_loss
    if e.mid is None or e.low is None or e.high is None:
        return "unknown"
    text = f"{e.mid * 100:.1f}% ({e.low * 100:.0f}–{e.high * 100:.0f})"
    return text + ("*" if e.estimate else "")


def _tok_s(speed: SpeedEstimate | None) -> str:
    """Decode tokens per second for a narrow column (an estimate; the JSON has the range)."""
    if speed is None:
        return "–"
    v = speed.decode_tokens_per_s
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def render_recommendation(rec: Recommendation, ds: Dataset, *, explain: bool = False, show_all: bool = False) -> None:
    """Print the ranked options, the pick with its command line, and optionally the fired rules."""
    console = _console()
    hw = rec.hardware
    ram = f", {hw.ram_bytes / GIB:.0f} GiB RAM" if hw.ram_bytes else ", RAM unknown (--ram GIB)"
    if hw.cpu_only or hw.vram_bytes <= 0:
        why = "--vram 0" if hw.source == "user" else "no GPU found"
        room = f"{hw.ram_bytes / GIB:.1f} GiB of RAM" if hw.ram_bytes else "RAM unknown (--ram GIB)"
        console.print(f"[bold]{rec.task}[/], [bold yellow]CPU only[/] ({why}): {room}, context {rec.context_tokens}")
        console.print("[dim]To plan for a GPU: --vram GIB or --gpu NAME[/]")
    else:
        gpu = hw.gpu_name or "planned budget"
        reserved = f" ({hw.reserved_for} reserved)" if hw.reserved_for else ""
        origin = "" if "(--vram)" in gpu else f" [dim]({_ORIGIN.get(hw.source, hw.source)})[/]"
        console.print(
            f"[bold]{rec.task}[/] on {gpu}{origin}: {hw.llm_vram_bytes / GIB:.2f} GiB VRAM for the "
            f"model{reserved}{ram}, context {rec.context_tokens}"
        )
    if not rec.by_size:
        console.print(f"[dim]rules: target {rec.target}, floor {rec.floor} (--explain shows why)[/]")
    if rec.by_size:
        table = Table(title="Best option per model size", title_justify="left")
        for col in ("size", "stands for", "quant", "bpw", "GPU GiB", "fit", "expected loss"):
            table.add_column(col, justify="right" if col in {"bpw", "GPU GiB"} else "left")
        for row in rec.by_size:
            b = row.best
            if b is None:
                table.add_row(row.size, row.stands_for, "–", "", "", "[red]does not fit[/]", "")
            else:
                table.add_row(row.size, row.stands_for, b.quant, f"{b.bits_per_weight:.2f}", _gib(b.memory.total_bytes),
                              _fit(b), _loss(b))  # fmt: skip
        console.print(table)
        console.print(_LOSS_LEGEND)
    else:
        table = Table(
            title=f"{rec.model}" + (" (approximate shape)" if rec.model_approximate else ""), title_justify="left"
        )
        files = any(o.file for o in rec.options)  # real files of a repo or a list: show which one
        names = [(o.file or "").rsplit("/", 1)[-1] for o in rec.options]
        common = os.path.commonprefix([n for n in names if n]) if files else ""  # noqa: RUF071 - characters, not paths
        cut = len(common) if len(common) >= 8 else 0  # "Meta-Llama-3.1-8B-Instruct-" once, not on every row
        speeds = any(o.speed is not None for o in rec.options)  # a bare --vram card has no bandwidth
        for col in (
            "#",
            "quant",
            "bpw",
            "GPU GiB",
            "of budget",
            "fit",
            *(["tok/s"] if speeds else []),
            "expected loss %",
            *(["file"] if files else []),
        ):
            right = col in {"#", "bpw", "GPU GiB", "tok/s"}
            table.add_column(col, justify="right" if right else "left", no_wrap=col != "file")
        shown = rec.options if show_all else rec.options[:10]
        for i, o in enumerate(shown, 1):
            table.add_row(str(i), o.quant + ("" if o.native else " (fallback)"), f"{o.bits_per_weight:.2f}",
                          _gib(o.memory.total_bytes), _bar(o.memory.total_bytes, hw.llm_vram_bytes), _fit(o),
                          *([_tok_s(o.speed)] if speeds else []), _loss(o),
                          *([_file_label(o.file, cut)] if files else []))  # fmt: skip
        console.print(table)
        if len(rec.options) > len(shown):
            console.print(f"[dim]{len(rec.options) - len(shown)} more options: --all[/]")
        console.print(_LOSS_LEGEND)
    pick = rec.pick
    if pick is None:
        console.print("[red]Nothing fits.[/] " + " ".join(rec.notes))
    else:
        model_file = pick.file.rsplit("/", 1)[-1] if pick.file else f"<model>-{pick.quant}.gguf"
        command = f"llama-server -m {model_file} " + " ".join(pick.runner_flags)
        if pick.family == "serving":
            command = " ".join(pick.runner_flags)
        console.print(f"[bold green]Pick:[/] {pick.model} {pick.quant} — {_fit(pick)}, "
                      f"{pick.memory.total_bytes / GIB:.2f} GiB on the GPU, expected loss {_loss(pick)}")  # fmt: skip
        console.print(f"  [cyan]{command}[/]")
        if pick.speed is not None:
            console.print(f"  [dim]· {_speed_line(pick.speed)}[/]")
        for note in pick.notes:
            console.print(f"  [dim]· {note}[/]")
    for note in rec.notes:
        console.print(f"[dim]{note}[/]")
    if explain and not rec.by_size:
        console.print("\n[bold]Ranking[/] (one line per option):")
        for o in rec.options if show_all else rec.options[:10]:
            console.print(f"  {o.rank_reason or o.quant}")
    if explain:
        console.print("\n[bold]Why[/] (rules in the order they fired):")
        for rule in rec.trace:
            cites = ", ".join(_cite(ds, s) for s in rule.source)
            scope = f" [{rule.applies_to}]" if rule.applies_to else ""
            console.print(f"  {rule.id}{scope}: {rule.says}\n    [dim]{rule.provenance}; {cites}[/]")
        console.print("\n[bold]Budget[/]: " + "; ".join(hw.steps))


def _speed_line(s: SpeedEstimate) -> str:
    """The pick's speed, range, bounds and energy in one line (estimates)."""
    line = (
        f"~{s.decode_tokens_per_s:.3g} tok/s decode ({s.decode_low:.3g}–{s.decode_high:.3g}, {s.decode_bound}), "
        f"~{s.prefill_tokens_per_s:.4g} tok/s prefill ({s.runtime}, estimate)"
    )
    if s.energy is not None:
        e = s.energy
        cost = f", {e.cost_per_million_tokens:.3g} per M tokens" if e.cost_per_million_tokens is not None else ""
        line += f"; ≤{e.joules_per_token:.2g} J/token, ≤{e.kwh_per_million_tokens:.2g} kWh per M tokens{cost} at TDP"
    return line


def _file_label(path: str | None, cut: int) -> str:
    """A file name for a narrow column: shared prefix cut, no .gguf, a split shown as its part count."""
    if not path:
        return ""
    name = path.rsplit("/", 1)[-1]
    label = ("…" if cut else "") + re.sub(r"\.gguf$", "", name[cut:], flags=re.IGNORECASE)
    return re.sub(r"-0*1-of-0*(\d+)$", r" (×\1)", label)


def _cite(ds: Dataset, source_id: str) -> str:
    s = ds.sources.get(source_id)
    if s is None:
        return source_id
    where = f"arXiv:{s.arxiv}" if s.arxiv else (s.url or s.repository or "")
    return f"{source_id} ({where})"


def _fit(o: QuantOption) -> str:
    below = " (below floor)" if o.below_floor else ""
    if o.fit == "partial" and o.gpu_layers == 0:
        return f"[yellow]CPU only[/]{below}"
    if o.fit == "gpu":
        return f"[green]GPU[/]{below}"
    if o.fit == "partial":
        return f"[yellow]partial {o.gpu_layers}/{o.memory.n_layers}[/]{below}"
    if o.fit == "moe-offload":
        return f"[yellow]MoE offload ({o.n_cpu_moe})[/]{below}"
    return "[red]no[/]"


def render_memory(estimates: Sequence[MemoryEstimate], speeds: Sequence[SpeedEstimate | None] = ()) -> None:
    """Print a GPU/host breakdown per estimate (and its decode speed, when a GPU was named)."""
    console = _console()
    first = estimates[0]
    console.print(
        f"{first.model}: context {first.context_tokens}, KV {first.cache_type_k}/{first.cache_type_v}, "
        f"flash attention {'on' if first.flash_attn else 'off'}, ubatch {first.n_ubatch}"
        + (" (approximate shape)" if first.approximate else "")
    )
    table = Table()
    cols = ["quant", "file GiB", "weights", "KV", "compute", "overhead", "GPU total", "-ngl", "host GiB"]
    for col in cols + (["tok/s"] if speeds else []):
        table.add_column(col, justify="left" if col == "quant" else "right")
    for i, e in enumerate(estimates):
        table.add_row(e.quant, _gib(e.file_bytes), _gib(e.weights_bytes), _gib(e.kv_cache_bytes), _gib(e.compute_bytes),
                      _gib(e.overhead_bytes), f"[bold]{_gib(e.total_bytes)}[/]", f"{e.gpu_layers}/{e.n_layers}",
                      _gib(e.host_bytes), *([_tok_s(speeds[i])] if speeds else []))  # fmt: skip
    console.print(table)


def render_detect(report: HardwareReport, budget: Budget) -> None:
    """Print the GPUs found, their memory, and the planning budget with its arithmetic."""
    console = _console()
    table = Table(title=f"Hardware (source: {report.source})", title_justify="left")
    for col in ("#", "name", "total GiB", "free GiB", "CC", "bandwidth GB/s", "source"):
        table.add_column(col)
    for g in report.gpus:
        table.add_row(str(g.index), g.name, _gib(g.total_bytes), _gib(g.free_bytes),
                      "–" if g.compute_capability is None else f"{g.compute_capability:.1f}",
                      "–" if g.peak_bandwidth_gbps is None else f"{g.peak_bandwidth_gbps:.0f}", g.source)  # fmt: skip
    console.print(table)
    console.print(f"Host RAM: {_gib(report.host_ram_bytes)} GiB ({report.host_ram_source or 'unknown'})")
    console.print(f"[bold]Planning budget:[/] {budget.vram_bytes / GIB:.2f} GiB VRAM")
    for step in budget.steps:
        console.print(f"  {step}")
    for note in report.notes:
        console.print(f"[dim]{note}[/]")


def render_formats(ds: Dataset) -> None:
    """Print every format with kind, block bpw, measured bpw and hardware needs."""
    table = Table()
    for col in ("name", "family", "kind", "block bpw", "measured bpw", "imatrix", "needs", "runtimes"):
        table.add_column(col)
    for f in ds.formats.values():
        measured = next((f"{m.bits_per_weight:.2f} ({m.model})" for m in f.measured_bpw), "–")
        needs = f"CC ≥ {f.min_compute_capability}" if f.min_compute_capability else "any"
        imatrix = "yes" if f.needs_imatrix else ""
        table.add_row(
            f.name, f.family, f.kind, f"{f.block_bits_per_weight:g}", measured, imatrix, needs, ", ".join(f.runtimes)
        )
    _console().print(table)


def render_evidence(records: Sequence[EvidenceRecord], ds: Dataset) -> None:
    """Print evidence records with their citations."""
    table = Table()
    for col in ("id", "format", "task", "model", "metric", "baseline", "quantized / change", "prov.", "source"):
        table.add_column(col)
    for r in records:
        if r.quantized is not None:
            value = f"{r.quantized:g}"
        elif r.relative_change is not None:
            value = f"{r.relative_change * 100:+.1f}%"
        else:
            lo, hi = r.relative_change_range or (0.0, 0.0)
            value = f"{lo * 100:+.0f}…{hi * 100:+.0f}%"
        model = r.model.name if r.model else f"{r.model_size_range_billions}B"
        table.add_row(r.id, r.format, r.task, model, r.metric, "–" if r.baseline is None else f"{r.baseline:g}", value,
                      r.provenance, _cite(ds, r.source))  # fmt: skip
    console = _console()
    console.print(table)
    console.print(f"{len(records)} records")


def render_gpus(gpus: Sequence[GPU], ds: Dataset) -> None:
    """Print catalog GPUs with memory, bandwidth, compute capability and native formats."""
    table = Table()
    for col in ("name", "vendor", "memory GiB", "GB/s", "arch", "CC", "native formats", "source"):
        table.add_column(col)
    for g in gpus:
        table.add_row(g.name, g.vendor, f"{g.memory_gib:g}", f"{g.memory_bandwidth_gbps:g}", g.architecture,
                      "–" if g.compute_capability is None else f"{g.compute_capability:g}", ", ".join(g.native_formats),
                      g.source)  # fmt: skip
    console = _console()
    console.print(table)
    console.print(f"{len(gpus)} GPUs")
