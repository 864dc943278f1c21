"""``xner align`` as a file job: sentence pairs word-aligned into Pharaoh lines.

The pairs come from two parallel files (one whitespace-tokenised sentence per line) or from one
file of ``source ||| target`` lines (awesome-align's input). The output has one line of
0-indexed ``i-j`` links per pair (an empty line for a pair with an empty side). The job goes
through the runner (:mod:`xner.runtime.jobs.runner`): resumable, with progress and a
:class:`~xner.runtime.jobs.summary.RunSummary`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any

from xner.runtime.alignment.methods import AlignmentOptions, get_method
from xner.runtime.alignment.pharaoh import format_pharaoh
from xner.runtime.bundles.bundle import Bundle
from xner.runtime.engines.aligner import Aligner, AlignmentResult, PairTooLong
from xner.runtime.engines.engine_set import Engines, check_engine_settings
from xner.runtime.engines.options import EngineOptions, chunked
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.files.io import Source, check_readable, iter_lines, source_name
from xner.runtime.jobs.file_config import FileJobConfig
from xner.runtime.jobs.runner import FileJob, NoLabels, Progress, Written, run_job
from xner.runtime.jobs.summary import RunSummary
from xner.runtime.pipelines.configs import positive

__all__ = [
    "AlignConfig",
    "WordPair",
    "pair_inputs",
    "read_pair_files",
    "read_pairs_file",
    "run_align",
]


@dataclass(frozen=True)
class AlignConfig:
    """Settings of an align job. ``target``: the target file, parallel to the job's source;
    None when the source is a file of ``source ||| target`` lines. ``method``, ``distortion``,
    ``threshold``: the :class:`~xner.runtime.engines.aligner.Aligner`'s. ``chunk_size``: pairs
    per batched call and per commit."""

    target: Source | None = None
    method: str = "itermax"
    distortion: float = 0.0
    threshold: float = 0.001
    chunk_size: int = 256

    def __post_init__(self) -> None:
        get_method(self.method)  # an unknown one lists the methods
        positive("chunk_size", self.chunk_size)
        AlignmentOptions(distortion=self.distortion, threshold=self.threshold)

    def canonical(self) -> dict[str, Any]:
        """The settings that change the links (their part of the resume fingerprint)."""
        return {
            "pairs_file": self.target is None,
            "distortion": self.distortion,
            "threshold": self.threshold,
        }


@dataclass(frozen=True)
class WordPair:
    """One sentence pair as read: its words on each side, where it was read."""

    src: list[str]
    tgt: list[str]
    line: int
    source: str


@dataclass(frozen=True)
class AlignedPair(NoLabels):
    """A pair and its links (a :class:`~xner.runtime.jobs.runner.JobResult`)."""

    input: WordPair
    alignment: AlignmentResult

    def explain(self) -> dict[str, Any]:
        """A JSON-ready record of the pair and its links."""
        return {
            "line": self.input.line,
            "src": self.input.src,
            "tgt": self.input.tgt,
            "alignment": self.alignment.pairs.tolist(),
        }


def pair_inputs(
    src: Source | None, tgt: Source | None, pairs: Source | None
) -> tuple[Source, Source | None]:
    """The job's source and :attr:`AlignConfig.target` from SRC and TGT files or one file of
    ``src ||| tgt`` lines (then no target); :class:`ConfigError` for any other combination."""
    if pairs is not None and src is None and tgt is None:
        return pairs, None
    if pairs is None and src is not None and tgt is not None:
        return src, tgt
    raise ConfigError("give either SRC and TGT files or one --pairs file of 'src ||| tgt'")


def read_pair_files(src: Source, tgt: Source) -> Iterator[WordPair]:
    """Word pairs from two parallel files (one whitespace-tokenised sentence per line).

    Files with different line counts raise :class:`InputError` naming the longer file and its
    first line without a partner. Both files are checked for existence at once.
    """
    check_readable(src)
    check_readable(tgt)
    return _read_pair_files(src, tgt)


def _read_pair_files(src: Source, tgt: Source) -> Iterator[WordPair]:
    names = (source_name(src), source_name(tgt))
    lines = zip_longest(iter_lines(src, names[0]), iter_lines(tgt, names[1]))
    for number, (left, right) in enumerate(lines, 1):
        if left is None or right is None:
            longer, shorter = (names[1], names[0]) if left is None else names
            problem = f"{shorter} ends after line {number - 1}: the files must have as many lines"
            raise InputError(longer, number, problem)
        yield WordPair(left[1].split(), right[1].split(), number, names[0])


def read_pairs_file(source: Source) -> Iterator[WordPair]:
    """Word pairs from ``src ||| tgt`` lines (awesome-align's input); checked for existence now."""
    check_readable(source)
    return _read_pairs_file(source)


def _read_pairs_file(source: Source) -> Iterator[WordPair]:
    name = source_name(source)
    for number, text in iter_lines(source, name):
        parts = text.split(" ||| ") if " ||| " in text else text.split("|||")
        if len(parts) != 2:
            found = "no" if len(parts) == 1 else str(len(parts) - 1)
            problem = f"expected 'source words ||| target words', found {found} '|||' separators"
            raise InputError(name, number, problem)
        yield WordPair(parts[0].split(), parts[1].split(), number, name)


def run_align(
    bundle: Bundle | str | os.PathLike[str],
    files: FileJobConfig,
    config: AlignConfig,
    *,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Align the pairs of ``files.source`` (with ``config.target``, or ``src ||| tgt`` lines)
    into Pharaoh lines in ``files.output``. The inputs and settings are checked before the
    model is loaded."""
    files.check_plain("align")
    files.check_files()
    check_engine_settings(engine_options, align_method=config.method)
    if config.target is None:
        pairs = read_pairs_file(files.source)
    else:
        pairs = read_pair_files(files.source, config.target)
    loaded = (
        bundle
        if isinstance(bundle, Bundle)
        else Bundle.load(bundle, verify=verify, defer_hashes=True)
    )
    engines = Engines(loaded, engine_options)
    fingerprint = {
        "command": "align",
        **engines.fingerprint(("aligner",), align_method=config.method),
        **config.canonical(),
    }
    job: FileJob[WordPair, AlignedPair] = FileJob(
        "align",
        files,
        fingerprint,
        pairs,
        lambda pair: [pair.src, pair.tgt],
        lambda items: _aligned(loaded, engines.options, config, items),
        lambda result: Written(format_pharaoh(result.alignment.to_alignment()) + "\n"),
        config.chunk_size,
        progress,
    )
    return run_job(job)


def _aligned(
    bundle: Bundle, options: EngineOptions, config: AlignConfig, pairs: Iterator[WordPair]
) -> Iterator[AlignedPair]:
    """Build the aligner, then align lazily, a chunk of pairs per call."""
    aligner = Aligner(
        bundle,
        options,
        method=config.method,
        distortion=config.distortion,
        threshold=config.threshold,
    )

    def stream() -> Iterator[AlignedPair]:
        for chunk in chunked(pairs, config.chunk_size):
            try:
                results = aligner.align([(pair.src, pair.tgt) for pair in chunk])
            except PairTooLong as error:
                pair = chunk[error.index]
                raise InputError(pair.source, pair.line, error.problem) from None
            yield from (AlignedPair(p, r) for p, r in zip(chunk, results, strict=True))

    return stream()
