"""N-gram candidates and matching: give each entity the target span its links support best.

**Candidates** are every target span of 1 to ``max_len`` words (unlimited by default) that holds
no stop word (``!`` and ``?`` by default; only when the target tokens are known), or the spans the
caller gives (``candidates=``, e.g. the spans a NER model predicts on the target: used as given,
without stop-word or length filtering).

**Score** of entity ``e`` and candidate ``c``: ``2 * links(e, c) / (len(e) + len(c))`` where
``links(e, c)`` counts the (distinct) alignment links from a word of ``e`` to a word of ``c``.
Link counts come from a prefix sum over each entity's sorted linked positions. A candidate with no
link to an entity is never given to it.

**Greedy matching** (default) repeatedly takes the best remaining (entity, candidate) pair
(ties: lowest entity index in source order, then leftmost start, then shortest), gives every
entity at most one candidate and never selects two overlapping candidates; it runs over all the
sentences of a batch at once, in rounds that each take the best free pair of every sentence.
**Exact matching** (``exact=True``) maximises the total score under the same constraints (see
:mod:`xner.runtime.projection.matching`).

**Reduction** (changes neither result, only the cost): a candidate whose first or last word has no
link to entity ``e`` scores strictly less for ``e`` than the same span trimmed to its outermost
words linked to ``e``, and that trimmed span is free whenever the longer one is. When the trimmed
span is a candidate too, greedy never gives the longer one to ``e`` (the trimmed one always
scores more) and an exact solution can always swap it for the trimmed one. For generated n-grams
the trimmed span always is a candidate (a sub-span of an allowed n-gram is allowed), so each
entity is only paired with the spans whose first and last words link to it
(:func:`generated_pairs`): ``m_e (m_e + 1) / 2`` pairs for an entity linked to ``m_e`` target
words instead of ``E T^2 / 2`` in all. Given candidates are paired the same way from the trimmed
side (:func:`given_pairs`): a pair without links, or whose trimmed span is also given, is never
built, so giving all ``T^2 / 2`` spans costs about as little as generating them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError
from xner.runtime.projection.inputs import (
    AlignmentLike,
    CandidateLike,
    ProjectionBatch,
    ProjectionItem,
    ranges,
)
from xner.runtime.projection.matching import exact_match, greedy_match
from xner.runtime.projection.registry import (
    method_info,
    option,
    register_method,
    register_variant,
    resolve_options,
)
from xner.runtime.projection.result import Match, Projected

__all__ = [
    "Match",
    "NgramOptions",
    "generated_pairs",
    "linked_spans",
    "given_pairs",
    "match_entities",
    "match_entities_batch",
    "ngram",
    "ngram_matches",
    "scored_pairs",
]

_EMPTY = np.zeros(0, dtype=np.int64)


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

    max_len: int | None = option(None, help="longest candidate in words (default: any).")
    stop_words: tuple[str, ...] = option(
        ("!", "?"), help="comma-separated words no candidate may hold."
    )
    exact: bool = option(False, help="optimal matching, not greedy.")
    max_states: int = option(
        200_000, help="budget of the exact search per group of entities.", cli=False
    )

    def __post_init__(self) -> None:
        ml = self.max_len
        if ml is not None and (isinstance(ml, bool) or not isinstance(ml, (int, np.integer))):
            raise ConfigError(f"max_len must be None or an integer >= 1, got {ml!r}")
        if ml is not None and ml < 1:
            raise ConfigError(f"max_len must be None or an integer >= 1, got {ml!r}")
        words: Iterable[str] = self.stop_words  # callers may pass a list, or a string by mistake
        if isinstance(words, str):
            raise ConfigError(f"stop_words must be a list of words, got the string {words!r}")
        object.__setattr__(self, "stop_words", tuple(words))
        ms = self.max_states
        if isinstance(ms, bool) or not isinstance(ms, (int, np.integer)) or ms < 1:
            raise ConfigError(f"max_states must be an integer >= 1, got {ms!r}")


def linked_spans(batch: ProjectionBatch, use: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The spans that start and end on words linked to one entity (of those marked in ``use``,
    None: all), as ``(first, last)`` indices into the batch's link arrays, sorted.

    Builds the ``m_e (m_e + 1) / 2`` (first, last) pairs of each entity's ``m_e`` linked words
    with index arithmetic (no loop, no ``T x T`` matrix).
    """
    ent = batch.link_entity
    index = np.arange(ent.size) if use is None else np.flatnonzero(use[ent])
    ent = ent[index]
    n = index.size
    if n == 0:
        return _EMPTY, _EMPTY
    group_start = np.flatnonzero(np.concatenate(([True], ent[1:] != ent[:-1])))
    sizes = np.diff(np.append(group_start, n))
    rank = np.arange(n) - np.repeat(group_start, sizes)
    partners = np.repeat(sizes, sizes) - rank  # linked words of the same entity at or after
    first = np.repeat(np.arange(n), partners)
    return index[first], index[ranges(np.arange(n), partners)]


def generated_pairs(
    batch: ProjectionBatch, use: np.ndarray | None, max_len: int | None, stop: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The (entity, n-gram) pairs of the entities marked in ``use`` (None: all) whose n-gram
    starts and ends on words linked to the entity (:func:`linked_spans`), as ``(entity, start,
    end, links)`` sorted by entity, start, end.

    ``stop`` marks stop-word positions (or None); an n-gram that holds one, or is longer than
    ``max_len`` words, is dropped.
    """
    first, last = linked_spans(batch, use)
    starts, ends = batch.link_position[first], batch.link_position[last] + 1
    keep = None
    if max_len is not None:
        keep = ends - starts <= max_len
    if stop is not None:
        before = np.concatenate(([0], np.cumsum(stop)))
        free = before[ends] == before[starts]
        keep = free if keep is None else keep & free
    if keep is not None:
        first, last, starts, ends = first[keep], last[keep], starts[keep], ends[keep]
    return batch.link_entity[first], starts, ends, _links_inside(batch, first, last)


def given_pairs(
    batch: ProjectionBatch, given: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (entity, given candidate) pair of the sentences marked in ``given`` that has links
    and whose candidate, trimmed to its outermost words linked to the entity, is not also given
    (it would always beat it); ``(entity, start, end, links)`` sorted by entity, start, end.

    Found from the trimmed side: for each span between two words linked to an entity
    (:func:`linked_spans`), either it is given, and it is the only pair kept among the
    candidates that trim to it, or it is not, and every given candidate that trims to it is
    kept: those that start after the entity's previous linked word (if any) and at or before
    the span's first word, and end after its last word and before the next linked word.
    """
    starts, ends = batch.candidates  # type: ignore[misc]
    width = batch.positions + 1
    cand_key = starts * width + ends
    first, last = linked_spans(batch, given[batch.entity_sentence])
    ent, links = batch.link_entity[first], _links_inside(batch, first, last)
    span_start, span_end = batch.link_position[first], batch.link_position[last] + 1
    wanted = span_start * width + span_end
    at = np.minimum(np.searchsorted(cand_key, wanted), max(cand_key.size - 1, 0))
    found = cand_key[at] == wanted if cand_key.size else np.zeros(wanted.size, dtype=bool)
    # the candidates that trim to each span that is not given: one row per possible start
    lost = np.flatnonzero(~found)
    ent_l, prev, after = ent[lost], first[lost] - 1, last[lost] + 1
    sentence = batch.entity_sentence[ent_l]
    owner, position = batch.link_entity, batch.link_position
    prev_ok = np.maximum(prev, 0)
    after_ok = np.minimum(after, owner.size - 1)
    has_prev = (prev >= 0) & (owner[prev_ok] == ent_l)
    has_next = (after < owner.size) & (owner[after_ok] == ent_l)
    low = np.where(has_prev, position[prev_ok] + 1, batch.target_offsets[sentence])
    high = np.where(has_next, position[after_ok], batch.target_offsets[sentence + 1])
    n_starts = span_start[lost] - low + 1
    row = np.repeat(np.arange(lost.size), n_starts)
    start = ranges(low, n_starts)
    lo = np.searchsorted(cand_key, start * width + span_end[lost][row])
    hi = np.searchsorted(cand_key, start * width + high[row] + 1)
    cand = ranges(lo, hi - lo)
    row = np.repeat(lost[row], hi - lo)
    ent = np.concatenate((ent[found], ent[row]))
    start = np.concatenate((span_start[found], starts[cand]))
    end = np.concatenate((span_end[found], ends[cand]))
    links = np.concatenate((links[found], links[row]))
    order = np.argsort(start * width + end, kind="stable")
    order = order[np.argsort(ent[order], kind="stable")]
    return ent[order], start[order], end[order], links[order]


def _links_inside(batch: ProjectionBatch, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The links of the entity that owns link arrays ``first`` to ``last`` (inclusive)."""
    cum = np.zeros(batch.link_count.size + 1, dtype=np.int64)
    np.cumsum(batch.link_count, out=cum[1:])
    links: np.ndarray = cum[last + 1] - cum[first]
    return links


def scored_pairs(
    batch: ProjectionBatch, options: NgramOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All the (entity, candidate) pairs matching may choose, as ``(entity, start, end,
    score)`` sorted by entity, start, end (positions numbered across the batch)."""
    given = batch.given
    generate = None if given is None else ~given[batch.entity_sentence]
    parts = []
    if generate is None or generate.any():
        stop = _stop_positions(batch, options.stop_words)
        parts.append(generated_pairs(batch, generate, options.max_len, stop))
    if given is not None:
        parts.append(given_pairs(batch, given))
    if len(parts) == 1:
        ent, start, end, links = parts[0]
    else:
        ent, start, end, links = (np.concatenate(column) for column in zip(*parts, strict=True))
        order = np.argsort(ent, kind="stable")  # each entity's pairs come from one part
        ent, start, end, links = ent[order], start[order], end[order], links[order]
    score = links * 2.0
    score /= batch.entity_lengths[ent] + (end - start)
    return ent, start, end, score


def _stop_positions(batch: ProjectionBatch, stop_words: tuple[str, ...]) -> np.ndarray | None:
    """Which target positions hold a stop word (None: no stop words, or no tokens known)."""
    known = [k for k, words in enumerate(batch.target_tokens) if words is not None]
    if not stop_words or not known:
        return None
    stops = frozenset(stop_words)
    words = [batch.target_tokens[k] for k in known]
    flags = np.fromiter(
        map(stops.__contains__, chain.from_iterable(words)),  # type: ignore[arg-type]
        dtype=np.bool_,
        count=sum(map(len, words)),  # type: ignore[arg-type]
    )
    if len(known) == batch.size:
        return flags
    stop = np.zeros(batch.positions, dtype=bool)
    offsets = batch.target_offsets
    stop[np.concatenate([np.arange(offsets[k], offsets[k + 1]) for k in known])] = flags
    return stop


def _matched(
    batch: ProjectionBatch, options: NgramOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The matched pairs ``(entity, start, end, score)``, sorted by start."""
    ent, start, end, score = scored_pairs(batch, options)
    if options.exact:
        chosen = exact_match(ent, start, end, score, options.max_states)
    else:
        chosen = greedy_match(batch.entity_sentence[ent], ent, start, end, score)
    chosen = chosen[np.argsort(start[chosen], kind="stable")]
    return ent[chosen], start[chosen], end[chosen], score[chosen]


def ngram_matches(batch: ProjectionBatch, options: NgramOptions) -> list[list[Match]]:
    """The matches of n-gram projection of each sentence, sorted by target start (see the
    module docstring)."""
    ent, start, end, score = _matched(batch, options)
    spans = batch.span_list(ent, start, end)
    number = (ent - batch.entity_offsets[batch.entity_sentence[ent]]).tolist()
    return batch.by_sentence(list(map(Match, number, spans, score.tolist())), ent)


@register_method("ngram", NgramOptions, pairs_entities=True)
def ngram(batch: ProjectionBatch, options: NgramOptions) -> list[Projected]:
    """Project with n-gram candidates and matching: spans sorted, at most one per entity, with
    the matches that chose them."""
    return [
        Projected([m.span for m in matches], matches) for matches in ngram_matches(batch, options)
    ]


register_variant("ngram-exact", "ngram", {"exact": True})


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
    item = ProjectionItem(spans, alignment, target_length, target_tokens, candidates)
    return match_entities_batch([item], options)[0]


def match_entities_batch(
    items: Iterable[ProjectionItem | Sequence[Any]],
    options: NgramOptions | dict[str, Any] | None = None,
) -> list[list[Match]]:
    """:func:`match_entities` for many sentence pairs at once (items as in
    :func:`~xner.runtime.projection.project_batch`): one list of matches per item."""
    opts = resolve_options(method_info("ngram"), options)
    return ngram_matches(ProjectionBatch.build(items), opts)
