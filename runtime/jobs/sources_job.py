"""The file job of multi-source translate-train: :func:`run_translate_train_sources`.

The sources are files of labelled sentences (CoNLL or JSONL, IOB2; each file's format from
``in_fmt`` or its extension), named with their language in a
:class:`~xner.runtime.pipelines.sources.MultiSourceConfig`. The job runs through the one
runner (:func:`~xner.runtime.jobs.runner.run_job`) as translate-train does: committed chunks,
``--resume`` (the fingerprint holds every source, its format and the combination; the input
digest covers every source's sentences), ``on_error`` (``skip`` by default), ``drop_incomplete``
and the summary.

- **parallel**: the sources are read side by side, one sentence of each per item; they must
  hold as many sentences each, which is checked (by reading them once) before any model is
  built: else ``SHORTER: has N sentences but LONGER has M``. The output holds the first
  source's translations with the combined spans; in JSONL each span lists its ``"sources"``.
- **separate** sources: read one after the other, in the order of the sources, and written in
  that order; each output sentence says where it came from: in JSONL ``"source":
  "es.conll:spa_Latn"``, in CoNLL a ``# source: es.conll`` comment line before its block (which
  CoNLL readers, xner's included, skip).
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
from collections.abc import Iterator, Sequence
from typing import Any

from xner.runtime.data import Sentence
from xner.runtime.engines.engine_set import Engines, check_engine_settings
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.files.formats import read_conll, read_sentences, resolve_format
from xner.runtime.files.io import check_readable, source_name
from xner.runtime.jobs.file_config import FileJobConfig
from xner.runtime.jobs.labelling import planned_options
from xner.runtime.jobs.resume import sentence_key
from xner.runtime.jobs.runner import FileJob, Progress, Written, run_job
from xner.runtime.jobs.sentence_files import sentence_formats, write_labelled
from xner.runtime.jobs.summary import RunSummary
from xner.runtime.pipelines.compose import EngineSource
from xner.runtime.pipelines.sources import (
    LabelledSource,
    MultiSourceConfig,
    MultiSourceResult,
    ParallelSentences,
    SourcedResult,
    SourcedSentence,
    translate_train_each,
    translate_train_sources,
)

__all__ = ["run_translate_train_sources", "source_comment"]

COMMAND = "translate-train"


def source_comment(source: LabelledSource) -> str:
    """The CoNLL comment line (with its newline) written before each sentence of ``source``."""
    return f"# source: {source.path}\n"


def run_translate_train_sources(
    engines: EngineSource,
    files: FileJobConfig,
    config: MultiSourceConfig,
    *,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Carry the labelled sentences of ``config.sources`` into ``config.tgt_lang`` and write
    them to ``files.output`` (CoNLL or JSONL; module docstring).

    ``files``: the output side (``output``, ``explain``, ``out_fmt``, ``in_fmt`` for every
    source, ``on_error``, ``resume``, ``force``); its ``source`` is set to the first source's
    file. The other arguments are those of
    :func:`~xner.runtime.jobs.labelling.run_translate_train`.
    """
    if files.evaluates or files.tokenize is not None:
        raise ConfigError("translate-train takes no evaluation or --tokenize")
    files = dataclasses.replace(
        files,
        source=config.sources[0].path,
        on_error="skip" if files.on_error is None else files.on_error,
    )
    formats = sentence_formats(files)  # the output and the first source
    readers = [_reader(source, files.in_fmt) for source in config.sources]
    if not config.parallel and formats.writer == "conll":
        for source in config.sources:
            _check_comment(source)
    if config.parallel:
        _check_parallel(config.sources, readers)
    check_engine_settings(planned_options(engines, engine_options), translator=True)
    ready = Engines.of(engines, engine_options, verify=verify)
    config.check(ready)
    fingerprint: dict[str, Any] = {
        "command": COMMAND,
        **formats.canonical(),
        "in_formats": readers,
        **files.canonical(),
        **config.engine_fingerprint(ready),
        **config.canonical(),
    }
    paths = [source.path for source in config.sources]
    if config.parallel:
        parallel: FileJob[ParallelSentences, MultiSourceResult] = FileJob(
            COMMAND,
            files,
            fingerprint,
            _parallel_items(paths, readers),
            lambda item: [sentence_key(sentence) for sentence in item.sentences],
            lambda items: translate_train_sources(ready, items, config),
            lambda result: write_labelled(result, formats.writer),
            config.chunk_size,
            progress,
            drop_incomplete=config.drop_incomplete,
        )
        return run_job(parallel)
    separate: FileJob[SourcedSentence, SourcedResult] = FileJob(
        COMMAND,
        files,
        fingerprint,
        _separate_items(paths, readers),
        lambda item: [item.origin, *sentence_key(item.sentence)],
        lambda items: translate_train_each(ready, items, config),
        lambda result: _with_source(result, config.sources, formats.writer),
        config.chunk_size,
        progress,
        drop_incomplete=config.drop_incomplete,
    )
    return run_job(separate)


def _reader(source: LabelledSource, in_fmt: str | None) -> str:
    """The format of a source file (checked readable and labelled: not text)."""
    check_readable(source.path)
    reader = resolve_format(source.path, in_fmt, kind="reader")
    if reader == "text":
        raise ConfigError(
            f"translate-train needs labelled input: {source.path} is text; give CoNLL or JSONL"
        )
    return reader


def _check_comment(source: LabelledSource) -> None:
    """The source's comment line must read back as a comment (a file name that looks like a
    tag would be read as a token)."""
    if any(read_conll(io.StringIO(source_comment(source)))):
        raise ConfigError(
            f"the file name of source {source.path!r} cannot be written in a CoNLL comment "
            "(it would read back as a token); rename it or write JSONL"
        )


def _check_parallel(sources: Sequence[LabelledSource], readers: Sequence[str]) -> None:
    """Parallel sources hold as many sentences each (read once, before any model is built)."""
    counts = [
        sum(1 for _ in read_sentences(source.path, reader))
        for source, reader in zip(sources, readers, strict=True)
    ]
    shorter = min(range(len(counts)), key=counts.__getitem__)
    longer = max(range(len(counts)), key=counts.__getitem__)
    if counts[shorter] != counts[longer]:
        raise InputError(
            source_name(sources[shorter].path),
            None,
            f"has {counts[shorter]} sentences but {source_name(sources[longer].path)} has "
            f"{counts[longer]}; --parallel sources must hold the same sentences",
        )


def _parallel_items(paths: Sequence[str], readers: Sequence[str]) -> Iterator[ParallelSentences]:
    """The sources read side by side (a source that ends early is an InputError)."""
    streams = [read_sentences(path, reader) for path, reader in zip(paths, readers, strict=True)]
    end = object()
    for row in itertools.zip_longest(*streams, fillvalue=end):
        if any(sentence is end for sentence in row):
            k = next(k for k, sentence in enumerate(row) if sentence is end)
            raise InputError(
                source_name(paths[k]), None, "ended before the other --parallel sources"
            )
        yield ParallelSentences(tuple(s for s in row if isinstance(s, Sentence)))


def _separate_items(paths: Sequence[str], readers: Sequence[str]) -> Iterator[SourcedSentence]:
    """The sources read one after the other, each sentence with its source's number."""
    for origin, (path, reader) in enumerate(zip(paths, readers, strict=True)):
        for sentence in read_sentences(path, reader):
            yield SourcedSentence(sentence, origin)


def _with_source(result: SourcedResult, sources: Sequence[LabelledSource], fmt: str) -> Written:
    """The labelled writer's text with the sentence's source: a comment line before a CoNLL
    block, a ``"source"`` key in a JSONL record."""
    written = write_labelled(result, fmt)
    if not written.text:
        return written
    source = sources[result.origin]
    if fmt == "conll":
        text = source_comment(source) + written.text
    elif fmt == "jsonl":
        record = json.loads(written.text)
        record["source"] = source.name
        text = json.dumps(record, ensure_ascii=False) + "\n"
    else:  # a registered format without a place for it
        text = written.text
    return dataclasses.replace(written, text=text)
