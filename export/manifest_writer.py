"""Build ``manifest.json`` from exported components (hashing through
xner.runtime.bundles.bundle)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xner.runtime.bundles.bundle import (
    COMPONENT_ENGINES,
    COMPONENTS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    file_entry,
)
from xner.runtime.version import __version__


@dataclass
class ComponentResult:
    """One exported component before it is written into the manifest.

    ``files`` are bundle-relative POSIX paths; ``settings`` follow docs/BUNDLE.md.
    """

    name: str
    source: dict[str, Any]
    settings: dict[str, Any]
    fidelity: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def component_entry(root: Path, result: ComponentResult) -> dict[str, Any]:
    """The manifest object of a component, with size and SHA-256 of each of its files."""
    return {
        "engine": COMPONENT_ENGINES[result.name],
        "source": result.source,
        "settings": result.settings,
        "fidelity": result.fidelity,
        "files": [dataclasses.asdict(file_entry(root, rel)) for rel in sorted(result.files)],
    }


def build_manifest(components: dict[str, dict[str, Any]], warnings: list[str]) -> dict[str, Any]:
    """The whole manifest (components in the order translator, tagger, aligner)."""
    order = [name for name in COMPONENTS if name in components]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "xner_version": __version__,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "warnings": list(dict.fromkeys(warnings)),
        "components": {name: components[name] for name in order},
    }


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    """Write ``root/manifest.json`` (UTF-8, indented, newline at the end)."""
    path = root / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def jsonable(value: Any) -> Any:
    """Tuples to lists, numpy scalars to Python numbers, recursively (for settings/fidelity)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
