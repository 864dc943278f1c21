"""``xner translate-test`` and ``xner translate-train``: the projection pipelines on files.

Each command parses its options and calls one library function
(:func:`xner.runtime.jobs.run_translate_test` / ``run_translate_train``), then prints the
job's summary (and the evaluation table) on stderr. The model-transfer baseline on the same data
is ``xner tag --bundle B --lang L``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.options import (
    Collisions,
    Exact,
    Keep,
    LengthRatio,
    MaxLen,
    MergeDistance,
    Method,
    SkipVerify,
    StopWords,
    bundle_option,
    progress,
    projection_options,
    split_labels,
    with_engine_options,
)
from xner.runtime.engines.options import EngineOptions

BundleOption = Annotated[Path, bundle_option("The bundle folder.")]
Output = Annotated[
    str,
    typer.Option("--output", "-o", help="CoNLL or JSONL file (by extension); - = CoNLL on stdout."),
]
InFormat = Annotated[str | None, typer.Option("--from", help="Input format: conll, jsonl, text.")]
OutFormat = Annotated[str | None, typer.Option("--to", help="Output format: conll or jsonl.")]
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
OnError = Annotated[
    str | None,
    typer.Option(
        "--on-error",
        help="A sentence that cannot be labelled: copy-O (write it with O tags; translate-test "
        "default), skip (leave it out; translate-train default) or fail (stop).",
    ),
]
Resume = Annotated[
    bool, typer.Option("--resume", help="Continue an interrupted run of the same command.")
]
Force = Annotated[bool, typer.Option("--force", help="Discard an interrupted run; start over.")]
ChunkSize = Annotated[
    int, typer.Option("--chunk-size", min=1, help="Sentences per engine chunk and per commit.")
]
BeamSize = Annotated[
    int | None, typer.Option("--beam-size", min=1, help="Translation beam (default 1: greedy).")
]
AlignMethod = Annotated[
    str | None,
    typer.Option("--align-method", help="itermax (default), argmax, match or softmax."),
]


@command("translate-test")
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
    tokenize: Annotated[
        str | None,
        typer.Option("--tokenize", help="Text input: whitespace (default) or unicode."),
    ] = None,
    method: Method = "heuristic",
    merge_distance: MergeDistance = 1,
    length_ratio: LengthRatio = 0.8,
    keep: Keep = "all",
    collisions: Collisions = "overwrite",
    max_len: MaxLen = None,
    stop_words: StopWords = "!,?",
    exact: Exact = False,
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
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Label SOURCE (a low-resource language) by translating it into English, tagging the
    English and projecting its entities back onto the original words."""
    from xner.runtime.jobs import run_translate_test

    summary = run_translate_test(
        bundle,
        source,
        output,
        lang,
        method=method,
        options=projection_options(
            method,
            merge_distance=merge_distance,
            length_ratio=length_ratio,
            keep=keep,
            collisions=collisions,
            max_len=max_len,
            stop_words=stop_words,
            exact=exact,
        ),
        drop=split_labels(drop),
        explain=explain,
        gold=gold,
        evaluate=evaluate,
        ignore=split_labels(ignore),
        on_error=on_error or "copy-O",
        resume=resume,
        force=force,
        chunk_size=chunk_size,
        in_fmt=in_fmt,
        out_fmt=out_fmt,
        tokenize=tokenize,
        beam_size=beam_size,
        align_method=align_method,
        engine_options=engine,
        verify=not skip_verify,
        progress=lambda items: progress(items, "translate-test"),
    )
    typer.echo(summary.report(), err=True, nl=False)


@command("translate-train")
@with_engine_options
def translate_train_command(
    bundle: BundleOption,
    src_lang: Annotated[
        str, typer.Option("--src-lang", help="Language of the labelled input (eng_Latn).")
    ],
    tgt_lang: Annotated[str, typer.Option("--tgt-lang", help="Language to translate into.")],
    source: Annotated[
        str,
        typer.Argument(help="Labelled sentences: CoNLL or JSONL, IOB2.", show_default=False),
    ],
    output: Output = "-",
    in_fmt: Annotated[
        str | None, typer.Option("--from", help="Input format: conll or jsonl.")
    ] = None,
    out_fmt: OutFormat = None,
    method: Method = "heuristic",
    merge_distance: MergeDistance = 1,
    length_ratio: LengthRatio = 0.8,
    keep: Keep = "all",
    collisions: Collisions = "overwrite",
    max_len: MaxLen = None,
    stop_words: StopWords = "!,?",
    exact: Exact = False,
    drop: Drop = "",
    drop_incomplete: Annotated[
        bool,
        typer.Option(
            "--drop-incomplete", help="Leave out sentences whose projection lost an entity."
        ),
    ] = False,
    explain: Explain = None,
    on_error: OnError = None,
    resume: Resume = False,
    force: Force = False,
    chunk_size: ChunkSize = 256,
    beam_size: BeamSize = None,
    align_method: AlignMethod = None,
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Make training data: translate labelled SOURCE sentences and project their entities onto
    the translations (a sentence that cannot be carried over is skipped by default)."""
    from xner.runtime.jobs import run_translate_train

    summary = run_translate_train(
        bundle,
        source,
        output,
        src_lang,
        tgt_lang,
        method=method,
        options=projection_options(
            method,
            merge_distance=merge_distance,
            length_ratio=length_ratio,
            keep=keep,
            collisions=collisions,
            max_len=max_len,
            stop_words=stop_words,
            exact=exact,
        ),
        drop=split_labels(drop),
        drop_incomplete=drop_incomplete,
        explain=explain,
        on_error=on_error or "skip",
        resume=resume,
        force=force,
        chunk_size=chunk_size,
        in_fmt=in_fmt,
        out_fmt=out_fmt,
        beam_size=beam_size,
        align_method=align_method,
        engine_options=engine,
        verify=not skip_verify,
        progress=lambda items: progress(items, "translate-train"),
    )
    typer.echo(summary.report(), err=True, nl=False)
