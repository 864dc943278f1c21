"""Columns of an experiment defined on the command line: a method with options, under a name.

Every knob of a projection method can be an experiment column without registering a variant::

    xner experiment ... --column "ngram-mix = ngram scores=align=0.4,ner=0.3,nmt=0.3 max-len=6" \\
                        --column "ngram-c50 = ngram min-confidence=0.5"

A spec is ``NAME = METHOD`` (the spaces around ``=`` are optional) followed by
whitespace-separated ``option=value`` pairs. ``METHOD`` is a registered projection method or
variant; an option is spelt as the method's command-line flag without its dashes (``max-len``,
``scores``, ``ensemble-with``) and its value is read by the field's type: ``true``/``false`` for a
switch (a bare ``exact`` means ``exact=true``), a number, ``none`` for an optional number, a
comma-separated list for a list. ``min-confidence`` is the pipeline's threshold (spans of that
column whose confidence is below it are dropped; :mod:`xner.runtime.pipelines.configs`), so it
works with every method that gives confidences. A bad spec raises :class:`ConfigError` naming
the spec and, for an unknown option, listing the valid ones.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.names import split_names
from xner.runtime.pipelines.configs import confidence_threshold
from xner.runtime.projection.registry import (
    method_info,
    option_fields,
    resolve_method,
    resolve_options,
)

__all__ = ["MIN_CONFIDENCE", "Column", "parse_column"]

MIN_CONFIDENCE = "min-confidence"
"""The option of every column that is the pipeline's threshold, not a method's option."""

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


@dataclass(frozen=True)
class Column:
    """An experiment column: projection ``method`` (a method or variant) with ``options`` (fields
    of its options dataclass, overriding the experiment's and a variant's own) and the pipeline's
    ``min_confidence``, reported as ``name``."""

    name: str
    method: str
    options: Mapping[str, Any] = field(default_factory=dict)
    min_confidence: float = 0.0

    def __post_init__(self) -> None:
        resolve_method(self.method, None)  # an unknown method lists the valid ones
        object.__setattr__(self, "min_confidence", confidence_threshold(self.min_confidence))

    def resolve(self, base_options: Any = None) -> tuple[str, Any]:
        """The registered method and options dataclass of this column (``base_options``: the
        experiment's options of the registered method, or None for its defaults).

        The column's options are laid over the settings that differ from the defaults (the
        experiment's and a variant's) and the whole is resolved afresh, so that options derived
        from others (back-translation's inner method options) follow the column's choice."""
        base, preset = resolve_method(self.method, base_options)
        if not self.options:
            return base, preset
        defaults = type(preset)()
        changed = {k: v for k, v in _fields(preset).items() if v != getattr(defaults, k)}
        return base, resolve_options(method_info(base), {**changed, **self.options})

    def canonical(self) -> dict[str, Any]:
        """The column as written in ``results.json``."""
        return {
            "method": self.method,
            "options": dict(self.options),
            "min_confidence": self.min_confidence,
        }


def parse_column(spec: str) -> Column:
    """The column a ``NAME = METHOD option=value ...`` spec defines (see the module docstring)."""
    head, _, rest = spec.strip().partition("=")
    name = head.strip()
    words = rest.split()
    if not name or not words:
        raise ConfigError(f"column {spec!r}: expected NAME = METHOD option=value ...")
    method, pairs = words[0], words[1:]
    base, _ = resolve_method(method, None)
    fields = {f.flag.removeprefix("--"): f for f in option_fields(method_info(base).options_type)}
    options: dict[str, Any] = {}
    min_confidence = 0.0
    for pair in pairs:
        key, has_value, text = pair.partition("=")
        if key == MIN_CONFIDENCE:
            min_confidence = _number(spec, key, text, float)
            continue
        if key not in fields:
            raise unknown_choice(
                f"option of {method!r} in column {spec!r}", key, [*fields, MIN_CONFIDENCE]
            )
        value = text if has_value else "true"
        options[fields[key].name] = _convert(spec, key, value, fields[key].annotation)
    return Column(name, method, options, min_confidence)


def _convert(spec: str, key: str, text: str, annotation: Any) -> Any:
    """``text`` read as a value of type ``annotation`` (bool, int, float, str, a tuple of str,
    or one of those or None)."""
    kinds = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    if type(None) in kinds and text.lower() == "none":
        return None
    kind = next(k for k in kinds if k is not type(None))
    if kind is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"column {spec!r}: {key} takes true or false, got {text!r}")
    if kind in (int, float):
        return _number(spec, key, text, kind)
    if typing.get_origin(kind) is tuple:
        return split_names(text)
    return text


def _number(spec: str, key: str, text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ConfigError(f"column {spec!r}: {key} takes {noun}, got {text!r}") from None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _fields(options: Any) -> dict[str, Any]:
    """The constructor fields of an options dataclass with their values (not deep-copied, as
    ``dataclasses.asdict`` would)."""
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options) if f.init}
