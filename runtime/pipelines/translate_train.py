"""Translate-train: carry labelled sentences into another language to make training data.

For each labelled source sentence (for example English CoNLL, IOB2):

1. remove the entities whose label is dropped (``drop={"DATE"}``);
2. join the words into a text (without spaces for scripts written without them) and translate
   it into the target language;
3. split the translation into words (:func:`~xner.runtime.tokenize.word_tokenize`);
4. align the source words (the projection's source) with the translation's words (its target)
   and project the entities onto the translation (``heuristic`` or ``ngram``).

A projection that gives no span to some source entity is *incomplete* (``lost`` counts those
entities); the file job can leave such sentences out. Sentences without entities are translated
but not aligned (there is nothing to project). Input is read lazily, ``chunk_size`` sentences at
a time; one result per input sentence, in input order.

A long labelled sentence is processed in segments as in translate-test
(:mod:`~xner.runtime.pipelines.stages`), cut only between entities (never inside one, whatever
its label): each segment is translated, aligned with its translation and projected on its own,
and the result joins the translations (with spaces), their words, tags and links.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any

import numpy as np

from xner.runtime.data import Sentence, Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.options import EngineOptions, chunked
from xner.runtime.errors import InputError
from xner.runtime.languages import resolve_language
from xner.runtime.pipelines.results import TranslateTrainResult
from xner.runtime.pipelines.stages import (
    Segments,
    checked_chunk_size,
    join_segments,
    join_words,
    project_chunk,
    projection_method,
    run_stage,
)
from xner.runtime.pipelines.translate_test import EngineSource
from xner.runtime.tags import spans_from_tags, tags_from_spans, validate_tags
from xner.runtime.tokenize import word_tokenize

__all__ = ["translate_train"]


def translate_train(
    engines: EngineSource,
    sentences: Iterable[Sentence],
    src_lang: str,
    tgt_lang: str,
    *,
    method: str = "heuristic",
    options: Any = None,
    drop: Collection[str] = (),
    chunk_size: int = 256,
    beam_size: int | None = None,
    align_method: str | None = None,
    engine_options: EngineOptions | None = None,
) -> Iterator[TranslateTrainResult]:
    """Translate labelled ``sentences`` from ``src_lang`` into ``tgt_lang`` with their labels.

    ``sentences``: :class:`Sentence` objects with IOB2 ``tags`` (a sentence without tags or
    with malformed ones raises :class:`InputError` naming its file and line). ``drop``: entity
    types not carried over (any label; no check against a model). The other arguments are those
    of :func:`~xner.runtime.pipelines.translate_test`. Yields a :class:`TranslateTrainResult`
    per sentence.
    """
    engines = Engines.of(engines, engine_options)
    method, opts = projection_method(method, options)
    size = checked_chunk_size(chunk_size)
    if isinstance(drop, str):
        drop = drop.split(",")
    skip = frozenset(label.strip() for label in drop if label.strip())
    src_lang, tgt_lang = resolve_language(src_lang), resolve_language(tgt_lang)
    translator = engines.translator
    codes = (translator.language(src_lang), translator.language(tgt_lang))

    def stream() -> Iterator[TranslateTrainResult]:
        done = 0
        for chunk in chunked(sentences, size):
            yield from _chunk(
                engines, chunk, done, src_lang, codes, method, opts, skip, beam_size, align_method
            )
            done += len(chunk)

    return stream()


def _source_spans(sentence: Sentence, skip: frozenset[str]) -> list[Span]:
    if not isinstance(sentence, Sentence) or sentence.tags is None:
        where = sentence.source if isinstance(sentence, Sentence) else None
        line = sentence.line if isinstance(sentence, Sentence) else None
        raise InputError(where, line or None, "translate-train needs labelled sentences (tags)")
    validate_tags(sentence.tags, "IOB2", path=sentence.source, line=sentence.line or None)
    if len(sentence.tags) != len(sentence.tokens):
        problem = f"{len(sentence.tokens)} words but {len(sentence.tags)} tags"
        raise InputError(sentence.source, sentence.line or None, problem)
    return [s for s in spans_from_tags(sentence.tags, "IOB2") if s.label not in skip]


def _chunk(
    engines: Engines,
    chunk: list[Sentence],
    first: int,
    src_lang: str,
    codes: tuple[str, str],
    method: str,
    opts: Any,
    skip: frozenset[str],
    beam_size: int | None,
    align_method: str | None,
) -> list[TranslateTrainResult]:
    source_spans = [_source_spans(sentence, skip) for sentence in chunk]
    # stages are keyed by segment (one per ordinary sentence); no cut inside an entity
    parts = Segments.plan(chunk, [_all_spans(sentence) for sentence in chunk])
    spans = {u: parts.spans(u, source_spans[parts.owner[u]]) for u in range(len(parts))}
    errors: dict[int, str] = {}
    texts = {u: join_words(parts.words(u, chunk), src_lang) for u in range(len(parts))}
    translations = run_stage(
        "translation",
        lambda batch: engines.translator.translate(batch, *codes, beam_size=beam_size),
        texts,
        errors,
    )
    words: dict[int, list[str]] = {}
    for u, translation in translations.items():
        words[u] = [token.text for token in word_tokenize(translation.text)]
        if not words[u]:
            errors[u] = "the translation is empty"
    to_align = {u: (parts.words(u, chunk), words[u]) for u in parts.live(words, errors) if spans[u]}
    aligned = run_stage(
        "alignment",
        lambda pairs: engines.aligner.align(pairs, method=align_method),
        to_align,
        errors,
    )
    no_links = np.zeros((0, 2), dtype=np.int64)
    to_project = {
        u: (spans[u], aligned[u].pairs if u in aligned else no_links, words.get(u, []))
        for u in parts.live(dict.fromkeys(range(len(parts))), errors)
    }
    projections = project_chunk(to_project, method, opts, errors)
    failed = parts.sentence_errors(errors)
    results = []
    for k, sentence in enumerate(chunk):
        units = parts.segments(k)
        _, pairs, projected, matches = join_segments(
            (
                parts.end[u] - parts.start[u],
                len(words.get(u, ())),
                spans[u],
                aligned[u].pairs if u in aligned else None,
                projections.get(u, ([], None)),
            )
            for u in units
        )
        if k in failed:
            projected, matches = [], None
        target = [word for u in units for word in words.get(u, ())]
        links = no_links if pairs is None else pairs
        done = [translations[u] for u in units if u in translations]
        results.append(
            TranslateTrainResult(
                index=first + k,
                line=sentence.line,
                source=sentence.source,
                source_tokens=list(sentence.tokens),
                source_spans=source_spans[k],
                translation=" ".join(t.text for t in done),
                tokens=target,
                tags=tags_from_spans(projected, len(target)),
                spans=projected,
                alignment=pairs,
                matches=matches,
                lost=len(source_spans[k])
                if k in failed
                else lost_entities(source_spans[k], projected, matches, links, len(target)),
                truncated=any(t.truncated for t in done),
                segments=len(units),
                error=failed.get(k),
            )
        )
    return results


def _all_spans(sentence: Sentence) -> list[Span]:
    """Every entity of a (checked) sentence, dropped labels included: no segment cuts one."""
    return spans_from_tags(sentence.tags or [], "IOB2")


def lost_entities(
    entities: list[Span], projected: list[Span], matches: list | None, links: np.ndarray, n: int
) -> int:
    """Source entities that got no span: those without a match (``ngram``), or (other methods)
    those none of whose aligned target words lies in a projected span of their label."""
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
