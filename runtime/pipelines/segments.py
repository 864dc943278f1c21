"""Long sentences: cut into segments that go through the stages as sentences, then joined.

A sentence of more than :data:`SEGMENT_WORDS` words or :data:`SEGMENT_CHARS` characters (a
document pasted as one line) is cut into *segments* (:func:`segment_words`): after
sentence-final punctuation, else clause punctuation, else between any two words (the
translator's :data:`~xner.runtime.engines.translator.SPLIT_LEVELS`, read on the words), never
inside a protected span (translate-train's entities). Each segment is one
:class:`~xner.runtime.pipelines.records.Record` and goes through translation, tagging, alignment
and projection as a sentence of its own, in the same batched engine calls as the chunk's other
sentences (:func:`segment_ranges`); :func:`join_segments` puts the pieces back together: one result
per input sentence, with its own words one to one. So no engine ever sees more than one segment
at a time, and the alignment's similarity matrices stay small (the aligner also refuses pairs
beyond :data:`~xner.runtime.engines.aligner.MAX_ALIGN_SUBWORDS`): the memory a sentence needs
grows linearly with its length. A segment that fails makes its sentence fail
(``"words 201-400: ..."``, :func:`~xner.runtime.pipelines.records.sentence_error`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from xner.runtime.data import Sentence, Span
from xner.runtime.engines.translator import SPLIT_LEVELS, pack_spans
from xner.runtime.pipelines.records import Record
from xner.runtime.projection.result import Match

__all__ = [
    "SEGMENT_CHARS",
    "SEGMENT_WORDS",
    "Joined",
    "join_segments",
    "segment_ranges",
    "segment_words",
]

logger = logging.getLogger("xner")

SEGMENT_WORDS = 200
"""Most words in one segment of a long sentence. 200 words are about 300 to 500 NLLB pieces
and 300 to 600 mBERT / XLM-R subwords: well inside the translator's 1,024 source positions and
within one or two windows of the 512-position encoders, and the segment's similarity matrix
(its subwords times its translation's) well under the aligner's cap."""

SEGMENT_CHARS = 2000
"""Most characters in one segment (its words joined by single spaces): bounds a segment of long
words (URLs, numbers, text without spaces) the same way."""


def segment_words(
    words: Sequence[str],
    protect: Iterable[Span] = (),
    *,
    max_words: int = SEGMENT_WORDS,
    max_chars: int = SEGMENT_CHARS,
) -> list[tuple[int, int]]:
    """Word ranges ``[start, end)`` that cut ``words`` into segments of at most ``max_words``
    words and ``max_chars`` characters (words joined by single spaces); ``[]`` for no words.

    One range ``(0, n)`` when the sentence fits. Otherwise cuts fall after sentence-final
    punctuation, then clause punctuation, then between any two words (the translator's
    :data:`~xner.runtime.engines.translator.SPLIT_LEVELS`, matched on the words joined by
    spaces: a cut lies where a match ends at the start of a word), and consecutive pieces are
    packed greedily (:func:`~xner.runtime.engines.translator.pack_spans`, the translator's own
    algorithm). No cut falls inside a ``protect`` span; a word or protected span longer than a
    segment forms one alone.
    """
    n = len(words)
    if n == 0:
        return []
    starts = np.zeros(n + 1, dtype=np.int64)  # offset of each word in the joined text, then end
    np.cumsum([len(word) + 1 for word in words], out=starts[1:])

    def fits(a: int, b: int) -> bool:
        return b - a <= max_words and int(starts[b] - starts[a]) - 1 <= max_chars

    if fits(0, n):
        return [(0, n)]
    allowed = np.ones(n + 1, dtype=bool)
    allowed[[0, n]] = False
    for span in protect:
        allowed[max(span.start + 1, 0) : min(span.end, n)] = False
    text = " ".join(words)
    levels = []
    for _, pattern in SPLIT_LEVELS:
        ends = np.fromiter((m.end() for m in pattern.finditer(text)), dtype=np.int64)
        index = np.searchsorted(starts, ends)
        index = index[(index < n) & (starts[np.minimum(index, n)] == ends)]
        levels.append(np.unique(index[allowed[index]]))

    def cuts(level: int, lo: int, hi: int) -> list[int]:
        found = levels[level]
        cut: list[int] = found[
            np.searchsorted(found, lo, "right") : np.searchsorted(found, hi)
        ].tolist()
        return cut

    spans = pack_spans(0, n, cuts, fits, len(levels), keep_long=True)
    assert spans is not None  # keep_long: never None
    return spans


def segment_ranges(
    sentences: Sequence[Sentence], protect: Sequence[Iterable[Span]] | None = None
) -> list[list[tuple[int, int]]]:
    """The segments of each sentence (:func:`segment_words`; none for an empty sentence);
    ``protect``: per sentence, spans no cut may fall inside. A sentence cut into several
    segments is logged (a warning with its ``FILE:LINE``)."""
    out = []
    for k, sentence in enumerate(sentences):
        ranges = segment_words(sentence.tokens, () if protect is None else protect[k])
        if len(ranges) > 1:
            logger.warning(
                "%s:%d: %d words, more than %d (or %d characters): processed in %d segments",
                sentence.source,
                sentence.line,
                len(sentence.tokens),
                SEGMENT_WORDS,
                SEGMENT_CHARS,
                len(ranges),
            )
        out.append(ranges)
    return out


@dataclass(frozen=True)
class Joined:
    """One sentence put together from its segments' records (:func:`join_segments`).

    ``source_spans``: the projection's source entities; ``links``: ``(source word, target
    word)`` links, None when no segment was aligned; ``spans``: the projected spans;
    ``matches``: the methods's matches, None when no segment has any. All count words from the
    sentence's start on each side. ``confidences`` and ``origins``: per projected span, its
    confidence and the number of its source entity in the whole sentence (None: some segment's
    method gave none).
    """

    source_spans: list[Span]
    links: np.ndarray | None
    spans: list[Span]
    matches: list[Match] | None
    confidences: list[float] | None = None
    origins: list[int | None] | None = None


def join_segments(records: Iterable[Record]) -> Joined:
    """One sentence from the records of its segments, in order: each record's spans, links,
    projected spans and matches shifted by the source and target words of the segments before
    it; match entity numbers count the earlier segments' source spans."""
    sources: list[Span] = []
    links: list[np.ndarray] = []
    projected: list[Span] = []
    matches: list[Match] | None = None
    confidences: list[float] | None = []
    origins: list[int | None] | None = []
    i = j = 0
    for record in records:
        if record.links is not None:
            links.append(np.asarray(record.links, dtype=np.int64).reshape(-1, 2) + [i, j])
        if record.projected is not None and record.projected.spans:  # else nothing to add
            given = record.projected
            if confidences is not None and given.confidences is not None:
                confidences += given.confidences
            else:
                confidences = None
            if origins is not None and given.origins is not None:
                origins += [None if o is None else o + len(sources) for o in given.origins]
            else:
                origins = None
        if record.projected is not None:
            found = record.projected.matches
            if found is not None:
                matches = [] if matches is None else matches
                matches += [
                    Match(m.entity + len(sources), _shift(m.span, j), m.score) for m in found
                ]
            projected += [_shift(span, j) for span in record.projected.spans]
        sources += [_shift(span, i) for span in record.spans]
        i, j = i + len(record.source_words), j + len(record.target_words)
    joined = np.concatenate(links) if links else None
    return Joined(sources, joined, projected, matches, confidences, origins)


def _shift(span: Span, offset: int) -> Span:
    return span if offset == 0 else Span(span.start + offset, span.end + offset, span.label)
