"""File-level jobs behind the model-free commands: ``xner project`` and ``xner evaluate``.

Each job streams its inputs one sentence at a time, checks that parallel files stay in step, and
reports any problem as ``FILE:LINE: problem``. Projection runs on chunks of
:data:`CHUNK_SIZE` sentences (one batched call each). Output is written atomically.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from xner.runtime.alignment.pharaoh import check_alignment, clip_alignment, read_alignments
from xner.runtime.data import Alignment, Sentence, Span
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.evaluate import EvaluationResult, evaluate
from xner.runtime.files.atomic import check_output
from xner.runtime.files.formats import read_sentences, write_sentences
from xner.runtime.projection import ProjectionItem, project_batch
from xner.runtime.tags import spans_from_tags, tags_from_spans, validate_tags

logger = logging.getLogger("xner")

PathLike = str | os.PathLike[str]
OUT_OF_RANGE = ("error", "clip")
CHUNK_SIZE = 512
"""Sentences projected together by :func:`projected_sentences` (one batched call)."""


@dataclass
class ProjectionStats:
    """What a projection job did: sentences, entities on each side, links dropped."""

    sentences: int = 0
    source_entities: int = 0
    projected_entities: int = 0
    dropped_links: int = 0

    @property
    def projection_ratio(self) -> float | None:
        """Projected entities per source entity (None when the source has none)."""
        return self.projected_entities / self.source_entities if self.source_entities else None


def _in_step(
    *streams: tuple[str, Iterator[Any]],
) -> Iterator[tuple[Any, ...]]:
    """Zip named streams, raising :class:`InputError` when one ends before the others."""
    missing = object()
    names = [name for name, _ in streams]
    for count, items in enumerate(
        itertools.zip_longest(*(it for _, it in streams), fillvalue=missing)
    ):
        if any(item is missing for item in items):
            short = [n for n, item in zip(names, items, strict=True) if item is missing]
            longer = next(item for item in items if item is not missing)
            raise InputError(
                getattr(longer, "source", None),
                getattr(longer, "line", None) or None,
                f"{' and '.join(short)} ended after {count} sentences, this file goes on",
            )
        yield items


def projected_sentences(
    source: PathLike,
    target: PathLike,
    alignments: PathLike,
    *,
    method: str = "heuristic",
    options: Any = None,
    one_indexed: bool = False,
    out_of_range: str = "error",
    source_format: str | None = None,
    target_format: str | None = None,
    stats: ProjectionStats | None = None,
) -> Iterator[Sentence]:
    """Project the labelled ``source`` sentences onto the ``target`` words, lazily.

    ``source``: labelled sentences (CoNLL or JSONL, IOB2). ``target``: the receiving words, one
    sentence per line (whitespace-split) or CoNLL/JSONL (tags there are ignored). ``alignments``:
    Pharaoh links ``source_index-target_index``, one line per sentence pair. ``method`` and
    ``options``: see :func:`xner.runtime.projection.project`. ``out_of_range``: ``"error"``
    (default) stops at a link past either sentence; ``"clip"`` drops such links and counts them
    in ``stats.dropped_links``. Yields the target sentences with the projected IOB2 tags.
    """
    if out_of_range not in OUT_OF_RANGE:
        raise ConfigError(f"unknown out_of_range {out_of_range!r}; choose from error, clip")
    stats = stats if stats is not None else ProjectionStats()
    streams = _in_step(
        ("the source", read_sentences(source, source_format)),
        ("the target", read_sentences(target, target_format)),
        ("the alignments", read_alignments(alignments, one_indexed=one_indexed)),
    )
    pending: list[tuple[Sentence, list[Span], Alignment]] = []
    try:
        for src, tgt, links in streams:
            src: Sentence
            tgt: Sentence
            links: Alignment
            if src.tags is None:
                raise InputError(src.source, src.line or None, "the source sentence has no tags")
            validate_tags(src.tags, "IOB2", path=src.source, line=src.line or None)
            n_src, n_tgt = len(src.tokens), len(tgt.tokens)
            if out_of_range == "clip":
                links, dropped = clip_alignment(links, n_src, n_tgt)
                stats.dropped_links += dropped
            else:
                check_alignment(links, n_src, n_tgt, path=links.source, line=links.line or None)
            pending.append((tgt, spans_from_tags(src.tags, "IOB2"), links))
            if len(pending) == CHUNK_SIZE:
                chunk, pending = pending, []
                yield from _projected_chunk(chunk, method, options, stats)
    except Exception:
        # what was read before the problem goes out first, as it would one by one
        yield from _projected_chunk(pending, method, options, stats)
        raise
    yield from _projected_chunk(pending, method, options, stats)
    if stats.dropped_links:
        logger.warning(
            "dropped %d alignment links that pointed past a sentence", stats.dropped_links
        )


def _projected_chunk(
    chunk: list[tuple[Sentence, list[Span], Alignment]],
    method: str,
    options: Any,
    stats: ProjectionStats,
) -> Iterator[Sentence]:
    """Project the ``(target, source spans, links)`` of ``chunk`` in one call; when some
    sentence's inputs are bad, one at a time up to the first that fails."""
    if not chunk:
        return
    items = [
        ProjectionItem(spans, links, len(tgt.tokens), tgt.tokens) for tgt, spans, links in chunk
    ]
    projected: Iterator[list[Span]] | list[list[Span]]
    try:
        projected = project_batch(items, method, options)
    except ValueError:
        projected = (project_batch([item], method, options)[0] for item in items)
    for (tgt, spans, _), target_spans in zip(chunk, projected, strict=True):
        stats.sentences += 1
        stats.source_entities += len(spans)
        stats.projected_entities += len(target_spans)
        tags = tags_from_spans(target_spans, len(tgt.tokens))
        yield Sentence(tgt.tokens, tags, tgt.line, tgt.source)


def project_files(
    source: PathLike,
    target: PathLike,
    alignments: PathLike,
    output: PathLike,
    *,
    output_format: str | None = None,
    **options: Any,
) -> ProjectionStats:
    """Project ``source`` onto ``target`` through ``alignments`` and write ``output`` atomically.

    Keyword options are those of :func:`projected_sentences`. Returns the job's statistics.
    The output path is checked before anything is read.
    """
    check_output(output)
    stats = ProjectionStats()
    sentences = projected_sentences(source, target, alignments, stats=stats, **options)
    write_sentences(sentences, output, output_format or ("conll" if str(output) == "-" else None))
    return stats


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
        for g, p in _in_step(
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
