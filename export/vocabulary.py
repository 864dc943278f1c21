"""A smaller output layer for translation into the pivot languages (CTranslate2's ``vmap.txt``).

NLLB's output layer spans 256k pieces; a translation into English needs those spelt in Latin
letters, digits and punctuation. :func:`kept_pieces` chooses them from the model's own
vocabulary (plus the special and language tokens the decoder needs), :func:`write_vmap` writes
CTranslate2's vocabulary map with them on its one line whose source side is empty (so it applies
to every input), and :func:`restriction_fidelity` measures at export what the restriction costs:
restricted against full greedy translations of the probe sentences into the pivots. The runtime
uses the map (``use_vmap``) only for the targets listed and only when that agreement reached the
threshold (``ValidationOptions.min_vocabulary_agreement``).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from xner.export import validate
from xner.runtime.engines.translator import VMAP

__all__ = ["VMAP", "kept_pieces", "latin_piece", "restriction_fidelity", "write_vmap"]

logger = logging.getLogger("xner")
WORD_MARKER = "\u2581"
PADDING = re.compile(r"^<?madeupword\d+>?$")
"""Rows that pad a vocabulary to the embedding matrix's size (fairseq, CTranslate2's converter):
never generated, never kept."""
_PUNCTUATION_BLOCKS = (
    (0x00A0, 0x00BF),  # Latin-1 punctuation and symbols: no-break space, ¡ ¿ « » ° £ © § ...
    (0x2000, 0x206F),  # General Punctuation: dashes, curly quotes, ellipsis, bullet
    (0x20A0, 0x20CF),  # Currency Symbols: €
    (0x2100, 0x214F),  # Letterlike Symbols: ™ №
)


def latin_char(char: str) -> bool:
    """A character of Latin-script text: a Latin letter (accented ones too, ``é ɓ ƙ``), an
    ASCII digit, punctuation or symbol, × ÷, or punctuation of the blocks English text uses."""
    point = ord(char)
    if 0x21 <= point <= 0x7E or char in "\u00d7\u00f7":
        return True
    if unicodedata.name(char, "").startswith("LATIN "):
        return True
    category = unicodedata.category(char)
    return category[0] in "PSN" and any(lo <= point <= hi for lo, hi in _PUNCTUATION_BLOCKS)


def latin_piece(piece: str) -> bool:
    """A piece made only of the SentencePiece word marker and :func:`latin_char` characters
    (and not of the marker alone: that one is kept as a special, see :func:`kept_pieces`)."""
    text = piece.replace(WORD_MARKER, "")
    return bool(text) and all(latin_char(char) for char in text)


def kept_pieces(
    vocabulary: Sequence[str], needed: Iterable[str], specials: Iterable[str]
) -> list[str]:
    """The pieces a translation into a Latin-script pivot may use, in vocabulary order, once
    each: :func:`latin_piece` pieces that are not ``specials`` (``<pad>``, ``<mask>``, every
    language code: ASCII, but never part of a translation) nor :data:`PADDING` rows, the word
    marker alone and
    ``needed`` (the start, end and unknown tokens, the decoder's start token and the pivots'
    language codes), those found in the vocabulary."""
    wanted = {*needed, WORD_MARKER}
    excluded = set(specials) - wanted
    seen: set[str] = set()
    kept = []
    for piece in vocabulary:
        if piece not in seen and (
            piece in wanted
            or (piece not in excluded and not PADDING.match(piece) and latin_piece(piece))
        ):
            kept.append(piece)
        seen.add(piece)
    return kept


def write_vmap(path: Path, pieces: Sequence[str]) -> None:
    """CTranslate2's vocabulary map: one line, an empty source side (every input), a tab, the
    pieces separated by spaces (pieces never hold blanks: SentencePiece writes ``▁``)."""
    if any(not piece or any(char.isspace() for char in piece) for piece in pieces):
        raise ValueError("a piece of a vocabulary map cannot be empty or hold blanks")
    path.write_text("\t" + " ".join(pieces) + "\n", encoding="utf-8")


def restriction_fidelity(
    model_dir: Path,
    sources: list[list[str]],
    prefixes: list[list[str]],
    limit: int,
    batch_size: int,
    minimum: float,
) -> dict[str, Any]:
    """Greedy translations with the vocabulary map (``use_vmap``) against without it.

    ``sources`` / ``prefixes``: the probe sentences as tokens and their targets' prefixes (each
    into a pivot); the model as exported (its saved compute type) on CPU, at most ``limit``
    tokens. Token agreement (generated tokens, position-wise) and exact-sentence agreement;
    ``validated`` when the token agreement reaches ``minimum`` (below it: a warning, and the
    runtime will not use the map).
    """
    import ctranslate2

    record: dict[str, Any] = {"probe_sentences": len(sources), "min_agreement": minimum}
    if not sources:
        logger.warning("vocabulary restriction: no probe sentence to translate into the pivots")
        record.update(token_agreement=None, exact_match=None, validated=False)
        return record
    translator = ctranslate2.Translator(str(model_dir), device="cpu", compute_type="default")

    def run(use_vmap: bool) -> list[list[str]]:
        results = translator.translate_batch(
            sources,
            target_prefix=prefixes,
            beam_size=1,
            max_batch_size=batch_size,
            max_decoding_length=limit,
            use_vmap=use_vmap,
        )
        return [list(r.hypotheses[0][len(p) :]) for r, p in zip(results, prefixes, strict=True)]

    full, restricted = run(False), run(True)
    record.update(validate.token_agreement(restricted, full))
    record["validated"] = record["token_agreement"] >= minimum
    if not record["validated"]:
        logger.warning(
            "vocabulary restriction: restricted greedy translations agree with full ones on "
            "%.4f of the tokens, below %.4f: recorded, not used at run time",
            record["token_agreement"],
            minimum,
        )
    return record
