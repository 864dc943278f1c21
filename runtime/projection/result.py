"""What every projection method returns: one :class:`Projected` per sentence pair.

A method always gives the target spans it labels. A method that pairs each source entity with
(at most) one target span, such as ``ngram``, also gives those pairs as :class:`Match` records:
the entity's number in the sentence (source order: sorted by start, end, label), the span it was
given and the score that chose it. Methods that label runs of words without pairing them with
entities (``heuristic``) give ``matches=None``.

Every span of a shipped method carries a **confidence** in [0, 1] (``Projected.confidences``,
one per span) and its **origin**, the number of the source entity it came from
(``Projected.origins``; None for a span no single entity gave, such as a tagger's vote in an
ensemble). What the confidence measures depends on the method: for ``ngram`` scoring by
alignment alone it is the matching score capped at 1 (:func:`align_confidence`), for
``heuristic`` the share of the entity's words aligned into the span. :meth:`Projected.above`
keeps the spans whose confidence reaches a threshold.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TypeVar

from xner.runtime.data import Span

__all__ = ["Match", "Projected", "align_confidence"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Match:
    """Source entity number ``entity`` (source order) matched to target ``span`` with ``score``."""

    entity: int
    span: Span
    score: float


def align_confidence(score: float) -> float:
    """The confidence of an alignment score ``2 * links / (entity_len + candidate_len)``:
    ``min(1, score)`` (many-to-many links can push the score past 1), and never below 0."""
    return min(1.0, max(0.0, float(score)))


@dataclass(frozen=True)
class Projected:
    """The projection of one sentence pair.

    ``spans``: the labelled target spans, sorted and non-overlapping. ``matches``: for a method
    that pairs entities with spans (:attr:`~xner.runtime.projection.registry.MethodInfo.
    pairs_entities`), one :class:`Match` per paired entity, sorted by target start (their spans
    are ``spans``); None for the other methods. ``confidences``: one number in [0, 1] per span
    (None: the method gives none). ``origins``: per span, the number of the source entity it
    came from (source order, as :attr:`Match.entity`) or None; when not given, the matches'
    entities (None without matches). A list of the wrong length, or a confidence outside
    [0, 1], is a programming error of the method (``ValueError``).
    """

    spans: list[Span]
    matches: list[Match] | None = None
    confidences: list[float] | None = None
    origins: list[int | None] | None = None

    def __post_init__(self) -> None:
        if self.origins is None and self.matches is not None:
            object.__setattr__(self, "origins", [m.entity for m in self.matches])
        n = len(self.spans)
        for name in ("confidences", "origins"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"{len(values)} {name} given for {n} projected spans")
        values = self.confidences
        if values and not (min(values) >= 0.0 and max(values) <= 1.0 and _no_nan(values)):
            raise ValueError(f"confidences must be numbers in [0, 1], got {values!r}")

    def above(self, threshold: float) -> Projected:
        """This projection without the spans whose confidence is below ``threshold`` (their
        matches go too). A threshold of 0 changes nothing; a positive one needs confidences
        (``ValueError`` when the method gave none)."""
        if threshold <= 0 or not self.spans:
            return self
        if self.confidences is None:
            raise ValueError("the projection method gives no confidences to filter by")
        return self.keeping([c >= threshold for c in self.confidences])

    def without(self, labels: Collection[str]) -> Projected:
        """This projection without the spans whose label is in ``labels`` (a method that adds
        spans of its own, such as the ensemble's tagger votes, may give a dropped label)."""
        if not labels or not self.spans:
            return self
        return self.keeping([span.label not in labels for span in self.spans])

    def keeping(self, keep: list[bool]) -> Projected:
        """This projection with only the spans whose ``keep`` is true (their matches,
        confidences and origins with them)."""
        if all(keep):
            return self
        matches = None
        if self.matches is not None:
            kept_spans = set(_kept(self.spans, keep))
            matches = [m for m in self.matches if m.span in kept_spans]
        confidences, origins = self.confidences, self.origins
        return Projected(
            _kept(self.spans, keep),
            matches,
            None if confidences is None else _kept(confidences, keep),
            None if origins is None else _kept(origins, keep),
        )


def _kept(values: list[T], keep: list[bool]) -> list[T]:
    return [value for value, k in zip(values, keep, strict=True) if k]


def _no_nan(values: list[float]) -> bool:
    """Whether no value is NaN (a NaN makes the sum NaN, which differs from itself)."""
    total = sum(values)
    return bool(total == total)
