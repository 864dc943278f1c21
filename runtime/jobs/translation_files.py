"""``xner translate`` as a file job: a text file, a sentence per line, translated line by line.

The output is text (one translation per line; an empty line stays empty, so line ``n`` of the
output is the translation of line ``n``) or JSON Lines (one object per line with the
:class:`~xner.runtime.engines.translator.Translation` fields, the source ``line`` number and its
``source`` text). It goes through the runner (:mod:`xner.runtime.jobs.runner`): resumable, with
progress and a :class:`~xner.runtime.jobs.summary.RunSummary`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xner.runtime.bundles.bundle import Bundle
from xner.runtime.engines.engine_set import Engines, check_engine_settings
from xner.runtime.engines.options import EngineOptions, chunked
from xner.runtime.engines.translator import Translation, Translator, translator_language
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.files.io import iter_lines, source_name
from xner.runtime.jobs.file_config import FileJobConfig
from xner.runtime.jobs.runner import FileJob, NoLabels, Progress, Written, run_job
from xner.runtime.jobs.summary import RunSummary
from xner.runtime.languages import resolve_language
from xner.runtime.pipelines.configs import positive

__all__ = ["TRANSLATE_FORMATS", "TextLine", "TranslateConfig", "run_translate"]

TRANSLATE_FORMATS = ("text", "jsonl")
"""The output formats of ``xner translate``."""


@dataclass(frozen=True)
class TranslateConfig:
    """Settings of a translate job: the languages (codes, ISO codes or names; kept as NLLB
    codes) and the :class:`~xner.runtime.engines.translator.Translator`'s decoding knobs
    (``beam_size``, ``max_decoding_length``: None for the default limit and retry,
    ``min_decoding_length``). ``chunk_size``: lines per batched call and per commit."""

    src_lang: str
    tgt_lang: str
    beam_size: int = 1
    max_decoding_length: int | None = None
    min_decoding_length: int = 0
    chunk_size: int = 256

    def __post_init__(self) -> None:
        positive("beam_size", self.beam_size)
        positive("chunk_size", self.chunk_size)
        if self.max_decoding_length is not None:
            positive("max_decoding_length", self.max_decoding_length)
        length = self.min_decoding_length
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ConfigError(f"min_decoding_length must be an integer >= 0, got {length!r}")
        object.__setattr__(self, "src_lang", resolve_language(self.src_lang))
        object.__setattr__(self, "tgt_lang", resolve_language(self.tgt_lang))

    def canonical(self) -> dict[str, Any]:
        """The settings that change the translations (their part of the resume fingerprint)."""
        return {
            "src_lang": self.src_lang,
            "tgt_lang": self.tgt_lang,
            "max_decoding_length": self.max_decoding_length,
            "min_decoding_length": self.min_decoding_length,
        }


@dataclass(frozen=True)
class TextLine:
    """One line of a text input: its text, where it was read."""

    text: str
    line: int
    source: str


@dataclass(frozen=True)
class TranslatedLine(NoLabels):
    """A line and its translation (a :class:`~xner.runtime.jobs.runner.JobResult`)."""

    input: TextLine
    translation: Translation

    def explain(self) -> dict[str, Any]:
        """The JSONL record of this line."""
        return {
            "line": self.input.line,
            "source": self.input.text,
            **dataclasses.asdict(self.translation),
        }


def translate_format(files: FileJobConfig) -> str:
    """The output format: ``files.out_fmt``, else ``jsonl`` for a ``.jsonl`` / ``.json``
    output, else ``text``."""
    suffix = "" if files.stdout else Path(files.output).suffix.lower()
    fmt = files.out_fmt or ("jsonl" if suffix in (".jsonl", ".json") else "text")
    if fmt not in TRANSLATE_FORMATS:
        raise unknown_choice("output format", fmt, TRANSLATE_FORMATS)
    return fmt


def run_translate(
    bundle: Bundle | str | os.PathLike[str],
    files: FileJobConfig,
    config: TranslateConfig,
    *,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Translate ``files.source`` (text, a sentence per line; ``"-"``: stdin) line by line into
    ``files.output`` (text or JSONL: :func:`translate_format`). Every check (the files, the
    engine settings, the languages against the bundle) comes before the model is built."""
    fmt = translate_format(files)
    files.check_plain("translate")
    files.check_files()
    check_engine_settings(engine_options, translator=True, beam_size=config.beam_size)
    loaded = (
        bundle
        if isinstance(bundle, Bundle)
        else Bundle.load(bundle, verify=verify, defer_hashes=True)
    )
    engines = Engines(loaded, engine_options)
    codes = (
        translator_language(loaded, config.src_lang),
        translator_language(loaded, config.tgt_lang),
    )  # an unsupported language fails now, before the model is built
    fingerprint = {
        "command": "translate",
        "out_format": fmt,
        **engines.fingerprint(("translator",), beam_size=config.beam_size),
        **config.canonical(),
    }
    name = source_name(files.source)
    job: FileJob[TextLine, TranslatedLine] = FileJob(
        "translate",
        files,
        fingerprint,
        (TextLine(text, number, name) for number, text in iter_lines(files.source, name)),
        lambda line: line.text,
        lambda lines: _translated(loaded, engines.options, config, codes, lines),
        lambda result: _write(result, fmt),
        config.chunk_size,
        progress,
    )
    return run_job(job)


def _translated(
    bundle: Bundle,
    options: EngineOptions,
    config: TranslateConfig,
    codes: tuple[str, str],
    lines: Iterator[TextLine],
) -> Iterator[TranslatedLine]:
    """Build the translator, then translate lazily (``codes``: the model's language codes)."""
    translator = Translator(
        bundle,
        options,
        beam_size=config.beam_size,
        max_decoding_length=config.max_decoding_length,
        min_decoding_length=config.min_decoding_length,
    )

    def stream() -> Iterator[TranslatedLine]:
        for chunk in chunked(lines, config.chunk_size):
            texts = [line.text for line in chunk]  # a line per sentence: sentence N is line N
            translations = translator.translate(texts, *codes, first=chunk[0].line - 1)
            for line, translation in zip(chunk, translations, strict=True):
                yield TranslatedLine(line, translation, truncated=translation.truncated)

    return stream()


def _write(result: TranslatedLine, fmt: str) -> Written:
    if fmt == "text":
        return Written(result.translation.text.replace("\n", " ") + "\n")
    return Written(json.dumps(result.explain(), ensure_ascii=False) + "\n")
