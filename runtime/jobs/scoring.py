"""Evaluation inside a labelling job: each result against its gold sentence, as they come.

The gold sentences are those of a ``gold`` file (same sentences, same order as the input) or the
input's own tags. A failed sentence counts as predicting nothing (its tags are all ``O``). Empty
input sentences (blank lines of a text file) have no gold partner.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from xner.runtime.data import Sentence
from xner.runtime.errors import InputError
from xner.runtime.evaluate import EvaluationResult, Evaluator
from xner.runtime.files.formats import read_sentences
from xner.runtime.files.io import Source, source_name
from xner.runtime.pipelines.results import LabelledResult

__all__ = ["GoldScorer"]


class GoldScorer:
    """A :class:`~xner.runtime.jobs.runner.Scorer` of labelled results.

    ``gold``: a file of gold-tagged sentences in the input's order, or None to score against
    the input's own tags. ``ignore``: entity types mapped to ``O`` on both sides.
    """

    def __init__(self, gold: Source | None, ignore: Collection[str]) -> None:
        self._gold_name: Source = "" if gold is None else gold
        self._golds: Iterator[Sentence] | None = None if gold is None else read_sentences(gold)
        self._evaluator = Evaluator(ignore)
        self._count = 0

    def skip(self, item: Sentence) -> None:
        """An input sentence done by the interrupted run: read past its gold partner."""
        self._count += 1
        if item.tokens:
            self._gold_for(item)

    def add(self, result: LabelledResult) -> None:
        """Score ``result`` against the gold sentence of its input."""
        item = result.input
        self._count += 1
        if item is None or not item.tokens:
            return
        gold = self._gold_for(item)
        assert gold.tags is not None  # checked by _gold_for
        self._evaluator.add(gold.tags, result.tags, line=gold.line or None, source=gold.source)

    def finish(self) -> None:
        """The input is done: the gold file must be done too."""
        extra = None if self._golds is None else next(self._golds, None)
        if extra is not None:
            problem = f"the gold file goes on after the input's last sentence ({self._count})"
            raise InputError(extra.source, extra.line or None, problem)

    def result(self) -> EvaluationResult:
        """The scores of the results added so far (in this run)."""
        return self._evaluator.result()

    def _gold_for(self, original: Sentence) -> Sentence:
        """The gold sentence of ``original``: the next one of the gold file, or itself."""
        where = f"{original.source}:{original.line}"
        if self._golds is None:
            if original.tags is None:
                raise InputError(
                    original.source,
                    original.line or None,
                    "no tags in the input to evaluate against",
                )
            return original
        gold = next(self._golds, None)
        if gold is None:
            problem = f"the gold file ends before the input sentence at {where}"
            raise InputError(source_name(self._gold_name), None, problem)
        if gold.tags is None:
            raise InputError(gold.source, gold.line or None, "the gold file has no tags")
        if len(gold.tokens) != len(original.tokens):
            problem = (
                f"this gold sentence has {len(gold.tokens)} words but the input sentence at "
                f"{where} has {len(original.tokens)}"
            )
            raise InputError(gold.source, gold.line or None, problem)
        return gold
