"""The file side of a job: what it reads, where it writes, how it treats failures and resumes.

:class:`FileJobConfig` is checked once, when it is made; what needs the files themselves
(formats from extensions, output paths, readable inputs) is checked by the job before any model
is built. Its :meth:`~FileJobConfig.canonical` dict is the file part of the resume fingerprint.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.files.atomic import check_output
from xner.runtime.files.io import Source, check_readable, is_stream
from xner.runtime.jobs.resume import partial_path, progress_path
from xner.runtime.names import split_names

__all__ = ["ON_ERROR", "FileJobConfig"]

ON_ERROR = ("copy-O", "skip", "fail")
"""What to do with a sentence that cannot be labelled (:mod:`xner.runtime.jobs.labelling`)."""


@dataclass(frozen=True)
class FileJobConfig:
    """Where a job reads and writes, and how it handles failures and interruptions.

    ``source``: the input (a path, ``"-"`` for standard input, or an open stream). ``output``: a
    path or ``"-"`` (standard output: not resumable). ``explain``: a JSONL file of per-sentence
    records, or None. ``in_fmt`` / ``out_fmt``: formats (None: from the extension).
    ``tokenize``: word splitting of text input (``whitespace`` or ``unicode``). ``on_error``:
    ``copy-O``, ``skip`` or ``fail`` (:data:`ON_ERROR`; None: the job's default, ``skip`` for
    translate-train, else ``copy-O``). ``resume`` / ``force``: continue /
    discard an interrupted run. ``gold`` / ``evaluate`` / ``ignore``: evaluation against a gold
    file or the input's own tags, with entity types ignored (a comma-separated string or names).
    """

    source: Source = "-"
    output: str | os.PathLike[str] = "-"
    explain: str | os.PathLike[str] | None = None
    in_fmt: str | None = None
    out_fmt: str | None = None
    tokenize: str | None = None
    on_error: str | None = None
    resume: bool = False
    force: bool = False
    gold: Source | None = None
    evaluate: bool = False
    ignore: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.on_error is not None and self.on_error not in ON_ERROR:
            raise unknown_choice("on-error policy", str(self.on_error), ON_ERROR)
        if is_stream(self.output):
            raise ConfigError("the output must be a file path or - (stdout)")
        if self.stdout and (self.resume or self.force):
            raise ConfigError("--resume and --force need an output file (-o FILE), not stdout")
        if self.explain is not None and str(self.explain) == "-":
            raise ConfigError("the explain records need a file (--explain FILE.jsonl), not stdout")
        if self.gold is not None and self.evaluate:
            raise ConfigError("give a gold file or evaluate against the input's tags, not both")
        ignore: Iterable[str] = self.ignore
        object.__setattr__(self, "ignore", frozenset(split_names(ignore)))
        object.__setattr__(self, "explain", None if self.explain is None else Path(self.explain))
        object.__setattr__(self, "evaluate", bool(self.evaluate))

    @property
    def explain_path(self) -> Path | None:
        """The explain file as a :class:`Path` (None: no explain records)."""
        return None if self.explain is None else Path(self.explain)

    @property
    def stdout(self) -> bool:
        """True when the output goes to standard output."""
        return str(self.output) == "-"

    @property
    def stdin(self) -> bool:
        """True when the input is standard input."""
        return not is_stream(self.source) and str(self.source) == "-"

    @property
    def policy(self) -> str:
        """The ``on_error`` policy in force (``copy-O`` unless given)."""
        return self.on_error or "copy-O"

    @property
    def evaluates(self) -> bool:
        """True when the job scores its output (against a gold file or the input's tags)."""
        return self.gold is not None or self.evaluate

    def check_plain(self, command: str) -> None:
        """Refuse what only the labelling jobs do: explain records, evaluation, tokenizing."""
        if self.explain is not None or self.evaluates or self.tokenize is not None:
            raise ConfigError(f"{command} takes no --explain, evaluation or --tokenize")

    def canonical(self) -> dict[str, Any]:
        """The file settings that change the output (their part of the resume fingerprint;
        the job adds the formats it resolved)."""
        return {
            "tokenize": self.tokenize,
            "explain": self.explain is not None,
            "gold": self.gold is not None,
            "evaluate": self.evaluate,
            "ignore": sorted(self.ignore),
        }

    def check_files(self) -> None:
        """Check the output (and the explain, partial and progress files beside it) and the
        input, creating nothing: a bad path fails before any work."""
        if not self.stdout:
            companions: list[str | os.PathLike[str]] = [
                partial_path(self.output),
                progress_path(self.output),
            ]
            if self.explain is not None:
                companions += [self.explain, partial_path(self.explain)]
            check_output(self.output, companions=companions)
        elif self.explain is not None:
            check_output(self.explain)
        check_readable(self.source)
        if self.gold is not None:
            check_readable(self.gold)
