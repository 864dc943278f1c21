"""Word alignment quality: precision, recall, F1 and alignment error rate (AER).

Och and Ney (2003): with predicted links ``A``, gold sure links ``S`` and possible links
``P`` (``P`` includes ``S``),

    precision = |A & P| / |A|     recall = |A & S| / |S|
    AER = 1 - (|A & S| + |A & P|) / (|A| + |S|)

Counts are summed over all sentence pairs before dividing (corpus-level, as the WPT shared tasks
and awesome-align's ``calc_aer`` do). Comparing two alignments of the same text (int8 against
fp32) is the special case ``S = P = reference``, where ``AER = 1 - F1``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from xner.runtime.data import Alignment

__all__ = ["AlignmentScores", "Links", "alignment_error_rate", "score_alignments"]

Links = Alignment | np.ndarray | Iterable[tuple[int, int]]
"""One sentence pair's links: an :class:`Alignment` (all its pairs), a ``(k, 2)`` array or pairs."""


@dataclass(frozen=True)
class AlignmentScores:
    """Corpus-level scores and the counts they come from.

    ``predicted`` = ``|A|``, ``sure`` = ``|S|``, ``possible`` = ``|P|`` (sure links included),
    ``sure_hits`` = ``|A & S|``, ``possible_hits`` = ``|A & P|``. A ratio with a zero
    denominator is 0.0 (AER 1.0 when there is nothing to compare).
    """

    precision: float
    recall: float
    f1: float
    aer: float
    predicted: int
    sure: int
    possible: int
    sure_hits: int
    possible_hits: int


def score_alignments(
    predicted: Sequence[Links],
    sure: Sequence[Links],
    possible: Sequence[Links] | None = None,
) -> AlignmentScores:
    """Precision, recall, F1 and AER of ``predicted`` against gold, one entry per sentence pair.

    ``possible`` holds the possible links of each pair, with or without the sure ones (``P`` is
    taken as ``sure | possible``); ``None`` means ``P = S``. Duplicate links count once. For
    gold read with :func:`xner.runtime.alignment.pharaoh.read_alignments` pass ``a.sure()`` as sure
    and
    ``a.pairs`` as possible. F1 is ``2 * precision * recall / (precision + recall)``.
    """
    if len(predicted) != len(sure) or (possible is not None and len(possible) != len(sure)):
        sizes = [len(predicted), len(sure)] + ([] if possible is None else [len(possible)])
        raise ValueError(f"need one entry per sentence pair in every argument, got {sizes}")
    n_a = n_s = n_p = hit_s = hit_p = 0
    for index, links in enumerate(predicted):
        a = _as_set(links)
        s = _as_set(sure[index])
        p = s | (_as_set(possible[index]) if possible is not None else set())
        n_a += len(a)
        n_s += len(s)
        n_p += len(p)
        hit_s += len(a & s)
        hit_p += len(a & p)
    precision = hit_p / n_a if n_a else 0.0
    recall = hit_s / n_s if n_s else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    aer = 1.0 - (hit_s + hit_p) / (n_a + n_s) if n_a + n_s else 1.0
    return AlignmentScores(precision, recall, f1, aer, n_a, n_s, n_p, hit_s, hit_p)


def alignment_error_rate(
    predicted: Sequence[Links],
    sure: Sequence[Links],
    possible: Sequence[Links] | None = None,
) -> float:
    """Corpus-level AER ``1 - (|A & S| + |A & P|) / (|A| + |S|)``; see :func:`score_alignments`."""
    return score_alignments(predicted, sure, possible).aer


def _as_set(links: Links) -> set[tuple[int, int]]:
    raw = links.pairs if isinstance(links, Alignment) else links
    if not isinstance(raw, np.ndarray):
        raw = list(raw)
    arr = np.asarray(raw, dtype=np.int64).reshape(-1, 2)
    return {(i, j) for i, j in arr.tolist()}
