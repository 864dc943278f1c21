"""Words as the text a translator is given, and entities marked in it: :func:`join_words`
(words joined by spaces, or by nothing for a script written without them), :func:`mark_words`
(``[ Obama ] visited [ Paris ]``), :func:`read_markers` (the marked pieces of a translation, as
word ranges) and :func:`assign_labels` (which entity each marked piece stands for).

Markers. Bracket look-alikes (``【】``, ``《》``, ``［］``) count as markers and doubled ones as
one; the markers are removed and the words between them tokenized piece by piece, so that each
marked piece is a run of whole words. The markers are *well formed* when they alternate
``[ ... ]`` and none is empty. Labels: with one entity, or entities of one label, the pieces take
the labels in order. Otherwise each piece is matched to an entity by its text: the ``difflib``
ratio (case-folded) against the entity's source text and its separate translation, exact being
a ratio of 1; pairs above :data:`FUZZY_RATIO` are taken best first (ties: closest in order), one
piece per entity, and a last piece left with a last entity takes it. A piece that matches no
entity means the markers cannot be read.

Used by the ``markers`` method of translate-train (:mod:`xner.runtime.pipelines.markers`) and
the ``back-translation`` projection method (:mod:`xner.runtime.projection.back_translation`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError
from xner.runtime.languages import get_language
from xner.runtime.tokenize import detokenize, word_tokenize

__all__ = [
    "CLOSE",
    "FUZZY_RATIO",
    "NO_SPACE_SCRIPTS",
    "OPEN",
    "MarkedText",
    "assign_labels",
    "has_brackets",
    "join_words",
    "mark_words",
    "read_markers",
    "script_of",
    "written_without_spaces",
]

NO_SPACE_SCRIPTS = frozenset({"Hans", "Hant", "Jpan", "Thai", "Mymr", "Khmr", "Laoo", "Tibt"})
"""Scripts written without spaces between words: their words are joined with no space before
translation (ISO 15924 codes, as in NLLB language codes such as ``zho_Hans``)."""

_NLLB_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")

OPEN, CLOSE = "[", "]"
FUZZY_RATIO = 0.5
"""A marked piece matches an entity when their ``difflib`` ratio is strictly above this."""

_LOOK_ALIKES = {"【": OPEN, "】": CLOSE, "《": OPEN, "》": CLOSE, "［": OPEN, "］": CLOSE}
_AS_MARKERS = str.maketrans(_LOOK_ALIKES)
_BRACKETS = frozenset((OPEN, CLOSE, *_LOOK_ALIKES))
_DOUBLED = (re.compile(r"\[(?:\s*\[)+"), re.compile(r"\](?:\s*\])+"))
_MARKER = re.compile(r"([\[\]])")


def script_of(lang: str) -> str | None:
    """The ISO 15924 script of a language code or alias (``zho_Hans`` -> ``Hans``), or None."""
    text = lang.strip()
    if _NLLB_CODE.match(text):
        return text[4:]
    try:
        return get_language(text).script
    except ConfigError:
        return None


def join_words(words: Sequence[str], lang: str) -> str:
    """The text given to the translator: words joined by spaces, or by nothing for a language
    whose script is written without spaces (:data:`NO_SPACE_SCRIPTS`)."""
    return detokenize(words, no_space=written_without_spaces(lang))


def written_without_spaces(lang: str) -> bool:
    """Whether ``lang``'s script is written without spaces between words."""
    return script_of(lang) in NO_SPACE_SCRIPTS


def has_brackets(words: Sequence[str]) -> bool:
    """Whether a word holds a marker or a look-alike (marking such words would be ambiguous)."""
    return any(ch in _BRACKETS for word in words for ch in word)


def mark_words(words: Sequence[str], spans: Sequence[Span]) -> list[str]:
    """``words`` with :data:`OPEN` before and :data:`CLOSE` after each of ``spans`` (sorted,
    non-overlapping): ``[ Obama ] visited [ Paris ]``."""
    starts = {span.start for span in spans}
    ends = {span.end for span in spans}
    out: list[str] = []
    for i, word in enumerate(words):
        if i in ends:
            out.append(CLOSE)
        if i in starts:
            out.append(OPEN)
        out.append(word)
    if len(words) in ends:
        out.append(CLOSE)
    return out


@dataclass(frozen=True)
class MarkedText:
    """A translation read for markers: ``text`` without its markers, its ``words`` and the
    word ranges ``[start, end)`` of the marked pieces, in order (``spans``); ``well_formed``:
    the markers alternate ``[ ... ]`` and no marked piece is empty (``spans`` is then
    meaningful)."""

    text: str
    words: list[str]
    spans: list[tuple[int, int]]
    well_formed: bool


def read_markers(text: str, no_space: bool = False) -> MarkedText:
    """Read the markers of a translation (rules in the module docstring). ``no_space``: the
    language is written without spaces (markers are removed, not turned into spaces)."""
    text = text.translate(_AS_MARKERS)
    text = _DOUBLED[1].sub(CLOSE, _DOUBLED[0].sub(OPEN, text))
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    well_formed, start = True, None
    for part in _MARKER.split(text):
        if part == OPEN:
            well_formed = well_formed and start is None
            start = len(words)
        elif part == CLOSE:
            well_formed = well_formed and start is not None and start < len(words)
            if start is not None:
                spans.append((start, len(words)))
            start = None
        else:
            words += [token.text for token in word_tokenize(part)]
    well_formed = well_formed and start is None
    plain = _MARKER.sub("" if no_space else " ", text)
    return MarkedText(plain if no_space else " ".join(plain.split()), words, spans, well_formed)


def _folded(text: str) -> str:
    return " ".join(text.casefold().split())


def assign_labels(
    pieces: Sequence[str],
    entities: Sequence[Span],
    sources: Sequence[str],
    translations: Sequence[str | None],
) -> list[tuple[int, float]] | None:
    """The entity each marked piece stands for, with its score, or None when the markers cannot
    be read (rules in the module docstring).

    ``pieces``: the marked texts in translation order; ``entities``: the source entities (source
    order) with their ``sources`` texts and separate ``translations`` (None: not translated).
    """
    n = len(entities)
    if len(pieces) != n or n == 0:
        return None
    if n == 1 or len({entity.label for entity in entities}) == 1:
        return [(i, 1.0) for i in range(n)]
    candidates = []
    for i, piece in enumerate(pieces):
        folded = _folded(piece)
        for j in range(n):
            texts = [text for text in (sources[j], translations[j]) if text is not None]
            ratio = max(difflib.SequenceMatcher(None, folded, _folded(t)).ratio() for t in texts)
            candidates.append((-ratio, abs(i - j), i, j))
    chosen: dict[int, tuple[int, float]] = {}
    taken: set[int] = set()
    for negative, _, i, j in sorted(candidates):
        if -negative > FUZZY_RATIO and i not in chosen and j not in taken:
            chosen[i] = (j, -negative)
            taken.add(j)
    if len(chosen) == n - 1:  # the last piece and the last entity
        (i,) = set(range(n)) - set(chosen)
        (j,) = set(range(n)) - taken
        chosen[i] = (j, next(-c[0] for c in candidates if c[2:] == (i, j)))
    if len(chosen) < n:
        return None
    return [chosen[i] for i in range(n)]
