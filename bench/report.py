"""Ratios, goal verdicts and the Markdown table of a benchmark record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xner.runtime.files.atomic import atomic_write

README_START = "<!-- bench:latest:start -->"
README_END = "<!-- bench:latest:end -->"

STAGES = ("translate", "tag", "align", "project", "project_ngram", "end_to_end")
GOALS = {
    "end_to_end_speedup": 5.0,  # xner sentences/s at least 5x the reference's
    "peak_rss_ratio": 1 / 3,  # xner peak RSS at most a third of the reference's
    "overhead_share": 0.10,  # xner's own time at most 10% of its end-to-end wall time
    "projection_speedup": 20.0,  # projection at least 20x the plain-Python version
    "projection_ngram_speedup": 20.0,  # the same for the n-gram method
}


def _ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, digits)


def first_results(side: dict[str, Any]) -> float:
    """Seconds from nothing loaded to the first results: model load plus the first (untimed)
    translate, tag and align calls on two sentences. transformers maps weights lazily, so its
    load time alone leaves the page-ins to the first calls."""
    first = side.get("first_call_s", {})
    return round(side["load_s"]["total"] + sum(first.get(k, 0.0) for k in STAGES[:3]), 3)


def summarize(xner: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """Per-stage ratios (``speedup`` = reference seconds / xner seconds; ``rss_ratio`` = xner
    peak / reference peak), load times, whole-process peaks and the goal verdicts."""
    stages = {}
    for name in STAGES:
        x, r = xner["stages"][name], reference["stages"][name]
        stages[name] = {
            "speedup": _ratio(r["median_s"], x["median_s"]),
            "rss_ratio": _ratio(x["peak_rss_mb"], r["peak_rss_mb"], 3),
            "xner_overhead_share": x.get("overhead_share"),
        }
    peak = {
        "xner_mb": xner["process_peak_rss_mb"],
        "reference_mb": reference["process_peak_rss_mb"],
        "ratio": _ratio(xner["process_peak_rss_mb"], reference["process_peak_rss_mb"], 3),
    }
    load = {
        "xner_s": xner["load_s"]["total"],
        "reference_s": reference["load_s"]["total"],
        "speedup": _ratio(reference["load_s"]["total"], xner["load_s"]["total"]),
        "xner_first_results_s": first_results(xner),
        "reference_first_results_s": first_results(reference),
        "first_results_speedup": _ratio(first_results(reference), first_results(xner)),
    }
    measured = {
        "end_to_end_speedup": stages["end_to_end"]["speedup"],
        "peak_rss_ratio": peak["ratio"],
        "overhead_share": stages["end_to_end"]["xner_overhead_share"],
        "projection_speedup": stages["project"]["speedup"],
        "projection_ngram_speedup": stages["project_ngram"]["speedup"],
    }
    goals = {}
    for key, target in GOALS.items():
        value = measured[key]
        at_most = key in ("peak_rss_ratio", "overhead_share")
        met = None if value is None else (value <= target if at_most else value >= target)
        goals[key] = {"target": round(target, 4), "measured": value, "met": met}
    return {"stages": stages, "peak_rss": peak, "load": load, "goals": goals}


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _seconds(value: float | None) -> str:
    """Seconds with three decimals, or three significant digits below 0.1 s (projection)."""
    if isinstance(value, float) and 0 < value < 0.1:
        return f"{value:.3g}"
    return _num(value, 3)


GOAL_TEXT = {
    "end_to_end_speedup": ("end to end sentences/s vs reference", ">= {:.0f}x", "{:.2f}x"),
    "peak_rss_ratio": ("peak RSS (whole process) vs reference", "<= {:.2f}", "{:.3f}"),
    "overhead_share": ("xner overhead (outside CT2/ORT) of e2e wall", "<= {:.0%}", "{:.1%}"),
    "projection_speedup": ("projection (heuristic) vs plain Python", ">= {:.0f}x", "{:.1f}x"),
    "projection_ngram_speedup": ("projection (ngram) vs plain Python", ">= {:.0f}x", "{:.1f}x"),
}


def markdown(record: dict[str, Any]) -> str:
    """The Markdown report of a benchmark record (what the README's Benchmarks section shows)."""
    s, x, r = record["settings"], record["xner"], record["reference"]
    summary, m = record["summary"], record["machine"]
    search = "greedy search" if s["beam"] == 1 else f"beam search ({s['beam']} beams)"
    lines = [
        f"### {record['date']} `{record['name']}`: xner {x['versions']['xner']} vs "
        f"transformers {r['versions']['transformers']} + simalign {r['versions']['simalign']}",
        "",
        f"{s['sentences']} MasakhaNER 2.0 test sentences ({', '.join(s['languages'])}, "
        f"{s['per_language']} each); models `{s['profile']}` ({s['models_text']}); {search}, "
        f"{s['length']} generated tokens per sentence on both sides; {s['threads']} threads per "
        f"side. CPU: {m['cpu']} ({m['usable_cores']} cores, "
        f"{', '.join(m['cpu_flags']) or 'no AVX'}); load average {record['load_average_start']} "
        f"at start, {record['load_average_end']} at end. xner: {x['engine_note']}. Reference: "
        f"{r['engine_note']}.",
    ]
    lines += [
        "",
        "| stage | xner s | reference s | speedup | xner sent/s | ref sent/s | xner tok/s "
        "| ref tok/s | xner peak RSS MiB | ref peak RSS MiB | xner overhead |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in STAGES:
        xs, rs, ratio = x["stages"][name], r["stages"][name], summary["stages"][name]
        overhead = ratio["xner_overhead_share"]
        lines.append(
            f"| {name.replace('_', ' ')} ({xs['runs']}/{rs['runs']} runs) "
            f"| {_seconds(xs['median_s'])} | {_seconds(rs['median_s'])} "
            f"| **{_num(ratio['speedup'], 1)}x** | {_num(xs['sentences_per_s'], 1)} "
            f"| {_num(rs['sentences_per_s'], 1)} | {_num(xs['tokens_per_s'], 0)} "
            f"| {_num(rs['tokens_per_s'], 0)} | {_num(xs['peak_rss_mb'], 0)} "
            f"| {_num(rs['peak_rss_mb'], 0)} "
            f"| {'-' if overhead is None else f'{overhead:.1%}'} |"
        )
    peak, load = summary["peak_rss"], summary["load"]
    lines.append(
        f"| model load | {_num(load['xner_s'], 2)} | {_num(load['reference_s'], 2)} "
        f"| **{_num(load['speedup'], 1)}x** | | | | | {_num(x['rss_after_load_mb'], 0)} "
        f"| {_num(r['rss_after_load_mb'], 0)} | |"
    )
    lines.append(
        f"| load + first 2 sentences | {_num(load['xner_first_results_s'], 2)} "
        f"| {_num(load['reference_first_results_s'], 2)} "
        f"| **{_num(load['first_results_speedup'], 1)}x** | | | | | | | |"
    )
    lines.append(
        f"| whole process | {_num(x['wall_s'], 1)} | {_num(r['wall_s'], 1)} | | | | | "
        f"| **{_num(peak['xner_mb'], 0)}** | **{_num(peak['reference_mb'], 0)}** | |"
    )
    units = ", ".join(
        f"{name.replace('_', ' ')}: {x['stages'][name]['token_unit']}" for name in STAGES
    )
    lines += [
        "",
        f"Tokens per stage: {units}. Peak RSS per stage: the whole process's peak during that "
        "stage (models loaded); whole process: the peak of the run, loading included. xner's "
        "load includes verifying the bundle's SHA-256 sums "
        f"({_num(x['load_s'].get('bundle_verify'), 2)} s).",
        "",
    ]
    f = record["facts"]
    lines += [
        "| footprint | xner | reference |",
        "|---|---:|---:|",
        f"| install size (requirement closure, MiB) | {_num(f['install_xner']['total_mb'], 0)} "
        f"| {_num(f['install_reference']['total_mb'], 0)} |",
        f"| models on disk (MiB) | {_num(f['bundle_mb'], 0)} (bundle) "
        f"| {_num(f['checkpoints_mb'], 0)} (checkpoints) |",
        f"| cold start (median s) | {_num(f['cold_start_xner']['median_s'], 3)} "
        f"(`xner --help`) | {_num(f['cold_start_reference']['median_s'], 3)} "
        "(`import torch, transformers, simalign`) |",
        "",
        "| goal | target | measured | verdict |",
        "|---|---|---|---|",
    ]
    for key, goal in summary["goals"].items():
        text, target_fmt, value_fmt = GOAL_TEXT[key]
        value = "n/a" if goal["measured"] is None else value_fmt.format(goal["measured"])
        verdict = {True: "met", False: "**missed**", None: "n/a"}[goal["met"]]
        lines.append(f"| {text} | {target_fmt.format(goal['target'])} | {value} | {verdict} |")
    lines.append("")
    return "\n".join(lines)


def update_readme(readme: Path, table: str) -> bool:
    """Put ``table`` between the README's bench markers (atomically); False without markers."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    with atomic_write(readme) as handle:
        handle.write(f"{head}{README_START}\n{table.strip()}\n{README_END}{tail}")
    return True
