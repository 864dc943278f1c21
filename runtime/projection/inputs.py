"""The validated inputs shared by every projection method, and the entity-to-word link counts.

Projection functions check what they are given and raise ``ValueError`` with a clear message
(an alignment link past the end of the target, an empty span, tokens that do not match the
target length). They know nothing about files: the I/O layer (``check_alignment``) and the CLI
turn such problems into ``FILE:LINE: problem`` errors (:class:`~xner.runtime.errors.InputError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from xner.runtime.data import Alignment, Span

__all__ = ["ProjectionInput", "as_candidates", "as_entities", "as_links"]

AlignmentLike = Alignment | np.ndarray | Iterable[tuple[int, int]]
CandidateLike = Span | tuple[int, int]


def as_links(alignment: AlignmentLike, target_length: int) -> np.ndarray:
    """The alignment as a sorted ``(n, 2)`` int64 array of distinct ``(source, target)`` links.

    Accepts an :class:`Alignment` (all its links, sure and possible: pass ``alignment.sure()``
    to project through sure links only), an ``(n, 2)`` integer array or any iterable of pairs.
    An alignment is a set of links, so a repeated link counts once. Raises ``ValueError`` for
    non-integer values, negative indices or a target index ``>= target_length``.
    """
    raw = alignment.pairs if isinstance(alignment, Alignment) else alignment
    if not isinstance(raw, np.ndarray):
        raw = list(raw)
    arr = np.asarray(raw)
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"alignment links must be integer pairs, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"alignment must be an (n, 2) array of links, got shape {arr.shape}")
    arr = arr.astype(np.int64, copy=False)
    bad = np.flatnonzero((arr < 0).any(axis=1) | (arr[:, 1] >= target_length))
    if bad.size:
        i, j = (int(v) for v in arr[bad[0]])
        if i < 0 or j < 0:
            raise ValueError(f"alignment link {i}-{j} has a negative index")
        raise ValueError(
            f"alignment link {i}-{j} points past the target sentence ({target_length} words)"
        )
    key = np.unique(arr[:, 0] * target_length + arr[:, 1])  # sorted by source, then target
    return np.stack((key // target_length, key % target_length), axis=1)


def as_entities(spans: Iterable[Span]) -> list[Span]:
    """The source entities in source order (sorted by start, end, label); checks each span."""
    entities = list(spans)
    for span in entities:
        if not isinstance(span, Span):
            raise ValueError(f"entities must be Span objects, got {span!r}")
        if span.start < 0 or span.end <= span.start:
            raise ValueError(f"source span {span} is empty or starts before word 0")
    return sorted(entities)


def as_candidates(
    candidates: Iterable[CandidateLike] | np.ndarray, target_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Given target candidates (``Span``, ``(start, end)`` or an ``(n, 2)`` array) as sorted
    distinct start/end arrays.

    Sorted by start, then end (shortest first). Raises ``ValueError`` for a candidate that is empty
    or not inside ``[0, target_length)``, or for non-integer bounds.
    """
    items = candidates if isinstance(candidates, np.ndarray) else list(candidates)
    try:
        arr = np.asarray(items)
    except ValueError:  # ragged: Spans mixed with pairs
        arr = np.asarray(items, dtype=object)
    if arr.dtype == object:
        arr = np.asarray([(c.start, c.end) if isinstance(c, Span) else tuple(c) for c in items])
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError("candidates must be Spans or (start, end) integer pairs")
    arr = arr.astype(np.int64, copy=False)
    bad = np.flatnonzero(
        ~((arr[:, 0] >= 0) & (arr[:, 0] < arr[:, 1]) & (arr[:, 1] <= target_length))
    )
    if bad.size:
        start, end = (int(v) for v in arr[bad[0]])
        raise ValueError(
            f"candidate [{start}, {end}) is empty or outside the target ({target_length} words)"
        )
    key = arr[:, 0] * (target_length + 1) + arr[:, 1]
    if not (key[1:] > key[:-1]).all():  # not already sorted and distinct
        key = np.unique(key)
    return key // (target_length + 1), key % (target_length + 1)


@dataclass
class ProjectionInput:
    """One sentence pair, checked: what every registered projection method receives.

    ``entities`` are the source spans in source order; ``links`` the distinct alignment links
    (``(n, 2)``: source word, target word); ``target_tokens`` the target words when known (the
    n-gram method needs them for stop words); ``candidates`` the given target candidates as
    ``(starts, ends)`` arrays, or None to let a method build its own.
    """

    entities: list[Span]
    links: np.ndarray
    target_length: int
    target_tokens: Sequence[str] | None = None
    candidates: tuple[np.ndarray, np.ndarray] | None = None
    _counts: np.ndarray | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(
        cls,
        spans: Iterable[Span],
        alignment: AlignmentLike,
        target_length: int,
        target_tokens: Sequence[str] | None = None,
        candidates: Iterable[CandidateLike] | np.ndarray | None = None,
    ) -> ProjectionInput:
        """Check and normalise raw inputs (see :func:`as_entities`, :func:`as_links`)."""
        if isinstance(target_length, bool) or int(target_length) != target_length:
            raise ValueError(f"target_length must be an integer, got {target_length!r}")
        target_length = int(target_length)
        if target_length < 0:
            raise ValueError(f"target_length must be >= 0, got {target_length}")
        if target_tokens is not None:
            target_tokens = list(target_tokens)
            if len(target_tokens) != target_length:
                raise ValueError(
                    f"{len(target_tokens)} target tokens given for a target of "
                    f"{target_length} words"
                )
        cands = None if candidates is None else as_candidates(candidates, target_length)
        return cls(
            entities=as_entities(spans),
            links=as_links(alignment, target_length),
            target_length=target_length,
            target_tokens=target_tokens,
            candidates=cands,
        )

    @property
    def entity_lengths(self) -> np.ndarray:
        """Number of words of each entity, ``(E,)`` int64."""
        return np.array([len(e) for e in self.entities], dtype=np.int64)

    def link_counts(self) -> np.ndarray:
        """``(E, T)`` int64: ``[e, j]`` = number of links from a word of entity ``e`` to word ``j``.

        Nested or overlapping source entities each count the links of their own words.
        """
        if self._counts is None:
            n_ent, n_tgt = len(self.entities), self.target_length
            starts = np.array([e.start for e in self.entities], dtype=np.int64)
            ends = np.array([e.end for e in self.entities], dtype=np.int64)
            src, tgt = self.links[:, 0], self.links[:, 1]
            inside = (starts[:, None] <= src[None, :]) & (src[None, :] < ends[:, None])
            rows, cols = np.nonzero(inside)
            flat = np.bincount(rows * n_tgt + tgt[cols], minlength=n_ent * n_tgt)
            self._counts = flat.astype(np.int64).reshape(n_ent, n_tgt)
        return self._counts
