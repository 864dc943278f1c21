"""Time the projection methods on realistic 200-word sentences with 20 entities.

Usage: ``python bench/bench_projection.py [--sentences 5] [--runs 200] [--seed 0]``

Each sentence pair is synthetic but shaped like real ones: a 180-word source and a 200-word
target, a mostly monotone alignment (jitter of one word, some source words unaligned, some linked
to two target words, a few stray links anywhere), 20 non-overlapping entities of 1 to 4 words,
and target tokens with a few punctuation marks (including ``!`` and ``?``, the default stop
words). Timed, per sentence: ``heuristic``, ``ngram`` greedy and ``ngram`` exact (through
:func:`xner.runtime.projection.project`, input checks included), the two ``ngram`` matchings
again with every span of the target given as a candidate (the full ``(E, K)`` score matrix path,
K = 20,100), and the plain-Python references of ``heuristic`` and ``ngram`` greedy
(bench/reference_projection.py). Outputs are checked to agree with the
references. Prints a Markdown table and writes JSON to ``bench/results/projection-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

import numpy as np
import reference_projection as ref

from xner.runtime.atomic import atomic_write
from xner.runtime.data import Span
from xner.runtime.projection import NgramOptions, match_entities, project
from xner.runtime.version import __version__

GOAL_MS = 50.0
LABELS = ("PER", "ORG", "LOC", "MISC")


def make_sentence(seed: int, n_src: int = 180, n_tgt: int = 200, n_entities: int = 20):
    """One synthetic sentence pair: (entities, links, target length, target tokens)."""
    rng = random.Random(seed)
    slots = sorted(rng.sample(range(0, n_src - 4, 5), n_entities))
    spans = [
        Span(s, s + rng.choices([1, 2, 3, 4], weights=[4, 4, 2, 1])[0], rng.choice(LABELS))
        for s in slots
    ]
    links = []
    for i in range(n_src):
        if rng.random() < 0.08:
            continue  # unaligned source word
        j = round(i * n_tgt / n_src)
        if rng.random() < 0.2:
            j += rng.choice((-1, 1))
        j = min(n_tgt - 1, max(0, j))
        links.append((i, j))
        if rng.random() < 0.1 and j + 1 < n_tgt:
            links.append((i, j + 1))  # one source word, two target words
        if rng.random() < 0.03:
            links.append((i, rng.randrange(n_tgt)))  # stray link
    tokens = [f"w{k}" for k in range(n_tgt)]
    for k in rng.sample(range(n_tgt), 12):
        tokens[k] = rng.choice([",", ",", ".", "!", "?"])
    return spans, np.array(links, dtype=np.int64), n_tgt, tokens


def time_call(fn, runs: int, warmup: int = 3) -> list[float]:
    """Wall times of ``runs`` calls of ``fn`` in milliseconds, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def _methods(spans, links, n_tgt, tokens, exact, args) -> dict:
    """The timed calls on one sentence pair, with their number of runs."""
    pairs = links.tolist()
    every = [(s, t) for s in range(n_tgt) for t in range(s + 1, n_tgt + 1)]
    return {
        "heuristic": (lambda: project(spans, links, n_tgt), args.runs),
        "ngram greedy": (
            lambda: project(spans, links, n_tgt, "ngram", target_tokens=tokens),
            args.runs,
        ),
        "ngram exact": (
            lambda: project(spans, links, n_tgt, "ngram", exact, target_tokens=tokens),
            args.runs,
        ),
        f"ngram greedy, all {len(every):,} spans given as candidates": (
            lambda: project(spans, links, n_tgt, "ngram", candidates=every),
            max(5, args.runs // 10),
        ),
        f"ngram exact, all {len(every):,} spans given as candidates": (
            lambda: project(spans, links, n_tgt, "ngram", exact, candidates=every),
            max(5, args.runs // 10),
        ),
        "reference heuristic (plain Python)": (
            lambda: ref.heuristic(spans, pairs, n_tgt),
            max(5, args.runs // 10),
        ),
        "reference ngram greedy (plain Python)": (
            lambda: ref.ngram_greedy(spans, pairs, n_tgt, tokens=tokens),
            args.ref_runs,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=5, help="sentence pairs (seeds)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per vectorised method")
    parser.add_argument("--ref-runs", type=int, default=3, help="timed runs of the n-gram ref.")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sentence")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args()

    exact = NgramOptions(exact=True)
    times: dict[str, list[float]] = {}
    agree = True
    totals = []
    for seed in range(args.seed, args.seed + args.sentences):
        spans, links, n_tgt, tokens = make_sentence(seed)
        methods = _methods(spans, links, n_tgt, tokens, exact, args)
        for name, (fn, runs) in methods.items():
            warmup = 1 if name.startswith("reference ngram") else 3
            times.setdefault(name, []).extend(time_call(fn, runs, warmup))
        agree &= project(spans, links, n_tgt) == ref.heuristic(spans, links.tolist(), n_tgt)
        agree &= project(spans, links, n_tgt, "ngram", target_tokens=tokens) == ref.ngram_greedy(
            spans, links.tolist(), n_tgt, tokens=tokens
        )
        greedy_total = sum(m.score for m in match_entities(spans, links, n_tgt, None, tokens))
        exact_total = sum(m.score for m in match_entities(spans, links, n_tgt, exact, tokens))
        totals.append({"seed": seed, "greedy": greedy_total, "exact": exact_total})

    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(
            {
                "method": name,
                "median_ms": round(median, 4),
                "min_ms": round(min(values), 4),
                "p90_ms": round(float(np.percentile(values, 90)), 4),
                "timed_calls": len(values),
                "under_goal": median < GOAL_MS,
            }
        )

    print(f"Projection, {args.sentences} sentence pairs of 180 -> 200 words with 20 entities")
    print()
    print("| method | median ms | p90 ms | min ms | timed calls | < 50 ms |")
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        goal = "yes" if row["under_goal"] else "no"
        print(
            f"| {row['method']} | {row['median_ms']:.3f} | {row['p90_ms']:.3f} | "
            f"{row['min_ms']:.3f} | {row['timed_calls']} | {goal} |"
        )
    print()
    print(f"outputs agree with the references: {'yes' if agree else 'NO'}")
    for t in totals:
        print(f"seed {t['seed']}: total score greedy {t['greedy']:.4f}, exact {t['exact']:.4f}")

    today = dt.date.today().isoformat()
    out = args.out or Path(__file__).resolve().parent / "results" / f"projection-{today}.json"
    record = {
        "benchmark": "projection",
        "date": today,
        "xner_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "settings": {
            "sentences": args.sentences,
            "first_seed": args.seed,
            "source_words": 180,
            "target_words": 200,
            "entities": 20,
            "runs": args.runs,
            "goal_ms": GOAL_MS,
        },
        "results": rows,
        "agree_with_reference": agree,
        "totals": totals,
    }
    with atomic_write(out) as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
