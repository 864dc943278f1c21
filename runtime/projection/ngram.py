"""N-gram candidates and matching: give each entity the target span its links support best.

**Candidates** are every target span of 1 to ``max_len`` words (unlimited by default) that holds
no stop word (``!`` and ``?`` by default; only when the target tokens are known), or the spans the
caller gives (``candidates=``, e.g. the spans a NER model predicts on the target: used as given,
without stop-word or length filtering).

**Score** of entity ``e`` and candidate ``c``: ``2 * links(e, c) / (len(e) + len(c))`` where
``links(e, c)`` counts the (distinct) alignment links from a word of ``e`` to a word of ``c``.
Link counts for all pairs come from a per-entity prefix sum over target positions,
``links(e, [s, t)) = C[e, t] - C[e, s]``. A candidate with no link to an entity is never given
to it.

**Greedy matching** (default) repeatedly takes the best remaining (entity, candidate) pair
(ties: lowest entity index in source order, then leftmost start, then shortest), gives every
entity at most one candidate and never selects two overlapping candidates; it loops at most once
per entity over NumPy masks. **Exact matching** (``exact=True``) maximises the total score under
the same constraints (see :mod:`xner.runtime.projection.matching`).

**Reduction** (changes neither result, only the cost): a candidate whose first or last word has no
link to entity ``e`` scores strictly less for ``e`` than the same span trimmed to its outermost
words linked to ``e``, and that trimmed span is free whenever the longer one is. When the trimmed
span is a candidate too, greedy never gives the longer one to ``e`` (the trimmed one always
scores more) and an exact solution can always swap it for the trimmed one. For generated n-grams
the trimmed span always is a candidate (a sub-span of an allowed n-gram is allowed), so only
spans whose first and last words link to one same entity are generated: ``O(sum of m_e^2)``
candidates for entities linked to ``m_e`` target words instead of ``T^2 / 2``. For given
candidates the full ``(E, K)`` score matrix is built, then the pairs whose trimmed span is also
given are zeroed (:func:`trimmable_pairs`) and candidates left without a positive score dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError
from xner.runtime.projection.inputs import AlignmentLike, CandidateLike, ProjectionInput
from xner.runtime.projection.matching import exact_match, greedy_match
from xner.runtime.projection.registry import method_info, register_method, resolve_options

__all__ = [
    "Match",
    "NgramOptions",
    "generated_candidates",
    "match_entities",
    "ngram",
    "ngram_matches",
    "score_matrix",
    "trimmable_pairs",
]


@dataclass(frozen=True)
class NgramOptions:
    """Knobs of n-gram matching (see the module docstring).

    ``max_len``: longest generated candidate in words (None: any length, every span of the
    sentence). ``stop_words``: a generated candidate holding one of these target tokens is
    dropped (needs the target tokens; without them nothing is dropped). ``exact``: maximise the
    total score exactly instead of matching greedily. ``max_states``: budget of the exact search
    per group of interacting entities; past it that group is matched greedily and a warning is
    logged (realistic sentences use a few hundred states).
    """

    max_len: int | None = None
    stop_words: tuple[str, ...] = ("!", "?")
    exact: bool = False
    max_states: int = 200_000

    def __post_init__(self) -> None:
        ml = self.max_len
        if ml is not None and (isinstance(ml, bool) or not isinstance(ml, (int, np.integer))):
            raise ConfigError(f"max_len must be None or an integer >= 1, got {ml!r}")
        if ml is not None and ml < 1:
            raise ConfigError(f"max_len must be None or an integer >= 1, got {ml!r}")
        if isinstance(self.stop_words, str):
            raise ConfigError(
                f"stop_words must be a list of words, got the string {self.stop_words!r}"
            )
        object.__setattr__(self, "stop_words", tuple(self.stop_words))
        ms = self.max_states
        if isinstance(ms, bool) or not isinstance(ms, (int, np.integer)) or ms < 1:
            raise ConfigError(f"max_states must be an integer >= 1, got {ms!r}")


@dataclass(frozen=True)
class Match:
    """Source entity number ``entity`` (source order) matched to target ``span`` with ``score``."""

    entity: int
    span: Span
    score: float


def generated_candidates(
    counts: np.ndarray, max_len: int | None, stop: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Target n-grams whose first and last words link to one same entity, sorted by (start, end).

    ``counts`` is the ``(E, T)`` link-count matrix; ``stop`` marks stop-word positions or is None.
    Builds the ``sum of m_e * (m_e + 1) / 2`` (first, last) pairs of each entity's ``m_e`` linked
    words with index arithmetic (no loop, no ``T x T`` matrix), then filters and deduplicates.
    """
    n_tgt = counts.shape[1]
    ent, pos = np.nonzero(counts > 0)  # by entity, then position
    if pos.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n = pos.size
    group_start = np.flatnonzero(np.concatenate(([True], ent[1:] != ent[:-1])))
    sizes = np.diff(np.append(group_start, n))
    rank = np.arange(n) - np.repeat(group_start, sizes)
    partners = np.repeat(sizes, sizes) - rank  # linked words of the same entity at or after
    first = np.repeat(np.arange(n), partners)
    last = first + np.arange(first.size) - np.repeat(np.cumsum(partners) - partners, partners)
    starts, ends = pos[first].astype(np.int64), pos[last].astype(np.int64) + 1
    keep = np.ones(starts.size, dtype=bool)
    if max_len is not None:
        keep &= ends - starts <= max_len
    if stop is not None and stop.any():
        before = np.concatenate(([0], np.cumsum(stop)))
        keep &= before[ends] == before[starts]
    key = np.unique(starts[keep] * (n_tgt + 1) + ends[keep])
    return key // (n_tgt + 1), key % (n_tgt + 1)


def trimmable_pairs(
    scores: np.ndarray, starts: np.ndarray, ends: np.ndarray, linked: np.ndarray
) -> np.ndarray:
    """``(E, K)`` bool: the pair is positive and the candidate, trimmed to its outermost words
    linked to the entity (same links, fewer words, so a strictly higher score), is also one of
    the candidates (sorted by start, then end). ``linked`` is the ``(E, T)`` link indicator."""
    n_tgt = linked.shape[1]
    where = np.arange(n_tgt)
    backwards = np.minimum.accumulate(np.where(linked, where, n_tgt)[:, ::-1], axis=1)
    first_at = np.full((linked.shape[0], n_tgt + 1), n_tgt, dtype=np.int64)
    first_at[:, :n_tgt] = backwards[:, ::-1]  # first_at[e, j]: first word >= j linked to e
    end_at = np.zeros((linked.shape[0], n_tgt + 1), dtype=np.int64)
    end_at[:, 1:] = np.maximum.accumulate(np.where(linked, where + 1, 0), axis=1)
    trim_start = np.take(first_at, starts, axis=1)
    trim_end = np.take(end_at, ends, axis=1)  # end_at[e, j]: 1 + last word < j linked to e
    shorter = (scores > 0) & ((trim_start != starts) | (trim_end != ends))
    present = np.zeros((n_tgt + 1, n_tgt + 1), dtype=bool)
    present[starts, ends] = True
    return shorter & present[trim_start, trim_end]


def score_matrix(
    counts: np.ndarray, entity_lengths: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """``(E, K)`` float64 scores ``2 * links / (len(e) + len(c))`` for all pairs (0: no link)."""
    cum = np.zeros((counts.shape[0], counts.shape[1] + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=cum[:, 1:])
    links = np.take(cum, ends, axis=1)
    links -= np.take(cum, starts, axis=1)
    scores = links.astype(np.float64)
    scores *= 2.0
    scores /= entity_lengths[:, None] + (ends - starts)[None, :]
    return scores


def ngram_matches(inputs: ProjectionInput, options: NgramOptions) -> list[Match]:
    """The matches of n-gram projection, sorted by target start (see the module docstring)."""
    if not inputs.entities or inputs.target_length == 0 or len(inputs.links) == 0:
        return []
    counts = inputs.link_counts()
    if inputs.candidates is not None:
        starts, ends = inputs.candidates
    else:
        stop = None
        if inputs.target_tokens is not None and options.stop_words:
            stops = frozenset(options.stop_words)
            stop = np.fromiter((tok in stops for tok in inputs.target_tokens), dtype=bool)
        starts, ends = generated_candidates(counts, options.max_len, stop)
    if starts.size == 0:
        return []
    scores = score_matrix(counts, inputs.entity_lengths, starts, ends)
    if inputs.candidates is not None:  # drop what neither matching can choose (see above)
        scores[trimmable_pairs(scores, starts, ends, counts > 0)] = 0.0
        live = (scores > 0).any(axis=0)
        scores, starts, ends = scores[:, live], starts[live], ends[live]
    if options.exact:
        pairs = exact_match(scores, starts, ends, options.max_states)
    else:
        pairs = greedy_match(scores, starts, ends)
    matches = [
        Match(e, Span(int(starts[k]), int(ends[k]), inputs.entities[e].label), float(scores[e, k]))
        for e, k in pairs
    ]
    return sorted(matches, key=lambda m: m.span)


@register_method("ngram", NgramOptions)
def ngram(inputs: ProjectionInput, options: NgramOptions) -> list[Span]:
    """Project with n-gram candidates and matching; spans sorted, at most one per entity."""
    return [m.span for m in ngram_matches(inputs, options)]


def match_entities(
    spans: Iterable[Span],
    alignment: AlignmentLike,
    target_length: int,
    options: NgramOptions | dict[str, Any] | None = None,
    target_tokens: Sequence[str] | None = None,
    candidates: Iterable[CandidateLike] | None = None,
) -> list[Match]:
    """N-gram projection with its bookkeeping: which entity got which span, with what score.

    Same arguments as :func:`~xner.runtime.projection.project` with ``method="ngram"``;
    ``options`` is an :class:`NgramOptions`, a mapping of its fields or None. Entity numbers
    index the source spans in source order (sorted by start, end, label).
    """
    opts = resolve_options(method_info("ngram"), options)
    inputs = ProjectionInput.build(spans, alignment, target_length, target_tokens, candidates)
    return ngram_matches(inputs, opts)
