"""Marker-based projection for translate-train (EasyProject, CODEC): ``--method markers``.

Instead of aligning a plain translation, each labelled sentence is translated with its entities
wrapped in markers (``[ Obama ] visited [ Paris ]``) and the labels are read from the markers
that survive in the translation. Per chunk of records:

1. **Marked translation** (one batched translator call): a record with entities is translated
   with ``[`` and ``]`` around each entity (:func:`mark_words`); a record without entities, or
   whose words already hold a bracket (the markers would be ambiguous), is translated plain.
2. **Reading the markers** (:func:`read_markers`): bracket look-alikes (``【】``, ``《》``,
   ``［］``) count as markers and doubled ones as one; the markers are removed and the words
   between them tokenized piece by piece, so that each marked piece is a run of whole words.
   The markers are *kept* when they alternate ``[ ... ]``, none is empty and there are exactly
   as many marked pieces as entities.
3. **Labels** (:func:`assign_labels`): with one entity, or entities of one label, the pieces
   take the labels in order. Otherwise each piece is matched to an entity by its text: the
   ``difflib`` ratio (case-folded) against the entity's source text and its separate
   translation (one more batched call for the entity texts of such records), exact being a
   ratio of 1; pairs above :data:`FUZZY_RATIO` are taken best first (ties: closest in order),
   one piece per entity, and a last piece left with a last entity takes it. A piece that
   matches no entity means the markers cannot be read.
4. **Fallback**: a sentence (all its segments) that did not keep all its markers is aligned
   and projected with the ``fallback`` method (``ngram`` by default) onto the same translation,
   markers removed; no second translation is made.

A record's :attr:`~xner.runtime.pipelines.records.Record.markers` says which way it went
(True: kept, False: fell back, None: nothing to mark); the translate-train summary reports
``markers kept: N of M sentences``. A span read from markers has the matching score as its
confidence (1 for one entity, one label or an exact match; the ratio for a fuzzy match).

The method is registered in the projection registry with ``translates=True``: its function is
this pipeline step (records in, records out), so translate-train runs it in place of its
translate, tokenize, align and project stages; the other commands refuse it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from xner.runtime.data import Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.translator import Translation
from xner.runtime.errors import unknown_choice
from xner.runtime.pipelines import stages
from xner.runtime.pipelines.configs import TranslateTrainConfig
from xner.runtime.pipelines.records import Record, live
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
    Method,
    available_methods,
    available_variants,
    method_info,
    option,
    register_method,
    resolve_method,
)
from xner.runtime.projection.result import Match, Projected
from xner.runtime.tokenize import word_tokenize

__all__ = [
    "FUZZY_RATIO",
    "MarkedText",
    "MarkersOptions",
    "assign_labels",
    "mark_words",
    "markers",
    "read_markers",
]

logger = logging.getLogger("xner")


@dataclass(frozen=True)
class MarkersOptions:
    """Knobs of the marker method. ``fallback``: the projection method (or variant) that
    labels, through the alignment, the sentences that did not keep all their markers; it runs
    with its default options."""

    fallback: str = option(
        "ngram", help="method for sentences that lost a marker (ngram, heuristic, ...)."
    )

    def __post_init__(self) -> None:
        methods = [name for name in available_methods() if not method_info(name).translates]
        variants = [name for name in available_variants() if resolve_method(name)[0] in methods]
        choices = [*methods, *variants]
        if self.fallback not in choices:
            raise unknown_choice("fallback projection method", str(self.fallback), choices)


def _needs(options: MarkersOptions) -> tuple[str, ...]:
    """The translator, the aligner and what the fallback method needs."""
    method, fallback_options = resolve_method(options.fallback)
    needed = ("translator", "aligner", *method_info(method).needed(fallback_options))
    return tuple(dict.fromkeys(needed))


# --- the pipeline step ----------------------------------------------------------------------------


def _markable(record: Record) -> bool:
    return bool(record.spans) and not has_brackets(record.words)


def _translate(
    texts: Mapping[int, str], engines: Engines, config: TranslateTrainConfig, errors: dict[int, str]
) -> dict[int, Translation]:
    """``texts`` translated in one batched call (:func:`~xner.runtime.pipelines.stages.
    guarded`: a text that fails alone gets its error in ``errors``)."""
    translator = engines.translator
    src, tgt, beam = config.src_lang, config.tgt_lang, config.beam_size
    return stages.guarded(
        "translation",
        lambda batch: translator.translate(batch, src, tgt, beam_size=beam),
        texts,
        errors,
    )


def _read(
    records: list[Record], engines: Engines, config: TranslateTrainConfig
) -> tuple[list[Record], dict[int, MarkedText]]:
    """Translate every live record (marked when it can be) and read the markers."""
    src = config.src_lang
    no_space = written_without_spaces(config.tgt_lang)
    markable = {i for i in live(records) if _markable(records[i])}
    texts = {
        i: join_words(
            mark_words(records[i].words, sorted(records[i].spans))
            if i in markable
            else records[i].words,
            src,
        )
        for i in live(records)
    }
    errors: dict[int, str] = {}
    done = _translate(texts, engines, config, errors)
    out, read = list(records), {}
    for i, translation in done.items():
        if i in markable:
            read[i] = read_markers(translation.text, no_space)
            text, words = read[i].text, read[i].words
        else:
            text, words = translation.text, [t.text for t in word_tokenize(translation.text)]
        error = None if words else "the translation is empty"
        out[i] = dataclasses.replace(
            out[i],
            translation=dataclasses.replace(translation, text=text),
            translated=words,
            error=error,
        )
    for i, error in errors.items():
        out[i] = dataclasses.replace(out[i], error=error)
    return out, read


def _labels(
    records: list[Record],
    read: dict[int, MarkedText],
    engines: Engines,
    config: TranslateTrainConfig,
) -> dict[int, list[tuple[int, float]]]:
    """The readable markers' entities, per record (records whose markers cannot be read are
    left out)."""
    src = config.src_lang
    ready = {
        i: marked
        for i, marked in read.items()
        if records[i].error is None
        and marked.well_formed
        and len(marked.spans) == len(records[i].spans)
    }
    sources = {
        i: [join_words(records[i].words[s.start : s.end], src) for s in sorted(records[i].spans)]
        for i in ready
    }
    asked = sorted(
        {text for i in ready if len({s.label for s in records[i].spans}) > 1 for text in sources[i]}
    )
    errors: dict[int, str] = {}
    translated = _translate(dict(enumerate(asked)), engines, config, errors)
    if errors:
        logger.debug("%d entity texts could not be translated alone", len(errors))
    by_text = {asked[k]: t.text for k, t in translated.items()}
    out = {}
    for i, marked in ready.items():
        pieces = [" ".join(marked.words[a:b]) for a, b in marked.spans]
        texts = [by_text.get(text) for text in sources[i]]
        found = assign_labels(pieces, sorted(records[i].spans), sources[i], texts)
        if found is not None:
            out[i] = found
    return out


def _from_markers(record: Record, marked: MarkedText, found: list[tuple[int, float]]) -> Projected:
    entities = sorted(record.spans)
    matches = sorted(
        (
            Match(j, Span(a, b, entities[j].label), score)
            for (a, b), (j, score) in zip(marked.spans, found, strict=True)
        ),
        key=lambda m: m.span.start,
    )
    return Projected([m.span for m in matches], matches, [m.score for m in matches])


def markers(
    records: Sequence[Record],
    options: MarkersOptions,
    engines: Engines,
    config: TranslateTrainConfig,
) -> list[Record]:
    """Translate, tokenize and project the records of a translate-train chunk with markers;
    the sentences that did not keep all their markers go through ``options.fallback``."""
    out, read = _read(list(records), engines, config)
    found = _labels(out, read, engines, config)
    alive = live(out)
    marked = {out[i].sentence for i in alive if out[i].spans}
    kept = marked - {out[i].sentence for i in alive if out[i].spans and i not in found}
    fallback = []
    for i in alive:
        sentence = out[i].sentence
        if sentence not in marked:
            continue
        if sentence in kept:
            projected = None
            if out[i].spans:
                projected = _from_markers(out[i], read[i], found[i]).above(config.min_confidence)
            out[i] = dataclasses.replace(out[i], projected=projected, markers=True)
        else:
            out[i] = dataclasses.replace(out[i], markers=False)
            fallback.append(i)
    if fallback:
        method, fallback_options = resolve_method(options.fallback)
        subset = stages.align([out[i] for i in fallback], engines, config.align_method)
        subset = stages.project(
            subset,
            method,
            fallback_options,
            engines,
            (config.src_lang, config.tgt_lang),
            min_confidence=config.min_confidence,
        )
        for i, record in zip(fallback, subset, strict=True):
            out[i] = record
    logger.debug("markers kept in %d of %d sentences", len(kept), len(marked))
    return out


def _register() -> None:
    # the registered function of a translating method is a pipeline step (records in, records
    # out), called by translate-train only: the registry's type names batch projections
    register_method("markers", MarkersOptions, needs=_needs, translates=True)(cast(Method, markers))


_register()
