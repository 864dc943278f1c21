"""Issue 13 item 5: a confidence per projected span, ``--explain`` links, ``--min-confidence``.

The confidences below are computed by hand from the links written in each test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fake_engines import Aligner, Tagger, Translator
from torchfree import run_cli_torch_free

from xner.runtime.data import Sentence, Span
from xner.runtime.engines.aligner import AlignmentResult
from xner.runtime.engines.engine_set import Engines
from xner.runtime.errors import ConfigError
from xner.runtime.files.formats import read_sentences
from xner.runtime.jobs.sentence_files import write_labelled
from xner.runtime.pipelines.compose import model_transfer, translate_test, translate_train
from xner.runtime.pipelines.configs import TranslateTestConfig, TranslateTrainConfig
from xner.runtime.pipelines.records import Record
from xner.runtime.pipelines.results import TranslateTestResult, projected_records
from xner.runtime.pipelines.segments import join_segments
from xner.runtime.projection import Match, Projected, project_results
from xner.runtime.projection.result import align_confidence
from xner.runtime.tags import tags_from_spans

PER, LOC, ORG = "PER", "LOC", "ORG"


def heuristic(spans, links, n, **options):
    """The one result of the heuristic on one sentence pair."""
    return project_results([(spans, links, n)], "heuristic", options or None)[0]


# --- Projected ------------------------------------------------------------------------------------


def test_projected_checks_its_confidences_and_origins() -> None:
    spans = [Span(0, 1, PER), Span(2, 3, LOC)]
    with pytest.raises(ValueError, match="1 confidences given for 2 projected spans"):
        Projected(spans, None, [0.5])
    with pytest.raises(ValueError, match=r"numbers in \[0, 1\], got \[0.5, 1.5\]"):
        Projected(spans, None, [0.5, 1.5])
    with pytest.raises(ValueError, match="got \\[-0.1, 1.0\\]"):
        Projected(spans, None, [-0.1, 1.0])
    with pytest.raises(ValueError, match="got \\[1.0, nan\\]"):
        Projected(spans, None, [1.0, float("nan")])
    with pytest.raises(ValueError, match="3 origins given for 2 projected spans"):
        Projected(spans, None, [0.5, 1.0], [0, 1, 2])
    assert Projected(spans, None, [0.0, 1.0]).origins is None


def test_origins_come_from_the_matches_when_not_given() -> None:
    spans = [Span(0, 1, PER), Span(2, 3, LOC)]
    matches = [Match(1, spans[0], 0.5), Match(0, spans[1], 2.0)]
    assert Projected(spans, matches, [0.5, 1.0]).origins == [1, 0]
    assert Projected(spans, matches, [0.5, 1.0], [None, None]).origins == [None, None]


def test_align_confidence_caps_the_score_at_one() -> None:
    # 2 * links / (|entity| + |candidate|): 4 links of a 1-word entity into a 2-word candidate
    assert align_confidence(2 * 4 / (1 + 2)) == 1.0
    assert align_confidence(2 * 1 / (2 + 3)) == pytest.approx(0.4)
    assert align_confidence(0.0) == 0.0


def test_above_drops_weak_spans_with_their_matches_and_origins() -> None:
    spans = [Span(0, 1, PER), Span(2, 4, LOC), Span(5, 6, ORG)]
    matches = [Match(0, spans[0], 0.4), Match(2, spans[1], 1.0), Match(1, spans[2], 0.7)]
    projected = Projected(spans, matches, [0.4, 1.0, 0.7])
    assert projected.above(0) is projected  # 0 changes nothing
    assert projected.above(0.4) is projected  # kept: confidence >= threshold
    kept = projected.above(0.7)
    assert kept.spans == [spans[1], spans[2]]
    assert kept.matches == [matches[1], matches[2]]
    assert kept.confidences == [1.0, 0.7]
    assert kept.origins == [2, 1]
    assert projected.above(1.0).spans == [spans[1]]
    with pytest.raises(ValueError, match="gives no confidences"):
        Projected(spans).above(0.5)
    assert Projected([]).above(0.5).spans == []  # nothing to filter


# --- heuristic: the aligned share of the entity ---------------------------------------------------


def test_heuristic_confidence_counts_distinct_entity_words_linked_into_the_span() -> None:
    # entity "w0 w1 w2" (PER): w0 -> t0 and t1, w2 -> t1, w1 unaligned: run [0, 2) (ratio 2/3)
    found = heuristic([Span(0, 3, PER)], [(0, 0), (0, 1), (2, 1)], 4, length_ratio=0.5)
    assert found.spans == [Span(0, 2, PER)]
    assert found.confidences == [pytest.approx(2 / 3)]  # w0 and w2 of three words
    assert found.origins == [0]
    # every word linked, one of them many times: 1, never more
    full = heuristic([Span(0, 2, PER)], [(0, 0), (0, 1), (0, 2), (1, 1)], 3)
    assert full.spans == [Span(0, 3, PER)] and full.confidences == [1.0]


def test_heuristic_confidence_of_each_kept_run() -> None:
    # entity [0, 2): w0 -> t0, w1 -> t4; the runs [0, 1) and [4, 5) are too far to merge and
    # each is 1/2 of the entity long (> 0.4): both kept, each with one of the two words
    found = heuristic([Span(0, 2, LOC)], [(0, 0), (1, 4)], 6, length_ratio=0.4)
    assert found.spans == [Span(0, 1, LOC), Span(4, 5, LOC)]
    assert found.confidences == [0.5, 0.5]
    largest = heuristic([Span(0, 2, LOC)], [(0, 0), (1, 4)], 6, length_ratio=0.4, keep="largest")
    assert largest.spans == [Span(0, 1, LOC)] and largest.confidences == [0.5]


def test_heuristic_confidence_of_overwritten_pieces() -> None:
    # LOC [0, 2): w0 -> t0, w0 -> t1, w1 -> t2: run [0, 3). PER [2, 3): w2 -> t1 takes t1.
    # LOC keeps [0, 1) (w0 linked: 1/2) and [2, 3) (w1 linked: 1/2); PER [1, 2): 1/1.
    links = [(0, 0), (0, 1), (1, 2), (2, 1)]
    found = heuristic([Span(0, 2, LOC), Span(2, 3, PER)], links, 4)
    assert found.spans == [Span(0, 1, LOC), Span(1, 2, PER), Span(2, 3, LOC)]
    assert found.confidences == [0.5, 1.0, 0.5]
    assert found.origins == [0, 1, 0]
    first = heuristic([Span(0, 2, LOC), Span(2, 3, PER)], links, 4, collisions="first")
    assert first.spans == [Span(0, 3, LOC)] and first.confidences == [1.0]


def test_a_piece_of_gap_words_alone_has_confidence_zero() -> None:
    # ORG [0, 1): w0 -> t0, t3 (merged over the gap t1 t2); PER w1 -> t0, LOC w2 -> t3 take
    # the linked words: ORG keeps [1, 3), two gap words no link of ORG reaches
    links = [(0, 0), (0, 3), (1, 0), (2, 3)]
    spans = [Span(0, 1, ORG), Span(1, 2, PER), Span(2, 3, LOC)]
    found = heuristic(spans, links, 4, merge_distance=2)
    assert found.spans == [Span(0, 1, PER), Span(1, 3, ORG), Span(3, 4, LOC)]
    assert found.confidences == [1.0, 0.0, 1.0]
    assert found.origins == [1, 0, 2]
    assert found.above(0.1).spans == [Span(0, 1, PER), Span(3, 4, LOC)]


def test_heuristic_confidences_do_not_depend_on_the_batch() -> None:
    items = [
        ([Span(0, 3, PER)], [(0, 0), (0, 1), (2, 1)], 4),
        ([Span(1, 2, LOC), Span(0, 1, PER)], [(1, 2), (0, 0), (0, 1)], 3),
        ([], [], 2),
        ([Span(0, 2, LOC), Span(2, 3, PER)], [(0, 0), (0, 1), (1, 2), (2, 1)], 4),
    ]
    options = {"length_ratio": 0.5}
    together = project_results(items, "heuristic", options)
    alone = [project_results([item], "heuristic", options)[0] for item in items]
    assert [(p.spans, p.confidences, p.origins) for p in together] == [
        (p.spans, p.confidences, p.origins) for p in alone
    ]
    # unsorted source spans: origins number them in source order (PER [0, 1) is entity 0)
    assert together[1].spans == [Span(0, 2, PER), Span(2, 3, LOC)]
    assert together[1].origins == [0, 1]
    assert together[1].confidences == [1.0, 1.0]


# --- segments, results, explain, JSONL ------------------------------------------------------------


def test_segments_join_confidences_and_shift_origins() -> None:
    first = Record(0, 0, ["a", "b"], spans=[Span(0, 1, PER), Span(1, 2, LOC)])
    first = Record(
        0, 0, ["a", "b"], translated=["A", "B"], spans=first.spans,
        projected=Projected([Span(1, 2, LOC)], None, [0.5], [1]),
    )  # fmt: skip
    second = Record(
        0, 2, ["c"], translated=["C"], spans=[Span(0, 1, ORG)],
        projected=Projected([Span(0, 1, ORG)], None, [1.0], [0]),
    )  # fmt: skip
    joined = join_segments([first, second])
    assert joined.spans == [Span(1, 2, LOC), Span(2, 3, ORG)]
    assert joined.confidences == [0.5, 1.0]
    assert joined.origins == [1, 2]  # the second segment's entity 0 is the sentence's third
    bare = Record(0, 2, ["c"], translated=["C"], spans=[Span(0, 1, ORG)],
                  projected=Projected([Span(0, 1, ORG)]))  # fmt: skip
    assert join_segments([first, bare]).confidences is None


def test_explain_links_each_span_to_its_entity_and_the_links_used() -> None:
    # English "Ada Love went" (PER [0, 2)) -> original "x Adax y Lovex": links 0-1, 1-3, 2-2
    alignment = np.array([[0, 1], [1, 3], [2, 2], [0, 1]])
    spans = [Span(1, 4, PER)]
    records = projected_records(
        spans, ["x", "Adax", "y", "Lovex"], [1.0], [0], [Span(0, 2, PER)], alignment
    )
    assert records == [
        {
            "start": 1, "end": 4, "label": PER, "text": "Adax y Lovex", "confidence": 1.0,
            "entity": 0, "entity_span": [0, 2], "links": [[0, 1], [1, 3]],
        }
    ]  # fmt: skip
    # by hand: heuristic: distinct source words among the links / entity length = 2 / 2; an
    # n-gram match would score 2 * 2 links / (2 + 3) = 0.8
    assert len({i for i, _ in records[0]["links"]}) / 2 == records[0]["confidence"]
    plain = projected_records(spans, ["x", "Adax", "y", "Lovex"], None, None, [], alignment)
    assert plain == [{"start": 1, "end": 4, "label": PER, "text": "Adax y Lovex"}]
    vote = projected_records(spans, ["x", "Adax", "y", "Lovex"], [0.5], [None], [], None)
    assert vote[0]["entity"] is None and vote[0]["links"] is None


def _result(confidences: list[float] | None) -> TranslateTestResult:
    spans = [Span(0, 1, PER), Span(2, 4, LOC)]
    return TranslateTestResult(
        0, 1, "in.txt", ["Ada", "ya", "New", "York"], tags_from_spans(spans, 4), spans,
        confidences=confidences, origins=None if confidences is None else [0, 1],
    )  # fmt: skip


def test_jsonl_lists_the_spans_with_their_confidence_and_conll_is_unchanged() -> None:
    line = json.loads(write_labelled(_result([1.0, 2 / 3]), "jsonl").text)
    assert line == {
        "tokens": ["Ada", "ya", "New", "York"],
        "tags": ["B-PER", "O", "B-LOC", "I-LOC"],
        "spans": [
            {"start": 0, "end": 1, "label": PER, "confidence": 1.0},
            {"start": 2, "end": 4, "label": LOC, "confidence": 0.666667},
        ],
    }
    # readers ignore the new key: the file reads back as the same sentence
    back = next(read_sentences(io.StringIO(json.dumps(line) + "\n"), "jsonl"))
    assert back.tokens == line["tokens"] and back.tags == line["tags"]
    assert (
        write_labelled(_result([1.0, 0.5]), "conll").text
        == write_labelled(_result(None), "conll").text
    )
    # no confidences (model transfer, a plugin method): no "spans" key, as before
    assert "spans" not in json.loads(write_labelled(_result(None), "jsonl").text)


# --- configs and pipelines ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_min_confidence_must_be_a_number_in_0_1(bad: object) -> None:
    with pytest.raises(ConfigError, match="min_confidence must be a number in"):
        TranslateTestConfig("hau", min_confidence=bad)
    with pytest.raises(ConfigError, match="min_confidence must be a number in"):
        TranslateTrainConfig("eng", "hau", min_confidence=bad)


def test_min_confidence_enters_the_fingerprint_only_when_set() -> None:
    assert "min_confidence" not in TranslateTestConfig("hau").canonical()
    assert "min_confidence" not in TranslateTrainConfig("eng", "hau", min_confidence=0).canonical()
    assert TranslateTestConfig("hau", min_confidence=1).canonical()["min_confidence"] == 1.0
    assert TranslateTrainConfig("eng", "hau", min_confidence=0.5).min_confidence == 0.5


class HalfAligner(Aligner):
    """Word i to word i, except the source words named in ``unlinked`` (no link)."""

    def __init__(self, unlinked: Sequence[str]) -> None:
        super().__init__()
        self.unlinked = set(unlinked)

    def align(self, pairs, method=None):
        out = []
        for source, target in pairs:
            links = [(i, i) for i in range(min(len(source), len(target)))]
            links = [(i, j) for i, j in links if source[i] not in self.unlinked]
            out.append(AlignmentResult(np.array(links, dtype=np.int64).reshape(-1, 2), "fake"))
        return out


def _train_engines() -> Engines:
    return Engines(translator=Translator(), tagger=Tagger(), aligner=HalfAligner(["Lovelace"]))


GOLD = [
    Sentence(["Ada", "Lovelace", "came", "to", "Kano"], ["B-PER", "I-PER", "O", "O", "B-LOC"], 1),
    Sentence(["Kano", "is", "big"], ["B-LOC", "O", "O"], 7),
]


def test_translate_train_counts_a_span_dropped_below_min_confidence_as_lost() -> None:
    # "Ada Lovelace" -> "Adax Lovelacex": only "Ada" is linked: the run [0, 1) is half the
    # entity (kept with length_ratio 0.4), confidence 1/2; "Kano" is linked: 1/1
    options = {"length_ratio": 0.4}
    kept = list(translate_train(_train_engines(), GOLD, "eng", "hau", options=options))
    assert kept[0].spans == [Span(0, 1, PER), Span(4, 5, LOC)]
    assert kept[0].confidences == [0.5, 1.0] and kept[0].origins == [0, 1]
    assert kept[0].lost == 0
    dropped = list(
        translate_train(_train_engines(), GOLD, "eng", "hau", options=options, min_confidence=0.6)
    )
    assert dropped[0].spans == [Span(4, 5, LOC)] and dropped[0].confidences == [1.0]
    assert dropped[0].tags == ["O", "O", "O", "O", "B-LOC"]
    assert dropped[0].lost == 1 and not dropped[0].complete
    assert dropped[1].spans == kept[1].spans and dropped[1].lost == 0
    same = list(translate_train(_train_engines(), GOLD, "eng", "hau", options=options))
    assert [r.spans for r in same] == [r.spans for r in kept]  # min_confidence 0: unchanged


def test_translate_test_min_confidence_and_a_method_without_confidences() -> None:
    engines = Engines(translator=Translator(), tagger=Tagger(), aligner=Aligner())
    results = list(translate_test(engines, ["Ada ya isa Kano"], "hau", min_confidence=1.0))
    assert results[0].spans == [Span(0, 1, PER), Span(3, 4, PER)]  # identity links: 1.0 each
    assert results[0].confidences == [1.0, 1.0]
    assert model_transfer(engines, ["Ada ya"]).__next__().confidences is None

    from xner.runtime.projection import register_method, unregister_method
    from xner.runtime.projection.heuristic import HeuristicOptions

    @register_method("no-confidence", HeuristicOptions)
    def bare(batch, options):
        return [Projected([]) for _ in range(batch.size)]

    try:
        fine = list(translate_test(engines, ["Ada ya"], "hau", method="no-confidence"))
        assert fine[0].spans == [] and fine[0].confidences == []

        @register_method("spans-only", HeuristicOptions)
        def spans_only(batch, options):
            return [Projected([Span(0, 1, PER)]) for _ in range(batch.size)]

        plain = list(translate_test(engines, ["Ada ya"], "hau", method="spans-only"))
        assert plain[0].spans == [Span(0, 1, PER)] and plain[0].confidences is None
        with pytest.raises(ConfigError, match="'spans-only' gives no confidences"):
            list(translate_test(engines, ["Ada ya"], "hau", method="spans-only",
                                min_confidence=0.5))  # fmt: skip
    finally:
        unregister_method("no-confidence")
        unregister_method("spans-only")


# --- the tiny bundle, end to end, torch blocked ---------------------------------------------------


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_confidences_end_to_end_on_the_tiny_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("Buhari ya isa Abuja .\nAmina ta tafi Kano ranar Litinin .\n")
    (tmp_path / "in.conll").write_text(
        "John B-PER\nSmith I-PER\nvisited O\nLagos B-LOC\n. O\n\n"
        "The O\nUnited B-ORG\nNations I-ORG\nmet O\nin O\nGeneva B-LOC\n. O\n"
    )
    b = ["--bundle", str(tiny_bundle), "--skip-verify", "--device", "cpu", "--intra-threads", "1"]
    out = {}
    for name, extra in {
        "heuristic": ["--merge-distance", "2", "--length-ratio", "0.3"],
        "ngram": ["--method", "ngram", "--max-len", "4"],
    }.items():
        done = run_cli_torch_free(
            ["translate-test", *b, "--lang", "hau", str(tmp_path / "in.txt"),
             "-o", str(tmp_path / f"{name}.jsonl"), "--explain", str(tmp_path / f"{name}.x.jsonl"),
             *extra]
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        out[name] = _jsonl(tmp_path / f"{name}.jsonl")
        explain = _jsonl(tmp_path / f"{name}.x.jsonl")
        for line, record in zip(out[name], explain, strict=True):
            spans = [Span(s["start"], s["end"], s["label"]) for s in line["spans"]]
            assert tags_from_spans(spans, len(line["tokens"])) == line["tags"]
            assert all(0 <= s["confidence"] <= 1 for s in line["spans"])
            english = sorted(
                Span(e["start"], e["end"], e["label"]) for e in record["english_entities"]
            )
            for s, entity in zip(line["spans"], record["entities"], strict=True):
                assert entity["confidence"] == s["confidence"]
                e = english[entity["entity"]]
                assert entity["entity_span"] == [e.start, e.end] and entity["label"] == e.label
                linked = {i for i, _ in entity["links"]}
                assert all(e.start <= i < e.end for i in linked)
                assert all(s["start"] <= j < s["end"] for _, j in entity["links"])
                if name == "heuristic":  # recomputed by hand from the listed links
                    assert s["confidence"] == round(len(linked) / (e.end - e.start), 6)
                else:
                    by_hand = min(1, 2 * len(entity["links"]) / (len(e) + s["end"] - s["start"]))
                    assert s["confidence"] == round(by_hand, 6)
    assert any(line["spans"] for line in out["heuristic"])  # the check above checked something
    # --min-confidence: every span kept reaches it, the others are gone from tags and spans
    weakest = min(s["confidence"] for line in out["heuristic"] for s in line["spans"])
    threshold = min(1.0, weakest + 1e-9)
    done = run_cli_torch_free(
        ["translate-test", *b, "--lang", "hau", str(tmp_path / "in.txt"),
         "-o", str(tmp_path / "min.jsonl"), "--merge-distance", "2", "--length-ratio", "0.3",
         "--min-confidence", str(threshold)]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for line, full in zip(_jsonl(tmp_path / "min.jsonl"), out["heuristic"], strict=True):
        assert line["spans"] == [s for s in full["spans"] if s["confidence"] >= threshold]
    bad = run_cli_torch_free(
        ["translate-test", *b, "--lang", "hau", str(tmp_path / "in.txt"),
         "-o", str(tmp_path / "bad.jsonl"), "--min-confidence", "1.5"]
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("xner: error: min_confidence must be")
    assert len(bad.stderr.strip().splitlines()) == 1
    # translate-train: a dropped span is a lost entity; --drop-incomplete leaves the sentence out
    train = ["translate-train", *b, "--src-lang", "eng", "--tgt-lang", "hau", "--on-error", "skip"]
    done = run_cli_torch_free(
        [*train, str(tmp_path / "in.conll"), "-o", str(tmp_path / "tr.jsonl"),
         "--explain", str(tmp_path / "tr.x.jsonl")]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    full, explain = _jsonl(tmp_path / "tr.jsonl"), _jsonl(tmp_path / "tr.x.jsonl")
    assert all(0 <= s["confidence"] <= 1 for line in full for s in line["spans"])
    done = run_cli_torch_free(
        [*train, str(tmp_path / "in.conll"), "-o", str(tmp_path / "tr1.jsonl"),
         "--min-confidence", "1", "--drop-incomplete", "--explain", str(tmp_path / "tr1.x.jsonl")]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    strict = _jsonl(tmp_path / "tr1.x.jsonl")
    assert len(strict) == len(explain) == 2
    for before, after in zip(explain, strict, strict=True):
        kept = [e for e in before["entities"] if e["confidence"] >= 1]
        assert after["entities"] == kept  # the weaker spans are gone
        assert after["lost"] >= before["lost"]
        if kept == before["entities"]:
            assert after["lost"] == before["lost"]
        written = after["status"] == "ok"
        assert written == (after["lost"] == 0), after["status"]  # --drop-incomplete
    assert len(_jsonl(tmp_path / "tr1.jsonl")) == sum(r["lost"] == 0 for r in strict)


def test_xner_project_writes_confidences_by_hand(tmp_path: Path) -> None:
    # 1: source "Ada Love went to Kano" (PER [0, 2), LOC [4, 5)), target "x Ada y Love z Kano";
    # 2: no entity; 3: "Ada Love" (PER) onto "Ada", only "Ada" linked
    (tmp_path / "src.conll").write_text(
        "Ada B-PER\nLove I-PER\nwent O\nto O\nKano B-LOC\n\nno O\n\nAda B-PER\nLove I-PER\n"
    )
    (tmp_path / "tgt.txt").write_text("x Ada y Love z Kano\nno\nAda\n")
    # 1: Ada -> Ada and Love (two links), Love -> Love, Kano -> Kano
    (tmp_path / "a.talp").write_text("0-1 0-3 1-3 4-5\n0-0\n0-0\n")
    args = ["project", "--source", str(tmp_path / "src.conll"), "--target",
            str(tmp_path / "tgt.txt"), "--alignments", str(tmp_path / "a.talp")]  # fmt: skip

    def spans(out: str, *extra: str) -> list[list[dict]]:
        done = run_cli_torch_free([*args, "-o", str(tmp_path / out), *extra])
        assert done.returncode == 0, done.stderr
        return [line["spans"] for line in _jsonl(tmp_path / out)]

    # heuristic: PER run [1, 4) (gap "y" merged), both entity words linked: 2/2; LOC 1/1;
    # sentence 3: the run [0, 1) is half the entity: not kept (ratio 0.8)
    heuristic = spans("h.jsonl")
    assert heuristic == [
        [
            {"start": 1, "end": 4, "label": PER, "confidence": 1.0},
            {"start": 5, "end": 6, "label": LOC, "confidence": 1.0},
        ],
        [],  # no entity: nothing to list, the key is still there
        [],
    ]
    # without merging: PER runs [1, 2) (Ada alone linked: 1/2) and [3, 4) (Ada, Love: 2/2);
    # sentence 3 keeps [0, 1) with one of two words: 1/2
    loose = spans("w.jsonl", "--merge-distance", "0", "--length-ratio", "0.4")
    assert loose[0][:2] == [
        {"start": 1, "end": 2, "label": PER, "confidence": 0.5},
        {"start": 3, "end": 4, "label": PER, "confidence": 1.0},
    ]
    assert loose[2] == [{"start": 0, "end": 1, "label": PER, "confidence": 0.5}]
    # ngram, one-word candidates: PER -> "Love" (2 links: 2 * 2 / (2 + 1) = 1.33, capped at 1)
    # rather than "Ada" (1 link: 2 / 3); LOC -> "Kano": 2 * 1 / (1 + 1) = 1; sentence 3:
    # "Ada" for the two-word entity: 2 * 1 / (2 + 1) = 0.666667
    ngram = spans("n.jsonl", "--method", "ngram", "--max-len", "1")
    assert ngram == [
        [
            {"start": 3, "end": 4, "label": PER, "confidence": 1.0},
            {"start": 5, "end": 6, "label": LOC, "confidence": 1.0},
        ],
        [],
        [{"start": 0, "end": 1, "label": PER, "confidence": 0.666667}],
    ]
