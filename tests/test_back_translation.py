"""The back-translation projection method: markers kept, lost, duplicated, read fuzzily and
reordered by a scripted translator; the fallback through the given alignment; engine failures;
options; the tiny bundle end to end with torch blocked."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from fake_engines import Aligner, Scripted, Tagger
from torchfree import run_cli_torch_free

from xner.runtime.data import Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.errors import ConfigError
from xner.runtime.experiment.config import experiment_methods
from xner.runtime.pipelines import translate_test
from xner.runtime.projection import (
    BackTranslationOptions,
    NgramOptions,
    Projected,
    ProjectionItem,
    method_info,
    project_results,
)
from xner.runtime.projection.back_translation import inner_methods
from xner.runtime.projection.marked_text import FUZZY_RATIO

PER, LOC = "PER", "LOC"
ENG, HAU = "eng_Latn", "hau_Latn"
METHOD = "back-translation"

ENGLISH = ["Buhari", "arrived", "in", "Abuja", "."]
HAUSA = ["Buhari", "ya", "isa", "Abuja", "."]
ENTITIES = [Span(0, 1, PER), Span(3, 4, LOC)]
MARKED = "[ Buhari ] arrived in [ Abuja ] ."
# a deliberately crossed given alignment: projected through it, PER lands on Abuja
CROSSED = np.array([[0, 3], [3, 0], [4, 4]])


def engines(script: Mapping[str, str]) -> Engines:
    return Engines(translator=Scripted(script), tagger=Tagger(), aligner=Aligner())


def item(
    entities: Sequence[Span] = ENTITIES,
    links: np.ndarray = CROSSED,
    source: Sequence[str] = ENGLISH,
    target: Sequence[str] = HAUSA,
) -> ProjectionItem:
    return ProjectionItem(list(entities), links, len(target), target, None, source, (ENG, HAU))


def run(items: Sequence[ProjectionItem], ready: Engines, **options: object) -> list[Projected]:
    return project_results(items, METHOD, options or None, ready)


def plain(items: Sequence[ProjectionItem], method: str = "heuristic") -> list[Projected]:
    return project_results(items, method)


# --- markers kept ---------------------------------------------------------------------------------


def test_kept_markers_project_through_the_back_translation_not_the_given_links() -> None:
    ready = engines({MARKED: "[ Buhari ] ya isa [ Abuja ] ."})
    (result,) = run([item()], ready)
    assert result.spans == [Span(0, 1, PER), Span(3, 4, LOC)]
    assert result.confidences == [1.0, 1.0]  # heuristic: every entity word aligned
    assert result.origins == [0, 1]
    assert result.matches is None
    # the given (crossed) alignment alone would have swapped them
    assert plain([item()])[0].spans == [Span(0, 1, LOC), Span(3, 4, PER)]
    # one translator call (the marked sentence and, two labels, each entity alone), English
    # into Hausa; one aligner call: the back-translation's words with the original's
    (texts, src, tgt), *more = ready.translator.calls
    assert not more and (src, tgt) == (ENG, HAU)
    assert texts == [MARKED, "Buhari", "Abuja"]
    assert ready.aligner.calls == [[(HAUSA, HAUSA)]]


def test_one_label_needs_no_separate_entity_translations() -> None:
    entities = [Span(0, 1, PER), Span(3, 4, PER)]
    ready = engines({MARKED: "[ Buhari ] ya isa [ Abuja ] ."})
    (result,) = run([item(entities)], ready)
    assert result.spans == [Span(0, 1, PER), Span(3, 4, PER)]
    assert ready.translator.calls == [([MARKED], ENG, HAU)]


def test_reordered_markers_take_their_entities_by_text() -> None:
    # the back-translation puts Abuja first: the pieces match the entity texts exactly
    ready = engines({MARKED: "A [ Abuja ] ne [ Buhari ] ya isa ."})
    target = ["A", "Abuja", "ne", "Buhari", "ya", "isa", "."]
    (result,) = run([item(target=target, links=np.zeros((0, 2), np.int64))], ready)
    assert result.spans == [Span(1, 2, LOC), Span(3, 4, PER)]
    assert result.origins == [1, 0]  # Abuja is the second English entity, Buhari the first


def test_fuzzy_pieces_take_the_best_matching_entity() -> None:
    english = ["John", "Smith", "visited", "Paris", "."]
    entities = [Span(0, 2, PER), Span(3, 4, LOC)]
    marked = "[ John Smith ] visited [ Paris ] ."
    hausa = ["Parisi", "ne", "Yohana", "Smit", "ya", "ziyarta", "."]
    script = {
        marked: "[ Parisi ] ne [ Yohana Smit ] ya ziyarta .",
        "John Smith": "Yohana Smith",
        "Paris": "Paris",
    }
    # difflib ratios, case-folded: "parisi"/"paris" 2*5/11 = 0.91; "yohana smit"/"yohana smith"
    # 2*11/23 = 0.96; the crossed pairs share little: both below the threshold
    ready = engines(script)
    (result,) = run([item(entities, np.zeros((0, 2), np.int64), english, hausa)], ready)
    assert result.spans == [Span(0, 1, LOC), Span(2, 4, PER)]
    assert result.origins == [1, 0]


def test_ngram_can_project_through_the_back_translation() -> None:
    ready = engines({MARKED: "[ Buhari ] ya isa [ Abuja ] ."})
    options = {"back_translation_with": "ngram"}
    (result,) = run([item()], ready, **options)
    assert result.spans == [Span(0, 1, PER), Span(3, 4, LOC)]
    # n-gram, align only: 2 * links / (entity_len + candidate_len) = 2 * 1 / 2
    assert result.confidences == [1.0, 1.0]
    assert result.origins == [0, 1]


# --- markers lost: the given alignment ------------------------------------------------------------


@pytest.mark.parametrize(
    "back",
    [
        "Buhari ya isa Abuja .",  # markers dropped
        "[ Buhari ] ya isa Abuja .",  # one lost
        "[ Buhari ] ya [ isa ] [ Abuja ] .",  # one piece too many
        "[ Buhari ya isa [ Abuja ] .",  # unbalanced
        "[ ] Buhari ya isa [ Abuja ] .",  # an empty piece
        "[ zzzz ] ya isa [ qqqq ] .",  # pieces that match no entity
    ],
)
def test_lost_markers_fall_back_to_the_given_alignment(back: str) -> None:
    ready = engines({MARKED: back})
    (result,) = run([item()], ready)
    expected = plain([item()])[0]
    assert (result.spans, result.confidences, result.origins) == (
        expected.spans,
        expected.confidences,
        expected.origins,
    )
    assert result.spans == [Span(0, 1, LOC), Span(3, 4, PER)]  # through CROSSED
    assert ready.aligner.calls == []  # nothing to align: no markers were read


@pytest.mark.parametrize(("piece", "read"), [("abce", True), ("abcd", False)])
def test_a_piece_must_match_its_entity_above_the_fuzzy_threshold(piece: str, read: bool) -> None:
    # "Kano" matches exactly; difflib ratio 2 * matches / total: "abce" against "abef" is
    # 2*3/8 = 0.75, read; "abcd" against "abef" 2*2/8 = 0.5, not above the threshold: the markers
    # are not read and the sentence goes through the given links (none here: nothing projected)
    assert FUZZY_RATIO == 0.5
    source = ["abef", "met", "Kano", "."]
    entities = [Span(0, 1, PER), Span(2, 3, LOC)]
    ready = engines({"[ abef ] met [ Kano ] .": f"[ {piece} ] da [ Kano ] ."})
    (result,) = run([item(entities, np.zeros((0, 2), np.int64), source, source)], ready)
    assert result.spans == ([Span(0, 1, PER), Span(2, 3, LOC)] if read else [])


def test_a_duplicated_marker_is_not_read() -> None:
    # the translator marks Amina twice: the second piece matches neither Amina (taken by the
    # first, ratio 1) nor Kano above the threshold ("amina" against "kano": 2*2/9 = 0.44)
    english = ["Amina", "went", "to", "Kano", "."]
    hausa = ["Amina", "ta", "tafi", "Kano", "."]
    entities = [Span(0, 1, PER), Span(3, 4, LOC)]
    ready = engines({"[ Amina ] went to [ Kano ] .": "[ Amina ] ta tafi [ Amina ] ."})
    (result,) = run([item(entities, CROSSED, english, hausa)], ready)
    expected = plain([item(entities, CROSSED, english, hausa)])[0]
    assert result.spans == expected.spans == [Span(0, 1, LOC), Span(3, 4, PER)]
    assert ready.aligner.calls == []


def test_overlapping_entities_and_brackets_are_not_marked() -> None:
    nested = [Span(0, 2, PER), Span(1, 2, LOC)]
    bracketed = ["Buhari", "[", "Abuja", "]"]
    ready = engines({})
    results = run([item(nested), item(source=bracketed)], ready)
    assert ready.translator.calls == []  # neither sentence can be marked
    expected = plain([item(nested), item(source=bracketed)])
    assert [r.spans for r in results] == [e.spans for e in expected]


def test_a_sentence_projects_the_same_alone_or_in_a_batch() -> None:
    script = {MARKED: "[ Buhari ] ya isa [ Abuja ] .", "[ Abuja ] arrived": "Abuja ya isa"}
    kept = item()
    lost = item([Span(0, 1, LOC)], np.array([[0, 0]]), ["Abuja", "arrived"], ["Abuja", "isa"])
    empty = item([], np.zeros((0, 2), np.int64))
    together = run([kept, lost, empty], engines(script))
    alone = [run([one], engines(script))[0] for one in (kept, lost, empty)]
    assert [r.spans for r in together] == [r.spans for r in alone]
    assert [r.confidences for r in together] == [r.confidences for r in alone]
    assert [r.spans for r in together] == [ENTITIES, [Span(0, 1, LOC)], []]


# --- errors ---------------------------------------------------------------------------------------


def test_an_engine_failure_is_a_value_error_naming_the_stage() -> None:
    ready = engines({})
    with pytest.raises(ValueError, match="back-translation: translation failed: the engine broke"):
        run([item(source=["BOOM", "x"], entities=[Span(0, 1, PER)])], ready)


def test_a_sentence_without_languages_or_words_is_refused() -> None:
    no_languages = ProjectionItem(ENTITIES, CROSSED, 5, HAUSA, None, ENGLISH, None)
    with pytest.raises(ConfigError, match="sentence 0 of the batch lacks its source_tokens"):
        run([no_languages], engines({}))
    with pytest.raises(ConfigError, match="needs engines \\(translator, aligner\\)"):
        project_results([item()], METHOD)


def test_options_name_a_method_that_projects_given_pairs() -> None:
    assert BackTranslationOptions().back_translation_with == "heuristic"
    for wrong in ("ensemble", "markers", METHOD, "nope"):
        with pytest.raises(ConfigError, match="heuristic"):
            BackTranslationOptions(wrong)
    assert {"heuristic", "ngram", "ngram-exact"} <= set(inner_methods())
    assert not {"ensemble", "markers", METHOD} & set(inner_methods())
    options = BackTranslationOptions("ngram", {"scores": ("align=0.5", "ner=0.5")})
    assert isinstance(options.inner_options, NgramOptions)
    info = method_info(METHOD)
    assert info.needed(BackTranslationOptions()) == ("translator", "aligner")
    assert info.needed(options) == ("translator", "aligner", "tagger")


def test_it_is_an_experiment_method_and_a_command_line_choice() -> None:
    from xner.cli.method_options import projection_flags

    assert METHOD in experiment_methods()
    flags = {flag.flag: flag for flag in projection_flags()}
    assert flags["--back-translation-with"].default == "heuristic"


# --- the pipeline ---------------------------------------------------------------------------------


def test_translate_test_translates_the_tagged_english_back_into_the_sentence_language() -> None:
    script = {
        "Buhari ya isa Abuja .": "Buhari arrived in Abuja .",
        "[ Buhari ] arrived in [ Abuja ] .": "[ Buhari ] ya isa [ Abuja ] .",
    }
    ready = engines(script)
    (result,) = translate_test(ready, ["Buhari ya isa Abuja ."], "hau", method=METHOD)
    assert result.error is None
    assert result.spans == [Span(0, 1, PER), Span(3, 4, PER)]  # the fake tagger: capitals
    assert result.confidences == [1.0, 1.0]
    assert ready.translator.calls[-1] == (["[ Buhari ] arrived in [ Abuja ] ."], ENG, HAU)


def test_translate_test_isolates_a_sentence_that_breaks_the_back_translation() -> None:
    script = {
        "Buhari ya isa Abuja .": "Buhari arrived in Abuja .",
        "Musa ya tafi .": "Musa BOOM went .",
        "[ Buhari ] arrived in [ Abuja ] .": "[ Buhari ] ya isa [ Abuja ] .",
    }
    results = list(
        translate_test(
            engines(script), ["Buhari ya isa Abuja .", "Musa ya tafi ."], "hau", method=METHOD
        )
    )
    assert results[0].error is None and results[0].spans == [Span(0, 1, PER), Span(3, 4, PER)]
    assert results[1].error is not None and "translation failed" in results[1].error


# --- the tiny bundle, end to end, torch blocked ---------------------------------------------------


@pytest.mark.slow
def test_translate_test_end_to_end_on_the_tiny_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("Buhari ya isa Abuja .\nAmina ta tafi Kano .\n")
    done = run_cli_torch_free(
        [
            "translate-test", "--bundle", str(tiny_bundle), "--lang", "hau",
            str(tmp_path / "in.txt"), "-o", str(tmp_path / "tt.jsonl"),
            "--method", METHOD, "--back-translation-with", "ngram", "--intra-threads", "1",
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in (tmp_path / "tt.jsonl").read_text().splitlines()]
    assert [line["tokens"] for line in lines] == [
        ["Buhari", "ya", "isa", "Abuja", "."],
        ["Amina", "ta", "tafi", "Kano", "."],
    ]
    for line in lines:
        assert all(0.0 <= span["confidence"] <= 1.0 for span in line["spans"])
    (tmp_path / "in.conll").write_text("Buhari B-PER\nya O\nisa O\nAbuja B-LOC\n. O\n")
    train = run_cli_torch_free(
        [
            "translate-train", "--bundle", str(tiny_bundle), "--src-lang", "hau",
            "--tgt-lang", "yor", str(tmp_path / "in.conll"), "-o", str(tmp_path / "tr.conll"),
            "--method", METHOD, "--intra-threads", "1",
        ]
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert (tmp_path / "tr.conll").read_text().count("\n\n") == 1
    wrong = run_cli_torch_free(
        [
            "translate-test", "--bundle", str(tiny_bundle), "--lang", "hau",
            str(tmp_path / "in.txt"), "-o", str(tmp_path / "bad.jsonl"),
            "--method", METHOD, "--back-translation-with", "ensemble",
        ]
    )  # fmt: skip
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("xner: error:") and "heuristic" in wrong.stderr
