"""The one parser of comma-separated names (entity types, languages, methods, components)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["split_names"]


def split_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"MISC, DATE"`` -> ``("MISC", "DATE")``: names split on commas (a string) or taken as
    given (any other iterable of strings), stripped, empty ones left out, order and repeats
    kept. None gives ``()``."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    return tuple(name.strip() for name in items if name.strip())
