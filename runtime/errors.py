"""Errors that xner reports to users as one line.

The library raises :class:`XnerError` subclasses and never prints: :class:`InputError` for bad
input (``FILE:LINE: problem``, 1-based lines), :class:`ConfigError` for a bad option or setting
(listing the valid choices, :func:`unknown_choice`); bundle errors (``BundleError`` in
:mod:`xner.runtime.bundles.bundle`) use exit code 1. The CLI prints the message as one line
``xner: error: ...`` and exits with the error's :attr:`~XnerError.exit_code` (2 unless a
subclass says otherwise). docs/ARCHITECTURE.md describes the whole error model.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Iterator, Mapping
from os import PathLike
from typing import Any


class XnerError(Exception):
    """Base class of every error xner reports to users; its message is one line."""

    exit_code = 2


class InputError(XnerError):
    """Malformed input: the file, the 1-based line and what is wrong (``FILE:LINE: problem``)."""

    def __init__(self, path: str | PathLike[str] | None, line: int | None, problem: str) -> None:
        self.path = "<stdin>" if path in (None, "-") else str(path)
        self.line = line
        self.problem = problem
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {problem}")


class ConfigError(XnerError):
    """A bad option or setting; the message lists the valid choices."""


def unknown_choice(kind: str, value: str, choices: Iterable[str]) -> ConfigError:
    """Build the error for an unknown ``value`` of ``kind``, listing the valid choices."""
    valid = sorted(choices)
    close = difflib.get_close_matches(value, valid, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"unknown {kind} {value!r}; choose from {', '.join(valid)}.{hint}")


def changed_settings(
    where: str | PathLike[str], before: Mapping[str, Any], now: Mapping[str, Any]
) -> ConfigError | None:
    """The error of a ``--resume`` whose settings are not those of the interrupted run of
    ``where``, naming each setting that differs (nested ones by dotted name, ``options.max_len
    8 -> 6``; the first eight); None when they are the same."""
    old, new = dict(_flat(before)), dict(_flat(now))
    changed = [k for k in sorted(set(old) | set(new)) if old.get(k, _UNSET) != new.get(k, _UNSET)]
    if not changed:
        return None
    shown = "; ".join(
        f"{k} {_shown(old.get(k, _UNSET))} -> {_shown(new.get(k, _UNSET))}" for k in changed[:8]
    )
    more = f"; and {len(changed) - 8} more" if len(changed) > 8 else ""
    return ConfigError(
        f"--resume: settings differ from the interrupted run of {where}: {shown}{more}; "
        "rerun with those settings or pass --force to start over"
    )


_UNSET = object()


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` -> ``("a.b", 1)``: nested settings compared one by one."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flat(item, f"{prefix}{key}.")
    else:
        yield prefix[:-1], value


def _shown(value: Any) -> str:
    if value is _UNSET:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
