"""A small Unicode-aware word tokenizer with character offsets (``re``-free, ``unicodedata`` only).

Rules of :func:`word_tokenize`, applied left to right:

- **Words** are runs of letters (``L*``), combining marks (``M*``), digits and other numbers
  (``N*``) and any other non-space, non-punctuation character (private-use, format characters such
  as the zero-width (non-)joiner and the soft hyphen). Combining marks always stay with the
  character before them, so Yoruba ``ọ̀gbẹ́ni`` written with combining tone marks, or Hausa ``ƙasa``,
  is one word however it is normalised.
- **Apostrophes inside words** stay joined: ``'`` or ``’`` between two word characters is part of
  the word (``n'a``, ``don't``, ``l'homme``, Hausa ``ma'aikata``). Hausa's ``ʼ`` (U+02BC) is a
  letter and joins anyway. An apostrophe at a word edge (``'quoted'``) is punctuation.
- **Numbers** keep a ``.`` or ``,`` between two digits (``3.5``, ``1,000``).
- **Punctuation and symbols** (``P*`` and ``S*``) are separate tokens; a run of one repeated
  character (``...``, ``!!``, ``--``) is one token. A zero-width joiner glues the next character
  to the current token (emoji sequences stay whole).
- **Spaces** (``str.isspace``), the zero-width space, the BOM and bidirectional controls separate
  tokens and are never part of one.

It does no word segmentation for scripts written without spaces (Chinese, Japanese, Thai): a run
of such letters is one token. Abbreviations are split (``U.S.`` -> ``U . S .``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Token", "detokenize", "word_tokenize"]

_SPACE, _WORD, _MARK, _PUNCT, _JOINER = range(5)
_APOSTROPHES = frozenset("'\u2019")
_NUMBER_JOINERS = frozenset(".,")
_INVISIBLE_SEPARATORS = frozenset(
    "\u200b\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_ZWJ = "\u200d"


@dataclass(frozen=True, slots=True)
class Token:
    """A word of a text and where it is: ``text == source[start:end]`` (character offsets)."""

    text: str
    start: int
    end: int


@lru_cache(maxsize=4096)
def _kind(char: str) -> int:
    if char == _ZWJ:
        return _JOINER
    if char.isspace() or char in _INVISIBLE_SEPARATORS:
        return _SPACE
    category = unicodedata.category(char)
    if category[0] == "M":
        return _MARK
    if category[0] in "PS":
        return _PUNCT
    return _WORD


def _is_digit(char: str) -> bool:
    return unicodedata.category(char) == "Nd"


def word_tokenize(text: str) -> list[Token]:
    """Split ``text`` into words and punctuation (rules in the module docstring), with offsets."""
    tokens: list[Token] = []
    n = len(text)
    i = 0
    while i < n:
        kind = _kind(text[i])
        if kind in (_SPACE, _JOINER):  # a joiner with nothing before it joins nothing
            i += 1
            continue
        start = i
        i = _word_end(text, i) if kind in (_WORD, _MARK) else _punct_end(text, i)
        tokens.append(Token(text[start:i], start, i))
    return tokens


def _word_end(text: str, i: int) -> int:
    """End of the word starting at ``i``."""
    n = len(text)
    i += 1
    while i < n:
        char = text[i]
        kind = _kind(char)
        if kind in (_WORD, _MARK):
            i += 1
        elif kind == _JOINER:
            i += 2 if i + 1 < n and _kind(text[i + 1]) != _SPACE else 1
        elif (
            i + 1 < n
            and _kind(text[i + 1]) == _WORD
            and (
                char in _APOSTROPHES
                or (
                    char in _NUMBER_JOINERS and _is_digit(_base(text, i)) and _is_digit(text[i + 1])
                )
            )
        ):
            i += 2
        else:
            break
    return i


def _base(text: str, i: int) -> str:
    """The character before ``i`` that combining marks hang on."""
    j = i - 1
    while j > 0 and _kind(text[j]) == _MARK:
        j -= 1
    return text[j]


def _punct_end(text: str, i: int) -> int:
    """End of the punctuation (or symbol, or stray joiner) token starting at ``i``."""
    n = len(text)
    first = text[i]
    i += 1
    while i < n:
        kind = _kind(text[i])
        if kind == _MARK or (text[i] == first and kind == _PUNCT):
            i += 1
        elif kind == _JOINER:
            i += 2 if i + 1 < n and _kind(text[i + 1]) != _SPACE else 1
        else:
            break
    return i


def detokenize(tokens: Sequence[str | Token], no_space: bool = False) -> str:
    """Join words back into a text: with single spaces, or with none when ``no_space`` is True.

    ``no_space`` is for languages written without spaces between words (Chinese, Japanese, Thai).
    No other spacing rule is applied: ``["Hello", ",", "world"]`` becomes ``"Hello , world"``.
    """
    words = [token.text if isinstance(token, Token) else token for token in tokens]
    return ("" if no_space else " ").join(words)
