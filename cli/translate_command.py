"""``xner translate``: translate a text file, a sentence per line, with the bundle's translator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.job_options import ChunkSize, Force, Resume, job_progress
from xner.cli.options import SkipVerify, bundle_option, with_engine_options
from xner.runtime.engines.options import EngineOptions


@command("translate")
@with_engine_options
def translate_command(
    bundle: Annotated[Path, bundle_option("The bundle folder.")],
    src_lang: Annotated[
        str, typer.Option("--src-lang", help="Source language: code, ISO code or name (hau).")
    ],
    tgt_lang: Annotated[
        str, typer.Option("--tgt-lang", help="Target language: code, ISO code or name (eng).")
    ],
    source: Annotated[
        str,
        typer.Argument(help="Text file, one sentence per line; - reads stdin.", show_default=False),
    ] = "-",
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output file; - writes stdout.")
    ] = "-",
    out_fmt: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Output format: text (one translation per line) or jsonl (one object per line "
            "with text, tokens, score, truncated, segments, source, line); default: jsonl for a "
            ".jsonl or .json output, else text.",
        ),
    ] = None,
    beam_size: Annotated[
        int, typer.Option("--beam-size", min=1, help="Beam size (1: greedy, fastest).")
    ] = 1,
    max_decoding_length: Annotated[
        int | None,
        typer.Option(
            "--max-decoding-length",
            min=1,
            help="Most generated tokens per translation, the end token counted, the target "
            "language code not; no retry: a translation that reaches it is flagged truncated. "
            "Default: max(16, 3 x source pieces + 10), and a translation that reaches it is "
            "retried once up to the model's limit (its target positions).",
        ),
    ] = None,
    min_decoding_length: Annotated[
        int,
        typer.Option(
            "--min-decoding-length",
            min=0,
            help="Least generated tokens before the end token may come, the target language "
            "code not counted (0: the model ends when it likes).",
        ),
    ] = 0,
    chunk_size: ChunkSize = 256,
    resume: Resume = False,
    force: Force = False,
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Translate SOURCE line by line; empty lines stay empty, so output line n matches line n."""
    from xner.runtime.jobs import FileJobConfig, TranslateConfig, run_translate

    files = FileJobConfig(source, output, out_fmt=out_fmt, resume=resume, force=force)
    config = TranslateConfig(
        src_lang,
        tgt_lang,
        beam_size=beam_size,
        max_decoding_length=max_decoding_length,
        min_decoding_length=min_decoding_length,
        chunk_size=chunk_size,
    )
    summary = run_translate(
        bundle,
        files,
        config,
        engine_options=engine,
        verify=not skip_verify,
        progress=job_progress("translating"),
    )
    if summary.resumed:
        typer.echo(summary.report(), err=True, nl=False)
