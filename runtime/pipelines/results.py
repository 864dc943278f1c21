"""The per-sentence results of the pipelines and their review records (``--explain``).

Both result types satisfy :class:`LabelledResult`, what a file job needs of a result: the input
it came from, the sentence to write, its review record and the counts of its summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from xner.runtime.data import Sentence, Span
from xner.runtime.projection import Match

__all__ = [
    "LabelledResult",
    "TranslateTestResult",
    "TranslateTrainResult",
    "confidence_records",
    "projected_records",
    "span_records",
]


class LabelledResult(Protocol):
    """One labelled sentence as a file job writes, reviews and counts it."""

    @property
    def input(self) -> Sentence | None:
        """The input sentence as read (None when the result was made without one)."""
        ...

    @property
    def error(self) -> str | None:
        """Why the sentence could not be labelled, else None."""
        ...

    @property
    def spans(self) -> list[Span]:
        """The entities of the output sentence."""
        ...

    @property
    def tags(self) -> list[str]:
        """The IOB2 tags of the output sentence."""
        ...

    @property
    def truncated(self) -> bool:
        """The translation reached the decoding limit."""
        ...

    @property
    def source_entities(self) -> int:
        """The entities the projection started from."""
        ...

    @property
    def lost(self) -> int:
        """Source entities that got no span."""
        ...

    def output(self) -> Sentence | None:
        """The sentence to write, or None when there is nothing to write."""
        ...

    def explain(self) -> dict[str, Any]:
        """A JSON-ready record of every step, for a person to review or correct."""
        ...


def span_records(spans: list[Span], tokens: list[str]) -> list[dict[str, Any]]:
    """``[{"start", "end", "label", "text"}]``: spans with their words joined by spaces."""
    return [
        {
            "start": s.start,
            "end": s.end,
            "label": s.label,
            "text": " ".join(tokens[s.start : s.end]),
        }
        for s in spans
    ]


def match_records(
    matches: list[Match] | None, source_spans: list[Span], tokens: list[str]
) -> list[dict[str, Any]] | None:
    """Matches as records: the source entity (number and span), the chosen target span and its
    score (``ngram``: ``2 * links / (|entity| + |candidate|)``); None for a method that does not
    pair entities with spans."""
    if matches is None:
        return None
    ordered = sorted(source_spans)
    return [
        {
            "entity": m.entity,
            "entity_span": [ordered[m.entity].start, ordered[m.entity].end],
            "start": m.span.start,
            "end": m.span.end,
            "label": m.span.label,
            "text": " ".join(tokens[m.span.start : m.span.end]),
            "score": round(m.score, 6),
        }
        for m in matches
    ]


def confidence_records(
    spans: list[Span], confidences: list[float] | None
) -> list[dict[str, Any]] | None:
    """``[{"start", "end", "label", "confidence"}]``: the spans of an output sentence with their
    confidence (rounded to 6 decimals); None when the method gave no confidences."""
    if confidences is None:
        return None
    return [
        {"start": s.start, "end": s.end, "label": s.label, "confidence": round(c, 6)}
        for s, c in zip(spans, confidences, strict=True)
    ]


def projected_records(
    spans: list[Span],
    tokens: list[str],
    confidences: list[float] | None,
    origins: list[int | None] | None,
    source_spans: list[Span],
    alignment: np.ndarray | None,
) -> list[dict[str, Any]]:
    """The projected spans as review records: :func:`span_records` plus, when the method gave
    confidences, each span's ``confidence``, the source entity it came from (``entity``: its
    number in source order, and ``entity_span``; None when no single entity gave it) and
    ``links``: the ``[source word, target word]`` links between that entity's words and the
    span's words, from which the confidence can be recomputed by hand (``ngram`` with alignment
    scores: ``min(1, 2 * len(links) / (entity length + span length))``; ``heuristic``: distinct
    source words among the links / entity length)."""
    records = span_records(spans, tokens)
    if confidences is None:
        return records
    ordered = sorted(source_spans)
    pairs = np.zeros((0, 2), dtype=np.int64) if alignment is None else np.unique(alignment, axis=0)
    for k, (record, span) in enumerate(zip(records, spans, strict=True)):
        origin = None if origins is None else origins[k]
        record["confidence"] = round(confidences[k], 6)
        record["entity"] = origin
        if origin is None:
            record["entity_span"] = record["links"] = None
            continue
        entity = ordered[origin]
        inside = (
            (pairs[:, 0] >= entity.start)
            & (pairs[:, 0] < entity.end)
            & (pairs[:, 1] >= span.start)
            & (pairs[:, 1] < span.end)
        )
        record["entity_span"] = [entity.start, entity.end]
        record["links"] = pairs[inside].tolist()
    return records


def _pairs(alignment: np.ndarray | None) -> list[list[int]] | None:
    return None if alignment is None else alignment.tolist()


@dataclass(frozen=True)
class TranslateTestResult:
    """One sentence labelled by translate-test (or by model transfer: no translation).

    ``index``: 0-based position in the input stream; ``line`` and ``source``: where it was read
    (for ``FILE:LINE`` messages). ``tokens``: the original words; ``tags`` (IOB2) and ``spans``:
    the labels given to them (all ``O`` when ``error`` is set). ``translation``: the English
    text (None for model transfer); ``english_tokens`` its words; ``english_spans``: the
    entities the tagger found in them, minus the dropped labels (the projection's source).
    ``alignment``: ``(k, 2)`` links ``(english word, original word)``, None when not computed
    (no English entity to project, or model transfer). ``matches``: for a method that pairs
    entities with spans (``ngram``), the entity each chosen span came from and its score; None
    for other methods. ``truncated``: the
    translation reached the decoding limit. ``segments``: how many segments a long sentence was
    processed in (1: whole; 0: no words; see :mod:`~xner.runtime.pipelines.segments`); the other
    fields cover the whole sentence either way. ``error``: why this sentence could not be
    labelled (an empty translation, an engine failure), else None. ``input``: the sentence as
    read (not compared, not shown). ``confidences`` and ``origins``: per span of ``spans``, its
    confidence in [0, 1] and the number of the English entity it came from (source order; None
    for a span no single entity gave), as the projection method gave them
    (:class:`~xner.runtime.projection.result.Projected`); None when it gave none, and for
    model transfer.

    With several pivot languages (:func:`~xner.runtime.pipelines.compose.
    combine_pivot_results`) ``spans`` are the pivots' combination, ``confidences`` its vote (or
    weight) shares, ``origins`` None, ``pivots`` per span the pivots that gave it, and
    ``by_pivot`` each pivot's own result (its ``translation``, ``english_tokens`` and
    ``english_spans`` are in that pivot's language; the combination's are empty); ``error``
    is set only when every pivot failed. ``pivots`` and ``by_pivot`` are None for one pivot.
    """

    index: int
    line: int
    source: str
    tokens: list[str]
    tags: list[str]
    spans: list[Span]
    translation: str | None = None
    english_tokens: list[str] = field(default_factory=list)
    english_spans: list[Span] = field(default_factory=list)
    alignment: np.ndarray | None = None
    matches: list[Match] | None = None
    truncated: bool = False
    segments: int = 1
    error: str | None = None
    input: Sentence | None = field(default=None, compare=False, repr=False)
    confidences: list[float] | None = None
    origins: list[int | None] | None = None
    pivots: tuple[tuple[str, ...], ...] | None = None
    by_pivot: Mapping[str, TranslateTestResult] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def ok(self) -> bool:
        """True when the sentence was labelled (no error)."""
        return self.error is None

    @property
    def source_entities(self) -> int:
        """The English entities projected (none for model transfer); with several pivots, the
        entities of every pivot's translation."""
        if self.by_pivot is not None:
            return sum(result.source_entities for result in self.by_pivot.values())
        return len(self.english_spans)

    @property
    def lost(self) -> int:
        """Always 0: translate-test does not count lost entities."""
        return 0

    def output(self) -> Sentence | None:
        """The sentence to write: the original words with their tags (all ``O`` on error)."""
        return Sentence(list(self.tokens), list(self.tags), self.line, self.source)

    def scored_spans(self) -> list[dict[str, Any]] | None:
        """The output's spans with their confidence (:func:`confidence_records`), None when
        there are none to give (model transfer, a method without confidences); with several
        pivots each also lists the ``pivots`` that gave it."""
        records = confidence_records(self.spans, self.confidences)
        if records is not None and self.pivots is not None:
            for record, pivots in zip(records, self.pivots, strict=True):
                record["pivots"] = list(pivots)
        return records

    def explain(self) -> dict[str, Any]:
        """A JSON-ready record of every step, for a person to review or correct; with several
        pivots, the combination's entities (with the pivots that gave each) and per pivot its
        translation, its words, the entities found in them, the alignment and its projected
        entities."""
        if self.by_pivot is not None:
            return self._explain_pivots(self.by_pivot)
        return {
            "index": self.index,
            "source": self.source,
            "line": self.line,
            "tokens": self.tokens,
            "translation": self.translation,
            "truncated": self.truncated,
            "segments": self.segments,
            "english_tokens": self.english_tokens,
            "english_entities": span_records(self.english_spans, self.english_tokens),
            "alignment": _pairs(self.alignment),
            "matches": match_records(self.matches, self.english_spans, self.tokens),
            "entities": projected_records(
                self.spans,
                self.tokens,
                self.confidences,
                self.origins,
                self.english_spans,
                self.alignment,
            ),
            "tags": self.tags,
            "error": self.error,
        }

    def _explain_pivots(self, by_pivot: Mapping[str, TranslateTestResult]) -> dict[str, Any]:
        entities = span_records(self.spans, self.tokens)
        for record, confidence, pivots in zip(
            entities, self.confidences or (), self.pivots or (), strict=True
        ):
            record["confidence"] = round(confidence, 6)
            record["pivots"] = list(pivots)
        return {
            "index": self.index,
            "source": self.source,
            "line": self.line,
            "tokens": self.tokens,
            "truncated": self.truncated,
            "segments": self.segments,
            "pivots": [_pivot_record(pivot, result) for pivot, result in by_pivot.items()],
            "entities": entities,
            "tags": self.tags,
            "error": self.error,
        }


def _pivot_record(pivot: str, result: TranslateTestResult) -> dict[str, Any]:
    """One pivot's part of a combined explain record (its words and entities by pivot name)."""
    record = result.explain()
    return {
        "pivot": pivot,
        "translation": record["translation"],
        "truncated": record["truncated"],
        "pivot_tokens": record["english_tokens"],
        "pivot_entities": record["english_entities"],
        "alignment": record["alignment"],
        "matches": record["matches"],
        "entities": record["entities"],
        "error": record["error"],
    }


@dataclass(frozen=True)
class TranslateTrainResult:
    """One labelled source sentence carried into the target language by translate-train.

    ``index``, ``line``, ``source``: as in :class:`TranslateTestResult`. ``source_tokens`` and
    ``source_spans``: the labelled original (minus the dropped labels; the projection's
    source). ``translation``: its translation; ``tokens``: the translation's words, with
    ``tags`` (IOB2) and ``spans`` projected onto them. ``alignment``: ``(k, 2)`` links
    ``(source word, translation word)``, None when not computed (no entity to project).
    ``matches``: as in :class:`TranslateTestResult`. ``lost``: source entities that
    got no span in the translation. ``segments``: as in :class:`TranslateTestResult` (the
    translation is the segments' translations joined by spaces). ``error``: why the sentence
    could not be carried over. ``input``: the sentence as read (not compared, not shown).
    ``confidences`` and ``origins``: as in :class:`TranslateTestResult` (the origin numbers the
    source entities). ``markers_kept``: with a marker method (``markers``), whether the
    translation kept all the sentence's markers (False: projected by the fallback method); None
    when the sentence was not marked.
    """

    index: int
    line: int
    source: str
    source_tokens: list[str]
    source_spans: list[Span]
    translation: str
    tokens: list[str]
    tags: list[str]
    spans: list[Span]
    alignment: np.ndarray | None = None
    matches: list[Match] | None = None
    lost: int = 0
    truncated: bool = False
    segments: int = 1
    error: str | None = None
    input: Sentence | None = field(default=None, compare=False, repr=False)
    confidences: list[float] | None = None
    origins: list[int | None] | None = None
    markers_kept: bool | None = None

    @property
    def ok(self) -> bool:
        """True when the sentence was carried over (no error)."""
        return self.error is None

    @property
    def source_entities(self) -> int:
        """The source entities carried over (after ``drop``)."""
        return len(self.source_spans)

    @property
    def complete(self) -> bool:
        """True when every source entity was projected (and there was no error)."""
        return self.error is None and self.lost == 0

    def output(self) -> Sentence | None:
        """The translated words with their tags, or None when there is no translation."""
        if self.error is not None and not self.tokens:
            return None
        return Sentence(list(self.tokens), list(self.tags), self.line, self.source)

    def scored_spans(self) -> list[dict[str, Any]] | None:
        """The output's spans with their confidence (:func:`confidence_records`), None when
        the method gave no confidences."""
        return confidence_records(self.spans, self.confidences)

    def explain(self) -> dict[str, Any]:
        """A JSON-ready record of every step, for a person to review or correct."""
        return {
            "index": self.index,
            "source": self.source,
            "line": self.line,
            "source_tokens": self.source_tokens,
            "source_entities": span_records(self.source_spans, self.source_tokens),
            "translation": self.translation,
            "truncated": self.truncated,
            "segments": self.segments,
            "tokens": self.tokens,
            "alignment": _pairs(self.alignment),
            "matches": match_records(self.matches, self.source_spans, self.tokens),
            "entities": projected_records(
                self.spans,
                self.tokens,
                self.confidences,
                self.origins,
                self.source_spans,
                self.alignment,
            ),
            "tags": self.tags,
            "lost": self.lost,
            "error": self.error,
            **({} if self.markers_kept is None else {"markers_kept": self.markers_kept}),
        }
