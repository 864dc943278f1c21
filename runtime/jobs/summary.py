"""What a file job did: counts that survive ``--resume``, and the evaluation so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xner.runtime.evaluate import EvaluationResult, Scores

__all__ = ["RunSummary"]

MAX_PROBLEMS = 20
"""How many ``FILE:LINE: problem`` messages a summary keeps (all are counted and logged)."""

_COUNTERS = (
    "sentences",
    "written",
    "failed",
    "copied",
    "skipped",
    "empty",
    "source_entities",
    "entities",
    "incomplete",
    "dropped",
    "truncated",
    "marked",
    "markers_kept",
)


@dataclass
class RunSummary:
    """The outcome of a file job (translate-test, translate-train, tag, translate, align,
    project; a "sentence" is an input item: a line to translate, a pair to align).

    Counts cover the whole job, the part done before a ``--resume`` included:
    ``sentences``: input sentences handled; ``written``: sentences in the output; ``failed``:
    sentences that could not be labelled, of which ``copied`` were written with ``O`` tags and
    ``skipped`` left out; ``empty``: empty input sentences not written (CoNLL cannot hold
    them); ``source_entities``: entities on the projection's source side (English predictions in
    translate-test, gold labels in translate-train; 0 for model transfer); ``entities``:
    entities in the output; ``incomplete``: translate-train projections that lost an entity,
    ``dropped`` of them left out (``drop_incomplete``); ``truncated``: translations that reached
    the translator's decoding limit (flagged in the explain records); ``marked``: translate-train
    sentences translated with markers (``--method markers``: the sentences with entities),
    ``markers_kept`` of them kept all their markers (the others were projected by the fallback
    method; :meth:`count_markers`). ``problems``: the first
    ``FILE:LINE: problem`` messages. ``evaluation``: scores against the gold labels, when asked.
    ``resumed``: sentences the interrupted run had done; ``processed`` and ``seconds``: what
    this run did and how long it took.
    """

    command: str
    output: str
    explain: str | None = None
    sentences: int = 0
    written: int = 0
    failed: int = 0
    copied: int = 0
    skipped: int = 0
    empty: int = 0
    source_entities: int = 0
    entities: int = 0
    incomplete: int = 0
    dropped: int = 0
    truncated: int = 0
    marked: int = 0
    markers_kept: int = 0
    problems: list[str] = field(default_factory=list)
    evaluation: EvaluationResult | None = None
    resumed: int = 0
    processed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float | None:
        """Sentences per second in this run (None before any time has passed)."""
        return self.processed / self.seconds if self.seconds > 0 else None

    def problem(self, message: str) -> None:
        """Record a failed sentence's message (the first :data:`MAX_PROBLEMS` are kept)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def count_markers(self, result: object) -> None:
        """Count a labelled sentence's markers: a result may say whether its translation kept
        all its markers (``markers_kept``: True or False; None or absent: it was not marked)."""
        kept = getattr(result, "markers_kept", None)
        if kept is not None:
            self.marked += 1
            self.markers_kept += int(bool(kept))

    def state(self, evaluation: EvaluationResult | None) -> dict[str, Any]:
        """The JSON-ready counters a checkpoint records (with ``evaluation`` so far)."""
        state: dict[str, Any] = {name: getattr(self, name) for name in _COUNTERS}
        state["problems"] = list(self.problems)
        state["evaluation"] = counts_of(evaluation)
        return state

    def restore(self, state: dict[str, Any]) -> EvaluationResult | None:
        """Load the counters of a checkpoint; returns the evaluation recorded there."""
        for name in _COUNTERS:
            setattr(self, name, int(state.get(name, 0)))
        self.problems = [str(p) for p in state.get("problems", [])][:MAX_PROBLEMS]
        return result_of(state.get("evaluation"))

    def report(self) -> str:
        """A few lines for people: what was done, what failed, and the scores if any."""
        rate = f", {self.rate:.1f} sentences/s" if self.rate else ""
        lines = [
            f"{self.command}: {self.sentences} sentences -> {self.output} "
            f"({self.written} written; {self.processed} in this run, {self.seconds:.1f} s{rate})"
        ]
        if self.resumed:
            lines.append(f"  resumed after {self.resumed} sentences done by an earlier run")
        if self.failed:
            lines.append(
                f"  failed: {self.failed} ({self.copied} written with O tags, "
                f"{self.skipped} left out)"
            )
            lines += [f"    {p}" for p in self.problems[:5]]
            if self.failed > 5:
                lines.append(f"    ... {self.failed - 5} more (see the warnings)")
        if self.empty:
            lines.append(f"  empty sentences not written (CoNLL cannot hold them): {self.empty}")
        if self.source_entities:
            lines.append(
                f"  entities: {self.entities} in the output from {self.source_entities} "
                "on the source side"
            )
        elif self.entities:
            lines.append(f"  entities: {self.entities} in the output")
        if self.marked:
            lines.append(f"  markers kept: {self.markers_kept} of {self.marked} sentences")
        if self.incomplete:
            lines.append(
                f"  incomplete projections (an entity lost): {self.incomplete}, "
                f"{self.dropped} of them left out"
            )
        if self.truncated:
            lines.append(
                f"  translations that reached the decoding limit (may be incomplete): "
                f"{self.truncated}"
            )
        if self.explain:
            lines.append(f"  explanations: {self.explain}")
        text = "\n".join(lines) + "\n"
        if self.evaluation is not None:
            text += "\n" + self.evaluation.format_table()
        return text


def counts_of(result: EvaluationResult | None) -> dict[str, Any] | None:
    """The entity counts behind ``result``: ``{"sentences", "types": {type: [gold, predicted,
    correct]}}`` (figures are recomputed from them)."""
    if result is None:
        return None
    types = {t: [s.gold, s.predicted, s.correct] for t, s in result.per_type.items()}
    return {"sentences": result.sentences, "types": types}


def result_of(counts: dict[str, Any] | None) -> EvaluationResult | None:
    """The :class:`EvaluationResult` of ``counts`` (see :func:`counts_of`)."""
    if counts is None:
        return None
    per_type = {
        t: Scores.from_counts(int(g), int(p), int(c))
        for t, (g, p, c) in sorted(counts["types"].items())
    }
    gold = sum(s.gold for s in per_type.values())
    predicted = sum(s.predicted for s in per_type.values())
    correct = sum(s.correct for s in per_type.values())
    overall = Scores.from_counts(gold, predicted, correct)
    ratio = predicted / gold if gold else None
    return EvaluationResult(overall, per_type, ratio, int(counts["sentences"]))


def merged(a: EvaluationResult | None, b: EvaluationResult | None) -> EvaluationResult | None:
    """The evaluation of two disjoint sets of sentences taken together."""
    if a is None or b is None:
        return a if b is None else b
    ca, cb = counts_of(a) or {}, counts_of(b) or {}
    types = dict(ca["types"])
    for t, counts in cb["types"].items():
        types[t] = [x + y for x, y in zip(types.get(t, [0, 0, 0]), counts, strict=True)]
    return result_of({"sentences": ca["sentences"] + cb["sentences"], "types": types})
