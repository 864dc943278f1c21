"""The cost of the n-gram method's model scores (``ner``, ``nmt``) against plain ``align``.

Usage: ``python bench/bench_scores.py [--sentences 100] [--bundle PATH] [--nmt-candidates K]``.

Translate-test of ``--sentences`` Hausa MasakhaNER 2.0 test sentences (evenly spaced through
the file) with a real-size bundle (default: the one bench/run_bench.py builds and caches,
random weights at the real sizes) and ``--method ngram`` under each score setting. As the
experiment does, the stages before projection (translate, tokenize, tag, align) run ONCE
(:func:`~xner.runtime.pipelines.compose.prepare_translate_test`); then each setting's projection
stage (:func:`~xner.runtime.pipelines.stages.project` plus the results) is timed on those
records, ``--repeats`` times (median). End to end of a setting = the shared stages + its
projection. The translator's and tagger's calls made during projection are counted (pairs sent
to ``score``, sentences tagged). Ratios are against ``align``; the issue's goal: a model score
adds at most 3x the time of ``align``.

Writes ``bench/results/<date>-<name>.json`` and ``.md`` (atomically) and prints the table; the
load average at start and end is recorded (other work on the machine slows everything down).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_data  # noqa: E402
import facts  # noqa: E402

from xner.runtime.bundles.bundle import Bundle  # noqa: E402
from xner.runtime.engines.aligner import Aligner  # noqa: E402
from xner.runtime.engines.engine_set import Engines  # noqa: E402
from xner.runtime.engines.tagger import Tagger  # noqa: E402
from xner.runtime.engines.translator import Translator  # noqa: E402
from xner.runtime.names import split_names  # noqa: E402
from xner.runtime.pipelines import stages  # noqa: E402
from xner.runtime.pipelines.compose import (  # noqa: E402
    ENGLISH,
    prepare_translate_test,
    translate_test_results,
)
from xner.runtime.pipelines.configs import TranslateTestConfig  # noqa: E402
from xner.runtime.projection.ngram import NMT_CANDIDATES  # noqa: E402
from xner.runtime.projection.registry import method_info, resolve_options  # noqa: E402

logger = logging.getLogger("xner.bench")
DEFAULT_BUNDLE = Path.home() / ".cache" / "xner-bench" / "real-bc85b98538" / "bundle"
DEFAULT_DATA = BENCH.parent.parent / "shared" / "data"
GOAL = 3.0  # a model score adds at most 3x the projection time of align

SETTINGS: dict[str, tuple[str, ...]] = {
    "align": ("align=1",),
    "align+ner": ("align=0.5", "ner=0.5"),
    "align+nmt": ("align=0.5", "nmt=0.5"),
    "align+ner+nmt": ("align=0.5", "ner=0.5", "nmt=1"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=100, help="Hausa test sentences")
    parser.add_argument("--lang", default="hau", help="MasakhaNER language (default hau)")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="real-size bundle")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--length", type=int, default=32, help="generated tokens per sentence")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    parser.add_argument("--repeats", type=int, default=1, help="runs of a model-scored projection")
    parser.add_argument("--align-repeats", type=int, default=5, help="runs of align's projection")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"of {', '.join(SETTINGS)}")
    parser.add_argument(
        "--nmt-candidates",
        type=int,
        default=None,
        help="NgramOptions.nmt_candidates (default: the option's default; 0: every candidate)",
    )
    parser.add_argument("--name", default="scores", help="result name")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    return parser.parse_args(argv)


class Counted:
    """An engine whose ``score`` and ``tag`` calls are counted (calls, items), the rest as is."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.calls = 0
        self.items = 0
        self.words = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def _count(self, items: Any) -> None:
        self.calls += 1
        self.items += len(items)

    def score(self, sources: Any, targets: Any, *args: Any, **kwargs: Any) -> Any:
        self._count(sources)
        self.words += sum(len(text.split()) for text in [*sources, *targets])
        return self._engine.score(sources, targets, *args, **kwargs)

    def tag(self, sentences: Any, *args: Any, **kwargs: Any) -> Any:
        self._count(sentences)
        return self._engine.tag(sentences, *args, **kwargs)

    def reset(self) -> None:
        self.calls = self.items = self.words = 0


def _options(scores: tuple[str, ...], nmt_candidates: int | None) -> Any:
    wanted: dict[str, Any] = {"scores": scores}
    if nmt_candidates is not None and "nmt" in "".join(scores):
        wanted["nmt_candidates"] = nmt_candidates
    return resolve_options(method_info("ngram"), wanted)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    started = time.perf_counter()
    load_start = facts.load_average()
    knobs = {"device": "cpu", "intra_threads": args.threads, "inter_threads": 1}
    tick = time.perf_counter()
    bundle = Bundle.load(args.bundle, verify=False)
    translator = Counted(
        Translator(
            bundle, max_decoding_length=args.length, min_decoding_length=args.length, **knobs
        )
    )
    tagger = Counted(Tagger(bundle, **knobs))
    aligner = Aligner(bundle, **knobs)
    # the counting wrappers are duck-typed engines, not the engine classes
    engines = Engines(bundle, translator=translator, tagger=tagger, aligner=aligner)  # type: ignore[arg-type]
    load_s = time.perf_counter() - tick
    items = bench_data.load_sentences(args.data, (args.lang,), args.sentences)
    sentences = list(stages.as_sentences([item["words"] for item in items]))
    config = TranslateTestConfig(args.lang, method="ngram", chunk_size=max(1, len(sentences)))
    pair = (ENGLISH, config.lang)

    tick = time.perf_counter()
    records = prepare_translate_test(engines, sentences, config)
    shared_s = time.perf_counter() - tick
    entities = sum(len(r.spans) for r in records)
    logger.info("shared stages: %.1f s, %d English entities", shared_s, entities)

    rows: dict[str, dict[str, Any]] = {}
    for label in split_names(args.settings):
        scores = SETTINGS[label]
        options = _options(scores, args.nmt_candidates)
        runs, spans = [], 0
        for _ in range(max(1, args.align_repeats if label == "align" else args.repeats)):
            translator.reset()
            tagger.reset()
            tick = time.perf_counter()
            projected = stages.project(records, "ngram", options, engines, pair)
            results = translate_test_results(sentences, projected)
            runs.append(time.perf_counter() - tick)
            spans = sum(len(r.spans) for r in results)
        project_s = statistics.median(runs)
        rows[label] = {
            "scores": list(options.scores),
            "nmt_candidates": getattr(options, "nmt_candidates", "n/a"),
            "max_len": options.longest,
            "project_runs_s": [round(s, 4) for s in runs],
            "project_s": round(project_s, 4),
            "end_to_end_s": round(shared_s + project_s, 3),
            "projected_spans": spans,
            "translator_score_calls": translator.calls,
            "translator_score_pairs": translator.items,
            "words_per_scored_text": (
                round(translator.words / (2 * translator.items), 2) if translator.items else None
            ),
            "tagger_calls": tagger.calls,
            "tagger_sentences": tagger.items,
        }
        logger.info("%s: projection %.3f s (%s)", label, project_s, rows[label])
    base = rows.get("align")
    for row in rows.values():
        row["project_ratio"] = _ratio(row["project_s"], base and base["project_s"])
        row["end_to_end_ratio"] = _ratio(row["end_to_end_s"], base and base["end_to_end_s"])
        ratio = row["end_to_end_ratio"]
        row["within_goal"] = None if ratio is None else ratio <= GOAL
    record: dict[str, Any] = {
        **facts.record_header("ngram scores (translate-test)", args.name, load_start),
        "settings": {
            "bundle": str(args.bundle),
            "language": args.lang,
            "sentences": len(sentences),
            "english_entities": entities,
            "gold_entities": gold_entities(args.data, args.lang, args.sentences),
            "length": args.length,
            "threads": args.threads,
            "repeats": args.repeats,
            "align_repeats": args.align_repeats,
            "nmt_candidates": (
                NMT_CANDIDATES if args.nmt_candidates is None else args.nmt_candidates
            ),
            "load_s": round(load_s, 2),
        },
        "shared_stages_s": round(shared_s, 3),
        "rows": rows,
        "goal_ratio": GOAL,
    }
    record["wall_s"] = round(time.perf_counter() - started, 1)
    facts.write_record(record, markdown(record), args.out_dir, args.name)
    return record


def gold_entities(data: Path, lang: str, per_language: int) -> int:
    """How many gold entities the benchmark's sentences hold (the random-weight tagger finds
    its own number of English entities: the cost of a model score grows with it)."""
    sentences: list[list[str]] = []
    tags: list[str] = []
    path = data / "masakhaner2" / f"{lang}.test.conll"
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip():
            tags.append(line.split("\t")[-1].strip())
        elif tags:
            sentences.append(tags)
            tags = []
    step = len(sentences) / per_language
    chosen = [sentences[int(k * step)] for k in range(per_language)]
    return sum(tag.startswith("B-") for sentence in chosen for tag in sentence)


def _ratio(a: float, b: float | None) -> float | None:
    return None if not b else round(a / b, 2)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def markdown(record: dict[str, Any]) -> str:
    """The Markdown report of a record: one row per score setting."""
    s, m = record["settings"], record["machine"]
    lines = [
        f"### {record['date']} `{record['name']}`: n-gram projection with model scores",
        "",
        f"Translate-test of {s['sentences']} MasakhaNER 2.0 {s['language']} test sentences "
        f"({s['english_entities']} English entities found by the tagger; the gold Hausa "
        f"sentences hold {s['gold_entities']}), `--method ngram`; bundle `{s['bundle']}` "
        f"(random weights at the real sizes); {s['length']} generated tokens per sentence, "
        f"{s['threads']} threads. Shared stages (translate, tokenize, tag, align) run once: "
        f"{record['shared_stages_s']:.1f} s; projection: median of {s['align_repeats']} runs "
        f"(align), {s['repeats']} (model scores). "
        f"`nmt_candidates`: {s['nmt_candidates']}"
        f". CPU: {m['cpu']} ({m['usable_cores']} cores); load average "
        f"{record['load_average_start']} at start, {record['load_average_end']} at end "
        "(other work ran on the machine).",
        "",
        "| scores | projection s | vs align | end to end s | vs align | spans "
        "| score calls | pairs scored | words per scored text | tagger sentences "
        "| goal (end to end <= 3x) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, row in record["rows"].items():
        verdict = {True: "met", False: "**missed**", None: "-"}[row["within_goal"]]
        if label == "align":
            verdict = "baseline"
        lines.append(
            f"| {label} (`{','.join(row['scores'])}`) | {row['project_s']:.3f} "
            f"| **{_num(row['project_ratio'], 1)}x** | {row['end_to_end_s']:.1f} "
            f"| {_num(row['end_to_end_ratio'], 2)}x | {row['projected_spans']} "
            f"| {row['translator_score_calls']} | {row['translator_score_pairs']:,} "
            f"| {_num(row.get('words_per_scored_text'))} | {row['tagger_sentences']} | {verdict} |"
        )
    lines += [
        "",
        "Pairs scored: the (source, target) texts sent to the translator's `score`, all "
        "directions together (P(a|a), P(b|b), P(a|b), P(b|a) over distinct texts). The goal "
        "compares end to end times: the projection stage alone with `align` takes milliseconds, "
        "so any model call is hundreds of times that (the column `vs align` of projection). "
        "Words per scored text: the mean length of the texts sent to `score` (the cost of a "
        "pair grows with it).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
