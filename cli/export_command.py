"""``xner export``: turn checkpoints into a bundle (imports the torch side inside the command)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from xner.cli.app import command, fail
from xner.cli.bundle_commands import describe
from xner.runtime.bundles import store as bundle_store
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.names import split_names


@command("export")
def export_command(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The bundle folder to write.")
    ] = None,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            help="Replace only the tagger of this existing bundle with --tagger RUN_DIR (a "
            "model folder from xner train); the other parts are kept.",
        ),
    ] = None,
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
    activations: Annotated[
        str | None,
        typer.Option(
            "--activations",
            help="int8 activation scales: per-row (default: a sentence's labels never depend on "
            "its batch) or per-tensor (one scale per batch).",
        ),
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
    vocabulary_pivots: Annotated[
        str | None,
        typer.Option(
            "--translator-vocabulary-pivots",
            help="Target languages (Latin script) that get a smaller output layer: Latin-script "
            "pieces only, validated on the probes (eng_Latn; '' for none).",
        ),
    ] = None,
    min_vocabulary_agreement: Annotated[
        float | None,
        typer.Option(
            "--min-vocabulary-agreement",
            help="The smaller output layer is used when its greedy translations of the probes "
            "agree with the full one's on this share of the tokens (0.99).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace parts the bundle already has.")
    ] = False,
) -> None:
    """Export checkpoints into a bundle, or a trained tagger into an existing one with --into
    (needs the export extra: torch, transformers, onnx)."""
    try:
        from xner.export import ExportOptions, load_recipe
        from xner.export import api as export_api
        from xner.export import options as eo
    except ImportError as error:  # pragma: no cover - depends on the installation
        message = f"xner export needs the export extra (pip install 'xner[export]'): {error}"
        raise fail(message) from None

    if into is not None:
        given = {
            "--out": out,
            "--recipe": recipe,
            "--only": only,
            "--translator": translator,
            "--translator-tokenizer": translator_tokenizer,
            "--translator-quantization": translator_quantization,
            "--aligner": aligner,
            "--aligner-layer": aligner_layer,
        }
        _export_into(
            tagger,
            into,
            [flag for flag, value in given.items() if value is not None],
            onnx=dict(
                per_channel=per_channel,
                activations=activations,
                reduce_range=reduce_range,
                fuse=fuse,
            ),
            quantization=onnx_quantization,
            validation=dict(
                probe=probe,
                min_agreement=min_agreement,
                min_torch_agreement=min_torch_agreement,
                tolerance=tolerance,
            ),
            scheme=tagger_scheme,
        )
        return
    if out is None:
        raise ConfigError(
            "give --out BUNDLE (the bundle to write) or --into BUNDLE with --tagger RUN_DIR "
            "(replace the tagger of an existing bundle)"
        )
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
    _set(options.onnx, "activations", activations, "")
    _set(options.onnx, "reduce_range", reduce_range, "")
    _set(options.onnx, "fuse", fuse, "")
    _set(options.validation, "probe", probe, "")
    _set(options.validation, "min_agreement", min_agreement, "")
    _set(options.validation, "min_torch_agreement", min_torch_agreement, "")
    _set(options.validation, "tolerance", tolerance, "")
    _set(
        options.translator, "vocabulary_pivots", vocabulary_pivots, "--translator-vocabulary-pivots"
    )
    _set(options.validation, "min_vocabulary_agreement", min_vocabulary_agreement, "")
    result = export_api.export_bundle(options)
    parts = ", ".join(result.exported)
    typer.echo(f"wrote {result.path} ({parts}) in {result.seconds['total']:.1f} s", err=True)
    for line in describe(result.bundle):
        typer.echo(line)


def _export_into(
    tagger: str | None,
    into: Path,
    others: list[str],
    *,
    onnx: dict[str, Any],
    quantization: str | None,
    validation: dict[str, Any],
    scheme: str | None,
) -> None:
    """``--into``: re-export the tagger of an existing bundle from a trained model folder."""
    if others:
        raise ConfigError(
            f"--into replaces only the tagger of an existing bundle: {others[0]} cannot go with "
            "it (give --tagger RUN_DIR and, if needed, --onnx-quantization, --probe ...)"
        )
    if tagger is None:
        raise ConfigError("--into needs --tagger RUN_DIR: the trained model folder to export")
    from xner.export import options as eo
    from xner.export.into import export_into

    try:  # a folder, or the name of an installed bundle
        bundle = bundle_store.resolve_bundle(into)
    except ConfigError:
        raise ConfigError(
            f"--into {into}: no such folder, nor an installed bundle of that name"
        ) from None
    onnx_options = eo.OnnxOptions()
    validation_options = eo.ValidationOptions()
    for target, values in ((onnx_options, onnx), (validation_options, validation)):
        for name, value in values.items():
            _set(target, name, value, "")
    result = export_into(
        Path(tagger),
        bundle,
        quantization=quantization,  # checked with the other options by the export
        onnx=onnx_options,
        validation=validation_options,
        scheme=scheme or "auto",
    )
    done = result.export
    verb = "replaced the tagger of" if result.replaced else "added a tagger to"
    typer.echo(
        f"{verb} {done.path} from {tagger} in {done.seconds['total']:.1f} s; it gives the "
        f"trained model's labels to {result.label_agreement:.2%} of the words of "
        f"{result.probe_sentences} probe sentences",
        err=True,
    )
    for line in describe(done.bundle):
        typer.echo(line)


def _set(target: Any, name: str, value: Any, flag: str) -> None:
    """Apply a command-line value over the recipe's; a part option needs its part."""
    if value is None:
        return
    if target is None:
        part = flag.split("-")[2]
        raise ConfigError(f"{flag} needs --{part} (or a --recipe with a [{part}] table)")
    setattr(target, name, value)
