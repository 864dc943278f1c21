"""Streaming primitives shared by every reader and writer: numbered lines in, text out.

Readers take a *source*: a path, ``"-"`` for standard input, or an open stream (text or binary).
:func:`iter_lines` turns any of them into ``(line_number, text)`` pairs, one line at a time, so
that no file is ever loaded whole. It tolerates a UTF-8 byte-order mark and CRLF line ends, and
reports bytes that are not UTF-8 as ``FILE:LINE: not valid UTF-8 ...``. When standard input is a
terminal, it says so once (a warning with ``notice=True``, which the CLI prints as
``xner: reading standard input ...``) instead of waiting silently. :func:`load_json` is the one
place where untrusted JSON is decoded (:func:`parse_json` for a line of a file).

Writers take a *target*: a path (written atomically by
:func:`xner.runtime.files.atomic.atomic_write`),
``"-"`` for standard output, or an open text stream (written as is, left open).

The format-level code lives in :mod:`xner.runtime.files.formats` (CoNLL, JSON Lines, plain text, the
format registry) and :mod:`xner.runtime.alignment.pharaoh` (Pharaoh / talp word alignments).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import IO, Any, Union

from xner.runtime.errors import InputError
from xner.runtime.files.atomic import atomic_write

Source = Union[str, "os.PathLike[str]", IO[Any]]
"""What a reader accepts: a path, ``"-"`` (standard input) or an open text or binary stream."""
Target = Union[str, "os.PathLike[str]", IO[str]]
"""What a writer accepts: a path (written atomically), ``"-"`` (standard output) or an open text
stream."""

_BOM = "\ufeff"
STDIN_NOTICE = "reading standard input (end with Ctrl-D, Ctrl-Z on Windows)"
"""What is logged when lines are read from standard input and it is a terminal."""

logger = logging.getLogger("xner")


def source_name(source: Source) -> str:
    """The name used in messages and ``Sentence.source``: the path, ``<stdin>`` or the stream's."""
    if isinstance(source, (str, os.PathLike)):
        return "<stdin>" if str(source) == "-" else os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


def is_stream(obj: object) -> bool:
    """True for an open file-like object (anything with ``read`` or ``write``), False for a path."""
    return not isinstance(obj, (str, os.PathLike)) and (
        hasattr(obj, "read") or hasattr(obj, "write")
    )


def check_readable(source: Source) -> None:
    """Open and close a path at once so that a missing file fails when asked, not when iterated.

    Raises the usual ``FileNotFoundError`` / ``IsADirectoryError`` / ``PermissionError`` (the CLI
    turns them into one-line messages). Streams and ``"-"`` are not touched.
    """
    if isinstance(source, (str, os.PathLike)) and str(source) != "-":
        with open(source, "rb"):
            pass


def iter_lines(source: Source, name: str | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of ``source``, 1-based, without the line end.

    ``name`` overrides the name used in error messages. A leading BOM is dropped; ``\\r\\n`` and
    ``\\n`` both end a line (other Unicode line separators stay inside the line). Invalid UTF-8
    raises :class:`InputError` naming the line (exactly for paths, stdin and binary streams; for
    text streams, which decode ahead in chunks, the line where decoding failed).
    """
    name = source_name(source) if name is None else name
    if isinstance(source, (str, os.PathLike)):
        if str(source) == "-":
            stdin = sys.stdin
            if stdin is None:
                raise InputError(name, None, "there is no standard input to read")
            _notice_terminal(stdin)
            binary = getattr(stdin, "buffer", None)
            yield from (
                _binary_lines(binary, name) if binary is not None else _text_lines(stdin, name)
            )
            return
        with open(source, "rb") as handle:
            yield from _binary_lines(handle, name)
        return
    if _looks_binary(source):
        yield from _binary_lines(source, name)
    else:
        yield from _text_lines(source, name)


def _notice_terminal(stdin: IO[str]) -> None:
    """Say that standard input is read when it is a terminal (a user would wait otherwise)."""
    try:
        terminal = stdin.isatty()
    except (AttributeError, ValueError, OSError):
        terminal = False
    if terminal:
        logger.warning(STDIN_NOTICE, extra={"notice": True})


class JsonError(ValueError):
    """Text that is not JSON or that the decoder cannot take; ``str()`` is one line."""


def load_json(text: str | bytes) -> Any:
    """``json.loads`` for untrusted text: every failure is a :class:`JsonError`.

    Besides syntax errors this catches what the decoder raises on hostile input:
    ``RecursionError`` for deeply nested arrays (``[`` x 100,000), ``ValueError`` for an integer
    of more than ``sys.get_int_max_str_digits()`` digits and ``UnicodeDecodeError`` for bytes.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}" if error.lineno > 1 else ""
        problem = f"{error.msg} at {where or f'column {error.colno}'}"
    except RecursionError:
        problem = "nested too deeply"
    except ValueError as error:  # an integer with too many digits, bytes that are not UTF-8
        problem = str(error).split(";")[0]
    raise JsonError(problem)


def parse_json(text: str, name: str, number: int | None) -> Any:
    """Decode one line of user JSON with :func:`load_json`; a failure is
    ``InputError(name, number, "not valid JSON (...)")``."""
    try:
        return load_json(text)
    except JsonError as error:
        raise InputError(name, number, f"not valid JSON ({error})") from None


def _looks_binary(stream: object) -> bool:
    """True for a stream of bytes (a text stream, ``io.TextIOBase`` or opened without ``b``,
    gives str)."""
    if isinstance(stream, io.TextIOBase):
        return False
    if isinstance(stream, (io.RawIOBase, io.BufferedIOBase)):
        return True
    return "b" in getattr(stream, "mode", "")


def _binary_lines(stream: IO[bytes], name: str) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(stream, 1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            column = len(raw[: error.start].decode("utf-8", "replace")) + 1
            raise InputError(
                name, number, f"not valid UTF-8 (byte 0x{raw[error.start]:02x} at column {column})"
            ) from None
        yield number, text.rstrip("\r\n")


def _text_lines(stream: IO[str], name: str) -> Iterator[tuple[int, str]]:
    number = 0
    lines = iter(stream)
    while True:
        try:
            text = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise InputError(name, number + 1, f"not valid UTF-8 ({error.reason})") from None
        number += 1
        if number == 1 and text.startswith(_BOM):
            text = text[1:]
        yield number, text.rstrip("\r\n")


@contextlib.contextmanager
def open_output(target: Target) -> Iterator[IO[str]]:
    """Open ``target`` for writing text: a path atomically, ``"-"`` as stdout, a stream as is.

    A path appears complete or not at all: if the block raises, nothing is written.
    """
    if not isinstance(target, (str, os.PathLike)):
        yield target  # an open stream: written as is, left open
        return
    with atomic_write(target, "w") as handle:
        yield handle
