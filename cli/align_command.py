"""``xner align``: word-align sentence pairs with the bundle's aligner, write Pharaoh links."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.job_options import ChunkSize, Force, Resume, job_progress
from xner.cli.options import SkipVerify, bundle_option, with_engine_options
from xner.runtime.engines.options import EngineOptions


@command("align")
@with_engine_options(compute_type=False)
def align_command(
    bundle: Annotated[Path, bundle_option("Bundle with an aligner.")],
    src: Annotated[
        Path | None,
        typer.Argument(help="Source sentences, one whitespace-tokenised sentence per line."),
    ] = None,
    tgt: Annotated[
        Path | None, typer.Argument(help="Target sentences, line by line parallel to SRC.")
    ] = None,
    pairs: Annotated[
        Path | None,
        typer.Option("--pairs", help="One file of 'source ||| target' lines instead of SRC TGT."),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="Pharaoh links i-j, 0-indexed; - = stdout.")
    ] = "-",
    method: Annotated[
        str, typer.Option(help="itermax, argmax, match (SimAlign) or softmax (AWESoME).")
    ] = "itermax",
    distortion: Annotated[
        float, typer.Option(help="SimAlign distortion ratio (0 = off); not with softmax.")
    ] = 0.0,
    threshold: Annotated[float, typer.Option(help="softmax: probability threshold.")] = 0.001,
    chunk_size: ChunkSize = 256,
    resume: Resume = False,
    force: Force = False,
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Align the words of SRC and TGT (or of a --pairs file); one line of links per pair."""
    from xner.runtime.jobs import AlignConfig, FileJobConfig, run_align
    from xner.runtime.jobs.alignment_files import pair_inputs

    first, second = pair_inputs(src, tgt, pairs)
    summary = run_align(
        bundle,
        FileJobConfig(first, output, resume=resume, force=force),
        AlignConfig(second, method, distortion, threshold, chunk_size=chunk_size),
        engine_options=engine,
        verify=not skip_verify,
        progress=job_progress("aligning", unit="pairs"),
    )
    typer.echo(f"aligned {summary.written} sentence pairs with {method}", err=True)
    if summary.resumed:
        typer.echo(summary.report(), err=True, nl=False)
