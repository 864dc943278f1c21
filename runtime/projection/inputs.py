"""The validated inputs shared by every projection method: a batch of sentence pairs.

Projection works on batches, so that its NumPy operations run once over many short sentences
instead of once per sentence. :meth:`ProjectionBatch.build` checks and concatenates a list of
:class:`ProjectionItem`: target words are numbered across the batch (word ``j`` of sentence ``s``
is *position* ``target_offsets[s] + j``), entities too (sentence by sentence, in source order),
and the alignment links are reduced to what every method uses, the distinct target positions
each entity links to, with how many links.

Checks raise ``ValueError`` with a clear message (an alignment link past the end of the target,
an empty span, tokens that do not match the target length); in a batch of several sentences the
message starts with the sentence's number in the batch. They know nothing about files: the I/O
layer (``check_alignment``) and the CLI turn such problems into ``FILE:LINE: problem`` errors
(:class:`~xner.runtime.errors.InputError`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, pairwise, repeat
from operator import attrgetter, is_
from typing import Any, NamedTuple

import numpy as np

from xner.runtime.data import Alignment, Span

__all__ = ["ProjectionBatch", "ProjectionItem", "ranges"]

AlignmentLike = Alignment | np.ndarray | Iterable[tuple[int, int]]
CandidateLike = Span | tuple[int, int]

_START, _END, _LABEL = attrgetter("start"), attrgetter("end"), attrgetter("label")
_EMPTY = np.zeros(0, dtype=np.int64)


class ProjectionItem(NamedTuple):
    """One sentence pair to project (any tuple of 3 to 7 of these fields will do).

    ``spans``: source entities (:class:`~xner.runtime.data.Span`, ``[start, end)`` over source
    words). ``alignment``: ``(source word, target word)`` links, as an :class:`Alignment` (all
    its links, sure and possible: pass ``alignment.sure()`` to project through sure links only),
    an ``(n, 2)`` integer array or pairs; a repeated link counts once. ``target_length``: number
    of target words. ``target_tokens``: the target words, when known. ``candidates``: target
    spans (``Span``, ``(start, end)`` or an ``(n, 2)`` array) to match against, or None.
    ``source_tokens``: the source words, when known. ``languages``: the ``(source, target)``
    languages of the pair (NLLB codes), when known. Methods that read the words or ask a model
    about them need these (the ``nmt`` score of ``ngram``); the others ignore them.
    """

    spans: Iterable[Span]
    alignment: AlignmentLike
    target_length: int
    target_tokens: Sequence[str] | None = None
    candidates: Iterable[CandidateLike] | np.ndarray | None = None
    source_tokens: Sequence[str] | None = None
    languages: tuple[str, str] | None = None


@dataclass
class ProjectionBatch:
    """Sentence pairs, checked and concatenated: what every registered projection method gets.

    ``target_offsets``: ``(S + 1,)`` first position of each sentence (and the total).
    ``entity_offsets``: ``(S + 1,)`` first entity of each sentence; ``entity_sentence``,
    ``entity_starts``, ``entity_ends`` (source words) and ``labels``: one per entity, in source
    order (sorted by start, end, label) within each sentence. ``link_entity``,
    ``link_position``, ``link_count``: the distinct (entity, target position) pairs joined by
    alignment links, sorted by entity then position, and the number of links joining them
    (nested or overlapping entities each count the links of their own words).
    ``target_tokens``: each sentence's target words or None. ``candidates``: the given target
    candidates as sorted distinct ``(start, end)`` position arrays, or None when no sentence
    gave any; ``given`` marks the sentences that gave candidates. ``source_tokens`` and
    ``languages``: each sentence's, as given (None: unknown). ``word_links``: the links as given,
    ``(links per sentence, (n, 2) (source word, target word) array)`` (a repeated link may
    appear twice), for methods that need the source word of each link.
    """

    target_lengths: np.ndarray
    target_offsets: np.ndarray
    entity_offsets: np.ndarray
    entity_sentence: np.ndarray
    entity_starts: np.ndarray
    entity_ends: np.ndarray
    labels: list[str]
    link_entity: np.ndarray
    link_position: np.ndarray
    link_count: np.ndarray
    target_tokens: list[Sequence[str] | None]
    candidates: tuple[np.ndarray, np.ndarray] | None = None
    given: np.ndarray | None = None
    source_tokens: list[Sequence[str] | None] = field(default_factory=list)
    languages: list[tuple[str, str] | None] = field(default_factory=list)
    word_links: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def build(cls, items: Iterable[ProjectionItem | Sequence[Any]]) -> ProjectionBatch:
        """Check and concatenate ``items`` (see :class:`ProjectionItem`)."""
        spans, alignments, lengths, tokens, candidates, sources, languages = _columns(list(items))
        size = len(lengths)
        target_lengths = _target_lengths(lengths)
        offsets = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(target_lengths, out=offsets[1:])
        tokens = _checked_tokens(tokens, target_lengths)
        given, cands = None, None
        if not _all_none(candidates):
            given = np.array([c is not None for c in candidates], dtype=bool)
            cands = _candidates(candidates, target_lengths, offsets)
        entity_sentence, starts, ends, labels = _entities(spans)
        entity_offsets = np.searchsorted(entity_sentence, np.arange(size + 1))
        word_links = _links(alignments, target_lengths)
        ent, pos, cnt = _entity_links(word_links, offsets, entity_sentence, starts, ends)
        return cls(
            target_lengths=target_lengths,
            target_offsets=offsets,
            entity_offsets=entity_offsets,
            entity_sentence=entity_sentence,
            entity_starts=starts,
            entity_ends=ends,
            labels=labels,
            link_entity=ent,
            link_position=pos,
            link_count=cnt,
            target_tokens=tokens,
            candidates=cands,
            given=given,
            source_tokens=sources,
            languages=languages,
            word_links=word_links,
        )

    @property
    def size(self) -> int:
        """Number of sentences."""
        return self.target_lengths.size

    @property
    def positions(self) -> int:
        """Number of target positions (words of all target sentences)."""
        return int(self.target_offsets[-1])

    @property
    def entity_lengths(self) -> np.ndarray:
        """Number of words of each entity, ``(E,)`` int64."""
        lengths: np.ndarray = self.entity_ends - self.entity_starts
        return lengths

    def with_candidates(
        self, candidates: Sequence[Iterable[CandidateLike] | np.ndarray | None]
    ) -> ProjectionBatch:
        """This batch with other candidates (one list, or None, per sentence, as in
        :class:`ProjectionItem`), checked the same way."""
        if len(candidates) != self.size:
            raise ValueError(f"{len(candidates)} candidate lists for {self.size} sentences")
        given, cands = None, None
        if not _all_none(list(candidates)):
            given = np.array([c is not None for c in candidates], dtype=bool)
            cands = _candidates(list(candidates), self.target_lengths, self.target_offsets)
        return dataclasses.replace(self, candidates=cands, given=given)

    def spans(self, entity: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[list[Span]]:
        """Target spans ``[start, end)`` (positions, sorted) labelled as ``entity``, by sentence."""
        return self.by_sentence(self.span_list(entity, start, end), entity)

    def span_list(self, entity: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[Span]:
        """The spans of :meth:`spans`, in one list, with word numbers of their own sentence."""
        shift = self.target_offsets[self.entity_sentence[entity]]
        labels = map(self.labels.__getitem__, entity.tolist())
        return list(map(Span, (start - shift).tolist(), (end - shift).tolist(), labels))

    def by_sentence(self, values: list[Any], entity: np.ndarray) -> list[list[Any]]:
        """``values`` (one per ``entity``, ordered by sentence) as one list per sentence."""
        bounds = np.searchsorted(self.entity_sentence[entity], np.arange(self.size + 1)).tolist()
        return [values[a:b] for a, b in pairwise(bounds)]


def ranges(start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The integer ranges ``[start[i], start[i] + count[i])``, one after the other."""
    out: np.ndarray = np.arange(int(count.sum())) + np.repeat(
        start - (np.cumsum(count) - count), count
    )
    return out


def _all_none(values: list[Any]) -> bool:
    """Whether every value is None (by identity: values may be arrays)."""
    return all(map(is_, values, repeat(None)))


def _problem(index: int, size: int, message: str) -> ValueError:
    """The error for sentence ``index`` of a batch of ``size``."""
    return ValueError(message if size == 1 else f"sentence {index} of the batch: {message}")


def _columns(items: list[Any]) -> tuple[list[Any], ...]:
    """The seven fields of :class:`ProjectionItem` as columns (missing trailing fields: None)."""
    width = len(ProjectionItem._fields)
    if not items:
        return tuple([] for _ in range(width))
    sizes = set(map(len, items))
    if not sizes <= set(range(3, width + 1)):
        raise ValueError("a projection item holds spans, alignment, target_length[, ...]")
    if len(sizes) > 1:
        items = [(*item, *(None,) * (width - len(item))) for item in items]
    columns = list(map(list, zip(*items, strict=True)))
    return (*columns, *([None] * len(items) for _ in range(width - len(columns))))


def _target_lengths(values: list[Any]) -> np.ndarray:
    """The target lengths as an int64 array; each must be an integer >= 0."""
    if not set(map(type, values)) <= {int}:
        for k, value in enumerate(values):
            if isinstance(value, bool) or int(value) != value:
                raise _problem(k, len(values), f"target_length must be an integer, got {value!r}")
        values = [int(value) for value in values]
    lengths = np.array(values, dtype=np.int64)
    if lengths.size and lengths.min() < 0:
        k = int(np.flatnonzero(lengths < 0)[0])
        raise _problem(k, len(values), f"target_length must be >= 0, got {values[k]}")
    return lengths


def _checked_tokens(tokens: list[Any], lengths: np.ndarray) -> list[Sequence[str] | None]:
    """Each sentence's target tokens (None: unknown); their number must be the target length."""
    if _all_none(tokens):
        return tokens
    for k, words in enumerate(tokens):
        if words is None:
            continue
        if not isinstance(words, (list, tuple)):
            tokens[k] = words = list(words)
        if len(words) != lengths[k]:
            raise _problem(
                k,
                len(tokens),
                f"{len(words)} target tokens given for a target of {lengths[k]} words",
            )
    return tokens


def _entities(spans: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The sentence of each entity and their starts, ends and labels, sorted within sentences.

    Every entity must be a non-empty :class:`Span` that starts at word 0 or later.
    """
    lists = [s if type(s) is list else list(s) for s in spans]
    counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    flat = list(chain.from_iterable(lists))
    sentence = np.repeat(np.arange(len(lists), dtype=np.int64), counts)
    if not set(map(type, flat)) <= {Span}:
        for n, span in enumerate(flat):
            if not isinstance(span, Span):
                message = f"entities must be Span objects, got {span!r}"
                raise _problem(int(sentence[n]), len(lists), message)
    starts = np.fromiter(map(_START, flat), dtype=np.int64, count=len(flat))
    ends = np.fromiter(map(_END, flat), dtype=np.int64, count=len(flat))
    bad = np.flatnonzero((starts < 0) | (ends <= starts))
    if bad.size:
        n = int(bad[0])
        message = f"source span {flat[n]} is empty or starts before word 0"
        raise _problem(int(sentence[n]), len(lists), message)
    later = (starts[1:] > starts[:-1]) | ((starts[1:] == starts[:-1]) & (ends[1:] > ends[:-1]))
    unsorted = ~later & (sentence[1:] == sentence[:-1])
    if unsorted.any():  # rare: sort those sentences as Spans sort (start, end, label)
        for k in set(sentence[1:][unsorted].tolist()):
            lists[k] = sorted(lists[k])
        flat = list(chain.from_iterable(lists))
        starts = np.fromiter(map(_START, flat), dtype=np.int64, count=len(flat))
        ends = np.fromiter(map(_END, flat), dtype=np.int64, count=len(flat))
    return sentence, starts, ends, list(map(_LABEL, flat))


def _link_array(raw: Any, index: int, size: int) -> np.ndarray:
    """One sentence's links as an ``(n, 2)`` int64 array (an empty input gives no links)."""
    arr = np.asarray(raw if isinstance(raw, np.ndarray) else list(raw))
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.dtype.kind not in "iu":
        message = f"alignment links must be integer pairs, got dtype {arr.dtype}"
        raise _problem(index, size, message)
    if arr.ndim != 2 or arr.shape[1] != 2:
        message = f"alignment must be an (n, 2) array of links, got shape {arr.shape}"
        raise _problem(index, size, message)
    return arr.astype(np.int64, copy=False)


def _links(alignments: list[Any], lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All links as ``(links per sentence, (n, 2) links)``; each must lie inside its target."""
    size = len(alignments)
    raws = alignments
    if set(map(type, raws)) != {np.ndarray}:
        raws = [a.pairs if isinstance(a, Alignment) else a for a in raws]
    arr = None
    if size and set(map(type, raws)) == {np.ndarray}:  # fast path: one concatenation
        try:
            arr = np.concatenate(raws)
        except ValueError:
            arr = None
        if arr is not None and (arr.ndim != 2 or arr.shape[1] != 2 or arr.dtype.kind not in "iu"):
            arr = None
    if arr is None:
        raws = [_link_array(raw, k, size) for k, raw in enumerate(raws)]
        arr = np.concatenate(raws) if raws else np.zeros((0, 2), dtype=np.int64)
    arr = arr.astype(np.int64, copy=False)
    counts = np.fromiter(map(len, raws), dtype=np.int64, count=size)
    if arr.size and (arr.min() < 0 or (arr[:, 1] >= np.repeat(lengths, counts)).any()):
        bad = (arr < 0).any(axis=1) | (arr[:, 1] >= np.repeat(lengths, counts))
        n = int(np.flatnonzero(bad)[0])
        k = int(np.searchsorted(np.cumsum(counts), n, side="right"))
        i, j = arr[n].tolist()
        if i < 0 or j < 0:
            raise _problem(k, size, f"alignment link {i}-{j} has a negative index")
        message = f"alignment link {i}-{j} points past the target sentence ({lengths[k]} words)"
        raise _problem(k, size, message)
    return counts, arr


def _entity_links(
    links: tuple[np.ndarray, np.ndarray],
    offsets: np.ndarray,
    entity_sentence: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (entity, target position) pairs joined by links, sorted, with their link counts.

    Links are sorted once by (sentence, source word, target position) through one int64 key (a
    source word past every entity's end cannot touch one: it is clipped, which keeps the key
    small); each entity's links are then one range of them, found by binary search.
    """
    counts, arr = links
    if entity_sentence.size == 0 or arr.size == 0:
        return _EMPTY, _EMPTY, _EMPTY
    n_src, n_pos = int(ends.max()) + 1, int(offsets[-1])
    if offsets.size * n_src * n_pos >= 2**62:
        raise ValueError(f"a source span ends at word {n_src - 1}: too far to project")
    base = np.repeat(
        np.arange(counts.size, dtype=np.int64) * (n_src * n_pos) + offsets[:-1], counts
    )
    key = _sorted_distinct(base + np.minimum(arr[:, 0], n_src - 1) * n_pos + arr[:, 1])
    base = entity_sentence * n_src
    lo = np.searchsorted(key, (base + starts) * n_pos)
    hi = np.searchsorted(key, (base + ends) * n_pos)
    ent = np.repeat(np.arange(starts.size, dtype=np.int64), hi - lo)
    pair = np.sort(ent * n_pos + key[ranges(lo, hi - lo)] % n_pos, kind="stable")
    total = pair.size
    head = np.ones(total, dtype=bool)
    np.not_equal(pair[1:], pair[:-1], out=head[1:])
    first = np.flatnonzero(head)
    count = np.diff(first, append=total)
    pair = pair[first]
    return pair // n_pos, pair % n_pos, count


def _candidates(
    candidates: list[Any], lengths: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The given candidates as sorted distinct (start, end) positions; each must be a non-empty
    span inside its target."""
    size = len(candidates)
    arrays, owners = [], []
    for k, given in enumerate(candidates):
        if given is None:
            continue
        arrays.append(_candidate_array(given, k, size))
        owners.append(k)
    counts = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    sentence = np.repeat(np.array(owners, dtype=np.int64), counts)
    arr = np.concatenate(arrays)
    start, end = arr[:, 0], arr[:, 1]
    bad = np.flatnonzero(~((start >= 0) & (start < end) & (end <= lengths[sentence])))
    if bad.size:
        n = int(bad[0])
        k, (s, t) = int(sentence[n]), arr[n].tolist()
        message = f"candidate [{s}, {t}) is empty or outside the target ({lengths[k]} words)"
        raise _problem(k, size, message)
    width = int(offsets[-1]) + 1
    key = _sorted_distinct((start + offsets[sentence]) * width + end + offsets[sentence])
    return key // width, key % width


def _sorted_distinct(key: np.ndarray) -> np.ndarray:
    """``np.unique(key)``, by a stable sort: fast on the nearly sorted keys inputs give."""
    key = np.sort(key, kind="stable")
    distinct = np.ones(key.size, dtype=bool)
    np.not_equal(key[1:], key[:-1], out=distinct[1:])
    return key[distinct]


def _candidate_array(given: Any, index: int, size: int) -> np.ndarray:
    """One sentence's candidates (Spans, pairs or an array) as an ``(n, 2)`` int64 array."""
    items = given if isinstance(given, np.ndarray) else list(given)
    try:
        arr = np.asarray(items)
    except ValueError:  # ragged: Spans mixed with pairs
        arr = np.asarray(items, dtype=object)
    if arr.dtype == object:
        arr = np.asarray([(c.start, c.end) if isinstance(c, Span) else tuple(c) for c in items])
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.shape[1] != 2:
        raise _problem(index, size, "candidates must be Spans or (start, end) integer pairs")
    return arr.astype(np.int64, copy=False)
