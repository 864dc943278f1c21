"""``xner translate-test`` and ``xner translate-train``: the projection pipelines on files.

Each command builds the file side of the job (:class:`~xner.runtime.jobs.FileJobConfig`) and
the pipeline's config (:mod:`xner.runtime.pipelines.configs`), calls one library function
(:func:`xner.runtime.jobs.run_translate_test` / ``run_translate_train``), then prints the
job's summary (and the evaluation table) on stderr. The model-transfer baseline on the same data
is ``xner tag --bundle B --lang L``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.job_options import (
    ChunkSize,
    Force,
    InFormat,
    OnError,
    OutFormat,
    Output,
    Resume,
    Tokenize,
    job_progress,
)
from xner.cli.method_options import ProjectionChoice, with_projection_options
from xner.cli.options import SkipVerify, bundle_option, with_engine_options
from xner.cli.pivot_options import Combine, MinVotes, Pivots, Weights, combine_options
from xner.runtime.engines.options import EngineOptions
from xner.runtime.names import split_names

BundleOption = Annotated[Path, bundle_option("The bundle folder.")]
Drop = Annotated[
    str, typer.Option("--drop", help="Entity types not to project, comma-separated (MISC).")
]
Explain = Annotated[
    Path | None,
    typer.Option(
        "--explain",
        help="JSONL file: per sentence the translation, entities, alignment, scores, projection.",
    ),
]
BeamSize = Annotated[
    int | None, typer.Option("--beam-size", min=1, help="Translation beam (default 1: greedy).")
]
AlignMethod = Annotated[
    str | None,
    typer.Option("--align-method", help="itermax (default), argmax, match or softmax."),
]
MinConfidence = Annotated[
    float,
    typer.Option(
        "--min-confidence",
        help="Drop projected spans whose confidence (0 to 1) is below this (0: keep all).",
    ),
]


@command("translate-test")
@with_projection_options
@with_engine_options
def translate_test_command(
    bundle: BundleOption,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the input: code, ISO code or name.")
    ],
    source: Annotated[
        str,
        typer.Argument(
            help="Text (a sentence per line), CoNLL or JSONL; - reads text from stdin.",
            show_default=False,
        ),
    ] = "-",
    output: Output = "-",
    in_fmt: InFormat = None,
    out_fmt: OutFormat = None,
    tokenize: Tokenize = None,
    projection: ProjectionChoice | None = None,
    drop: Drop = "",
    explain: Explain = None,
    gold: Annotated[
        Path | None,
        typer.Option("--gold", help="Gold-tagged sentences in the input's order: evaluate."),
    ] = None,
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Evaluate against the tags of the input itself.")
    ] = False,
    ignore: Annotated[
        str, typer.Option("--ignore", help="Entity types ignored in the evaluation (DATE).")
    ] = "",
    on_error: OnError = None,
    resume: Resume = False,
    force: Force = False,
    chunk_size: ChunkSize = 256,
    beam_size: BeamSize = None,
    align_method: AlignMethod = None,
    min_confidence: MinConfidence = 0.0,
    pivots: Pivots = "eng_Latn",
    combine: Combine = "vote",
    min_votes: MinVotes = None,
    weights: Weights = "",
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Label SOURCE (a low-resource language) by translating it into English, tagging the
    English and projecting its entities back onto the original words; with --pivots, through
    several languages whose projections are combined."""
    from xner.runtime.jobs import FileJobConfig, run_translate_test
    from xner.runtime.pipelines.configs import TranslateTestConfig

    assert projection is not None  # given by with_projection_options
    files = FileJobConfig(
        source, output, explain, in_fmt, out_fmt, tokenize, on_error, resume=resume,
        force=force, gold=gold, evaluate=evaluate, ignore=frozenset(split_names(ignore)),
    )  # fmt: skip
    config = TranslateTestConfig(
        lang, projection.method, projection.options, drop=frozenset(split_names(drop)),
        beam_size=beam_size, align_method=align_method, chunk_size=chunk_size,
        min_confidence=min_confidence, pivots=split_names(pivots),
        combine=combine_options(combine, min_votes, weights),
    )  # fmt: skip
    summary = run_translate_test(
        bundle,
        files,
        config,
        engine_options=engine,
        verify=not skip_verify,
        progress=job_progress("translate-test"),
    )
    typer.echo(summary.report(), err=True, nl=False)


@command("translate-train")
@with_projection_options
@with_engine_options
def translate_train_command(
    bundle: BundleOption,
    tgt_lang: Annotated[str, typer.Option("--tgt-lang", help="Language to translate into.")],
    src_lang: Annotated[
        str | None,
        typer.Option("--src-lang", help="Language of the labelled input SOURCE (eng_Latn)."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Argument(
            help="Labelled sentences: CoNLL or JSONL, IOB2 (or several: --sources).",
            show_default=False,
        ),
    ] = None,
    sources: Annotated[
        str | None,
        typer.Option(
            "--sources",
            help="Several labelled files, comma-separated FILE:LANG (en.conll:eng_Latn,"
            "es.conll:spa_Latn), in place of SOURCE and --src-lang: each translated and written"
            " in turn with its source, or with --parallel combined.",
        ),
    ] = None,
    parallel: Annotated[
        bool,
        typer.Option(
            "--parallel",
            help="The --sources hold the same sentences: translate the first, project every"
            " source's entities onto its translation and combine them (--combine).",
        ),
    ] = False,
    combine: Combine = "vote",
    min_votes: MinVotes = None,
    weights: Weights = "",
    output: Output = "-",
    in_fmt: InFormat = None,
    out_fmt: OutFormat = None,
    projection: ProjectionChoice | None = None,
    drop: Drop = "",
    drop_incomplete: Annotated[
        bool,
        typer.Option(
            "--drop-incomplete",
            help="Leave out sentences whose projection lost an entity (with --min-confidence,"
            " a span dropped below it counts as lost).",
        ),
    ] = False,
    explain: Explain = None,
    on_error: OnError = None,
    resume: Resume = False,
    force: Force = False,
    chunk_size: ChunkSize = 256,
    beam_size: BeamSize = None,
    align_method: AlignMethod = None,
    min_confidence: MinConfidence = 0.0,
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Make training data: translate labelled SOURCE sentences and project their entities onto
    the translations (a sentence that cannot be carried over is skipped by default); with
    --sources, from several labelled files (--parallel: the same sentences, combined)."""
    from xner.runtime.errors import ConfigError
    from xner.runtime.jobs import FileJobConfig, run_translate_train
    from xner.runtime.pipelines.configs import TranslateTrainConfig

    assert projection is not None  # given by with_projection_options
    files = FileJobConfig(
        source or "-", output, explain, in_fmt, out_fmt, on_error=on_error, resume=resume,
        force=force,
    )  # fmt: skip
    if sources is not None:
        if source is not None or src_lang is not None:
            raise ConfigError("give SOURCE with --src-lang, or --sources, not both")
        from xner.runtime.jobs.sources_job import run_translate_train_sources
        from xner.runtime.pipelines.sources import MultiSourceConfig, parse_sources

        several = MultiSourceConfig(
            parse_sources(sources), tgt_lang, parallel,
            combine_options(combine, min_votes, weights), projection.method, projection.options,
            drop=frozenset(split_names(drop)),
            drop_incomplete=drop_incomplete, beam_size=beam_size, align_method=align_method,
            chunk_size=chunk_size, min_confidence=min_confidence,
        )  # fmt: skip
        summary = run_translate_train_sources(
            bundle, files, several, engine_options=engine, verify=not skip_verify,
            progress=job_progress("translate-train"),
        )  # fmt: skip
        typer.echo(summary.report(), err=True, nl=False)
        return
    if source is None or src_lang is None:
        raise ConfigError("translate-train needs SOURCE and --src-lang, or --sources FILE:LANG,...")
    if parallel or (combine, min_votes, weights) != ("vote", None, ""):
        raise ConfigError("--parallel, --combine, --min-votes and --weights go with --sources")
    config = TranslateTrainConfig(
        src_lang, tgt_lang, projection.method, projection.options,
        drop=frozenset(split_names(drop)), drop_incomplete=drop_incomplete, beam_size=beam_size,
        align_method=align_method, chunk_size=chunk_size, min_confidence=min_confidence,
    )  # fmt: skip
    summary = run_translate_train(
        bundle,
        files,
        config,
        engine_options=engine,
        verify=not skip_verify,
        progress=job_progress("translate-train"),
    )
    typer.echo(summary.report(), err=True, nl=False)
