"""File jobs behind the model-free commands: ``xner project`` and ``xner evaluate``.

Each job streams its inputs one sentence at a time, checks that parallel files stay in step
(:func:`in_step`), and reports any problem as ``FILE:LINE: problem``. Projection runs on chunks
of ``chunk_size`` sentences (one batched call each), guarded like the pipelines' stages
(:func:`~xner.runtime.pipelines.stages.guarded`): a sentence whose inputs are out of range fails
alone. :func:`run_project` writes through the runner (:mod:`xner.runtime.jobs.runner`):
resumable, with progress and a :class:`~xner.runtime.jobs.summary.RunSummary`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from xner.runtime.alignment.pharaoh import check_alignment, clip_alignment, read_alignments
from xner.runtime.data import Alignment, Sentence, Span
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.evaluate import EvaluationResult, evaluate
from xner.runtime.files.formats import read_sentences, resolve_format
from xner.runtime.files.io import Source
from xner.runtime.jobs.file_config import FileJobConfig
from xner.runtime.jobs.runner import FileJob, JobInput, Progress, run_job
from xner.runtime.jobs.sentence_files import sentence_formats, write_labelled
from xner.runtime.jobs.summary import RunSummary
from xner.runtime.pipelines.configs import positive
from xner.runtime.pipelines.results import (
    confidence_records,
    projected_records,
    span_records,
)
from xner.runtime.pipelines.stages import guarded
from xner.runtime.projection import Projected, ProjectionItem, project_results
from xner.runtime.projection.registry import resolve_method
from xner.runtime.tags import spans_from_tags, tags_from_spans, validate_tags

__all__ = [
    "CHUNK_SIZE",
    "ProjectConfig",
    "ProjectionStats",
    "evaluate_files",
    "in_step",
    "projected_sentences",
    "run_project",
]

logger = logging.getLogger("xner")

PathLike = str | os.PathLike[str]
OUT_OF_RANGE = ("error", "clip")
CHUNK_SIZE = 512
"""Sentences projected together (one batched call) and per committed chunk, by default."""


@dataclass(frozen=True)
class ProjectConfig:
    """Settings of a projection job besides its labelled source (the job's input).

    ``target``: the receiving words, one sentence per line (whitespace-split) or CoNLL/JSONL
    (tags there are ignored), format ``target_format`` or from the extension. ``alignments``:
    Pharaoh links ``source_index-target_index``, one line per sentence pair (``one_indexed``:
    counted from 1). ``method`` and ``options``: a projection method (or variant) and its
    options. ``out_of_range``: ``"error"`` stops at a link past either sentence, ``"clip"``
    drops such links (they are counted and logged). ``chunk_size``: sentences per batched call
    and per commit.
    """

    target: Source
    alignments: Source
    method: str = "heuristic"
    options: Any = None
    one_indexed: bool = False
    out_of_range: str = "error"
    target_format: str | None = None
    chunk_size: int = CHUNK_SIZE

    def __post_init__(self) -> None:
        positive("chunk_size", self.chunk_size)
        if self.out_of_range not in OUT_OF_RANGE:
            raise ConfigError(
                f"unknown out_of_range {self.out_of_range!r}; choose from error, clip"
            )
        method, options = resolve_method(self.method, self.options)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "options", options)

    def canonical(self) -> dict[str, Any]:
        """The settings that change the output (their part of the resume fingerprint)."""
        return {
            "method": self.method,
            "options": dataclasses.asdict(self.options),
            "one_indexed": self.one_indexed,
            "out_of_range": self.out_of_range,
        }


@dataclass
class ProjectionStats:
    """What a projection stream did: sentences, entities on each side, links dropped."""

    sentences: int = 0
    source_entities: int = 0
    projected_entities: int = 0
    dropped_links: int = 0

    @property
    def projection_ratio(self) -> float | None:
        """Projected entities per source entity (None when the source has none)."""
        return self.projected_entities / self.source_entities if self.source_entities else None


@dataclass(frozen=True)
class ProjectionInput:
    """One sentence pair to project, as read: the labelled source, the target words and their
    links. ``line`` and ``source`` name the alignment line (for messages)."""

    src: Sentence
    tgt: Sentence
    links: Alignment

    @property
    def line(self) -> int:
        """The line of the alignment file."""
        return self.links.line

    @property
    def source(self) -> str:
        """The alignment file."""
        return self.links.source

    def key(self) -> list[Any]:
        """What identifies the pair (for the resume check)."""
        return [self.src.tokens, self.src.tags, self.tgt.tokens, self.links.pairs.tolist()]


@dataclass(frozen=True)
class ProjectedPair:
    """A sentence pair and the target's projected labels (a runner result); ``confidences``
    and ``origins``: per span, as the projection method gave them
    (:class:`~xner.runtime.projection.result.Projected`; JSONL output lists them)."""

    input: ProjectionInput
    spans: list[Span]
    error: str | None = None
    truncated: bool = False
    lost: int = 0
    source_spans: list[Span] = field(default_factory=list)
    confidences: list[float] | None = None
    origins: list[int | None] | None = None

    @property
    def source_entities(self) -> int:
        """The source entities that were projected."""
        return len(self.source_spans)

    def scored_spans(self) -> list[dict[str, Any]] | None:
        """The projected spans with their confidence (None: the method gives none)."""
        return confidence_records(self.spans, self.confidences)

    def output(self) -> Sentence:
        """The target words with their tags (all ``O`` on error)."""
        tgt = self.input.tgt
        return Sentence(
            tgt.tokens, tags_from_spans(self.spans, len(tgt.tokens)), tgt.line, tgt.source
        )

    def explain(self) -> dict[str, Any]:
        """A JSON-ready record of the pair and its projection."""
        src, tgt = self.input.src, self.input.tgt
        return {
            "line": self.input.line,
            "source_tokens": src.tokens,
            "source_entities": span_records(self.source_spans, src.tokens),
            "tokens": tgt.tokens,
            "alignment": self.input.links.pairs.tolist(),
            "entities": projected_records(
                self.spans,
                tgt.tokens,
                self.confidences,
                self.origins,
                self.source_spans,
                self.input.links.pairs,
            ),
            "error": self.error,
        }


def in_step(*streams: tuple[str, Iterator[Any]]) -> Iterator[tuple[Any, ...]]:
    """Zip named streams of items read from files (each with its ``source`` and ``line``:
    sentences, alignments), raising :class:`InputError` when one ends before the others."""
    missing = object()
    names = [name for name, _ in streams]
    for count, items in enumerate(
        itertools.zip_longest(*(it for _, it in streams), fillvalue=missing)
    ):
        if any(item is missing for item in items):
            short = [n for n, item in zip(names, items, strict=True) if item is missing]
            longer: JobInput = next(item for item in items if item is not missing)
            raise InputError(
                longer.source,
                longer.line or None,
                f"{' and '.join(short)} ended after {count} sentences, this file goes on",
            )
        yield items


def _pairs(
    source: Source, source_format: str | None, config: ProjectConfig, stats: ProjectionStats
) -> Iterator[ProjectionInput]:
    """The checked sentence pairs of ``source``, ``config.target`` and ``config.alignments``,
    read in step, lazily; links past a sentence are an error or clipped (counted in
    ``stats``)."""
    streams = in_step(
        ("the source", read_sentences(source, source_format)),
        ("the target", read_sentences(config.target, config.target_format)),
        ("the alignments", read_alignments(config.alignments, one_indexed=config.one_indexed)),
    )
    for src, tgt, links in streams:
        if src.tags is None:
            raise InputError(src.source, src.line or None, "the source sentence has no tags")
        validate_tags(src.tags, "IOB2", path=src.source, line=src.line or None)
        n_src, n_tgt = len(src.tokens), len(tgt.tokens)
        if config.out_of_range == "clip":
            links, dropped = clip_alignment(links, n_src, n_tgt)
            stats.dropped_links += dropped
        else:
            check_alignment(links, n_src, n_tgt, path=links.source, line=links.line or None)
        yield ProjectionInput(src, tgt, links)


def _projected(
    pairs: Iterator[ProjectionInput], config: ProjectConfig, stats: ProjectionStats
) -> Iterator[ProjectedPair]:
    """Project ``pairs`` a chunk at a time; what was read before a problem comes out first."""
    pending: list[ProjectionInput] = []
    try:
        for pair in pairs:
            pending.append(pair)
            if len(pending) == config.chunk_size:
                chunk, pending = pending, []
                yield from _projected_chunk(chunk, config, stats)
    except Exception:
        yield from _projected_chunk(pending, config, stats)
        raise
    yield from _projected_chunk(pending, config, stats)
    if stats.dropped_links:
        logger.warning(
            "dropped %d alignment links that pointed past a sentence", stats.dropped_links
        )


def _projected_chunk(
    chunk: list[ProjectionInput], config: ProjectConfig, stats: ProjectionStats
) -> Iterator[ProjectedPair]:
    """Project ``chunk`` in one batched call, guarded: a sentence whose inputs are out of range
    fails alone (``"projection failed: ..."``)."""
    sources = [spans_from_tags(pair.src.tags or [], "IOB2") for pair in chunk]
    items = {
        k: ProjectionItem(spans, pair.links, len(pair.tgt.tokens), pair.tgt.tokens)
        for k, (pair, spans) in enumerate(zip(chunk, sources, strict=True))
    }
    errors: dict[int, str] = {}
    projected = guarded(
        "projection",
        lambda batch: project_results(batch, config.method, config.options),
        items,
        errors,
        ValueError,
    )
    for k, pair in enumerate(chunk):
        result = projected.get(k, _NOTHING)
        stats.sentences += 1
        stats.source_entities += len(sources[k])
        stats.projected_entities += len(result.spans)
        yield ProjectedPair(
            pair,
            result.spans,
            errors.get(k),
            source_spans=sources[k],
            confidences=result.confidences if result.spans else [],
            origins=result.origins if result.spans else [],
        )


_NOTHING = Projected([])


def projected_sentences(
    source: PathLike,
    config: ProjectConfig,
    *,
    source_format: str | None = None,
    stats: ProjectionStats | None = None,
) -> Iterator[Sentence]:
    """Project the labelled ``source`` sentences (CoNLL or JSONL, IOB2) onto the target words
    of ``config``, lazily: the target sentences with the projected IOB2 tags. A sentence that
    cannot be projected raises :class:`InputError`. ``stats`` counts what was done."""
    stats = stats if stats is not None else ProjectionStats()
    for result in _projected(_pairs(source, source_format, config, stats), config, stats):
        if result.error is not None:
            raise InputError(result.input.source, result.input.line or None, result.error)
        yield result.output()


def run_project(
    files: FileJobConfig, config: ProjectConfig, *, progress: Progress | None = None
) -> RunSummary:
    """Project the labelled sentences of ``files.source`` onto ``config.target`` through
    ``config.alignments`` and write the labelled targets to ``files.output`` (CoNLL or JSONL by
    extension; ``"-"``: CoNLL on stdout). Every path is checked before anything is read;
    ``files.on_error`` defaults to ``fail`` (a sentence that cannot be projected stops the job).
    """
    if files.on_error is None:
        files = dataclasses.replace(files, on_error="fail")
    files.check_plain("project")
    formats = sentence_formats(files, tags=False)
    resolve_format(config.target, config.target_format, kind="reader")
    stats = ProjectionStats()
    fingerprint = {"command": "project", **formats.canonical(), **config.canonical()}
    job: FileJob[ProjectionInput, ProjectedPair] = FileJob(
        "project",
        files,
        fingerprint,
        _pairs(files.source, formats.reader, config, stats),
        ProjectionInput.key,
        lambda pairs: _projected(pairs, config, stats),
        lambda result: write_labelled(result, formats.writer),
        config.chunk_size,
        progress,
    )
    return run_job(job)


def evaluate_files(
    gold: PathLike,
    predicted: PathLike,
    *,
    ignore: Collection[str] = (),
    gold_format: str | None = None,
    predicted_format: str | None = None,
) -> EvaluationResult:
    """Entity-level scores of ``predicted`` against ``gold`` (files of tagged sentences, IOB2).

    ``ignore``: entity types mapped to O on both sides (published results ignore MISC and DATE).
    The two files must hold the same sentences in the same order; a sentence whose words differ
    is reported with both files' lines.
    """

    def checked() -> Iterator[tuple[Sentence, Sentence]]:
        for g, p in in_step(
            ("the gold file", read_sentences(gold, gold_format)),
            ("the predictions", read_sentences(predicted, predicted_format)),
        ):
            if len(g.tokens) != len(p.tokens):
                raise InputError(
                    p.source,
                    p.line or None,
                    f"this sentence has {len(p.tokens)} words but the gold sentence at "
                    f"{g.source}:{g.line} has {len(g.tokens)}",
                )
            yield g, p

    pairs = checked()
    # ``evaluate`` takes two iterables; tee them from the one checked stream.
    gold_side, pred_side = itertools.tee(pairs)
    return evaluate((g for g, _ in gold_side), (p for _, p in pred_side), ignore)
