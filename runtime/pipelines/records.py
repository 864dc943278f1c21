"""The one record each sentence (or segment of a long sentence) carries through the stages.

A pipeline turns a chunk of input sentences into records (:func:`plan`), runs its stages over
the whole list (each stage returns new records: :mod:`xner.runtime.pipelines.stages`) and puts
each sentence's records back together into one result. A record that fails a stage keeps the
error (``"translation failed: ..."``) and the later stages leave its whole sentence alone
(:func:`live`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from xner.runtime.data import Sentence, Span
from xner.runtime.engines.translator import Translation
from xner.runtime.projection.result import Projected

__all__ = ["Record", "by_sentence", "live", "plan", "sentence_error"]


@dataclass(frozen=True)
class Record:
    """One sentence, or one segment of a long sentence, on its way through the stages.

    ``sentence``: its sentence's position in the chunk; ``start``: its first word in that
    sentence; ``words``: its words, as read. ``from_translation``: the projection runs from the
    translation onto ``words`` (translate-test) rather than from ``words`` onto the translation
    (translate-train, model transfer); it decides which side is :attr:`source_words` and which is
    :attr:`target_words`.

    Filled in by the stages: ``translation`` (the translator's output), ``translated`` (its
    words), ``spans`` (the entities on the :attr:`source_words` side: the tagger's, minus the
    dropped labels, or the gold ones), ``links`` (``(source word, target word)``, None when not
    aligned), ``projected`` (the spans given to the :attr:`target_words` side) and ``error``
    (why the record failed, e.g. ``"alignment failed: ..."``). ``markers``: with a method that
    translates marked sentences (:mod:`~xner.runtime.pipelines.markers`), whether the record's
    sentence kept all its markers (False: it fell back to the alignment); None otherwise.
    """

    sentence: int
    start: int
    words: list[str]
    from_translation: bool = False
    translation: Translation | None = None
    translated: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    links: np.ndarray | None = None
    projected: Projected | None = None
    error: str | None = None
    markers: bool | None = None

    @property
    def end(self) -> int:
        """One past its last word in the sentence."""
        return self.start + len(self.words)

    @property
    def source_words(self) -> list[str]:
        """The projection's source side, the words that carry the entities: the translation
        (translate-test) or ``words``."""
        return self.translated if self.from_translation else self.words

    @property
    def target_words(self) -> list[str]:
        """The projection's target side, the words that receive the entities: ``words``
        (translate-test) or the translation."""
        return self.words if self.from_translation else self.translated


def plan(
    sentences: Sequence[Sentence],
    ranges: Sequence[Iterable[tuple[int, int]]],
    *,
    from_translation: bool = False,
    spans: Sequence[Sequence[Span]] | None = None,
) -> list[Record]:
    """The records of a chunk: one per word range ``[start, end)`` of each sentence (``ranges``:
    per sentence; one range for a whole sentence, none for one that needs no work).
    ``spans``: per sentence, gold entities, given to each record shifted to its first word."""
    records = []
    for k, sentence in enumerate(sentences):
        for a, b in ranges[k]:
            gold = [] if spans is None else _within(spans[k], a, b)
            words = sentence.tokens[a:b]
            records.append(Record(k, a, words, from_translation, spans=gold))
    return records


def _within(spans: Iterable[Span], a: int, b: int) -> list[Span]:
    """The spans starting in ``[a, b)``, shifted to start from ``a``."""
    return [Span(s.start - a, s.end - a, s.label) for s in spans if a <= s.start < b]


def live(records: Sequence[Record]) -> list[int]:
    """The positions of the records whose sentence has no error yet."""
    failed = {record.sentence for record in records if record.error is not None}
    return [i for i, record in enumerate(records) if record.sentence not in failed]


def by_sentence(records: Iterable[Record], n: int) -> list[list[Record]]:
    """The records of each of the chunk's ``n`` sentences, in order."""
    out: list[list[Record]] = [[] for _ in range(n)]
    for record in records:
        out[record.sentence].append(record)
    return out


def sentence_error(records: Sequence[Record]) -> str | None:
    """The first error among one sentence's records, else None; the error of a segment of a
    sentence cut into several names its words (``"words 201-400: ..."``)."""
    for record in records:
        if record.error is not None:
            where = f"words {record.start + 1}-{record.end}: " if len(records) > 1 else ""
            return where + record.error
    return None
