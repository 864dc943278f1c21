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

Where this differs from the released code (``generate_entity_candidates_from_alignments`` and
``merge_adjacent_candidates``): that code grows candidates link by link, extending *every*
candidate that a new word touches and never joining two candidates that become adjacent, so its
candidates of one entity can overlap or stay split depending on the order of the links; and its
merge sets the merged end to the end of the next candidate even when that one lies inside the
merged run, which can shrink it. Maximal runs make the result depend on the set of links only,
which is what the method intends. All steps are NumPy operations on the ``(E, T)`` link matrix;
the only Python loops run over the (few) kept runs to resolve collisions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.projection.inputs import ProjectionInput
from xner.runtime.projection.registry import register_method

__all__ = ["COLLISION_POLICIES", "KEEP_CHOICES", "HeuristicOptions", "entity_runs", "heuristic"]

KEEP_CHOICES = ("all", "largest")
COLLISION_POLICIES = ("overwrite", "first", "longer")


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

    merge_distance: int = 1
    length_ratio: float = 0.8
    keep: str = "all"
    collisions: str = "overwrite"

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
    aligned: np.ndarray, merge_distance: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merged maximal runs of ``True`` in each row of the ``(E, T)`` boolean ``aligned``.

    Returns ``(entity, start, end)`` int64 arrays sorted by entity, then start.
    """
    n_ent, n_tgt = aligned.shape
    padded = np.zeros((n_ent, n_tgt + 2), dtype=np.int8)
    padded[:, 1:-1] = aligned
    step = np.diff(padded, axis=1)
    ent, start = np.nonzero(step == 1)
    _, end = np.nonzero(step == -1)
    if ent.size == 0:
        return ent.astype(np.int64), start.astype(np.int64), end.astype(np.int64)
    new = np.ones(ent.size, dtype=bool)
    new[1:] = (ent[1:] != ent[:-1]) | (start[1:] - end[:-1] > merge_distance)
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, ent.size - 1)
    return ent[first].astype(np.int64), start[first].astype(np.int64), end[last].astype(np.int64)


@register_method("heuristic", HeuristicOptions)
def heuristic(inputs: ProjectionInput, options: HeuristicOptions) -> list[Span]:
    """Project ``inputs.entities`` with the alignment heuristic; see the module docstring."""
    if inputs.candidates is not None:
        raise ConfigError("the heuristic projection takes no candidates; use method 'ngram'")
    if not inputs.entities or inputs.target_length == 0:
        return []
    ent, start, end = entity_runs(inputs.link_counts() > 0, options.merge_distance)
    length = end - start
    keep = length / inputs.entity_lengths[ent] > options.length_ratio
    ent, start, end, length = ent[keep], start[keep], end[keep], length[keep]
    if options.keep == "largest" and ent.size:
        order = np.lexsort((start, -length, ent))
        ent, start, end, length = ent[order], start[order], end[order], length[order]
        head = np.ones(ent.size, dtype=bool)
        head[1:] = ent[1:] != ent[:-1]
        ent, start, end, length = ent[head], start[head], end[head], length[head]
    labels = [inputs.entities[int(e)].label for e in ent]
    if options.collisions == "overwrite":
        return _overwrite(start, end, labels, inputs.target_length)
    if options.collisions == "first":
        order = np.arange(ent.size)
    else:  # "longer"
        order = np.lexsort((start, ent, -length))
    return _keep_free(start, end, labels, order, inputs.target_length)


def _overwrite(start: np.ndarray, end: np.ndarray, labels: list[str], n_tgt: int) -> list[Span]:
    """Paint runs in order (later ones win each word); one span per block of one run's words."""
    owner = np.full(n_tgt, -1, dtype=np.int64)
    for r in range(start.size):
        owner[start[r] : end[r]] = r
    cut = np.flatnonzero(owner[1:] != owner[:-1]) + 1
    block_start = np.concatenate(([0], cut))
    block_end = np.concatenate((cut, [n_tgt]))
    held = owner[block_start] >= 0
    return [
        Span(int(s), int(t), labels[owner[s]])
        for s, t in zip(block_start[held], block_end[held], strict=True)
    ]


def _keep_free(
    start: np.ndarray, end: np.ndarray, labels: list[str], order: np.ndarray, n_tgt: int
) -> list[Span]:
    """Keep runs in ``order`` unless they overlap a run kept before; sorted spans."""
    taken = np.zeros(n_tgt, dtype=bool)
    kept = []
    for r in order:
        s, t = int(start[r]), int(end[r])
        if not taken[s:t].any():
            taken[s:t] = True
            kept.append(Span(s, t, labels[r]))
    return sorted(kept)
