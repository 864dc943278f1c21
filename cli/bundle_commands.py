"""Bundle commands, grouped as ``xner bundle ...``: ``verify``, ``info``, ``pack``, ``unpack``,
``list`` (``export`` lives in export_command.py).

``xner verify`` and ``xner info`` remain as hidden aliases for one release.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from xner.cli.app import app, command, fail
from xner.runtime.bundles import store as bundle_store
from xner.runtime.bundles.archive import FAT32_MAX, pack_bundle, parse_size, unpack_bundle
from xner.runtime.bundles.bundle import (
    Bundle,
    VocabularyRestriction,
    read_manifest,
    verify_bundle,
)

logger = logging.getLogger("xner")

bundle_app = typer.Typer(
    name="bundle",
    help="Check, describe, pack (for a USB stick), unpack and list bundles.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(bundle_app, name="bundle")

BundleArgument = Annotated[
    Path | None,
    typer.Argument(
        help="Bundle folder or installed name (default: $XNER_BUNDLE, then the installed one, "
        "then ./bundles/default).",
        show_default=False,
        metavar="BUNDLE",
    ),
]


def _bundle_command(name: str, *, alias: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """Register ``xner bundle NAME``; ``alias`` also keeps the old ``xner NAME`` (hidden)."""

    def decorate(fn: Callable[..., Any]) -> Any:
        wrapped = command(name, on=bundle_app)(fn)
        if alias:  # the pre-group spelling, kept for one release
            app.command(name, hidden=True)(wrapped)
        return wrapped

    return decorate


@_bundle_command("verify", alias=True)
def verify_command(bundle: BundleArgument = None) -> None:
    """Check every file of a bundle against its manifest (size and SHA-256); exit 1 if any fails."""
    bundle = bundle_store.resolve_bundle(bundle)
    problems = verify_bundle(bundle)
    if problems:
        for problem in problems:
            typer.echo(f"xner: error: {bundle}: {problem}", err=True)
        typer.echo(f"xner: {bundle}: {len(problems)} bad or missing file(s)", err=True)
        raise typer.Exit(1)
    count = len(Bundle.from_manifest(bundle, read_manifest(bundle)).files)
    typer.echo(f"{bundle}: OK ({count} files verified)")


@_bundle_command("info", alias=True)
def info_command(
    bundle: BundleArgument = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole manifest.")] = False,
    languages: Annotated[
        bool, typer.Option("--languages", help="List every language code.")
    ] = False,
) -> None:
    """Show a bundle's components, sizes, languages and fidelity figures (no verification)."""
    bundle = bundle_store.resolve_bundle(bundle)
    manifest = read_manifest(bundle)
    if as_json:
        typer.echo(json.dumps(manifest, indent=2, ensure_ascii=False))
        return
    view = Bundle.from_manifest(bundle, manifest)
    for line in describe(view, all_languages=languages):
        typer.echo(line)


@_bundle_command("pack")
def pack_command(
    out: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="The archive: FILE.tar, or FILE.tar.zst (zstd extra).",
        ),
    ],
    bundle: BundleArgument = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            metavar="SIZE",
            help="Write parts FILE.001, FILE.002, ... of at most this size (K, M, G; 3.9G fits "
            "a FAT32 stick).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing archive (or its parts).")
    ] = False,
) -> None:
    """Pack a bundle into one file (manifest first; only the files it lists) for a USB stick."""
    bundle = bundle_store.resolve_bundle(bundle)
    part_size = parse_size(split) if split is not None else None
    if part_size is not None and part_size > FAT32_MAX:
        logger.warning("parts of %s bytes do not fit a FAT32 stick (4 GiB - 1 at most)", part_size)
    with _byte_progress("packing") as progress:
        result = pack_bundle(bundle, out, split=part_size, force=force, progress=progress)
    for part in result.parts:
        typer.echo(part)
    typer.echo(
        f"packed the manifest and {result.files} files ({_size(result.bundle_bytes)}) into "
        f"{len(result.parts)} file(s), {_size(result.archive_bytes)}, in {result.seconds:.1f} s",
        err=True,
    )


@_bundle_command("unpack")
def unpack_command(
    archive: Annotated[
        Path,
        typer.Argument(
            help="The archive, or the first part (FILE.001) of a split one.", metavar="FILE"
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="The bundle folder to create (default: the per-user bundle folder, under the "
            "archive's name).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing folder.")] = False,
) -> None:
    """Unpack and verify a bundle archive (every SHA-256); nothing is left behind on error."""
    with _byte_progress("unpacking") as progress:
        result = unpack_bundle(archive, out, force=force, progress=progress)
    typer.echo(f"{result.root}: OK ({result.files} files verified)")
    typer.echo(
        f"unpacked {_size(result.bundle_bytes)} from {len(result.parts)} file(s) "
        f"in {result.seconds:.1f} s",
        err=True,
    )


@_bundle_command("list")
def list_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="Check file sizes only, not SHA-256 (faster).")
    ] = False,
) -> None:
    """List installed bundles (the per-user folder and ./bundles) with sizes and their check;
    exit 1 when one fails it."""
    found = bundle_store.list_bundles(quick=quick)
    if not found:
        typer.echo(
            f"no bundles installed (looked in {bundle_store.user_bundles_dir()} and "
            f"{bundle_store.local_bundles_dir().absolute()}); "
            "install one with: xner bundle unpack FILE",
            err=True,
        )
        return
    rows = [("NAME", "PLACE", "FILES", "SIZE", "PATH", "CHECK")]
    rows += [(b.name, b.place, str(b.files), _size(b.size), str(b.path), b.status) for b in found]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)]
        typer.echo("  ".join([*cells, row[5]]))
    bad = [b.name for b in found if not b.ok]
    if bad:
        raise fail(f"{len(bad)} bundle(s) failed the check: {', '.join(bad)}", 1)


@contextlib.contextmanager
def _byte_progress(description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar in bytes on stderr, shown only when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def advance(count: int, total: int) -> None:
            bar.update(task, advance=count, total=total)

        yield advance


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
            if s.vocabulary_restriction is not None:
                lines.append(_restriction(s.vocabulary_restriction))
        else:
            lines.append(
                f"  {s.family}, ONNX {'float32' if s.quantization == 'none' else s.quantization}, "
                f"max length {s.max_length}, "
                f"pad {s.pad_id}, {s.cls_token} ... {s.sep_token}"
            )
        if name == "tagger":
            lines.append(f"  {len(s.labels)} labels, scheme {s.scheme}: {' '.join(s.labels)}")
            lines.append(f"  trained on {', '.join(s.trained_on) or 'unknown languages'}")
        if name == "aligner":
            lines.append(f"  layer {s.layer} of {s.num_layers_source}, hidden size {s.hidden_size}")
        lines.extend(f"  fidelity {text}" for text in _fidelity(comp.fidelity))
    lines.extend(f"warning: {w}" for w in bundle.warnings)
    return lines


def _restriction(r: VocabularyRestriction) -> str:
    """One line on the smaller output layer: targets, kept share, fidelity, whether used."""
    agreement = "not measured" if r.token_agreement is None else f"{r.token_agreement:.4g}"
    exact = "" if r.exact_match is None else f", exact sentences {r.exact_match:.4g}"
    used = (
        "validated: used (--no-vocab-restriction: off)"
        if r.validated
        else f"below {r.min_agreement:.4g}: not used"
    )
    return (
        f"  vocabulary restriction into {', '.join(r.targets)}: {r.kept} of {r.total} pieces "
        f"kept ({r.kept / r.total:.1%}), token agreement {agreement}{exact}; {used}"
    )


def _fidelity(fidelity: Mapping[str, Any]) -> list[str]:
    out = []
    for key, value in fidelity.items():
        if key == "batch_invariant" and isinstance(value, dict):
            out.append(_batch_invariant(value))
        elif isinstance(value, dict):
            figures = ", ".join(f"{k} {_number(v)}" for k, v in value.items())
            out.append(f"{key}: {figures}")
        elif key in ("below_min_agreement",) and value:
            out.append("BELOW --min-agreement: consider a full-precision export")
    return out


def _batch_invariant(record: Mapping[str, Any]) -> str:
    """The export's check that probes give the same results alone as in one batch."""
    what = "pairs" if "pairs" in record else "sentences"
    probes = f"{record.get(what, '?')} probe {what}"
    batch = f"one batch of {record.get('batch_size', '?')}"
    activations = f"{record.get('activations', '?')} activations"
    if record.get("identical"):
        return f"batch_invariant: yes, {probes} alone = in {batch} ({activations})"
    changed = record.get("changed", "?")
    return f"batch_invariant: NO, {changed} of {probes} change in {batch} ({activations})"


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
