"""``xner translate``: translate a text file, a sentence per line, with the bundle's translator."""

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
from xner.runtime.bundle import Bundle
from xner.runtime.engine import EngineOptions
from xner.runtime.translator import Translator, translate_file


@command("translate")
@with_engine_options
def translate_command(
    bundle: Annotated[Path, typer.Option("--bundle", "-b", help="The bundle folder.")],
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
        str, typer.Option("--output", "-o", help="Output text file; - writes stdout.")
    ] = "-",
    beam_size: Annotated[
        int, typer.Option("--beam-size", min=1, help="Beam size (1: greedy, fastest).")
    ] = 1,
    max_decoding_length: Annotated[
        int | None,
        typer.Option(
            "--max-decoding-length",
            min=1,
            help="Fixed most tokens per translation (default: from the sentence length).",
        ),
    ] = None,
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Translate SOURCE line by line; empty lines stay empty, so output line n matches line n."""
    translator = Translator(
        Bundle.load(bundle, verify=not skip_verify),
        engine,
        beam_size=beam_size,
        max_decoding_length=max_decoding_length,
    )
    translate_file(
        translator,
        source,
        output,
        src_lang,
        tgt_lang,
        wrap=lambda items: progress(items, "translating"),
    )
