"""Entity-level evaluation: precision, recall and F1 that agree with seqeval and conlleval.

An entity counts as correct when the prediction has an entity with the same type, start and end
(exact match). Figures are micro-averaged over all entities (``overall``) and given per type; they
are identical to ``seqeval.metrics`` in its default mode (``precision_score``, ``recall_score``,
``f1_score``, ``classification_report``) and to conlleval's (divided by 100): entities are decoded
with :func:`~xner.runtime.tags.spans_from_tags`, an undefined precision (nothing predicted) or
recall (nothing in gold) is 0, and F1 is 0 when precision and recall are both 0.

Use :class:`Evaluator` to stream sentence pairs one at a time, or :func:`evaluate` for two
iterables of sentences.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xner.runtime.data import Sentence, Span
from xner.runtime.errors import InputError
from xner.runtime.tags import normalize_scheme, spans_from_tags, validate_tags

__all__ = ["EvaluationResult", "Evaluator", "Scores", "evaluate"]


@dataclass(frozen=True)
class Scores:
    """Entity counts and the figures derived from them (fractions in ``[0, 1]``, not percentages).

    ``gold``: entities in the reference; ``predicted``: entities in the prediction; ``correct``:
    predicted entities that match a gold entity exactly (type, start and end).
    """

    precision: float
    recall: float
    f1: float
    gold: int
    predicted: int
    correct: int

    @classmethod
    def from_counts(cls, gold: int, predicted: int, correct: int) -> Scores:
        """Compute the figures the way seqeval does (0 where a denominator is 0)."""
        precision = correct / predicted if predicted else 0.0
        recall = correct / gold if gold else 0.0
        denom = precision + recall
        # Same operations in the same order as seqeval: (1 + beta^2) * p * r / (beta^2 * p + r).
        f1 = 2.0 * precision * recall / denom if denom else 0.0
        return cls(precision, recall, f1, gold, predicted, correct)

    def to_dict(self) -> dict[str, Any]:
        """``{"precision", "recall", "f1", "gold", "predicted", "correct"}``."""
        return asdict(self)


@dataclass(frozen=True)
class EvaluationResult:
    """The outcome of an evaluation.

    ``overall``: micro-averaged scores over all types; ``per_type``: one entry per entity type
    found in the gold or the prediction, sorted by type; ``projection_ratio``: predicted entities
    divided by gold entities (how many entities a projection produced relative to the reference),
    None when there is no gold entity (undefined); ``sentences``: sentence pairs compared.
    """

    overall: Scores
    per_type: dict[str, Scores]
    projection_ratio: float | None
    sentences: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``overall``, ``per_type`` (type -> scores), ``projection_ratio``,
        ``sentences``."""
        return {
            "overall": self.overall.to_dict(),
            "per_type": {name: scores.to_dict() for name, scores in self.per_type.items()},
            "projection_ratio": self.projection_ratio,
            "sentences": self.sentences,
        }

    def format_table(self, digits: int = 2) -> str:
        """A fixed-width text table: one row per type, then the micro average.

        Precision, recall and F1 are percentages with ``digits`` decimals (as papers report
        them); a last line gives the number of sentences and the projection ratio.
        """
        rows: list[tuple[str, Scores | None]] = list(self.per_type.items())
        rows += [("", None)] if rows else []
        rows.append(("micro avg", self.overall))
        width = max(len(name) for name, _ in rows)
        num = max(9, digits + 5)
        columns = ("precision", "recall", "f1", "gold", "predicted", "correct")
        lines = [" " * width + "".join(f"  {c:>{num}}" for c in columns), ""]
        for name, s in rows:
            if s is None:
                lines.append("")
                continue
            figures = (100 * s.precision, 100 * s.recall, 100 * s.f1)
            lines.append(
                f"{name:>{width}}"
                + "".join(f"  {x:>{num}.{digits}f}" for x in figures)
                + "".join(f"  {n:>{num}d}" for n in (s.gold, s.predicted, s.correct))
            )
        ratio = "n/a" if self.projection_ratio is None else f"{self.projection_ratio:.{digits}f}"
        lines += ["", f"sentences: {self.sentences}  projection ratio: {ratio}"]
        return "\n".join(lines) + "\n"


class Evaluator:
    """Accumulates entity counts over sentence pairs; :meth:`result` gives the scores so far.

    ``ignore``: entity types (e.g. ``{"MISC", "DATE"}``) turned into O on both sides before
    scoring, as published results on MasakhaNER and Europarl do. ``scheme``: tag scheme of the
    gold tags and, unless ``pred_scheme`` says otherwise, of the predicted ones (see
    :mod:`xner.runtime.tags`; it decides which prefixes are accepted). ``validate``: check every
    tag and raise :class:`InputError` for a malformed one (turn it off only for tags you made).
    """

    def __init__(
        self,
        ignore: Collection[str] = (),
        *,
        scheme: str = "IOB2",
        pred_scheme: str | None = None,
        validate: bool = True,
    ) -> None:
        self.ignore = frozenset(ignore)
        self.scheme = normalize_scheme(scheme)
        self.pred_scheme = self.scheme if pred_scheme is None else normalize_scheme(pred_scheme)
        self.validate = validate
        self._gold: Counter[str] = Counter()
        self._pred: Counter[str] = Counter()
        self._correct: Counter[str] = Counter()
        self._sentences = 0

    def add(
        self,
        gold_tags: Sequence[str],
        pred_tags: Sequence[str],
        *,
        line: int | None = None,
        source: str | None = None,
        pred_line: int | None = None,
        pred_source: str | None = None,
    ) -> None:
        """Add one sentence pair given as tags. The two must have the same length.

        ``line`` and ``source`` name the gold sentence in errors (``FILE:LINE: problem``);
        ``pred_line`` and ``pred_source`` the predicted one (default: the same as the gold).
        """
        if len(gold_tags) != len(pred_tags):
            raise InputError(
                source,
                line,
                f"gold has {len(gold_tags)} tags but the prediction has {len(pred_tags)}",
            )
        if self.validate:
            validate_tags(gold_tags, self.scheme, path=source, line=line)
            validate_tags(
                pred_tags,
                self.pred_scheme,
                path=source if pred_source is None else pred_source,
                line=line if pred_line is None else pred_line,
            )
        self.add_spans(
            spans_from_tags(gold_tags, self.scheme), spans_from_tags(pred_tags, self.pred_scheme)
        )

    def add_spans(self, gold: Iterable[Span], predicted: Iterable[Span]) -> None:
        """Add one sentence pair given as spans (for example straight from a projection).

        The spans are taken as given (no validation); ``ignore`` applies to them too.
        """
        gold_set = {s for s in gold if s.label not in self.ignore}
        pred_set = {s for s in predicted if s.label not in self.ignore}
        self._gold.update(s.label for s in gold_set)
        self._pred.update(s.label for s in pred_set)
        self._correct.update(s.label for s in gold_set & pred_set)
        self._sentences += 1

    def result(self) -> EvaluationResult:
        """Scores over every pair added so far (the evaluator can keep accumulating)."""
        types = sorted(set(self._gold) | set(self._pred))
        per_type = {
            t: Scores.from_counts(self._gold[t], self._pred[t], self._correct[t]) for t in types
        }
        gold, pred = sum(self._gold.values()), sum(self._pred.values())
        overall = Scores.from_counts(gold, pred, sum(self._correct.values()))
        return EvaluationResult(overall, per_type, pred / gold if gold else None, self._sentences)


def _tags_of(item: Sentence | Sequence[str]) -> tuple[Sequence[str], int | None, str | None]:
    if isinstance(item, Sentence):
        if item.tags is None:
            raise InputError(item.source, item.line or None, "sentence has no tags to evaluate")
        return item.tags, item.line or None, item.source
    return item, None, None


def evaluate(
    gold_sentences: Iterable[Sentence | Sequence[str]],
    pred_sentences: Iterable[Sentence | Sequence[str]],
    ignore: Collection[str] = (),
    *,
    scheme: str = "IOB2",
    pred_scheme: str | None = None,
) -> EvaluationResult:
    """Score predicted sentences against gold ones, pair by pair, in order.

    Each item is a list of tags or a :class:`Sentence` with ``tags``. Both iterables must have the
    same number of sentences and each pair the same number of tags (else :class:`InputError`,
    naming the gold sentence's file and line when known). ``ignore``, ``scheme`` and
    ``pred_scheme`` are as in :class:`Evaluator`.
    """
    evaluator = Evaluator(ignore, scheme=scheme, pred_scheme=pred_scheme)
    missing = object()
    pairs = itertools.zip_longest(gold_sentences, pred_sentences, fillvalue=missing)
    for count, (gold, pred) in enumerate(pairs):
        if gold is missing or pred is missing:
            side = "gold" if gold is missing else "prediction"
            where = pred if gold is missing else gold
            line, source = (
                (where.line or None, where.source) if isinstance(where, Sentence) else (None, None)
            )
            raise InputError(source, line, f"the {side} ends after {count} sentences")
        gold_tags, line, source = _tags_of(gold)  # type: ignore[arg-type]
        pred_tags, pred_line, pred_source = _tags_of(pred)  # type: ignore[arg-type]
        evaluator.add(
            gold_tags,
            pred_tags,
            line=line,
            source=source,
            pred_line=pred_line,
            pred_source=pred_source,
        )
    return evaluator.result()
