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
Output = Annotated[
    str,
    typer.Option("--output", "-o", help="CoNLL or JSONL file (by extension); - = CoNLL on stdout."),
]
InFormat = Annotated[
    str | None,
    typer.Option("--from", help="Input format: conll, jsonl or text (default: the extension)."),
]
OutFormat = Annotated[
    str | None, typer.Option("--to", help="Output format: conll or jsonl (default: the extension).")
]
Tokenize = Annotated[
    str | None,
    typer.Option(
        "--tokenize", help="Text input: whitespace (default) or unicode (splits punctuation)."
    ),
]
OnError = Annotated[
    str | None,
    typer.Option(
        "--on-error",
        help="A sentence that cannot be labelled: copy-O (write it with O tags; the default), "
        "skip (leave it out; translate-train's default) or fail (stop).",
    ),
]
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
