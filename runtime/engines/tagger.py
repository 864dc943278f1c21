"""The NER tagger: a token-classification encoder (XLM-R, mBERT, ...) on ONNX Runtime.

:class:`Tagger` encodes word lists with the bundle's ``tokenizer.json``
(``is_pretokenized=True``), runs the ONNX graph and gives each word the label of its **first
subword** (``aggregation: "first"``, as the paper and transformers' token classification do). The
subword-to-word map comes from the very encoding the model receives (``Encoding.word_ids``).
Labels, tag scheme, pad id, position limit and special tokens are all read from the manifest.

Tags: the model's labels are decoded with the scheme recorded in the bundle (``IOB1`` for the
CoNLL-03 XLM-R taggers, where ``I-PER`` after ``O`` opens an entity) and written in IOB2.

Words without subwords: a word the tokenizer turns into nothing (a lone zero-width character,
an empty string) cannot be seen by the model; it is tagged ``O`` with probability 1 for ``O``
(its logits are 0 for ``O`` and ``-inf`` for the other labels).

Long sentences are never truncated. A sentence with more subwords than fit in one sequence
(``max_length`` minus the special tokens, or the ``window`` knob) is cut at word boundaries into
overlapping windows, each starting about ``stride`` (half a window) subwords after the previous
one; the last window ends at the sentence's end. Each word takes the logits of the window where
it is farthest from a window edge that cuts context (a window edge at the start or end of the
sentence cuts nothing), so every word sees as much context as the model allows on both sides. A
single word with more subwords than a window (a giant URL, say) keeps its first subwords only
(its label comes from the first one anyway); that is logged as a warning.

Batching: the sequences of many sentences (every window of a long one) are grouped by
:func:`xner.runtime.engines.options.length_batches`, padded with the model's ``pad_id`` (XLM-R
computes
positions from ``input_ids != pad_id``, so the padding id matters), run, and split back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xner.runtime.bundles.bundle import Bundle, BundleError
from xner.runtime.data import Span
from xner.runtime.engines.options import (
    ENCODER_INPUTS,
    EngineOptions,
    chunked,
    onnx_session,
    run_encoder,
)
from xner.runtime.errors import ConfigError
from xner.runtime.tags import detect_scheme, normalize_scheme, spans_from_tags, tags_from_spans

__all__ = ["TagResult", "Tagger", "plan_windows"]

logger = logging.getLogger("xner")


@dataclass(frozen=True)
class TagResult:
    """The tags of one sentence.

    ``spans``: the entities (word indices ``[start, end)``). ``tags``: one IOB2 tag per word.
    ``probabilities``: ``[n_words, n_labels]`` float32 softmax of each word's first-subword
    logits, columns in the order of :attr:`Tagger.labels`. ``logits``: the raw logits, same
    shape (a word without subwords has 0 for ``O`` and ``-inf`` elsewhere).
    """

    spans: list[Span]
    tags: list[str]
    probabilities: np.ndarray
    logits: np.ndarray

    def __len__(self) -> int:
        return len(self.tags)


@dataclass
class _Plan:
    """One encoded sentence: where its words' first subwords are in which model sequence."""

    n_words: int
    has_subwords: np.ndarray  # [n_words] bool
    sequence: np.ndarray  # [n_words] index of the model sequence each word reads (-1: none)
    position: np.ndarray  # [n_words] position of its first subword in that sequence


class Tagger:
    """Named entity tagger over the bundle's tagger component (ONNX Runtime + ``tokenizers``).

    ``bundle``: a loaded :class:`~xner.runtime.bundles.bundle.Bundle` or the path of one (loaded
    with
    ``verify``: SHA-256 of every file when true, sizes only when false).
    ``options``: engine settings (:class:`~xner.runtime.engines.options.EngineOptions`); keyword
    ``knobs`` override its fields (``Tagger(b, device="cpu", intra_threads=2)``). Used here:
    ``device``, ``intra_threads``, ``inter_threads``, ``max_batch_size`` (sequences per batch;
    a long sentence gives one per window) and ``max_batch_tokens``; ``compute_type`` is ignored
    (the graph runs as exported, int8 or fp32).
    ``window``: most subwords per model sequence, special tokens excluded (default and maximum:
    the model's ``max_length`` minus its special tokens); longer sentences are windowed.
    ``stride``: subwords between the starts of two windows (default: half a window).

    Attributes: ``labels`` (the model's labels, in logit order), ``scheme`` (their tag scheme),
    ``entity_types``, ``window``, ``stride``, ``settings`` (the manifest's tagger settings).
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str],
        options: EngineOptions | None = None,
        *,
        window: int | None = None,
        stride: int | None = None,
        verify: bool = True,
        **knobs: Any,
    ) -> None:
        from tokenizers import Tokenizer

        self.options = EngineOptions.merge(
            options, knobs, engine="Tagger", own=("window", "stride", "verify")
        )
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, verify=verify)
        component = self.bundle.require("tagger")
        self.settings = s = component.settings
        root = self.bundle.root
        self.labels: list[str] = list(s.labels)
        if "O" not in self.labels:
            raise BundleError(root, [f"tagger labels have no 'O' label: {self.labels}"])
        detect_scheme(self.labels)  # a label that is not a tag -> ConfigError naming it
        self.scheme = normalize_scheme(s.scheme)
        self.entity_types = sorted({label[2:] for label in self.labels if label != "O"})
        self._outside = self.labels.index("O")
        unknown = [name for name in s.inputs if name not in ENCODER_INPUTS]
        if unknown:
            known = ", ".join(ENCODER_INPUTS)
            problem = f"tagger input {unknown[0]!r} is not supported (known: {known})"
            raise BundleError(root, [problem])
        self._dtype = np.dtype(s.input_dtype)
        self.tokenizer = component.load(s.tokenizer, Tokenizer.from_file)
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        specials = self.tokenizer.num_special_tokens_to_add(False) if s.add_special_tokens else 2
        limit = s.max_length - specials
        if limit < 1:
            raise BundleError(root, [f"tagger max_length {s.max_length} is too small"])
        self.window = limit if window is None else _checked("window", window, 1, limit)
        default_stride = max(1, self.window // 2)
        self.stride = (
            default_stride if stride is None else _checked("stride", stride, 1, self.window)
        )
        self.session = component.load(s.model, lambda path: onnx_session(path, self.options))
        outputs = {out.name: out for out in self.session.get_outputs()}
        if s.output not in outputs:
            problem = f"tagger graph has no output {s.output!r} (it has {sorted(outputs)})"
            raise BundleError(root, [problem])
        width = outputs[s.output].shape[-1]
        if isinstance(width, int) and width != len(self.labels):
            problem = f"tagger graph gives {width} logits per token for {len(self.labels)} labels"
            raise BundleError(root, [problem])

    # --- public API -----------------------------------------------------------------------------

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[TagResult]:
        """Tag word-tokenised sentences; one :class:`TagResult` per sentence, in order.

        A sentence given as a string is split on whitespace. An empty sentence gives an empty
        result without running the model.
        """
        return list(self.tag_iter(sentences))

    def tag_iter(
        self, sentences: Iterable[Sequence[str]], chunk_size: int | None = None
    ) -> Iterator[TagResult]:
        """Like :meth:`tag`, but lazily: reads ``chunk_size`` sentences at a time (default
        ``8 * max_batch_size``), batches their sequences together and yields their results."""
        size = chunk_size or 8 * self.options.max_batch_size
        if size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {chunk_size!r}")
        for chunk in chunked(sentences, size):
            yield from self._tag_chunk([_words(sentence) for sentence in chunk])

    # --- internals ------------------------------------------------------------------------------

    def _tag_chunk(self, sentences: list[list[str]]) -> list[TagResult]:
        encodings = iter(
            self.tokenizer.encode_batch(
                [words for words in sentences if words],
                is_pretokenized=True,
                add_special_tokens=self.settings.add_special_tokens,
            )
        )
        sequences: list[np.ndarray] = []
        plans = [
            self._plan(next(encodings), len(words), sequences) if words else None
            for words in sentences
        ]
        logits = self._run(sequences)
        return [self._result(plan, logits) for plan in plans]

    def _plan(self, encoding: Any, n_words: int, sequences: list[np.ndarray]) -> _Plan:
        """Cut one encoded sentence into model sequences (windows if needed); append them."""
        s = self.settings
        ids = np.asarray(encoding.ids, dtype=np.int64)
        word_ids = np.asarray([-1 if w is None else w for w in encoding.word_ids], dtype=np.int64)
        content = np.flatnonzero(word_ids >= 0)
        none = np.full(n_words, -1, dtype=np.int64)
        if not len(content):
            return _Plan(n_words, np.zeros(n_words, dtype=bool), none, none.copy())
        if s.add_special_tokens:
            prefix, suffix = ids[: content[0]], ids[content[-1] + 1 :]
        else:
            prefix = np.asarray([s.cls_id], dtype=np.int64)
            suffix = np.asarray([s.sep_id], dtype=np.int64)
        body, body_words = ids[content], word_ids[content]
        if np.any(np.diff(body_words) < 0):
            raise BundleError(self.bundle.root, ["the tagger tokenizer reorders words"])
        counts = np.bincount(body_words, minlength=n_words)
        starts = np.cumsum(counts) - counts
        windows = plan_windows(counts, self.window, self.stride)
        ranges = [_subword_range(counts, starts, first, end, self.window) for first, end in windows]
        choice = _choose_windows(counts, starts, windows, ranges)
        first_sequence = len(sequences)
        for first, end in ranges:
            sequences.append(np.concatenate([prefix, body[first:end], suffix]))
        if len(windows) > 1:
            logger.debug(
                "tagger: %d subwords > window %d, using %d windows",
                len(body),
                self.window,
                len(windows),
            )
        has = counts > 0
        window_starts = np.asarray([first for first, _ in ranges], dtype=np.int64)
        sequence = np.where(has, first_sequence + choice, -1)
        position = np.where(has, len(prefix) + starts - window_starts[np.maximum(choice, 0)], -1)
        return _Plan(n_words, has, sequence, position)

    def _run(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        """Logits ``[length, n_labels]`` (float32) of every sequence, in order."""
        s = self.settings
        out = run_encoder(
            self.session, sequences, s.inputs, s.output, s.pad_id, self.options, self._dtype
        )
        if out and out[0].shape[-1] != len(self.labels):
            problem = f"tagger graph gave {out[0].shape[-1]} logits for {len(self.labels)}"
            raise BundleError(self.bundle.root, [problem + " labels"])
        return [logits.astype(np.float32, copy=False) for logits in out]

    def _result(self, plan: _Plan | None, states: list[np.ndarray]) -> TagResult:
        """Gather each word's first-subword logits and decode them into tags and spans."""
        n_labels = len(self.labels)
        if plan is None or plan.n_words == 0:
            empty = np.zeros((0, n_labels), dtype=np.float32)
            return TagResult([], [], empty, empty.copy())
        logits = np.full((plan.n_words, n_labels), -np.inf, dtype=np.float32)
        logits[:, self._outside] = 0.0
        for index in np.unique(plan.sequence[plan.has_subwords]).tolist():
            words = np.flatnonzero(plan.sequence == index)
            logits[words] = states[index][plan.position[words]]
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
        raw = [self.labels[k] for k in logits.argmax(axis=1).tolist()]
        spans = spans_from_tags(raw, self.scheme)
        return TagResult(spans, tags_from_spans(spans, plan.n_words, "IOB2"), probabilities, logits)


# --- windows --------------------------------------------------------------------------------------


def plan_windows(
    counts: Sequence[int] | np.ndarray, window: int, stride: int
) -> list[tuple[int, int]]:
    """Word ranges ``[first, end)`` of the windows over a sentence with ``counts`` subwords/word.

    One window ``(0, n)`` when all subwords fit in ``window``. Otherwise windows hold as many
    whole words as fit in ``window`` subwords; each next window starts at the first word at least
    ``stride`` subwords after the previous start (never after the previous window's end, so
    consecutive windows overlap or touch and every word is in one); the last window ends at the
    last word and starts as early as it can. A word longer than ``window`` forms a window alone.
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts)
    ends = np.cumsum(counts)
    starts = ends - counts
    total = int(ends[-1]) if n else 0
    if total <= window:
        return [(0, n)]
    last_start = int(np.searchsorted(starts, total - window, side="left"))
    windows: list[tuple[int, int]] = []
    first = 0
    while True:
        if total - starts[first] <= window:
            windows.append((first, n))
            return windows
        end = max(int(np.searchsorted(ends, starts[first] + window, side="right")), first + 1)
        windows.append((first, end))
        if end >= n:  # the last word is longer than a window
            return windows
        following = int(np.searchsorted(starts, starts[first] + stride, side="left"))
        first = max(first + 1, min(following, last_start, end))


def _subword_range(
    counts: np.ndarray, starts: np.ndarray, first: int, end: int, window: int
) -> tuple[int, int]:
    """Subword range of the words ``[first, end)``, cut to ``window`` (a too long word)."""
    begin = int(starts[first])
    stop = int(starts[end - 1] + counts[end - 1])
    if stop - begin > window:
        logger.warning(
            "word %d has %d subwords, more than the tagger's window of %d: "
            "only its first %d are seen (its label comes from the first)",
            first + 1,
            stop - begin,
            window,
            window,
        )
        stop = begin + window
    return begin, stop


def _choose_windows(
    counts: np.ndarray,
    starts: np.ndarray,
    windows: list[tuple[int, int]],
    ranges: list[tuple[int, int]],
) -> np.ndarray:
    """For each word, the window where it lies farthest from an edge that cuts context."""
    n = len(counts)
    choice = np.zeros(n, dtype=np.int64)
    if len(windows) == 1:
        return choice
    total = int(counts.sum())
    ends = starts + counts
    best = np.full(n, -1.0)  # each window looks at its own words only: linear in the sentence
    for k, ((first, end), (begin, stop)) in enumerate(zip(windows, ranges, strict=True)):
        left = np.inf if begin == 0 else starts[first:end] - begin
        right = np.inf if stop == total else stop - ends[first:end]
        margin = np.broadcast_to(np.maximum(np.minimum(left, right), 0), (end - first,))
        better = first + np.flatnonzero(margin > best[first:end])  # ties: the earlier window
        best[better] = margin[better - first]
        choice[better] = k
    return choice


# --- helpers --------------------------------------------------------------------------------------


def _checked(name: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _words(sentence: Any) -> list[str]:
    if isinstance(sentence, str):
        return sentence.split()
    words = list(sentence)
    if not all(isinstance(word, str) for word in words):
        raise TypeError(f"words must be strings, got {words!r}")
    return words
