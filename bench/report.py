"""Ratios, goal verdicts and the Markdown table of a benchmark record.

A record holds several rounds (the harness runs the sides interleaved: xner, reference, xner,
reference, ...); every ratio reported is the MEDIAN of the per-round ratios, with their min and
max, so that one slow run of one side on a shared machine does not decide a verdict.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from xner.runtime.files.atomic import atomic_write

README_START = "<!-- bench:{family}:start -->"  # one table per CPU family (facts.cpu_family)
README_END = "<!-- bench:{family}:end -->"

STAGES = ("translate", "tag", "align", "project", "project_ngram", "end_to_end")
GOALS = {  # issue 15's targets (issue 5's were 5x and a third)
    "end_to_end_speedup": 7.0,  # xner sentences/s at least 7x the reference's (median of rounds)
    "end_to_end_speedup_min": 6.0,  # ... and at least 6x in every round
    "peak_rss_ratio": 0.30,  # xner peak RSS at most 30% of the reference's
    "model_load_s": 1.5,  # xner's process start to its first translation, seconds
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
    loads = side["load_s"]["total"] + side["load_s"].get("background_loads", 0.0)
    return round(loads + sum(first.get(k, 0.0) for k in STAGES[:3]), 3)


def model_load(side: dict[str, Any]) -> float:
    """ "Model load": seconds from the side's process start to its first sentence's translation
    starting (``startup_s``, imports included); the engines' own load time where absent."""
    startup = side.get("startup_s")
    return float(side["load_s"]["total"] if startup is None else startup)


def spread(values: list[float | None], digits: int = 2) -> dict[str, Any]:
    """Median, min and max of per-round values (None where a round has none)."""
    known = [v for v in values if v is not None]
    if not known:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {
        "median": round(statistics.median(known), digits),
        "min": round(min(known), digits),
        "max": round(max(known), digits),
        "runs": len(known),
    }


def summarize(
    xner: dict[str, Any] | list[dict[str, Any]], reference: dict[str, Any] | list[dict[str, Any]]
) -> dict[str, Any]:
    """Ratios of interleaved rounds (round ``k`` = ``xner[k]`` against ``reference[k]``): each
    ratio is the median of the per-round ratios, with ``*_min`` / ``*_max`` and the per-round
    values under ``rounds``; the goal verdicts use the medians."""
    xs = [xner] if isinstance(xner, dict) else list(xner)
    rs = [reference] if isinstance(reference, dict) else list(reference)
    if not xs or len(xs) != len(rs):
        raise ValueError(f"{len(xs)} xner runs against {len(rs)} reference runs: need pairs")
    rounds = [_round(x, r) for x, r in zip(xs, rs, strict=True)]
    stages = {}
    for name in STAGES:
        per = [r["stages"][name] for r in rounds]
        speed = spread([p["speedup"] for p in per])
        stages[name] = {
            "speedup": speed["median"],
            "speedup_min": speed["min"],
            "speedup_max": speed["max"],
            "rss_ratio": spread([p["rss_ratio"] for p in per], 3)["median"],
            "xner_overhead_share": spread([p["xner_overhead_share"] for p in per], 4)["median"],
        }
    peaks = [r["peak_rss"] for r in rounds]
    ratio = spread([p["ratio"] for p in peaks], 3)
    peak = {
        "xner_mb": spread([p["xner_mb"] for p in peaks], 1)["median"],
        "reference_mb": spread([p["reference_mb"] for p in peaks], 1)["median"],
        "ratio": ratio["median"],
        "ratio_min": ratio["min"],
        "ratio_max": ratio["max"],
    }
    load: dict[str, Any] = {}
    for key in rounds[0]["load"]:
        values = spread([r["load"][key] for r in rounds], 3)
        load[key] = values["median"]
        load[key + "_min"], load[key + "_max"] = values["min"], values["max"]
    measured = {
        "end_to_end_speedup": stages["end_to_end"]["speedup"],
        "end_to_end_speedup_min": stages["end_to_end"]["speedup_min"],
        "peak_rss_ratio": peak["ratio"],
        "model_load_s": load["xner_s"],
        "overhead_share": stages["end_to_end"]["xner_overhead_share"],
        "projection_speedup": stages["project"]["speedup"],
        "projection_ngram_speedup": stages["project_ngram"]["speedup"],
    }
    goals = {}
    for key, target in GOALS.items():
        value = measured[key]
        at_most = key in ("peak_rss_ratio", "model_load_s", "overhead_share")
        met = None if value is None else (value <= target if at_most else value >= target)
        goals[key] = {"target": round(target, 4), "measured": value, "met": met}
    per_round = [
        {
            "end_to_end_speedup": r["stages"]["end_to_end"]["speedup"],
            "peak_rss_ratio": r["peak_rss"]["ratio"],
            "xner_end_to_end_s": x["stages"]["end_to_end"]["median_s"],
            "reference_end_to_end_s": ref["stages"]["end_to_end"]["median_s"],
            "xner_load_average": x.get("load_average"),
            "reference_load_average": ref.get("load_average"),
        }
        for r, x, ref in zip(rounds, xs, rs, strict=True)
    ]
    return {
        "rounds": per_round,
        "stages": stages,
        "peak_rss": peak,
        "load": load,
        "goals": goals,
    }


def _round(xner: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The ratios of one round: ``speedup`` = reference seconds / xner seconds, ``rss_ratio``
    = xner peak / reference peak, load times and whole-process peaks."""
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
        "xner_s": model_load(xner),
        "reference_s": model_load(reference),
        "speedup": _ratio(model_load(reference), model_load(xner)),
        "xner_engines_s": xner["load_s"]["total"],
        "reference_engines_s": reference["load_s"]["total"],
        "xner_first_results_s": first_results(xner),
        "reference_first_results_s": first_results(reference),
        "first_results_speedup": _ratio(first_results(reference), first_results(xner)),
    }
    return {"stages": stages, "peak_rss": peak, "load": load}


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds as one side record for the table: per stage the median over rounds of
    the rounds' median seconds (runs summed, throughputs from that median, the highest peak)."""
    merged = dict(runs[0])
    stages = {}
    for name in STAGES:
        per = [run["stages"][name] for run in runs]
        median = statistics.median(p["median_s"] for p in per)
        stage = dict(per[0])
        stage["runs"] = sum(p["runs"] for p in per)
        stage["median_s"] = round(median, 6)
        stage["sentences_per_s"] = round(stage["sentences"] / median, 3) if median > 0 else None
        stage["tokens_per_s"] = round(stage["tokens"] / median, 2) if median > 0 else None
        peaks = [p["peak_rss_mb"] for p in per if p["peak_rss_mb"] is not None]
        stage["peak_rss_mb"] = max(peaks) if peaks else None
        stages[name] = stage
    merged["stages"] = stages
    for key in ("round", "load_average", "load_average_after"):
        merged.pop(key, None)  # per run: see the runs themselves
    for key in ("wall_s", "subprocess_s", "startup_s", "rss_after_load_mb", "process_peak_rss_mb"):
        values = [run[key] for run in runs if run.get(key) is not None]
        merged[key] = round(statistics.median(values), 3) if values else None
    if "torch_imported" in merged:
        merged["torch_imported"] = any(run.get("torch_imported") for run in runs)
    if "torch_free_checked" in merged:
        merged["torch_free_checked"] = all(run.get("torch_free_checked") for run in runs)
    return merged


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _speedup(median: float | None, low: float | None, high: float | None, bold: bool) -> str:
    """``5.1x (4.6-5.4)``: the median of the per-round ratios and their range (one round: no
    range)."""
    text = f"{_num(median, 1)}x"
    text = f"**{text}**" if bold else text
    if low is None or high is None or low == high == median:
        return text
    return f"{text} ({_num(low, 1)}-{_num(high, 1)})"


def _seconds(value: float | None) -> str:
    """Seconds with three decimals, or three significant digits below 0.1 s (projection)."""
    if isinstance(value, float) and 0 < value < 0.1:
        return f"{value:.3g}"
    return _num(value, 3)


GOAL_TEXT = {
    "end_to_end_speedup": ("end to end sentences/s vs reference", ">= {:.0f}x", "{:.2f}x"),
    "end_to_end_speedup_min": ("... in the slowest round", ">= {:.0f}x", "{:.2f}x"),
    "peak_rss_ratio": ("peak RSS (whole process) vs reference", "<= {:.2f}", "{:.3f}"),
    "model_load_s": ("model load (start to first translation)", "<= {:.1f} s", "{:.2f} s"),
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
        f"#### {record['date']} `{record['name']}`: xner {x['versions']['xner']} vs "
        f"transformers {r['versions']['transformers']} + simalign {r['versions']['simalign']}",
        "",
        f"{s['sentences']} MasakhaNER 2.0 test sentences ({', '.join(s['languages'])}, "
        f"{s['per_language']} each); models `{s['profile']}` ({s['models_text']}); {search}, "
        f"{s['length']} generated tokens per sentence on both sides; {s['threads']} threads per "
        f"side. CPU: {m['cpu']} ({m.get('cpu_family', 'other')}, {m['usable_cores']} cores, "
        f"{', '.join(m['cpu_flags']) or 'no AVX'}); load average {record['load_average_start']} "
        f"at start, {record['load_average_end']} at end. xner: {x['engine_note']}. Reference: "
        f"{r['engine_note']}.",
    ]
    rounds = summary.get("rounds") or []
    lines += [
        "",
        f"{len(rounds)} round(s), the sides interleaved (xner, reference, xner, ...), each run a "
        "fresh process; every speedup is the median of the per-round ratios, (min-max) after it.",
        "",
        "| round | xner e2e s | ref e2e s | e2e speedup | peak RSS ratio "
        "| load avg at xner start | at ref start |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for k, one in enumerate(rounds, 1):
        lines.append(
            f"| {k} | {_seconds(one['xner_end_to_end_s'])} "
            f"| {_seconds(one['reference_end_to_end_s'])} "
            f"| {_num(one['end_to_end_speedup'], 2)}x | {_num(one['peak_rss_ratio'], 3)} "
            f"| {one['xner_load_average']} | {one['reference_load_average']} |"
        )
    lines += [
        "",
        "| stage | xner s | reference s | speedup | xner sent/s | ref sent/s | xner tok/s "
        "| ref tok/s | xner peak RSS MiB | ref peak RSS MiB | xner overhead |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in STAGES:
        xs, rs, ratio = x["stages"][name], r["stages"][name], summary["stages"][name]
        overhead, speedup_max = ratio["xner_overhead_share"], ratio.get("speedup_max")
        lines.append(
            f"| {name.replace('_', ' ')} ({xs['runs']}/{rs['runs']} runs) "
            f"| {_seconds(xs['median_s'])} | {_seconds(rs['median_s'])} "
            f"| {_speedup(ratio['speedup'], ratio.get('speedup_min'), speedup_max, True)} "
            f"| {_num(xs['sentences_per_s'], 1)} "
            f"| {_num(rs['sentences_per_s'], 1)} | {_num(xs['tokens_per_s'], 0)} "
            f"| {_num(rs['tokens_per_s'], 0)} | {_num(xs['peak_rss_mb'], 0)} "
            f"| {_num(rs['peak_rss_mb'], 0)} "
            f"| {'-' if overhead is None else f'{overhead:.1%}'} |"
        )
    peak, load = summary["peak_rss"], summary["load"]
    load_speedup = _speedup(
        load["speedup"], load.get("speedup_min"), load.get("speedup_max"), bold=True
    )
    lines.append(
        f"| model load (start to first translation) | {_num(load['xner_s'], 2)} "
        f"| {_num(load['reference_s'], 2)} "
        f"| {load_speedup} | | | | | {_num(x['rss_after_load_mb'], 0)} "
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
        "stage (models loaded); whole process: the peak of the run, loading included. Model "
        "load: from the process's start to its first sentence's translation starting, imports "
        "included (the engines alone: xner "
        f"{_num(load.get('xner_engines_s'), 2)} s, reference "
        f"{_num(load.get('reference_engines_s'), 2)} s); "
        + (
            f"xner's includes verifying the bundle's SHA-256 sums "
            f"({_num(x['load_s'].get('bundle_verify'), 2)} s)."
            if "bundle_verify" in x["load_s"]
            else "xner hashes the translator's files while loading it (SHA-256 verified before "
            "its first use) and loads the tagger and aligner in background threads, as "
            "`xner translate-test` does; they were ready "
            f"{_num(x['load_s'].get('background_loads'), 2)} s later (awaited before timing)."
        ),
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


def update_readme(readme: Path, table: str, family: str) -> bool:
    """Put ``table`` between the README's bench markers of CPU ``family`` (``amd``, ``intel``,
    ...; atomically); False without those markers."""
    start, end = README_START.format(family=family), README_END.format(family=family)
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    with atomic_write(readme) as handle:
        handle.write(f"{head}{start}\n{table.strip()}\n{end}{tail}")
    return True
