"""N-gram candidates and matching: give each entity the target span its links support best.

**Candidates** are every target span of 1 to ``max_len`` words (unlimited by default) that holds
no stop word (``!`` and ``?`` by default; only when the target tokens are known), or the spans the
caller gives (``candidates=``, e.g. the spans a NER model predicts on the target: used as given,
without stop-word or length filtering).

**Score** of entity ``e`` and candidate ``c``: ``2 * links(e, c) / (len(e) + len(c))`` where
``links(e, c)`` counts the (distinct) alignment links from a word of ``e`` to a word of ``c``.
Link counts come from a prefix sum over each entity's sorted linked positions. A candidate with no
link to an entity is never given to it. ``scores`` adds a model's view and fuses the components
(:mod:`xner.runtime.projection.scores`): ``ner``, the tagger's probabilities on the target words
for the entity's class, and ``nmt``, the translator's probabilities of the entity's words and the
candidate's given each other (for each entity's ``nmt_candidates`` best candidates by the other
components, 2 by default: the translator is the costly part); the matching score is their
weighted sum (weights normalised), the confidence of a matched span the weighted sum of the
components clipped to [0, 1] (with the alignment score alone: ``min(1, score)``). The tagger
runs once per batch, on the target sentences that have entities; the translator once per
direction.

**NER-span candidates** (``candidates="ner"``): the spans the tagger predicts on the target
(labels ignored) replace the n-grams; ``"ner+sub"`` adds all their sub-spans.

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
built, so giving all ``T^2 / 2`` spans costs about as little as generating them. With a model's
score the reduction does not hold (a longer span may score more), so each entity is paired with
every candidate of at most ``max_len`` words (10 by default) that holds a word linked to it
(:func:`linked_ngrams`, :func:`linked_candidates`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.projection.inputs import (
    AlignmentLike,
    CandidateLike,
    ProjectionBatch,
    ProjectionItem,
    ranges,
)
from xner.runtime.projection.matching import exact_match, greedy_match
from xner.runtime.projection.registry import (
    EngineAccess,
    method_info,
    option,
    register_method,
    register_variant,
    resolve_options,
)
from xner.runtime.projection.result import Match, Projected
from xner.runtime.projection.scores import (
    align_scores,
    canonical_scores,
    fuse,
    ner_scores,
    nmt_scores,
    scheme_columns,
    target_probabilities,
    weights,
)

__all__ = [
    "CANDIDATES",
    "MODEL_MAX_LEN",
    "NMT_CANDIDATES",
    "Match",
    "NgramOptions",
    "candidate_pairs",
    "generated_pairs",
    "linked_candidates",
    "linked_ngrams",
    "linked_spans",
    "given_pairs",
    "match_entities",
    "match_entities_batch",
    "ngram",
    "nmt_chosen",
    "ngram_matches",
    "scored_pairs",
]

_EMPTY = np.zeros(0, dtype=np.int64)

CANDIDATES: tuple[str, ...] = ("all", "ner", "ner+sub")
"""The kinds of candidates (``NgramOptions.candidates``)."""

MODEL_MAX_LEN = 10
"""The longest generated candidate by default when a model scores the candidates."""

NMT_CANDIDATES = 2
"""How many candidates of each entity the nmt score asks the translator about, by default."""


@dataclass(frozen=True)
class NgramOptions:
    """Knobs of n-gram matching (see the module docstring).

    ``max_len``: longest generated candidate in words (None: any length, every span of the
    sentence, when scoring by alignment alone; 10 with the ``ner`` or ``nmt`` score).
    ``stop_words``: a generated candidate holding one of these target tokens is
    dropped (needs the target tokens; without them nothing is dropped). ``exact``: maximise the
    total score exactly instead of matching greedily. ``max_states``: budget of the exact search
    per group of interacting entities; past it that group is matched greedily and a warning is
    logged (realistic sentences use a few hundred states). ``scores``: the score components and
    their weights (``("align=0.5", "ner=0.5")`` or a mapping ``{"align": 0.5, "ner": 0.5}``;
    :mod:`xner.runtime.projection.scores`). ``candidates``: ``all`` (n-grams, or the
    candidates given with each sentence), ``ner`` (the spans the tagger predicts on the target,
    labels ignored) or ``ner+sub`` (those and all their sub-spans). ``ner_any_class``: the ner
    score takes the best class instead of the source entity's. ``nmt_candidates``: the nmt
    score (a translator call per pair, the costly part) is computed only for each entity's
    this many best candidates by the other weighted components (by the alignment score when
    nmt is alone); the other candidates score 0 on nmt and keep their other components
    (0: every candidate is scored).
    """

    max_len: int | None = option(None, help="longest candidate in words (default: any).")
    stop_words: tuple[str, ...] = option(
        ("!", "?"), help="comma-separated words no candidate may hold."
    )
    exact: bool = option(False, help="optimal matching, not greedy.")
    max_states: int = option(
        200_000, help="budget of the exact search per group of entities.", cli=False
    )
    scores: tuple[str, ...] = option(
        ("align=1",),
        help="scores and weights: align (links), ner (the tagger on the target), nmt (the "
        "translator), e.g. align=0.5,ner=0.5,nmt=1.",
    )
    candidates: str = option(
        "all",
        help="candidates: all (n-grams), ner (the tagger's spans on the target) or ner+sub "
        "(and their sub-spans).",
    )
    ner_any_class: bool = option(False, help="ner score of the best class, not the entity's.")
    nmt_candidates: int = option(
        NMT_CANDIDATES,
        help="the nmt score asks the translator about this many best candidates of each entity "
        "by the other scores (the others score 0 on nmt); 0: every candidate.",
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
        k = self.nmt_candidates
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ConfigError(f"nmt_candidates must be an integer >= 0, got {k!r}")
        object.__setattr__(self, "scores", canonical_scores(self.scores))
        if self.candidates not in CANDIDATES:
            raise unknown_choice("candidates", str(self.candidates), CANDIDATES)

    @property
    def weights(self) -> dict[str, float]:
        """The score components' weights, normalised to sum 1."""
        return weights(self.scores)

    @property
    def aligned_only(self) -> bool:
        """Whether the alignment score is the only component."""
        return set(self.weights) == {"align"}

    @property
    def longest(self) -> int | None:
        """The longest generated candidate: ``max_len``, or when None, 10 with the ``ner`` or
        ``nmt`` score (None: any length, with the alignment score alone)."""
        if self.max_len is not None or self.aligned_only:
            return self.max_len
        return MODEL_MAX_LEN

    @property
    def engines(self) -> tuple[str, ...]:
        """The engines these options use: the tagger for the ``ner`` score or NER candidates,
        the translator for the ``nmt`` score."""
        names = []
        if "ner" in self.weights or self.candidates != "all":
            names.append("tagger")
        if "nmt" in self.weights:
            names.append("translator")
        return tuple(names)


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
    """All the (entity, candidate) pairs matching may choose by the alignment score alone, as
    ``(entity, start, end, score)`` sorted by entity, start, end (positions numbered across
    the batch)."""
    ent, start, end, links = candidate_pairs(batch, options)
    return ent, start, end, align_scores(links, batch.entity_lengths[ent], end - start)


def candidate_pairs(
    batch: ProjectionBatch, options: NgramOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The (entity, candidate) pairs to score, as ``(entity, start, end, links)`` sorted by
    entity, start, end: with the alignment score alone, the reduced pairs of the module
    docstring; with a model's score (which a trimmed span need not beat), every candidate of
    at most :attr:`NgramOptions.longest` words (generated) or every given candidate that holds
    a word linked to the entity (:func:`linked_ngrams`, :func:`linked_candidates`)."""
    given = batch.given
    generate = None if given is None else ~given[batch.entity_sentence]
    reduced = options.aligned_only
    parts = []
    if generate is None or generate.any():
        stop = _stop_positions(batch, options.stop_words)
        if reduced:
            parts.append(generated_pairs(batch, generate, options.longest, stop))
        else:
            parts.append(linked_ngrams(batch, generate, options.longest or 1, stop))
    if given is not None:
        parts.append(given_pairs(batch, given) if reduced else linked_candidates(batch, given))
    if len(parts) == 1:
        return parts[0]
    ent, start, end, links = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.argsort(ent, kind="stable")  # each entity's pairs come from one part
    return ent[order], start[order], end[order], links[order]


def linked_ngrams(
    batch: ProjectionBatch, use: np.ndarray | None, max_len: int, stop: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (entity, n-gram of at most ``max_len`` words) pair of the entities marked in
    ``use`` (None: all) whose n-gram holds a word linked to the entity and no stop word
    (``stop``), as ``(entity, start, end, links)`` sorted by entity, start, end.

    Each n-gram is built once, from its first linked word ``p``: it starts after the entity's
    previous linked word (and at most ``max_len - 1`` words before ``p``) and ends after ``p``.
    """
    index = np.arange(batch.link_entity.size)
    if use is not None:
        index = np.flatnonzero(use[batch.link_entity])
    ent, pos = batch.link_entity[index], batch.link_position[index]
    if ent.size == 0:
        return _EMPTY, _EMPTY, _EMPTY, _EMPTY
    sentence = batch.entity_sentence[ent]
    after = np.zeros(ent.size, dtype=bool)
    after[1:] = ent[1:] == ent[:-1]
    previous = np.concatenate(([0], pos[:-1] + 1))
    low = np.maximum(np.where(after, previous, batch.target_offsets[sentence]), pos - max_len + 1)
    n_starts = pos - low + 1
    row = np.repeat(np.arange(ent.size), n_starts)
    start = ranges(low, n_starts)
    high = np.minimum(start + max_len, batch.target_offsets[sentence[row] + 1])
    n_ends = high - pos[row]
    end = ranges(pos[row] + 1, n_ends)
    row, start = np.repeat(row, n_ends), np.repeat(start, n_ends)
    ent = ent[row]
    if stop is not None:
        before = np.concatenate(([0], np.cumsum(stop)))
        free = before[end] == before[start]
        ent, start, end = ent[free], start[free], end[free]
    return ent, start, end, _link_counts(batch, ent, start, end)


def linked_candidates(
    batch: ProjectionBatch, given: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (entity, given candidate) pair of the sentences marked in ``given`` whose
    candidate holds a word linked to the entity, as ``(entity, start, end, links)`` sorted by
    entity, start, end."""
    starts, ends = batch.candidates  # type: ignore[misc]
    entities = np.flatnonzero(given[batch.entity_sentence])
    sentence = batch.entity_sentence[entities]
    low = np.searchsorted(starts, batch.target_offsets[sentence])
    count = np.searchsorted(starts, batch.target_offsets[sentence + 1]) - low
    ent, cand = np.repeat(entities, count), ranges(low, count)
    start, end = starts[cand], ends[cand]
    links = _link_counts(batch, ent, start, end)
    keep = links > 0
    return ent[keep], start[keep], end[keep], links[keep]


def _link_counts(
    batch: ProjectionBatch, ent: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """The links from entity ``ent`` into target positions ``[start, end)``, pair by pair."""
    width = batch.positions + 1
    key = batch.link_entity * width + batch.link_position  # sorted
    cum = np.zeros(batch.link_count.size + 1, dtype=np.int64)
    np.cumsum(batch.link_count, out=cum[1:])
    base = ent * width
    counts: np.ndarray = (
        cum[np.searchsorted(key, base + end)] - cum[np.searchsorted(key, base + start)]
    )
    return counts


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
    batch: ProjectionBatch, options: NgramOptions, models: _Models
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The matched pairs ``(entity, start, end, score, confidence)``, sorted by start."""
    ent, start, end, links = candidate_pairs(batch, options)
    align = align_scores(links, batch.entity_lengths[ent], end - start)
    if options.aligned_only:
        score, confidence = align, np.clip(align, 0.0, 1.0)
    else:
        parts = _components(batch, options, models, ent, start, end, align)
        weight = options.weights
        score = fuse(parts, weight)
        confidence = fuse({k: np.clip(v, 0.0, 1.0) for k, v in parts.items()}, weight)
    if options.exact:
        chosen = exact_match(ent, start, end, score, options.max_states)
    else:
        chosen = greedy_match(batch.entity_sentence[ent], ent, start, end, score)
    chosen = chosen[np.argsort(start[chosen], kind="stable")]
    return ent[chosen], start[chosen], end[chosen], score[chosen], confidence[chosen]


def _components(
    batch: ProjectionBatch,
    options: NgramOptions,
    models: _Models,
    ent: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    align: np.ndarray,
) -> dict[str, np.ndarray]:
    """The weighted score components of the pairs."""
    weight = options.weights
    parts = {"align": align}
    if "ner" in weight:
        if models.probabilities is None:
            raise ConfigError("the ner score needs the tagger; none was given")
        classes, begin, inside = models.columns
        labels = [batch.labels[e] for e in ent.tolist()]
        parts["ner"] = ner_scores(
            models.probabilities, classes, begin, inside, labels, start, end, options.ner_any_class
        )
    if "nmt" in weight:
        chosen = nmt_chosen(ent, parts, weight, options.nmt_candidates)
        nmt = np.zeros(ent.size)
        nmt[chosen] = _nmt(batch, models.translator, ent[chosen], start[chosen], end[chosen])
        parts["nmt"] = nmt
    return parts


def nmt_chosen(
    ent: np.ndarray, parts: dict[str, np.ndarray], weight: dict[str, float], k: int
) -> np.ndarray:
    """The pairs (indices, sorted) whose nmt score is computed: each entity's ``k`` best pairs
    (0: all) by the weighted sum of the other components in ``parts`` (by the alignment score
    when nmt is the only weighted one); ties: leftmost start, then shortest. ``ent`` sorted,
    its pairs sorted by start and end."""
    if k == 0 or ent.size == 0:
        return np.arange(ent.size)
    other = {name: w for name, w in weight.items() if name != "nmt"}
    rank = fuse(parts, other) if other else parts["align"]
    order = np.lexsort((-rank, ent))  # stable: equal scores keep (start, end) order
    group = np.concatenate(([True], ent[order][1:] != ent[order][:-1]))
    first = np.maximum.accumulate(np.where(group, np.arange(ent.size), 0))
    return np.sort(order[np.arange(ent.size) - first < k])


def _nmt(
    batch: ProjectionBatch, translator: Any, ent: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """The nmt score of the pairs, one batched call per direction and language pair."""
    if translator is None:
        raise ConfigError("the nmt score needs the translator; none was given")
    score = np.zeros(ent.size)
    sentence = batch.entity_sentence[ent]
    groups: dict[tuple[str, str], list[int]] = {}
    sources, candidates = [], []
    offsets = batch.target_offsets
    for n, (e, k, s, t) in enumerate(
        zip(ent.tolist(), sentence.tolist(), start.tolist(), end.tolist(), strict=True)
    ):
        words, target, pair = _nmt_inputs(batch, k)
        a, b = int(batch.entity_starts[e]), int(batch.entity_ends[e])
        if b > len(words):
            raise ValueError(f"source span [{a}, {b}) passes the {len(words)} source words")
        sources.append(" ".join(words[a:b]))
        candidates.append(" ".join(target[s - offsets[k] : t - offsets[k]]))
        groups.setdefault(pair, []).append(n)
    for (src, tgt), members in groups.items():
        values = nmt_scores(
            translator, [sources[n] for n in members], [candidates[n] for n in members], src, tgt
        )
        score[members] = values
    return score


def _nmt_inputs(
    batch: ProjectionBatch, k: int
) -> tuple[Sequence[str], Sequence[str], tuple[str, str]]:
    """Sentence ``k``'s source and target words and languages, which the nmt score needs."""
    words = batch.source_tokens[k] if k < len(batch.source_tokens) else None
    pair = batch.languages[k] if k < len(batch.languages) else None
    target = batch.target_tokens[k]
    if words is None or target is None or pair is None:
        raise ConfigError(
            "the nmt score needs the source and target words and the languages of each "
            "sentence pair (ProjectionItem.source_tokens, target_tokens and languages)"
        )
    return words, target, pair


@dataclass
class _Models:
    """What the engines give the scores: the tagger's word probabilities of every target
    position and its label columns (:func:`~xner.runtime.projection.scores.scheme_columns`),
    the translator."""

    probabilities: np.ndarray | None = None
    columns: tuple[list[str], np.ndarray, np.ndarray] = ([], _EMPTY, _EMPTY)
    translator: Any = None


def _prepared(
    batch: ProjectionBatch, options: NgramOptions, engines: EngineAccess | None
) -> tuple[ProjectionBatch, _Models]:
    """The batch (with the tagger's spans as candidates for ``candidates="ner"``) and the
    models its scores need: the tagger runs once, on the target sentences that have entities."""
    models = _Models()
    needed = options.engines
    if not needed:
        return batch, models
    if engines is None:
        raise ConfigError(f"n-gram projection with these options needs {', '.join(needed)}")
    if "translator" in needed:
        models.translator = engines.translator
    if "tagger" not in needed:
        return batch, models
    tagger = engines.tagger
    busy = np.diff(batch.entity_offsets) > 0
    busy &= batch.target_lengths > 0
    todo = np.flatnonzero(busy).tolist()
    for k in todo:
        if batch.target_tokens[k] is None:
            raise ConfigError("NER scores and candidates need the target words of each sentence")
    tagged = tagger.tag([list(batch.target_tokens[k] or ()) for k in todo]) if todo else []
    results: list[Any] = [None] * batch.size
    for k, result in zip(todo, tagged, strict=True):
        results[k] = result
    if "ner" in options.weights:
        models.probabilities = target_probabilities(batch, tagger, results)
        models.columns = scheme_columns(list(tagger.labels), str(getattr(tagger, "scheme", "IOB2")))
    if options.candidates != "all":
        sub = options.candidates == "ner+sub"
        spans = [[] if r is None else _ner_candidates(r.spans, sub) for r in results]
        batch = batch.with_candidates(spans)
    return batch, models


def _ner_candidates(spans: Iterable[Span], sub: bool) -> list[tuple[int, int]]:
    """The tagger's spans as candidates (labels ignored), with all their sub-spans if ``sub``."""
    if not sub:
        return [(s.start, s.end) for s in spans]
    return [(a, b) for s in spans for a in range(s.start, s.end) for b in range(a + 1, s.end + 1)]


def ngram_matches(
    batch: ProjectionBatch, options: NgramOptions, engines: EngineAccess | None = None
) -> list[list[Match]]:
    """The matches of n-gram projection of each sentence, sorted by target start (see the
    module docstring); ``engines`` for the ``ner`` and ``nmt`` scores and NER candidates."""
    return [matches for matches, _ in _projected(batch, options, engines)]


def _projected(
    batch: ProjectionBatch, options: NgramOptions, engines: EngineAccess | None
) -> list[tuple[list[Match], list[float]]]:
    """Each sentence's matches and their confidences."""
    batch, models = _prepared(batch, options, engines)
    ent, start, end, score, confidence = _matched(batch, options, models)
    spans = batch.span_list(ent, start, end)
    number = (ent - batch.entity_offsets[batch.entity_sentence[ent]]).tolist()
    matches = batch.by_sentence(list(map(Match, number, spans, score.tolist())), ent)
    confidences = batch.by_sentence(confidence.tolist(), ent)
    return list(zip(matches, confidences, strict=True))


def _needs(options: NgramOptions) -> tuple[str, ...]:
    return options.engines


@register_method("ngram", NgramOptions, needs=_needs, pairs_entities=True)
def ngram(
    batch: ProjectionBatch, options: NgramOptions, engines: EngineAccess | None = None
) -> list[Projected]:
    """Project with n-gram candidates and matching: spans sorted, at most one per entity, with
    the matches that chose them and their confidences."""
    return [
        Projected([m.span for m in matches], matches, confidences)
        for matches, confidences in _projected(batch, options, engines)
    ]


register_variant("ngram-exact", "ngram", {"exact": True})
register_variant("ngram-ner", "ngram", {"scores": ("align=0.5", "ner=0.5")})
register_variant("ngram-nmt", "ngram", {"scores": ("align=0.5", "nmt=0.5")})
register_variant("ngram-nerspan", "ngram", {"candidates": "ner"})
register_variant("ngram-nerspan-sub", "ngram", {"candidates": "ner+sub"})


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
