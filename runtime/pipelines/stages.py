"""The stages every pipeline is made of, each over the records of a whole chunk.

``translate`` -> ``tokenize`` -> ``tag`` (or gold spans, given when the records are planned) ->
``align`` -> ``project``: each takes the chunk's records
(:class:`~xner.runtime.pipelines.records.Record`) and returns new ones with its part filled in,
running its engine once on every record that still needs it, so that the engines batch.
Translate-test, translate-train and model transfer (:mod:`xner.runtime.pipelines.compose`) are
short sequences of these stages.

**Guarded stages** (:func:`guarded`, the one place failures are isolated). A stage runs its
engine on the whole chunk; when the engine raises, it is run again record by record: the
records that fail on their own get an error (``"translation failed: ..."``) and the others go
on; a record's error stops its whole sentence (a long sentence's other segments included).
Errors that concern every sentence (a bad option, a broken bundle) and programming errors are
never caught. Projection is guarded the same way, catching only the ``ValueError`` of a
sentence whose inputs are out of range.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from xner.runtime.bundles.bundle import BundleError
from xner.runtime.data import Sentence
from xner.runtime.engines.engine_set import Engines
from xner.runtime.errors import ConfigError
from xner.runtime.pipelines.records import Record, live
from xner.runtime.projection import ProjectionItem
from xner.runtime.projection.marked_text import NO_SPACE_SCRIPTS, join_words
from xner.runtime.projection.registry import project_results
from xner.runtime.projection.result import Projected
from xner.runtime.tokenize import word_tokenize

__all__ = [
    "NO_SPACE_SCRIPTS",
    "align",
    "as_sentences",
    "guarded",
    "join_words",
    "keep_confident",
    "project",
    "tag",
    "tokenize",
    "translate",
]

logger = logging.getLogger("xner")

K = TypeVar("K", bound=Hashable)
X = TypeVar("X")
Y = TypeVar("Y")

NO_LINKS = np.zeros((0, 2), dtype=np.int64)
"""The links of a record that was not aligned (it has no entity to project)."""

_NOT_CAUGHT = (ConfigError, BundleError, MemoryError, TypeError, AttributeError, NameError)


# --- inputs ---------------------------------------------------------------------------------------


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


# --- failure isolation ----------------------------------------------------------------------------


def guarded(
    stage: str,
    fn: Callable[[list[X]], list[Y]],
    inputs: Mapping[K, X],
    errors: dict[K, str],
    caught: type[Exception] = Exception,
) -> dict[K, Y]:
    """Apply ``fn`` to all ``inputs`` at once; when it raises ``caught``, to each input alone.

    Returns the outputs by key; the keys whose input fails alone get ``"{stage} failed: ..."``
    in ``errors`` and no output. Any list of items will do (``dict(enumerate(items))``).
    Configuration, bundle and programming errors are never caught.
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
    results: dict[K, Y] = {}
    for k in keys:
        try:
            results[k] = fn([inputs[k]])[0]
        except _NOT_CAUGHT:
            raise
        except caught as error:
            errors[k] = f"{stage} failed: {_one_line(error)}"
    return results


def _stage(
    records: Sequence[Record],
    stage: str,
    fn: Callable[[list[X]], list[Y]],
    take: Callable[[Record], X | None],
    put: Callable[[Record, Y], Record],
    caught: type[Exception] = Exception,
) -> list[Record]:
    """:func:`guarded` ``fn`` over ``take(record)`` of every live record (None: it has nothing
    to do); ``put`` stores an output in its record, failures are stored as its error."""
    inputs = {}
    for i in live(records):
        item = take(records[i])
        if item is not None:
            inputs[i] = item
    errors: dict[int, str] = {}
    outputs = guarded(stage, fn, inputs, errors, caught)
    out = list(records)
    for i, output in outputs.items():
        out[i] = put(out[i], output)
    for i, error in errors.items():
        out[i] = dataclasses.replace(out[i], error=error)
    return out


# --- the stages -----------------------------------------------------------------------------------


def translate(
    records: Sequence[Record],
    engines: Engines,
    src_lang: str,
    tgt_lang: str,
    beam_size: int | None = None,
) -> list[Record]:
    """Translate each record's words (joined as :func:`join_words` does) from ``src_lang``
    into ``tgt_lang`` (NLLB codes; the translator maps them to its own)."""
    translator = engines.translator
    return _stage(
        records,
        "translation",
        lambda texts: translator.translate(texts, src_lang, tgt_lang, beam_size=beam_size),
        lambda record: join_words(record.words, src_lang),
        lambda record, translation: dataclasses.replace(record, translation=translation),
    )


def tokenize(records: Sequence[Record]) -> list[Record]:
    """Split each translation into words; an empty one is the record's error."""
    out = []
    for record in records:
        if record.translation is not None:
            words = [token.text for token in word_tokenize(record.translation.text)]
            error = record.error if words else "the translation is empty"
            record = dataclasses.replace(record, translated=words, error=error)
        out.append(record)
    return out


def tag(records: Sequence[Record], engines: Engines, drop: Collection[str]) -> list[Record]:
    """Tag each record's :attr:`~Record.source_words`; its ``spans``: the entities found,
    minus the labels in ``drop``."""
    return _stage(
        records,
        "tagging",
        engines.tagger.tag,
        lambda record: record.source_words or None,
        lambda record, result: dataclasses.replace(
            record, spans=[s for s in result.spans if s.label not in drop]
        ),
    )


def align(records: Sequence[Record], engines: Engines, method: str | None = None) -> list[Record]:
    """Align the :attr:`~Record.source_words` and :attr:`~Record.target_words` of each record that
    has entities to project (``method``: the aligner's extraction method; None: its own)."""
    return _stage(
        records,
        "alignment",
        lambda pairs: engines.aligner.align(pairs, method=method),
        lambda record: (record.source_words, record.target_words) if record.spans else None,
        lambda record, result: dataclasses.replace(record, links=result.pairs),
    )


def project(
    records: Sequence[Record],
    method: str,
    options: Any,
    engines: Engines | None = None,
    languages: tuple[str, str] | None = None,
    *,
    min_confidence: float = 0.0,
    drop: Collection[str] = (),
) -> list[Record]:
    """Project each live record's entities onto its target words through its links with the
    projection ``method`` (its options dataclass ``options``; ``engines`` for a method that
    needs some; ``languages``: the ``(source, target)`` languages of the records' words, for a
    method that asks a model about them). A record without entities or target words projects
    nothing. ``min_confidence``: spans whose confidence is below it are dropped (0: none is;
    a method that gives no confidences cannot be filtered: :class:`ConfigError`). ``drop``:
    labels no projected span may carry (the pipeline's dropped entity types: the entities
    already lack them, but a method may add spans of its own, as the ensemble's tagger votes)."""
    return _stage(
        records,
        "projection",
        lambda items: project_results(items, method, options, engines),
        lambda record: ProjectionItem(
            record.spans,
            NO_LINKS if record.links is None else record.links,
            len(record.target_words),
            record.target_words,
            None,
            record.source_words,
            languages,
        ),
        lambda record, projected: dataclasses.replace(
            record, projected=_confident(projected.without(drop), method, min_confidence)
        ),
        ValueError,
    )


def keep_confident(records: Sequence[Record], method: str, min_confidence: float) -> list[Record]:
    """The records with the projected spans whose confidence is below ``min_confidence``
    dropped (0: unchanged), for a pipeline whose ``method`` projected them itself (markers);
    :func:`project` does it as it projects."""
    if min_confidence <= 0:
        return list(records)
    return [
        record
        if record.projected is None
        else dataclasses.replace(
            record, projected=_confident(record.projected, method, min_confidence)
        )
        for record in records
    ]


def _confident(projected: Projected, method: str, min_confidence: float) -> Projected:
    """``projected`` without its spans below ``min_confidence``."""
    if min_confidence > 0 and projected.spans and projected.confidences is None:
        raise ConfigError(
            f"projection method {method!r} gives no confidences: --min-confidence cannot apply"
        )
    return projected.above(min_confidence)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
