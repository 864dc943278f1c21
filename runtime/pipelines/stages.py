"""What the pipelines share: input normalisation, guarded engine stages, spacing, projection.

**Guarded stages.** Each pipeline runs its engines on a whole chunk of sentences so that they
batch. When an engine raises on a chunk, the stage is run again sentence by sentence: the
sentences that fail on their own get an error (``"translation failed: ..."``) and the others go
on. Errors that concern every sentence (a bad option, a broken bundle) and programming errors
are never caught. Projection is guarded the same way (:func:`project_chunk`: one batched call
per chunk), catching only the ``ValueError`` of a sentence whose inputs are out of range.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from xner.runtime.bundle import BundleError
from xner.runtime.data import Sentence, Span
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
