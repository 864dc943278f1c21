"""N-gram candidate scores (align, ner, nmt), their fusion and NER-span candidates.

Every expected number below is worked out by hand in a comment from made-up tagger
probabilities, translator probabilities and links.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from torchfree import run_cli_torch_free

from xner.runtime.data import Span
from xner.runtime.engines.tagger import TagResult
from xner.runtime.errors import ConfigError
from xner.runtime.pipelines.configs import TranslateTestConfig, TranslateTrainConfig
from xner.runtime.projection import (
    NgramOptions,
    ProjectionItem,
    method_info,
    project_batch,
    project_results,
    resolve_method,
)
from xner.runtime.projection.inputs import ProjectionBatch
from xner.runtime.projection.ngram import candidate_pairs, nmt_chosen
from xner.runtime.projection.registry import option_fields
from xner.runtime.projection.scores import (
    canonical_scores,
    ner_scores,
    nmt_scores,
    scheme_columns,
    weights,
)

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


class FakeTagger:
    """Gives the probabilities (and spans) it was made with, by sentence text."""

    def __init__(
        self,
        probabilities: dict[tuple[str, ...], np.ndarray],
        spans: dict[tuple[str, ...], list[Span]] | None = None,
        labels: Sequence[str] = LABELS,
        scheme: str = "IOB2",
    ) -> None:
        self.labels = list(labels)
        self.scheme = scheme
        self.probabilities = probabilities
        self.spans = spans or {}
        self.calls: list[list[list[str]]] = []

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[TagResult]:
        self.calls.append([list(s) for s in sentences])
        out = []
        for words in sentences:
            p = self.probabilities[tuple(words)]
            out.append(TagResult(self.spans.get(tuple(words), []), ["O"] * len(words), p, p))
        return out


class FakeTranslator:
    """Scores from a table of probabilities ``P(target | source)``, as log-probabilities."""

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self.table = table
        self.calls: list[tuple[list[str], list[str], str, str]] = []

    def score(
        self,
        sources: Sequence[str],
        targets: Sequence[str],
        src_lang: str,
        tgt_lang: str,
        *,
        normalize: bool = False,
    ) -> list[float]:
        assert normalize
        self.calls.append((list(sources), list(targets), src_lang, tgt_lang))
        return [
            math.log(self.table.get((s, t), 0.01)) for s, t in zip(sources, targets, strict=True)
        ]


class FakeEngines:
    def __init__(self, tagger: Any = None, translator: Any = None) -> None:
        self._tagger, self._translator = tagger, translator

    @property
    def tagger(self) -> Any:
        assert self._tagger is not None, "the tagger was not expected to be used"
        return self._tagger

    @property
    def translator(self) -> Any:
        assert self._translator is not None, "the translator was not expected to be used"
        return self._translator

    @property
    def aligner(self) -> Any:
        raise AssertionError("projection never uses the aligner")


# --- weights and options ------------------------------------------------------------------------


def test_scores_are_written_in_one_canonical_form():
    assert canonical_scores(["align=0.5", "ner=0.5", "nmt=1"]) == (
        "align=0.5",
        "ner=0.5",
        "nmt=1.0",
    )
    assert canonical_scores(["nmt=2", "align"]) == ("align=1.0", "nmt=2.0")  # bare: weight 1
    assert canonical_scores({"ner": 1, "align": 0}) == ("ner=1.0",)  # zero weights left out
    assert weights(canonical_scores(["align=0.5", "ner=0.5", "nmt=1"])) == {
        "align": 0.25,
        "ner": 0.25,
        "nmt": 0.5,
    }
    assert NgramOptions(scores={"align": 0.5, "ner": 0.5}) == NgramOptions(
        scores=("ner=0.5", "align=0.5")
    )


@pytest.mark.parametrize(
    ("scores", "problem"),
    [
        (["align=1", "bleu=1"], "unknown score 'bleu'; choose from align, ner, nmt"),
        (["align=1", "align=2"], "score 'align' is given twice"),
        (["align=-1"], "weight of score 'align' must be a number >= 0"),
        (["align=x"], "weight of score 'align' must be a number >= 0"),
        (["align=inf"], "weight of score 'align' must be a number >= 0"),
        (["align=0"], "scores need a positive weight"),
        ("align=1", "got the string"),
    ],
)
def test_bad_scores_are_refused_with_the_choices(scores, problem):
    with pytest.raises(ConfigError, match=problem):
        NgramOptions(scores=scores)


def test_bad_candidates_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="choose from all, ner, ner\\+sub"):
        NgramOptions(candidates="spans")


def test_max_len_defaults_to_10_with_a_model_score_only():
    assert NgramOptions().longest is None
    assert NgramOptions(scores=("align=1", "ner=1")).longest == 10
    assert NgramOptions(scores=("nmt=1",)).longest == 10
    assert NgramOptions(scores=("ner=1",), max_len=3).longest == 3
    assert NgramOptions(candidates="ner").longest is None  # the alignment score alone


def test_the_engines_needed_depend_on_the_options():
    info = method_info("ngram")
    assert info.needs == () and info.takes_engines
    assert info.needed(NgramOptions()) == ()
    assert info.needed(NgramOptions(scores=("ner=1",))) == ("tagger",)
    assert info.needed(NgramOptions(candidates="ner+sub")) == ("tagger",)
    assert info.needed(NgramOptions(scores=("align=1", "nmt=1"))) == ("translator",)
    options = {"scores": ("align=1", "ner=1")}
    train = TranslateTrainConfig("eng", "hau", method="ngram", options=options)
    assert train.needs == ("translator", "aligner", "tagger")
    assert TranslateTrainConfig("eng", "hau", method="ngram").needs == ("translator", "aligner")
    test = TranslateTestConfig("hau", method="ngram", options={"scores": ("nmt=1",)})
    assert set(test.needs) == {"translator", "tagger", "aligner"}


def test_a_model_score_without_engines_names_what_is_missing():
    item = ProjectionItem([Span(0, 1, "PER")], [(0, 0)], 1, ["Ali"])
    with pytest.raises(ConfigError, match="'ngram' needs engines \\(tagger\\)"):
        project_batch([item], "ngram", {"scores": ("ner=1",)})
    with pytest.raises(ConfigError, match="'ngram' needs engines \\(translator\\)"):
        project_results([item], "ngram", {"scores": ("nmt=1",)})


def test_variants_put_each_option_in_a_column():
    assert resolve_method("ngram-ner")[1].weights == {"align": 0.5, "ner": 0.5}
    assert resolve_method("ngram-nmt")[1].weights == {"align": 0.5, "nmt": 0.5}
    assert resolve_method("ngram-nerspan")[1].candidates == "ner"
    assert resolve_method("ngram-nerspan-sub")[1].candidates == "ner+sub"


# --- the ner score --------------------------------------------------------------------------------

# three target words; columns: O, B-PER, I-PER, B-LOC, I-LOC
PROBS = np.array(
    [
        [0.10, 0.80, 0.06, 0.04, 0.00],
        [0.10, 0.10, 0.70, 0.00, 0.10],
        [0.90, 0.00, 0.00, 0.00, 0.10],
    ]
)


def _ner(label: str, start: int, end: int, scheme: str = "IOB2", any_class: bool = False) -> float:
    classes, begin, inside = scheme_columns(LABELS, scheme)
    out = ner_scores(
        PROBS, classes, begin, inside, [label], np.array([start]), np.array([end]), any_class
    )
    return float(out[0])


def test_ner_score_by_hand():
    # [0, 2) PER: 1.15 ** 1 * (p_B-PER(w0) 0.8 + p_I-PER(w1) 0.7) / 2 = 0.8625
    assert _ner("PER", 0, 2) == pytest.approx(0.8625)
    # [0, 1) PER: 1.15 ** 0 * 0.8 / 1
    assert _ner("PER", 0, 1) == pytest.approx(0.8)
    # [1, 2) PER: p_B-PER(w1) = 0.1 (>= 0.05: kept)
    assert _ner("PER", 1, 2) == pytest.approx(0.1)
    # [0, 3) PER: 1.15 ** 2 * (0.8 + 0.7 + 0.0) / 3 = 1.3225 * 0.5 = 0.66125
    assert _ner("PER", 0, 3) == pytest.approx(0.66125)
    # [0, 2) LOC: 1.15 * (0.04 + 0.1) / 2 = 0.0805
    assert _ner("LOC", 0, 2) == pytest.approx(0.0805)
    # [0, 1) LOC: 0.04 < 0.05: zeroed
    assert _ner("LOC", 0, 1) == 0.0
    # a class the tagger does not know scores 0, unless the score is class-agnostic
    assert _ner("DATE", 0, 2) == 0.0
    # class-agnostic: max(PER 0.8625, LOC 0.0805)
    assert _ner("DATE", 0, 2, any_class=True) == pytest.approx(0.8625)
    assert _ner("LOC", 0, 2, any_class=True) == pytest.approx(0.8625)


def test_ner_score_in_iob1_opens_an_entity_with_i():
    # IOB1: an entity after O starts with I-, so the first word counts B- and I-:
    # [1, 2) PER: 0.1 + 0.7 = 0.8 (IOB2: 0.1)
    assert _ner("PER", 1, 2, scheme="IOB1") == pytest.approx(0.8)
    assert _ner("PER", 1, 2) == pytest.approx(0.1)


# --- the nmt score --------------------------------------------------------------------------------


def test_nmt_score_by_hand_with_one_call_per_direction():
    table = {  # P(target | source)
        ("New York", "New York"): 0.8,  # P(a|a)
        ("Nueva York", "Nueva York"): 0.6,  # P(b|b)
        ("Nueva York", "New York"): 0.4,  # P(a|b)
        ("New York", "Nueva York"): 0.3,  # P(b|a)
        ("Nueva", "Nueva"): 0.5,
        ("Nueva", "New York"): 0.04,
        ("New York", "Nueva"): 0.05,
    }
    translator = FakeTranslator(table)
    sources = ["New York", "New York", "New York"]
    candidates = ["Nueva York", "Nueva", "Nueva York"]
    out = nmt_scores(translator, sources, candidates, "eng_Latn", "spa_Latn")
    # 0.5 * (0.4 / 0.8 + 0.3 / 0.6) = 0.5; 0.5 * (0.04 / 0.8 + 0.05 / 0.5) = 0.075 < 0.1: zeroed
    assert out.tolist() == pytest.approx([0.5, 0.0, 0.5])
    assert len(translator.calls) == 4  # P(a|a), P(b|b), P(a|b), P(b|a): one batch each
    directions = {(src, tgt) for _, _, src, tgt in translator.calls}
    assert directions == {
        ("eng_Latn", "eng_Latn"),
        ("spa_Latn", "spa_Latn"),
        ("spa_Latn", "eng_Latn"),
        ("eng_Latn", "spa_Latn"),
    }
    assert sum(len(srcs) for srcs, *_ in translator.calls) == 1 + 2 + 2 + 2  # distinct texts


# --- fusion, through project_results --------------------------------------------------------------

# "John Smith visited Paris" -> "Juan Smith visitó París"; John is left unlinked.
SOURCE = ["John", "Smith", "visited", "Paris"]
TARGET = ["Juan", "Smith", "visitó", "París"]
TARGET_PROBS = np.array(  # O, B-PER, I-PER, B-LOC, I-LOC
    [
        [0.05, 0.90, 0.05, 0.00, 0.00],
        [0.05, 0.05, 0.90, 0.00, 0.00],
        [1.00, 0.00, 0.00, 0.00, 0.00],
        [1.00, 0.00, 0.00, 0.00, 0.00],
    ]
)


def _item(links: list[tuple[int, int]], spans: list[Span] | None = None) -> ProjectionItem:
    spans = [Span(0, 2, "PER")] if spans is None else spans
    return ProjectionItem(spans, links, len(TARGET), TARGET, None, SOURCE, ("eng_Latn", "spa_Latn"))


def test_align_only_confidence_is_the_score_capped_at_1():
    # Smith -> Smith and visitó: one entity word, two links into [1, 3): 2 * 2 / (1 + 2) = 4/3
    item = ProjectionItem([Span(1, 2, "PER")], [(1, 1), (1, 2)], 4, TARGET)
    [result] = project_results([item], "ngram")
    assert result.spans == [Span(1, 3, "PER")]
    assert result.matches is not None and result.matches[0].score == pytest.approx(4 / 3)
    assert result.confidences == [1.0]
    # John Smith -> Smith only: [1, 2) scores 2 * 1 / (2 + 1) = 2/3
    [result] = project_results([_item([(1, 1)])], "ngram")
    assert result.spans == [Span(1, 2, "PER")] and result.confidences == [pytest.approx(2 / 3)]


def test_ner_fusion_by_hand_changes_the_choice():
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS})
    options = {"scores": ("align=0.5", "ner=0.5")}
    [result] = project_results([_item([(1, 1)])], "ngram", options, FakeEngines(tagger))
    # candidates hold Smith (the only linked word), at most 10 words:
    #   [0, 2): align 2 * 1 / 4 = 0.5, ner 1.15 * (0.9 + 0.9) / 2 = 1.035 -> 0.7675
    #   [1, 2): align 2/3, ner p_B-PER(Smith) 0.05 -> 0.5 * 2/3 + 0.5 * 0.05 = 0.358
    #   [0, 3): align 0.4, ner 1.3225 * 1.8 / 3 = 0.7935 -> 0.59675
    #   [0, 4): align 1/3, ner 1.520875 * 1.8 / 4 = 0.68439 -> 0.5089
    #   [1, 3), [1, 4): ner below 0.05 -> 0; align 0.4, 1/3 -> 0.2, 0.1667
    assert result.spans == [Span(0, 2, "PER")]
    assert result.matches is not None
    assert result.matches[0].score == pytest.approx(0.5 * 0.5 + 0.5 * 1.035)
    # confidence: the clipped components: 0.5 * 0.5 + 0.5 * min(1, 1.035) = 0.75
    assert result.confidences == [pytest.approx(0.75)]
    assert tagger.calls == [[TARGET]]  # the target sentence, once
    [plain] = project_results([_item([(1, 1)])], "ngram")
    assert plain.spans == [Span(1, 2, "PER")]  # the alignment alone keeps Smith


def test_fusion_weights_are_normalised():
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS})
    # align=1,ner=3 -> 0.25 / 0.75: [0, 2) 0.25 * 0.5 + 0.75 * 1.035 = 0.90125
    options = {"scores": ("align=1", "ner=3")}
    [result] = project_results([_item([(1, 1)])], "ngram", options, FakeEngines(tagger))
    assert result.matches is not None
    assert result.matches[0].score == pytest.approx(0.90125)
    assert result.confidences == [pytest.approx(0.25 * 0.5 + 0.75 * 1.0)]


def test_nmt_fusion_skips_unlinked_candidates_and_batches_per_direction():
    table = {
        ("John Smith", "John Smith"): 0.5,
        ("Juan Smith", "Juan Smith"): 0.5,
        ("Juan Smith", "John Smith"): 0.5,  # P(a|b)
        ("John Smith", "Juan Smith"): 0.5,  # P(b|a)
        ("Smith", "Smith"): 0.5,
        ("Smith", "John Smith"): 0.1,
        ("John Smith", "Smith"): 0.1,
    }
    translator = FakeTranslator(table)
    options = {"scores": ("align=1", "nmt=1"), "max_len": 2, "nmt_candidates": 0}
    [result] = project_results([_item([(1, 1)])], "ngram", options, FakeEngines(None, translator))
    # [0, 2): align 0.5, nmt 0.5 * (0.5/0.5 + 0.5/0.5) = 1.0 -> 0.75
    # [1, 2): align 2/3, nmt 0.5 * (0.1/0.5 + 0.1/0.5) = 0.2 -> 0.4333
    # [1, 3): align 0.4, nmt 0.5 * (0.01/0.5 + 0.01/0.01) = 0.51 -> 0.455
    assert result.spans == [Span(0, 2, "PER")]
    assert result.confidences == [pytest.approx(0.75)]
    assert len(translator.calls) == 4
    candidates = set()
    for sources, targets, src, tgt in translator.calls:
        candidates.update(targets if tgt == "spa_Latn" else sources if src == "spa_Latn" else ())
    # every scored candidate holds Smith (the linked word); París alone never is
    assert candidates == {"Juan Smith", "Smith", "Smith visitó"}


def test_nmt_needs_the_source_words_and_languages():
    item = ProjectionItem([Span(0, 2, "PER")], [(1, 1)], 4, TARGET)
    translator = FakeTranslator({})
    with pytest.raises(ConfigError, match="needs the source and target words and the languages"):
        project_results([item], "ngram", {"scores": ("nmt=1",)}, FakeEngines(None, translator))


def test_a_sentences_scores_do_not_depend_on_its_batch():
    other_target = ["Ali", "ya", "tafi", "Kano", "jiya"]
    other = ProjectionItem(
        [Span(0, 1, "PER"), Span(3, 4, "LOC")], [(0, 0), (3, 3), (3, 4)], 5, other_target
    )
    probs = np.full((5, 5), 0.2)
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS, tuple(other_target): probs})
    options = {"scores": ("align=0.3", "ner=0.7")}
    engines = FakeEngines(tagger)
    alone = project_results([_item([(1, 1)])], "ngram", options, engines)
    together = project_results([other, _item([(1, 1)])], "ngram", options, engines)
    assert together[1] == alone[0]
    assert together[0] == project_results([other], "ngram", options, engines)[0]


# --- NER-span candidates ------------------------------------------------------------------------


def test_ner_candidates_and_their_sub_spans():
    # the tagger sees one entity [0, 3) on the target (its label is ignored)
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS}, {tuple(TARGET): [Span(0, 3, "ORG")]})
    links = [(0, 0), (1, 1)]
    engines = FakeEngines(tagger)
    [ner] = project_results([_item(links)], "ngram", {"candidates": "ner"}, engines)
    # the only candidate [0, 3): 2 * 2 / (2 + 3) = 0.8
    assert ner.spans == [Span(0, 3, "PER")]
    assert ner.confidences == [pytest.approx(0.8)]
    [sub] = project_results([_item(links)], "ngram", {"candidates": "ner+sub"}, engines)
    # with its sub-spans, [0, 2) scores 2 * 2 / 4 = 1
    assert sub.spans == [Span(0, 2, "PER")] and sub.confidences == [1.0]
    [plain] = project_results([_item(links)], "ngram")
    assert plain.spans == [Span(0, 2, "PER")]


def test_ner_candidates_without_a_link_give_nothing():
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS}, {tuple(TARGET): [Span(3, 4, "LOC")]})
    [result] = project_results(
        [_item([(0, 0), (1, 1)])], "ngram", {"candidates": "ner"}, FakeEngines(tagger)
    )
    assert result.spans == [] and result.matches == [] and result.confidences == []


def test_ner_candidates_with_ner_scores():
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS}, {tuple(TARGET): [Span(0, 3, "ORG")]})
    options = {"candidates": "ner+sub", "scores": ("align=0.5", "ner=0.5")}
    [result] = project_results([_item([(1, 1)])], "ngram", options, FakeEngines(tagger))
    # sub-spans of [0, 3) holding Smith: [0, 2) 0.7675 (as above), [1, 2) 0.358, [0, 3) 0.59675,
    # [1, 3) 0.2
    assert result.spans == [Span(0, 2, "PER")]
    assert tagger.calls == [[TARGET]]  # one tagger call gives the spans and the probabilities


def test_the_tagger_only_sees_target_sentences_with_entities():
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS})
    idle = ProjectionItem([], [], 3, ["a", "b", "c"])
    options = {"scores": ("align=1", "ner=1")}
    project_results([idle, _item([(1, 1)]), idle], "ngram", options, FakeEngines(tagger))
    assert tagger.calls == [[TARGET]]


def test_max_len_10_caps_candidates_with_a_model_score():
    n = 12
    words = [f"w{i}" for i in range(n)]
    item = ProjectionItem([Span(0, n, "PER")], [(i, i) for i in range(n)], n, words)
    probs = np.tile([0.0, 0.5, 0.5, 0.0, 0.0], (n, 1))
    tagger = FakeTagger({tuple(words): probs})
    [plain] = project_results([item], "ngram")
    assert plain.spans == [Span(0, n, "PER")]  # unlimited: the whole sentence scores 1
    options = {"scores": ("align=1", "ner=1")}
    [capped] = project_results([item], "ngram", options, FakeEngines(tagger))
    assert len(capped.spans) == 1 and len(capped.spans[0]) <= 10
    options = {"scores": ("align=1", "ner=1"), "max_len": n}
    [longer] = project_results([item], "ngram", options, FakeEngines(tagger))
    # 12 words: align 1, ner 1.15 ** 11 * 6 / 12 = 2.3376 -> beats any 10-word span
    assert longer.spans == [Span(0, n, "PER")]


def test_exact_matching_takes_the_fused_scores():
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS})
    options = {"scores": ("align=0.5", "ner=0.5"), "exact": True}
    [result] = project_results([_item([(1, 1)])], "ngram", options, FakeEngines(tagger))
    assert result.spans == [Span(0, 2, "PER")]


# --- end to end on the tiny bundle, torch blocked -----------------------------------------------


@pytest.mark.slow
def test_translate_test_with_scores_and_ner_candidates_end_to_end(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    (tmp_path / "in.txt").write_text("Buhari ya isa Abuja .\nAmina ta tafi Kano jiya .\n")
    common = ["--bundle", str(tiny_bundle), "--lang", "hau", str(tmp_path / "in.txt")]
    for name, extra in {
        "fused": ["--scores", "align=0.5,ner=0.5", "--candidates", "ner"],
        "nmt": ["--scores", "align=1,nmt=1", "--candidates", "ner+sub"],
        "plain": [],
    }.items():
        out = tmp_path / f"{name}.jsonl"
        run = run_cli_torch_free(
            ["translate-test", *common, "-o", str(out), "--method", "ngram", *extra]
        )
        assert run.returncode == 0, run.stderr
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(rows) == 2
        for row in rows:
            assert len(row["tags"]) == len(row["tokens"])
            for span in row["spans"]:
                assert 0.0 <= span["confidence"] <= 1.0
    bad = run_cli_torch_free(
        ["translate-test", *common, "-o", str(tmp_path / "bad.jsonl"), "--method", "ngram"]
        + ["--scores", "ner=x"]
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("xner: error: ")
    assert "weight of score 'ner'" in bad.stderr


# --- the candidates a model scores, against a brute force -----------------------------------------


def _random_items(seed: int) -> list[ProjectionItem]:
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(4):
        n_src, n_tgt = int(rng.integers(1, 9)), int(rng.integers(0, 9))
        starts = sorted(set(rng.integers(0, n_src, size=3).tolist()))
        spans = [Span(s, min(s + int(rng.integers(1, 3)), n_src), "X") for s in starts]
        n_links = int(rng.integers(0, 12)) if n_tgt else 0
        links = [(int(rng.integers(0, n_src)), int(rng.integers(0, n_tgt))) for _ in range(n_links)]
        tokens = [str(w) for w in rng.choice(["a", "b", "!"], size=n_tgt, p=[0.45, 0.45, 0.1])]
        cands = None
        if rng.random() < 0.5 and n_tgt:
            cands = {
                (int(a), int(a) + int(rng.integers(1, n_tgt - a + 1)))
                for a in rng.integers(0, n_tgt, 5)
            }
        items.append(ProjectionItem(spans, links, n_tgt, tokens, cands))
    return items


@pytest.mark.parametrize("seed", range(30))
def test_model_scored_candidates_are_every_linked_candidate(seed):
    items = _random_items(seed)
    batch = ProjectionBatch.build(items)
    options = NgramOptions(scores=("align=1", "ner=1"), max_len=3)
    ent, start, end, links = candidate_pairs(batch, options)
    got = list(zip(ent.tolist(), start.tolist(), end.tolist(), links.tolist(), strict=True))
    expected = []
    e = 0
    for k, item in enumerate(items):
        off = int(batch.target_offsets[k])
        pairs = set(item.alignment)
        for span in sorted(item.spans):
            if item.candidates is None:
                stop = [w in ("!", "?") for w in item.target_tokens]
                cands = [
                    (a, b)
                    for a in range(item.target_length)
                    for b in range(a + 1, min(a + 3, item.target_length) + 1)
                    if not any(stop[a:b])
                ]
            else:
                cands = sorted(item.candidates)
            for a, b in cands:
                n = sum(1 for i, j in pairs if span.start <= i < span.end and a <= j < b)
                if n:
                    expected.append((e, a + off, b + off, n))
            e += 1
    assert got == expected


# --- the nmt score's candidates (nmt_candidates) --------------------------------------------------

# self-probabilities of every candidate text holding Smith, so that only the table's cross
# entries make an nmt score (a missing pair is 0.01: 0.5 * (0.01/0.5 + 0.01/0.5) = 0.02 -> 0)
SELF = {
    (text, text): 0.5
    for text in (
        "John Smith",
        "Smith",
        "Juan Smith",
        "Smith visitó",
        "Juan Smith visitó",
        "Smith visitó París",
        "Juan Smith visitó París",
    )
}


def _scored_candidates(translator: FakeTranslator) -> set[str]:
    """The target-language texts the translator was asked about."""
    texts: set[str] = set()
    for sources, targets, src, tgt in translator.calls:
        texts.update(targets if tgt == "spa_Latn" else sources if src == "spa_Latn" else ())
    return texts


def test_nmt_candidates_default_and_bad_values():
    assert NgramOptions().nmt_candidates == 2
    flags = {f.flag for f in option_fields(NgramOptions)}
    assert "--nmt-candidates" in flags
    for bad in (-1, True, 1.5, "2"):
        with pytest.raises(ConfigError, match="nmt_candidates must be an integer >= 0"):
            NgramOptions(nmt_candidates=bad)


def test_nmt_chosen_takes_each_entitys_best_pairs_by_the_other_scores():
    ent = np.array([0, 0, 0, 1, 1])
    align = np.array([0.2, 0.5, 0.5, 0.9, 0.1])
    ner = np.array([0.9, 0.0, 0.0, 0.0, 0.0])
    parts = {"align": align, "ner": ner}
    only_nmt = {"nmt": 1.0}
    # by align alone: entity 0's best is a tie of pairs 1 and 2 (the first wins), entity 1's 3
    assert nmt_chosen(ent, parts, only_nmt, 1).tolist() == [1, 3]
    assert nmt_chosen(ent, parts, only_nmt, 2).tolist() == [1, 2, 3, 4]
    # by align + ner (equal weights): pair 0 scores 0.55 > 0.25
    assert nmt_chosen(ent, parts, {"align": 0.25, "ner": 0.25, "nmt": 0.5}, 1).tolist() == [0, 3]
    assert nmt_chosen(ent, parts, only_nmt, 0).tolist() == [0, 1, 2, 3, 4]  # 0: all
    assert nmt_chosen(ent[:0], parts, only_nmt, 1).tolist() == []


def test_nmt_candidates_limits_what_the_translator_scores_by_hand():
    table = dict(SELF)
    table[("John Smith", "Smith visitó")] = 0.5  # P(b|a)
    table[("Smith visitó", "John Smith")] = 0.5  # P(a|b): nmt([1, 3)) = 0.5 * (1 + 1) = 1
    # candidates holding Smith (linked to entity John Smith), align 2 * 1 / (2 + len):
    #   [1, 2) Smith 2/3; [0, 2) Juan Smith, [1, 3) Smith visitó 0.5; [0, 3), [1, 4) 0.4;
    #   [0, 4) 1/3
    results = {}
    for k in (0, 2, 3):
        translator = FakeTranslator(table)
        options = {"scores": ("align=1", "nmt=1"), "nmt_candidates": k}
        [result] = project_results(
            [_item([(1, 1)])], "ngram", options, FakeEngines(None, translator)
        )
        results[k] = (result, _scored_candidates(translator))
    every = {t for (t, _) in SELF} - {"John Smith"}
    assert results[0][1] == every
    # k=0: [1, 3) scores 0.5 * 0.5 + 0.5 * 1 = 0.75 > [1, 2) 0.5 * 2/3 (nmt 0.02 -> 0)
    assert results[0][0].spans == [Span(1, 3, "PER")]
    assert results[0][0].confidences == [pytest.approx(0.75)]
    # k=2: the two best by align, the tie at 0.5 going to the leftmost start, [0, 2);
    # [1, 3) keeps its align score only: 0.25 < [1, 2) 1/3
    assert results[2][1] == {"Smith", "Juan Smith"}
    assert results[2][0].spans == [Span(1, 2, "PER")]
    assert results[2][0].confidences == [pytest.approx(1 / 3)]
    # k=3: [1, 3) is scored too and wins as with every candidate
    assert results[3][1] == {"Smith", "Juan Smith", "Smith visitó"}
    assert results[3][0].spans == [Span(1, 3, "PER")]
    assert results[3][0].confidences == [pytest.approx(0.75)]


def test_nmt_candidates_are_ranked_by_the_fused_other_scores():
    tagger = FakeTagger({tuple(TARGET): TARGET_PROBS})
    # align + ner (see test_ner_fusion_by_hand_changes_the_choice): [0, 2) 0.7675 is the
    # best, then [0, 3) 0.59675 ([1, 3): 0.5 * 0.5 + 0 = 0.25); by align alone [1, 2) Smith
    # (2/3) is first
    for scores, k, expected in (
        (("align=1", "ner=1", "nmt=1"), 1, {"Juan Smith"}),
        (("align=1", "ner=1", "nmt=1"), 2, {"Juan Smith", "Juan Smith visitó"}),
        (("nmt=1",), 1, {"Smith"}),
    ):
        translator = FakeTranslator(dict(SELF))
        options = {"scores": scores, "nmt_candidates": k}
        project_results([_item([(1, 1)])], "ngram", options, FakeEngines(tagger, translator))
        assert _scored_candidates(translator) == expected, (scores, k)
