"""The inputs and results of multi-source translate-train (:mod:`~xner.runtime.pipelines.sources`).

Both results satisfy what a file job reads of a result (the runner's ``JobResult``: ``input``,
``error``, ``spans``, ``truncated``, ``source_entities``, ``lost``, ``explain()``) and what
the labelled writer reads (``output()``, ``scored_spans()``); their ``input`` is the item the
job read (:class:`ParallelSentences` or :class:`SourcedSentence`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xner.runtime.data import Sentence, Span
from xner.runtime.pipelines.results import (
    TranslateTrainResult,
    confidence_records,
    span_records,
)
from xner.runtime.projection.result import Projected

__all__ = ["MultiSourceResult", "ParallelSentences", "SourcedResult", "SourcedSentence"]


@dataclass(frozen=True)
class ParallelSentences:
    """One sentence in each parallel source, in the order of the sources; read at the first
    source's ``source`` and ``line``."""

    sentences: tuple[Sentence, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "sentences", tuple(self.sentences))
        if not self.sentences:
            raise ValueError("ParallelSentences needs at least one sentence")

    @property
    def source(self) -> str:
        """Where the first source's sentence was read."""
        return self.sentences[0].source

    @property
    def line(self) -> int:
        """The line of the first source's sentence."""
        return self.sentences[0].line


@dataclass(frozen=True)
class SourcedSentence:
    """A sentence of one of several separate sources: ``origin`` is its source's number."""

    sentence: Sentence
    origin: int

    @property
    def source(self) -> str:
        """Where it was read."""
        return self.sentence.source

    @property
    def line(self) -> int:
        """Its line in that file."""
        return self.sentence.line


@dataclass(frozen=True)
class MultiSourceResult:
    """One parallel sentence carried into the target language from several sources.

    ``first``: translate-train's result for the first source (its translation is the target
    every source is projected onto). ``parallel``: the input. ``tokens``: the translation's
    words; ``spans`` (with ``tags``, IOB2) the combined spans, each with its ``confidences``
    entry (vote or weight share) and its ``voters`` entry (the source languages that gave
    exactly that span). ``projections``: per source language (in the order of the sources),
    its projection onto ``tokens`` (None: it failed or did not vote). ``names``: the sources
    as ``FILE:LANG``; ``source_spans``: each source's gold entities (minus dropped labels).
    ``lost``: the first source's entities that got no combined span. ``error``: why the
    sentence could not be carried over (no translation, no source answered).
    """

    first: TranslateTrainResult
    parallel: ParallelSentences
    tokens: list[str]
    tags: list[str]
    spans: list[Span]
    confidences: list[float]
    voters: list[tuple[str, ...]]
    projections: Mapping[str, Projected | None]
    names: tuple[str, ...]
    source_spans: tuple[list[Span], ...] = field(default=())
    lost: int = 0
    error: str | None = None

    @property
    def input(self) -> ParallelSentences:
        """The parallel sentences it came from."""
        return self.parallel

    @property
    def index(self) -> int:
        """Its position in the input."""
        return self.first.index

    @property
    def truncated(self) -> bool:
        """The translation reached the decoding limit."""
        return self.first.truncated

    @property
    def source_entities(self) -> int:
        """The first source's entities (the ones ``lost`` counts against)."""
        return len(self.first.source_spans)

    def output(self) -> Sentence | None:
        """The translated words with the combined tags, or None without a translation."""
        if self.error is not None and not self.tokens:
            return None
        return Sentence(list(self.tokens), list(self.tags), self.first.line, self.first.source)

    def scored_spans(self) -> list[dict[str, Any]] | None:
        """The combined spans with their confidence and ``sources``: the languages that gave
        each."""
        records = confidence_records(self.spans, self.confidences) or []
        for record, voters in zip(records, self.voters, strict=True):
            record["sources"] = list(voters)
        return records

    def explain(self) -> dict[str, Any]:
        """A JSON-ready record of every step: per source its words, entities and projection,
        then the combination."""
        sources = []
        for k, (lang, projected) in enumerate(self.projections.items()):
            sentence = self.parallel.sentences[k]
            gold = self.source_spans[k] if k < len(self.source_spans) else []
            sources.append(
                {
                    "source": self.names[k],
                    "lang": lang,
                    "tokens": sentence.tokens,
                    "entities": span_records(gold, sentence.tokens),
                    "projected": _projected_records(projected, self.tokens),
                }
            )
        entities = span_records(self.spans, self.tokens)
        for record, confidence, voters in zip(entities, self.confidences, self.voters, strict=True):
            record["confidence"] = round(confidence, 6)
            record["sources"] = list(voters)
        return {
            "index": self.first.index,
            "source": self.first.source,
            "line": self.first.line,
            "translation": self.first.translation,
            "truncated": self.first.truncated,
            "segments": self.first.segments,
            "tokens": self.tokens,
            "alignment": None if self.first.alignment is None else self.first.alignment.tolist(),
            "sources": sources,
            "entities": entities,
            "tags": self.tags,
            "lost": self.lost,
            "error": self.error,
        }


def _projected_records(
    projected: Projected | None, tokens: Sequence[str]
) -> list[dict[str, Any]] | None:
    """A source's projected spans as records (with their confidence when it has one)."""
    if projected is None:
        return None
    records = span_records(projected.spans, list(tokens))
    for record, confidence in zip(records, projected.confidences or (), strict=False):
        record["confidence"] = round(confidence, 6)
    return records


@dataclass(frozen=True)
class SourcedResult:
    """Translate-train's result for a sentence of one of several separate sources: ``result``
    with its source (``name``: ``FILE:LANG``; ``origin``: its number among the sources)."""

    result: TranslateTrainResult
    name: str
    origin: int

    @property
    def input(self) -> SourcedSentence | None:
        """The sentence it came from, with its source's number."""
        sentence = self.result.input
        return None if sentence is None else SourcedSentence(sentence, self.origin)

    @property
    def error(self) -> str | None:
        """As :attr:`TranslateTrainResult.error`."""
        return self.result.error

    @property
    def spans(self) -> list[Span]:
        """As :attr:`TranslateTrainResult.spans`."""
        return self.result.spans

    @property
    def tags(self) -> list[str]:
        """As :attr:`TranslateTrainResult.tags`."""
        return self.result.tags

    @property
    def truncated(self) -> bool:
        """As :attr:`TranslateTrainResult.truncated`."""
        return self.result.truncated

    @property
    def source_entities(self) -> int:
        """As :attr:`TranslateTrainResult.source_entities`."""
        return self.result.source_entities

    @property
    def lost(self) -> int:
        """As :attr:`TranslateTrainResult.lost`."""
        return self.result.lost

    @property
    def markers_kept(self) -> bool | None:
        """As :attr:`TranslateTrainResult.markers_kept`."""
        return self.result.markers_kept

    def output(self) -> Sentence | None:
        """As :meth:`TranslateTrainResult.output`."""
        return self.result.output()

    def scored_spans(self) -> list[dict[str, Any]] | None:
        """As :meth:`TranslateTrainResult.scored_spans`."""
        return self.result.scored_spans()

    def explain(self) -> dict[str, Any]:
        """Translate-train's review record with ``"from"``: the source (``FILE:LANG``)."""
        return {**self.result.explain(), "from": self.name}
