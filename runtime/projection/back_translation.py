"""Back-translation refinement: ``--method back-translation``.

The source entities are projected through a second translation instead of the given alignment
alone. For every sentence pair of a batch (source words with entities, target words, and the
``(source, target)`` languages):

1. **Marked back-translation** (one batched translator call per language pair): the source
   words with ``[`` and ``]`` around each entity (``[ Buhari ] arrived in [ Abuja ] .``) are
   translated into the *target's* language. In translate-test the source is the English
   translation of the original sentence, so this translates it back; in translate-train it
   translates the labelled sentence a second time, marked. The same call translates each entity
   text alone for the sentences whose entities have several labels (needed to tell the marked
   pieces apart).
2. **Reading the markers** (:func:`~xner.runtime.projection.marked_text.read_markers`,
   :func:`~xner.runtime.projection.marked_text.assign_labels`): the markers are kept when they
   are well formed and mark as many pieces as there are entities; each piece takes its entity
   in order (one entity, or one label), else by its text: exact, then fuzzy (``difflib`` ratio
   above 0.5 against the entity's source text and its separate translation), best match first;
   every piece must match its entity so (a piece matching none, as a duplicated marker's, makes
   the markers unreadable).
3. **Alignment** (one batched aligner call): the back-translation's words with the target words
   (both in the target's language), with the aligner's own extraction method (the translator's
   own beam size above).
4. **Projection**: the marked pieces, labelled, are projected onto the target words through that
   alignment by ``back_translation_with`` (``heuristic`` by default, or ``ngram``, ...).

A sentence whose markers cannot be read (lost, duplicated, unbalanced, or pieces that match no
entity), whose entities overlap or whose source words hold a bracket is projected by the same
method through the *given* alignment instead, as if back-translation had not been asked for.
A span's confidence (and its origin, the source entity's number) is the inner method's. The
method pairs no entity with a span (``matches`` is None). An engine failing on the batch is a
``ValueError`` (the pipelines then retry sentence by sentence and record the error on the
sentence that fails alone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from xner.runtime.bundles.bundle import BundleError
from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.projection.inputs import ProjectionBatch, ProjectionItem
from xner.runtime.projection.marked_text import (
    FUZZY_RATIO,
    MarkedText,
    assign_labels,
    has_brackets,
    join_words,
    mark_words,
    read_markers,
    written_without_spaces,
)
from xner.runtime.projection.registry import (
    EngineAccess,
    MethodInfo,
    available_methods,
    available_variants,
    method_info,
    option,
    project_results,
    register_method,
    resolve_method,
)
from xner.runtime.projection.result import Projected

__all__ = ["BACK_TRANSLATION", "BackTranslationOptions", "back_translation", "inner_methods"]

logger = logging.getLogger("xner")

BACK_TRANSLATION = "back-translation"

T = TypeVar("T")

_NOT_CAUGHT = (ConfigError, BundleError, MemoryError, TypeError, AttributeError, NameError)


def inner_methods() -> tuple[str, ...]:
    """The methods and variants that can project through the back-translation: every
    registered one that projects given pairs through an alignment alone."""
    methods = [name for name in available_methods() if _can_project(method_info(name))]
    variants = [name for name in available_variants() if resolve_method(name)[0] in methods]
    return (*methods, *variants)


def _can_project(info: MethodInfo) -> bool:
    """Not a translating method (markers), not one that labels alone (an ensemble), not this."""
    return not (info.translates or info.labels_alone or info.name == BACK_TRANSLATION)


@dataclass(frozen=True)
class BackTranslationOptions:
    """Knobs of the back-translation method (see the module docstring).

    ``back_translation_with``: the method (or variant) that projects the marked pieces through
    the back-translation's alignment, and the sentences whose markers are lost through the given
    alignment (:func:`inner_methods`). ``inner_options``: that method's options (its options
    dataclass or a mapping of its fields; None: its defaults), resolved when the options are
    made.
    """

    back_translation_with: str = option(
        "heuristic",
        help="the method that projects through the back-translation (heuristic, ngram, ...).",
    )
    inner_options: Any = option(None, cli=False, help="that method's options.")

    def __post_init__(self) -> None:
        what = "projection method of back-translation"
        name = self.back_translation_with
        if name not in (*available_methods(), *available_variants()):
            raise unknown_choice(what, str(name), inner_methods())
        base, options = resolve_method(name, self.inner_options)
        if not _can_project(method_info(base)):
            raise unknown_choice(what, str(name), inner_methods())
        object.__setattr__(self, "inner_options", options)


def _needs(options: BackTranslationOptions) -> tuple[str, ...]:
    """The translator, the aligner and what the inner method needs."""
    base, inner_options = resolve_method(options.back_translation_with, options.inner_options)
    return tuple(dict.fromkeys(("translator", "aligner", *method_info(base).needed(inner_options))))


@dataclass(frozen=True)
class _Sentence:
    """One sentence pair of the batch: its entities (source order), words and languages."""

    entities: list[Span]
    source: Sequence[str]
    target: Sequence[str]
    languages: tuple[str, str]


@register_method(BACK_TRANSLATION, BackTranslationOptions, needs=_needs)
def back_translation(
    batch: ProjectionBatch, options: BackTranslationOptions, engines: EngineAccess
) -> list[Projected]:
    """Project every sentence of ``batch`` through a marked back-translation (module
    docstring); needs each sentence's source and target words and languages."""
    base, inner_options = resolve_method(options.back_translation_with, options.inner_options)
    sentences = _sentences(batch)
    marked = {
        k: s
        for k, s in sentences.items()
        if _non_overlapping(s.entities) and not has_brackets(s.source)
    }
    read = _read(marked, engines)
    out: list[Projected] = [Projected([], None, [], []) for _ in range(batch.size)]
    for k, result in _through(read, sentences, base, inner_options, engines).items():
        out[k] = result
    rest = [k for k in sentences if k not in read]
    if rest:
        fallback = project_results([_item(batch, k) for k in rest], base, inner_options, engines)
        for k, result in zip(rest, fallback, strict=True):
            out[k] = Projected(result.spans, None, result.confidences, result.origins)
    logger.debug(
        "back-translation: markers read in %d of %d sentences with entities",
        len(read),
        len(sentences),
    )
    return out


def _through(
    read: dict[int, tuple[MarkedText, list[tuple[int, float]]]],
    sentences: dict[int, _Sentence],
    method: str,
    options: Any,
    engines: EngineAccess,
) -> dict[int, Projected]:
    """The read pieces of each sentence projected onto its target words by ``method`` through
    the alignment of its back-translation with them (one aligner call for all)."""
    if not read:
        return {}
    keys = list(read)
    pairs = [(read[k][0].words, sentences[k].target) for k in keys]
    aligned = _engine("alignment", engines.aligner.align, pairs)
    items = []
    for k, result in zip(keys, aligned, strict=True):
        text, found = read[k]
        entities, target = sentences[k].entities, sentences[k].target
        spans = [
            Span(a, b, entities[j].label) for (a, b), (j, _) in zip(text.spans, found, strict=True)
        ]
        lang = sentences[k].languages[1]
        items.append(
            ProjectionItem(spans, result.pairs, len(target), target, None, text.words, (lang, lang))
        )
    projected = project_results(items, method, options, engines)
    return {
        k: _renumbered(result, [j for j, _ in read[k][1]])
        for k, result in zip(keys, projected, strict=True)
    }


def _sentences(batch: ProjectionBatch) -> dict[int, _Sentence]:
    """The sentences with entities and target words, by number in the batch; each needs its
    source and target words and its languages (:class:`ConfigError` otherwise)."""
    out = {}
    bounds = batch.entity_offsets.tolist()
    for k in range(batch.size):
        lo, hi = bounds[k], bounds[k + 1]
        if lo == hi or batch.target_lengths[k] == 0:
            continue
        source = batch.source_tokens[k] if batch.source_tokens else None
        languages = batch.languages[k] if batch.languages else None
        target = batch.target_tokens[k]
        if source is None or target is None or languages is None:
            raise ConfigError(
                f"the {BACK_TRANSLATION} projection method translates the source words into the "
                f"target's language: sentence {k} of the batch lacks its source_tokens, "
                "target_tokens or languages"
            )
        out[k] = _Sentence(_entities(batch, k), source, target, languages)
    return out


def _entities(batch: ProjectionBatch, k: int) -> list[Span]:
    """Sentence ``k``'s entities, in source order."""
    lo, hi = int(batch.entity_offsets[k]), int(batch.entity_offsets[k + 1])
    starts, ends = batch.entity_starts[lo:hi].tolist(), batch.entity_ends[lo:hi].tolist()
    return list(map(Span, starts, ends, batch.labels[lo:hi]))


def _non_overlapping(spans: list[Span]) -> bool:
    """Whether the spans (sorted by start) can each be marked: none overlaps the next."""
    return all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


def _read(
    sentences: dict[int, _Sentence], engines: EngineAccess
) -> dict[int, tuple[MarkedText, list[tuple[int, float]]]]:
    """Translate the marked sentences (and the entity texts of those with several labels) and
    read their markers: the read text and each piece's (entity, score), by sentence; the
    sentences whose markers cannot be read are left out."""
    wanted: dict[tuple[str, str], list[str]] = {}
    marked: dict[int, str] = {}
    sources: dict[int, list[str]] = {}
    for k, s in sentences.items():
        src = s.languages[0]
        marked[k] = join_words(mark_words(s.source, s.entities), src)
        texts = wanted.setdefault(s.languages, [])
        texts.append(marked[k])
        sources[k] = [join_words(s.source[e.start : e.end], src) for e in s.entities]
        if len({e.label for e in s.entities}) > 1:
            texts.extend(sources[k])
    done: dict[tuple[str, str], dict[str, str]] = {}
    for (src, tgt), texts in wanted.items():
        distinct = list(dict.fromkeys(texts))
        translated = _engine("translation", engines.translator.translate, distinct, src, tgt)
        done[(src, tgt)] = {t: r.text for t, r in zip(distinct, translated, strict=True)}
    out = {}
    for k, s in sentences.items():
        by_text = done[s.languages]
        text = read_markers(by_text[marked[k]], written_without_spaces(s.languages[1]))
        if not (text.well_formed and text.words and len(text.spans) == len(s.entities)):
            continue
        pieces = [" ".join(text.words[a:b]) for a, b in text.spans]
        alone = [by_text.get(source) for source in sources[k]]
        found = assign_labels(pieces, s.entities, sources[k], alone)
        # every piece must match its entity (assign_labels also gives a last piece the last
        # entity whatever their ratio: a duplicated marker would then take a wrong label)
        if found is not None and all(score > FUZZY_RATIO for _, score in found):
            out[k] = (text, found)
    return out


def _engine(stage: str, call: Callable[..., list[T]], *args: Any) -> list[T]:
    """``call(*args)``; an engine failure (not a configuration, bundle or programming error) is a
    ``ValueError``, which the pipelines isolate sentence by sentence."""
    try:
        return call(*args)
    except _NOT_CAUGHT:
        raise
    except Exception as error:
        raise ValueError(f"{BACK_TRANSLATION}: {stage} failed: {error}") from error


def _renumbered(result: Projected, entity: list[int]) -> Projected:
    """``result`` of the marked pieces with its origins as the source entities' numbers
    (``entity[n]``: the source entity that piece ``n`` stands for)."""
    origins = [
        None if o is None else entity[o] for o in result.origins or [None] * len(result.spans)
    ]
    return Projected(result.spans, None, result.confidences, origins)


def _item(batch: ProjectionBatch, k: int) -> ProjectionItem:
    """Sentence ``k`` of ``batch`` as it was given (entities, links, words, candidates)."""
    links = np.zeros((0, 2), dtype=np.int64)
    if batch.word_links is not None:
        counts, arr = batch.word_links
        first = int(counts[:k].sum())
        links = arr[first : first + int(counts[k])]
    candidates = None
    if batch.candidates is not None and batch.given is not None and batch.given[k]:
        starts, ends = batch.candidates
        offset, limit = batch.target_offsets[k], batch.target_offsets[k + 1]
        mine = (starts >= offset) & (starts < limit)
        candidates = np.stack([starts[mine] - offset, ends[mine] - offset], axis=1)
    return ProjectionItem(
        _entities(batch, k),
        links,
        int(batch.target_lengths[k]),
        batch.target_tokens[k],
        candidates,
        batch.source_tokens[k] if batch.source_tokens else None,
        batch.languages[k] if batch.languages else None,
    )
