"""Assign target candidates to source entities: greedy matching and exact matching.

Both take scored (entity, candidate) pairs as flat arrays ``ent``, ``start``, ``end``, ``score``
(candidate ``[start, end)``; a score of 0 or less: the pair may not be matched), sorted by
entity, then start, then end, and return the indices of the chosen pairs, such that every entity
has at most one candidate and no two chosen candidates overlap. Entities and positions may come
from many sentences at once (numbered across a batch, so that sentences never interact).

**Exact matching** maximises the total score, with no solver dependency. The problem (each
entity picks at most one interval, chosen intervals disjoint) is the job interval selection
problem, NP-hard in general, so the search is exponential in the worst case; four steps keep it
small on real sentences:

1. *Dominance.* Candidate ``c`` is dropped for entity ``e`` when a candidate strictly inside
   ``c`` scores at least as much for ``e``: any solution that gives ``c`` to ``e`` can take the
   smaller one instead (it frees words and loses nothing). This removes, for instance, spans
   stretched to reach a stray far-away link. Candidates are compared pairwise: ``O(K_e^2)`` for
   the ``K_e`` positive candidates of entity ``e`` (in chunks that bound memory). The n-gram
   method hands over pairs already trimmed (:mod:`xner.runtime.projection.ngram`), so
   ``K_e <= m_e (m_e + 1) / 2`` for an entity linked to ``m_e`` target words.
2. *Components.* Entities whose remaining candidates never overlap, directly or through other
   entities, are independent and solved separately.
3. *Dynamic programming* over the component's candidate boundaries, left to right. A state is
   (position, set of entities already used), and the set only keeps the entities that still
   have candidates starting at or after the position, so entities that are finished drop out.
   Cost: ``O(P * S * c)`` for ``P`` boundaries, ``c`` candidates starting at a boundary and
   ``S <= 2^w`` states per boundary, where ``w`` is the largest number of entities of the
   component that have candidates on both sides of a boundary.
4. *Bounding.* The component's greedy matching gives a floor; a state is expanded only while
   its value plus an optimistic bound on what is left can still reach it. The bound is the
   smaller of the best candidate still to come of each unused entity, summed, and the best total
   of disjoint candidates still to come whoever takes them (a weighted interval schedule).
   Paths to an optimum are never cut (a tolerance of 1e-9 absorbs rounding).

Measured on 200 synthetic sentences of 200 words with 20 entities and mostly monotone links
(bench/bench_projection.py): components of at most 3 entities and a few dozen states. With many
stray links (1.5 per word on average) components grow to all 20 entities, and bounding keeps
the search under 40 ms per sentence. A component whose search passes ``max_states`` states keeps
its greedy matching instead (of its candidates left after step 1) and a warning is logged.
Among optimal solutions, the one the DP meets first is returned (deterministic; not otherwise
specified).
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["exact_match", "greedy_match", "undominated_pairs"]

logger = logging.getLogger("xner")

_CHUNK_CELLS = 1 << 22  # cells of one dominance block: bounds memory to a few MiB


def greedy_match(
    group: np.ndarray, ent: np.ndarray, start: np.ndarray, end: np.ndarray, score: np.ndarray
) -> np.ndarray:
    """Greedy matching in each ``group`` of pairs (a sentence) on its own: repeatedly take the
    best remaining pair; the indices of the chosen pairs, sorted.

    Pairs are sorted by group, then entity, start and end; ties between equal scores go to the
    pair given first (lowest entity, then leftmost start, then shortest). Processing the pairs
    best first and taking each one still free is the same as taking the best remaining pair
    again and again; here every round takes the best free pair of every group at once and drops
    the pairs it rules out (same entity, overlapping candidate), so the rounds number at most
    the entities of the largest group, each a few NumPy operations over the pairs left.
    """
    order = np.argsort(-score, kind="stable")
    order = order[np.argsort(group[order], kind="stable")]
    alive = order[score[order] > 0]
    taken = []
    while alive.size:
        g = group[alive]
        head = np.ones(alive.size, dtype=bool)
        np.not_equal(g[1:], g[:-1], out=head[1:])
        best = alive[head]
        taken.append(best)
        rival = best[np.cumsum(head) - 1]  # the pair taken in each pair's group
        clash = ent[alive] == ent[rival]
        clash |= (start[alive] < end[rival]) & (end[alive] > start[rival])
        alive = alive[~clash]
    return np.sort(np.concatenate(taken)) if taken else np.zeros(0, dtype=np.int64)


def undominated_pairs(
    ent: np.ndarray, start: np.ndarray, end: np.ndarray, score: np.ndarray
) -> np.ndarray:
    """Indices of the positive pairs not dominated by a candidate strictly inside, sorted."""
    positive = np.flatnonzero(score > 0)
    if positive.size == 0:
        return positive
    owner = ent[positive]
    cuts = np.flatnonzero(owner[1:] != owner[:-1]) + 1
    out = []
    for idx in np.split(positive, cuts):  # one entity at a time
        s, t, v = start[idx], end[idx], score[idx]
        dominated = np.zeros(idx.size, dtype=bool)
        step = max(1, _CHUNK_CELLS // idx.size)
        for lo in range(0, idx.size, step):
            hi = min(lo + step, idx.size)
            inside = (s[None, :] >= s[lo:hi, None]) & (t[None, :] <= t[lo:hi, None])
            inside &= v[None, :] >= v[lo:hi, None]
            inside[np.arange(hi - lo), np.arange(lo, hi)] = False  # not dominated by itself
            dominated[lo:hi] = inside.any(axis=1)
        out.append(idx[~dominated])
    return np.concatenate(out)


def _components(ent: np.ndarray, s: np.ndarray, t: np.ndarray) -> list[np.ndarray]:
    """Group pair indices into components of entities whose candidates overlap (transitively)."""
    order = np.argsort(s, kind="stable")
    reach = np.maximum.accumulate(t[order])
    block = np.zeros(order.size, dtype=np.int64)
    block[1:] = np.cumsum(s[order][1:] >= reach[:-1])
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_of_block: dict[int, int] = {}
    for b, e in zip(block.tolist(), ent[order].tolist(), strict=True):
        head = first_of_block.setdefault(b, e)
        parent[find(e)] = find(head)
    roots = np.array([find(e) for e in ent.tolist()], dtype=np.int64)
    order = np.argsort(roots, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(roots[order])) + 1)


class _TooManyStates(Exception):
    pass


def _solve_component(
    ent: list[int], s: list[int], t: list[int], v: list[float], max_states: int, floor: float
) -> list[int]:
    """Exact DP of one component: the chosen pair indices (into the given lists).

    ``floor`` is the total of a known feasible solution (greedy): states whose optimistic bound
    falls below it cannot lead to a better solution and are not expanded.
    """
    local = {e: i for i, e in enumerate(sorted(set(ent)))}
    bounds = sorted(set(s) | set(t))
    at = {p: i for i, p in enumerate(bounds)}
    n_pos, n_ent = len(bounds), len(local)
    by_start: list[list[tuple[int, int, float, int]]] = [[] for _ in range(n_pos)]
    for n in sorted(range(len(ent)), key=lambda n: (s[n], t[n], ent[n])):
        by_start[at[s[n]]].append((at[t[n]], 1 << local[ent[n]], v[n], n))
    # relevant[p]: entities with a candidate starting at or after boundary p; best[p][i]: the
    # best such candidate of entity i; room[p]: best total of disjoint candidates after p,
    # ignoring which entity takes them. Both bound what a state at p can still gain.
    relevant = [0] * (n_pos + 1)
    best = [[0.0] * n_ent for _ in range(n_pos + 1)]
    room = [0.0] * (n_pos + 1)
    for p in range(n_pos - 1, -1, -1):
        relevant[p] = relevant[p + 1]
        best[p] = best[p + 1][:]
        room[p] = room[p + 1]
        for q, bit, score, _ in by_start[p]:
            relevant[p] |= bit
            i = bit.bit_length() - 1
            best[p][i] = max(best[p][i], score)
            room[p] = max(room[p], score + room[q])
    need = floor - 1e-9
    value: list[dict[int, float]] = [{} for _ in range(n_pos)]
    back: list[dict[int, tuple[int, int, int]]] = [{} for _ in range(n_pos)]
    value[0][0] = 0.0
    count = 1
    for p in range(n_pos - 1):
        moves = [(p + 1, 0, 0.0, -1), *by_start[p]]
        for mask, val in value[p].items():
            if val + room[p] < need:
                continue
            free, gain, i = relevant[p] & ~mask, 0.0, 0
            while free:
                if free & 1:
                    gain += best[p][i]
                free >>= 1
                i += 1
            if val + gain < need:
                continue
            for q, bit, score, n in moves:
                if mask & bit:
                    continue
                key = (mask | bit) & relevant[q]
                new = val + score
                old = value[q].get(key)
                if old is None:
                    count += 1
                    if count > max_states:
                        raise _TooManyStates
                if old is None or new > old:
                    value[q][key] = new
                    back[q][key] = (p, mask, n)
    chosen = []
    p, mask = n_pos - 1, 0
    while (p, mask) != (0, 0):
        p, mask, n = back[p][mask]
        if n >= 0:
            chosen.append(n)
    return chosen


def exact_match(
    ent: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    score: np.ndarray,
    max_states: int = 200_000,
) -> np.ndarray:
    """Matching of maximum total score (see the module docstring): the chosen pair indices,
    sorted."""
    kept = undominated_pairs(ent, start, end, score)
    e, s, t, v = ent[kept], start[kept], end[kept], score[kept]
    taken: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for group in _components(e, s, t) if kept.size else []:
        g_ent = e[group]
        if np.all(g_ent == g_ent[0]):  # one entity: its best candidate (leftmost, shortest)
            taken.append(kept[group[[int(np.argmax(v[group]))]]])
            continue
        greedy = group[greedy_match(np.zeros_like(group), g_ent, s[group], t[group], v[group])]
        floor = float(sum(v[greedy].tolist()))
        try:
            picked = _solve_component(
                g_ent.tolist(),
                s[group].tolist(),
                t[group].tolist(),
                v[group].tolist(),
                max_states,
                floor,
            )
            taken.append(kept[group[np.array(picked, dtype=np.int64)]])
        except _TooManyStates:
            logger.warning(
                "exact projection: %d interacting entities need more than %d search states; "
                "keeping their greedy matching",
                np.unique(g_ent).size,
                max_states,
            )
            taken.append(kept[greedy])
    return np.sort(np.concatenate(taken))
