"""Training data: labelled files per source language, their encoding and a weighted sampler.

A *source* is one ``--data FILE:LANG`` (:class:`DataSpec`): a CoNLL or JSONL file of tagged
sentences (projected target-language data from ``xner translate-train``, or gold data) and the
language it is in. :func:`read_examples` reads one source into :class:`Example` records, with the
label set mapped and ignored as in evaluation and, for JSONL files whose spans carry a
confidence, the sentences with a doubtful entity left out (``min_confidence``). :func:`encode`
turns examples into subword ids with a Hugging Face fast tokenizer: the first subword of a word
carries its label, the other subwords and the special tokens ``-100``; a sentence longer than
``max_length`` subwords is split at word boundaries into several pieces (nothing is truncated
unless one word alone is too long). :class:`WeightedSampler` draws each example of a batch from a
source chosen by the ``--source-weights`` (Rahimi et al. 2019: more sources help when weighted),
deterministically for a seed, and resumes exactly from its :meth:`~WeightedSampler.state_dict`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xner.runtime.errors import ConfigError, InputError
from xner.runtime.files.formats import read_sentences, resolve_format
from xner.runtime.files.io import iter_lines, parse_json
from xner.runtime.languages import resolve_language
from xner.runtime.names import split_names
from xner.runtime.tags import map_labels

if TYPE_CHECKING:
    import torch

__all__ = [
    "IGNORE_INDEX",
    "DataOptions",
    "DataSpec",
    "Encoded",
    "Example",
    "ReadStats",
    "WeightedSampler",
    "apply_weights",
    "collate",
    "encode",
    "label_list",
    "parse_data_spec",
    "parse_label_map",
    "read_examples",
    "read_unlabelled",
]

logger = logging.getLogger("xner")

IGNORE_INDEX = -100
"""The label of positions the loss skips: special tokens, non-first subwords and padding."""


# --- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSpec:
    """One source: a file, its language (an NLLB code) and its sampling weight."""

    path: Path
    lang: str
    weight: float = 1.0


def parse_data_spec(text: str) -> DataSpec:
    """``"yor.proj.conll:yor"`` -> ``DataSpec(Path("yor.proj.conll"), "yor_Latn")``.

    The language is the part after the last colon, in any form :func:`resolve_language` takes
    (ISO 639-1/3, NLLB code, English name). A missing file or language, or an unknown language,
    is a :class:`ConfigError` naming the entry. The file is not opened here.
    """
    path, colon, lang = text.rpartition(":")
    if not colon or not path.strip() or not lang.strip():
        raise ConfigError(f"{text!r}: expected FILE:LANG, for example yor.proj.conll:yor_Latn")
    try:
        code = resolve_language(lang.strip())
    except ConfigError as error:
        raise ConfigError(f"{text!r}: {error}") from None
    return DataSpec(Path(path.strip()), code)


def apply_weights(specs: Sequence[DataSpec], text: str | None) -> list[DataSpec]:
    """The specs with the sampling weights of ``--source-weights`` (``"en=1,yor_Latn=0.5"``).

    A key is a file (its name or its path as given) or a language in any code form, which
    weighs every source in that language; a file key wins over a language key for its file.
    Sources not named keep their weight (1 by default). Weights are finite numbers >= 0 and
    at least one source must keep a positive weight. Every bad entry (no ``=``, not a number,
    negative, unknown key, a source weighed twice) is named in one :class:`ConfigError`, which
    lists the valid keys.
    """
    entries = split_names(text)
    if not entries:
        return list(specs)
    problems: list[str] = []
    by_file: dict[int, float] = {}
    by_lang: dict[str, float] = {}
    claimed: dict[tuple[str, int | str], str] = {}
    for entry in entries:
        key, equals, value = entry.partition("=")
        key, value = key.strip(), value.strip()
        weight = _weight(value) if equals and key else None
        if weight is None:
            problems.append(f"{entry!r} (expected KEY=WEIGHT with a number >= 0)")
            continue
        files = [k for k, s in enumerate(specs) if key in (s.path.name, str(s.path))]
        if files:
            targets: list[tuple[str, int | str]] = [("file", k) for k in files]
        else:
            try:
                lang = resolve_language(key)
            except ConfigError:
                lang = None
            if lang is None or not any(s.lang == lang for s in specs):
                problems.append(f"{key!r} (no source file or language of that name)")
                continue
            targets = [("lang", lang)]
        for target in targets:
            if target in claimed:
                problems.append(f"{entry!r} (weighs the same source as {claimed[target]!r})")
                continue
            claimed[target] = entry
            if target[0] == "file":
                by_file[int(target[1])] = weight
            else:
                by_lang[str(target[1])] = weight
    if problems:
        keys = sorted({s.lang for s in specs} | {s.path.name for s in specs})
        raise ConfigError(
            f"--source-weights: bad entries: {'; '.join(problems)}; keys are source files or "
            f"languages: {', '.join(keys)}"
        )
    weighted = [
        DataSpec(s.path, s.lang, by_file.get(k, by_lang.get(s.lang, s.weight)))
        for k, s in enumerate(specs)
    ]
    if not any(s.weight > 0 for s in weighted):
        raise ConfigError("--source-weights: every source has weight 0; give one a positive weight")
    return weighted


def _weight(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_label_map(text: str | None) -> dict[str, str]:
    """``"PERSON=PER,GPE=LOC,DATE=O"`` -> the label map of :class:`DataOptions` (a type mapped to
    ``O`` is dropped); bad entries are named in one :class:`ConfigError`."""
    mapping: dict[str, str] = {}
    bad: list[str] = []
    for entry in split_names(text):
        old, equals, new = (part.strip() for part in entry.partition("="))
        if not equals or not old or not new or old in mapping:
            bad.append(repr(entry))
        else:
            mapping[old] = new
    if bad:
        raise ConfigError(
            f"label map: bad entries {', '.join(bad)}; expected OLD=NEW pairs, each type once "
            "(NEW may be O to drop the type), for example PERSON=PER,DATE=O"
        )
    return mapping


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataOptions:
    """How labelled files are read.

    ``min_confidence``: a sentence of a JSONL file in which an entity (one not ignored) has a
    ``confidence`` below this is left out (counted in :attr:`ReadStats.low_confidence`); files
    without confidences are unaffected. ``label_map``: entity types renamed (a type mapped to
    ``O`` is dropped), see :func:`parse_label_map`. ``ignore``: entity types turned into O, as
    ``xner evaluate --ignore`` does. ``max_length``: subword positions per encoded example,
    special tokens included (:func:`encode`).
    """

    min_confidence: float = 0.0
    label_map: Mapping[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    max_length: int = 256

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must be in [0, 1], not {self.min_confidence}")
        if self.max_length < 3:
            raise ConfigError(f"max_length must be at least 3, not {self.max_length}")

    def mapping(self) -> dict[str, str | None]:
        """Type renames for :func:`~xner.runtime.tags.map_labels` (None: dropped)."""
        renamed: dict[str, str | None] = dict(self.label_map)
        renamed.update(dict.fromkeys(self.ignore))
        return renamed


@dataclass(frozen=True)
class Example:
    """One labelled sentence: its words and IOB2 tags, its language, the index of its source
    (:class:`DataSpec`) and the line of the file it starts at."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    lang: str
    source: int
    line: int = 0


@dataclass(frozen=True)
class ReadStats:
    """What reading one source did: ``sentences`` read, ``kept`` as examples, left out because
    of a ``low_confidence`` entity or because ``empty``; ``scored``: sentences that carried
    span confidences (0 for CoNLL and for JSONL without them)."""

    sentences: int
    kept: int
    low_confidence: int
    empty: int
    scored: int


def read_examples(
    spec: DataSpec, options: DataOptions, source: int
) -> tuple[list[Example], ReadStats]:
    """The tagged sentences of ``spec.path`` (CoNLL or JSONL, by extension) as examples.

    Tags are rewritten in IOB2 after ``options.label_map`` and ``options.ignore`` (so IOB1 or
    BIOES files are read too). A sentence without tags is an :class:`InputError`; empty
    sentences are skipped. ``source`` is stored in each example.
    """
    mapping = options.mapping()
    fmt = resolve_format(spec.path)
    lowest: dict[int, float] = {}
    if fmt == "jsonl":
        lowest = _lowest_confidences(spec.path, mapping)
    examples: list[Example] = []
    sentences = low = empty = 0
    for sentence in read_sentences(spec.path, fmt):
        sentences += 1
        if sentence.tags is None:
            raise InputError(
                spec.path, sentence.line, "sentence has no tags; training data needs them"
            )
        if not sentence.tokens:
            empty += 1
            continue
        if lowest.get(sentence.line, 1.0) < options.min_confidence:
            low += 1
            continue
        tags = map_labels(sentence.tags, mapping)
        examples.append(
            Example(tuple(sentence.tokens), tuple(tags), spec.lang, source, sentence.line)
        )
    if options.min_confidence > 0 and not lowest:
        logger.warning(
            "%s has no span confidences: --min-confidence leaves all its sentences in", spec.path
        )
    stats = ReadStats(sentences, len(examples), low, empty, len(lowest))
    logger.info(
        "%s (%s): %d sentences, %d kept, %d below the minimum confidence",
        spec.path,
        spec.lang,
        sentences,
        len(examples),
        low,
    )
    return examples, stats


def _lowest_confidences(path: Path, mapping: Mapping[str, str | None]) -> dict[int, float]:
    """Line -> the lowest confidence of an entity kept by ``mapping``, for the records of a JSONL
    file whose ``spans`` carry confidences (as ``xner translate-train`` writes them)."""
    name = str(path)
    lowest: dict[int, float] = {}
    for number, text in iter_lines(path, name):
        if not text.strip():
            continue
        record = parse_json(text, name, number)
        spans = record.get("spans") if isinstance(record, dict) else None
        if spans is None:
            continue
        if not isinstance(spans, list):
            raise InputError(name, number, "'spans' is not a list")
        scores: list[float] = []
        for k, span in enumerate(spans):
            confidence = span.get("confidence") if isinstance(span, dict) else None
            label = span.get("label") if isinstance(span, dict) else None
            if confidence is None:
                continue
            if (
                isinstance(confidence, bool)
                or not isinstance(confidence, (int, float))
                or not 0.0 <= confidence <= 1.0
            ):
                raise InputError(
                    name,
                    number,
                    f"span {k + 1}: confidence {confidence!r} is not a number in [0, 1]",
                )
            if not isinstance(label, str) or mapping.get(label, label) not in (None, "O"):
                scores.append(float(confidence))
        lowest[number] = min(scores, default=1.0)
    return lowest


def label_list(examples: Iterable[Example]) -> list[str]:
    """``["O", "B-LOC", "I-LOC", "B-PER", "I-PER", ...]``: the entity types of the examples'
    IOB2 tags, sorted, each with its B- and I- label, after ``O``."""
    types = {tag[2:] for example in examples for tag in example.tags if tag != "O"}
    return ["O", *(f"{p}-{t}" for t in sorted(types) for p in "BI")]


def read_unlabelled(spec: DataSpec, limit: int | None = None) -> list[list[str]]:
    """The sentences of a plain-text file (one per line, split on whitespace), whatever its
    extension; empty lines are skipped; at most ``limit`` sentences when given."""
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, not {limit}")
    sentences: list[list[str]] = []
    for sentence in read_sentences(spec.path, "text"):
        if sentence.tokens:
            sentences.append(sentence.tokens)
            if limit is not None and len(sentences) >= limit:
                break
    return sentences


# --- encoding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """One encoded piece of an example: subword ``input_ids`` with special tokens, ``labels``
    (the label id on each word's first subword, :data:`IGNORE_INDEX` elsewhere), ``word_ids``
    (per position the index of the word in the *whole* example, None for special tokens),
    ``lang`` and ``source`` of the example, ``example``: its index in the sequence given to
    :func:`encode`, and ``part``: 0 for the first piece, 1, 2, ... when it was split."""

    input_ids: list[int]
    labels: list[int]
    word_ids: list[int | None]
    lang: str
    source: int
    example: int = 0
    part: int = 0


def encode(
    examples: Sequence[Example],
    tokenizer: Any,
    label2id: Mapping[str, int],
    max_length: int,
) -> list[Encoded]:
    """Encode examples with a Hugging Face fast tokenizer (``is_split_into_words=True``).

    An example longer than ``max_length`` subwords (special tokens included) is split at word
    boundaries into pieces that fit, each word in exactly one piece; a single word longer than
    a piece can hold keeps only its first subwords (its label is on the first; logged). A tag
    that is not in ``label2id`` is a :class:`ConfigError`. Words that the tokenizer turns into
    no subword at all (rare control characters) have no position and no label.
    """
    if max_length < 3:
        raise ConfigError(f"max_length must be at least 3, not {max_length}")
    if not examples:
        return []
    words = [list(example.tokens) for example in examples]
    # verbose=False: no warning about sequences over the model's length; they are split below.
    whole = tokenizer(
        words, is_split_into_words=True, add_special_tokens=True, truncation=False, verbose=False
    )
    pieces: list[tuple[int, int, int, int]] = []  # example, part, first word, end word
    fitted: dict[tuple[int, int], tuple[list[int], list[int | None]]] = {}
    budget = max_length - int(tokenizer.num_special_tokens_to_add(pair=False))
    for k, ids in enumerate(whole["input_ids"]):
        word_ids = whole.word_ids(k)
        if len(ids) <= max_length:
            fitted[(k, 0)] = (list(ids), list(word_ids))
            pieces.append((k, 0, 0, len(words[k])))
            continue
        present = np.asarray([w for w in word_ids if w is not None], dtype=np.int64)
        counts = np.bincount(present, minlength=len(words[k])).tolist()
        for part, (start, end) in enumerate(_word_chunks(counts, max(budget, 1))):
            pieces.append((k, part, start, end))
    split = [p for p in pieces if (p[0], p[1]) not in fitted]
    if split:
        chunks = tokenizer(
            [words[k][start:end] for k, _, start, end in split],
            is_split_into_words=True,
            add_special_tokens=True,
            truncation=True,
            max_length=max_length,
        )
        for row, (k, part, start, _) in enumerate(split):
            shifted = [None if w is None else w + start for w in chunks.word_ids(row)]
            fitted[(k, part)] = (list(chunks["input_ids"][row]), shifted)
        logger.info(
            "split %d sentences longer than %d subwords into %d pieces",
            len({k for k, *_ in split}),
            max_length,
            len(split),
        )
    encoded: list[Encoded] = []
    for k, part, _, _ in pieces:
        ids, word_ids = fitted[(k, part)]
        example = examples[k]
        labels = _labels(example, word_ids, label2id)
        encoded.append(Encoded(ids, labels, word_ids, example.lang, example.source, k, part))
    return encoded


def _word_chunks(counts: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Greedy ``[start, end)`` word ranges whose subword ``counts`` sum to at most ``budget``
    (a range of one word may exceed it: that word is truncated later)."""
    chunks: list[tuple[int, int]] = []
    start, used = 0, 0
    for k, count in enumerate(counts):
        if k > start and used + count > budget:
            chunks.append((start, k))
            start, used = k, 0
        used += count
    chunks.append((start, len(counts)))
    return chunks


def _labels(
    example: Example, word_ids: Sequence[int | None], label2id: Mapping[str, int]
) -> list[int]:
    labels: list[int] = []
    previous: int | None = None
    for word in word_ids:
        if word is None or word == previous:
            labels.append(IGNORE_INDEX)
        else:
            tag = example.tags[word]
            if tag not in label2id:
                raise ConfigError(
                    f"line {example.line} of source {example.source}: label {tag!r} is not one of "
                    f"the model's labels ({', '.join(label2id)})"
                )
            labels.append(label2id[tag])
        previous = word
    return labels


def collate(
    batch: Sequence[Encoded], pad_id: int, lang2id: Mapping[str, int] | None = None
) -> dict[str, torch.Tensor]:
    """Pad a batch: ``input_ids`` (with ``pad_id``), ``attention_mask`` and ``labels`` (padded
    with :data:`IGNORE_INDEX`), int64 tensors of shape ``(batch, longest)``; with ``lang2id``
    also ``languages``, the language id of each row (for the adversarial discriminator)."""
    import torch

    if not batch:
        raise ValueError("collate needs at least one example")
    width = max(len(item.input_ids) for item in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    for row, item in enumerate(batch):
        n = len(item.input_ids)
        input_ids[row, :n] = torch.tensor(item.input_ids, dtype=torch.long)
        attention_mask[row, :n] = 1
        labels[row, :n] = torch.tensor(item.labels, dtype=torch.long)
    tensors = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    if lang2id is not None:
        tensors["languages"] = torch.tensor(
            [lang2id[item.lang] for item in batch], dtype=torch.long
        )
    return tensors


# --- sampling --------------------------------------------------------------------------------


class WeightedSampler:
    """Batches of ``(source, example index)`` drawn by source weight, deterministically.

    Each example of a batch comes from a source drawn with probability proportional to its
    weight (independently, so a batch may mix sources); within a source, examples come in a
    shuffled order that is reshuffled at the end of each pass (epoch) over it. Everything follows
    from ``seed``: the same seed gives the same batches, and a sampler restored from
    :meth:`state_dict` continues exactly as the original would have. A source without examples,
    a negative or non-finite weight, or all weights 0 is a :class:`ConfigError`. ``names``
    (optional) name the sources in those messages.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        weights: Sequence[float],
        seed: int,
        *,
        names: Sequence[str] | None = None,
    ) -> None:
        if len(sizes) != len(weights) or not sizes:
            raise ValueError(f"{len(sizes)} sizes and {len(weights)} weights: need one per source")
        label = list(names) if names is not None else [f"source {k + 1}" for k in range(len(sizes))]
        empty = [label[k] for k, size in enumerate(sizes) if size < 1]
        if empty:
            raise ConfigError(f"no training examples in {', '.join(empty)}")
        bad = [label[k] for k, w in enumerate(weights) if not (math.isfinite(w) and w >= 0)]
        if bad:
            raise ConfigError(f"sampling weights must be finite and >= 0: {', '.join(bad)}")
        total = float(sum(weights))
        if total <= 0:
            raise ConfigError("every source has sampling weight 0; give one a positive weight")
        self.sizes = [int(size) for size in sizes]
        self.weights = [float(w) for w in weights]
        self.seed = int(seed)
        self._probabilities = np.asarray(self.weights, dtype=np.float64) / total
        self._rng = np.random.default_rng(self.seed)
        self._epochs = [0] * len(self.sizes)
        self._positions = [0] * len(self.sizes)
        self._orders = [self._order(k, 0) for k in range(len(self.sizes))]

    def _order(self, source: int, epoch: int) -> np.ndarray:
        """The shuffled example order of ``source`` in pass ``epoch`` (a function of the seed)."""
        rng = np.random.default_rng([self.seed, source, epoch])
        return rng.permutation(self.sizes[source])

    @property
    def epochs(self) -> list[int]:
        """Completed passes over each source."""
        return list(self._epochs)

    def next_batch(self, batch_size: int) -> list[tuple[int, int]]:
        """The next ``batch_size`` ``(source, example index)`` pairs."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        sources = self._rng.choice(len(self.sizes), size=batch_size, p=self._probabilities)
        batch: list[tuple[int, int]] = []
        for source in sources.tolist():
            if self._positions[source] == self.sizes[source]:
                self._epochs[source] += 1
                self._positions[source] = 0
                self._orders[source] = self._order(source, self._epochs[source])
            batch.append((source, int(self._orders[source][self._positions[source]])))
            self._positions[source] += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        """The sampler's whole state, JSON-ready (plain ints, floats, lists and dicts)."""
        return {
            "sizes": list(self.sizes),
            "weights": list(self.weights),
            "seed": self.seed,
            "rng": self._rng.bit_generator.state,
            "epochs": list(self._epochs),
            "positions": list(self._positions),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict`; a state of other sources, weights or seed is a
        :class:`ConfigError` (the data changed since the checkpoint)."""
        mine = {"sizes": self.sizes, "weights": self.weights, "seed": self.seed}
        changed = [key for key, value in mine.items() if state.get(key) != value]
        if changed:
            raise ConfigError(
                f"the sampler state was saved for other data ({', '.join(changed)} differ: "
                f"{', '.join(f'{k} {state.get(k)} -> {mine[k]}' for k in changed)})"
            )
        self._rng.bit_generator.state = dict(state["rng"])
        self._epochs = [int(e) for e in state["epochs"]]
        self._positions = [int(p) for p in state["positions"]]
        self._orders = [self._order(k, e) for k, e in enumerate(self._epochs)]
