"""Recipes: TOML files that say which public checkpoints make a bundle (see models/).

```toml
name = "default"
description = "..."
[translator]   # model, tokenizer, revision, tokenizer_revision, quantization, license
[tagger]       # model, revision, license, scheme, trained_on (languages of its data)
[aligner]      # model, layer, revision, license
[onnx]         # quantization, per_channel, activations, reduce_range, fuse, opset, preprocess
[validation]   # tolerance, min_agreement
```
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xner.export.options import (
    AlignerSpec,
    OnnxOptions,
    TaggerSpec,
    TranslatorSpec,
    ValidationOptions,
)
from xner.runtime.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_TABLES: dict[str, type] = {
    "translator": TranslatorSpec,
    "tagger": TaggerSpec,
    "aligner": AlignerSpec,
    "onnx": OnnxOptions,
    "validation": ValidationOptions,
}
_TOP = {"name", "description", *_TABLES}


@dataclass
class Recipe:
    """A parsed recipe: the parts it names and its ONNX and validation settings."""

    path: Path
    name: str
    description: str = ""
    translator: TranslatorSpec | None = None
    tagger: TaggerSpec | None = None
    aligner: AlignerSpec | None = None
    onnx: OnnxOptions = field(default_factory=OnnxOptions)
    validation: ValidationOptions = field(default_factory=ValidationOptions)


def load_recipe(path: str | Path) -> Recipe:
    """Parse a recipe file; mistakes raise InputError naming the file (and line when known)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        raise InputError(path, int(match[1]) if match else None, f"bad TOML: {error}") from None
    except UnicodeDecodeError:
        raise InputError(path, None, "not UTF-8 text") from None
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise InputError(
            path, None, f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_TOP))}"
        )
    recipe = Recipe(path, str(data.get("name", path.stem)), str(data.get("description", "")))
    for table, cls in _TABLES.items():
        if table in data:
            setattr(recipe, table, _build(path, table, cls, data[table]))
    return recipe


def _build(path: Path, table: str, cls: type, values: Any) -> Any:
    if not isinstance(values, dict):
        raise InputError(path, None, f"{table} must be a table ([{table}])")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InputError(
            path,
            None,
            f"[{table}] has unknown key(s) {', '.join(unknown)}; valid: {', '.join(fields)}",
        )
    required = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in values]
    if missing:
        raise InputError(path, None, f"[{table}] lacks {', '.join(missing)}")
    for name, value in values.items():
        default = fields[name].default
        expected = str if default is dataclasses.MISSING or default is None else type(default)
        ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if expected is tuple:  # a TOML list of names
            ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
        if not ok:
            kind = "list of names" if expected is tuple else expected.__name__
            raise InputError(path, None, f"[{table}] {name} must be a {kind}, not {value!r}")
    converted: dict[str, Any] = {
        name: tuple(value) if isinstance(value, list) else value for name, value in values.items()
    }
    if "probe" in converted and converted["probe"] is not None:
        converted["probe"] = (path.parent / converted["probe"]).resolve()
    return cls(**converted)
