"""Word alignments on disk: the Pharaoh / "talp" format of fast_align, awesome-align and SimAlign.

One line per sentence pair, space-separated links ``i-j`` (sure) and ``ipj`` (possible), where
``i`` indexes the projection source and ``j`` the target. Indices are 0-indexed unless
``one_indexed=True`` (the gold ``.talp`` files of the WPT shared tasks are 1-indexed), in which
case they are converted to 0-indexed on reading and back on writing. An empty line is a sentence
pair without links. Links are kept sorted by ``(i, j)`` and unique: a link written both sure
and possible is sure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import numpy as np

from xner.runtime.data import Alignment
from xner.runtime.errors import InputError
from xner.runtime.files.io import (
    Source,
    Target,
    check_readable,
    iter_lines,
    open_output,
    source_name,
)

__all__ = [
    "check_alignment",
    "clip_alignment",
    "format_pharaoh",
    "normalize_alignment",
    "parse_pharaoh",
    "read_alignments",
    "write_alignments",
]

_LINK = re.compile(r"([0-9]+)([-p])([0-9]+)")
MAX_INDEX = 2**31 - 1
"""The largest word index read (a sentence of two billion words); larger ones are refused as
out of range, so that no index overflows NumPy's int64 or Python's integer-string limit."""


def normalize_alignment(alignment: Alignment) -> Alignment:
    """The same links sorted by ``(i, j)``, each once; a link both sure and possible stays sure."""
    pairs = np.asarray(alignment.pairs, dtype=np.int64).reshape(-1, 2)
    possible = np.asarray(alignment.possible, dtype=bool).reshape(-1)
    order = np.lexsort((possible, pairs[:, 1], pairs[:, 0]))  # sure (False) first within a pair
    pairs, possible = pairs[order], possible[order]
    keep = np.ones(len(pairs), dtype=bool)
    keep[1:] = np.any(pairs[1:] != pairs[:-1], axis=1)
    return Alignment(pairs[keep], possible[keep], alignment.line, alignment.source)


def parse_pharaoh(
    text: str, *, one_indexed: bool = False, path: str | None = None, line: int | None = None
) -> Alignment:
    """Parse one line of links into a normalised :class:`Alignment`.

    ``one_indexed``: the indices count from 1 (converted to 0-indexed). ``path`` and ``line``
    are used in error messages and stored in the result. A malformed link (``3-``, ``a-b``, a
    negative index, index 0 in a 1-indexed file) raises :class:`InputError` quoting it; so does
    an index above :data:`MAX_INDEX` (``index out of range``).
    """
    path = path or "<input>"
    fields = text.split()
    links = []
    for field in fields:
        match = _LINK.fullmatch(field)
        if match is None:
            problem = f"malformed link {_shown(field)!r}: expected i-j (sure) or ipj (possible)"
            problem += ", i, j >= 0"
            raise InputError(path, line, problem)
        i, kind, j = match.groups()
        i, j = i.lstrip("0") or "0", j.lstrip("0") or "0"  # int() refuses > 4300 digits
        if max(len(i), len(j)) > 10 or max(int(i), int(j)) > MAX_INDEX:
            raise InputError(
                path,
                line,
                f"index out of range in link {_shown(field)!r} (largest index {MAX_INDEX})",
            )
        links.append((i, kind, j))
    pairs = np.array([(int(i), int(j)) for i, _, j in links], dtype=np.int64).reshape(-1, 2)
    possible = np.array([kind == "p" for _, kind, _ in links], dtype=bool)
    if one_indexed and len(pairs):
        zero = np.flatnonzero((pairs == 0).any(axis=1))
        if len(zero):
            raise InputError(
                path,
                line,
                f"link {fields[zero[0]]!r} has index 0 but the file is read as 1-indexed",
            )
        pairs -= 1
    result = Alignment(pairs, possible, line or 0, path)
    return normalize_alignment(result)


def _shown(field: str) -> str:
    """``field`` cut to a length that fits in a one-line message."""
    return field if len(field) <= 40 else field[:37] + "..."


def format_pharaoh(alignment: Alignment, *, one_indexed: bool = False) -> str:
    """One line of links (no line end), sorted by ``(i, j)``, each once, ``i-j`` or ``ipj``.

    ``one_indexed`` writes indices counted from 1.
    """
    alignment = normalize_alignment(alignment)
    pairs = alignment.pairs + (1 if one_indexed else 0)
    return " ".join(
        f"{i}{'p' if p else '-'}{j}"
        for (i, j), p in zip(pairs.tolist(), alignment.possible.tolist(), strict=True)
    )


def read_alignments(source: Source, *, one_indexed: bool = False) -> Iterator[Alignment]:
    """Stream the alignments of ``source`` (a path, ``"-"`` or an open stream), one per line.

    Each :class:`Alignment` has ``line`` (1-based) and ``source`` set. The file's existence is
    checked at once; it is read lazily.
    """
    check_readable(source)
    return _read_alignments(source, one_indexed)


def _read_alignments(source: Source, one_indexed: bool) -> Iterator[Alignment]:
    name = source_name(source)
    for number, text in iter_lines(source, name):
        yield parse_pharaoh(text, one_indexed=one_indexed, path=name, line=number)


def write_alignments(
    alignments: Iterable[Alignment],
    target: Target,
    *,
    one_indexed: bool = False,
) -> int:
    """Write one line per alignment; returns the count.

    ``target``: a path (written atomically), ``"-"`` (standard output) or an open text stream.
    ``one_indexed`` writes indices counted from 1.
    """
    written = 0
    with open_output(target) as stream:
        for alignment in alignments:
            stream.write(format_pharaoh(alignment, one_indexed=one_indexed) + "\n")
            written += 1
    return written


def _out_of_range(alignment: Alignment, src_len: int, tgt_len: int) -> np.ndarray:
    pairs = np.asarray(alignment.pairs, dtype=np.int64).reshape(-1, 2)
    return (pairs < 0).any(axis=1) | (pairs[:, 0] >= src_len) | (pairs[:, 1] >= tgt_len)


def check_alignment(
    alignment: Alignment,
    src_len: int,
    tgt_len: int,
    *,
    path: str | None = None,
    line: int | None = None,
) -> None:
    """Raise :class:`InputError` if a link points outside a ``src_len`` x ``tgt_len`` pair.

    ``path`` and ``line`` default to the alignment's own ``source`` and ``line``. The message
    names the first bad link (0-indexed) and how many more there are.
    """
    bad = np.flatnonzero(_out_of_range(alignment, src_len, tgt_len))
    if not len(bad):
        return
    path = alignment.source if path is None else path
    line = (alignment.line or None) if line is None else line
    i, j = (int(x) for x in alignment.pairs[bad[0]])
    if i < 0 or j < 0:
        problem = f"link {i}-{j} has a negative index"
    elif i >= src_len:
        problem = f"link {i}-{j} points past the source sentence ({src_len} words)"
    else:
        problem = f"link {i}-{j} points past the target sentence ({tgt_len} words)"
    others = len(bad) - 1
    if others:
        problem += f"; {others} more {'link is' if others == 1 else 'links are'} out of range"
    raise InputError(path, line, f"{problem}; indices count from 0")


def clip_alignment(alignment: Alignment, src_len: int, tgt_len: int) -> tuple[Alignment, int]:
    """Drop the links outside a ``src_len`` x ``tgt_len`` pair.

    Returns the alignment that is left and the number of links dropped.
    """
    bad = _out_of_range(alignment, src_len, tgt_len)
    kept = Alignment(
        alignment.pairs[~bad], alignment.possible[~bad], alignment.line, alignment.source
    )
    return kept, int(bad.sum())
