"""Marker-based projection for translate-train (``--method markers``, issue 13 item 4).

Hand-made cases with a fake translator (markers kept, reordered, lost, duplicated, fuzzy
matches computed by hand, a source that holds brackets itself), the summary line, the refusals
outside translate-train, and one end-to-end run on the tiny bundle, torch-free (random weights:
the markers are mostly lost, the report line must agree with the explain records).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest
from fake_engines import Aligner, Scripted
from torchfree import run_cli_torch_free

from xner.runtime.data import Sentence, Span
from xner.runtime.errors import ConfigError
from xner.runtime.jobs.summary import RunSummary
from xner.runtime.pipelines import (
    Engines,
    MarkersOptions,
    TranslateTestConfig,
    TranslateTrainConfig,
    translate_train,
)
from xner.runtime.pipelines.markers import assign_labels, mark_words, read_markers
from xner.runtime.projection import method_info, project_results
from xner.runtime.tags import tags_from_spans

GOLDEN_INPUTS = Path(__file__).parent / "golden" / "inputs"


def ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


# --- marking and reading ----------------------------------------------------------------------


def test_mark_words_wraps_each_entity() -> None:
    words = ["John", "Smith", "met", "Amina", "Bello", "Kano", "."]
    spans = [Span(0, 2, "PER"), Span(3, 5, "PER"), Span(5, 6, "LOC")]
    assert mark_words(words, spans) == [
        "[", "John", "Smith", "]", "met", "[", "Amina", "Bello", "]", "[", "Kano", "]", ".",
    ]  # fmt: skip
    assert mark_words(["Kano"], [Span(0, 1, "LOC")]) == ["[", "Kano", "]"]
    assert mark_words(["a", "b"], []) == ["a", "b"]


def test_read_markers_gives_words_and_word_spans() -> None:
    read = read_markers("[ Lagos ] ya ziyarci [John Smith].")
    assert read.well_formed
    assert read.words == ["Lagos", "ya", "ziyarci", "John", "Smith", "."]
    assert read.spans == [(0, 1), (3, 5)]
    assert read.text == "Lagos ya ziyarci John Smith ."


def test_read_markers_look_alikes_and_doubled_markers_count_as_one() -> None:
    read = read_markers("【Kano】 da [[ Abuja ]] da 《Lagos》")
    assert read.well_formed and read.spans == [(0, 1), (2, 3), (4, 5)]
    assert read.words == ["Kano", "da", "Abuja", "da", "Lagos"]


@pytest.mark.parametrize(
    "text",
    [
        "[ Kano da Abuja",  # a marker lost: never closed
        "Kano ] da [ Abuja ]",  # closed before opened
        "[ Kano [ da ] Abuja ]",  # nested
        "[ ] Kano",  # empty
        "[ . ] Kano",  # punctuation only is still a word: well formed
    ],
)
def test_read_markers_well_formed(text: str) -> None:
    expected = text == "[ . ] Kano"
    assert read_markers(text).well_formed is expected
    assert "[" not in " ".join(read_markers(text).words)


def test_read_markers_no_space_script_removes_markers() -> None:
    read = read_markers("[北京]是首都", no_space=True)
    assert read.text == "北京是首都" and read.spans == [(0, 1)] and read.words[0] == "北京"


# --- labels ------------------------------------------------------------------------------------


def test_one_entity_or_one_label_takes_labels_in_order() -> None:
    one = [Span(0, 1, "PER")]
    assert assign_labels(["anything"], one, ["Obama"], [None]) == [(0, 1.0)]
    same = [Span(0, 1, "LOC"), Span(2, 3, "LOC")]
    assert assign_labels(["x", "y"], same, ["Kano", "Abuja"], [None, None]) == [
        (0, 1.0),
        (1, 1.0),
    ]
    assert assign_labels(["x"], same, ["Kano", "Abuja"], [None, None]) is None  # one lost
    assert assign_labels(["x", "y", "z"], same, ["Kano", "Abuja"], [None, None]) is None


def test_reordered_markers_follow_their_texts() -> None:
    entities = [Span(0, 1, "LOC"), Span(3, 4, "PER")]
    sources, translations = ["Germany", "Merkel"], ["Jamus", "Merkel"]
    # the translator put the person first: exact matches (ratio 1) against either text
    found = assign_labels(["merkel", "Jamus"], entities, sources, translations)
    assert found == [(1, 1.0), (0, 1.0)]


def test_fuzzy_matches_scores_by_hand() -> None:
    entities = [Span(0, 1, "LOC"), Span(3, 4, "PER")]
    sources, translations = ["Germany", "Merkel"], ["Jamus", "Merkel"]
    found = assign_labels(["Merkel ta", "Jamusa"], entities, sources, translations)
    # "merkel ta" vs "merkel": 6 matching characters of 9 + 6 -> 12 / 15
    # "jamusa" vs "jamus": 5 of 6 + 5 -> 10 / 11
    assert found == [(1, pytest.approx(12 / 15)), (0, pytest.approx(10 / 11))]
    assert ratio("merkel ta", "merkel") == pytest.approx(12 / 15)


def test_fuzzy_threshold_is_strict_and_a_last_piece_takes_the_last_entity() -> None:
    entities = [Span(0, 1, "PER"), Span(1, 2, "LOC"), Span(2, 3, "ORG")]
    sources = ["aaaa", "bbbb", "cccc"]
    none = [None, None, None]
    # "aazz" vs "aaaa" and "bbzz" vs "bbbb": 2 matching of 4 + 4 -> exactly 0.5, not above
    assert ratio("aazz", "aaaa") == 0.5
    assert assign_labels(["aazz", "bbzz", "cccc"], entities, sources, none) is None
    # "aaaz" vs "aaaa": 3 of 8 -> 0.75 matches; the one piece left takes the one entity left
    found = assign_labels(["aaaz", "bbzz", "cccc"], entities, sources, none)
    assert found == [(0, 0.75), (1, 0.5), (2, 1.0)]


def test_a_piece_that_matches_nothing_cannot_be_read() -> None:
    entities = [Span(0, 1, "PER"), Span(1, 2, "LOC"), Span(2, 3, "ORG")]
    found = assign_labels(["qqqq", "rrrr", "cccc"], entities, ["aaaa", "bbbb", "cccc"], [None] * 3)
    assert found is None


# --- the pipeline with fake engines -------------------------------------------------------------


def labelled(text: str, tags: str, line: int) -> Sentence:
    return Sentence(text.split(), tags.split(), line, "train.conll")


SENTENCES = [
    labelled("John Smith visited Lagos .", "B-PER I-PER O B-LOC O", 1),
    labelled("Amina works for Dangote Group", "B-PER O O B-ORG I-ORG", 3),
    labelled("Kano is big", "B-LOC O O", 5),
    labelled("Merkel visited Germany", "B-PER O B-LOC", 7),
    labelled("Nothing happened", "O O", 9),
    labelled("[ Abuja ] again", "O B-LOC O O", 11),
]
TABLE = {
    # reordered, both kept
    "[ John Smith ] visited [ Lagos ] .": "[ Lagos ] ya ziyarci [ John Smith ] .",
    # a marker lost: falls back
    "[ Amina ] works for [ Dangote Group ]": "Amina tana aiki a [ Dangote Group ]",
    # duplicated: falls back
    "[ Kano ] is big": "[ Kano ] babba ce [ Kano ]",
    # fuzzy, reordered
    "[ Merkel ] visited [ Germany ]": "[ Jamusa ] ta karbi [ Merkel ta ]",
    "Germany": "Jamus",
}


def run(chunk_size: int = 256, fallback: str = "heuristic"):
    translator = Scripted(TABLE)
    engines = Engines(translator=translator, aligner=Aligner())
    config = TranslateTrainConfig(
        "eng",
        "hau",
        method="markers",
        options={"fallback": fallback},
        chunk_size=chunk_size,
    )
    return list(translate_train(engines, SENTENCES, config)), translator


def test_markers_end_to_end_with_a_fake_translator() -> None:
    results, translator = run()
    kept, lost, doubled, fuzzy, plain, bracketed = results
    # one batched call for the sentences, one for the entity texts of the multi-label ones
    assert len(translator.calls) == 2
    assert translator.calls[0][0][-2:] == ["Nothing happened", "[ Abuja ] again"]  # not marked
    assert translator.calls[1][0] == ["Germany", "John Smith", "Lagos", "Merkel"]

    assert kept.markers_kept is True
    assert kept.tokens == ["Lagos", "ya", "ziyarci", "John", "Smith", "."]
    assert kept.spans == [Span(0, 1, "LOC"), Span(3, 5, "PER")] and kept.lost == 0
    assert kept.confidences == [1.0, 1.0] and kept.origins == [1, 0]
    assert kept.translation == "Lagos ya ziyarci John Smith ."

    # fallback (heuristic through the diagonal links) onto the translation without markers
    assert lost.markers_kept is False
    assert lost.tokens == ["Amina", "tana", "aiki", "a", "Dangote", "Group"]
    assert lost.spans == [Span(0, 1, "PER"), Span(3, 5, "ORG")]
    assert doubled.markers_kept is False and doubled.tokens == ["Kano", "babba", "ce", "Kano"]
    assert doubled.spans == [Span(0, 1, "LOC")]

    assert fuzzy.markers_kept is True
    assert fuzzy.spans == [Span(0, 1, "LOC"), Span(3, 5, "PER")]
    assert fuzzy.confidences == [pytest.approx(10 / 11), pytest.approx(12 / 15)]
    assert fuzzy.tags == tags_from_spans(fuzzy.spans, 5)

    assert plain.markers_kept is None and plain.spans == []
    assert bracketed.markers_kept is False  # brackets of its own: not marked, aligned
    assert bracketed.tokens == ["[", "Abuja", "]", "again"]
    assert bracketed.spans == [Span(1, 2, "LOC")]
    explained = kept.explain()
    assert explained["markers_kept"] is True and "markers_kept" not in plain.explain()


def test_chunks_do_not_change_the_labels() -> None:
    whole, _ = run(chunk_size=256, fallback="ngram")
    one_by_one, _ = run(chunk_size=1, fallback="ngram")
    assert [(r.tokens, r.spans, r.markers_kept) for r in whole] == [
        (r.tokens, r.spans, r.markers_kept) for r in one_by_one
    ]


def test_min_confidence_drops_weak_marker_spans_and_counts_them_lost() -> None:
    translator = Scripted(TABLE)
    engines = Engines(translator=translator, aligner=Aligner())
    config = TranslateTrainConfig("eng", "hau", method="markers", min_confidence=0.85)
    fuzzy = list(translate_train(engines, [SENTENCES[3]], config))[0]
    assert fuzzy.spans == [Span(0, 1, "LOC")] and fuzzy.lost == 1  # 12/15 < 0.85 <= 10/11


# --- refusals, options, summary ----------------------------------------------------------------


def test_markers_runs_in_translate_train_only() -> None:
    assert method_info("markers").translates
    with pytest.raises(ConfigError, match="translate-train only"):
        TranslateTestConfig("hau", method="markers")
    with pytest.raises(ConfigError, match="only translate-train runs it"):
        project_results([([Span(0, 1, "PER")], [(0, 0)], 1)], "markers")


def test_fallback_must_be_a_projection_method() -> None:
    assert MarkersOptions().fallback == "ngram"
    assert MarkersOptions("ngram-exact").fallback == "ngram-exact"
    for wrong in ("markers", "nope"):
        with pytest.raises(ConfigError, match=f"fallback projection method '{wrong}'") as caught:
            MarkersOptions(wrong)
        choices = str(caught.value).split("choose from ")[1]
        assert "heuristic" in choices and "markers" not in choices
    config = TranslateTrainConfig("eng", "hau", method="markers")
    assert {"translator", "aligner"} <= set(config.needs)


class Result:
    def __init__(self, kept: bool | None) -> None:
        self.markers_kept = kept


def test_summary_counts_markers_and_survives_resume() -> None:
    summary = RunSummary("translate-train", "out.conll")
    for kept in (True, False, None, True):
        summary.count_markers(Result(kept))
    summary.count_markers(object())  # a result that knows nothing of markers
    assert (summary.marked, summary.markers_kept) == (3, 2)
    assert "  markers kept: 2 of 3 sentences\n" in summary.report()
    again = RunSummary("translate-train", "out.conll")
    again.restore(json.loads(json.dumps(summary.state(None))))
    assert (again.marked, again.markers_kept) == (3, 2)
    assert "markers kept" not in RunSummary("translate-train", "out.conll").report()


# --- end to end on the tiny bundle ---------------------------------------------------------------


@pytest.mark.slow
def test_translate_train_markers_on_the_tiny_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    out, explain = tmp_path / "out.jsonl", tmp_path / "explain.jsonl"
    args = ["translate-train", "--bundle", str(tiny_bundle), "--skip-verify", "--device", "cpu"]
    args += ["--src-lang", "eng", "--tgt-lang", "hau", str(GOLDEN_INPUTS / "en.conll")]
    args += ["-o", str(out), "--explain", str(explain), "--method", "markers"]
    done = run_cli_torch_free([*args, "--intra-threads", "1", "--on-error", "copy-O"])
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in explain.read_text(encoding="utf-8").splitlines()]
    counted = [r for r in records if r["status"] in ("ok", "dropped-incomplete")]
    marked = [r["markers_kept"] for r in counted if "markers_kept" in r]
    with_entities = [r for r in counted if r["source_entities"]]
    assert len(marked) == len(with_entities) > 0
    line = f"markers kept: {sum(marked)} of {len(marked)} sentences"
    assert line in done.stderr, done.stderr
    for record in records:  # markers never reach the output words
        assert not any(ch in "[]" for word in record["tokens"] for ch in word)
    for line_text in out.read_text(encoding="utf-8").splitlines():
        sentence = json.loads(line_text)
        assert len(sentence["tags"]) == len(sentence["tokens"])
    refused = run_cli_torch_free(
        ["translate-test", "--bundle", str(tiny_bundle), "--skip-verify", "--lang", "hau"]
        + [str(GOLDEN_INPUTS / "hau.txt"), "-o", str(tmp_path / "tt.conll"), "--method", "markers"]
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("xner: error: ") and "translate-train only" in refused.stderr
