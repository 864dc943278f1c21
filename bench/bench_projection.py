"""Time the projection methods: long synthetic sentences, and MasakhaNER-sized ones in a batch.

Usage: ``python bench/bench_projection.py [--scenario all|long|masakhaner] [--sentences 5]
[--runs 200] [--batch-runs 30] [--seed 0] [--data DIR]``

**Long sentences** (``long``). Each sentence pair is synthetic but shaped like real ones: a
180-word source and a 200-word target, a mostly monotone alignment (jitter of one word, some
source words unaligned, some linked to two target words, a few stray links anywhere), 20
non-overlapping entities of 1 to 4 words, and target tokens with a few punctuation marks
(including ``!`` and ``?``, the default stop words). Timed, per sentence: ``heuristic``,
``ngram`` greedy and ``ngram`` exact (through :func:`xner.runtime.projection.project`, input
checks included), the two ``ngram`` matchings again with every span of the target given as a
candidate (the full score path, K = 20,100), and the plain-Python references of ``heuristic``
and ``ngram`` greedy (bench/reference_projection.py).

**MasakhaNER-sized sentences** (``masakhaner``): the 200 real MasakhaNER 2.0 test sentences of
bench/run_bench.py (40 of each of its languages, evenly spaced through each file; about 24 words
and one or two entities each), their gold entities as source spans, a synthetic alignment shaped
as above to a target of similar length (0.9 to 1.15 times the source) and synthetic target
tokens. Timed over all 200 sentences, median of ``--batch-runs`` runs (at least 20): xner in one
batched call (:func:`xner.runtime.projection.project_batch`), xner one call per sentence, and
the plain-Python references looped over the sentences; the ratio reference / xner batched is
the one the benchmark's goal (20x) is about.

Outputs are checked to agree with the references. Prints Markdown tables and writes JSON to
``bench/results/projection-<date>.json``.
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

import bench_data
import numpy as np
import reference_projection as ref

from xner.runtime.data import Span
from xner.runtime.files.atomic import atomic_write
from xner.runtime.files.formats import read_sentences
from xner.runtime.projection import NgramOptions, match_entities, project, project_batch
from xner.runtime.tags import spans_from_tags
from xner.runtime.version import __version__

GOAL_MS = 50.0
GOAL_SPEEDUP = 20.0
LABELS = ("PER", "ORG", "LOC", "MISC")
DEFAULT_DATA = Path(
    os.environ.get("XNER_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


def make_sentence(seed: int, n_src: int = 180, n_tgt: int = 200, n_entities: int = 20):
    """One synthetic sentence pair: (entities, links, target length, target tokens)."""
    rng = random.Random(seed)
    slots = sorted(rng.sample(range(0, n_src - 4, 5), n_entities))
    spans = [
        Span(s, s + rng.choices([1, 2, 3, 4], weights=[4, 4, 2, 1])[0], rng.choice(LABELS))
        for s in slots
    ]
    return spans, synthetic_links(rng, n_src, n_tgt), n_tgt, synthetic_tokens(rng, n_tgt, 12)


def synthetic_links(rng: random.Random, n_src: int, n_tgt: int) -> np.ndarray:
    """A mostly monotone alignment of ``n_src`` source words to ``n_tgt`` target words."""
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
    return np.array(links, dtype=np.int64).reshape(-1, 2)


def synthetic_tokens(rng: random.Random, n_tgt: int, n_punct: int) -> list[str]:
    """``n_tgt`` target words, ``n_punct`` of them punctuation (``!`` and ``?`` among them)."""
    tokens = [f"w{k}" for k in range(n_tgt)]
    for k in rng.sample(range(n_tgt), n_punct):
        tokens[k] = rng.choice([",", ",", ".", "!", "?"])
    return tokens


def masakhaner_sentences(data: Path, per_language: int = 40, seed: int = 0) -> list[tuple]:
    """The MasakhaNER-sized sentence pairs: (gold entities, links, target length, tokens).

    The sentences of :func:`bench_data.load_sentences` (evenly spaced through each test file),
    read with their tags; the target is synthetic, 0.9 to 1.15 times as long as the source.
    """
    rng = random.Random(seed)
    out = []
    for lang in bench_data.LANGUAGES:
        sentences = list(read_sentences(data / "masakhaner2" / f"{lang}.test.conll"))
        step = len(sentences) / per_language
        for k in range(per_language):
            sentence = sentences[int(k * step)]
            n_src = len(sentence.tokens)
            n_tgt = max(1, round(n_src * rng.uniform(0.9, 1.15)))
            spans = spans_from_tags(sentence.tags, "IOB2")
            links = synthetic_links(rng, n_src, n_tgt)
            out.append((spans, links, n_tgt, synthetic_tokens(rng, n_tgt, n_tgt // 16)))
    return out


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


def run_long(args: argparse.Namespace) -> dict:
    """The long-sentence scenario: timings per sentence; prints its table."""
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
    return {
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


def run_masakhaner(args: argparse.Namespace) -> dict:
    """The MasakhaNER-sized scenario: all sentences per timed call; prints its table."""
    sentences = masakhaner_sentences(args.data, seed=args.seed)
    pairs = [links.tolist() for _, links, _, _ in sentences]  # the reference gets plain lists
    plain = [(s, p, n, t) for (s, _, n, t), p in zip(sentences, pairs, strict=True)]
    heuristic_items = [(spans, links, n) for spans, links, n, _ in sentences]
    calls = {
        "heuristic": (
            lambda: project_batch(heuristic_items),
            lambda: [project(*item) for item in heuristic_items],
            lambda: [ref.heuristic(spans, p, n) for spans, p, n, _ in plain],
        ),
        "ngram greedy": (
            lambda: project_batch(sentences, "ngram"),
            lambda: [project(s, x, n, "ngram", target_tokens=t) for s, x, n, t in sentences],
            lambda: [ref.ngram_greedy(s, p, n, tokens=t) for s, p, n, t in plain],
        ),
    }
    runs = max(20, args.batch_runs)
    rows = []
    agree = True
    for name, (batched, one_by_one, reference) in calls.items():
        expected = reference()
        agree &= batched() == expected and one_by_one() == expected
        medians = [
            statistics.median(time_call(fn, runs, warmup=2))
            for fn in (batched, one_by_one, reference)
        ]
        speedup = medians[2] / medians[0]
        rows.append(
            {
                "method": name,
                "xner_batched_ms": round(medians[0], 4),
                "xner_one_call_per_sentence_ms": round(medians[1], 4),
                "reference_ms": round(medians[2], 4),
                "speedup": round(speedup, 2),
                "speedup_one_call_per_sentence": round(medians[2] / medians[1], 2),
                "goal_met": speedup >= GOAL_SPEEDUP,
            }
        )

    n_words = sum(n for _, _, n, _ in sentences)
    n_entities = sum(len(spans) for spans, _, _, _ in sentences)
    print(
        f"Projection, {len(sentences)} MasakhaNER 2.0 sentences ({n_words} target words, "
        f"{n_entities} entities) per call, median of {runs} runs"
    )
    print()
    print(
        "| method | xner batched ms | xner one call per sentence ms | plain Python ms | "
        "plain Python / xner batched | >= 20x |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for row in rows:
        goal = "yes" if row["goal_met"] else "no"
        print(
            f"| {row['method']} | {row['xner_batched_ms']:.3f} | "
            f"{row['xner_one_call_per_sentence_ms']:.3f} | {row['reference_ms']:.3f} | "
            f"{row['speedup']:.1f}x | {goal} |"
        )
    print()
    print(f"outputs agree with the references: {'yes' if agree else 'NO'}")
    return {
        "settings": {
            "sentences": len(sentences),
            "languages": list(bench_data.LANGUAGES),
            "target_words": n_words,
            "entities": n_entities,
            "runs": runs,
            "seed": args.seed,
            "goal_speedup": GOAL_SPEEDUP,
        },
        "results": rows,
        "agree_with_reference": agree,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("all", "long", "masakhaner"), default="all")
    parser.add_argument("--sentences", type=int, default=5, help="long sentence pairs (seeds)")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per vectorised method")
    parser.add_argument("--ref-runs", type=int, default=3, help="timed runs of the n-gram ref.")
    parser.add_argument(
        "--batch-runs", type=int, default=30, help="timed runs of each MasakhaNER call (>= 20)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sentence")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--out", type=Path, default=None, help="JSON output path")
    args = parser.parse_args()

    today = dt.date.today().isoformat()
    record: dict = {
        "benchmark": "projection",
        "date": today,
        "xner_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if args.scenario in ("all", "long"):
        record.update(run_long(args))
    if args.scenario in ("all", "masakhaner"):
        if args.scenario == "all":
            print()
        record["masakhaner"] = run_masakhaner(args)
    record["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    out = args.out or Path(__file__).resolve().parent / "results" / f"projection-{today}.json"
    with atomic_write(out) as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
