"""Command-line options of the file jobs (translate, tag, align, project, translate-test,
translate-train), declared once: every long command resumes and shows progress the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import typer

from xner.cli.options import progress

Resume = Annotated[
    bool, typer.Option("--resume", help="Continue an interrupted run of the same command.")
]
Force = Annotated[bool, typer.Option("--force", help="Discard an interrupted run; start over.")]
ChunkSize = Annotated[
    int, typer.Option("--chunk-size", min=1, help="Sentences per engine chunk and per commit.")
]


def job_progress(
    description: str, unit: str = "sentences"
) -> Callable[[Iterable[Any]], Iterable[Any]]:
    """The progress bar of a job (:func:`xner.cli.options.progress`): off when stderr is not a
    terminal."""

    def wrap(items: Iterable[Any]) -> Iterable[Any]:
        return progress(items, description, unit)

    return wrap
