"""Plain-Python reference implementations of the projection methods, written with loops the way
published projection code is, to check the vectorised ones in xner.runtime.projection against.

Shared by tests/test_projection.py (parity tests) and bench/bench_projection.py (timings). The
rules are the ones documented in xner.runtime.projection; only the way they are computed differs:
no NumPy, every candidate enumerated by a double loop, every link visited one by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from xner.runtime.data import Span

__all__ = [
    "brute_force_best_total",
    "heuristic",
    "ngram_candidates",
    "ngram_greedy",
    "ngram_greedy_matches",
    "ngram_scores",
]


def _links(links: Iterable[Sequence[int]]) -> list[tuple[int, int]]:
    return sorted({(int(i), int(j)) for i, j in links})


def heuristic(
    spans: Iterable[Span],
    links: Iterable[Sequence[int]],
    target_length: int,
    merge_distance: int = 1,
    length_ratio: float = 0.8,
    keep: str = "all",
    collisions: str = "overwrite",
) -> list[Span]:
    """The alignment heuristic, word by word."""
    entities = sorted(spans)
    pairs = _links(links)
    runs = []  # (entity number, start, end) in source order, then left to right
    for number, entity in enumerate(entities):
        aligned = [False] * target_length
        for i, j in pairs:
            if entity.start <= i < entity.end:
                aligned[j] = True
        found = []
        j = 0
        while j < target_length:
            if aligned[j]:
                k = j
                while k < target_length and aligned[k]:
                    k += 1
                found.append([j, k])
                j = k
            else:
                j += 1
        merged: list[list[int]] = []
        for run in found:
            if merged and run[0] - merged[-1][1] <= merge_distance:
                merged[-1][1] = run[1]
            else:
                merged.append(list(run))
        kept = [r for r in merged if (r[1] - r[0]) / (entity.end - entity.start) > length_ratio]
        if keep == "largest" and kept:
            best = kept[0]
            for run in kept[1:]:
                if run[1] - run[0] > best[1] - best[0]:
                    best = run
            kept = [best]
        runs.extend((number, r[0], r[1]) for r in kept)

    if collisions == "overwrite":
        owner: list[int | None] = [None] * target_length
        for n, (_, s, t) in enumerate(runs):
            for j in range(s, t):
                owner[j] = n
        out = []
        j = 0
        while j < target_length:
            n = owner[j]
            if n is None:
                j += 1
                continue
            k = j
            while k < target_length and owner[k] == n:
                k += 1
            out.append(Span(j, k, entities[runs[n][0]].label))
            j = k
        return out
    order = list(range(len(runs)))
    if collisions == "longer":
        order.sort(key=lambda n: (-(runs[n][2] - runs[n][1]), runs[n][0], runs[n][1]))
    taken = [False] * target_length
    out = []
    for n in order:
        number, s, t = runs[n]
        if not any(taken[s:t]):
            for j in range(s, t):
                taken[j] = True
            out.append(Span(s, t, entities[number].label))
    return sorted(out)


def ngram_candidates(
    target_length: int,
    max_len: int | None = None,
    stop_words: Sequence[str] = ("!", "?"),
    tokens: Sequence[str] | None = None,
    candidates: Iterable[Span | tuple[int, int]] | None = None,
) -> list[tuple[int, int]]:
    """All candidates, sorted by start then end: every n-gram (double loop) or the given ones."""
    if candidates is not None:
        given = {(c.start, c.end) if isinstance(c, Span) else tuple(c) for c in candidates}
        return sorted(given)
    out = []
    for s in range(target_length):
        for t in range(s + 1, target_length + 1):
            if max_len is not None and t - s > max_len:
                continue
            if tokens is not None and any(tok in stop_words for tok in tokens[s:t]):
                continue
            out.append((s, t))
    return out


def ngram_scores(
    spans: Iterable[Span], links: Iterable[Sequence[int]], cands: list[tuple[int, int]]
) -> list[list[float]]:
    """``scores[e][k] = 2 * links / (len(entity) + len(candidate))``, link by link."""
    entities = sorted(spans)
    pairs = _links(links)
    scores = []
    for entity in entities:
        targets = [j for i, j in pairs if entity.start <= i < entity.end]
        row = []
        for s, t in cands:
            n = 0
            for j in targets:
                if s <= j < t:
                    n += 1
            row.append(2 * n / ((entity.end - entity.start) + (t - s)))
        scores.append(row)
    return scores


def ngram_greedy_matches(
    scores: list[list[float]], cands: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Greedy matching: best pair first; ties: lowest entity, leftmost start, shortest."""
    used: set[int] = set()
    blocked = [False] * len(cands)
    taken = []
    while True:
        best = None
        for e, row in enumerate(scores):
            if e in used:
                continue
            for k, score in enumerate(row):
                if blocked[k] or score <= 0:
                    continue
                if best is None or score > scores[best[0]][best[1]]:
                    best = (e, k)
        if best is None:
            return taken
        e, k = best
        taken.append(best)
        used.add(e)
        s, t = cands[k]
        for k2, (s2, t2) in enumerate(cands):
            if s2 < t and t2 > s:
                blocked[k2] = True


def ngram_greedy(
    spans: Iterable[Span],
    links: Iterable[Sequence[int]],
    target_length: int,
    max_len: int | None = None,
    stop_words: Sequence[str] = ("!", "?"),
    tokens: Sequence[str] | None = None,
    candidates: Iterable[Span | tuple[int, int]] | None = None,
) -> list[Span]:
    """N-gram projection with greedy matching, sorted spans."""
    entities = sorted(spans)
    cands = ngram_candidates(target_length, max_len, stop_words, tokens, candidates)
    scores = ngram_scores(entities, links, cands)
    taken = ngram_greedy_matches(scores, cands)
    return sorted(Span(cands[k][0], cands[k][1], entities[e].label) for e, k in taken)


def brute_force_best_total(scores: list[list[float]], cands: list[tuple[int, int]]) -> float:
    """The best total score of any valid matching, by trying them all (tiny instances only)."""
    best = 0.0

    def search(e: int, used: list[tuple[int, int]], total: float) -> None:
        nonlocal best
        if e == len(scores):
            best = max(best, total)
            return
        search(e + 1, used, total)
        for k, (s, t) in enumerate(cands):
            if scores[e][k] > 0 and all(t <= a or s >= b for a, b in used):
                search(e + 1, [*used, (s, t)], total + scores[e][k])

    search(0, [], 0.0)
    return best
