"""Bundle commands: ``export`` (imports the torch side inside the command), ``verify``, ``info``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from xner.cli.app import command, fail
from xner.runtime.bundle import Bundle, read_manifest, verify_bundle
from xner.runtime.errors import ConfigError, unknown_choice

logger = logging.getLogger("xner")


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
        str | None, typer.Option("--onnx-quantization", help="int8 (default) or none (fp32).")
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
        keep = {part.strip() for part in only.split(",") if part.strip()}
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


@command("verify")
def verify_command(
    bundle: Annotated[Path, typer.Argument(help="The bundle folder.")],
) -> None:
    """Check every file of a bundle against its manifest (size and SHA-256); exit 1 if any fails."""
    problems = verify_bundle(bundle)
    if problems:
        for problem in problems:
            typer.echo(f"xner: error: {bundle}: {problem}", err=True)
        typer.echo(f"xner: {bundle}: {len(problems)} bad or missing file(s)", err=True)
        raise typer.Exit(1)
    count = len(Bundle.from_manifest(bundle, read_manifest(bundle)).files)
    typer.echo(f"{bundle}: OK ({count} files verified)")


@command("info")
def info_command(
    bundle: Annotated[Path, typer.Argument(help="The bundle folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole manifest.")] = False,
    languages: Annotated[
        bool, typer.Option("--languages", help="List every language code.")
    ] = False,
) -> None:
    """Show a bundle's components, sizes, languages and fidelity figures (no verification)."""
    manifest = read_manifest(bundle)
    if as_json:
        typer.echo(json.dumps(manifest, indent=2, ensure_ascii=False))
        return
    view = Bundle.from_manifest(bundle, manifest)
    for line in describe(view, all_languages=languages):
        typer.echo(line)


def describe(bundle: Bundle, all_languages: bool = False) -> list[str]:
    """Human-readable lines about a bundle (used by ``info`` and after ``export``)."""
    lines = [
        f"bundle {bundle.root}",
        f"  format {bundle.format_version}, xner {bundle.xner_version}, created {bundle.created}",
        f"  {len(bundle.files)} files, {_size(sum(e.size for e in bundle.files))}",
    ]
    for name, comp in bundle.components.items():
        s = comp.settings
        src = comp.source
        lines.append(f"{name}: {src.id} ({_size(comp.size)}, {len(comp.files)} files)")
        rev = f"revision {src.revision}" if src.revision else "no revision (local folder)"
        lines.append(f"  licence {src.license or 'unknown'}, {rev}")
        if name == "translator":
            codes = s.languages if all_languages else s.languages[:8]
            more = "" if all_languages or len(s.languages) <= 8 else ", ..."
            lines.append(f"  {s.family}, CTranslate2 {s.quantization}, {s.vocabulary_size} tokens")
            lines.append(f"  {len(s.languages)} languages: {', '.join(codes)}{more}")
            lines.append(
                f"  source: {' '.join(s.source_prefix)} <pieces> {' '.join(s.source_suffix)}; "
                f"target prefix: {' '.join(s.target_prefix)}"
            )
        else:
            lines.append(
                f"  {s.family}, ONNX {s.quantization}, max length {s.max_length}, "
                f"pad {s.pad_id}, {s.cls_token} ... {s.sep_token}"
            )
        if name == "tagger":
            lines.append(f"  {len(s.labels)} labels, scheme {s.scheme}: {' '.join(s.labels)}")
        if name == "aligner":
            lines.append(f"  layer {s.layer} of {s.num_layers_source}, hidden size {s.hidden_size}")
        lines.extend(f"  fidelity {text}" for text in _fidelity(comp.fidelity))
    lines.extend(f"warning: {w}" for w in bundle.warnings)
    return lines


def _fidelity(fidelity: dict[str, Any]) -> list[str]:
    out = []
    for key, value in fidelity.items():
        if isinstance(value, dict):
            figures = ", ".join(f"{k} {_number(v)}" for k, v in value.items())
            out.append(f"{key}: {figures}")
        elif key in ("below_min_agreement",) and value:
            out.append("BELOW --min-agreement: consider a full-precision export")
    return out


def _number(value: Any) -> str:
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.4g}"
    return str(value)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
