"""``xner tag``: tag sentences with the bundle's multilingual NER model (model transfer).

The command runs :func:`xner.runtime.jobs.run_model_transfer`, so that a file output is
resumable like the outputs of the other file jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.job_options import (
    Force,
    InFormat,
    OnError,
    OutFormat,
    Output,
    Resume,
    Tokenize,
    job_progress,
)
from xner.cli.options import SkipVerify, bundle_option, with_engine_options
from xner.runtime.engines.options import EngineOptions
from xner.runtime.names import split_names


@command("tag")
@with_engine_options(compute_type=False)
def tag_command(
    bundle: Annotated[Path, bundle_option("Bundle with a tagger.")],
    source: Annotated[
        str,
        typer.Argument(
            help="CoNLL, JSONL or text file (format from the extension); - reads text from stdin.",
            show_default=False,
        ),
    ] = "-",
    output: Output = "-",
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Language of the input (checked and logged only)."),
    ] = None,
    in_fmt: InFormat = None,
    out_fmt: OutFormat = None,
    tokenize: Tokenize = None,
    drop: Annotated[
        str,
        typer.Option("--drop", help="Entity types to write as O, comma-separated (MISC,DATE)."),
    ] = "",
    on_error: OnError = None,
    resume: Resume = False,
    force: Force = False,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Sentences per tagging chunk and commit.")
    ] = 256,
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Tag the words of SOURCE with the bundle's tagger; writes each word with its IOB2 tag.

    A file output is written in committed chunks: an interrupted run continues with --resume.
    """
    from xner.runtime.jobs import FileJobConfig, run_model_transfer
    from xner.runtime.pipelines.configs import ModelTransferConfig

    files = FileJobConfig(
        source, output, None, in_fmt, out_fmt, tokenize, on_error, resume=resume, force=force
    )
    summary = run_model_transfer(
        bundle,
        files,
        ModelTransferConfig(lang, frozenset(split_names(drop)), chunk_size=chunk_size),
        engine_options=engine,
        verify=not skip_verify,
        progress=job_progress("tagging"),
    )
    typer.echo(f"tagged {summary.written} sentences", err=True)
    if summary.resumed or summary.failed or summary.empty:
        typer.echo(summary.report(), err=True, nl=False)
