"""``xner tag``: tag sentences with the bundle's multilingual NER model (model transfer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.options import (
    SkipVerify,
    progress,
    with_engine_options,
)
from xner.runtime.engine import EngineOptions


@command("tag")
@with_engine_options(compute_type=False)
def tag_command(
    bundle: Annotated[Path, typer.Option("--bundle", "-b", help="Bundle with a tagger.")],
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
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Tag the words of SOURCE with the bundle's tagger; writes each word with its IOB2 tag."""
    from xner.runtime.tagger import tag_file

    count = tag_file(
        bundle,
        source,
        output,
        in_fmt=in_fmt,
        out_fmt=out_fmt,
        tokenize=tokenize,
        drop=[label.strip() for label in drop.split(",") if label.strip()],
        lang=lang,
        options=engine,
        verify=not skip_verify,
        progress=lambda items: progress(items, "tagging"),
    )
    typer.echo(f"tagged {count} sentences", err=True)
