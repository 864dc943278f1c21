"""``xner doctor``: versions, ONNX Runtime providers, CTranslate2 compute types, threads."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.options import InterThreads, IntraThreads, engine_options


@command("doctor")
def doctor_command(
    intra_threads: IntraThreads = 0,
    inter_threads: InterThreads = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print what the engines would run on: versions, devices, compute types, threads."""
    from xner.runtime.doctor import doctor

    report = doctor(engine_options(intra_threads=intra_threads, inter_threads=inter_threads))
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.format(), nl=as_json)
