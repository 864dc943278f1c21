"""Run one side of the benchmark (xner or the reference stack) in this process and write JSON.

Usage (the harness does this, one subprocess per side): ``python bench/side_runner.py
{xner,reference} CONFIG.json OUT.json``. A side is an object with ``load()``, ``translate``,
``words``, ``tag``, ``align``, ``project`` and ``end_to_end`` (see side_xner.py and
side_reference.py); this module times them the same way for both:

1. load the models (seconds each, resident set after); ``startup_s`` is the "model load"
   the report shows: wall time from the process's launch (``XNER_BENCH_LAUNCHED``, a
   ``time.time()`` the harness takes just before starting the subprocess; else this module's
   first line) to the moment the first sentence's translation could start, imports included
   (a side may load the later stages' models in the background, as ``xner translate-test``
   does: its ``ready()`` is then awaited before any stage is timed);
2. translate all sentences (``repeats.translate`` runs), then tag the English words, align
   English with the original words and project the English entities (``repeats`` each), every
   stage fed with the previous stage's output of the same side; projection is timed with the
   pipeline's default method (``heuristic``) and with ``ngram`` (greedy matching), one call per
   side over all sentences (xner projects them as one batch, the reference loops over them);
3. the whole chain once more as one call (``end_to_end``), ``repeats.e2e`` runs.

Each stage is called once on two sentences before it is timed (first calls pay for kernel
selection and allocations). Each stage reports wall seconds per run, the peak resident set
reached during it (whole process, models included) and, for xner, the seconds spent inside
CTranslate2 / ONNX Runtime.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

IMPORTED_AT = time.time()  # the fallback "process start" when the harness gives none
BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from measure import EngineClock, process_peak_mb, rss_mb, timed_runs  # noqa: E402


def run_side(
    side: Any, config: dict[str, Any], clock: EngineClock | None, launched: float | None = None
) -> dict[str, Any]:
    """Time ``side`` on ``config["items"]``; the record written to the side's JSON.
    ``launched``: the ``time.time()`` of the process's start (``startup_s`` counts from it)."""
    items = config["items"]
    repeats = config["repeats"]
    record: dict[str, Any] = {"side": side.name, "rss_before_load_mb": rss_mb()}
    record["load_s"] = side.load()

    warm = items[:2]  # first calls pay for kernel selection, page-ins and allocations
    first: dict[str, float] = {}
    record["startup_s"] = round(time.time() - (IMPORTED_AT if launched is None else launched), 3)
    if hasattr(side, "ready"):  # engines still loading in the background: not timed in stages
        record["load_s"].update(side.ready())
    record["rss_after_load_mb"] = rss_mb()
    record["rss_after_each_load_mb"] = side.load_rss_mb
    first["translate"] = _seconds(lambda: side.translate(warm))
    timing, translations = timed_runs(lambda: side.translate(items), repeats["translate"], clock)
    texts = [text for text, _ in translations]
    generated = [n for _, n in translations]
    english = [side.words(text) for text in texts]
    stages: dict[str, Any] = {}
    stages["translate"] = _stage(timing, len(items), sum(generated), "generated target tokens")

    first["tag"] = _seconds(lambda: side.tag(english[:2]))
    timing, entities = timed_runs(lambda: side.tag(english), repeats["tag"], clock)
    n_english = sum(len(w) for w in english)
    stages["tag"] = _stage(timing, len(items), n_english, "English words")

    originals = [item["words"] for item in items]
    pairs = list(zip(english, originals, strict=True))
    first["align"] = _seconds(lambda: side.align(pairs[:2]))
    timing, links = timed_runs(lambda: side.align(pairs), repeats["align"], clock)
    n_original = sum(len(w) for w in originals)
    stages["align"] = _stage(timing, len(items), n_english + n_original, "words (both sides)")

    lengths = [len(words) for words in originals]

    def project_all() -> list[Any]:
        return side.project(entities, links, lengths)

    project_all()
    timing, projected = timed_runs(project_all, repeats["project"], None)
    stages["project"] = _stage(timing, len(items), n_original, "original words")

    def project_ngram_all() -> list[Any]:
        return side.project_ngram(entities, links, originals)

    project_ngram_all()
    timing, _ = timed_runs(project_ngram_all, repeats["project"], None)
    stages["project_ngram"] = _stage(timing, len(items), n_original, "original words")

    first["end_to_end"] = _seconds(lambda: side.end_to_end(warm))
    timing, final = timed_runs(lambda: side.end_to_end(items), repeats["e2e"], clock)
    stages["end_to_end"] = _stage(timing, len(items), n_original, "original words")
    record["stages"] = stages
    record["first_call_s"] = {k: round(v, 4) for k, v in first.items()}
    record["counts"] = {
        "sentences": len(items),
        "generated_tokens": sum(generated),
        "generated_tokens_min": min(generated),
        "generated_tokens_max": max(generated),
        "english_words": n_english,
        "original_words": n_original,
        "english_entities": sum(len(e) for e in entities),
        "links": sum(len(x) for x in links),
        "projected_entities": sum(len(p) for p in projected),
        "end_to_end_entities": sum(len(p) for p in final),
    }
    record["process_peak_rss_mb"] = process_peak_mb()
    record["versions"] = side.versions()
    record["engine_note"] = side.note()
    record["python"] = platform.python_version()
    record["thread_env"] = {
        k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")
    }
    return record


def _seconds(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _stage(timing: Any, sentences: int, tokens: int, unit: str) -> dict[str, Any]:
    out = timing.as_dict()
    median = timing.median
    out["sentences"] = sentences
    out["tokens"] = tokens
    out["token_unit"] = unit
    out["sentences_per_s"] = round(sentences / median, 3) if median > 0 else None
    out["tokens_per_s"] = round(tokens / median, 2) if median > 0 else None
    return out


def main(argv: list[str]) -> None:
    name, config_path, out_path = argv
    config = json.loads(Path(config_path).read_text(encoding="utf-8"))
    started = time.perf_counter()
    clock = None
    if name == "xner":
        clock = EngineClock().install()  # before any engine is built
        from side_xner import XnerSide

        side: Any = XnerSide(config)
    elif name == "reference":
        from side_reference import ReferenceSide

        side = ReferenceSide(config)
    else:
        raise SystemExit(f"unknown side {name!r}; choose xner or reference")
    launched = os.environ.get("XNER_BENCH_LAUNCHED")
    record = run_side(side, config, clock, float(launched) if launched else None)
    record["wall_s"] = round(time.perf_counter() - started, 2)
    record["torch_imported"] = any(m.split(".")[0] == "torch" for m in sys.modules)
    tmp = Path(out_path).with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main(sys.argv[1:])
