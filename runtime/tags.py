"""Tag schemes and spans: decode tags into :class:`~xner.runtime.data.Span` lists and back.

Schemes (``scheme`` arguments, case-insensitive):

- ``IOB2`` (the on-disk convention): ``B-X`` opens every entity, ``I-X`` continues it.
- ``IOB1`` (CoNLL-2003's original files and the XLM-R CoNLL-03 taggers): ``I-X`` opens an entity
  unless it continues one of the same type; ``B-X`` only opens an entity that directly follows
  another entity of the same type.
- ``BIOES`` (alias ``IOBES``): ``S-X`` for one-word entities, ``B-X I-X ... E-X`` for longer ones.
- ``BILOU``: BIOES spelt ``U-X`` (unit) and ``L-X`` (last); decoded by reading ``L`` as ``E`` and
  ``U`` as ``S``.
- ``IO``: ``I-X`` only; two adjacent entities of the same type cannot be told apart and merge.

Decoding (:func:`spans_from_tags`) is exactly seqeval's default mode
(``seqeval.metrics.sequence_labeling.get_entities``, itself a port of conlleval): an ``I-X`` after
``O`` or after another type opens a new entity, ``E-``/``S-`` are understood in every scheme, and
any change of type closes an entity. That reading is right for valid IOB1, IOB2, BIOES and IO
sequences alike and lenient with invalid ones, so the scheme only matters for ``BILOU`` (the
``L``/``U`` letters) and for writing tags (:func:`tags_from_spans`) and checking them
(:func:`validate_tags`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import cast

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, InputError, unknown_choice

__all__ = [
    "SCHEMES",
    "convert_tags",
    "detect_scheme",
    "drop_labels",
    "ignore_labels",
    "map_labels",
    "normalize_scheme",
    "spans_from_tags",
    "tags_from_spans",
    "validate_tags",
]

SCHEMES: tuple[str, ...] = ("IOB1", "IOB2", "BIOES", "BILOU", "IO")
"""The tag schemes xner reads and writes."""

_ALIASES = {"IOBES": "BIOES", "BIOLU": "BILOU"}
_PREFIXES = {"IOB1": "BI", "IOB2": "BI", "BIOES": "BIES", "BILOU": "BILU", "IO": "I"}

# seqeval's transition rules, on one-letter prefixes (see get_entities / end_of_chunk /
# start_of_chunk in seqeval 1.2.2).
_END_ALWAYS = frozenset("ES")  # an entity always ends after E- and S-
_INSIDE = frozenset("BI")
_CLOSES_INSIDE = frozenset("BSO")  # after B-/I-, these letters end the entity
_NOT_ENTITY = frozenset("O.")  # letters that never take part in a change of type
_START_ALWAYS = frozenset("BS")
_AFTER_END = frozenset("ESO")  # after these, I- and E- open a new entity
_REOPENS = frozenset("EI")


def normalize_scheme(scheme: str) -> str:
    """Return the canonical name of ``scheme`` (upper case, aliases resolved).

    Raises :class:`ConfigError` listing the valid schemes when ``scheme`` is unknown.
    """
    name = str(scheme).strip().upper()
    name = _ALIASES.get(name, name)
    if name not in _PREFIXES:
        raise unknown_choice("tag scheme", str(scheme), SCHEMES)
    return name


@lru_cache(maxsize=4096)
def _parse(tag: str, bilou: bool) -> tuple[str, str]:
    """Split ``tag`` into (prefix letter, type) as seqeval does: ``O`` -> ``("O", "_")``."""
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"tag {tag!r} is empty or not a string")
    letter = tag[0]
    if bilou:
        letter = {"L": "E", "U": "S"}.get(letter, letter)
    return letter, tag[1:].split("-", maxsplit=1)[-1] or "_"


def spans_from_tags(tags: Sequence[str], scheme: str = "IOB2") -> list[Span]:
    """Decode one sentence's tags into entity spans, exactly as seqeval's default mode.

    ``scheme`` names the scheme of ``tags`` (see the module docstring: decoding is the same for all
    schemes but BILOU). A tag without a type (bare ``B``) gets type ``_`` and a type containing
    ``-`` is kept whole (``B-FOO-BAR`` -> ``FOO-BAR``), as in seqeval. Tags that are not tags at
    all (``X-PER``) are decoded as seqeval does; they can yield overlapping spans, so check input
    with :func:`validate_tags` first. Raises ``ValueError`` on an empty tag.
    """
    bilou = normalize_scheme(scheme) == "BILOU"
    spans: list[Span] = []
    prev_tag, prev_type, begin = "O", "", 0
    i = -1
    for i, raw in enumerate(tags):
        tag, type_ = _parse(raw, bilou)
        if prev_tag != "O" and _ends(prev_tag, tag, prev_type, type_):
            spans.append(Span(begin, i, prev_type))
        if tag != "O" and _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    if prev_tag != "O" and _ends(prev_tag, "O", prev_type, "_"):
        spans.append(Span(begin, i + 1, prev_type))
    return spans


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval's ``end_of_chunk``: did an entity end just before this word?"""
    return (
        prev_tag in _END_ALWAYS
        or (prev_tag in _INSIDE and tag in _CLOSES_INSIDE)
        or (prev_tag not in _NOT_ENTITY and prev_type != type_)
    )


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval's ``start_of_chunk``: does an entity start at this word?"""
    return (
        tag in _START_ALWAYS
        or (prev_tag in _AFTER_END and tag in _REOPENS)
        or (tag not in _NOT_ENTITY and prev_type != type_)
    )


def tags_from_spans(spans: Iterable[Span], length: int, scheme: str = "IOB2") -> list[str]:
    """Write ``spans`` as ``length`` tags in ``scheme``.

    Spans may come in any order. Raises ``ValueError`` when a span is empty, out of
    ``[0, length)``, overlaps another, or has an empty label or one with whitespace. In ``IO``
    two adjacent entities of the same type become one (the scheme cannot separate them).
    """
    name = normalize_scheme(scheme)
    ordered = sorted(spans)
    tags = ["O"] * length
    prev: Span | None = None
    for span in ordered:
        if not 0 <= span.start < span.end <= length:
            raise ValueError(f"span {span} is empty or outside a sentence of {length} words")
        if prev is not None and span.start < prev.end:
            raise ValueError(f"spans {prev} and {span} overlap")
        label = span.label
        if not label or label != label.strip() or any(c.isspace() for c in label):
            raise ValueError(f"span {span} has an empty label or one with whitespace")
        n = span.end - span.start
        if name == "IOB2":
            tags[span.start : span.end] = [f"B-{label}"] + [f"I-{label}"] * (n - 1)
        elif name in ("BIOES", "BILOU"):
            last, unit = ("E", "S") if name == "BIOES" else ("L", "U")
            if n == 1:
                tags[span.start] = f"{unit}-{label}"
            else:
                inside = [f"I-{label}"] * (n - 2)
                tags[span.start : span.end] = [f"B-{label}", *inside, f"{last}-{label}"]
        else:  # IOB1 and IO
            tags[span.start : span.end] = [f"I-{label}"] * n
            touches = prev is not None and prev.end == span.start and prev.label == label
            if name == "IOB1" and touches:
                tags[span.start] = f"B-{label}"
        prev = span
    return tags


def convert_tags(
    tags: Sequence[str],
    src_scheme: str,
    dst_scheme: str,
    *,
    path: str | None = None,
    line: int | None = None,
) -> list[str]:
    """Rewrite one sentence's tags from ``src_scheme`` into ``dst_scheme``.

    The tags are checked first (:func:`validate_tags`; ``path`` and ``line`` name the sentence in
    the error), decoded and written again, so invalid sequences come out repaired the way
    seqeval reads them (an orphan ``I-X`` becomes ``B-X`` in IOB2).
    """
    validate_tags(tags, src_scheme, path=path, line=line)
    return tags_from_spans(spans_from_tags(tags, src_scheme), len(tags), dst_scheme)


def detect_scheme(labels: Iterable[str]) -> str:
    """Guess the scheme of a model from its label list (names only, never from data).

    - ``L-``/``U-`` labels: ``BILOU``; ``E-``/``S-`` labels: ``BIOES``;
    - ``B-`` and ``I-`` labels: ``IOB1`` when some type has ``I-`` but no ``B-`` label (the XLM-R
      CoNLL-03 taggers have no ``B-PER``), else ``IOB2``. A full ``B-``/``I-`` set is ambiguous
      between IOB1 and IOB2; ``IOB2`` is returned and decoding is the same for both anyway.
    - only ``I-`` labels: ``IO``; only ``O``: ``IOB2``.

    The caller may always override the answer. Raises :class:`ConfigError` for a label that is
    not ``O`` or ``P-TYPE`` or for a mix of BIOES and BILOU letters.
    """
    by_letter: dict[str, set[str]] = {}
    for label in labels:
        if label == "O":
            continue
        shaped = isinstance(label, str) and len(label) > 2 and label[1] == "-"
        if not shaped or label[0] not in "BIESLU":
            raise ConfigError(
                f"label {label!r} is not a tag; labels are O or B-, I-, E-, S-, L-, U- "
                "followed by a type"
            )
        by_letter.setdefault(label[0], set()).add(label[2:])
    letters = set(by_letter)
    if letters & set("LU") and letters & set("ES"):
        raise ConfigError(f"labels mix BIOES and BILOU letters: {', '.join(sorted(letters))}")
    if letters & set("LU"):
        return "BILOU"
    if letters & set("ES"):
        return "BIOES"
    if "I" in letters and "B" not in letters:
        return "IO"
    if by_letter.get("I", set()) - by_letter.get("B", set()):
        return "IOB1"
    return "IOB2"


@lru_cache(maxsize=8192)
def _tag_problem(tag: str, prefixes: str) -> str | None:
    """Why ``tag`` is not a well-formed tag with one of ``prefixes``, or None when it is."""
    if tag == "O":
        return None
    if not tag:
        return "empty tag"
    if any(c.isspace() for c in tag):
        return f"tag {tag!r} contains whitespace"
    valid = ", ".join(f"{p}-" for p in prefixes)
    if len(tag) < 3 or tag[1] != "-" or tag[0] not in prefixes:
        if len(tag) == 1 and tag in prefixes:
            return f"tag {tag!r} has no entity type"
        return f"tag {tag!r} is not O or {valid} followed by a type"
    return None


def validate_tags(
    tags: Sequence[object],
    scheme: str = "IOB2",
    *,
    strict: bool = False,
    path: str | None = None,
    line: int | None = None,
    one_word_per_line: bool = False,
) -> None:
    """Raise :class:`InputError` when a tag of one sentence is malformed for ``scheme``.

    A tag is well formed when it is ``O`` or ``P-TYPE`` with a prefix letter ``P`` of the scheme
    (IOB1/IOB2: B, I; BIOES: B, I, E, S; BILOU: B, I, L, U; IO: I) and a non-empty type without
    whitespace. With ``strict`` the sequence must also be valid in the scheme (no orphan ``I-X``
    in IOB2, no ``B-X`` that does not follow ``X`` in IOB1, complete ``B ... E`` runs in BIOES);
    without it such sequences pass, since seqeval reads them fine.

    ``path`` and ``line`` name the sentence in the error (``FILE:LINE: problem``); the message
    also names the word (1-based). With ``one_word_per_line`` (CoNLL files) the line reported is
    that of the offending word, ``line + index``.
    """
    name = normalize_scheme(scheme)
    prefixes = _PREFIXES[name]
    for k, tag in enumerate(tags):
        if isinstance(tag, str):
            problem = _tag_problem(tag, prefixes)
        else:
            problem = f"tag {tag!r} is not a string"
        if problem is not None:
            _raise(path, line, k, f"{problem} ({name})", one_word_per_line)
    if strict:  # every tag was checked to be a string above
        k, problem = _sequence_problem(cast("Sequence[str]", tags), name)
        if problem is not None:
            _raise(path, line, k, f"{problem} ({name})", one_word_per_line)


def _raise(path: str | None, line: int | None, k: int, problem: str, per_line: bool) -> None:
    at = line + k if (per_line and line is not None) else line
    raise InputError(path, at, f"word {k + 1}: {problem}")


def _sequence_problem(tags: Sequence[str], name: str) -> tuple[int, str | None]:
    """The first position where well-formed ``tags`` break the rules of scheme ``name``."""
    prev_letter, prev_type = "O", ""
    letters = [(t[0], t[2:]) if t != "O" else ("O", "") for t in tags] + [("O", "")]
    for k, (letter, type_) in enumerate(letters):
        inside = prev_letter in "BI" and prev_type == type_
        if name == "IOB2" and letter == "I" and not inside:
            return k, f"I-{type_} does not continue a {type_} entity"
        if name == "IOB1" and letter == "B" and not (prev_letter in "BI" and prev_type == type_):
            return k, f"B-{type_} does not follow a {type_} entity"
        if name in ("BIOES", "BILOU"):
            last = "E" if name == "BIOES" else "L"
            if prev_letter in "BI" and not (letter in ("I", last) and inside):
                return k - 1, f"{prev_letter}-{prev_type} is not followed by I- or {last}-"
            if letter in ("I", last) and not inside:
                return k, f"{letter}-{type_} does not continue a {type_} entity"
        prev_letter, prev_type = letter, type_
    return -1, None


def map_labels(
    tags: Sequence[str], mapping: Mapping[str, str | None], scheme: str = "IOB2"
) -> list[str]:
    """Rename entity types in one sentence's tags; a type mapped to None (or ``"O"``) becomes O.

    Types absent from ``mapping`` are kept. The result is written again in ``scheme`` from the
    decoded spans, so it is always a valid sequence (entities that become adjacent and equal stay
    two entities, except in IO).
    """
    spans = [
        Span(s.start, s.end, new)
        for s in spans_from_tags(tags, scheme)
        if (new := mapping.get(s.label, s.label)) not in (None, "O")
    ]
    return tags_from_spans(spans, len(tags), scheme)


def ignore_labels(tags: Sequence[str], ignore: Collection[str], scheme: str = "IOB2") -> list[str]:
    """Turn the entity types in ``ignore`` (e.g. ``{"MISC", "DATE"}``) into O, keeping the rest."""
    return map_labels(tags, dict.fromkeys(ignore), scheme)


def drop_labels(spans: Iterable[Span], ignore: Collection[str]) -> list[Span]:
    """The spans whose label is not in ``ignore``, in their order."""
    skip = frozenset(ignore)
    return [s for s in spans if s.label not in skip]
