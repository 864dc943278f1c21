"""Jobs over files of sentences (CoNLL, JSONL, text): formats, reading and writing.

:func:`sentence_formats` resolves and checks the formats of a job that reads sentences and
writes tagged ones (translate-test, translate-train, tag, project); :func:`write_labelled` is the
writer of the runner for results that carry an output sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from xner.runtime.data import Sentence
from xner.runtime.errors import ConfigError
from xner.runtime.files.formats import jsonl_line, read_sentences, resolve_format
from xner.runtime.jobs.file_config import FileJobConfig
from xner.runtime.jobs.runner import Written, render

__all__ = ["HasScoredSpans", "SentenceFormats", "sentence_formats", "write_labelled"]


@dataclass(frozen=True)
class SentenceFormats:
    """The resolved formats of a sentence job: ``reader`` (with its ``options``) and
    ``writer``."""

    reader: str
    writer: str
    options: dict[str, Any] = field(default_factory=dict)

    def read(self, files: FileJobConfig) -> Iterator[Sentence]:
        """The input's sentences, read lazily."""
        return read_sentences(files.source, self.reader, **self.options)

    def canonical(self) -> dict[str, str]:
        """The formats' part of the resume fingerprint."""
        return {"in_format": self.reader, "out_format": self.writer}


def sentence_formats(files: FileJobConfig, *, tags: bool = True) -> SentenceFormats:
    """Resolve and check the formats of ``files`` (``"-"``: text in, CoNLL out by default) and
    its files (:meth:`FileJobConfig.check_files`), before any model is loaded. ``tags``: the
    output holds tags (text output is refused)."""
    reader = resolve_format(
        files.source, files.in_fmt or ("text" if files.stdin else None), kind="reader"
    )
    writer = resolve_format(
        files.output, files.out_fmt or ("conll" if files.stdout else None), kind="writer"
    )
    if tags and writer == "text":
        raise ConfigError("tags cannot be written as text; write conll or jsonl")
    options: dict[str, Any] = {}
    if files.tokenize is not None:
        if reader != "text":
            raise ConfigError(f"tokenize applies to text input only, not to {reader}")
        options["tokenize"] = files.tokenize
    files.check_files()
    read_sentences(files.source, reader, **options)  # checks the reader's options now
    if files.gold is not None:
        resolve_format(files.gold, None, kind="reader")
    return SentenceFormats(reader, writer, options)


class HasOutput(Protocol):
    """A result that gives the sentence to write (None: nothing to write)."""

    @property
    def error(self) -> str | None: ...

    def output(self) -> Sentence | None: ...


@runtime_checkable
class HasScoredSpans(Protocol):
    """A result whose spans carry confidences (the projection pipelines' results)."""

    def scored_spans(self) -> list[dict[str, Any]] | None:
        """``[{"start", "end", "label", "confidence"}]``, or None when there are none."""
        ...


def write_labelled(result: HasOutput, fmt: str) -> Written:
    """The runner's writer for results with an output sentence: ``result.output()`` in ``fmt``;
    an empty sentence in CoNLL (which cannot hold it) is counted, not written. In JSONL, a
    result with scored spans (:class:`HasScoredSpans`) lists them under ``"spans"`` with their
    confidence (CoNLL has no place for them)."""
    sentence = result.output()
    if sentence is None:
        return Written()
    if result.error is None and not sentence.tokens and fmt == "conll":
        return Written(empty=True)
    if fmt == "jsonl" and isinstance(result, HasScoredSpans):
        spans = result.scored_spans()
        if spans is not None:
            return Written(jsonl_line(sentence, spans))
    return render(sentence, fmt)
