"""Read a tagger's label set: entity types and tag scheme (IOB1, IOB2, BIOES, IO).

The scheme is read from the labels, never assumed: the CoNLL-03 XLM-R taggers were trained on
the original IOB1 files and have no ``B-PER`` label (``I-PER`` starts a person). The model's own
predictions on the probe sentences are recorded as evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from xner.export.options import ExportError

_LABEL = re.compile(r"^(?P<prefix>[BIESLU])[-_](?P<type>.+)$")


@dataclass(frozen=True)
class LabelInfo:
    """What a label set says: entity types, scheme and why."""

    labels: tuple[str, ...]
    entity_types: tuple[str, ...]
    scheme: str
    reason: str


def split_label(label: str) -> tuple[str, str]:
    """``("B", "PER")`` for ``B-PER``; ``("O", "")`` for ``O``."""
    if label == "O":
        return "O", ""
    match = _LABEL.match(label)
    if not match:
        raise ExportError(
            f"label {label!r} is neither O nor PREFIX-TYPE: the checkpoint lacks label names"
        )
    return match["prefix"], match["type"]


def read_labels(labels: Sequence[str], forced: str = "auto") -> LabelInfo:
    """Entity types and scheme of ``labels`` (``forced`` overrides the scheme unless ``auto``)."""
    if "O" not in labels:
        raise ExportError(f"the label set {list(labels)} has no O label")
    parts = [split_label(label) for label in labels]
    prefixes: dict[str, set[str]] = {}
    for prefix, kind in parts:
        if kind:
            prefixes.setdefault(kind, set()).add(prefix)
    types = tuple(sorted(prefixes))
    used = set().union(*prefixes.values()) if prefixes else set()
    if forced != "auto":
        return LabelInfo(tuple(labels), types, forced, "set by the user")
    if used & {"E", "S", "L", "U"}:
        return LabelInfo(tuple(labels), types, "BIOES", "labels use E-/S- (or L-/U-) prefixes")
    if "B" not in used:
        return LabelInfo(tuple(labels), types, "IO", "no B- labels")
    lacking = sorted(kind for kind, pre in prefixes.items() if "I" in pre and "B" not in pre)
    if lacking:
        missing = ", ".join(f"B-{kind}" for kind in lacking)
        return LabelInfo(tuple(labels), types, "IOB1", f"the label set has no {missing}")
    return LabelInfo(tuple(labels), types, "IOB2", "every type has B- and I- labels")


def inside_start_rate(predicted: np.ndarray, words: np.ndarray, labels: Sequence[str]) -> float:
    """Share of predicted entity starts written with ``I-`` (near 1 for IOB1 taggers).

    ``predicted``: label ids of the first subword of each word, ``[n_words]`` in sentence order
    with ``words`` giving the sentence of each (an entity cannot continue across sentences).
    """
    parts = [split_label(label) for label in labels]
    prefix = np.array([p for p, _ in parts])[predicted]
    kind = np.array([k for _, k in parts], dtype=object)[predicted]
    previous_kind = np.concatenate([[""], kind[:-1]])
    new_sentence = np.concatenate([[True], words[1:] != words[:-1]])
    continues = (previous_kind == kind) & ~new_sentence
    starts_b = prefix == "B"
    starts_i = (prefix == "I") & ~continues
    total = int(starts_b.sum() + starts_i.sum())
    return float(starts_i.sum() / total) if total else 0.0
