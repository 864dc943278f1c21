"""The alignment heuristic: label the contiguous runs of target words aligned to each entity.

For every source entity (in source order):

1. **Runs.** The target words linked to any word of the entity form *maximal* runs of
   consecutive aligned words.
2. **Merging.** Two neighbouring runs ``[a, b)`` and ``[c, d)`` (``b < c``) merge into
   ``[a, d)`` when ``c - b <= merge_distance``, i.e. when the gap between them holds at most
   ``merge_distance`` words. The default (1) fills a gap of one word, as the released code of
   arXiv 2501.18750 does (``cand[0] - prev[1] > max_distance`` starts a new candidate there);
   ``merge_distance=0`` merges nothing, since maximal runs are never adjacent.
3. **Length filter.** A merged run survives when ``run_length / entity_length > length_ratio``
   (strictly: with the default 0.8, four target words for a five-word entity are dropped).
4. **Keep.** ``keep="all"`` labels every surviving run (the released code of arXiv 2501.18750);
   ``keep="largest"`` only the longest one, the leftmost on a tie (García-Ferrero et al. 2022).
5. **Collisions** between runs of different entities that overlap on the target:

   - ``"overwrite"`` (default): runs are painted in source order (then left to right), each
     target word belongs to the last run painted over it, and every maximal block of words that
     belong to the same run becomes one span. So the later entity takes the shared words whole,
     and an earlier run keeps each remaining piece (one on either side when the later run falls
     inside it). This is what the released code's word-by-word IOB2 tag overwriting gives when
     read back as spans, except that there a left-over piece that touches the later run and has
     the same label is glued to it by its ``I-`` tag; here pieces never change hands.
     Pieces are not checked against the length ratio again.
   - ``"first"``: a run that overlaps a run already kept (earlier entity in source order, then
     further left) is dropped whole.
   - ``"longer"``: runs are kept longest first (ties: earlier entity, then leftmost); a run that
     overlaps one already kept is dropped whole.

   Runs of one entity never overlap one another, so each policy yields valid, sorted,
   non-overlapping spans.
6. **Confidence** of each span: the share of its entity's words that have at least one link
   to a word of the span (distinct entity words linked into the span / entity length), in
   [0, 1]. A three-word entity whose first and last words are linked into the span scores 2/3,
   however many links each word has and however long the span; a piece left by
   ``"overwrite"`` counts only the links into that piece (a piece made of merged gap words
   alone scores 0). The span's *origin* is its entity's number (source order).

Where this differs from the released code (``generate_entity_candidates_from_alignments`` and
``merge_adjacent_candidates``): that code grows candidates link by link, extending *every*
candidate that a new word touches and never joining two candidates that become adjacent, so its
candidates of one entity can overlap or stay split depending on the order of the links; and its
merge sets the merged end to the end of the next candidate even when that one lies inside the
merged run, which can shrink it. Maximal runs make the result depend on the set of links only,
which is what the method intends.

A whole batch is projected at once: :class:`~xner.runtime.projection.inputs.ProjectionBatch`
numbers entities and target words across its sentences, and a run belongs to one entity, hence
to one sentence. Runs, merging, the length filter, ``keep`` and ``"overwrite"`` are NumPy
operations over the sorted (entity, target word) pairs of all sentences; ``"first"`` and
``"longer"`` keep runs in a Python loop over the (few) runs that survive.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.projection.inputs import ProjectionBatch, ranges
from xner.runtime.projection.registry import option, register_method
from xner.runtime.projection.result import Projected

__all__ = [
    "COLLISION_POLICIES",
    "KEEP_CHOICES",
    "HeuristicOptions",
    "aligned_share",
    "entity_runs",
    "heuristic",
]

KEEP_CHOICES = ("all", "largest")
COLLISION_POLICIES = ("overwrite", "first", "longer")
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class HeuristicOptions:
    """Knobs of the alignment heuristic (see the module docstring for the exact rules).

    ``merge_distance``: runs whose gap holds at most this many words are merged (0: never).
    ``length_ratio``: a run survives when ``run_length / entity_length`` is strictly greater.
    ``keep``: ``"all"`` surviving runs, or only the ``"largest"`` (leftmost on a tie).
    ``collisions``: how overlapping runs of different entities are resolved: ``"overwrite"``
    (the later entity takes the shared words), ``"first"`` (the earlier run wins, the later run
    is dropped) or ``"longer"`` (the longer run wins; ties: the earlier entity).
    """

    merge_distance: int = option(1, help="merge runs separated by at most this many words.")
    length_ratio: float = option(0.8, help="keep a run longer than this share of the entity.")
    keep: str = option("all", help="all runs or the largest.")
    collisions: str = option("overwrite", help="overwrite, first or longer.")

    def __post_init__(self) -> None:
        md = self.merge_distance
        if isinstance(md, bool) or not isinstance(md, (int, np.integer)) or md < 0:
            raise ConfigError(f"merge_distance must be an integer >= 0, got {md!r}")
        ratio = self.length_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio >= 0:
            raise ConfigError(f"length_ratio must be a number >= 0, got {ratio!r}")
        if self.keep not in KEEP_CHOICES:
            raise unknown_choice("keep policy", str(self.keep), KEEP_CHOICES)
        if self.collisions not in COLLISION_POLICIES:
            raise unknown_choice("collision policy", str(self.collisions), COLLISION_POLICIES)


def entity_runs(
    entity: np.ndarray, position: np.ndarray, merge_distance: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merged maximal runs of the target positions each entity links to.

    ``entity`` and ``position`` are the distinct (entity, position) pairs sorted by entity, then
    position. A run goes on while the next position of the same entity is at most
    ``merge_distance + 1`` further (maximal runs, then merging gaps of at most
    ``merge_distance`` words). Returns ``(entity, start, end)`` sorted by entity, then start.
    """
    if entity.size == 0:
        return _EMPTY, _EMPTY, _EMPTY
    new = np.ones(entity.size, dtype=bool)
    np.not_equal(entity[1:], entity[:-1], out=new[1:])
    new[1:] |= np.diff(position) > merge_distance + 1
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, entity.size - 1)
    return entity[first], position[first], position[last] + 1


@register_method("heuristic", HeuristicOptions)
def heuristic(batch: ProjectionBatch, options: HeuristicOptions) -> list[Projected]:
    """Project each sentence's entities with the alignment heuristic (see the module docstring)."""
    if batch.candidates is not None:
        raise ConfigError("the heuristic projection takes no candidates; use method 'ngram'")
    ent, start, end = entity_runs(batch.link_entity, batch.link_position, options.merge_distance)
    length = end - start
    keep = length / batch.entity_lengths[ent] > options.length_ratio
    ent, start, end, length = ent[keep], start[keep], end[keep], length[keep]
    if options.keep == "largest" and ent.size:
        order = np.lexsort((start, -length, ent))
        ent, start, end, length = ent[order], start[order], end[order], length[order]
        head = np.ones(ent.size, dtype=bool)
        head[1:] = ent[1:] != ent[:-1]
        ent, start, end, length = ent[head], start[head], end[head], length[head]
    if options.collisions == "overwrite":
        ent, start, end = _overwrite(ent, start, end, batch.positions)
    else:
        if options.collisions == "first":
            order = np.arange(ent.size)
        else:  # "longer"
            order = np.lexsort((start, ent, -length))
        ent, start, end = _keep_free(ent, start, end, order, batch.positions)
    spans = batch.span_list(ent, start, end)
    shares = aligned_share(batch, ent, start, end).tolist()
    origins = (ent - batch.entity_offsets[batch.entity_sentence[ent]]).tolist()
    bounds = np.searchsorted(batch.entity_sentence[ent], np.arange(batch.size + 1)).tolist()
    return [Projected(spans[a:b], None, shares[a:b], origins[a:b]) for a, b in pairwise(bounds)]


def aligned_share(
    batch: ProjectionBatch, ent: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """The confidence of each span ``[start, end)`` (positions) given to entity ``ent``: the
    share of the entity's words that have at least one link to a word of the span.

    The spans must not overlap (each target position belongs to at most one of them), as the
    heuristic's final spans never do. Returns a float array in [0, 1], one per span.
    """
    if batch.word_links is None:
        raise ValueError("the batch has no word links: build it with ProjectionBatch.build")
    counts, links = batch.word_links
    aligned = np.zeros(ent.size, dtype=np.int64)
    if ent.size and links.size:
        sentence = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
        word, position = links[:, 0], links[:, 1] + batch.target_offsets[sentence]
        length = end - start
        owner = np.full(batch.positions, -1, dtype=np.int64)  # the span holding each position
        owner[ranges(start, length)] = np.repeat(np.arange(ent.size, dtype=np.int64), length)
        span = owner[position]
        entity = ent[np.maximum(span, 0)]
        inside = (
            (span >= 0) & (word >= batch.entity_starts[entity]) & (word < batch.entity_ends[entity])
        )
        width = int(batch.entity_ends.max()) + 1
        distinct = np.unique(span[inside] * width + word[inside])  # (span, entity word) pairs
        aligned = np.bincount(distinct // width, minlength=ent.size)
    share: np.ndarray = aligned / batch.entity_lengths[ent]
    return share


def _overwrite(
    ent: np.ndarray, start: np.ndarray, end: np.ndarray, n_positions: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint runs in order (later ones win each word); one span per block of one run's words.

    Returns the blocks as ``(entity, start, end)`` sorted by start.
    """
    order = np.argsort(start, kind="stable")
    if not (start[order[1:]] < end[order[:-1]]).any():  # no overlap: the runs are the blocks
        return ent[order], start[order], end[order]
    length = end - start
    run = np.repeat(np.arange(ent.size, dtype=np.int64), length)
    word = ranges(start, length)
    owner = np.full(n_positions, -1, dtype=np.int64)
    np.maximum.at(owner, word, run)  # the last run painted over each word
    held = np.flatnonzero(owner >= 0)
    run = owner[held]
    new = np.ones(held.size, dtype=bool)
    new[1:] = (run[1:] != run[:-1]) | (held[1:] != held[:-1] + 1)
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, held.size - 1)
    return ent[run[first]], held[first], held[last] + 1


def _keep_free(
    ent: np.ndarray, start: np.ndarray, end: np.ndarray, order: np.ndarray, n_positions: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep runs in ``order`` unless they overlap a run kept before; sorted by start."""
    taken = np.zeros(n_positions, dtype=bool)
    kept = []
    starts, ends = start.tolist(), end.tolist()
    for r in order.tolist():
        s, t = starts[r], ends[r]
        if not taken[s:t].any():
            taken[s:t] = True
            kept.append(r)
    kept_runs = np.array(kept, dtype=np.int64)
    kept_runs = kept_runs[np.argsort(start[kept_runs], kind="stable")]
    return ent[kept_runs], start[kept_runs], end[kept_runs]
