"""Translate-test and model transfer: label text in a low-resource language.

**Translate-test** (arXiv 2501.18750): for each original sentence (its words),

1. join the words into a text (without spaces for scripts written without them, see
   :func:`~xner.runtime.pipelines.stages.join_words`) and translate it into English;
2. split the English into words (:func:`~xner.runtime.tokenize.word_tokenize`) and tag them;
3. remove the predicted entities whose label is dropped (``drop={"MISC"}``);
4. align the English words (the projection's source) with the original words (its target) and
   project the English entities onto the original words (``heuristic`` or ``ngram``).

**Model transfer**: tag the original words directly with the multilingual tagger (the baseline
the two projection settings are compared with); same result type.

Both read their input lazily, ``chunk_size`` sentences at a time, so that each engine batches a
whole chunk, and yield one result per input sentence, in input order. A sentence that cannot be
labelled (an empty translation, an engine failure on it) gets all-``O`` tags and an ``error``;
the stream goes on. An empty sentence (no words) gets an empty result without running anything.

**Long sentences** (translate-test): a sentence of more than
:data:`~xner.runtime.pipelines.stages.SEGMENT_WORDS` (200) words or
:data:`~xner.runtime.pipelines.stages.SEGMENT_CHARS` (2,000) characters is cut into segments at
sentence or clause punctuation; each segment is translated, tagged, aligned with its own
original words and projected like a sentence (in the chunk's batched engine calls), and the
pieces are joined: the result still has one tag per original word, and ``segments`` says how
many parts there were. Memory therefore grows linearly with a sentence's length: no engine input
and no similarity matrix is larger than a segment's (the aligner's cap,
:data:`~xner.runtime.engines.aligner.MAX_ALIGN_SUBWORDS`, keeps one pair's extraction under about
160 MiB). A segment that fails fails its sentence, reported with its words
(``"words 201-400: ..."``). Model transfer tags a long sentence whole: the tagger windows it, in
memory linear in its length.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from xner.runtime.bundles.bundle import Bundle
from xner.runtime.data import Sentence
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.options import EngineOptions, chunked
from xner.runtime.languages import resolve_language
from xner.runtime.pipelines.results import TranslateTestResult
from xner.runtime.pipelines.stages import (
    Segments,
    as_sentences,
    checked_chunk_size,
    checked_labels,
    join_segments,
    join_words,
    project_chunk,
    projection_method,
    run_stage,
)
from xner.runtime.tags import tags_from_spans
from xner.runtime.tokenize import word_tokenize

__all__ = ["ENGLISH", "model_transfer", "translate_test"]

ENGLISH = "eng_Latn"
"""The pivot language of translate-test (the tagger is trained on English)."""

EngineSource = Engines | Bundle | str | os.PathLike[str]
SentenceLike = Sentence | Sequence[str] | str


def translate_test(
    engines: EngineSource,
    sentences: Iterable[SentenceLike],
    lang: str,
    *,
    method: str = "heuristic",
    options: Any = None,
    drop: Collection[str] = (),
    chunk_size: int = 256,
    beam_size: int | None = None,
    align_method: str | None = None,
    engine_options: EngineOptions | None = None,
) -> Iterator[TranslateTestResult]:
    """Label ``sentences`` written in ``lang`` by translating them into English (lazily).

    ``engines``: :class:`Engines` (built once, reused across calls) or a bundle / bundle path
    (then engines are built with ``engine_options``). ``sentences``: :class:`Sentence` objects,
    word lists or strings (split on whitespace); read ``chunk_size`` at a time. ``lang``: the
    language of the sentences (NLLB code, ISO code or name). ``method``: projection method
    (``heuristic``, ``ngram``); ``options``: its options dataclass
    (:class:`~xner.runtime.projection.HeuristicOptions`,
    :class:`~xner.runtime.projection.NgramOptions`), a mapping of its fields, or None.
    ``drop``: entity types predicted on the English side that are not projected. ``beam_size``:
    translation beam (default: the translator's). ``align_method``: ``itermax``, ``argmax``,
    ``match`` or ``softmax`` (default: the aligner's).

    Options, languages and labels are checked at once (the translator is built for that); the
    input is read when the iterator is. Yields a :class:`TranslateTestResult` per sentence.
    """
    engines = Engines.of(engines, engine_options)
    method, opts = projection_method(method, options)
    skip = checked_labels(drop, engines.entity_types(), "entity type to drop")
    size = checked_chunk_size(chunk_size)
    lang = resolve_language(lang)
    translator = engines.translator
    src, tgt = translator.language(lang), translator.language(ENGLISH)

    def stream() -> Iterator[TranslateTestResult]:
        done = 0
        for chunk in chunked(as_sentences(sentences), size):
            yield from _translate_test_chunk(
                engines, chunk, done, lang, (src, tgt), method, opts, skip, beam_size, align_method
            )
            done += len(chunk)

    return stream()


def _translate_test_chunk(
    engines: Engines,
    chunk: list[Sentence],
    first: int,
    lang: str,
    codes: tuple[str, str],
    method: str,
    opts: Any,
    skip: frozenset[str],
    beam_size: int | None,
    align_method: str | None,
) -> list[TranslateTestResult]:
    parts = Segments.plan(chunk)  # stages are keyed by segment (one per ordinary sentence)
    errors: dict[int, str] = {}
    texts = {u: join_words(parts.words(u, chunk), lang) for u in range(len(parts))}
    translations = run_stage(
        "translation",
        lambda batch: engines.translator.translate(batch, *codes, beam_size=beam_size),
        texts,
        errors,
    )
    english: dict[int, list[str]] = {}
    for u, translation in translations.items():
        words = [token.text for token in word_tokenize(translation.text)]
        if words:
            english[u] = words
        else:
            errors[u] = "the translation is empty"
    tagged = run_stage("tagging", engines.tagger.tag, parts.live(english, errors), errors)
    spans = {u: [s for s in result.spans if s.label not in skip] for u, result in tagged.items()}
    to_align = {u: (english[u], parts.words(u, chunk)) for u in parts.live(tagged, errors)}
    aligned = run_stage(
        "alignment",
        lambda pairs: engines.aligner.align(pairs, method=align_method),
        {u: pair for u, pair in to_align.items() if spans[u]},
        errors,
    )
    no_links = np.zeros((0, 2), dtype=np.int64)
    to_project = {
        u: (spans[u], aligned[u].pairs if u in aligned else no_links, parts.words(u, chunk))
        for u in parts.live(tagged, errors)
    }
    projections = project_chunk(to_project, method, opts, errors)
    failed = parts.sentence_errors(errors)
    results = []
    for k, sentence in enumerate(chunk):
        units = parts.segments(k)
        english_spans, pairs, projected, matches = join_segments(
            (
                len(english.get(u, ())),
                parts.end[u] - parts.start[u],
                spans.get(u, []),
                aligned[u].pairs if u in aligned else None,
                projections.get(u, ([], None)),
            )
            for u in units
        )
        if k in failed:
            projected, matches = [], None
        done = [translations[u] for u in units if u in translations]
        results.append(
            TranslateTestResult(
                index=first + k,
                line=sentence.line,
                source=sentence.source,
                tokens=list(sentence.tokens),
                tags=tags_from_spans(projected, len(sentence.tokens)),
                spans=projected,
                translation=" ".join(t.text for t in done) if done else None,
                english_tokens=[word for u in units for word in english.get(u, ())],
                english_spans=english_spans,
                alignment=pairs,
                matches=matches,
                truncated=any(t.truncated for t in done),
                segments=len(units),
                error=failed.get(k),
            )
        )
    return results


def model_transfer(
    engines: EngineSource,
    sentences: Iterable[SentenceLike],
    lang: str | None = None,
    *,
    drop: Collection[str] = (),
    chunk_size: int = 256,
    engine_options: EngineOptions | None = None,
) -> Iterator[TranslateTestResult]:
    """Tag ``sentences`` directly with the multilingual tagger (no translation), lazily.

    The baseline of translate-test: same arguments (``lang`` is only checked) and the same
    result type, with no translation, English side or alignment.
    """
    engines = Engines.of(engines, engine_options)
    skip = checked_labels(drop, engines.entity_types(), "entity type to drop")
    size = checked_chunk_size(chunk_size)
    if lang is not None:
        resolve_language(lang)

    def stream() -> Iterator[TranslateTestResult]:
        done = 0
        for chunk in chunked(as_sentences(sentences), size):
            errors: dict[int, str] = {}
            words = {k: s.tokens for k, s in enumerate(chunk) if s.tokens}
            tagged = run_stage("tagging", engines.tagger.tag, words, errors)
            for k, sentence in enumerate(chunk):
                spans = [] if k not in tagged else tagged[k].spans
                spans = [s for s in spans if s.label not in skip]
                yield TranslateTestResult(
                    index=done + k,
                    line=sentence.line,
                    source=sentence.source,
                    tokens=list(sentence.tokens),
                    tags=tags_from_spans(spans, len(sentence.tokens)),
                    spans=spans,
                    error=errors.get(k),
                )
            done += len(chunk)

    return stream()
