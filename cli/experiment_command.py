"""``xner experiment``: languages x methods on a folder of gold test files (the paper's tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.job_options import Resume
from xner.cli.options import (
    SkipVerify,
    bundle_option,
    progress,
    with_engine_options,
)
from xner.runtime.engines.options import EngineOptions
from xner.runtime.names import split_names


@command("experiment")
@with_engine_options
def experiment_command(
    bundle: Annotated[Path, bundle_option("Bundle with translator, tagger and aligner.")],
    data: Annotated[
        Path,
        typer.Option("--data", help="Folder of gold files <lang>.<split>.conll (MasakhaNER 2.0)."),
    ],
    langs: Annotated[
        str,
        typer.Option(
            "--langs",
            help="Comma-separated file codes (hau,yor,swa) or all (leaves out languages NLLB "
            "lacks, such as pcm and bbj).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for results.csv, results.json, results.md, results.png."
        ),
    ],
    methods: Annotated[
        str,
        typer.Option(
            "--methods",
            help="Comma-separated: any projection method or variant run through translate-test "
            "(heuristic, ngram, ngram-exact, ngram-ner, ngram-nmt, ensemble, back-translation, "
            "...; an unknown name lists them all) and model-transfer.",
        ),
    ] = "heuristic,ngram,model-transfer",
    split: Annotated[
        str, typer.Option("--split", help="Which files: <lang>.<split>.conll (test, dev).")
    ] = "test",
    ignore: Annotated[
        str,
        typer.Option(
            "--ignore",
            help="Entity types scored as O on both sides, comma-separated (published results "
            "ignore MISC,DATE).",
        ),
    ] = "",
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Only the first N sentences of each language."),
    ] = None,
    align_method: Annotated[
        str,
        typer.Option("--align-method", help="Aligner method: itermax, argmax, match or softmax."),
    ] = "itermax",
    beam_size: Annotated[
        int, typer.Option("--beam-size", min=1, help="Translation beam (1: greedy, fastest).")
    ] = 1,
    route_by: Annotated[
        str | None,
        typer.Option(
            "--route-by",
            help="dev: per language, apply the method with the best F1 on <lang>.dev.conll "
            "(column routed).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace results already in the output folder (or an interrupted run)."
        ),
    ] = False,
    resume: Resume = False,
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Score translate-test methods and model transfer on every language; print the F1 table."""
    from xner.runtime.experiment.run import ExperimentConfig, run_experiment
    from xner.runtime.files.atomic import check_output

    check_output(output / "results.csv")  # the folder can hold the results: before any work
    config = ExperimentConfig(
        data,
        split_names(langs),
        split_names(methods),
        split=split,
        ignore=split_names(ignore),
        limit=limit,
        beam_size=beam_size,
        align_method=align_method,
        route_by=route_by,
    )
    result = run_experiment(
        bundle,
        config,
        out_dir=output,
        options=engine,
        verify=not skip_verify,
        force=force,
        resume=resume,
        progress=progress,
    )
    written = ", ".join(str(path) for path in result.files.values())
    typer.echo(f"wrote {written}", err=True)
    typer.echo(result.markdown(), nl=False)
