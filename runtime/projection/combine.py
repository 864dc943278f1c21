"""Several projections of one sentence combined into one set of spans (votes and weights).

Each *voter* (a pivot language of translate-test, a source language of translate-train, ...)
gives the spans it projected onto the same words, each with its confidence, or None when it
failed for this sentence. :func:`combine_spans` turns them into one list of spans that IOB2 can
hold (sorted by start, none overlapping):

- The voters are the mapping's keys, in order (the order of ``--pivots`` / ``--sources``). A
  voter whose value is None failed and does not vote; the others are the *answering* voters.
  With no answering voter the result is ``[]``.
- Spans *agree* when they have the same start, end and label; a voter gives a span at most once.
- ``vote`` (the default) keeps a span given by at least ``min_votes`` voters (None: a strict
  majority of the answering voters, ``n // 2 + 1``); its confidence is its vote share, votes /
  answering voters.
- ``weighted`` keeps a span whose weight share (the sum of its voters' weights over the sum of
  the answering voters' weights; a voter's weight is 1 unless ``weights`` says otherwise) is
  more than 0.5, and that has at least ``min_votes`` votes when ``min_votes`` is given; its
  confidence is its weight share.
- ``union`` keeps every span; its confidence is its vote share.
- Kept spans that overlap (IOB2 cannot hold both) are resolved greedily: the spans are ranked
  by votes, then weight, then the mean of their voters' confidences, then the order of the
  first voter that gave them, and each is kept when it overlaps none already kept. So ``union``
  keeps every span that no other span overlaps, plus the winner of each overlap.

:class:`CombineOptions` is checked when made (an unknown rule, a ``min_votes`` below 1, a
weight that is not a number > 0 raise :class:`~xner.runtime.errors.ConfigError`); weights that
name a voter not among the voters are refused by :func:`combine_spans`, listing the voters.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.languages import resolve_language
from xner.runtime.names import split_names

__all__ = [
    "COMBINE_RULES",
    "CombineOptions",
    "Combined",
    "combine_spans",
    "for_voters",
    "parse_weights",
]

COMBINE_RULES = ("vote", "weighted", "union")
"""The ways of combining voters' spans (module docstring)."""

Votes = Mapping[str, Sequence[tuple[Span, float]] | None]
"""Voter -> its ``(span, confidence)`` pairs, or None when the voter failed for the sentence."""


@dataclass(frozen=True)
class CombineOptions:
    """How voters' spans are combined (module docstring: the rules).

    ``rule``: ``vote``, ``weighted`` or ``union``. ``min_votes``: the votes a span needs (None:
    a strict majority of the answering voters for ``vote``, no minimum for ``weighted``; only
    None or 1 with ``union``). ``weights``: voter -> weight (a number > 0; voters not named
    weigh 1), used by ``weighted`` and to break ties between overlapping spans.
    """

    rule: str = "vote"
    min_votes: int | None = None
    weights: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in COMBINE_RULES:
            raise unknown_choice("combine rule", str(self.rule), COMBINE_RULES)
        votes = self.min_votes
        if votes is not None and (not isinstance(votes, int) or isinstance(votes, bool)):
            raise ConfigError(f"min_votes must be an integer >= 1, got {votes!r}")
        if votes is not None and votes < 1:
            raise ConfigError(f"min_votes must be an integer >= 1, got {votes!r}")
        if self.rule == "union" and votes not in (None, 1):
            raise ConfigError(
                f"min_votes {votes} does not apply to the union rule (it keeps every span); "
                "use vote or weighted"
            )
        if not isinstance(self.weights, Mapping):
            raise ConfigError(f"weights must map voters to numbers, got {self.weights!r}")
        object.__setattr__(
            self, "weights", {str(k): _weight(k, v) for k, v in self.weights.items()}
        )

    def weight(self, voter: str) -> float:
        """The weight of ``voter`` (1 unless :attr:`weights` names it)."""
        return self.weights.get(voter, 1.0)

    def canonical(self) -> dict[str, Any]:
        """The settings that decide the combination (for resume fingerprints, results.json)."""
        return {
            "rule": self.rule,
            "min_votes": self.min_votes,
            "weights": {voter: self.weights[voter] for voter in sorted(self.weights)},
        }


def _weight(voter: object, value: object) -> float:
    if not isinstance(voter, str) or not voter:
        raise ConfigError(f"weights: a voter must be a non-empty name, got {voter!r}")
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"weight of {voter!r} must be a number > 0, got {value!r}")
    return float(value)


def parse_weights(text: str | None, option: str = "--weights") -> dict[str, float]:
    """``"fra_Latn=0.5, por_Latn=2"`` -> ``{"fra_Latn": 0.5, "por_Latn": 2.0}`` (entries split
    by :func:`~xner.runtime.names.split_names`). A bad entry is a ConfigError naming it; a voter
    named twice too. Voters are kept as written (the caller resolves language codes)."""
    weights: dict[str, float] = {}
    for entry in split_names(text):
        voter, sep, number = (part.strip() for part in entry.partition("="))
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if not sep or not voter or not math.isfinite(value) or value <= 0:
            raise ConfigError(
                f"{option}: bad entry {entry!r}; write VOTER=WEIGHT with a number > 0, "
                "e.g. fra_Latn=0.5"
            )
        if voter in weights:
            raise ConfigError(f"{option}: {voter!r} is given twice")
        weights[voter] = value
    return weights


def for_voters(combine: Any, voters: Sequence[str], noun: str) -> CombineOptions:
    """``combine`` (:class:`CombineOptions`, a rule name or a mapping of its fields) checked
    against ``voters``, languages in NLLB codes (the pivots, the sources; ``noun`` names them in
    errors): weights keyed by any code form are re-keyed by NLLB code and must each name a voter
    once; ``min_votes`` is at most the number of voters."""
    if isinstance(combine, str):
        combine = CombineOptions(combine)
    elif isinstance(combine, Mapping):
        combine = CombineOptions(**combine)
    if not isinstance(combine, CombineOptions):
        raise ConfigError(f"combine must be CombineOptions or a rule name, got {combine!r}")
    weights: dict[str, float] = {}
    for given, weight in combine.weights.items():
        voter = resolve_language(given)
        if voter not in voters:
            raise unknown_choice(f"{noun} in weights", given, voters)
        if voter in weights:
            raise ConfigError(f"weights: {noun} {voter} is given twice")
        weights[voter] = weight
    if combine.min_votes is not None and combine.min_votes > len(voters):
        raise ConfigError(
            f"min_votes {combine.min_votes} is more than the {len(voters)} {noun}(s) "
            f"{', '.join(voters)}"
        )
    return dataclasses.replace(combine, weights=weights)


@dataclass(frozen=True)
class Combined:
    """One span of a combination: the span, its confidence in [0, 1] (vote share for ``vote``
    and ``union``, weight share for ``weighted``) and the voters that gave exactly this span, in
    voter order."""

    span: Span
    confidence: float
    voters: tuple[str, ...]


@dataclass
class _Tally:
    """The voters of one span while counting."""

    order: int
    voters: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    weight: float = 0.0


def combine_spans(votes: Votes, options: CombineOptions) -> list[Combined]:
    """Combine the voters' spans (module docstring: the rules); sorted by start, none
    overlapping."""
    voters = list(votes)
    unknown = [voter for voter in options.weights if voter not in votes]
    if unknown:
        raise unknown_choice("voter in weights", unknown[0], voters)
    answering = [voter for voter in voters if votes[voter] is not None]
    if not answering:
        return []
    tallies = _tally(votes, answering, options)
    total = sum(options.weight(voter) for voter in answering)
    needed = _needed(options, len(answering))
    kept: list[tuple[Span, _Tally, float]] = []
    for span, tally in tallies.items():
        share = tally.weight / total
        if len(tally.voters) < needed or (options.rule == "weighted" and share <= 0.5):
            continue
        confidence = share if options.rule == "weighted" else len(tally.voters) / len(answering)
        kept.append((span, tally, confidence))
    kept.sort(key=_rank)
    chosen: list[Combined] = []
    for span, tally, confidence in kept:
        if not any(span.start < c.span.end and c.span.start < span.end for c in chosen):
            chosen.append(Combined(span, min(1.0, confidence), tuple(tally.voters)))
    return sorted(chosen, key=lambda c: c.span)


def _tally(votes: Votes, answering: Sequence[str], options: CombineOptions) -> dict[Span, _Tally]:
    """Span -> its voters (each voter counted once per span, with its best confidence)."""
    tallies: dict[Span, _Tally] = {}
    for order, voter in enumerate(answering):
        given: dict[Span, float] = {}
        for span, confidence in votes[voter] or ():
            given[span] = max(float(confidence), given.get(span, -math.inf))
        for span, confidence in given.items():
            tally = tallies.setdefault(span, _Tally(order))
            tally.voters.append(voter)
            tally.confidences.append(confidence)
            tally.weight += options.weight(voter)
    return tallies


def _needed(options: CombineOptions, answering: int) -> int:
    """The votes a span needs to be kept."""
    if options.min_votes is not None:
        return options.min_votes
    return answering // 2 + 1 if options.rule == "vote" else 1


def _rank(item: tuple[Span, _Tally, float]) -> tuple[float, float, float, int, Span]:
    """Overlaps are won by votes, then weight, then mean confidence, then voter order (then
    position, so that the order never depends on a dict)."""
    span, tally, _ = item
    mean = sum(tally.confidences) / len(tally.confidences)
    return (-len(tally.voters), -tally.weight, -mean, tally.order, span)
