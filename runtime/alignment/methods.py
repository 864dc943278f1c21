"""Word alignment from encoder hidden states: the numeric core of SimAlign and AWESoME, in NumPy.

The :class:`~xner.runtime` aligner feeds the hidden states of one encoder layer for the subwords
of a source and a target sentence (special tokens removed) to :func:`extract_alignment`, which
returns word pairs ``(i, j)``. The methods reproduce their references exactly:

- ``argmax``, ``itermax`` and ``match`` are SimAlign 0.4 (Jalili Sabet et al. 2020,
  ``simalign.SentenceAligner``): similarity ``(cos + 1) / 2`` over subwords, optional distortion,
  then forward-and-backward argmax (``inter``), iterative argmax (``itermax``) or a maximum-weight
  one-to-one matching (``mwmf``). The matching is solved exactly by a shortest-augmenting-path
  (Hungarian / Jonker-Volgenant) assignment written here, so neither networkx nor scipy is needed.
- ``softmax`` is awesome-align's extraction (Dou and Neubig 2021, ``softmax_threshold=0.001``):
  raw dot products, softmax over target subwords and over source subwords, a link where both
  probabilities exceed the threshold.

A word pair is aligned when any of its subword pairs is (as both references aggregate ``bpe``
links). New methods join the registry with :func:`register_method`.

Memory is linear in the cells of one pair's ``m x n`` matrix and nothing grows faster: measured
with ``tracemalloc`` on 2048 x 2048 float32 vectors, ``argmax`` peaks at about 9 bytes a cell,
``itermax`` at 29 (33 with distortion: float64 weights), ``softmax`` at 31 and ``match`` at 22
(its assignment keeps one float64 cost matrix and ``O(m + n)`` vectors; its time grows as
``O(min(m, n)^2 max(m, n))``). The aligner caps both sides
(:data:`~xner.runtime.engines.aligner.MAX_ALIGN_SUBWORDS`, 2048 subwords), so one extraction stays
under
about 160 MiB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from xner.runtime.errors import ConfigError, unknown_choice

__all__ = [
    "AlignmentOptions",
    "AlignmentMethod",
    "apply_distortion",
    "argmax_alignment",
    "available_methods",
    "extract_alignment",
    "get_method",
    "itermax_alignment",
    "linear_assignment",
    "match_alignment",
    "register_method",
    "similarity",
    "softmax_alignment",
    "subword_alignment",
    "word_alignment",
]


# --- similarity and distortion ------------------------------------------------------------------


def similarity(src_vectors: np.ndarray, tgt_vectors: np.ndarray) -> np.ndarray:
    """SimAlign's similarity ``(cos + 1) / 2`` between every source and target vector, ``[m, n]``.

    Computed as scikit-learn's ``cosine_similarity`` does (row L2 norms, norms below ``10 * eps``
    replaced by 1 so that zero vectors get similarity 0.5), in float32 when both inputs are float32
    and in float64 otherwise, so the numbers equal ``SentenceAligner.get_similarity``'s.
    """
    src, tgt = _pair_as_float(src_vectors, tgt_vectors)
    sim: np.ndarray = (_normalize_rows(src) @ _normalize_rows(tgt).T + 1.0) / 2.0
    return sim


def apply_distortion(sim: np.ndarray, ratio: float = 0.0) -> np.ndarray:
    """SimAlign's distortion: scale ``sim[i, j]`` by ``1 - ratio * (j / (n-1) - i / (m-1)) ** 2``.

    ``ratio`` penalises links far from the diagonal (0 turns it off, SimAlign's default; the
    SimAlign paper tried 0.5). Like SimAlign it leaves matrices with a side shorter than 2
    unchanged and returns float64 otherwise.
    """
    m, n = sim.shape
    if m < 2 or n < 2 or ratio == 0.0:
        return sim
    offset = np.arange(n)[None, :] / float(n - 1) - np.arange(m)[:, None] / float(m - 1)
    scaled: np.ndarray = np.multiply(sim, 1.0 - (offset**2) * ratio)
    return scaled


# --- extraction from a similarity matrix --------------------------------------------------------


def argmax_alignment(sim: np.ndarray) -> np.ndarray:
    """Links ``(i, j)`` where ``j`` is row ``i``'s argmax and ``i`` is column ``j``'s argmax.

    SimAlign's ``inter`` (``get_alignment_matrix``, forward times backward); ties go to the first
    index, as ``np.argmax`` breaks them. Returns a boolean ``[m, n]`` matrix.
    """
    sim = np.asarray(sim)
    m, n = sim.shape
    links = np.zeros((m, n), dtype=bool)
    if m == 0 or n == 0:
        return links
    rows = np.arange(m)
    fwd = sim.argmax(axis=1)
    bwd = sim.argmax(axis=0)
    links[rows, fwd] = bwd[fwd] == rows
    return links


def itermax_alignment(sim: np.ndarray, max_count: int = 2, alpha_ratio: float = 0.9) -> np.ndarray:
    """SimAlign's iterative argmax (``iter_max``): argmax links, then extra rounds for the rest.

    ``max_count`` is the total number of rounds including the first argmax (SimAlign: 2, so one
    extra round). Each extra round weights the similarity by ``alpha_ratio`` (SimAlign: 0.9, fixed)
    where exactly one of the row and the column is already aligned, by ``min(1, 2 * alpha_ratio)``
    where neither is, and by 0 where both are; it adds the mutual argmax links of that weighted
    matrix except those whose row and column are both aligned already. It stops early when a round
    adds nothing or every row or every column is aligned, and does no extra round at all when
    ``min(m, n) <= 2``. Returns a boolean ``[m, n]`` matrix.
    """
    sim = np.asarray(sim)
    links = argmax_alignment(sim)
    m, n = sim.shape
    if min(m, n) <= 2:
        return links
    rows = np.arange(m)
    for _ in range(1, max_count):
        free_rows: np.ndarray = ~np.any(links, axis=1)
        free_cols: np.ndarray = ~np.any(links, axis=0)
        if not free_rows.any() or not free_cols.any():
            break
        free_x = free_rows.astype(np.float64)[:, None]
        free_y = free_cols.astype(np.float64)[None, :]
        weights = np.clip(alpha_ratio * free_x + alpha_ratio * free_y, 0.0, 1.0)
        weighted = sim * weights
        fwd = weighted.argmax(axis=1)
        bwd = weighted.argmax(axis=0)
        new = np.zeros((m, n), dtype=bool)
        new[rows, fwd] = bwd[fwd] == rows
        # SimAlign's ``mask_zeros``: never add a link whose row and column are both aligned.
        new &= free_rows[:, None] | free_cols[None, :]
        if not new.any():
            break
        links |= new
    return links


def linear_assignment(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact maximum-weight assignment of ``min(m, n)`` rows to distinct columns.

    Shortest augmenting paths with potentials (the Hungarian method in Jonker-Volgenant form),
    ``O(k^2 * max(m, n))`` with the inner scan over columns vectorised. Returns ``(rows, cols)``
    sorted by row; ``weights`` must be finite.
    """
    w = np.asarray(weights, dtype=np.float64)
    transposed = w.shape[0] > w.shape[1]
    cost = -(w.T if transposed else w)  # k rows <= n columns, minimise
    k, n = cost.shape
    if k == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    u = np.zeros(k + 1)
    v = np.zeros(n + 1)
    owner = np.zeros(n + 1, dtype=np.int64)  # owner[j]: 1-based row holding column j, 0 if free
    way = np.zeros(n + 1, dtype=np.int64)
    for i in range(1, k + 1):
        owner[0] = i
        col = 0
        min_v = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[col] = True
            row = owner[col]
            free = ~used
            free[0] = False
            reduced = cost[row - 1] - u[row] - v[1:]
            better = free[1:] & (reduced < min_v[1:])
            min_v[1:][better] = reduced[better]
            way[1:][better] = col
            candidates = np.where(free, min_v, np.inf)
            nxt = int(candidates.argmin())
            delta = candidates[nxt]
            u[owner[used]] += delta
            v[used] -= delta
            min_v[free] -= delta
            col = nxt
            if owner[col] == 0:
                break
        while col:
            prev = way[col]
            owner[col] = owner[prev]
            col = prev
    taken = np.nonzero(owner[1:])[0]
    a = owner[1:][taken] - 1
    b = taken
    if transposed:
        a, b = b, a
    order = np.argsort(a, kind="stable")
    return a[order].astype(np.int64), b[order].astype(np.int64)


def match_alignment(sim: np.ndarray) -> np.ndarray:
    """SimAlign's ``mwmf``: a maximum-weight one-to-one matching between source and target.

    SimAlign builds a bipartite graph with an edge for every non-zero similarity and takes
    networkx's ``max_weight_matching(maxcardinality=True)``: the heaviest among the matchings with
    the most edges. With no zero entry (always the case for ``(cos + 1) / 2`` of real vectors)
    that is the assignment of all ``min(m, n)`` words of the shorter side maximising the total
    similarity, solved here by :func:`linear_assignment`; exact zeros are treated as missing
    edges, as in SimAlign. Returns a boolean ``[m, n]`` matrix.
    """
    sim = np.asarray(sim)
    links = np.zeros(sim.shape, dtype=bool)
    if sim.size == 0:
        return links
    if not np.isfinite(sim).all():
        raise ValueError("match_alignment needs a finite similarity matrix")
    weights = sim.astype(np.float64)
    edges = weights != 0.0
    if not edges.all():
        # Prefer one more edge over any weight difference, then the heaviest such matching.
        bonus = 2.0 * min(sim.shape) * float(np.abs(weights).max()) + 1.0
        weights = np.where(edges, weights + bonus, 0.0)
    rows, cols = linear_assignment(weights)
    keep = edges[rows, cols]
    links[rows[keep], cols[keep]] = True
    return links


# --- extraction from vectors (AWESoME) ----------------------------------------------------------


def softmax_alignment(
    src_vectors: np.ndarray, tgt_vectors: np.ndarray, threshold: float = 0.001
) -> np.ndarray:
    """awesome-align's ``softmax`` extraction: both directional softmax probabilities > threshold.

    Scores are raw dot products of the hidden states (no normalisation); one softmax runs over the
    target subwords of each source subword, one over the source subwords of each target subword.
    Computed in float64 (awesome-align computes in float32; they differ only for probabilities
    within rounding of the threshold). Returns a boolean ``[m, n]`` matrix.
    """
    src, tgt = _pair_as_float(src_vectors, tgt_vectors, dtype=np.float64)
    scores = src @ tgt.T
    if scores.size == 0:
        return np.zeros(scores.shape, dtype=bool)
    return (_softmax(scores, axis=1) > threshold) & (_softmax(scores, axis=0) > threshold)


# --- subwords to words --------------------------------------------------------------------------


def word_alignment(
    subword_links: np.ndarray,
    src_word_ids: np.ndarray,
    tgt_word_ids: np.ndarray,
    n_src_words: int,
    n_tgt_words: int,
) -> np.ndarray:
    """Word pairs ``(i, j)`` with at least one linked subword pair: a sorted ``(k, 2)`` int64 array.

    ``src_word_ids[a]`` is the word of source subword ``a`` (``0 <= id < n_src_words``), likewise
    for the target. A word without subwords is never aligned (SimAlign does the same).
    """
    links = np.asarray(subword_links, dtype=bool)
    src_ids = _word_ids(src_word_ids, links.shape[0], n_src_words, "source")
    tgt_ids = _word_ids(tgt_word_ids, links.shape[1], n_tgt_words, "target")
    a, b = np.nonzero(links)
    flat = np.unique(src_ids[a] * max(n_tgt_words, 1) + tgt_ids[b])
    return np.stack([flat // max(n_tgt_words, 1), flat % max(n_tgt_words, 1)], axis=1)


# --- registry and entry point -------------------------------------------------------------------


@dataclass(frozen=True)
class AlignmentOptions:
    """Knobs of the extraction methods; each method reads the ones it understands.

    - ``distortion``: SimAlign's distortion ratio for ``argmax``, ``itermax`` and ``match``
      (0 = off, SimAlign's default; must be >= 0). Not defined for ``softmax``: a non-zero
      value with ``softmax`` is a :class:`ConfigError`.
    - ``threshold``: awesome-align's softmax threshold (0.001), in ``[0, 1)``; ``softmax`` only.
    - ``max_count``: rounds of ``itermax`` including the first argmax (2, >= 1).
    - ``alpha_ratio``: ``itermax``'s weight for half-aligned cells (0.9, in ``[0, 1]``).
    """

    distortion: float = 0.0
    threshold: float = 0.001
    max_count: int = 2
    alpha_ratio: float = 0.9

    def __post_init__(self) -> None:
        if not (math.isfinite(self.distortion) and self.distortion >= 0.0):
            raise ConfigError(f"distortion must be a number >= 0, not {self.distortion!r}")
        if not (0.0 <= self.threshold < 1.0):
            raise ConfigError(f"softmax threshold must be in [0, 1), not {self.threshold!r}")
        if int(self.max_count) != self.max_count or self.max_count < 1:
            raise ConfigError(f"itermax max_count must be an integer >= 1, not {self.max_count!r}")
        if not (0.0 <= self.alpha_ratio <= 1.0):
            raise ConfigError(f"itermax alpha_ratio must be in [0, 1], not {self.alpha_ratio!r}")


AlignmentMethod = Callable[[np.ndarray, np.ndarray, AlignmentOptions], np.ndarray]
"""A method maps ``(src_vectors [m, d], tgt_vectors [n, d], options)`` to bool links ``[m, n]``."""

_METHODS: dict[str, AlignmentMethod] = {}


def register_method(name: str) -> Callable[[AlignmentMethod], AlignmentMethod]:
    """Decorator that registers an alignment method under ``name`` (names are unique)."""

    def decorate(func: AlignmentMethod) -> AlignmentMethod:
        if name in _METHODS:
            raise ValueError(f"alignment method {name!r} is already registered")
        _METHODS[name] = func
        return func

    return decorate


def available_methods() -> tuple[str, ...]:
    """The registered method names, sorted."""
    return tuple(sorted(_METHODS))


def get_method(name: str) -> AlignmentMethod:
    """The method registered as ``name``; an unknown name is a ConfigError listing valid ones."""
    try:
        return _METHODS[name]
    except KeyError:
        raise unknown_choice("alignment method", name, _METHODS) from None


def _simalign_sim(src: np.ndarray, tgt: np.ndarray, options: AlignmentOptions) -> np.ndarray:
    return apply_distortion(similarity(src, tgt), options.distortion)


@register_method("argmax")
def _argmax(src: np.ndarray, tgt: np.ndarray, options: AlignmentOptions) -> np.ndarray:
    return argmax_alignment(_simalign_sim(src, tgt, options))


@register_method("itermax")
def _itermax(src: np.ndarray, tgt: np.ndarray, options: AlignmentOptions) -> np.ndarray:
    sim = _simalign_sim(src, tgt, options)
    return itermax_alignment(sim, int(options.max_count), options.alpha_ratio)


@register_method("match")
def _match(src: np.ndarray, tgt: np.ndarray, options: AlignmentOptions) -> np.ndarray:
    return match_alignment(_simalign_sim(src, tgt, options))


@register_method("softmax")
def _softmax_method(src: np.ndarray, tgt: np.ndarray, options: AlignmentOptions) -> np.ndarray:
    if options.distortion != 0.0:
        raise ConfigError(
            "distortion applies to the SimAlign methods (argmax, itermax, match), not softmax"
        )
    return softmax_alignment(src, tgt, options.threshold)


def subword_alignment(
    src_vectors: np.ndarray,
    tgt_vectors: np.ndarray,
    method: str,
    options: AlignmentOptions | None = None,
) -> np.ndarray:
    """Boolean subword links ``[m, n]`` of ``method``; an empty side gives an empty matrix."""
    func = get_method(method)
    options = AlignmentOptions() if options is None else options
    src, tgt = _pair_as_float(src_vectors, tgt_vectors)
    if src.shape[0] == 0 or tgt.shape[0] == 0:
        return np.zeros((src.shape[0], tgt.shape[0]), dtype=bool)
    return func(src, tgt, options)


def extract_alignment(
    src_vectors: np.ndarray,
    tgt_vectors: np.ndarray,
    method: str,
    *,
    src_word_ids: np.ndarray,
    tgt_word_ids: np.ndarray,
    n_src_words: int,
    n_tgt_words: int,
    distortion: float = 0.0,
    threshold: float = 0.001,
    max_count: int = 2,
    alpha_ratio: float = 0.9,
) -> np.ndarray:
    """Word alignment of one sentence pair as a sorted ``(k, 2)`` int64 array of ``(i, j)``.

    ``src_vectors`` ``[m, d]`` and ``tgt_vectors`` ``[n, d]`` are the hidden states of the
    subwords (special tokens removed); ``*_word_ids`` map each subword to its word. ``method`` is a
    registered name (``argmax``, ``itermax``, ``match``, ``softmax``); the remaining knobs are those
    of :class:`AlignmentOptions`.
    """
    options = AlignmentOptions(distortion, threshold, max_count, alpha_ratio)
    links = subword_alignment(src_vectors, tgt_vectors, method, options)
    return word_alignment(links, src_word_ids, tgt_word_ids, n_src_words, n_tgt_words)


# --- helpers ------------------------------------------------------------------------------------


def _pair_as_float(
    src: np.ndarray, tgt: np.ndarray, dtype: type | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Both sides as 2-D float arrays of one dtype (float32 if both are float32, else float64)."""
    src, tgt = np.asarray(src), np.asarray(tgt)
    if src.ndim != 2 or tgt.ndim != 2 or src.shape[1] != tgt.shape[1]:
        raise ValueError(f"need [m, d] and [n, d] vectors, got {src.shape} and {tgt.shape}")
    if dtype is None:
        both32 = src.dtype == np.float32 and tgt.dtype == np.float32
        dtype = np.float32 if both32 else np.float64
    return src.astype(dtype, copy=False), tgt.astype(dtype, copy=False)


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    norms[norms < 10 * np.finfo(norms.dtype).eps] = 1.0
    normalized: np.ndarray = x / norms[:, None]
    return normalized


def _softmax(scores: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=axis, keepdims=True))
    probabilities: np.ndarray = shifted / shifted.sum(axis=axis, keepdims=True)
    return probabilities


def _word_ids(ids: np.ndarray, length: int, n_words: int, side: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.shape != (length,):
        raise ValueError(f"{side} word ids have shape {ids.shape}, expected ({length},)")
    ids = ids.astype(np.int64, copy=False)
    if length and (ids.min() < 0 or ids.max() >= n_words):
        found = f"{ids.min()}..{ids.max()}"
        raise ValueError(f"{side} word ids must lie in [0, {n_words}), got {found}")
    return ids
