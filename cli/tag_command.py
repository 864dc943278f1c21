"""``xner tag``: tag sentences with the bundle's multilingual NER model (model transfer).

The command runs :func:`xner.runtime.jobs.run_model_transfer`, so that a file output is
resumable like the outputs of the other file jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.job_options import Force, Resume, job_progress
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
    output: Annotated[
        str,
        typer.Option("--output", "-o", help="CoNLL or JSONL file (by extension); - = stdout."),
    ] = "-",
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="Language of the input (checked and logged only)."),
    ] = None,
    in_fmt: Annotated[
        str | None, typer.Option("--from", help="Input format: conll, jsonl or text.")
    ] = None,
    out_fmt: Annotated[
        str | None, typer.Option("--to", help="Output format: conll (stdout default) or jsonl.")
    ] = None,
    tokenize: Annotated[
        str | None,
        typer.Option(
            "--tokenize", help="Text input: whitespace (default) or unicode (splits punctuation)."
        ),
    ] = None,
    drop: Annotated[
        str,
        typer.Option("--drop", help="Entity types to write as O, comma-separated (MISC,DATE)."),
    ] = "",
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error",
            help="A sentence that cannot be tagged: copy-O (write it with O tags), skip (leave "
            "it out) or fail (stop).",
        ),
    ] = "copy-O",
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
