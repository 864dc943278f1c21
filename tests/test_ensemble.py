"""The ensemble projection method: model transfer and a projection method vote on the target
words (votes, ties, overlaps computed by hand; fake engines; the tiny bundle end to end)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fake_engines import fake_engines
from torchfree import run_cli_torch_free

from xner.runtime.data import Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.tagger import TagResult
from xner.runtime.errors import ConfigError
from xner.runtime.pipelines import translate_test
from xner.runtime.projection import (
    EnsembleOptions,
    HeuristicOptions,
    NgramOptions,
    ProjectionItem,
    method_info,
    project_results,
)
from xner.runtime.projection.ensemble import (
    AGREED,
    SINGLE,
    span_probabilities,
    vote,
    voters,
)
from xner.runtime.tags import tags_from_spans

PER, LOC = "PER", "LOC"
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


# --- votes ----------------------------------------------------------------------------------------


def test_a_span_both_voters_give_is_agreed_and_the_others_have_one_vote() -> None:
    projected = [Span(0, 1, PER), Span(3, 5, LOC)]
    tagged = [Span(0, 1, PER), Span(6, 7, LOC)]
    spans, conf = vote(projected, tagged, {})
    assert spans == [Span(0, 1, PER), Span(3, 5, LOC), Span(6, 7, LOC)]
    assert conf == [AGREED, SINGLE, SINGLE] == [1.0, 0.5, 0.5]


def test_same_boundaries_but_another_label_is_not_agreement() -> None:
    # the two spans overlap (same words): the more probable label wins, with one vote
    projected, tagged = [Span(2, 4, LOC)], [Span(2, 4, PER)]
    spans, conf = vote(projected, tagged, {Span(2, 4, LOC): 0.7, Span(2, 4, PER): 0.2})
    assert (spans, conf) == ([Span(2, 4, LOC)], [0.5])
    spans, conf = vote(projected, tagged, {Span(2, 4, LOC): 0.1, Span(2, 4, PER): 0.2})
    assert (spans, conf) == ([Span(2, 4, PER)], [0.5])


def test_overlaps_are_resolved_by_the_tagger_probability_greedily() -> None:
    # A = [0, 3) projected (0.4), B = [2, 5) tagged (0.9), C = [4, 6) projected (0.6):
    # B is kept first; A and C overlap it and go; D = [7, 8) overlaps nothing and stays.
    a, b, c, d = Span(0, 3, PER), Span(2, 5, PER), Span(4, 6, LOC), Span(7, 8, LOC)
    spans, conf = vote([a, c, d], [b], {a: 0.4, b: 0.9, c: 0.6, d: 0.01})
    assert spans == [b, d] and conf == [0.5, 0.5]
    # B less probable than both neighbours: A and C are kept (they do not overlap each other)
    spans, _ = vote([a, c, d], [b], {a: 0.4, b: 0.3, c: 0.6, d: 0.01})
    assert spans == [a, c, d]


def test_ties_are_broken_in_a_fixed_order() -> None:
    # equal probability: the model-transfer span wins over the projected one
    projected, tagged = [Span(1, 3, PER)], [Span(2, 4, PER)]
    assert vote(projected, tagged, {})[0] == [Span(2, 4, PER)]
    assert vote(tagged, projected, {})[0] == [Span(1, 3, PER)]  # roles swapped: swapped winner
    # within one voter's spans (no overlaps there) nothing to break; the agreed span never loses
    spans, conf = vote([Span(0, 2, PER)], [Span(0, 2, PER), Span(2, 3, LOC)], {})
    assert spans == [Span(0, 2, PER), Span(2, 3, LOC)] and conf == [1.0, 0.5]
    # the result does not depend on the order the voters list their spans in
    many = [Span(0, 1, PER), Span(2, 3, LOC), Span(5, 6, PER)]
    other = [Span(0, 2, LOC), Span(5, 7, PER)]
    assert vote(many, other, {}) == vote(many[::-1], other[::-1], {})


def test_an_agreed_span_keeps_confidence_one_whatever_its_probability() -> None:
    span = Span(0, 2, PER)
    spans, conf = vote([span, Span(3, 4, LOC)], [span], {span: 0.0, Span(3, 4, LOC): 1.0})
    assert dict(zip(spans, conf, strict=True)) == {span: 1.0, Span(3, 4, LOC): 0.5}


# --- the tagger's probability of a span -----------------------------------------------------------


def test_span_probability_is_the_mean_of_the_label_mass_over_its_words() -> None:
    probs = np.array(
        [
            # O    B-PER I-PER B-LOC I-LOC
            [0.1, 0.6, 0.1, 0.1, 0.1],
            [0.2, 0.1, 0.5, 0.1, 0.1],
            [0.7, 0.0, 0.0, 0.2, 0.1],
        ],
        dtype=np.float32,
    )
    spans = [Span(0, 2, PER), Span(2, 3, LOC), Span(0, 3, LOC), Span(1, 2, "DATE")]
    got = span_probabilities(spans, probs, LABELS, 3)
    # PER over words 0-1: ((0.6 + 0.1) + (0.1 + 0.5)) / 2 = 0.65
    # LOC over word 2: 0.2 + 0.1 = 0.3; LOC over words 0-2: (0.2 + 0.2 + 0.3) / 3
    # DATE: a label the tagger lacks: 0
    assert got == pytest.approx([0.65, 0.3, 0.7 / 3, 0.0])


def test_a_tagger_without_probabilities_gives_zero() -> None:
    spans = [Span(0, 1, PER)]
    assert span_probabilities(spans, np.zeros((0, 0)), None, 2) == [0.0]
    assert span_probabilities(spans, np.zeros((0, 0)), LABELS, 2) == [0.0]  # wrong shape
    assert span_probabilities([], np.zeros((2, 5)), LABELS, 2) == []


# --- options --------------------------------------------------------------------------------------


def test_options_check_the_voter_and_resolve_its_options() -> None:
    assert EnsembleOptions().ensemble_with == "ngram"
    assert EnsembleOptions().voter_options == NgramOptions()
    assert {"heuristic", "ngram", "ngram-exact"} <= set(voters())
    assert "ensemble" not in voters()
    for bad in ("ensemble", "nope"):
        with pytest.raises(ConfigError, match="heuristic") as caught:
            EnsembleOptions(ensemble_with=bad)
        assert "ngram" in str(caught.value)
    chosen = EnsembleOptions("heuristic", {"merge_distance": 0})
    assert chosen.voter_options == HeuristicOptions(merge_distance=0)
    assert EnsembleOptions("ngram-exact").voter_options == NgramOptions(exact=True)
    with pytest.raises(ConfigError, match="merge_distance"):
        EnsembleOptions("ngram", {"merge_distance": 0})  # not an option of ngram


def test_registered_with_the_tagger_and_labelling_alone() -> None:
    info = method_info("ensemble")
    assert info.needed(EnsembleOptions()) == ("tagger",)
    # the voter's own engines are added (ngram's NMT score needs the translator), once each
    scored = EnsembleOptions("ngram", {"scores": ("align=0.5", "nmt=0.5", "ner=1")})
    assert info.needed(scored) == ("tagger", "translator")
    assert info.labels_alone and not info.pairs_entities
    with pytest.raises(ConfigError, match="needs engines"):
        project_results([([Span(0, 1, PER)], [(0, 0)], 1, ["A"])], "ensemble")


# --- through project_results with a tagger that has probabilities ---------------------------------


class ProbTagger:
    """Capitalised words are PER (one word each); probability of PER: 0.9 for them, 0.2 for
    the other words (whose O gets the rest)."""

    labels = LABELS
    entity_types = (LOC, PER)

    def __init__(self) -> None:
        self.calls: list[list[list[str]]] = []

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[TagResult]:
        self.calls.append([list(s) for s in sentences])
        out = []
        for words in sentences:
            caps = np.array([w[:1].isupper() for w in words])
            probs = np.zeros((len(words), len(LABELS)), dtype=np.float32)
            probs[:, 1] = np.where(caps, 0.9, 0.2)
            probs[:, 0] = 1 - probs[:, 1]
            spans = [Span(i, i + 1, PER) for i in np.flatnonzero(caps).tolist()]
            tags = tags_from_spans(spans, len(words))
            out.append(TagResult(spans, tags, probs, np.log(probs + 1e-9)))
        return out


def engines_with(tagger: object) -> Engines:
    engines = fake_engines()
    return Engines(translator=engines.translator, tagger=tagger, aligner=engines.aligner)


def test_votes_of_a_batch_and_sentences_without_source_entities() -> None:
    tagger = ProbTagger()
    items = [
        # the projection (word i -> word i) gives [0, 2) PER; the tagger [0, 1) and [3, 4) PER:
        # [0, 2) projected (prob (0.9 + 0.2) / 2 = 0.55) and [0, 1) tagged (0.9) overlap: the
        # tagged one wins; [3, 4) is the tagger's alone
        ProjectionItem([Span(0, 2, PER)], [(0, 0), (1, 1)], 4, ["Ada", "b", "c", "Dan"]),
        # no source entity: the tagger alone labels the sentence (and the method is called)
        ProjectionItem([], [], 2, ["x", "Eve"]),
        # agreement: [1, 2) PER by both
        ProjectionItem([Span(1, 2, PER)], [(1, 1)], 3, ["a", "Bo", "c"]),
        ProjectionItem([], [], 0, []),  # no target words: nothing, and not tagged
    ]
    results = project_results(items, "ensemble", EnsembleOptions("heuristic"), engines_with(tagger))
    assert [r.spans for r in results] == [
        [Span(0, 1, PER), Span(3, 4, PER)],
        [Span(1, 2, PER)],
        [Span(1, 2, PER)],
        [],
    ]
    assert [r.matches for r in results] == [None] * 4
    assert [r.confidences or [] for r in results] == [[0.5, 0.5], [0.5], [1.0], []]
    assert results[2].origins == [0] and results[0].origins == [None, None]
    assert tagger.calls == [[["Ada", "b", "c", "Dan"], ["x", "Eve"], ["a", "Bo", "c"]]]


def test_a_batch_without_any_source_entity_is_still_tagged() -> None:
    results = project_results(
        [ProjectionItem([], [], 2, ["Ann", "b"])], "ensemble", None, engines_with(ProbTagger())
    )
    assert results[0].spans == [Span(0, 1, PER)]


def test_the_result_of_a_sentence_does_not_depend_on_its_batch() -> None:
    items = [
        ProjectionItem([Span(0, 2, PER)], [(0, 0), (1, 1)], 4, ["Ada", "b", "c", "Dan"]),
        ProjectionItem([Span(0, 1, LOC)], [(0, 1)], 2, ["x", "Eve"]),
    ]
    engines = engines_with(ProbTagger())
    together = project_results(items, "ensemble", None, engines)
    alone = [project_results([item], "ensemble", None, engines)[0] for item in items]
    assert together == alone


def test_without_target_words_the_ensemble_cannot_tag() -> None:
    with pytest.raises(ConfigError, match="target"):
        project_results(
            [ProjectionItem([Span(0, 1, PER)], [(0, 0)], 1)], "ensemble", None, fake_engines()
        )


def test_translate_test_with_fake_engines_labels_sentences_without_english_entities() -> None:
    # the fake translator adds x to each word, the fake tagger marks capitalised words PER and
    # the fake aligner links word i to word i: "Ada ran" -> "Adax ranx": Ada PER, agreed
    engines = fake_engines()
    results = list(
        translate_test(engines, ["Ada ran", "zzz Bob"], "hau", method="ensemble", chunk_size=8)
    )
    assert [r.spans for r in results] == [[Span(0, 1, PER)], [Span(1, 2, PER)]]


class TargetOnlyTagger(ProbTagger):
    """Finds nothing in the fake translations (their words end in x): only the target side has
    entities, so the projection voter never votes."""

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[TagResult]:
        return super().tag([[w.lower() if w.endswith("x") else w for w in s] for s in sentences])


def test_the_tagger_vote_alone_is_kept_with_half_confidence_and_min_confidence_drops_it() -> None:
    engines = engines_with(TargetOnlyTagger())
    results = list(translate_test(engines, ["Ada ran", "zzz"], "hau", method="ensemble"))
    assert [r.spans for r in results] == [[Span(0, 1, PER)], []]
    assert results[0].confidences == [0.5] and results[0].origins == [None]
    assert results[0].explain()["entities"][0]["confidence"] == 0.5
    strict = translate_test(engines, ["Ada ran"], "hau", method="ensemble", min_confidence=1.0)
    assert [r.spans for r in strict] == [[]]


def test_a_dropped_label_is_dropped_from_the_tagger_votes_too() -> None:
    """``drop`` removes an entity type from the English side; the ensemble's tagger votes on the
    target words must not bring it back (regression: a tagger-only PER span was written)."""
    engines = engines_with(TargetOnlyTagger())
    kept = list(translate_test(engines, ["Ada ran"], "hau", method="ensemble"))
    assert [r.spans for r in kept] == [[Span(0, 1, PER)]]
    dropped = list(translate_test(engines, ["Ada ran"], "hau", method="ensemble", drop="PER"))
    assert [r.spans for r in dropped] == [[]] and dropped[0].confidences == []


# --- the tiny bundle, end to end, torch blocked ---------------------------------------------------


@pytest.mark.slow
def test_translate_test_and_translate_train_end_to_end(tiny_bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("Buhari ya isa Abuja .\nAmina ta tafi Kano .\n")
    (tmp_path / "in.conll").write_text(
        "Buhari B-PER\nya O\nisa O\nAbuja B-LOC\n. O\n\nAmina B-PER\nta O\ntafi O\n"
    )
    tt = run_cli_torch_free(
        [
            "translate-test", "--bundle", str(tiny_bundle), "--lang", "hau",
            str(tmp_path / "in.txt"), "-o", str(tmp_path / "tt.jsonl"),
            "--method", "ensemble", "--ensemble-with", "heuristic", "--intra-threads", "1",
            "--explain", str(tmp_path / "tt.explain.jsonl"),
        ]
    )  # fmt: skip
    assert tt.returncode == 0, tt.stderr
    explained = (tmp_path / "tt.explain.jsonl").read_text().splitlines()
    assert len(explained) == 2
    lines = [json.loads(line) for line in (tmp_path / "tt.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    assert [line["tokens"] for line in lines] == [
        ["Buhari", "ya", "isa", "Abuja", "."],
        ["Amina", "ta", "tafi", "Kano", "."],
    ]
    for line in lines:
        assert {span["confidence"] for span in line["spans"]} <= {0.5, 1.0}
    tr = run_cli_torch_free(
        [
            "translate-train", "--bundle", str(tiny_bundle), "--src-lang", "hau",
            "--tgt-lang", "yor", str(tmp_path / "in.conll"), "-o", str(tmp_path / "tr.conll"),
            "--method", "ensemble", "--intra-threads", "1",
        ]
    )  # fmt: skip
    assert tr.returncode == 0, tr.stderr
    assert (tmp_path / "tr.conll").read_text().count("\n\n") == 2
    wrong = run_cli_torch_free(
        [
            "translate-test", "--bundle", str(tiny_bundle), "--lang", "hau",
            str(tmp_path / "in.txt"), "-o", str(tmp_path / "bad.conll"),
            "--method", "ensemble", "--ensemble-with", "ensemble",
        ]
    )  # fmt: skip
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("xner: error:") and "heuristic" in wrong.stderr
