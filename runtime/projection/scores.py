"""Scores of (entity, candidate) pairs for n-gram matching, and their fusion.

Three components, each computed for every pair at once:

- ``align``: ``2 * links / (entity_len + candidate_len)``, ``links`` the alignment links from
  the entity's words into the candidate's (may pass 1 with many-to-many links);
- ``ner``: how much the tagger, run on the *target* sentence, sees an entity of the source
  entity's class exactly on the candidate:
  ``alpha ** (len - 1) * (p_begin(first word) + sum of p_inside(other words)) / len`` with
  ``alpha`` = 1.15 and ``len`` the candidate's length, set to 0 below 0.05. ``p_begin`` sums the
  probabilities of the labels that may open an entity of the class (``B-``, ``S-``, ``U-``, and
  ``I-`` in the IOB1 and IO schemes, where an entity after ``O`` starts with ``I-``), ``p_inside``
  those that continue one (``I-``, ``E-``, ``L-``). The class-agnostic variant takes the largest
  score over the tagger's classes; otherwise an entity whose label the tagger does not know
  scores 0. The factor ``alpha ** (len - 1)`` favours longer spans, so the score may pass 1;
- ``nmt`` (NMTScore's "direct" score, as T-Projection uses it):
  ``0.5 * (P(a|b) / P(a|a) + P(b|a) / P(b|b))`` where ``a`` are the source entity's words,
  ``b`` the candidate's, and ``P(y|x)`` the translator's length-normalised probability of ``y``
  given ``x`` (the exponential of the mean log-probability of ``y``'s pieces and end token,
  teacher-forced), set to 0 below 0.1. Each direction is one batched call over the distinct
  texts of the batch.

**Fusion.** The weights (``--scores align=0.5,ner=0.5``) are normalised to sum 1; the matching
score is the weighted sum of the raw components, and a matched span's **confidence** the
weighted sum of the components clipped to [0, 1]. With ``align`` alone the matching score is
the alignment score itself and the confidence ``min(1, score)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from xner.runtime.errors import ConfigError, XnerError, unknown_choice
from xner.runtime.projection.inputs import ProjectionBatch

__all__ = [
    "ALPHA",
    "COMPONENTS",
    "NER_FLOOR",
    "NMT_FLOOR",
    "align_scores",
    "canonical_scores",
    "fuse",
    "ner_scores",
    "nmt_scores",
    "scheme_columns",
    "target_probabilities",
    "weights",
]

COMPONENTS: tuple[str, ...] = ("align", "ner", "nmt")
"""The score components, in the order they are summed."""

ALPHA = 1.15
"""The length reward of the ner score."""

NER_FLOOR = 0.05
"""A ner score below this is 0."""

NMT_FLOOR = 0.1
"""An nmt score below this is 0."""

_BEGIN = frozenset("BSU")  # letters that open an entity in every scheme
_INSIDE = frozenset("IEL")  # letters that continue one
_OPENS_WITH_I = frozenset({"IOB1", "IO"})  # schemes where an entity after O starts with I-


# --- weights ----------------------------------------------------------------------------------


def canonical_scores(value: Any) -> tuple[str, ...]:
    """The score weights ``value`` (``"name=weight"`` strings, a bare ``"name"`` meaning 1, or a
    mapping of names to weights) as ``("align=0.5", "ner=0.5")``: components in the order of
    :data:`COMPONENTS`, weights written as the shortest float, zero weights left out.

    :class:`ConfigError` for an unknown component (listing them), a weight that is not a
    number >= 0, a component given twice, or no positive weight.
    """
    if isinstance(value, str):
        raise ConfigError(f"scores must be a list of name=weight, got the string {value!r}")
    pairs = list(value.items()) if isinstance(value, Mapping) else [_pair(v) for v in value]
    found: dict[str, float] = {}
    for name, weight in pairs:
        if name not in COMPONENTS:
            raise unknown_choice("score", str(name), COMPONENTS)
        if name in found:
            raise ConfigError(f"score {name!r} is given twice")
        found[name] = _weight(name, weight)
    if not any(found.values()):
        raise ConfigError(f"scores need a positive weight, got {_listed(value)!r}")
    return tuple(f"{name}={found[name]!r}" for name in COMPONENTS if found.get(name))


def _pair(item: Any) -> tuple[str, Any]:
    if not isinstance(item, str):
        raise ConfigError(f"a score must be name=weight, got {item!r}")
    name, sep, weight = item.partition("=")
    return name.strip(), (weight.strip() if sep else "1")


def _weight(name: str, weight: Any) -> float:
    try:
        number = float(weight) if not isinstance(weight, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not number >= 0 or math.isinf(number):
        raise ConfigError(f"the weight of score {name!r} must be a number >= 0, got {weight!r}")
    return number


def _listed(value: Any) -> str:
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return ",".join(map(str, value))


def weights(scores: Iterable[str]) -> dict[str, float]:
    """The normalised weights (summing to 1) of canonical ``scores``, by component."""
    raw = {name: float(weight) for name, _, weight in (s.partition("=") for s in scores)}
    total = sum(raw.values())
    return {name: weight / total for name, weight in raw.items()}


# --- components -------------------------------------------------------------------------------


def align_scores(
    links: np.ndarray, entity_length: np.ndarray, candidate_length: np.ndarray
) -> np.ndarray:
    """``2 * links / (entity_length + candidate_length)``, element by element (float64)."""
    score: np.ndarray = links * 2.0
    score /= entity_length + candidate_length
    return score


def scheme_columns(labels: Sequence[str], scheme: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The tagger's entity classes and, for each, which of its ``labels`` (in logit order) open
    an entity of the class and which continue one: ``(classes, begin, inside)``, the latter
    two ``[n_labels, n_classes]`` 0/1 float64 matrices."""
    classes = sorted({label[2:] for label in labels if len(label) > 2 and label[1] == "-"})
    begin = np.zeros((len(labels), len(classes)))
    inside = np.zeros((len(labels), len(classes)))
    opens = _BEGIN | ({"I"} if scheme.upper() in _OPENS_WITH_I else set())
    for row, label in enumerate(labels):
        if len(label) < 3 or label[1] != "-":
            continue
        column = classes.index(label[2:])
        begin[row, column] = label[0] in opens
        inside[row, column] = label[0] in _INSIDE
    return classes, begin, inside


def target_probabilities(batch: ProjectionBatch, tagger: Any, results: Sequence[Any]) -> np.ndarray:
    """The tagger's word probabilities of every target position of ``batch`` (``[positions,
    n_labels]`` float64; rows of sentences not tagged stay 0), from ``results``: one
    ``TagResult`` or None per sentence."""
    labels = list(tagger.labels)
    probs = np.zeros((batch.positions, len(labels)))
    offsets = batch.target_offsets
    for k, result in enumerate(results):
        if result is None:
            continue
        p = np.asarray(result.probabilities, dtype=np.float64)
        if p.shape != (int(batch.target_lengths[k]), len(labels)):
            raise ValueError(
                f"the tagger gave probabilities of shape {p.shape} for a sentence of "
                f"{batch.target_lengths[k]} words and {len(labels)} labels"
            )
        probs[offsets[k] : offsets[k + 1]] = p
    return probs


def ner_scores(
    probabilities: np.ndarray,
    classes: Sequence[str],
    begin: np.ndarray,
    inside: np.ndarray,
    label: Sequence[str],
    start: np.ndarray,
    end: np.ndarray,
    any_class: bool = False,
) -> np.ndarray:
    """The ner score of each candidate ``[start, end)`` (target positions) for an entity of
    class ``label`` (one per candidate), from the word ``probabilities`` (``[positions,
    n_labels]``) and the :func:`scheme_columns` of the tagger (see the module docstring).

    Each candidate's words are summed one column at a time, first word first, so that a
    score never depends on the other sentences of the batch.
    """
    if start.size == 0:
        return np.zeros(0)
    p_begin = _class_sums(probabilities, begin)  # [positions, classes]
    p_inside = _class_sums(probabilities, inside)
    length = end - start
    total = p_begin[start]  # [pairs, classes]
    last = max(probabilities.shape[0] - 1, 0)
    for step in range(1, int(length.max())):
        more = step < length
        total = total + np.where(more[:, None], p_inside[np.minimum(start + step, last)], 0.0)
    score = ALPHA ** (length - 1.0)[:, None] * total / length[:, None]
    if any_class:
        out = score.max(axis=1) if score.shape[1] else np.zeros(start.size)
    else:
        column = {name: i for i, name in enumerate(classes)}
        index = np.array([column.get(name, -1) for name in label], dtype=np.int64)
        picked = score[np.arange(start.size), np.maximum(index, 0)] if score.shape[1] else 0.0
        out = np.where(index >= 0, picked, 0.0)
    result: np.ndarray = np.where(out >= NER_FLOOR, out, 0.0)
    return result


def _class_sums(probabilities: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``probabilities @ columns`` summed label by label in logit order (a matrix product's
    rounding may depend on the number of rows, i.e. on the batch)."""
    out = np.zeros((probabilities.shape[0], columns.shape[1]))
    for row in range(columns.shape[0]):
        if columns[row].any():
            out += probabilities[:, row : row + 1] * columns[row]
    return out


def nmt_scores(
    translator: Any,
    sources: Sequence[str],
    candidates: Sequence[str],
    src_lang: str,
    tgt_lang: str,
) -> np.ndarray:
    """The nmt score of each pair (source entity text ``sources[i]`` in ``src_lang``, candidate
    text ``candidates[i]`` in ``tgt_lang``; see the module docstring), with one batched
    ``translator.score`` call per direction over the distinct texts and pairs."""
    if not sources:
        return np.zeros(0)
    a_texts = sorted(set(sources))
    b_texts = sorted(set(candidates))
    pairs = sorted(set(zip(sources, candidates, strict=True)))
    self_a = _probabilities(translator, a_texts, a_texts, src_lang, src_lang)  # P(a | a)
    self_b = _probabilities(translator, b_texts, b_texts, tgt_lang, tgt_lang)  # P(b | b)
    p_aa = dict(zip(a_texts, self_a, strict=True))
    p_bb = dict(zip(b_texts, self_b, strict=True))
    a_of, b_of = [a for a, _ in pairs], [b for _, b in pairs]
    p_ab = _probabilities(translator, b_of, a_of, tgt_lang, src_lang)  # P(a | b)
    p_ba = _probabilities(translator, a_of, b_of, src_lang, tgt_lang)  # P(b | a)
    by_pair = {
        (a, b): 0.5 * (ab / p_aa[a] + ba / p_bb[b])
        for a, b, ab, ba in zip(a_of, b_of, p_ab, p_ba, strict=True)
    }
    score = np.array([by_pair[pair] for pair in zip(sources, candidates, strict=True)])
    result: np.ndarray = np.where(score >= NMT_FLOOR, score, 0.0)
    return result


def _probabilities(
    translator: Any, sources: list[str], targets: list[str], src_lang: str, tgt_lang: str
) -> list[float]:
    """``exp`` of the length-normalised log-likelihood of each target given its source."""
    try:
        logs = translator.score(sources, targets, src_lang, tgt_lang, normalize=True)
    except XnerError as error:
        if type(error) is XnerError:  # a pair too long to score: that sentence fails alone
            raise ValueError(str(error)) from error
        raise
    return [math.exp(value) for value in logs]


def fuse(components: Mapping[str, np.ndarray], weight: Mapping[str, float]) -> np.ndarray:
    """``sum weight[name] * components[name]`` over the weighted components, in the order of
    :data:`COMPONENTS` (normalised weights: with one component, that component itself)."""
    total: np.ndarray | None = None
    for name in COMPONENTS:
        if name in weight:
            part = weight[name] * components[name]
            total = part if total is None else total + part
    if total is None:
        raise ValueError("no weighted score component")
    return total
