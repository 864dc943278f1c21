"""Dev evaluation during training: xner's own entity-level F1 (seqeval-exact) of the model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from xner.runtime.errors import InputError
from xner.runtime.evaluate import EvaluationResult, Evaluator
from xner.runtime.files.formats import read_sentences
from xner.runtime.tags import map_labels, spans_from_tags
from xner.train.data import Encoded, Example, encode
from xner.train.options import TrainOptions

__all__ = ["DevSet"]


class DevSet:
    """The dev file, encoded once, and its gold spans (label map and ignore applied)."""

    def __init__(
        self, options: TrainOptions, tokenizer: Any, labels: list[str], max_length: int
    ) -> None:
        assert options.dev is not None
        path = Path(options.dev)
        self.ignore = options.ignore
        self.labels = labels
        self.gold: list[list[Any]] = []
        examples: list[Example] = []
        for sentence in read_sentences(path):
            if sentence.tags is None:
                raise InputError(path, sentence.line or None, "the dev file needs gold tags")
            if not sentence.tokens:
                continue  # nothing to tag, nothing to find
            tags = map_labels(sentence.tags, dict(options.label_map))
            self.gold.append(spans_from_tags(tags))
            words = tuple(sentence.tokens)
            examples.append(Example(words, ("O",) * len(words), "dev", -1))
        if not examples:
            raise InputError(path, None, "the dev file holds no sentence")
        self.lengths = [len(e.tokens) for e in examples]
        label2id = {label: k for k, label in enumerate(labels)}
        self.encoded = encode(examples, tokenizer, label2id, max_length)
        self.batch_size = max(8, 2 * options.batch_size)

    def f1(
        self,
        model: Any,
        batch: Callable[[Sequence[Encoded]], dict[str, torch.Tensor]],
        autocast: Callable[[], Any],
    ) -> float:
        """Entity-level micro F1 of the model on the dev set (seqeval-exact); ``batch`` turns
        encoded pieces into tensors on the model's device."""
        return self.evaluate(model, batch, autocast).overall.f1

    def evaluate(
        self,
        model: Any,
        batch: Callable[[Sequence[Encoded]], dict[str, torch.Tensor]],
        autocast: Callable[[], Any],
    ) -> EvaluationResult:
        """The model's whole evaluation on the set (:meth:`f1`'s precision, recall and counts,
        overall and per type); the model is back in training mode afterwards."""
        model.eval()
        evaluator = Evaluator(self.ignore)
        predicted = [["O"] * n for n in self.lengths]  # words without a subword stay O
        with torch.no_grad():
            for start in range(0, len(self.encoded), self.batch_size):
                chunk = self.encoded[start : start + self.batch_size]
                inputs = batch(chunk)
                with autocast():
                    logits = model(
                        input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
                    ).logits
                best = logits.argmax(-1).cpu().numpy()
                for row, piece in enumerate(chunk):
                    tags = predicted[piece.example]
                    previous = None
                    for position, word in enumerate(piece.word_ids):
                        if word is not None and word != previous:
                            tags[word] = self.labels[int(best[row, position])]
                        previous = word
        for gold, tags in zip(self.gold, predicted, strict=True):
            evaluator.add_spans(gold, spans_from_tags(tags))
        model.train()
        return evaluator.result()
