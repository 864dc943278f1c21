"""The shared vocabulary: spans, sentences and alignments.

A sentence is a list of words. An entity is a :class:`Span` ``[start, end)`` over word indices
(0-based, end excluded) with a label such as ``PER``; on disk entities are written as IOB2 tags
(:mod:`xner.runtime.tags`). An :class:`Alignment` is a set of 0-based word links ``(i, j)``,
where ``i`` indexes the side that carries the labels (the source of a projection) and ``j`` the
side that receives them. docs/ARCHITECTURE.md describes these conventions and the layers that
use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """An entity over word indices ``[start, end)`` with its label (``PER``, ``LOC``, ...)."""

    start: int
    end: int
    label: str

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(slots=True)
class Sentence:
    """A sentence as read from a file: its words, optional tags, and where it came from.

    ``line`` is the 1-based line (or record) of the file where the sentence starts; readers set it
    so that later problems can be reported as ``FILE:LINE: problem``.
    """

    tokens: list[str]
    tags: list[str] | None = None
    line: int = 0
    source: str = "<input>"


@dataclass(slots=True)
class Alignment:
    """Word alignment of one sentence pair.

    ``pairs`` is an ``(n, 2)`` integer array of ``(i, j)`` links, 0-indexed, where ``i`` indexes
    the side that carries the labels (the projection source) and ``j`` the receiving side.
    ``possible`` marks links that were written as possible (``ipj``) rather than sure (``i-j``).
    """

    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))
    possible: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    line: int = 0
    source: str = "<input>"

    @classmethod
    def from_pairs(
        cls,
        pairs: Iterable[tuple[int, int]] | np.ndarray,
        possible: Iterable[bool] | np.ndarray | None = None,
        line: int = 0,
        source: str = "<input>",
    ) -> Alignment:
        """Build from any iterable of ``(i, j)`` pairs (``possible``: one flag per pair)."""
        arr = np.asarray(
            list(pairs) if not isinstance(pairs, np.ndarray) else pairs, dtype=np.int64
        )
        arr = arr.reshape(-1, 2)
        poss = (
            np.zeros(len(arr), dtype=bool)
            if possible is None
            else np.asarray(
                list(possible) if not isinstance(possible, np.ndarray) else possible, dtype=bool
            ).reshape(-1)
        )
        return cls(arr, poss, line, source)

    def sure(self) -> np.ndarray:
        """Only the sure links, as an ``(n, 2)`` array."""
        sure: np.ndarray = self.pairs[~self.possible]
        return sure

    def __len__(self) -> int:
        return len(self.pairs)
