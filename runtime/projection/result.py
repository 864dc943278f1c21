"""What every projection method returns: one :class:`Projected` per sentence pair.

A method always gives the target spans it labels. A method that pairs each source entity with
(at most) one target span, such as ``ngram``, also gives those pairs as :class:`Match` records:
the entity's number in the sentence (source order: sorted by start, end, label), the span it was
given and the score that chose it. Methods that label runs of words without pairing them with
entities (``heuristic``) give ``matches=None``.
"""

from __future__ import annotations

from dataclasses import dataclass

from xner.runtime.data import Span

__all__ = ["Match", "Projected"]


@dataclass(frozen=True, slots=True)
class Match:
    """Source entity number ``entity`` (source order) matched to target ``span`` with ``score``."""

    entity: int
    span: Span
    score: float


@dataclass(frozen=True)
class Projected:
    """The projection of one sentence pair.

    ``spans``: the labelled target spans, sorted and non-overlapping. ``matches``: for a method
    that pairs entities with spans (:attr:`~xner.runtime.projection.registry.MethodInfo.
    pairs_entities`), one :class:`Match` per paired entity, sorted by target start (their spans
    are ``spans``); None for the other methods.
    """

    spans: list[Span]
    matches: list[Match] | None = None
