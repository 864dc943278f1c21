"""``xner align``: word-align sentence pairs with the bundle's aligner, write Pharaoh links."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.options import (
    SkipVerify,
    bundle_option,
    progress,
    with_engine_options,
)
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
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Align the words of SRC and TGT (or of a --pairs file); one line of links per pair."""
    from xner.runtime.engines.aligner import align_files
    from xner.runtime.engines.engine_set import check_engine_settings
    from xner.runtime.files.atomic import check_output

    check_output(output)  # every check before the model is loaded
    check_engine_settings(engine, align_method=method)
    count = align_files(
        bundle,
        src,
        tgt,
        output,
        pairs=pairs,
        method=method,
        distortion=distortion,
        threshold=threshold,
        options=engine,
        verify=not skip_verify,
        progress=lambda items: progress(items, "aligning", unit="pairs"),
    )
    typer.echo(f"aligned {count} sentence pairs with {method}", err=True)
