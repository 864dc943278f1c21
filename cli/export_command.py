"""``xner export``: turn checkpoints into a bundle (imports the torch side inside the command)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xner.cli.app import command, fail
from xner.cli.bundle_commands import describe
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.names import split_names


@command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The bundle folder to write.")],
    recipe: Annotated[
        Path | None, typer.Option("--recipe", help="A recipe TOML (models/default.toml ...).")
    ] = None,
    only: Annotated[
        str | None,
        typer.Option("--only", help="With --recipe: export only these parts (tagger,aligner)."),
    ] = None,
    translator: Annotated[
        str | None, typer.Option("--translator", help="M2M100/NLLB hub id or local folder.")
    ] = None,
    translator_tokenizer: Annotated[
        str | None,
        typer.Option(
            "--translator-tokenizer",
            help="Take the translator's tokenizer from here (fine-tuned NLLB such as EasyProject).",
        ),
    ] = None,
    translator_quantization: Annotated[
        str | None,
        typer.Option(
            "--translator-quantization",
            help="int8 (default), int8_float16, int8_float32, float16 or float32.",
        ),
    ] = None,
    tagger: Annotated[
        str | None,
        typer.Option("--tagger", help="Token-classification model (XLM-R, mBERT, mDeBERTa)."),
    ] = None,
    tagger_scheme: Annotated[
        str | None,
        typer.Option("--tagger-scheme", help="auto (read the labels), IOB1, IOB2, BIOES or IO."),
    ] = None,
    aligner: Annotated[
        str | None, typer.Option("--aligner", help="Base encoder for alignment (mBERT ...).")
    ] = None,
    aligner_layer: Annotated[
        int | None, typer.Option("--aligner-layer", help="Hidden layer to align with (8).")
    ] = None,
    onnx_quantization: Annotated[
        str | None,
        typer.Option(
            "--onnx-quantization",
            help="int8 (default) or float32 (full precision; the old spelling none also works).",
        ),
    ] = None,
    per_channel: Annotated[
        bool | None,
        typer.Option("--per-channel/--per-tensor", help="int8 scales per channel or per tensor."),
    ] = None,
    reduce_range: Annotated[
        bool | None,
        typer.Option("--reduce-range/--full-range", help="7-bit weights for CPUs without VNNI."),
    ] = None,
    fuse: Annotated[
        bool | None,
        typer.Option("--fuse/--no-fuse", help="Fuse attention, GELU, layer norms (BERT, XLM-R)."),
    ] = None,
    probe: Annotated[
        Path | None,
        typer.Option("--probe", help="Probe sentences (LANG<TAB>SENTENCE lines) for validation."),
    ] = None,
    min_agreement: Annotated[
        float | None,
        typer.Option("--min-agreement", help="Warn when int8 agrees less with fp32 (0.98)."),
    ] = None,
    min_torch_agreement: Annotated[
        float | None,
        typer.Option(
            "--min-torch-agreement",
            help="Fail when float32 CTranslate2 agrees less with transformers (greedy, 0.9).",
        ),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option("--tolerance", help="Largest ONNX fp32 vs torch difference (1e-3, scaled)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace parts the bundle already has.")
    ] = False,
) -> None:
    """Export checkpoints into a bundle (needs the export extra: torch, transformers, onnx)."""
    try:
        from xner.export import ExportOptions, load_recipe
        from xner.export import api as export_api
        from xner.export import options as eo
    except ImportError as error:  # pragma: no cover - depends on the installation
        message = f"xner export needs the export extra (pip install 'xner[export]'): {error}"
        raise fail(message) from None

    base = load_recipe(recipe) if recipe else None
    options = ExportOptions(out=out, force=force)
    if base:
        options.translator, options.tagger, options.aligner = (
            base.translator,
            base.tagger,
            base.aligner,
        )
        options.onnx, options.validation = base.onnx, base.validation
    if only:
        keep = set(split_names(only))
        unknown = sorted(keep - set(eo.PARTS))
        if unknown:
            raise unknown_choice("part", unknown[0], eo.PARTS)
        for part in set(eo.PARTS) - keep:
            setattr(options, part, None)
    if translator:
        options.translator = eo.TranslatorSpec(translator)
    if tagger:
        options.tagger = eo.TaggerSpec(tagger)
    if aligner:
        options.aligner = eo.AlignerSpec(aligner)
    _set(options.translator, "tokenizer", translator_tokenizer, "--translator-tokenizer")
    _set(options.translator, "quantization", translator_quantization, "--translator-quantization")
    _set(options.tagger, "scheme", tagger_scheme, "--tagger-scheme")
    _set(options.aligner, "layer", aligner_layer, "--aligner-layer")
    _set(options.onnx, "quantization", onnx_quantization, "")
    _set(options.onnx, "per_channel", per_channel, "")
    _set(options.onnx, "reduce_range", reduce_range, "")
    _set(options.onnx, "fuse", fuse, "")
    _set(options.validation, "probe", probe, "")
    _set(options.validation, "min_agreement", min_agreement, "")
    _set(options.validation, "min_torch_agreement", min_torch_agreement, "")
    _set(options.validation, "tolerance", tolerance, "")
    result = export_api.export_bundle(options)
    parts = ", ".join(result.exported)
    typer.echo(f"wrote {result.path} ({parts}) in {result.seconds['total']:.1f} s", err=True)
    for line in describe(result.bundle):
        typer.echo(line)


def _set(target: Any, name: str, value: Any, flag: str) -> None:
    """Apply a command-line value over the recipe's; a part option needs its part."""
    if value is None:
        return
    if target is None:
        part = flag.split("-")[2]
        raise ConfigError(f"{flag} needs --{part} (or a --recipe with a [{part}] table)")
    setattr(target, name, value)
