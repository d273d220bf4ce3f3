"""Rich tables for the CLI. The only module that imports rich."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections import Counter
from typing import TYPE_CHECKING

from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .untrusted import terminal_text

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from .dataset import Dataset
    from .hardware import Budget, HardwareReport
    from .memory import MemoryEstimate
    from .models import GPU, EvidenceRecord, Format
    from .results import LossEstimate, QuantOption, Recommendation
    from .speed import SpeedEstimate

__all__ = [
    "loss_text", "render_detect", "render_evidence", "render_formats", "render_gpus", "render_loss", "render_memory",
    "render_recommendation", "spinner",
]  # fmt: skip

GIB = 2**30
# Where the hardware figures came from, in words.
_ORIGIN = {"catalog": "from the catalog", "user": "as given", "nvml": "detected, NVML", "sysctl": "detected, sysctl"}


_LOSS_LEGEND = (
    "[dim]expected loss: mid (low–high) relative to unquantized on this task's benchmarks; the range is where one "
    "published measurement should fall (a 90% interval: models differ, benchmarks are noisy; below 0 a measured "
    "gain; it held 84% of measurements the model never saw); "
    "* = carried over from other formats or sizes, not measured directly; † = includes the quantized KV cache's "
    "cost[/]"
)

# Console widths at which the budget bar and bpw (matrix), then the repo file column, get room.
_WIDE = 100
_WIDER = 120


# Fields printed through their own escaping step (file names are cut to a common prefix first; hand-off
# commands are shell-quoted first), so cleaning keeps them free of control characters only.
_RAW_FIELDS = frozenset({"file", "files"})
_SKIP_FIELDS = frozenset({"handoff"})
# What makes a string need cleaning: a bracket (markup), a backslash (before one), ESC, any C0/C1 control
# but tab and newline, DEL, a bidi override, or a URL's '@' (credentials).
_SUSPECT = re.compile(r"[\[\\@\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe_text(text: object) -> str:
    """Untrusted text as the terminal may show it: control and escape sequences removed, rich markup escaped,
    so it reads exactly as written (a file named "[/]x.gguf" prints as "[/]x.gguf")."""
    return escape(terminal_text(text))


def _clean(value: object, *, markup: bool = True) -> object:
    """`value` with every string in it made safe to print (safe_text); the same object when nothing changes.

    Applied to what each render function is given, so a name from a Hub listing, a GPU driver or a data/
    override can neither drive the terminal nor be read as markup; --json output is never cleaned.
    """
    if isinstance(value, str):
        if not _SUSPECT.search(value):  # the common case: plain text, nothing to strip or escape
            return value
        cleaned = safe_text(value) if markup else terminal_text(value)
        return value if cleaned == value else cleaned
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, BaseModel):
        update = {}
        for name, old in value.__dict__.items():
            if name in _SKIP_FIELDS or isinstance(old, (int, float)) or old is None:
                continue
            new = _clean(old, markup=markup and name not in _RAW_FIELDS)
            if new is not old:
                update[name] = new
        return value.model_copy(update=update) if update else value
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, str) for v in value) and not _SUSPECT.search("\n".join(value)):
            return value  # a list of plain strings (evidence ids, flags, notes): one search for all
        items = [_clean(v, markup=markup) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        pairs = {k: _clean(v, markup=markup) for k, v in value.items()}
        return value if all(pairs[k] is v for k, v in value.items()) else pairs
    return value


def _console() -> Console:
    # A terminal gets its own width; a pipe or CI log gets $COLUMNS or 80 (rich's rule). Every table
    # is laid out to read at 80 columns: low-value columns appear only when there is room.
    return Console(highlight=False, soft_wrap=False, emoji=False)  # no :codes: in our text


def _table(title: str | None = None) -> Table:
    """A table without vertical rules: two spaces between columns (the blank rule and one of padding)."""
    return Table(
        title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0)
    )


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
    with console.status(safe_text(message)):
        yield


def _loss(o: QuantOption) -> str:
    e = o.expected_loss
    kv = "†" if e.kv_cache else ""
    if o.released_precision:
        # No loss against the release itself: "0.0% (0.0–0.0)" would read as a measured zero. A
        # quantized KV cache still costs what its own records say, so that part is shown.
        if not e.kv_cache:
            return "released precision"
        if e.mid is not None:
            return f"release+{e.mid * 100:.1f}%{kv}"  # † in the legend: the KV cache's cost
    if e.mid is None or e.low is None or e.high is None:
        return "unknown"
    return loss_text(e.mid, e.low, e.high) + ("*" if e.estimate else "") + kv


def loss_text(mid: float, low: float, high: float) -> str:
    """ "0.3% (0.1–0.9)": one decimal while the range stays under 1 point, whole points above ("1.5% (0–7)");
    "0.2% (-3 to 4)" where a measured gain is in the range (a dash beside a minus sign misreads)."""
    digits = 1 if max(high, -low) < 0.01 else 0
    lo, hi = f"{low * 100:.{digits}f}", f"{high * 100:.{digits}f}"
    if lo.startswith("-") and lo.strip("-0.") == "":
        lo = lo[1:]  # "-0": no gain at this precision
    if lo.startswith("-"):
        return f"{mid * 100:.1f}% ({lo} to {hi})"
    return f"{mid * 100:.1f}% ({lo}–{hi})"


def _tok_s(speed: SpeedEstimate | None) -> str:
    """Decode tokens per second for a narrow column (an estimate; the JSON has the range)."""
    if speed is None:
        return "–"
    v = speed.decode_tokens_per_s
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def render_recommendation(rec: Recommendation, ds: Dataset, *, explain: bool = False, show_all: bool = False) -> None:
    """Print the ranked options, the pick with its command line, and optionally the fired rules."""
    raw_handoff = rec.pick.handoff if rec.pick is not None else None
    rec = _clean(rec)  # type: ignore[assignment]  # the same type, every string made safe to print
    console = _console()
    hw = rec.hardware
    ram = f", {hw.ram_bytes / GIB:.0f} GiB RAM" if hw.ram_bytes else ", RAM unknown (--ram GIB)"
    if hw.cpu_only or hw.vram_bytes <= 0:
        why, hint = ("--vram 0" if hw.source == "user" else "no GPU found"), "--vram GIB or --gpu NAME"
        margin_took_it = any("margin leaves nothing" in n for n in hw.notes)
        if hw.card_bytes and hw.vram_bytes > 0:  # a budget too small for llama.cpp's GPU buffers
            per_card = max(0, hw.card_bytes - hw.margin_bytes)
            why = f"{per_card / GIB:.2f} GiB per GPU after the margin is below llama.cpp's GPU buffers"
            hint = "a larger card (--vram GIB) or a smaller --margin GIB"
        elif margin_took_it:
            why, hint = "the margin leaves nothing of the card", "a larger card (--vram GIB) or a smaller --margin GIB"
        room = f"{hw.ram_bytes / GIB:.1f} GiB of RAM" if hw.ram_bytes else "RAM unknown (--ram GIB)"
        console.print(f"[bold]{rec.task}[/], [bold yellow]CPU only[/] ({why}): {room}, context {rec.context_tokens}")
        console.print(f"[dim]To plan for a GPU: {hint}[/]")
        for note in hw.notes:  # why a GPU that is there was not used (an unreadable NVML reading …)
            if "left out" in note:
                console.print(f"[yellow]{note}[/]")
    else:
        gpu = hw.gpu_name or "planned budget"
        reserved = f" ({hw.reserved_for} reserved)" if hw.reserved_for else ""
        origin = "" if "(--vram)" in gpu else f" [dim]({_ORIGIN.get(hw.source, hw.source)})[/]"
        console.print(
            f"[bold]{rec.task}[/] on {gpu}{origin}: {hw.llm_vram_bytes / GIB:.2f} GiB VRAM for the "
            f"model{reserved}{ram}, context {rec.context_tokens}"
        )
    if not rec.by_size:
        if rec.offload_target and (hw.cpu_only or (rec.pick is not None and rec.pick.fit != "gpu")):
            target = f"{rec.offload_target} off the GPU ({rec.target} on it)"
        elif rec.offload_target:
            target = f"{rec.target} ({rec.offload_target} off the GPU)"
        else:
            target = rec.target
        console.print(f"[dim]rules: target {target}, floor {rec.floor} (--explain shows why)[/]")
    wide = console.width >= _WIDE
    where = "RAM GiB" if hw.cpu_only else "GPU GiB"
    shown_options = [row.best for row in rec.by_size if row.best] or rec.options
    if rec.by_size:
        table = _table("Best option per model size")
        headers = ["size", "models", "quant", *(["bpw"] if wide else []), where, "KV", "fit", "expected loss"]
        rows: list[list[str]] = []
        for row in rec.by_size:
            b = row.best
            if b is None:
                cells = ["–", *([""] if wide else []), "", "", "[red]does not fit[/]", ""]
            else:
                cells = [_quant(b), *([f"{b.bits_per_weight:.2f}"] if wide else []), _where_gib(b, hw.cpu_only),
                         _runtime(b), _fit(b), _loss(b)]  # fmt: skip
            # The catalog's models of this size for the task name the row; the reference shape otherwise.
            label = (_short(row.models[0]) + (f" +{len(row.models) - 1}" if len(row.models) > 1 else "")
                     if row.models else row.stands_for)  # fmt: skip
            rows.append([row.size, label, *cells])
        # Every column keeps its natural width but "models", which takes what is left (rich's own
        # squeeze would cut every column, the loss cell's "*†" first).
        natural = [max(len(Text.from_markup(r[i]).plain) for r in [headers, *rows]) + 2 for i in range(len(headers))]
        models_room = console.width - (sum(natural) - natural[1])
        for col in headers:
            if col == "models":
                table.add_column(col, overflow="ellipsis", no_wrap=True, max_width=max(6, min(natural[1], models_room)))
            else:
                table.add_column(col, justify="right" if col in {"bpw", where} else "left", no_wrap=True)
        for cells in rows:
            table.add_row(*cells)
        console.print(table)
        # The task's own kind of model (coder, reasoning) in full; general models stay in the column.
        listed = [f"{row.size} {', '.join(row.models)}" for row in rec.by_size
                  if row.models and row.models_purpose != "general"]  # fmt: skip
        if listed:
            console.print(
                f"[dim]models of each size for {rec.task} (from the catalog, by their own cards; sized as "
                f"the row's reference shape; not ranked against each other): {' · '.join(listed)}[/]"
            )
        console.print(_LOSS_LEGEND)
    else:
        table = _table(f"{rec.model}" + (" (approximate shape)" if rec.model_approximate else ""))
        files = any(o.file for o in rec.options)  # real files of a repo or a list: show which one
        names = [(o.file or "").rsplit("/", 1)[-1] for o in rec.options]
        named = [n for n in names if n]
        common = os.path.commonprefix(named) if len(named) > 1 else ""  # one file: nothing shared to cut  # noqa: RUF071 - characters, not paths
        common = common[: max(common.rfind("-"), common.rfind("."), common.rfind("_")) + 1]  # cut between words
        cut = len(common) if len(common) >= 8 else 0  # "Meta-Llama-3.1-8B-Instruct-" once, not on every row
        show_bar = wide and not hw.cpu_only
        show_file = files and console.width >= _WIDER
        speeds = any(o.speed is not None for o in rec.options)  # a bare --vram card has no bandwidth
        for col in ("#", "quant", "bpw", where, *(["of budget"] if show_bar else []), "KV", "fit",
                    *(["tok/s"] if speeds else []), "expected loss", *(["file"] if show_file else [])):  # fmt: skip
            right = col in {"#", "bpw", where, "tok/s"}
            table.add_column(col, justify="right" if right else "left", no_wrap=col != "file")
        shown = rec.options if show_all else rec.options[:10]
        for i, o in enumerate(shown, 1):
            table.add_row(str(i), _quant(o), f"{o.bits_per_weight:.2f}", _where_gib(o, hw.cpu_only),
                          *([_bar(o.memory.total_bytes, hw.llm_vram_bytes)] if show_bar else []), _runtime(o), _fit(o),
                          *([_tok_s(o.speed)] if speeds else []), _loss(o),
                          *([_file_label(o.file, cut)] if show_file else []))  # fmt: skip
        console.print(table)
        if len(rec.options) > len(shown):
            console.print(f"[dim]{len(rec.options) - len(shown)} more options: --all[/]")
        console.print(_LOSS_LEGEND)
        shown_options = shown
    console.print(_fit_legend(shown_options))
    pick = rec.pick
    if pick is None:
        console.print("[red]Nothing fits.[/]")  # the notes below say what the rows would need
    else:
        # The whole path, shell-quoted: a base name alone is another file when a folder is in it
        # (a listing's "[/]x-Q4_K_M.gguf" must not print as "]x-Q4_K_M.gguf").
        model_file = safe_text(shlex.quote(pick.file)) if pick.file else f"<model>-{pick.quant}.gguf"
        command = f"llama-server -m {model_file} " + " ".join(pick.runner_flags)
        if pick.family == "serving":
            command = " ".join(pick.runner_flags)
        room = (f"{pick.memory.host_bytes / GIB:.2f} GiB of RAM" if hw.cpu_only or _on_cpu(pick) else
                f"{pick.memory.total_bytes / GIB:.2f} GiB on the GPU")  # fmt: skip
        pick_row = next((r for r in rec.by_size if r.best is pick), None)
        label = (f"{pick_row.size} ({', '.join(pick_row.models[:2])})" if pick_row is not None and pick_row.models
                 else pick.model)  # fmt: skip
        console.print(f"[bold green]Pick:[/] {label} {_quant(pick)} — {_fit(pick)}, {room}, "
                      f"expected loss {_loss(pick)}")  # fmt: skip
        if raw_handoff is None:
            console.print(f"  [cyan]{command}[/]")
        else:
            from .handoff import handoff_lines

            for line in handoff_lines(raw_handoff):  # soft wrap: a command copied from the terminal stays whole
                console.print(f"  [cyan]{safe_text(line)}[/]", soft_wrap=True)
            for note in raw_handoff.notes:
                console.print(f"  [dim]· {safe_text(note)}[/]")
        if pick.speed is not None:
            console.print(f"  [dim]· {_speed_line(pick.speed)}[/]")
        for note in pick.notes:
            console.print(f"  [dim]· {note}[/]")
    for note in rec.notes:
        console.print(f"[dim]{note}[/]")
    if explain and not rec.by_size:
        timed = any(o.speed is not None for o in rec.options if o.fit != "none")
        order = "" if timed else "; no speeds without a named GPU, so the task's policy order (--gpu NAME adds speed)"
        console.print(f"\n[bold]Ranking[/] (one line per option{order}):")
        for o in rec.options if show_all else rec.options[:10]:
            console.print(f"  {o.rank_reason or o.quant}")
    if explain:
        console.print("\n[bold]Why[/] (rules in the order they fired):")
        for rule in rec.trace:
            cites = ", ".join(_cite(ds, s) for s in rule.source)
            scope = f" \\[{rule.applies_to}]" if rule.applies_to else ""
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


def _fit_legend(options: Sequence[QuantOption]) -> str:
    """What the KV/ub and fit cells mean, naming only the kinds of cell the table shows."""
    parts = ["KV: the -ctk/-ctv cache type each row is planned with (/N: -ub N, else 512)"]
    if any(o.fit == "partial" and o.gpu_layers > 0 for o in options):
        parts.append("partial N/M: -ngl N of M layers on the GPU")
    if any(o.fit == "moe-offload" for o in options):
        parts.append("MoE, N in RAM: --n-cpu-moe N")
    if any(o.below_floor for o in options):
        parts.append("<floor: below the task's quality floor")
    if any(not o.native for o in options):
        parts.append("fallback: no native kernels on this GPU")
    return "[dim]" + "; ".join(parts) + "[/]"


def _quant(o: QuantOption) -> str:
    """The file's own variant (Q5_K_L) when it has one, else the quant type; ×N for a build split in N files."""
    return (o.variant or o.quant) + (f" ×{len(o.files)}" if len(o.files) > 1 else "")


def _on_cpu(o: QuantOption) -> bool:
    """A plan with nothing on the GPU (its budget below llama.cpp's GPU buffers): RAM is its figure."""
    return o.fit == "partial" and o.gpu_layers == 0 and o.memory.total_bytes == 0


def _where_gib(o: QuantOption, cpu_only: bool) -> str:
    if cpu_only:
        return _gib(o.memory.host_bytes)
    return f"{_gib(o.memory.host_bytes)} RAM" if _on_cpu(o) else _gib(o.memory.total_bytes)


def _runtime(o: QuantOption) -> str:
    """KV cache type(s) and ubatch, as in -ctk/-ctv/-ub: "q8_0", "q8_0/256" (ubatch 256), "q8_0+f16" (K+V)."""
    if o.family == "serving":
        return "–"
    m = o.memory
    kv = m.cache_type_k if m.cache_type_k == m.cache_type_v else f"{m.cache_type_k}+{m.cache_type_v}"
    return kv + ("" if m.n_ubatch == 512 else f"/{m.n_ubatch}") + ("" if m.flash_attn else " -fa off")


def _short(name: str) -> str:
    """A model name for a narrow column: the instruct suffix every chat model carries, left out."""
    return re.sub(r"-(Instruct|it|hf|Instruct-hf)$", "", name, flags=re.IGNORECASE)


def _file_label(path: str | None, cut: int) -> str:
    """A file name for a narrow column: shared prefix cut, no .gguf, a split shown as its part count."""
    if not path:
        return ""
    name = path.rsplit("/", 1)[-1]
    label = ("…" if cut else "") + re.sub(r"\.gguf$", "", name[cut:], flags=re.IGNORECASE)
    return escape(re.sub(r"-0*1-of-0*(\d+)$", r" (×\1)", label))


def _cite(ds: Dataset, source_id: str) -> str:
    s = ds.sources.get(source_id)
    if s is None:
        return safe_text(source_id)
    where = f"arXiv:{s.arxiv}" if s.arxiv else (s.url or s.repository or "")
    return safe_text(f"{source_id} ({where})")


def _fit(o: QuantOption) -> str:
    below = " <floor" if o.below_floor else ""
    fallback = "" if o.native else " fallback"
    if o.fit == "partial" and o.gpu_layers == 0:
        return f"[yellow]CPU only[/]{below}"
    if o.fit == "gpu":
        return f"[green]GPU[/]{below}{fallback}"
    if o.fit == "partial":
        return f"[yellow]partial {o.gpu_layers}/{o.memory.n_layers}[/]{below}{fallback}"
    if o.fit == "moe-offload":
        return f"[yellow]MoE, {o.n_cpu_moe} in RAM[/]{below}{fallback}"
    return "[red]no[/]" + fallback


def render_memory(estimates: Sequence[MemoryEstimate], speeds: Sequence[SpeedEstimate | None] = ()) -> None:
    """Print a GPU/host breakdown per estimate (and its decode speed, when a GPU was named)."""
    estimates = _clean(list(estimates))  # type: ignore[assignment]
    console = _console()
    first = estimates[0]
    console.print(
        f"{first.model}: context {first.context_tokens}, KV {first.cache_type_k}/{first.cache_type_v}, "
        f"flash attention {'on' if first.flash_attn else 'off'}, ubatch {first.n_ubatch}"
        + (" (approximate shape)" if first.approximate else "")
    )
    table = _table()
    cols = ["quant", "file", "weights", "KV", "compute", "overhead", "GPU total", "-ngl", "host"]
    for col in cols + (["tok/s"] if speeds else []):
        table.add_column(col, justify="left" if col == "quant" else "right", no_wrap=True)
    for i, e in enumerate(estimates):
        table.add_row(e.quant, _gib(e.file_bytes), _gib(e.weights_bytes), _gib(e.kv_cache_bytes), _gib(e.compute_bytes),
                      _gib(e.overhead_bytes), f"[bold]{_gib(e.total_bytes)}[/]", f"{e.gpu_layers}/{e.n_layers}",
                      _gib(e.host_bytes), *([_tok_s(speeds[i])] if speeds else []))  # fmt: skip
    console.print(table)
    console.print("[dim]GiB; GPU total = weights + KV + compute + overhead on the GPU; host = what stays in RAM[/]")


def render_detect(report: HardwareReport, budget: Budget) -> None:
    """Print the GPUs found, their memory, and the planning budget with its arithmetic."""
    report, budget = _clean(report), _clean(budget)  # type: ignore[assignment]
    console = _console()
    if report.gpus:
        table = _table(f"Hardware (source: {report.source})")
        for col in ("#", "name", "total GiB", "free GiB", "CC", "GB/s", "source"):
            table.add_column(col, justify="right" if col in {"#", "total GiB", "free GiB", "GB/s"} else "left")
        for g in report.gpus:
            cc = "–" if g.compute_capability is None else f"{g.compute_capability:.1f}"
            bandwidth = "–" if g.peak_bandwidth_gbps is None else f"{g.peak_bandwidth_gbps:.0f}"
            table.add_row(str(g.index), g.name, _gib(g.total_bytes), _gib(g.free_bytes), cc, bandwidth, g.source)
        console.print(table)
    else:
        console.print("[bold yellow]No GPU found[/]: suggest plans CPU-only from host RAM")
    console.print(f"Host RAM: {_gib(report.host_ram_bytes)} GiB ({report.host_ram_source or 'unknown'})")
    console.print(f"[bold]Planning budget:[/] {budget.vram_bytes / GIB:.2f} GiB VRAM")
    for step in budget.steps:
        console.print(f"  {step}")
    for note in report.notes:
        console.print(f"[dim]{note}[/]")


def render_formats(ds: Dataset) -> None:
    """Print the GGUF formats, then the serving formats: kind, bits per weight, imatrix, hardware, runtimes."""
    console = _console()
    wide = console.width >= _WIDER
    formats: list[Format] = _clean(list(ds.formats.values()))  # type: ignore[assignment]
    gguf = [f for f in formats if f.family == "gguf"]
    # The runtimes most GGUF types share are said once, in the title; a row names its own only if they differ.
    counts = Counter(", ".join(f.runtimes) for f in gguf)
    common = counts.most_common(1)[0][0] if counts else ""
    table = _table(f"GGUF formats (run by {common})" if common else "GGUF formats")
    for col in ("name", "kind", "block bpw", "bpw", "imatrix", *(["runtimes"] if len(counts) > 1 else [])):
        table.add_column(col, justify="right" if "bpw" in col else "left", no_wrap=col != "runtimes")
    for f in gguf:
        own = ", ".join(f.runtimes)
        imatrix = "yes" if f.needs_imatrix else ""
        table.add_row(f.name, f.kind, f"{f.block_bits_per_weight:g}", _measured(f, wide), imatrix,
                      *([own if own != common else ""] if len(counts) > 1 else []))  # fmt: skip
    console.print(table)
    serving = [f for f in formats if f.family != "gguf"]
    if serving:
        table = _table("Serving formats (vLLM, TensorRT-LLM and others)")
        for col in ("name", "kind", "block bpw", "needs", "runtimes"):
            table.add_column(col, justify="right" if "bpw" in col else "left", no_wrap=col != "runtimes")
        for f in serving:
            needs = f"CC ≥ {f.min_compute_capability}" if f.min_compute_capability else "any"
            table.add_row(f.name, f.kind, f"{f.block_bits_per_weight:g}", needs, ", ".join(f.runtimes))
        console.print(table)
    console.print("[dim]block bpw: bits per weight of the block format; bpw: measured on a real file (--json: which)")


def _measured(f: Format, wide: bool) -> str:
    m = f.measured_bpw[0] if f.measured_bpw else None
    return "–" if m is None else f"{m.bits_per_weight:.2f}" + (f" ({m.model})" if wide else "")


def render_evidence(records: Sequence[EvidenceRecord], ds: Dataset) -> None:
    """Print evidence records with their citations: three short lines each, so every field reads at 80 columns."""
    records = _clean(list(records))  # type: ignore[assignment]
    console = _console()
    for r in records:
        if r.quantized is not None:
            value = f"{r.quantized:g}"
        elif r.relative_change is not None:
            value = f"{r.relative_change * 100:+.1f}%"
        else:
            lo, hi = r.relative_change_range or (0.0, 0.0)
            value = f"{lo * 100:+.0f}…{hi * 100:+.0f}%"
        model = r.model.name if r.model else f"{r.model_size_range_billions}B"
        baseline = "" if r.baseline is None else f" (baseline {r.baseline:g})"
        console.print(f"[bold]{r.id}[/]  {r.format} · {r.task}")
        console.print(f"  {model} · {r.metric} {value}{baseline} · {r.provenance}")
        console.print(f"  [dim]{_cite(ds, r.source)}[/]")
    console.print(f"{len(records)} records")


def render_loss(e: LossEstimate, ds: Dataset) -> None:
    """Print one format's expected loss, what it rests on, and the sources cited."""
    console = _console()
    e = _clean(e)  # type: ignore[assignment]  # names from data/ overrides and the catalog: printed as written
    active = f" ({e.active_params_billions:.3g}B active)" if e.active_params_billions else ""
    size = f"{e.params_billions:.4g}B{active}"
    if e.mid is None or e.low is None or e.high is None:
        figure = "unknown"
    else:
        figure = loss_text(e.mid, e.low, e.high) + (
            " (estimate: carried over, not measured directly)" if e.estimate else ""
        )
    console.print(f"[bold]{e.format}[/] on {e.task}, {size} model: expected loss {figure}")
    if e.mid and e.model_low is not None and e.model_high is not None:
        own = loss_text(e.mid, e.model_low, e.model_high).partition(" ")[2].strip("()")
        console.print(f"  · the model's own loss, without one benchmark run's noise: {own}%")
    for note in e.notes:
        console.print(f"  · {note}")
    direct = [i for i in e.records if i in ds.evidence and ds.evidence[i].format == e.format]
    console.print(f"rests on {len(e.records)} records ({len(direct)} of {e.format} itself), from:")
    for source in e.sources:
        console.print(f"  {_cite(ds, source)}")
    console.print("[dim]quantadvisor evidence --format FORMAT lists the records; docs/methodology.md §2 the model[/]")


def render_gpus(gpus: Sequence[GPU], ds: Dataset) -> None:
    """Print catalog GPUs with memory, bandwidth, compute capability and native formats."""
    gpus = _clean(list(gpus))  # type: ignore[assignment]
    console = _console()
    wide = console.width >= _WIDER
    table = _table()
    for col in ("name", "vendor", "GiB", "GB/s", "arch", "CC", "native formats", *(["source"] if wide else [])):
        table.add_column(col, justify="right" if col in {"GiB", "GB/s", "CC"} else "left",
                         no_wrap=col not in {"name", "native formats", "source"})  # fmt: skip
    for g in gpus:
        table.add_row(g.name, g.vendor, f"{g.memory_gib:g}", f"{g.memory_bandwidth_gbps:g}", g.architecture,
                      "–" if g.compute_capability is None else f"{g.compute_capability:g}", ", ".join(g.native_formats),
                      *([g.source] if wide else []))  # fmt: skip
    console.print(table)
    console.print(f"{len(gpus)} GPUs" + ("" if wide else " (--json or a wider terminal adds each record's source)"))
