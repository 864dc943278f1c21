"""The pipelines, each a short sequence of the stages of :mod:`xner.runtime.pipelines.stages`.

**Translate-test** (arXiv 2501.18750), label text in a low-resource language through English:
for each chunk of sentences, :func:`prepare_translate_test` translates them into English
(``translate``: the words joined, without spaces for scripts written without them), splits
the English into words (``tokenize``), tags them (``tag``, minus the ``drop`` labels) and aligns
the English words with the original ones (``align``); ``project`` then carries the English
entities onto the original words and :func:`translate_test_results` puts each sentence together.
With several pivot languages (``pivots``), each chunk goes through those stages once per pivot
(one batched translation into each) and :func:`combine_pivot_results` combines the pivots'
spans per sentence (:mod:`xner.runtime.projection.combine`); a pivot that fails for a sentence
does not vote on it, and the sentence fails only when every pivot does.

**Translate-train**, carry labelled sentences into another language: the gold entities (minus
``drop``) are the projection's source; ``translate`` -> ``tokenize`` -> ``align`` ->
``project`` onto the translation's words. A projection that gives no span to some source entity
is *incomplete* (``lost`` counts those entities).

**Model transfer**, the baseline: ``tag`` the original words directly.

Each pipeline reads its input lazily, ``chunk_size`` sentences at a time, so that each engine
batches a whole chunk, and yields one result per input sentence, in input order. A sentence that
cannot be labelled (an empty translation, an engine failure on it) gets all-``O`` tags and an
``error``; the stream goes on. An empty sentence (no words) gets an empty result without running
anything. A long sentence is processed in segments (:mod:`xner.runtime.pipelines.segments`;
translate-train cuts only between entities); model transfer tags it whole (the tagger windows
it, in memory linear in its length).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from xner.runtime.bundles.bundle import Bundle
from xner.runtime.data import Sentence, Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.options import EngineOptions, chunked
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.pipelines import stages
from xner.runtime.pipelines.configs import (
    ENGLISH,
    ModelTransferConfig,
    TranslateTestConfig,
    TranslateTrainConfig,
)
from xner.runtime.pipelines.records import Record, by_sentence, plan, sentence_error
from xner.runtime.pipelines.results import TranslateTestResult, TranslateTrainResult
from xner.runtime.pipelines.segments import join_segments, segment_ranges
from xner.runtime.projection.combine import CombineOptions, combine_spans
from xner.runtime.projection.registry import method_info
from xner.runtime.projection.result import Match
from xner.runtime.tags import spans_from_tags, tags_from_spans, validate_tags

__all__ = [
    "ENGLISH",
    "EngineSource",
    "combine_pivot_results",
    "gold_spans",
    "model_transfer",
    "model_transfer_results",
    "numbered_chunks",
    "prepare_translate_test",
    "translate_test",
    "translate_test_results",
    "translate_train",
    "translate_train_results",
    "warn_untrained_pivots",
]

logger = logging.getLogger("xner")
_WARNED_PIVOTS: weakref.WeakKeyDictionary[Engines, set[str]] = weakref.WeakKeyDictionary()

EngineSource = Engines | Bundle | str | os.PathLike[str]
"""Ready :class:`Engines`, or a bundle (or its path) to build them from."""
SentenceLike = Sentence | Sequence[str] | str
C = TypeVar("C", TranslateTestConfig, TranslateTrainConfig, ModelTransferConfig)
T = TypeVar("T")
R = TypeVar("R")


def numbered_chunks(items: Iterable[T], size: int) -> Iterator[tuple[int, list[T]]]:
    """Consecutive chunks of ``size`` items, each with its first item's position."""
    first = 0
    for chunk in chunked(items, size):
        yield first, chunk
        first += len(chunk)


def _results(
    one: Callable[[int, Sentence, list[Record]], R],
    chunk: Sequence[Sentence],
    records: Sequence[Record],
    first: int,
) -> list[R]:
    """``one(index, sentence, its records)`` for each sentence of ``chunk``, in order (``index``:
    its position in the stream, ``first`` being the chunk's first sentence's)."""
    mine = by_sentence(records, len(chunk))
    return [one(first + k, sentence, mine[k]) for k, sentence in enumerate(chunk)]


def _config(kind: type[C], given: Any, *args: Any, **settings: Any) -> C:
    """``given`` when it is a ``kind`` config (then no settings), else ``kind(given, *args,
    **settings)``."""
    if isinstance(given, kind):
        if args or settings:
            raise ConfigError(f"give either a {kind.__name__} or settings, not both")
        return given
    return kind(given, *args, **settings)


# --- translate-test -------------------------------------------------------------------------------


def translate_test(
    engines: EngineSource,
    sentences: Iterable[SentenceLike],
    lang: str | TranslateTestConfig,
    *,
    engine_options: EngineOptions | None = None,
    **settings: Any,
) -> Iterator[TranslateTestResult]:
    """Label ``sentences`` written in ``lang`` by translating them into English, or into
    several pivot languages whose labels are combined (lazily).

    ``engines``: :class:`Engines` (built once, reused across calls) or a bundle / bundle path
    (then engines are built with ``engine_options``). ``sentences``: :class:`Sentence` objects,
    word lists or strings (split on whitespace). ``lang``: the language of the sentences (NLLB
    code, ISO code or name) with the other settings as keywords (``method``, ``options``,
    ``drop``, ``chunk_size``, ``beam_size``, ``align_method``, ``pivots``, ``combine``:
    :class:`~xner.runtime.pipelines.configs.TranslateTestConfig`), or such a config.

    Settings, languages and labels are checked at once (the translator is built for that); a
    warning is logged when a pivot other than English is not among the tagger's training
    languages (:func:`warn_untrained_pivots`). The input is read when the iterator is. Yields a
    :class:`TranslateTestResult` per sentence; with several pivots, their combination
    (:func:`combine_pivot_results`).
    """
    config = _config(TranslateTestConfig, lang, **settings)
    ready = Engines.of(engines, engine_options)
    config.check(ready)
    for code in (config.lang, *config.pivots):
        ready.translator.language(code)  # an unsupported language fails now
    warn_untrained_pivots(ready, config.pivots)
    # the translator is built: the others load in threads while the first chunk translates
    ready.preload(name for name in config.needs if name != "translator")

    def stream() -> Iterator[TranslateTestResult]:
        for first, chunk in numbered_chunks(stages.as_sentences(sentences), config.chunk_size):
            by_pivot = {}
            for pivot in config.pivots:
                records = prepare_translate_test(ready, chunk, config, pivot)
                records = _project(records, ready, config, (pivot, config.lang))
                by_pivot[pivot] = translate_test_results(chunk, records, first)
            if len(config.pivots) == 1:
                yield from by_pivot[config.pivots[0]]
                continue
            for k in range(len(chunk)):
                mine = {pivot: results[k] for pivot, results in by_pivot.items()}
                yield combine_pivot_results(mine, config.combine)

    return stream()


def warn_untrained_pivots(engines: Engines, pivots: Sequence[str]) -> list[str]:
    """Log one warning naming the ``pivots`` other than English that the bundle does not say
    its tagger was fine-tuned on (the manifest's ``tagger.settings.trained_on``; a bundle
    without it: unknown); returns them. Each pivot is named once per :class:`Engines` (an
    experiment runs translate-test per language and pivot with the same engines)."""
    component = None if engines.bundle is None else engines.bundle.tagger
    trained = () if component is None else component.settings.trained_on
    untrained = [pivot for pivot in pivots if pivot != ENGLISH and pivot not in trained]
    warned = _WARNED_PIVOTS.setdefault(engines, set())
    if any(pivot not in warned for pivot in untrained):
        warned.update(untrained)
        logger.warning(
            "pivots %s: the tagger was fine-tuned on %s; it is multilingual, but it may find "
            "entities less well in these languages than in its own",
            ", ".join(untrained),
            ", ".join(trained) if trained else "languages the bundle does not record (unknown)",
        )
    return untrained


def combine_pivot_results(
    by_pivot: Mapping[str, TranslateTestResult], options: CombineOptions
) -> TranslateTestResult:
    """One sentence's translate-test results through several pivots (in pivot order) as one
    result whose spans are their combination (:func:`~xner.runtime.projection.combine.
    combine_spans`: a pivot's spans vote with their confidences, 1 for a method that gives
    none; a pivot whose result has an error does not vote). The result keeps each pivot's own
    (:attr:`~TranslateTestResult.by_pivot`); its ``confidences`` are the combination's, its
    ``pivots`` per span those that agreed. It has an error only when every pivot failed."""
    results = list(by_pivot.values())
    votes = {
        pivot: None
        if result.error is not None
        else list(zip(result.spans, result.confidences or [1.0] * len(result.spans), strict=True))
        for pivot, result in by_pivot.items()
    }
    combined = combine_spans(votes, options)
    failed = all(result.error is not None for result in results)
    error = None
    if failed:
        error = "every pivot failed: " + "; ".join(f"{p}: {r.error}" for p, r in by_pivot.items())
    spans = [c.span for c in combined]
    one = results[0]
    return TranslateTestResult(
        index=one.index,
        line=one.line,
        source=one.source,
        tokens=list(one.tokens),
        tags=tags_from_spans(spans, len(one.tokens)),
        spans=spans,
        truncated=any(result.truncated for result in results),
        segments=one.segments,
        error=error,
        input=one.input,
        confidences=[c.confidence for c in combined],
        pivots=tuple(c.voters for c in combined),
        by_pivot=dict(by_pivot),
    )


def _project(
    records: list[Record],
    engines: Engines,
    config: TranslateTestConfig | TranslateTrainConfig,
    languages: tuple[str, str],
) -> list[Record]:
    """The project stage with a pipeline's settings (``languages``: the projection's source and
    target languages)."""
    return stages.project(
        records,
        config.method,
        config.options,
        engines,
        languages,
        min_confidence=config.min_confidence,
        drop=config.drop,
    )


def prepare_translate_test(
    engines: Engines, chunk: Sequence[Sentence], config: TranslateTestConfig, pivot: str = ENGLISH
) -> list[Record]:
    """The stages of translate-test before projection, on one chunk, through one ``pivot``
    language (an NLLB code): translate, tokenize, tag, align (the expensive ones; the
    experiment projects their records with every method)."""
    records = plan(chunk, segment_ranges(chunk), from_translation=True)
    records = stages.translate(records, engines, config.lang, pivot, config.beam_size)
    records = stages.tokenize(records)
    records = stages.tag(records, engines, config.drop)
    return stages.align(records, engines, config.align_method)


def translate_test_results(
    chunk: Sequence[Sentence], records: Sequence[Record], first: int = 0
) -> list[TranslateTestResult]:
    """One result per sentence of ``chunk`` from its projected records (``first``: the
    chunk's first sentence's position in the stream)."""
    return _results(_translate_test_result, chunk, records, first)


def _translate_test_result(
    index: int, sentence: Sentence, mine: list[Record]
) -> TranslateTestResult:
    joined = join_segments(mine)
    error = sentence_error(mine)
    projected, matches = ([], None) if error else (joined.spans, joined.matches)
    done = [r.translation for r in mine if r.translation is not None]
    return TranslateTestResult(
        index=index,
        line=sentence.line,
        source=sentence.source,
        tokens=list(sentence.tokens),
        tags=tags_from_spans(projected, len(sentence.tokens)),
        spans=projected,
        translation=" ".join(t.text for t in done) if done else None,
        english_tokens=[word for r in mine for word in r.translated],
        english_spans=joined.source_spans,
        alignment=joined.links,
        matches=matches,
        truncated=any(t.truncated for t in done),
        segments=len(mine),
        error=error,
        input=sentence,
        confidences=[] if error else joined.confidences,
        origins=[] if error else joined.origins,
    )


# --- model transfer -------------------------------------------------------------------------------


def model_transfer(
    engines: EngineSource,
    sentences: Iterable[SentenceLike],
    lang: str | ModelTransferConfig | None = None,
    *,
    engine_options: EngineOptions | None = None,
    **settings: Any,
) -> Iterator[TranslateTestResult]:
    """Tag ``sentences`` directly with the multilingual tagger (no translation), lazily.

    The baseline of translate-test: the same arguments (``lang`` is only checked; settings
    ``drop`` and ``chunk_size``, or a :class:`~xner.runtime.pipelines.configs.
    ModelTransferConfig`) and the same result type, with no translation, English side or
    alignment.
    """
    config = _config(ModelTransferConfig, lang, **settings)
    ready = Engines.of(engines, engine_options)
    config.check(ready)

    def stream() -> Iterator[TranslateTestResult]:
        for first, chunk in numbered_chunks(stages.as_sentences(sentences), config.chunk_size):
            whole = [[(0, len(s.tokens))] if s.tokens else [] for s in chunk]  # never cut
            records = stages.tag(plan(chunk, whole), ready, config.drop)
            yield from model_transfer_results(chunk, records, first)

    return stream()


def model_transfer_results(
    chunk: Sequence[Sentence], records: Sequence[Record], first: int = 0
) -> list[TranslateTestResult]:
    """One result per sentence of ``chunk`` from its tagged records."""
    return _results(_model_transfer_result, chunk, records, first)


def _model_transfer_result(
    index: int, sentence: Sentence, mine: list[Record]
) -> TranslateTestResult:
    spans = [span for record in mine for span in record.spans]
    return TranslateTestResult(
        index=index,
        line=sentence.line,
        source=sentence.source,
        tokens=list(sentence.tokens),
        tags=tags_from_spans(spans, len(sentence.tokens)),
        spans=spans,
        error=sentence_error(mine),
        input=sentence,
    )


# --- translate-train ------------------------------------------------------------------------------


def translate_train(
    engines: EngineSource,
    sentences: Iterable[Sentence],
    src_lang: str | TranslateTrainConfig,
    tgt_lang: str | None = None,
    *,
    engine_options: EngineOptions | None = None,
    **settings: Any,
) -> Iterator[TranslateTrainResult]:
    """Translate labelled ``sentences`` from ``src_lang`` into ``tgt_lang`` with their labels.

    ``sentences``: :class:`Sentence` objects with IOB2 ``tags`` (a sentence without tags or
    with malformed ones raises :class:`InputError` naming its file and line). The settings are
    those of :func:`translate_test` plus ``drop_incomplete``
    (:class:`~xner.runtime.pipelines.configs.TranslateTrainConfig`; or pass such a config
    instead of the two languages); ``drop``: entity types not carried over (any label; no check
    against a model). Yields a :class:`TranslateTrainResult` per sentence.
    """
    args = () if tgt_lang is None else (tgt_lang,)
    config = _config(TranslateTrainConfig, src_lang, *args, **settings)
    ready = Engines.of(engines, engine_options)
    config.check(ready)
    for code in (config.src_lang, config.tgt_lang):
        ready.translator.language(code)  # an unsupported language fails now
    info = method_info(config.method)
    # a method that translates the sentences itself (markers) is a step: records in and out
    translating = cast(Callable[..., list[Record]], info.fn) if info.translates else None

    def stream() -> Iterator[TranslateTrainResult]:
        for first, chunk in numbered_chunks(sentences, config.chunk_size):
            entities = [gold_spans(sentence) for sentence in chunk]  # no segment cuts one
            gold = [[s for s in spans if s.label not in config.drop] for spans in entities]
            records = plan(chunk, segment_ranges(chunk, entities), spans=gold)
            if translating is not None:
                records = translating(records, config.options, ready, config)
                records = stages.keep_confident(records, config.method, config.min_confidence)
                yield from translate_train_results(chunk, records, first)
                continue
            records = stages.translate(
                records, ready, config.src_lang, config.tgt_lang, config.beam_size
            )
            records = stages.tokenize(records)
            records = stages.align(records, ready, config.align_method)
            records = _project(records, ready, config, (config.src_lang, config.tgt_lang))
            yield from translate_train_results(chunk, records, first)

    return stream()


def translate_train_results(
    chunk: Sequence[Sentence], records: Sequence[Record], first: int = 0
) -> list[TranslateTrainResult]:
    """One result per sentence of ``chunk`` from its projected records."""
    return _results(_translate_train_result, chunk, records, first)


def _translate_train_result(
    index: int, sentence: Sentence, mine: list[Record]
) -> TranslateTrainResult:
    joined = join_segments(mine)
    gold = joined.source_spans
    error = sentence_error(mine)
    projected, matches = ([], None) if error else (joined.spans, joined.matches)
    target = [word for r in mine for word in r.translated]
    links = stages.NO_LINKS if joined.links is None else joined.links
    lost = len(gold)  # a sentence that failed loses them all
    if error is None:
        lost = lost_entities(gold, projected, matches, links, len(target))
    done = [r.translation for r in mine if r.translation is not None]
    return TranslateTrainResult(
        index=index,
        line=sentence.line,
        source=sentence.source,
        source_tokens=list(sentence.tokens),
        source_spans=gold,
        translation=" ".join(t.text for t in done),
        tokens=target,
        tags=tags_from_spans(projected, len(target)),
        spans=projected,
        alignment=joined.links,
        matches=matches,
        lost=lost,
        truncated=any(t.truncated for t in done),
        segments=len(mine),
        error=error,
        input=sentence,
        confidences=[] if error else joined.confidences,
        origins=[] if error else joined.origins,
        markers_kept=_markers_kept(mine),
    )


def _markers_kept(records: Sequence[Record]) -> bool | None:
    """Whether a sentence kept all its markers (None: it was not marked)."""
    marked = [record.markers for record in records if record.markers is not None]
    return all(marked) if marked else None


def gold_spans(sentence: Sentence) -> list[Span]:
    """Every entity of a labelled sentence (checked: IOB2, one tag per word)."""
    if not isinstance(sentence, Sentence) or sentence.tags is None:
        where = sentence.source if isinstance(sentence, Sentence) else None
        line = sentence.line if isinstance(sentence, Sentence) else None
        raise InputError(where, line or None, "translate-train needs labelled sentences (tags)")
    validate_tags(sentence.tags, "IOB2", path=sentence.source, line=sentence.line or None)
    if len(sentence.tags) != len(sentence.tokens):
        problem = f"{len(sentence.tokens)} words but {len(sentence.tags)} tags"
        raise InputError(sentence.source, sentence.line or None, problem)
    return spans_from_tags(sentence.tags, "IOB2")


def lost_entities(
    entities: list[Span],
    projected: list[Span],
    matches: list[Match] | None,
    links: np.ndarray,
    n: int,
) -> int:
    """Source entities that got no span: those without a match (a method that pairs entities
    with spans), or (other methods) those none of whose aligned target words lies in a
    projected span of their label."""
    if matches is not None:
        return len(entities) - len(matches)
    label_at = np.full(n, "", dtype=object)
    for span in projected:
        label_at[span.start : span.end] = span.label
    lost = 0
    for entity in entities:
        inside = (links[:, 0] >= entity.start) & (links[:, 0] < entity.end)
        if not np.any(label_at[links[inside, 1]] == entity.label):
            lost += 1
    return lost
