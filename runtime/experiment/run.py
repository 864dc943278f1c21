"""Experiments: languages x methods on a folder of gold test files, written as tables and a chart.

:func:`run_experiment` runs the grid of the paper's tables (arXiv 2501.18750) that an
:class:`~xner.runtime.experiment.config.ExperimentConfig` describes, on a folder laid out like
MasakhaNER 2.0 (``<lang>.<split>.conll``, IOB2 gold tags), and scores every cell with
:class:`~xner.runtime.evaluate.Evaluator` (seqeval-exact entity F1). Methods
(:func:`~xner.runtime.experiment.config.experiment_methods`):

- a projection method run through **translate-test** (each sentence is translated into English,
  the translation is tagged, aligned with the original and its entities projected back):
  every registered projection method (``heuristic``, ``ngram``) and variant (``ngram-exact``:
  ``ngram`` with exact matching);
- ``model-transfer``: the bundle's multilingual tagger on the target text directly.

Cost: the engines (:class:`~xner.runtime.pipelines.Engines`) are built once for the whole grid,
and each chunk of a language goes through the expensive stages of translate-test **once**
(:func:`~xner.runtime.pipelines.compose.prepare_translate_test`: translate, tokenize, tag,
align); then every projection method projects the same records
(:func:`~xner.runtime.pipelines.stages.project`: projection takes milliseconds, the models take
the time). Model transfer is :func:`~xner.runtime.pipelines.model_transfer`. A cell's
``seconds`` is what that method would have cost alone: the language's shared translate, tag and
align time plus the method's own projection and scoring time (``model-transfer``: its tagging).

Languages are the folder's file codes (``hau``, ``yor``, ``swa``), resolved to NLLB codes
(``swa`` -> ``swh_Latn``). Translate-test needs languages the bundle's translator can translate
(:func:`~xner.runtime.engines.translator.translatable_language`, read from the bundle's settings:
an M2M100 translator's ``__ha__`` tokens count as ``hau_Latn``): a language named explicitly
that is not one (MasakhaNER's ``pcm``, ``bbj``) is an error before any work; ``all`` takes every
file of the split and leaves such languages out with a warning.

Outputs in ``out_dir`` (:data:`RESULT_FILES`), each written atomically, and rewritten after each
language (``"complete": false`` in ``results.json`` until the last one): ``results.csv`` (a row
per language and method), ``results.json`` (settings, bundle, every cell's full evaluation),
``results.md`` (F1 x 100, languages x methods, with the AVERAGE row: the mean over languages)
and, at the end, ``results.png`` (grouped bars; needs matplotlib, the ``plot`` extra).

**Routing** (``route_by="dev"``, ``xner experiment --route-by dev``). Projection loses to model
transfer for some languages and wins for others; routing picks per language. Every method also
runs on the language's ``<lang>.dev.conll`` (same limit); the method with the best dev F1 (ties:
the first in ``methods``) is the language's choice, and the column ``routed`` holds its cell on
the experiment's split, naming the method (``chosen``, with every method's dev F1 in
``route_f1``; ``results.csv`` gains the column ``chosen``, ``results.md`` shows ``41.2 (ngram)``).
Its ``seconds`` are the chosen method's on the experiment's split (the dev runs are not counted).

**Resume.** An interrupted run leaves the languages it finished in ``results.json``; ``resume``
keeps their cells (and its date) when the settings (all but the date and the engines' threads
and batch sizes, which change speed, not labels) and the bundle's identity
(:meth:`~xner.runtime.engines.engine_set.Engines.identity`) are those of the interrupted run (else
a ConfigError naming each difference) and runs the other languages: the tables are those of an
uninterrupted run, timings aside. ``resume`` without a ``results.json`` starts from the beginning
(a warning); ``force`` discards any results there.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xner.runtime.bundles.bundle import Bundle
from xner.runtime.data import Sentence
from xner.runtime.engines.options import EngineOptions, chunked
from xner.runtime.engines.translator import translatable_language
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.evaluate import Evaluator
from xner.runtime.experiment.config import (
    ALL_LANGUAGES,
    MODEL_TRANSFER,
    ROUTED,
    ExperimentConfig,
    experiment_methods,
)
from xner.runtime.experiment.output import RunFiles, check_same_run, previous_run
from xner.runtime.experiment.report import (
    CSV_COLUMNS,
    RESULT_FILES,
    ExperimentCell,
    ExperimentResult,
    write_chart,
    write_tables,
)
from xner.runtime.files.formats import read_sentences
from xner.runtime.pipelines import (
    Engines,
    TranslateTestConfig,
    TranslateTestResult,
    model_transfer,
)
from xner.runtime.pipelines.compose import (
    ENGLISH,
    prepare_translate_test,
    translate_test_results,
)
from xner.runtime.pipelines.stages import project

__all__ = [
    "ALL_LANGUAGES",
    "CSV_COLUMNS",
    "MODEL_TRANSFER",
    "RESULT_FILES",
    "ROUTED",
    "ExperimentCell",
    "ExperimentConfig",
    "ExperimentResult",
    "bundle_info",
    "experiment_methods",
    "plan_run",
    "read_gold",
    "run_experiment",
]

logger = logging.getLogger("xner")
RESULTS = RunFiles(
    RESULT_FILES,
    "xner-experiment",
    ("cells",),
    "an experiment",
    done=lambda saved: (
        (
            ", ".join(dict.fromkeys(str(cell.get("lang")) for cell in saved["cells"]))
            or "no language"
        )
        + " done"
    ),
)
"""The plain experiment's files in its output folder."""

Progress = Callable[[Iterable[Any], str], Iterable[Any]]

SCORING = (
    "entity-level micro P/R/F1, exact match (seqeval default mode); "
    "AVERAGE = mean F1 over languages"
)


# --- the grid -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What was resolved before any work: the languages run, their gold files and NLLB codes
    (None when only model transfer runs), the ignored labels the tagger predicts (dropped
    before projection) and, when the experiment routes, each language's file of the routing
    split."""

    config: ExperimentConfig
    langs: tuple[str, ...]
    files: Mapping[str, Path]
    codes: Mapping[str, str | None]
    drop: frozenset[str] = frozenset()
    route_files: Mapping[str, Path] = dataclasses.field(default_factory=dict)


def run_experiment(
    bundle: Bundle | str | os.PathLike[str],
    config: ExperimentConfig,
    *,
    out_dir: str | os.PathLike[str],
    options: EngineOptions | None = None,
    verify: bool = True,
    force: bool = False,
    resume: bool = False,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run the grid of ``config`` and write the results into ``out_dir`` (created).

    ``bundle``: a loaded :class:`Bundle` or its path (loaded with ``verify``: SHA-256 of every
    file when true, sizes only when false). ``options``: engine settings for the translator,
    tagger and aligner (:class:`EngineOptions`). Result files already in ``out_dir`` are refused
    unless ``force`` (start over) or, for an interrupted run, ``resume`` (keep the languages it
    finished: module docstring). ``progress``: wraps each language's stream of sentences, given
    a description (a progress bar).

    Everything is checked before a model is loaded: the folder and the languages (an unknown one
    lists the folder's languages), the languages for translate-test, the output files, an
    interrupted run and its settings. Raises :class:`ConfigError` or :class:`InputError` (a
    malformed gold file, with its line).
    """
    files = config.gold_files()
    routes = config.route_files(list(files))
    out = Path(out_dir)
    saved = previous_run(out, RESULTS, force=force, resume=resume)
    loaded = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, verify=verify)
    options = options or EngineOptions()
    engines = Engines(loaded, options)  # each engine built once, on first use
    plan = plan_run(loaded, engines, config, files, routes)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if saved is not None:
        created = str(saved["settings"].get("created", created))
    settings = _settings(plan, options, created)
    identity = bundle_info(loaded, engines.identity())
    cells = [] if saved is None else _kept_cells(saved, settings, identity, plan, out)
    done = {cell.lang for cell in cells}
    todo = [lang for lang in plan.langs if lang not in done]
    if done:
        running = ", ".join(todo) or "nothing"
        logger.info("resuming %s: %s done; running %s", out, ", ".join(sorted(done)), running)
    paths = {key: out / name for key, name in RESULT_FILES.items()}
    order = {lang: k for k, lang in enumerate(plan.langs)}

    def grid() -> ExperimentResult:
        ordered = sorted(cells, key=lambda cell: order[cell.lang])  # stable: methods stay in order
        return ExperimentResult(
            plan.langs, tuple(config.table_columns), tuple(ordered), settings, identity
        )

    for lang in todo:
        gold = read_gold(plan.files[lang], config.limit)
        found = _run_language(engines, plan, lang, gold, progress)
        if config.route_by is not None:
            trial = read_gold(plan.route_files[lang], config.limit)
            found.append(
                _routed(found, _run_language(engines, plan, lang, trial, progress, config.route_by))
            )
        cells.extend(found)
        write_tables(grid(), paths, complete=lang == todo[-1])
    if not todo:  # a resumed run that had finished every language: its files again
        write_tables(grid(), paths, complete=True)
    _warn_label_mismatch(engines.entity_types(), cells, config.ignore)
    result = dataclasses.replace(grid(), files=paths, complete=True)
    if not write_chart(result, paths["chart"]):
        result = dataclasses.replace(result, files={k: v for k, v in paths.items() if k != "chart"})
    return result


def plan_run(
    bundle: Bundle,
    engines: Engines,
    config: ExperimentConfig,
    files: Mapping[str, Path],
    routes: Mapping[str, Path],
) -> _Plan:
    """The languages run: for translate-test, those the bundle's translator can translate."""
    names = list(files)
    codes: dict[str, str | None] = {name: None for name in names}
    if config.projections:
        translator = bundle.require("translator").settings
        bundle.require("aligner")
        unusable: list[str] = []
        for name in names:
            try:
                codes[name] = translatable_language(translator, name)
            except ConfigError as error:
                unusable.append(name)
                logger.debug("%s: %s", name, error)
        if unusable and not config.every_language:
            one = len(unusable) == 1
            raise ConfigError(
                f"translate-test cannot run on {', '.join(unusable)}: "
                f"{'not an NLLB-200 language' if one else 'not NLLB-200 languages'} the bundle's "
                f"translator knows (`xner languages` lists them); leave {'it' if one else 'them'} "
                f"out of the languages or run only {MODEL_TRANSFER}"
            )
        if unusable:
            logger.warning(
                "left out %s: translate-test needs languages the translator knows",
                ", ".join(unusable),
            )
            names = [name for name in names if name not in unusable]
        if not names:
            raise ConfigError("no language of the folder can be translated by this bundle")
    bundle.require("tagger")
    drop = frozenset(config.ignore) & frozenset(engines.entity_types())  # not projected
    return _Plan(
        config,
        tuple(names),
        {n: files[n] for n in names},
        {n: codes[n] for n in names},
        drop,
        {n: routes[n] for n in names if n in routes},
    )


def read_gold(path: Path, limit: int | None) -> list[Sentence]:
    sentences = list(itertools.islice(read_sentences(path, "conll"), limit))
    for sentence in sentences:
        if sentence.tags is None:
            raise InputError(sentence.source, sentence.line or None, "gold sentence has no tags")
    if not sentences:
        raise InputError(path, None, "no sentences")
    return sentences


def _warn_label_mismatch(
    tagger_types: Collection[str], cells: Iterable[ExperimentCell], ignore: Collection[str]
) -> None:
    """Warn about types the tagger predicts but no gold sentence has: pure errors."""
    gold_types = {
        name for cell in cells for name, scores in cell.evaluation.per_type.items() if scores.gold
    }
    extra = sorted(set(tagger_types) - gold_types - set(ignore))
    if extra:
        logger.warning(
            "the tagger predicts %s, which the gold sentences never have: they counted as errors "
            "(ignore them with --ignore / ignore=; published results ignore MISC and DATE)",
            ", ".join(extra),
        )


# --- the output folder and an interrupted run -----------------------------------------------------


def _kept_cells(
    saved: Mapping[str, Any],
    settings: Mapping[str, Any],
    bundle: Mapping[str, Any],
    plan: _Plan,
    out: Path,
) -> list[ExperimentCell]:
    """The cells of the languages the interrupted run finished (every method's), when its
    settings and bundle are this run's; else a ConfigError naming what differs."""
    check_same_run(out, saved, settings, bundle)
    try:
        found = [ExperimentCell.from_dict(cell) for cell in saved["cells"]]
    except (KeyError, TypeError, ValueError, AttributeError) as problem:
        raise ConfigError(
            f"{out / RESULT_FILES['json']}: a cell cannot be read ({problem!r}); pass --force "
            "to start over"
        ) from None
    by_key = {(cell.lang, cell.method): cell for cell in found}
    kept: list[ExperimentCell] = []
    for lang in plan.langs:
        mine = [by_key.get((lang, method)) for method in plan.config.table_columns]
        kept.extend(cell for cell in mine if cell is not None and None not in mine)
    return kept


# --- engines and the per-language work ------------------------------------------------------------


class _Counter:
    """One cell being filled: its evaluator, its own seconds, its failed and truncated sentences."""

    def __init__(self, ignore: Collection[str]) -> None:
        self.evaluator = Evaluator(ignore)
        self.seconds = 0.0
        self.failed = 0
        self.truncated = 0
        self.example = ""  # the first failure, as FILE:LINE: error

    def add(self, result: TranslateTestResult, gold: Sentence) -> None:
        self.evaluator.add(gold.tags or (), result.tags, line=gold.line or None, source=gold.source)
        self.truncated += result.truncated
        if result.error is not None:
            self.failed += 1
            self.example = self.example or f"{gold.source}:{gold.line}: {result.error}"

    def cell(
        self, lang: str, code: str | None, method: str, shared: float, split: str | None = None
    ) -> ExperimentCell:
        result = self.evaluator.result()
        cell = ExperimentCell(
            lang, code, method, result, shared + self.seconds, shared, self.failed, self.truncated
        )
        _log_cell(cell, self.example, split)
        return cell


def _run_language(
    engines: Engines,
    plan: _Plan,
    lang: str,
    gold: list[Sentence],
    progress: Progress | None,
    split: str | None = None,
) -> list[ExperimentCell]:
    """The cells of one language: translate-test's expensive stages once for every projection
    method, then model transfer (``split``: the routing split ``gold`` comes from, named in the
    log and the progress bar; None: the experiment's split)."""
    config = plan.config
    given = progress or (lambda items, _description: items)

    def wrap(items: Iterable[Any], description: str) -> Iterable[Any]:
        return given(items, description if split is None else f"{description} ({split})")

    cells: dict[str, ExperimentCell] = {}
    code = plan.codes[lang]
    if config.projections:
        pipeline = TranslateTestConfig(
            code or lang,
            drop=plan.drop,
            beam_size=config.beam_size,
            align_method=config.align_method,
        )
        counters = {method: _Counter(config.ignore) for method in config.projections}
        started = time.perf_counter()
        grid = _every_method(engines, gold, pipeline, config, counters)
        for sentence, results in wrap(grid, f"{lang}: translate-test"):
            for method, result in results.items():
                tick = time.perf_counter()
                counters[method].add(result, sentence)
                counters[method].seconds += time.perf_counter() - tick
        shared = time.perf_counter() - started - sum(c.seconds for c in counters.values())
        for method, counter in counters.items():
            cells[method] = counter.cell(lang, code, method, shared, split)
    if MODEL_TRANSFER in config.methods:
        counter = _Counter(config.ignore)
        started = time.perf_counter()
        stream = model_transfer(engines, gold, drop=plan.drop)
        for sentence, result in zip(gold, wrap(stream, f"{lang}: {MODEL_TRANSFER}"), strict=True):
            counter.add(result, sentence)
        counter.seconds = time.perf_counter() - started
        cells[MODEL_TRANSFER] = counter.cell(lang, code, MODEL_TRANSFER, 0.0, split)
    return [cells[method] for method in config.methods]


def _routed(cells: list[ExperimentCell], trial: list[ExperimentCell]) -> ExperimentCell:
    """The routed cell of a language: the cell (of ``cells``) of the method with the best F1 on
    the routing split (``trial``, in the same method order; ties: the first method)."""
    scores = {cell.method: cell.f1 for cell in trial}
    best = max(scores, key=scores.__getitem__)  # the first of the best: ties go to the earlier
    chosen = next(cell for cell in cells if cell.method == best)
    logger.info(
        "%s: routed to %s (F1 %.1f on the routing split)", chosen.lang, best, 100 * scores[best]
    )
    return dataclasses.replace(chosen, method=ROUTED, chosen=best, route_f1=scores)


def _every_method(
    engines: Engines,
    gold: list[Sentence],
    pipeline: TranslateTestConfig,
    config: ExperimentConfig,
    counters: Mapping[str, _Counter],
) -> Iterator[tuple[Sentence, dict[str, TranslateTestResult]]]:
    """Each gold sentence with its translate-test result under every projection method: per
    chunk, the expensive stages once, then each method's projection of the same records (its
    time added to its counter)."""
    languages = (ENGLISH, pipeline.lang)
    for chunk in chunked(gold, pipeline.chunk_size):
        records = prepare_translate_test(engines, chunk, pipeline)
        by_method = {}
        for method, (base, options) in config.projections.items():
            tick = time.perf_counter()
            threshold = config.min_confidence(method)
            projected = project(
                records, base, options, engines, languages, min_confidence=threshold
            )
            by_method[method] = translate_test_results(chunk, projected)
            counters[method].seconds += time.perf_counter() - tick
        for k, sentence in enumerate(chunk):
            yield sentence, {method: results[k] for method, results in by_method.items()}


def _log_cell(cell: ExperimentCell, example: str, split: str | None = None) -> None:
    method = cell.method if split is None else f"{cell.method} ({split})"
    if cell.failed:
        logger.warning(
            "%s %s: %d sentences could not be labelled and count as all O, e.g. %s",
            cell.lang,
            method,
            cell.failed,
            example,
        )
    s = cell.evaluation.overall
    logger.info(
        "%s %s: F1 %.1f (P %.1f, R %.1f) on %d sentences in %.1f s",
        cell.lang,
        method,
        100 * s.f1,
        100 * s.precision,
        100 * s.recall,
        cell.evaluation.sentences,
        cell.seconds,
    )


# --- writing --------------------------------------------------------------------------------------


def _settings(plan: _Plan, options: EngineOptions, created: str) -> dict[str, Any]:
    """What ``results.json`` records under ``settings``: the config's canonical dict with the
    languages run and their codes, the engine options and the labels dropped."""
    return {
        "created": created,
        **plan.config.canonical(),
        "langs": list(plan.langs),
        "codes": dict(plan.codes),
        "engine": options.recorded(),
        "drop": sorted(plan.drop),
        "scoring": SCORING,
    }


def bundle_info(bundle: Bundle, identity: str) -> dict[str, Any]:
    return {
        "path": str(bundle.root),
        "identity": identity,
        "xner_version": bundle.xner_version,
        "created": bundle.created,
        "format_version": bundle.format_version,
        "components": {
            name: {
                "source": dataclasses.asdict(component.source),
                "family": getattr(component.settings, "family", None),
                "quantization": getattr(component.settings, "quantization", None),
            }
            for name, component in bundle.components.items()
        },
    }
