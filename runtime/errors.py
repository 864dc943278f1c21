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
from collections.abc import Iterable
from os import PathLike


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
