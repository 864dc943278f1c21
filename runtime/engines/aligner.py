"""The word aligner: SimAlign / AWESoME on an ONNX encoder cut at its alignment layer.

:class:`Aligner` encodes each side of a sentence pair on its own (as SimAlign does: source and
target are two separate sequences ``[CLS] subwords [SEP]``), runs the bundle's ONNX graph, drops
the special tokens and hands the hidden states to
:func:`xner.runtime.alignment.methods.extract_alignment`. The subword-to-word map comes from the
very encoding the model receives (``Encoding.word_ids``).

Batching: the sequences of many pairs (both sides, and every window of a long side) are grouped
by :func:`xner.runtime.engines.options.length_batches`, padded with the model's ``pad_id``, run,
and split
back per pair.

Memory is bounded: a pair with more than :data:`MAX_ALIGN_SUBWORDS` subwords on a side is
refused with :class:`PairTooLong` (one line, ``FILE:LINE`` in ``xner align``; the pipelines
catch it per sentence), so one similarity matrix holds at most 2048 x 2048 cells (under about
160 MiB during extraction), and a chunk is encoded :data:`GROUP_SUBWORDS` subwords at a time.

Below that, long sentences are never truncated. A side with more subwords than fit in one
sequence (``max_length`` minus the special tokens) is cut into overlapping windows of that size,
half a window apart, the last one ending at the last subword. Each word takes the vectors of all its
subwords from the one window where it lies farthest from a window edge (its nearest subword to
an edge counts), so that every word sees as much context as possible on both sides; a word too
long for any window takes each subword from the window where that subword is farthest from an
edge. Every word with subwords therefore gets vectors and can align.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xner.runtime.alignment.methods import AlignmentOptions, extract_alignment, get_method
from xner.runtime.bundles.bundle import Bundle, BundleError
from xner.runtime.data import Alignment
from xner.runtime.engines.options import (
    ENCODER_INPUTS,
    EngineOptions,
    chunked,
    onnx_session,
    run_encoder,
)
from xner.runtime.errors import ConfigError, XnerError

__all__ = [
    "GROUP_SUBWORDS",
    "MAX_ALIGN_SUBWORDS",
    "Aligner",
    "AlignmentResult",
    "PairTooLong",
]

logger = logging.getLogger("xner")

MAX_ALIGN_SUBWORDS = 2048
"""Most subwords (special tokens excluded) on either side of a pair the aligner accepts. A pair's
similarity matrix has at most 2048 x 2048 = 4,194,304 cells; the extraction methods need at most
about 40 bytes a cell (``itermax``: the float32 similarity, two float64 weight matrices and a few
boolean ones), so one pair's extraction stays under about 160 MiB. A longer pair raises
:class:`PairTooLong`. The pipelines cut long sentences into segments far below it
(:data:`~xner.runtime.pipelines.segments.SEGMENT_WORDS`)."""

GROUP_SUBWORDS = 16384
"""Most subwords (both sides of every pair) whose encoder states are held at once: a chunk of
pairs is encoded and extracted group by group. With windows half a window apart, a long side's
subwords are encoded about twice, so one group's states take at most about
``2 * 16384 * hidden * 4`` bytes (96 MiB for mBERT's 768)."""

WordPair = tuple[Sequence[str], Sequence[str]]


@dataclass(frozen=True)
class AlignmentResult:
    """The alignment of one sentence pair.

    ``pairs``: sorted, unique ``(k, 2)`` int64 array of links ``(i, j)``, ``i`` a source word
    index and ``j`` a target word index (0-indexed). ``method``: the extraction method used.
    """

    pairs: np.ndarray
    method: str

    def __len__(self) -> int:
        return len(self.pairs)

    def to_alignment(self, line: int = 0, source: str = "<input>") -> Alignment:
        """The same links as an :class:`~xner.runtime.data.Alignment` (all sure)."""
        return Alignment.from_pairs(self.pairs, line=line, source=source)


class PairTooLong(XnerError):
    """A sentence pair with more than :data:`MAX_ALIGN_SUBWORDS` subwords on a side.

    ``index``: the pair's 0-based position in the stream given to :meth:`Aligner.align_iter`
    (``xner align`` reports it as ``FILE:LINE: problem``); ``problem``: the message.
    """

    def __init__(
        self, index: int, src_words: int, tgt_words: int, src_subwords: int, tgt_subwords: int
    ) -> None:
        self.index = index
        self.problem = (
            f"sentence too long to align: {src_words} x {tgt_words} words, "
            f"{src_subwords} x {tgt_subwords} subwords (limit {MAX_ALIGN_SUBWORDS} subwords a "
            "side): split it into shorter sentences"
        )
        super().__init__(self.problem)


@dataclass
class _Side:
    """One side of a pair after encoding: its subwords, their words, and its model sequences."""

    word_ids: np.ndarray  # [n] word of each content subword
    sequences: list[int]  # indices into the chunk's sequence list, one per window
    starts: np.ndarray  # [windows] first content subword of each window minus the prefix length
    choice: np.ndarray  # [n] window whose vectors each subword takes


class Aligner:
    """Word aligner over the bundle's aligner component (ONNX Runtime + ``tokenizers``).

    ``bundle``: a loaded :class:`~xner.runtime.bundles.bundle.Bundle` or the path of one (loaded
    with
    ``verify``: SHA-256 of every file when true, sizes only when false).
    ``options``: engine settings (:class:`~xner.runtime.engines.options.EngineOptions`); keyword
    ``knobs`` override its fields (``Aligner(b, device="cpu", intra_threads=2)``). Used here:
    ``device``, ``intra_threads``, ``inter_threads``, ``max_batch_size`` (sequences per batch;
    each pair gives at least two) and ``max_batch_tokens``; ``compute_type`` is ignored (the
    graph runs as exported, int8 or fp32).
    ``method``: default extraction method: ``itermax`` (SimAlign's iterative argmax),
    ``argmax`` (SimAlign's ``inter``), ``match`` (SimAlign's ``mwmf``) or ``softmax``
    (awesome-align). ``distortion``: SimAlign's distortion ratio (0 = off; argmax, itermax and
    match only). ``threshold``: awesome-align's softmax threshold (softmax only).
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str],
        options: EngineOptions | None = None,
        *,
        method: str = "itermax",
        distortion: float = 0.0,
        threshold: float = 0.001,
        verify: bool = True,
        **knobs: Any,
    ) -> None:
        from tokenizers import Tokenizer

        self.options = EngineOptions.merge(
            options, knobs, engine="Aligner", own=("method", "distortion", "threshold", "verify")
        )
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, verify=verify)
        component = self.bundle.require("aligner")
        self.settings = settings = component.settings
        get_method(method)  # unknown -> ConfigError listing the methods
        self.method = method
        self.alignment_options = AlignmentOptions(distortion=distortion, threshold=threshold)
        unknown = [name for name in settings.inputs if name not in ENCODER_INPUTS]
        if unknown:
            known = ", ".join(ENCODER_INPUTS)
            problem = f"aligner input {unknown[0]!r} is not supported (known: {known})"
            raise BundleError(self.bundle.root, [problem])
        self._dtype = np.dtype(settings.input_dtype)
        self.tokenizer = component.load(settings.tokenizer, Tokenizer.from_file)
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.session = component.load(settings.model, lambda path: onnx_session(path, self.options))
        outputs = [out.name for out in self.session.get_outputs()]
        if settings.output not in outputs:
            problem = f"aligner graph has no output {settings.output!r} (it has {outputs})"
            raise BundleError(self.bundle.root, [problem])

    # --- public API -----------------------------------------------------------------------------

    def align(self, pairs: Sequence[WordPair], method: str | None = None) -> list[AlignmentResult]:
        """Align word-tokenised sentence pairs; one :class:`AlignmentResult` per pair, in order.

        Each pair is ``(source_words, target_words)``; a side given as a string is split on
        whitespace. An empty side gives no links. ``method`` overrides the default method.
        """
        return list(self.align_iter(pairs, method=method))

    def align_iter(
        self, pairs: Iterable[WordPair], method: str | None = None, chunk_size: int | None = None
    ) -> Iterator[AlignmentResult]:
        """Like :meth:`align`, but lazily: reads ``chunk_size`` pairs at a time (default
        ``8 * max_batch_size``), batches their sequences together and yields their results."""
        method = self.method if method is None else method
        get_method(method)
        size = chunk_size or 8 * self.options.max_batch_size
        if size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size!r}")
        done = 0
        for chunk in chunked(pairs, size):
            yield from self._align_chunk([_as_pair(pair) for pair in chunk], method, done)
            done += len(chunk)

    # --- internals ------------------------------------------------------------------------------

    def _align_chunk(
        self, pairs: list[tuple[list[str], list[str]]], method: str, first: int = 0
    ) -> list[AlignmentResult]:
        """Align a chunk: encode every side, check the cap, then run the encoder and extract
        group by group (:func:`subword_groups`), so that only one group's hidden states are
        held at a time. ``first``: the position of the chunk's first pair in the stream."""
        sentences = [words for pair in pairs for words in pair]
        encodings = self.tokenizer.encode_batch(
            [words for words in sentences if words],
            is_pretokenized=True,
            add_special_tokens=self.settings.add_special_tokens,
        )
        encoded = iter(encodings)
        sides = [next(encoded) if words else None for words in sentences]
        sizes = np.asarray([_content_length(side) for side in sides], dtype=np.int64).reshape(-1, 2)
        sizes[(sizes == 0).any(axis=1)] = 0  # an empty side: no links, nothing to run
        over = np.flatnonzero(sizes.max(axis=1, initial=0) > MAX_ALIGN_SUBWORDS)
        if len(over):
            k = int(over[0])
            raise PairTooLong(first + k, len(pairs[k][0]), len(pairs[k][1]), *sizes[k].tolist())
        results: list[AlignmentResult] = []
        for group in subword_groups(sizes.sum(axis=1), GROUP_SUBWORDS):
            sequences: list[np.ndarray] = []
            planned = {
                k: (self._plan(sides[2 * k], sequences), self._plan(sides[2 * k + 1], sequences))
                for k in group
                if sizes[k].all()
            }
            states = self._run(sequences)
            for k in group:
                src_side, tgt_side = planned.get(k, (None, None))
                if src_side is None or tgt_side is None:
                    links = np.zeros((0, 2), dtype=np.int64)  # an empty side: no links
                else:
                    links = self._extract(src_side, tgt_side, states, pairs[k], method)
                results.append(AlignmentResult(links, method))
        return results

    def _extract(
        self,
        src_side: _Side,
        tgt_side: _Side,
        states: list[np.ndarray],
        pair: tuple[list[str], list[str]],
        method: str,
    ) -> np.ndarray:
        """Word links of one pair from its sides' hidden states."""
        opts = self.alignment_options
        return extract_alignment(
            self._vectors(src_side, states),
            self._vectors(tgt_side, states),
            method,
            src_word_ids=src_side.word_ids,
            tgt_word_ids=tgt_side.word_ids,
            n_src_words=len(pair[0]),
            n_tgt_words=len(pair[1]),
            distortion=opts.distortion,
            threshold=opts.threshold,
            max_count=opts.max_count,
            alpha_ratio=opts.alpha_ratio,
        )

    def _plan(self, encoding: Any, sequences: list[np.ndarray]) -> _Side:
        """Cut one encoded side into model sequences (windows if needed); append them."""
        ids = np.asarray(encoding.ids, dtype=np.int64)
        word_ids = np.asarray([-1 if w is None else w for w in encoding.word_ids], dtype=np.int64)
        content = np.flatnonzero(word_ids >= 0)
        if not len(content):
            return _Side(word_ids[:0], [], np.zeros(0, dtype=np.int64), word_ids[:0])
        s = self.settings
        if s.add_special_tokens:
            prefix, suffix = ids[: content[0]], ids[content[-1] + 1 :]
        else:
            prefix = np.asarray([s.cls_id], dtype=np.int64)
            suffix = np.asarray([s.sep_id], dtype=np.int64)
        body, word_ids = ids[content[0] : content[-1] + 1], word_ids[content[0] : content[-1] + 1]
        limit = s.max_length - len(prefix) - len(suffix)
        if limit < 1:
            raise BundleError(self.bundle.root, [f"aligner max_length {s.max_length} is too small"])
        starts, choice = window_plan(word_ids, limit)
        if len(starts) > 1:
            logger.debug(
                "aligner: %d subwords > %d, using %d windows", len(body), limit, len(starts)
            )
        first = len(sequences)
        for start in starts.tolist():
            sequences.append(np.concatenate([prefix, body[start : start + limit], suffix]))
        offset = len(prefix)
        return _Side(word_ids, list(range(first, len(sequences))), starts - offset, choice)

    def _run(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        """Hidden states ``[length, hidden]`` of every sequence, in order."""
        s = self.settings
        return run_encoder(
            self.session, sequences, s.inputs, s.output, s.pad_id, self.options, self._dtype
        )

    @staticmethod
    def _vectors(side: _Side, states: list[np.ndarray]) -> np.ndarray:
        """Content subword vectors ``[n, hidden]`` gathered from the side's windows."""
        if len(side.sequences) == 1:
            start = -side.starts[0]
            return states[side.sequences[0]][start : start + len(side.word_ids)]
        positions = np.arange(len(side.word_ids))
        first = states[side.sequences[0]]
        vectors = np.empty((len(positions), first.shape[-1]), dtype=first.dtype)
        for w, (seq, start) in enumerate(zip(side.sequences, side.starts.tolist(), strict=True)):
            take = positions[side.choice == w]
            vectors[take] = states[seq][take - start]
        return vectors


def window_plan(word_ids: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows over ``n`` subwords and the window each subword takes its vector from.

    Returns ``(starts, choice)``: windows ``[start, start + limit)`` half a window apart (the last
    ends at ``n``; a single window ``[0]`` when ``n <= limit``), and for each subword the index
    of its window: the one where its word is farthest from an edge (subwords of a word stay
    together), or, for a word longer than ``limit``, where the subword itself is.
    ``word_ids`` must be grouped (a word's subwords contiguous).
    """
    n = len(word_ids)
    if n <= limit:
        return np.zeros(1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    stride = max(1, limit // 2)
    starts = np.unique(np.append(np.arange(0, n - limit, stride), n - limit)).astype(np.int64)
    pos = np.arange(n)[None, :]
    begin = starts[:, None]
    inside = (pos >= begin) & (pos < begin + limit)
    margin = np.where(inside, np.minimum(pos - begin, begin + limit - 1 - pos), -1)
    new_word = np.r_[True, word_ids[1:] != word_ids[:-1]]
    segment = np.cumsum(new_word) - 1
    word_margin = np.minimum.reduceat(margin, np.flatnonzero(new_word), axis=1)
    best = word_margin.argmax(axis=0)[segment]
    fits = (word_margin.max(axis=0) >= 0)[segment]
    return starts, np.where(fits, best, margin.argmax(axis=0))


def subword_groups(sizes: Sequence[int] | np.ndarray, budget: int) -> list[list[int]]:
    """Consecutive groups of pair indices whose ``sizes`` (subwords) add up to at most
    ``budget``; a pair larger than the budget forms a group alone. Pairs of size 0 join any."""
    groups: list[list[int]] = []
    total = budget + 1  # start a new group at the first pair
    for k, size in enumerate(np.asarray(sizes, dtype=np.int64).tolist()):
        if total + size > budget:
            groups.append([])
            total = 0
        groups[-1].append(k)
        total += size
    return groups


def _content_length(encoding: Any) -> int:
    """Subwords of an encoding that belong to a word (special tokens excluded); 0 for None."""
    if encoding is None:
        return 0
    return sum(word is not None for word in encoding.word_ids)


# --- helpers --------------------------------------------------------------------------------------


def _as_pair(pair: Any) -> tuple[list[str], list[str]]:
    try:
        src, tgt = pair
    except (TypeError, ValueError):
        raise TypeError(f"expected a (source_words, target_words) pair, got {pair!r}") from None
    return _words(src), _words(tgt)


def _words(side: Any) -> list[str]:
    if isinstance(side, str):
        return side.split()
    words = list(side)
    if not all(isinstance(word, str) for word in words):
        raise TypeError(f"words must be strings, got {words!r}")
    return words
