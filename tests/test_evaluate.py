"""Entity-level evaluation: identical to seqeval (default mode) on every gold file in shared/data.

Predictions are the gold entities perturbed by hypothesis (shifted, truncated, extended,
relabelled, split, merged, dropped and invented entities, orphan ``I-`` starts), written as
tags; xner's figures must equal seqeval's to 1e-9, overall and per type.
"""

from __future__ import annotations

import json
import random
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support as seqeval_prfs

from xner.runtime.data import Sentence, Span
from xner.runtime.errors import InputError
from xner.runtime.evaluate import EvaluationResult, Evaluator, Scores, evaluate
from xner.runtime.tags import spans_from_tags, tags_from_spans

MASAKHANER = (
    "bam", "bbj", "ewe", "fon", "hau", "ibo", "kin", "lug", "luo", "mos",
    "nya", "pcm", "sna", "swa", "tsn", "twi", "wol", "xho", "yor", "zul",
)  # fmt: skip
GOLD_FILES = (
    [f"masakhaner2/{lang}.{split}.conll" for lang in MASAKHANER for split in ("dev", "test")]
    + ["conll2003_en/dev.conll", "conll2003_en/test.conll"]
    + [
        f"conll_multi/{name}.test.conll"
        for name in ("de.conll", "es.conll", "nl.conll", "it.evalita")
    ]
    + [f"europarl_ner/{lang}.test.conll" for lang in ("de", "en", "es", "it")]
)
LABELS = ("PER", "ORG", "LOC", "MISC", "DATE", "NEW")
TOLERANCE = 1e-9
SLOW = [HealthCheck.too_slow]


@lru_cache(maxsize=4)
def read_gold(path: Path) -> tuple[list[str], ...]:
    """The tag column of a ``token<TAB>tag`` CoNLL file, one list per sentence."""
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            current.append(line.split("\t")[-1])
        elif current:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return tuple(sentences)


# --- perturbations --------------------------------------------------------------------------

KINDS = ("shift", "truncate", "extend", "relabel", "drop", "invent", "split", "merge", "orphan")


@dataclass(frozen=True)
class Operation:
    """One change to the entities of one sentence (indices are taken modulo what exists)."""

    kind: str
    sentence: int
    entity: int
    amount: int
    label: str


def operations(n_sentences: int) -> st.SearchStrategy[list[Operation]]:
    """A list of perturbation operations on a file of ``n_sentences`` sentences."""
    return st.lists(
        st.builds(
            Operation,
            st.sampled_from(KINDS),
            st.integers(0, n_sentences - 1),
            st.integers(0, 7),
            st.integers(-3, 3),
            st.sampled_from(LABELS),
        ),
        max_size=60,
    )


def random_operations(rnd: random.Random, n_sentences: int, rate: float) -> list[Operation]:
    """Operations on a random subset of about ``rate * n_sentences`` sentences (1 to 3 each)."""
    chosen = [i for i in range(n_sentences) if rnd.random() < rate]
    return [
        Operation(rnd.choice(KINDS), i, rnd.randrange(8), rnd.randint(-3, 3), rnd.choice(LABELS))
        for i in chosen
        for _ in range(rnd.randint(1, 3))
    ]


def apply(op: Operation, spans: list[tuple[Span, bool]], length: int) -> None:
    """Apply ``op`` to one sentence's ``(span, orphan)`` list in place (overlaps are allowed)."""
    if length == 0:
        return
    if op.kind == "invent" or not spans:
        start = op.entity * 5 % length
        end = min(length, start + 1 + abs(op.amount))
        spans.append((Span(start, end, op.label), op.amount < 0))
        return
    k = op.entity % len(spans)
    span, orphan = spans[k]
    start, end, label = span.start, span.end, span.label
    delta = op.amount or 1
    if op.kind == "shift":
        start, end = start + delta, end + delta
    elif op.kind == "truncate":
        start, end = (start + 1, end) if delta > 0 else (start, end - 1)
    elif op.kind == "extend":
        start, end = (start, end + abs(delta)) if delta > 0 else (start - abs(delta), end)
    elif op.kind == "relabel":
        label = op.label
    elif op.kind == "drop":
        del spans[k]
        return
    elif op.kind == "orphan":
        orphan = not orphan
    elif op.kind == "split" and end - start >= 2:
        middle = start + max(1, (end - start) // 2)
        spans[k] = (Span(start, middle, label), orphan)
        spans.insert(k + 1, (Span(middle, end, label), False))
        return
    elif op.kind == "merge" and k + 1 < len(spans):
        end = max(end, spans[k + 1][0].end)
        del spans[k + 1]
    start, end = max(0, start), min(length, end)
    if start < end:
        spans[k] = (Span(start, end, label), orphan)
    else:
        del spans[k]


def paint(spans: list[tuple[Span, bool]], length: int) -> list[str]:
    """Write spans as IOB2 tags in list order (later spans overwrite earlier ones); an orphan
    span starts with ``I-``, which seqeval joins to a preceding entity of the same type."""
    tags = ["O"] * length
    for span, orphan in spans:
        first = "I" if orphan else "B"
        tags[span.start : span.end] = [f"{first}-{span.label}"] + [f"I-{span.label}"] * (
            len(span) - 1
        )
    return tags


def perturb(gold: tuple[list[str], ...], ops: list[Operation]) -> list[list[str]]:
    """Predicted tags: the gold with ``ops`` applied; untouched sentences are the gold lists."""
    by_sentence: dict[int, list[Operation]] = {}
    for op in ops:
        by_sentence.setdefault(op.sentence % len(gold), []).append(op)
    pred = list(gold)
    for i, sentence_ops in by_sentence.items():
        spans = [(span, False) for span in spans_from_tags(gold[i])]
        for op in sentence_ops:
            apply(op, spans, len(gold[i]))
        pred[i] = paint(spans, len(gold[i]))
    return pred


# --- comparison with seqeval ------------------------------------------------------------------


def difference(ours: EvaluationResult, gold: list[list[str]], pred: list[list[str]]) -> float:
    """The largest |xner - seqeval| over overall and per-type precision, recall and F1.

    Also checks that both see the same types and the same gold count per type (support).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns where precision or recall is undefined
        types = sorted(
            {t for t, _, _ in get_entities(gold)} | {t for t, _, _ in get_entities(pred)}
        )
        p, r, f, support = seqeval_prfs(gold, pred, average=None)
        micro = seqeval_prfs(gold, pred, average="micro")
    assert list(ours.per_type) == types
    assert [s.gold for s in ours.per_type.values()] == [int(x) for x in support]
    assert ours.overall.gold == int(micro[3]) == sum(int(x) for x in support)
    diffs = [0.0]
    for i, name in enumerate(types):
        s = ours.per_type[name]
        diffs += [abs(s.precision - p[i]), abs(s.recall - r[i]), abs(s.f1 - f[i])]
    s = ours.overall
    diffs += [abs(s.precision - micro[0]), abs(s.recall - micro[1]), abs(s.f1 - micro[2])]
    return float(max(diffs))


def blank(sentences: list[list[str]], ignore: set[str]) -> list[list[str]]:
    """Tags of the ignored types replaced by O (how one ignores types with seqeval)."""
    return [["O" if t != "O" and t[2:] in ignore else t for t in s] for s in sentences]


# --- the gold files -----------------------------------------------------------------------------


def test_every_gold_file_is_covered(shared_data: Path) -> None:
    found = {
        str(p.relative_to(shared_data))
        for folder in ("masakhaner2", "conll2003_en", "conll_multi", "europarl_ner")
        for p in (shared_data / folder).glob("*.conll")
    }
    assert found == set(GOLD_FILES)


def test_conll2003_test_counts(shared_data: Path) -> None:
    gold = read_gold(shared_data / "conll2003_en/test.conll")
    result = evaluate(gold, gold)
    assert result.sentences == 3453
    assert result.overall.gold == result.overall.predicted == result.overall.correct == 5648
    assert result.overall.f1 == 1.0 and result.projection_ratio == 1.0
    assert list(result.per_type) == ["LOC", "MISC", "ORG", "PER"]


@pytest.mark.parametrize("name", GOLD_FILES)
def test_equals_seqeval_on_perturbed_gold(shared_data: Path, name: str) -> None:
    gold = read_gold(shared_data / name)

    @settings(max_examples=5, deadline=None, suppress_health_check=SLOW)
    @given(
        ops=operations(len(gold)),
        seed=st.integers(0, 2**32 - 1),
        rate=st.sampled_from([0.0, 0.03, 0.15]),
    )
    def check(ops: list[Operation], seed: int, rate: float) -> None:
        pred = perturb(gold, ops + random_operations(random.Random(seed), len(gold), rate))
        result = evaluate(gold, pred)
        assert result.sentences == len(gold)
        assert difference(result, list(gold), pred) <= TOLERANCE

    check()


@pytest.mark.parametrize("name", ["conll2003_en/test.conll", "masakhaner2/hau.test.conll"])
def test_ignore_misc_and_date_equals_seqeval_on_blanked_tags(shared_data: Path, name: str) -> None:
    gold = read_gold(shared_data / name)
    ignore = {"MISC", "DATE"}

    @settings(max_examples=3, deadline=None, suppress_health_check=SLOW)
    @given(ops=operations(len(gold)), seed=st.integers(0, 2**32 - 1))
    def check(ops: list[Operation], seed: int) -> None:
        pred = perturb(gold, ops + random_operations(random.Random(seed), len(gold), 0.1))
        result = evaluate(gold, pred, ignore)
        assert not ignore & set(result.per_type)
        assert difference(result, blank(list(gold), ignore), blank(pred, ignore)) <= TOLERANCE

    check()


# --- small cases ----------------------------------------------------------------------------


def seqeval_micro(gold: list[list[str]], pred: list[list[str]]) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f, _ = seqeval_prfs(gold, pred, average="micro")
    return float(p), float(r), float(f)


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ([["O", "O"]], [["O", "O"]]),  # nothing anywhere: all 0, like seqeval
        ([["B-PER", "O"]], [["O", "O"]]),  # nothing predicted
        ([["O", "O"]], [["B-PER", "I-PER"]]),  # nothing in gold
        ([["B-PER", "I-PER", "O", "I-LOC"]], [["O", "I-PER", "O", "B-LOC"]]),  # orphans
    ],
)
def test_zero_division_like_seqeval(gold: list[list[str]], pred: list[list[str]]) -> None:
    result = evaluate(gold, pred)
    overall = result.overall
    assert (overall.precision, overall.recall, overall.f1) == seqeval_micro(gold, pred)
    n_gold = sum(len(spans_from_tags(s)) for s in gold)
    assert result.projection_ratio == (overall.predicted / n_gold if n_gold else None)


def test_no_sentence_at_all() -> None:
    result = evaluate([], [])  # seqeval refuses empty input; xner reports zeros
    assert result.overall == Scores(0.0, 0.0, 0.0, 0, 0, 0)
    assert result.per_type == {} and result.projection_ratio is None and result.sentences == 0


def test_worked_example() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-MISC", "O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-MISC", "O", "O"]]
    result = evaluate(gold, pred)
    assert result.overall == Scores(2 / 3, 2 / 4, 2 * (2 / 3) * (1 / 2) / (2 / 3 + 1 / 2), 4, 3, 2)
    assert result.per_type["ORG"] == Scores(0.0, 0.0, 0.0, 1, 1, 0)
    assert result.per_type["LOC"] == Scores(0.0, 0.0, 0.0, 1, 0, 0)
    assert result.projection_ratio == 0.75
    data = result.to_dict()
    assert list(data) == ["overall", "per_type", "projection_ratio", "sentences"]
    keys = ["precision", "recall", "f1", "gold", "predicted", "correct"]
    assert list(data["overall"]) == keys
    assert list(data["per_type"]) == ["LOC", "MISC", "ORG", "PER"]
    assert all(list(v) == keys for v in data["per_type"].values())
    assert data["sentences"] == 2
    assert json.loads(json.dumps(data)) == data
    table = result.format_table()
    lines = table.splitlines()
    assert lines[0].split() == keys
    assert lines[2].split() == ["LOC", "0.00", "0.00", "0.00", "1", "0", "0"]
    assert "micro avg" in table and "57.14" in table and "66.67" in table and "50.00" in table
    assert "projection ratio: 0.75" in table
    assert "projection ratio: n/a" in evaluate([], []).format_table()


def test_streaming_equals_batch_and_accepts_sentences_and_spans() -> None:
    gold = [["B-PER", "I-PER", "O"], ["B-LOC", "O", "B-DATE"], ["O"]]
    pred = [["B-PER", "O", "O"], ["B-LOC", "O", "B-DATE"], ["I-ORG"]]
    evaluator = Evaluator()
    for k, (g, p) in enumerate(zip(gold, pred, strict=True)):
        evaluator.add(g, p, line=k + 1, source="x.conll")
        assert evaluator.result().sentences == k + 1
    assert evaluator.result() == evaluate(gold, pred)
    sentences = [Sentence(["w"] * len(t), t, line=1, source="g") for t in gold]
    assert evaluate(sentences, pred) == evaluate(gold, pred)
    by_spans = Evaluator(ignore={"DATE"})
    for g, p in zip(gold, pred, strict=True):
        by_spans.add_spans(spans_from_tags(g), spans_from_tags(p))
    assert by_spans.result() == evaluate(gold, pred, {"DATE"})
    assert "DATE" not in by_spans.result().per_type


def test_prediction_in_another_scheme() -> None:
    spans = [Span(0, 2, "PER"), Span(3, 4, "LOC")]
    gold = [tags_from_spans(spans, 5, "IOB2")]
    for scheme in ("IOB1", "BIOES", "BILOU", "IO"):
        pred = [tags_from_spans(spans, 5, scheme)]
        assert evaluate(gold, pred, pred_scheme=scheme).overall.f1 == 1.0
    with pytest.raises(InputError, match="E-PER"):
        evaluate(gold, [tags_from_spans(spans, 5, "BIOES")])  # E- is not an IOB2 prefix


def test_input_errors_name_file_and_line() -> None:
    with pytest.raises(InputError, match=r"^g\.conll:4: gold has 2 tags but the prediction has 1"):
        Evaluator().add(["O", "O"], ["O"], line=4, source="g.conll")
    gold = [Sentence(["a"], ["B-PER"], line=3, source="g.conll")]
    pred = [Sentence(["a"], ["X-PER"], line=9, source="p.conll")]
    with pytest.raises(InputError, match=r"^p\.conll:9: word 1: tag 'X-PER'"):
        evaluate(gold, pred)
    with pytest.raises(InputError, match=r"^g\.conll:3: .*'B_PER'"):
        evaluate([Sentence(["a"], ["B_PER"], line=3, source="g.conll")], [["O"]])
    with pytest.raises(InputError, match="the prediction ends after 1 sentences"):
        evaluate([["O"], ["O"]], [["O"]])
    with pytest.raises(InputError, match="the gold ends after 0 sentences"):
        evaluate([], [["O"]])
    with pytest.raises(InputError, match="no tags"):
        evaluate([Sentence(["a"], None, line=2, source="g.conll")], [["O"]])
