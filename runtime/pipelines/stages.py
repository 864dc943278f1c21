"""What the pipelines share: input normalisation, guarded engine stages, spacing, projection.

**Guarded stages.** Each pipeline runs its engines on a whole chunk of sentences so that they
batch. When an engine raises on a chunk, the stage is run again sentence by sentence: the
sentences that fail on their own get an error (``"translation failed: ..."``) and the others go
on. Errors that concern every sentence (a bad option, a broken bundle) and programming errors
are never caught. Projection is guarded the same way (:func:`project_chunk`: one batched call
per chunk), catching only the ``ValueError`` of a sentence whose inputs are out of range.

**Long sentences.** A sentence of more than :data:`SEGMENT_WORDS` words or
:data:`SEGMENT_CHARS` characters (a document pasted as one line) is cut into *segments*
(:func:`segment_words`): after sentence-final punctuation, else clause punctuation, else between
any two words (the translator's :data:`~xner.runtime.engines.translator.SPLIT_LEVELS`, read on the
words), never inside a protected span (translate-train's entities). Each segment goes through
translation, tagging, alignment and projection as a sentence of its own, in the same batched
engine calls as the chunk's other sentences (:class:`Segments`), and :func:`join_segments` puts
the pieces back together: one result per input sentence, with its own words one to one. So no
engine ever sees more than one segment at a time, and the alignment's similarity matrices stay
small (the aligner also refuses pairs beyond
:data:`~xner.runtime.engines.aligner.MAX_ALIGN_SUBWORDS`): the memory a sentence needs grows
linearly
with its length. A segment that fails makes its sentence fail (``"words 201-400: ..."``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from xner.runtime.bundles.bundle import BundleError
from xner.runtime.data import Sentence, Span
from xner.runtime.engines.translator import SPLIT_LEVELS, pack_spans
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.languages import get_language
from xner.runtime.projection import Match, ProjectionItem, match_entities_batch, project_batch
from xner.runtime.projection.registry import method_info, resolve_options
from xner.runtime.tokenize import detokenize

logger = logging.getLogger("xner")

X = TypeVar("X")
Y = TypeVar("Y")

NO_SPACE_SCRIPTS = frozenset({"Hans", "Hant", "Jpan", "Thai", "Mymr", "Khmr", "Laoo", "Tibt"})
"""Scripts written without spaces between words: their words are joined with no space before
translation (ISO 15924 codes, as in NLLB language codes such as ``zho_Hans``)."""

SEGMENT_WORDS = 200
"""Most words in one segment of a long sentence. 200 words are about 300 to 500 NLLB pieces
and 300 to 600 mBERT / XLM-R subwords: well inside the translator's 1,024 source positions and
within one or two windows of the 512-position encoders, and the segment's similarity matrix
(its subwords times its translation's) well under the aligner's cap."""

SEGMENT_CHARS = 2000
"""Most characters in one segment (its words joined by single spaces): bounds a segment of long
words (URLs, numbers, text without spaces) the same way."""

_NLLB_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_NOT_CAUGHT = (ConfigError, BundleError, MemoryError, TypeError, AttributeError, NameError)


def script_of(lang: str) -> str | None:
    """The ISO 15924 script of a language code or alias (``zho_Hans`` -> ``Hans``), or None."""
    text = lang.strip()
    if _NLLB_CODE.match(text):
        return text[4:]
    try:
        return get_language(text).script
    except ConfigError:
        return None


def join_words(words: Sequence[str], lang: str) -> str:
    """The text given to the translator: words joined by spaces, or by nothing for a language
    whose script is written without spaces (:data:`NO_SPACE_SCRIPTS`)."""
    return detokenize(words, no_space=script_of(lang) in NO_SPACE_SCRIPTS)


def as_sentences(items: Iterable[Sentence | Sequence[str] | str]) -> Iterator[Sentence]:
    """Sentences from :class:`Sentence` objects, word lists or strings (split on whitespace).

    Items that are not Sentences are numbered from 1 (``line``) and named ``<input>``.
    """
    for number, item in enumerate(items, 1):
        if isinstance(item, Sentence):
            yield item
        elif isinstance(item, str):
            yield Sentence(item.split(), None, number)
        else:
            words = list(item)
            if not all(isinstance(word, str) for word in words):
                raise TypeError(f"sentence {number}: words must be strings, got {words!r}")
            yield Sentence(words, None, number)


def checked_chunk_size(chunk_size: Any) -> int:
    """``chunk_size`` when it is an integer >= 1, else :class:`ConfigError`."""
    if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    return chunk_size


def checked_labels(labels: Collection[str], known: Collection[str], what: str) -> frozenset[str]:
    """``labels`` (a collection or a comma-separated string) checked against ``known``."""
    if isinstance(labels, str):
        labels = labels.split(",")
    wanted = frozenset(label.strip() for label in labels if label.strip())
    for label in sorted(wanted):
        if label not in known:
            raise unknown_choice(what, label, known)
    return wanted


def projection_method(method: str, options: Any) -> tuple[str, Any]:
    """The method name and its options dataclass (checked; a mapping of fields is accepted)."""
    return method, resolve_options(method_info(method), options)


def segment_words(
    words: Sequence[str],
    protect: Iterable[Span] = (),
    *,
    max_words: int = SEGMENT_WORDS,
    max_chars: int = SEGMENT_CHARS,
) -> list[tuple[int, int]]:
    """Word ranges ``[start, end)`` that cut ``words`` into segments of at most ``max_words``
    words and ``max_chars`` characters (words joined by single spaces); ``[]`` for no words.

    One range ``(0, n)`` when the sentence fits. Otherwise cuts fall after sentence-final
    punctuation, then clause punctuation, then between any two words (the translator's
    :data:`~xner.runtime.engines.translator.SPLIT_LEVELS`, matched on the words joined by spaces: a
    cut
    lies where a match ends at the start of a word), and consecutive pieces are packed greedily
    (:func:`~xner.runtime.engines.translator.pack_spans`, the translator's own algorithm). No cut
    falls
    inside a ``protect`` span; a word or protected span longer than a segment forms one alone.
    """
    n = len(words)
    if n == 0:
        return []
    starts = np.zeros(n + 1, dtype=np.int64)  # offset of each word in the joined text, then end
    np.cumsum([len(word) + 1 for word in words], out=starts[1:])

    def fits(a: int, b: int) -> bool:
        return b - a <= max_words and int(starts[b] - starts[a]) - 1 <= max_chars

    if fits(0, n):
        return [(0, n)]
    allowed = np.ones(n + 1, dtype=bool)
    allowed[[0, n]] = False
    for span in protect:
        allowed[max(span.start + 1, 0) : min(span.end, n)] = False
    text = " ".join(words)
    levels = []
    for _, pattern in SPLIT_LEVELS:
        ends = np.fromiter((m.end() for m in pattern.finditer(text)), dtype=np.int64)
        index = np.searchsorted(starts, ends)
        index = index[(index < n) & (starts[np.minimum(index, n)] == ends)]
        levels.append(np.unique(index[allowed[index]]))

    def cuts(level: int, lo: int, hi: int) -> list[int]:
        found = levels[level]
        return found[np.searchsorted(found, lo, "right") : np.searchsorted(found, hi)].tolist()

    spans = pack_spans(0, n, cuts, fits, len(levels), keep_long=True)
    assert spans is not None  # keep_long: never None
    return spans


@dataclass(frozen=True)
class Segments:
    """The segments of a chunk's sentences, numbered across the chunk.

    Segment ``u`` holds the words ``[start[u], end[u])`` of sentence ``owner[u]``; a sentence's
    segments are consecutive and in order (``segments(k)``), an empty sentence has none. The
    pipelines key their stages by segment, so that the segments of every sentence share the
    chunk's batched engine calls.
    """

    owner: list[int]
    start: list[int]
    end: list[int]
    first: list[int]  # first segment of each sentence; one more entry: the total

    @classmethod
    def plan(
        cls, sentences: Sequence[Sentence], protect: Sequence[Iterable[Span]] | None = None
    ) -> Segments:
        """Segments of ``sentences`` (:func:`segment_words`); ``protect``: per sentence, spans
        no cut may fall inside. A sentence cut into several segments is logged (a warning with
        its ``FILE:LINE``)."""
        owner: list[int] = []
        start: list[int] = []
        end: list[int] = []
        first: list[int] = []
        for k, sentence in enumerate(sentences):
            first.append(len(owner))
            ranges = segment_words(sentence.tokens, () if protect is None else protect[k])
            if len(ranges) > 1:
                logger.warning(
                    "%s:%d: %d words, more than %d (or %d characters): processed in %d segments",
                    sentence.source,
                    sentence.line,
                    len(sentence.tokens),
                    SEGMENT_WORDS,
                    SEGMENT_CHARS,
                    len(ranges),
                )
            for a, b in ranges:
                owner.append(k)
                start.append(a)
                end.append(b)
        first.append(len(owner))
        return cls(owner, start, end, first)

    def __len__(self) -> int:
        return len(self.owner)

    def segments(self, k: int) -> range:
        """The segments of sentence ``k``."""
        return range(self.first[k], self.first[k + 1])

    def words(self, u: int, sentences: Sequence[Sentence]) -> list[str]:
        """The words of segment ``u``."""
        return sentences[self.owner[u]].tokens[self.start[u] : self.end[u]]

    def spans(self, u: int, spans: Sequence[Span]) -> list[Span]:
        """The spans of segment ``u``'s sentence that lie in it, shifted to its first word."""
        a, b = self.start[u], self.end[u]
        return [Span(s.start - a, s.end - a, s.label) for s in spans if a <= s.start < b]

    def live(self, items: dict[int, X], errors: dict[int, str]) -> dict[int, X]:
        """The ``items`` of segments whose sentence has no error yet."""
        failed = {self.owner[u] for u in errors}
        return {u: item for u, item in items.items() if self.owner[u] not in failed}

    def sentence_errors(self, errors: dict[int, str]) -> dict[int, str]:
        """The first error of each failed sentence, by sentence; the error of a segment of a
        sentence cut into several names its words (``"words 201-400: ..."``)."""
        out: dict[int, str] = {}
        for u in sorted(errors):
            k = self.owner[u]
            if k in out:
                continue
            cut = len(self.segments(k)) > 1
            where = f"words {self.start[u] + 1}-{self.end[u]}: " if cut else ""
            out[k] = where + errors[u]
        return out


def join_segments(
    pieces: Iterable[tuple[int, int, list[Span], np.ndarray | None, Projection]],
) -> tuple[list[Span], np.ndarray | None, list[Span], list[Match] | None]:
    """One sentence from its segments, in order: each piece is ``(source words, target words,
    source spans, links or None, (projected spans, matches or None))`` of one segment, all
    counted from the segment's start.

    Returns the source spans, the links (None when no segment was aligned), the projected spans
    and the matches (None when no segment has any), each shifted by the source and target
    words of the segments before it; match entity numbers count the earlier segments' spans.
    """
    sources: list[Span] = []
    links: list[np.ndarray] = []
    projected: list[Span] = []
    matches: list[Match] | None = None
    i = j = 0
    for n_source, n_target, spans, pairs, (targets, found) in pieces:
        if pairs is not None:
            links.append(np.asarray(pairs, dtype=np.int64).reshape(-1, 2) + [i, j])
        if found is not None:
            matches = [] if matches is None else matches
            matches += [Match(m.entity + len(sources), _shift(m.span, j), m.score) for m in found]
        sources += [_shift(span, i) for span in spans]
        projected += [_shift(span, j) for span in targets]
        i, j = i + n_source, j + n_target
    joined = np.concatenate(links) if links else None
    return sources, joined, projected, matches


def _shift(span: Span, offset: int) -> Span:
    return span if offset == 0 else Span(span.start + offset, span.end + offset, span.label)


def run_stage(
    stage: str,
    fn: Callable[[list[X]], list[Y]],
    inputs: dict[int, X],
    errors: dict[int, str],
    caught: type[Exception] = Exception,
) -> dict[int, Y]:
    """Apply ``fn`` to all ``inputs`` at once; when it raises ``caught``, to each input alone.

    Returns the outputs by key; the keys whose input fails alone get ``"{stage} failed: ..."``
    in ``errors`` and no output.
    """
    keys = list(inputs)
    if not keys:
        return {}
    try:
        outputs = fn([inputs[k] for k in keys])
        return dict(zip(keys, outputs, strict=True))
    except _NOT_CAUGHT:
        raise
    except caught as error:  # an engine failing on some sentence
        logger.debug("%s failed on a chunk (%s); retrying sentence by sentence", stage, error)
    results: dict[int, Y] = {}
    for k in keys:
        try:
            results[k] = fn([inputs[k]])[0]
        except _NOT_CAUGHT:
            raise
        except caught as error:
            errors[k] = f"{stage} failed: {_one_line(error)}"
    return results


Projection = tuple[list[Span], list[Match] | None]
"""Projected spans and, for ``ngram``, its matches (entity number, span, score), else None."""


def project_all(
    jobs: list[tuple[list[Span], Any, Sequence[str]]], method: str, options: Any
) -> list[Projection]:
    """Project each job ``(spans, pairs, target_tokens)`` (one batched call for all of them).

    A sentence without spans or without target words projects nothing (its pairs are not
    looked at). ``ValueError`` when some sentence's inputs are out of range.
    """
    todo = [k for k, (spans, _, tokens) in enumerate(jobs) if spans and tokens]
    items = [ProjectionItem(*jobs[k][:2], len(jobs[k][2]), jobs[k][2]) for k in todo]
    out: list[Projection] = [([], [] if method == "ngram" else None) for _ in jobs]
    if method == "ngram":
        for k, matches in zip(todo, match_entities_batch(items, options), strict=True):
            out[k] = ([m.span for m in matches], matches)
    else:
        for k, spans in zip(todo, project_batch(items, method, options), strict=True):
            out[k] = (spans, None)
    return out


def project_chunk(
    jobs: dict[int, tuple[list[Span], Any, Sequence[str]]],
    method: str,
    options: Any,
    errors: dict[int, str],
) -> dict[int, Projection]:
    """:func:`project_all` on a chunk, guarded like the engine stages: when a sentence's inputs
    are out of range, each sentence is projected alone and those that fail get
    ``"projection failed: ..."`` in ``errors`` and no output."""
    return run_stage(
        "projection", lambda batch: project_all(batch, method, options), jobs, errors, ValueError
    )


def project_spans(
    spans: list[Span],
    pairs: Any,
    target_tokens: Sequence[str],
    method: str,
    options: Any,
) -> Projection:
    """Project ``spans`` onto ``target_tokens`` through ``pairs`` (one sentence of
    :func:`project_all`); ``ngram`` also gives its matches, other methods None."""
    return project_all([(spans, pairs, target_tokens)], method, options)[0]


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
