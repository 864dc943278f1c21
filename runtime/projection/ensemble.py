"""The ensemble of model transfer and a projection method: two voters on the target words.

For every sentence pair the two voters give their spans on the target words:

- **model transfer**: the tagger run on the target words themselves (one batched call for the
  whole batch);
- **projection**: a registered projection method (``ensemble_with``: ``ngram`` by default, or
  ``heuristic``, or any other registered method or variant) through the alignment.

The votes are combined span by span (:func:`vote`):

1. a span both voters give, with the same boundaries and the same label, is *agreed*: its
   confidence is 2/2 = 1.0 (two agreed spans never overlap anything, since each voter's spans
   are non-overlapping);
2. every other span has one vote: confidence 1/2 = 0.5. Where such spans overlap, the one the
   tagger finds more probable wins: a span's *probability* is the mean, over its words, of the
   probability the tagger gives that word for the span's label (every tag of that type:
   ``B-PER`` + ``I-PER``, read from the tagger's softmax on the target words). Spans are kept
   greedily, most probable first, each when it overlaps no span already kept; a tie goes to the
   model-transfer span (one voter's spans never overlap each other). This is the ``union``
   rule of :func:`~xner.runtime.projection.combine.combine_spans`.

A tagger without label probabilities (``labels`` and :attr:`TagResult.probabilities`) gives
every span probability 0, so that the tie order alone resolves overlaps. Unlike the other
methods, the ensemble labels sentences without source entities too (its model-transfer voter
needs none: ``labels_alone``), and it pairs no entity with a span (``matches`` is None); a
span's origin is the source entity the projection voter took it from (None for a span only
the tagger gave).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.projection.combine import CombineOptions, combine_spans
from xner.runtime.projection.inputs import ProjectionBatch
from xner.runtime.projection.registry import (
    EngineAccess,
    MethodInfo,
    available_methods,
    available_variants,
    method_info,
    option,
    register_method,
    resolve_method,
)
from xner.runtime.projection.result import Projected

__all__ = [
    "AGREED",
    "ENSEMBLE",
    "SINGLE",
    "EnsembleOptions",
    "ensemble",
    "span_probabilities",
    "vote",
    "voters",
]

ENSEMBLE = "ensemble"
AGREED = 1.0
"""The confidence of a span both voters give (2 votes of 2)."""
SINGLE = 0.5
"""The confidence of a span one voter gives (1 vote of 2)."""
MODEL_TRANSFER_VOTER = "model-transfer"
PROJECTION_VOTER = "projection"
UNION = CombineOptions("union")


def voters() -> tuple[str, ...]:
    """The methods and variants that can be the ensemble's projection voter: every registered
    one that labels through the alignment alone (not an ensemble)."""
    methods = [name for name in available_methods() if _can_vote(method_info(name))]
    variants = [name for name in available_variants() if resolve_method(name)[0] in methods]
    return (*methods, *variants)


@dataclass(frozen=True)
class EnsembleOptions:
    """Knobs of the ensemble (see the module docstring for the votes).

    ``ensemble_with``: the projection voter, a registered method or variant (``ngram``,
    ``heuristic``, ...; :func:`voters`). ``voter_options``: that method's options (its options
    dataclass or a mapping of its fields; None: its defaults), resolved and checked when the
    options are made.
    """

    ensemble_with: str = option(
        "ngram",
        help="the projection method that votes with model transfer (heuristic or ngram).",
    )
    voter_options: Any = option(None, cli=False, help="the projection voter's options.")

    def __post_init__(self) -> None:
        what = "projection method of the ensemble"
        if self.ensemble_with not in (*available_methods(), *available_variants()):
            raise unknown_choice(what, self.ensemble_with, voters())
        base, options = resolve_method(self.ensemble_with, self.voter_options)
        if not _can_vote(method_info(base)):  # (voters() is only computed on this error path)
            raise unknown_choice(what, self.ensemble_with, voters())
        object.__setattr__(self, "voter_options", options)


def _can_vote(info: MethodInfo) -> bool:
    """Whether a method can be the projection voter: it projects given pairs (it does not
    translate) and labels through the alignment (it is no ensemble)."""
    return not (info.labels_alone or info.translates)


def _needs(options: EnsembleOptions) -> tuple[str, ...]:
    """The tagger, and the engines the projection voter needs with its options."""
    base, voter_options = resolve_method(options.ensemble_with, options.voter_options)
    return (
        "tagger",
        *(name for name in method_info(base).needed(voter_options) if name != "tagger"),
    )


@register_method(ENSEMBLE, EnsembleOptions, needs=_needs, labels_alone=True)
def ensemble(
    batch: ProjectionBatch, options: EnsembleOptions, engines: EngineAccess
) -> list[Projected]:
    """The votes of model transfer and ``options.ensemble_with`` on every sentence of ``batch``:
    spans with confidence 1.0 (agreed) or 0.5 (one vote), overlaps resolved by the tagger's
    probability (:func:`vote`). Needs the target words (a :class:`ConfigError` otherwise)."""
    base, voter_options = resolve_method(options.ensemble_with, options.voter_options)
    info = method_info(base)
    if info.takes_engines:
        projected = info.fn(batch, voter_options, engines)
    else:
        projected = info.fn(batch, voter_options)
    words = _target_words(batch)
    tagger = engines.tagger
    tagged = iter(tagger.tag([w for w in words if w]))
    labels: Sequence[str] | None = getattr(tagger, "labels", None)
    out = []
    for sentence, voted in zip(words, projected, strict=True):
        origin = dict(zip(voted.spans, voted.origins or [None] * len(voted.spans), strict=True))
        if not sentence:  # no target words: nothing projected either
            out.append(Projected([], None, [], []))
            continue
        result = next(tagged)
        mine = list(result.spans)
        every = [*voted.spans, *mine]
        odds = span_probabilities(every, result.probabilities, labels, len(sentence))
        spans, confidences = vote(voted.spans, mine, dict(zip(every, odds, strict=True)))
        out.append(Projected(spans, None, confidences, [origin.get(span) for span in spans]))
    return out


def vote(
    projected: Sequence[Span], tagged: Sequence[Span], probability: Mapping[Span, float]
) -> tuple[list[Span], list[float]]:
    """Combine the spans of one sentence from the projection (``projected``) and from model
    transfer (``tagged``); each voter's spans must be non-overlapping.

    ``probability``: the tagger's probability of each span (missing: 0). Returns the kept
    spans, sorted, and their confidences (1.0 agreed, 0.5 one vote); see the module docstring
    for the order in which overlapping single-vote spans are kept. This is the ``union`` rule of
    :func:`~xner.runtime.projection.combine.combine_spans` with model transfer as the first
    voter and the tagger's probability as each span's confidence there (the rank after the
    votes), so that the vote share is the confidence (spans of one voter never overlap, so the
    order among them after the voter's is immaterial).
    """
    votes = {
        voter: [(span, probability.get(span, 0.0)) for span in spans]
        for voter, spans in ((MODEL_TRANSFER_VOTER, tagged), (PROJECTION_VOTER, projected))
    }
    combined = combine_spans(votes, UNION)
    return [c.span for c in combined], [c.confidence for c in combined]


def span_probabilities(
    spans: Sequence[Span],
    probabilities: np.ndarray,
    labels: Sequence[str] | None,
    length: int,
) -> list[float]:
    """The tagger's probability of each span: the mean over its words of the probability of
    the span's label (the sum of the columns of ``labels`` of that type, any prefix).

    ``probabilities``: ``[length, len(labels)]``, columns in ``labels`` order. Every span gets 0
    when the tagger gave no probabilities (``labels`` None, or an array of another shape), and
    a span whose label the tagger lacks gets 0.
    """
    if not spans:
        return []
    probs = np.asarray(probabilities, dtype=np.float64)
    if labels is None or probs.shape != (length, len(labels)):
        return [0.0] * len(spans)
    column, member = _membership(tuple(labels))
    types = member.shape[1]
    mass = np.zeros((length + 1, types + 1))  # the last column: a label the tagger lacks
    np.cumsum(probs @ member, axis=0, out=mass[1:, :-1])
    starts = np.array([span.start for span in spans])
    ends = np.array([span.end for span in spans])
    which = np.array([column.get(span.label, types) for span in spans])
    means = (mass[ends, which] - mass[starts, which]) / (ends - starts)
    return [float(value) for value in means]


@functools.lru_cache(maxsize=8)
def _membership(labels: tuple[str, ...]) -> tuple[dict[str, int], np.ndarray]:
    """The entity types of ``labels`` (their columns) and the ``[labels, types]`` 0/1 matrix
    that sums the tags of each type (``B-PER`` and ``I-PER`` into ``PER``)."""
    types = sorted({label[2:] for label in labels if label != "O"})
    column = {name: k for k, name in enumerate(types)}
    member = np.zeros((len(labels), len(types)))
    for k, label in enumerate(labels):
        if label != "O":
            member[k, column[label[2:]]] = 1.0
    member.setflags(write=False)
    return column, member


def _target_words(batch: ProjectionBatch) -> list[Sequence[str]]:
    """Each sentence's target words (none for a sentence without target words)."""
    words: list[Sequence[str]] = []
    for k, (tokens, length) in enumerate(
        zip(batch.target_tokens, batch.target_lengths.tolist(), strict=True)
    ):
        if tokens is None and length:
            raise ConfigError(
                f"the {ENSEMBLE} projection method tags the target words: sentence {k} of the "
                "batch has none (give target_tokens)"
            )
        words.append(tokens if tokens is not None else [])
    return words
