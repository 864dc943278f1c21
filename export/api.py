"""``export_bundle``: build a bundle (or add parts to one) atomically.

The bundle is assembled in a temporary sibling of the target (``.NAME.tmp-*``): components kept
from an existing bundle are hard-linked (or copied), new ones exported, the manifest written,
and only then is the folder renamed into place. A failure leaves the target untouched.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xner.export.manifest_writer import (
    ComponentResult,
    build_manifest,
    component_entry,
    write_manifest,
)
from xner.export.options import ONNX_ALIASES, ExportError, ExportOptions
from xner.export.probes import load_probes
from xner.runtime.bundles.bundle import MANIFEST, Bundle, check_files, read_manifest
from xner.runtime.errors import ConfigError

logger = logging.getLogger("xner")


@dataclass
class ExportResult:
    """What an export did: the bundle written, the parts exported and the time each took."""

    path: Path
    bundle: Bundle
    exported: list[str]
    kept: list[str]
    seconds: dict[str, float] = field(default_factory=dict)


def export_bundle(options: ExportOptions) -> ExportResult:
    """Export the parts named in ``options`` into the bundle ``options.out``.

    A new folder becomes a new bundle; an existing bundle keeps its other components. Replacing
    a component the bundle already has needs ``force``. A non-empty folder that is not a bundle
    is never overwritten.
    """
    from xner.export.onnx_export import export_aligner, export_tagger
    from xner.export.translator import export_translator

    options.check()
    started = time.perf_counter()
    out = Path(options.out).absolute()
    existing = _existing_manifest(out)
    parts = options.parts()
    present = set(existing.get("components", {})) if existing else set()
    clash = sorted(present & set(parts))
    if clash and not options.force:
        raise ConfigError(
            f"{out} already has a {' and a '.join(clash)}; use --force to replace "
            f"{'it' if len(clash) == 1 else 'them'}"
        )
    probes = load_probes(options.validation.probe)
    exporters: dict[str, Callable[..., ComponentResult]] = {
        "translator": export_translator,
        "tagger": export_tagger,
        "aligner": export_aligner,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(out, "tmp")
    work = _sibling(out, "work")
    try:
        components: dict[str, dict[str, Any]] = {}
        warnings: list[str] = []
        kept = sorted(present - set(parts))
        if existing:
            components, warnings = _keep(out, existing, kept, staging)
        seconds: dict[str, float] = {}
        for name, spec in parts.items():
            logger.info("exporting the %s from %s", name, spec.model)
            result: ComponentResult = exporters[name](spec, staging, work, options, probes)
            components[name] = component_entry(staging, result)
            warnings += result.warnings
            seconds[name] = round(result.seconds, 3)
        write_manifest(staging, build_manifest(components, warnings))
        Bundle.load(staging, verify=True)  # the new bundle loads and verifies before it replaces
        _replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    seconds["total"] = round(time.perf_counter() - started, 3)
    bundle = Bundle.load(out, verify=False)
    return ExportResult(out, bundle, list(parts), kept, seconds)


def _existing_manifest(out: Path) -> dict[str, Any] | None:
    """The manifest of an existing bundle at ``out``; None for a new or empty folder."""
    if not out.exists():
        return None
    if not out.is_dir():
        raise ConfigError(f"{out} exists and is not a folder")
    if (out / MANIFEST).is_file():
        return read_manifest(out)
    if any(out.iterdir()):
        raise ConfigError(
            f"{out} is a folder with files but no {MANIFEST}: not a bundle, refusing to "
            "overwrite it (even with --force); choose another --out"
        )
    return None


def _keep(
    out: Path, manifest: dict[str, Any], kept: list[str], staging: Path
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Link (or copy) the kept components' files into ``staging`` after checking them."""
    bundle = Bundle.from_manifest(out, manifest)
    components: dict[str, dict[str, Any]] = {}
    for name in kept:
        component = bundle.components.get(name)
        if component is None:
            logger.warning("dropping the %s component: this xner does not know it", name)
            continue
        problems = check_files(out, component.files)
        if problems:
            listed = "; ".join(str(p) for p in problems)
            raise ExportError(
                f"{out}: the {name} to keep fails verification ({listed}); "
                f"re-export it (--{name} ... --force) or remove the bundle"
            )
        for entry in component.files:
            _link(out / entry.path, staging / entry.path)
        components[name] = _respell(manifest["components"][name])
    warnings = [w for w in manifest.get("warnings", []) if w.split(" ", 1)[0] in kept]
    return components, warnings


def _respell(entry: dict[str, Any]) -> dict[str, Any]:
    """A kept component's manifest entry with today's words (ONNX ``none`` is ``float32``)."""
    settings = entry.get("settings")
    if not isinstance(settings, dict) or settings.get("quantization") not in ONNX_ALIASES:
        return entry
    quantization = ONNX_ALIASES[settings["quantization"]]
    return {**entry, "settings": {**settings, "quantization": quantization}}


def _sibling(out: Path, kind: str) -> Path:
    """A new empty folder ``.NAME.KIND-XXXXXXXX`` beside ``out`` (mode from the umask)."""
    for _ in range(100):
        path = out.parent / f".{out.name}.{kind}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ExportError(f"cannot create a temporary folder beside {out}")


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _replace(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``; an old ``out`` is swapped out in one step, then removed.

    Where the system cannot swap two folders atomically (:func:`_exchange`), the old ``out`` is
    moved aside first: a kill between the two renames leaves it as ``.NAME.old-*``.
    """
    if not out.exists():
        os.replace(staging, out)
        return
    if _exchange(staging, out):  # staging now holds the old bundle
        shutil.rmtree(staging, ignore_errors=True)
        return
    old = _sibling(out, "old")
    old.rmdir()
    os.replace(out, old)
    try:
        os.replace(staging, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two folders in one atomic step (Linux ``renameat2`` with ``RENAME_EXCHANGE``).

    A kill at any moment leaves each path holding one whole folder. False where the system or
    the file system cannot do it (then nothing has changed).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without renameat2 (glibc < 2.28, musl)
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    done = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if done != 0:
        logger.debug("renameat2 exchange failed (%s); renaming in two steps", ctypes.get_errno())
    return done == 0
