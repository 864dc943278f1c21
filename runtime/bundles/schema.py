"""Dataclasses as a JSON schema: build a frozen dataclass from parsed JSON, or say what is wrong.

One generic validator for records read from disk (the bundle manifest): a dataclass's type
annotations give each value's type (``str``, ``int``, ``float``, ``bool``, ``X | None``,
``tuple[X, ...]``, mappings and nested dataclasses) and a field's ``metadata`` adds what a type
cannot say (``min``, ``non_empty``, ``choices``, ``pattern`` with ``means``). Problems are
collected as ``where: expected ..., got ...`` lines, so that one error can name all of them.
Adding a field to a dataclass needs no new check code.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Any

__all__ = ["BAD", "build", "shown"]

INT_LIMIT = 1 << 63  # integers lie in 0 .. 2**63 - 1 (int64, as the engines use)

BAD = object()  # what _convert returns for a value it refused (the problem is recorded)
_NAMES = {str: "a string", int: "a non-negative integer", float: "a number", bool: "true or false"}
_PLURALS = {str: "strings", int: "non-negative integers", float: "numbers", bool: "booleans"}


def _describe(hint: Any) -> str:
    """What a value of type ``hint`` looks like in JSON, for messages (``a list of strings``)."""
    origin = typing.get_origin(hint)
    if hint in _NAMES:
        return _NAMES[hint]
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return " or ".join(_describe(arg) for arg in inner) + " or null"
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return f"a list of {_PLURALS.get(item, 'objects')}"
    return "an object"


def shown(value: Any) -> str:
    """A short JSON rendering of a refused value."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _convert(value: Any, hint: Any, where: str, problems: list[str]) -> Any:
    """``value`` as the annotated type ``hint`` (lists become tuples, objects dataclasses).

    A value that does not fit adds ``where: expected ...`` to ``problems`` and gives ``BAD``.
    """
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        result = _convert(value, inner, where, [])
        if result is BAD:
            problems.append(f"{where}: expected {_describe(hint)}, got {shown(value)}")
        return result
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return build(hint, value, where, problems)
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            problems.append(f"{where}: expected {_describe(hint)}, got {shown(value)}")
            return BAD
        if dataclasses.is_dataclass(item_hint):  # objects: say which item and which key
            items = [_convert(v, item_hint, f"{where}[{i}]", problems) for i, v in enumerate(value)]
            return BAD if any(item is BAD for item in items) else tuple(items)
        items = [_convert(v, item_hint, where, []) for v in value]
        if any(item is BAD for item in items):
            bad = next(v for v, item in zip(value, items, strict=True) if item is BAD)
            problems.append(f"{where}: expected {_describe(hint)}, got an item {shown(bad)}")
            return BAD
        return tuple(items)
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {shown(value)}")
            return BAD
        return value
    if not _fits_shape(value, hint):
        problems.append(f"{where}: expected {_describe(hint)}, got {shown(value)}")
        return BAD
    return float(value) if hint is float else value


def _fits_shape(value: Any, hint: Any) -> bool:
    """True when a JSON scalar ``value`` is a valid ``hint`` (``bool`` is no integer here)."""
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < INT_LIMIT
    if hint is float:
        if isinstance(value, int) and not isinstance(value, bool):
            return abs(value) < 1 << 1023  # converts to a finite float
        return isinstance(value, float) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    return False


def _check_rules(spec: dataclasses.Field[Any], value: Any, where: str, problems: list[str]) -> bool:
    """The field's ``metadata`` rules that a type cannot say; False when one is broken."""
    rules = spec.metadata
    if "min" in rules and value < rules["min"]:
        problems.append(f"{where}: expected an integer >= {rules['min']}, got {value}")
        return False
    if rules.get("non_empty") and not value:
        problems.append(f"{where}: must not be empty")
        return False
    if "choices" in rules and value not in rules["choices"]:
        problems.append(
            f"{where}: expected one of {', '.join(rules['choices'])}, got {shown(value)}"
        )
        return False
    if "pattern" in rules and not re.fullmatch(rules["pattern"], value):
        problems.append(f"{where}: expected {rules['means']}, got {shown(value)}")
        return False
    return True


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def build(cls: type, data: Any, where: str, problems: list[str]) -> Any:
    """Make dataclass ``cls`` from a JSON object; unknown keys are ignored (newer writers).

    Every problem found is added to ``problems``; ``BAD`` is returned when there was any.
    """
    if not isinstance(data, dict):
        problems.append(f"{where}: expected an object, got {shown(data)}")
        return BAD
    hints = _hints(cls)
    values: dict[str, Any] = {}
    missing = []
    failed = False
    for spec in dataclasses.fields(cls):
        if spec.name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                missing.append(spec.name)
            continue
        path = f"{where}{spec.name}" if where.endswith(" ") else f"{where}.{spec.name}"
        value = _convert(data[spec.name], hints[spec.name], path, problems)
        if value is BAD or not _check_rules(spec, value, path, problems):
            failed = True
            continue
        values[spec.name] = value
    if missing:
        problems.append(f"{where.rstrip(': ')} lacks {', '.join(missing)}")
    if failed or missing:
        return BAD
    return cls(**values)
