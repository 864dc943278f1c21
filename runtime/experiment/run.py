"""Experiments: languages x methods on a folder of gold test files, written as tables and a chart.

:func:`run_experiment` runs the grid of the paper's tables (arXiv 2501.18750) on a folder laid
out like MasakhaNER 2.0 (``<lang>.<split>.conll``, IOB2 gold tags) and scores every cell with
:class:`~xner.runtime.evaluate.Evaluator` (seqeval-exact entity F1). Methods
(:func:`experiment_methods`):

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
language so that an interrupted run keeps the languages it finished: ``results.csv`` (a row per
language and method), ``results.json`` (settings, bundle, every cell's full evaluation),
``results.md`` (F1 x 100, languages x methods, with the AVERAGE row: the mean over languages)
and, at the end, ``results.png`` (grouped bars; needs matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xner.runtime.alignment.methods import get_method
from xner.runtime.bundles.bundle import Bundle
from xner.runtime.data import Sentence
from xner.runtime.engines.options import EngineOptions, chunked
from xner.runtime.engines.translator import translatable_language
from xner.runtime.errors import ConfigError, InputError, unknown_choice
from xner.runtime.evaluate import Evaluator
from xner.runtime.experiment.report import (
    CSV_COLUMNS,
    RESULT_FILES,
    ExperimentCell,
    ExperimentResult,
    write_chart,
    write_tables,
)
from xner.runtime.files.formats import read_sentences
from xner.runtime.names import split_names
from xner.runtime.pipelines import (
    Engines,
    TranslateTestConfig,
    TranslateTestResult,
    model_transfer,
)
from xner.runtime.pipelines.compose import prepare_translate_test, translate_test_results
from xner.runtime.pipelines.configs import positive
from xner.runtime.pipelines.stages import project
from xner.runtime.projection.registry import (
    available_methods,
    available_variants,
    resolve_method,
)

__all__ = [
    "ALL_LANGUAGES",
    "CSV_COLUMNS",
    "MODEL_TRANSFER",
    "RESULT_FILES",
    "ExperimentCell",
    "ExperimentResult",
    "experiment_methods",
    "run_experiment",
]

logger = logging.getLogger("xner")

MODEL_TRANSFER = "model-transfer"
ALL_LANGUAGES = "all"

Progress = Callable[[Iterable[Any], str], Iterable[Any]]


def experiment_methods() -> tuple[str, ...]:
    """Valid experiment methods: the projection methods, their variants and ``model-transfer``."""
    return (*available_methods(), *available_variants(), MODEL_TRANSFER)


# --- the grid -------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What was checked before any work: languages, their files and codes, methods."""

    langs: list[str]
    files: dict[str, Path]
    codes: dict[str, str | None]
    methods: list[str]
    projections: dict[str, tuple[str, Any]]  # experiment method -> (registered method, options)


def run_experiment(
    bundle: Bundle | str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    langs: Sequence[str],
    methods: Sequence[str],
    *,
    out_dir: str | os.PathLike[str],
    split: str = "test",
    ignore: Collection[str] = (),
    limit: int | None = None,
    options: EngineOptions | None = None,
    verify: bool = True,
    beam_size: int = 1,
    align_method: str = "itermax",
    projection_options: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> ExperimentResult:
    """Run ``langs`` x ``methods`` on ``data_dir/<lang>.<split>.conll`` and write the results.

    ``bundle``: a loaded :class:`Bundle` or its path (loaded with ``verify``: SHA-256 of every
    file when true, sizes only when false). ``langs``: file codes of ``data_dir`` (``hau``,
    ``yor``), or ``["all"]`` for every file of the split. ``methods``: see
    :func:`experiment_methods`. ``out_dir``: the folder the results go to (created); files there
    from an earlier run are refused unless ``force``. ``split``: the files' split (``test``,
    ``dev``). ``ignore``: entity types turned into O on both sides before scoring (``DATE``;
    published MasakhaNER results ignore MISC and DATE); those the tagger predicts are also
    dropped from the English entities before projection (``drop`` of the pipeline), so that
    they take no target words from the others. ``limit``: only the first ``limit``
    sentences of each language (quick runs). ``options``: engine settings for the translator,
    tagger and aligner (:class:`EngineOptions`). ``beam_size``: the translator's beam (1:
    greedy). ``align_method``: the aligner's extraction method (``itermax``, ``argmax``,
    ``match``, ``softmax``). ``projection_options``: options per registered projection method
    (``{"heuristic": HeuristicOptions(...), "ngram": {"max_len": 8}}``); ``ngram-exact`` uses
    the ``ngram`` options with ``exact=True``. ``progress``: wraps each language's stream of
    sentences, given a description (a progress bar).

    Everything is checked before a model is loaded: the folder, the languages (an unknown one
    lists the folder's languages), the methods (an unknown one lists the valid ones), the
    languages for translate-test, the options, the output files. Raises :class:`ConfigError` or
    :class:`InputError` (a malformed gold file, with its line).
    """
    if limit is not None:
        positive("limit", limit)
    positive("beam_size", beam_size)
    get_method(align_method)  # an unknown one lists the methods
    ignore = _names(ignore)
    loaded = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, verify=verify)
    plan = _plan(loaded, Path(data_dir), langs, methods, split, projection_options)
    out = Path(out_dir)
    _check_outputs(out, force)
    options = options or EngineOptions()
    settings = _settings(plan, Path(data_dir), split, ignore, limit, options, beam_size)
    settings["align_method"] = align_method
    engines = Engines(loaded, options)  # each engine built once, on first use
    settings["drop"] = sorted(set(ignore) & set(engines.entity_types()))
    run = {"beam_size": beam_size, "align_method": align_method}
    files = {key: out / name for key, name in RESULT_FILES.items()}
    cells: list[ExperimentCell] = []
    gold_types: set[str] = set()
    for lang in plan.langs:
        gold = _read_gold(plan.files[lang], limit)
        gold_types.update(tag[2:] for sentence in gold for tag in sentence.tags or () if tag != "O")
        cells.extend(_run_language(engines, plan, lang, gold, ignore, run, progress))
        partial = ExperimentResult(
            tuple(plan.langs), tuple(plan.methods), tuple(cells), settings, _bundle_info(loaded)
        )
        write_tables(partial, files, complete=lang == plan.langs[-1])
    _warn_label_mismatch(engines.entity_types(), gold_types, ignore)
    result = dataclasses.replace(partial, files=files, complete=True)
    if not write_chart(result, files["chart"]):
        result = dataclasses.replace(result, files={k: v for k, v in files.items() if k != "chart"})
    return result


def _names(items: Collection[str] | str) -> list[str]:
    """Names without repeats, in order (a string is split on commas: :func:`split_names`)."""
    return list(dict.fromkeys(split_names(items)))


def _plan(
    bundle: Bundle,
    data_dir: Path,
    langs: Sequence[str],
    methods: Sequence[str],
    split: str,
    projection_options: Mapping[str, Any] | None,
) -> _Plan:
    valid = experiment_methods()
    chosen = _names(methods)
    if not chosen:
        raise ConfigError(f"no method given; choose from {', '.join(valid)}")
    for method in chosen:
        if method not in valid:
            raise unknown_choice("experiment method", method, valid)
    projections = _projections(chosen, projection_options)
    available = _available(data_dir, split)
    wanted = _names(langs)
    if not wanted:
        raise ConfigError(f"no language given; {data_dir} has {', '.join(available)} (or all)")
    implicit = wanted == [ALL_LANGUAGES]
    names = list(available) if implicit else wanted
    for name in names:
        if name not in available:
            raise unknown_choice(f"language in {data_dir} (split {split})", name, available)
    codes: dict[str, str | None] = {name: None for name in names}
    if projections:
        translator = bundle.require("translator").settings
        bundle.require("aligner")
        unusable: list[str] = []
        for name in names:
            try:
                codes[name] = translatable_language(translator, name)
            except ConfigError as error:
                unusable.append(name)
                logger.debug("%s: %s", name, error)
        if unusable and not implicit:
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
    files = {name: data_dir / f"{name}.{split}.conll" for name in names}
    return _Plan(names, files, codes, chosen, projections)


def _projections(
    methods: list[str], projection_options: Mapping[str, Any] | None
) -> dict[str, tuple[str, Any]]:
    given = dict(projection_options or {})
    for name in given:
        if name not in available_methods():
            raise unknown_choice(
                "projection method in projection_options", name, available_methods()
            )
    chosen = {}
    for method in methods:
        if method == MODEL_TRANSFER:
            continue
        base, _ = resolve_method(method)
        chosen[method] = resolve_method(method, given.get(base))
    return chosen


def _available(data_dir: Path, split: str) -> list[str]:
    """File codes of ``data_dir`` for ``split``; a ConfigError when the folder holds none."""
    if not data_dir.is_dir():
        raise ConfigError(f"{data_dir}: not a folder (expected files like hau.{split}.conll)")
    suffix = f".{split}.conll"
    found = sorted(p.name[: -len(suffix)] for p in data_dir.glob(f"*{suffix}") if p.is_file())
    if not found:
        splits = sorted({p.name.split(".")[-2] for p in data_dir.glob("*.*.conll")})
        other = f"; splits there: {', '.join(splits)}" if splits else ""
        raise ConfigError(f"{data_dir}: no <lang>{suffix} files{other}")
    return found


def _check_outputs(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    existing = [name for name in RESULT_FILES.values() if (out / name).exists()]
    if existing and not force:
        raise ConfigError(
            f"{out} already holds {', '.join(existing)}; choose another folder or force "
            "(--force) to replace them"
        )


def _read_gold(path: Path, limit: int | None) -> list[Sentence]:
    sentences = list(itertools.islice(read_sentences(path, "conll"), limit))
    for sentence in sentences:
        if sentence.tags is None:
            raise InputError(sentence.source, sentence.line or None, "gold sentence has no tags")
    if not sentences:
        raise InputError(path, None, "no sentences")
    return sentences


def _warn_label_mismatch(
    tagger_types: Collection[str], gold_types: Collection[str], ignore: Collection[str]
) -> None:
    """Warn about types the tagger predicts but no gold sentence read has: pure errors."""
    extra = sorted(set(tagger_types) - set(gold_types) - set(ignore))
    if extra:
        logger.warning(
            "the tagger predicts %s, which the gold sentences never have: they counted as errors "
            "(ignore them with --ignore / ignore=; published results ignore MISC and DATE)",
            ", ".join(extra),
        )


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

    def cell(self, lang: str, code: str | None, method: str, shared: float) -> ExperimentCell:
        result = self.evaluator.result()
        cell = ExperimentCell(
            lang, code, method, result, shared + self.seconds, shared, self.failed, self.truncated
        )
        _log_cell(cell, self.example)
        return cell


def _run_language(
    engines: Engines,
    plan: _Plan,
    lang: str,
    gold: list[Sentence],
    ignore: Collection[str],
    run: Mapping[str, Any],
    progress: Progress | None,
) -> list[ExperimentCell]:
    """The cells of one language: translate-test's expensive stages once for every projection
    method, then model transfer."""
    wrap = progress or (lambda items, _description: items)
    drop = frozenset(ignore) & frozenset(engines.entity_types())  # not projected, not competing
    cells: dict[str, ExperimentCell] = {}
    code = plan.codes[lang]
    if plan.projections:
        config = TranslateTestConfig(
            code or lang, drop=drop, beam_size=run["beam_size"], align_method=run["align_method"]
        )
        counters = {method: _Counter(ignore) for method in plan.projections}
        started = time.perf_counter()
        grid = _every_method(engines, gold, config, plan.projections, counters)
        for sentence, results in wrap(grid, f"{lang}: translate-test"):
            for method, result in results.items():
                tick = time.perf_counter()
                counters[method].add(result, sentence)
                counters[method].seconds += time.perf_counter() - tick
        shared = time.perf_counter() - started - sum(c.seconds for c in counters.values())
        for method, counter in counters.items():
            cells[method] = counter.cell(lang, code, method, shared)
    if MODEL_TRANSFER in plan.methods:
        counter = _Counter(ignore)
        started = time.perf_counter()
        stream = model_transfer(engines, gold, drop=drop)
        for sentence, result in zip(gold, wrap(stream, f"{lang}: {MODEL_TRANSFER}"), strict=True):
            counter.add(result, sentence)
        counter.seconds = time.perf_counter() - started
        cells[MODEL_TRANSFER] = counter.cell(lang, code, MODEL_TRANSFER, 0.0)
    return [cells[method] for method in plan.methods]


def _every_method(
    engines: Engines,
    gold: list[Sentence],
    config: TranslateTestConfig,
    projections: Mapping[str, tuple[str, Any]],
    counters: Mapping[str, _Counter],
) -> Iterator[tuple[Sentence, dict[str, TranslateTestResult]]]:
    """Each gold sentence with its translate-test result under every projection method: per
    chunk, the expensive stages once, then each method's projection of the same records (its
    time added to its counter)."""
    for chunk in chunked(gold, config.chunk_size):
        records = prepare_translate_test(engines, chunk, config)
        by_method = {}
        for method, (base, options) in projections.items():
            tick = time.perf_counter()
            by_method[method] = translate_test_results(
                chunk, project(records, base, options, engines)
            )
            counters[method].seconds += time.perf_counter() - tick
        for k, sentence in enumerate(chunk):
            yield sentence, {method: results[k] for method, results in by_method.items()}


def _log_cell(cell: ExperimentCell, example: str) -> None:
    if cell.failed:
        logger.warning(
            "%s %s: %d sentences could not be labelled and count as all O, e.g. %s",
            cell.lang,
            cell.method,
            cell.failed,
            example,
        )
    s = cell.evaluation.overall
    logger.info(
        "%s %s: F1 %.1f (P %.1f, R %.1f) on %d sentences in %.1f s",
        cell.lang,
        cell.method,
        100 * s.f1,
        100 * s.precision,
        100 * s.recall,
        cell.evaluation.sentences,
        cell.seconds,
    )


# --- writing --------------------------------------------------------------------------------------


def _settings(
    plan: _Plan,
    data_dir: Path,
    split: str,
    ignore: Collection[str],
    limit: int | None,
    options: EngineOptions,
    beam_size: int,
) -> dict[str, Any]:
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_dir": str(data_dir),
        "split": split,
        "langs": list(plan.langs),
        "codes": {lang: plan.codes[lang] for lang in plan.langs},
        "methods": list(plan.methods),
        "ignore": sorted(ignore),
        "limit": limit,
        "engine": dataclasses.asdict(options),
        "beam_size": beam_size,
        "projection": {
            method: {"method": base, "options": dataclasses.asdict(opts)}
            for method, (base, opts) in plan.projections.items()
        },
        "scoring": "entity-level micro P/R/F1, exact match (seqeval default mode); "
        "AVERAGE = mean F1 over languages",
    }


def _bundle_info(bundle: Bundle) -> dict[str, Any]:
    return {
        "path": str(bundle.root),
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
