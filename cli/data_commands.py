"""Model-free commands: ``project``, ``evaluate`` and ``convert``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from xner.cli.app import command
from xner.cli.job_options import ChunkSize, Force, Resume, job_progress
from xner.cli.method_options import ProjectionChoice, with_projection_options
from xner.runtime.names import split_names


@command("project")
@with_projection_options
def project_command(
    source: Annotated[
        Path, typer.Option("--source", help="Labelled source sentences (CoNLL or JSONL, IOB2).")
    ],
    target: Annotated[
        Path,
        typer.Option("--target", help="Target words: one sentence per line (.txt) or CoNLL."),
    ],
    alignments: Annotated[
        Path,
        typer.Option(
            "--alignments", help="Pharaoh links source_index-target_index, a line per pair."
        ),
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Output CoNLL/JSONL, - = stdout.")],
    projection: ProjectionChoice | None = None,
    one_indexed: Annotated[
        bool, typer.Option("--one-indexed", help="Alignment indices start at 1.")
    ] = False,
    clip: Annotated[
        bool, typer.Option("--clip", help="Drop links past a sentence instead of failing.")
    ] = False,
    chunk_size: ChunkSize = 512,
    resume: Resume = False,
    force: Force = False,
) -> None:
    """Project the entities of labelled source sentences onto target sentences."""
    from xner.runtime.jobs import FileJobConfig, ProjectConfig, run_project

    assert projection is not None  # given by with_projection_options
    out_of_range = "clip" if clip else "error"
    config = ProjectConfig(
        target,
        alignments,
        projection.method,
        projection.options,
        one_indexed,
        out_of_range,
        chunk_size=chunk_size,
    )
    summary = run_project(
        FileJobConfig(source, output, resume=resume, force=force),
        config,
        progress=job_progress("projecting"),
    )
    ratio = (
        f"{summary.entities / summary.source_entities:.2f}" if summary.source_entities else "n/a"
    )
    typer.echo(
        f"projected {summary.entities} of {summary.source_entities} entities in "
        f"{summary.sentences} sentences (ratio {ratio})",
        err=True,
    )
    if summary.resumed:
        typer.echo(summary.report(), err=True, nl=False)


@command("evaluate")
def evaluate_command(
    gold: Annotated[Path, typer.Argument(help="Gold tagged sentences (CoNLL or JSONL).")],
    predicted: Annotated[Path, typer.Argument(help="Predicted tagged sentences, same order.")],
    ignore: Annotated[
        str | None, typer.Option(help="Entity types mapped to O on both sides, e.g. MISC,DATE.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Entity-level precision, recall and F1 (identical to seqeval's default mode)."""
    from xner.runtime.jobs.projection_files import evaluate_files

    result = evaluate_files(gold, predicted, ignore=split_names(ignore))
    if result.sentences == 0:
        logging.getLogger("xner").warning(
            "no sentences in %s and %s: every figure is 0", gold, predicted
        )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        typer.echo(result.format_table(), nl=False)


@command("convert")
def convert_command(
    source: Annotated[str, typer.Argument(help="Input file (- = stdin).")],
    output: Annotated[str, typer.Argument(help="Output file (- = stdout).")],
    from_format: Annotated[
        str | None, typer.Option("--from", help="conll, jsonl or text (default: extension).")
    ] = None,
    to_format: Annotated[
        str | None, typer.Option("--to", help="conll, jsonl or text (default: extension).")
    ] = None,
    tokenize: Annotated[
        str | None, typer.Option(help="Text input: whitespace or unicode word splitting.")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="JSONL input with integer ner_tags: the label list, comma-separated."),
    ] = None,
    lenient: Annotated[
        bool,
        typer.Option(
            "--lenient",
            help="Pass tags that are not O, B-TYPE or I-TYPE (LOCATION, B-) through, counting "
            "them in one warning, instead of stopping at the first.",
        ),
    ] = False,
) -> None:
    """Convert tagged sentences between CoNLL, JSONL and plain text."""
    from xner.runtime.files.atomic import check_output
    from xner.runtime.files.formats import convert

    check_output(output)
    options: dict[str, Any] = {}
    if tokenize is not None:
        options["tokenize"] = tokenize
    if labels is not None:
        options["labels"] = list(split_names(labels))
    if lenient:
        options["lenient"] = True
    if from_format is None and source == "-":
        from_format = "conll"
    if to_format is None and output == "-":
        to_format = "conll"
    count = convert(source, output, from_format, to_format, **options)
    typer.echo(f"converted {count} sentences", err=True)
