"""The stages and their compositions on fake engines (no model): what each stage fills in,
failure isolation, long sentences, and the experiment's "expensive stages once" equivalence."""

from __future__ import annotations

import dataclasses

import pytest
from fake_engines import fake_engines

from xner.runtime.data import Sentence, Span
from xner.runtime.pipelines import (
    Engines,
    TranslateTestConfig,
    model_transfer,
    stages,
    translate_test,
    translate_train,
)
from xner.runtime.pipelines.compose import prepare_translate_test, translate_test_results
from xner.runtime.pipelines.records import plan
from xner.runtime.projection.heuristic import HeuristicOptions
from xner.runtime.projection.registry import register_method, unregister_method
from xner.runtime.projection.result import Projected


@pytest.fixture
def engines() -> Engines:
    return fake_engines()


def words(text: str) -> list[str]:
    return text.split()


# --- single stages ------------------------------------------------------------------------------


def test_each_stage_fills_its_part_of_the_records(engines) -> None:
    chunk = [Sentence(words("musa ya tafi Abuja")), Sentence(words("ina kwana"))]
    records = plan(chunk, [[(0, 4)], [(0, 2)]], from_translation=True)
    translated = stages.translate(records, engines, "hau_Latn", "eng_Latn")
    assert [r.translation.text for r in translated] == ["musax yax tafix Abujax", "inax kwanax"]
    assert all(r.translated == [] for r in translated)  # words come from tokenize
    tokenized = stages.tokenize(translated)
    assert tokenized[1].translated == ["inax", "kwanax"] == tokenized[1].source_words
    assert tokenized[1].target_words == ["ina", "kwana"]
    tagged = stages.tag(tokenized, engines, drop=frozenset())
    assert tagged[0].spans == [Span(3, 4, "PER")]
    aligned = stages.align(tagged, engines)
    assert aligned[0].links.tolist() == [[0, 0], [1, 1], [2, 2], [3, 3]]
    projected = stages.project(aligned, "heuristic", HeuristicOptions())
    assert projected[0].projected == Projected([Span(3, 4, "PER")], None, [1.0], [0])
    assert all(r.projected is None for r in aligned)  # each stage returns new records


def test_tag_leaves_out_dropped_labels_and_align_skips_records_without_entities(engines) -> None:
    records = plan([Sentence(["Xavier", "Musa"]), Sentence(["ina"])], [[(0, 2)], [(0, 1)]])
    tagged = stages.tag(records, engines, drop=frozenset({"MISC"}))
    assert [r.spans for r in tagged] == [[Span(1, 2, "PER")], []]
    aligned = stages.align([dataclasses.replace(r, translated=r.words) for r in tagged], engines)
    assert aligned[0].links is not None and aligned[1].links is None


def test_an_empty_translation_is_the_records_error_and_stops_its_sentence(engines) -> None:
    chunk = [Sentence(words("EMPTY one")), Sentence(words("two Three"))]
    records = plan(chunk, [[(0, 1), (1, 2)], [(0, 2)]], from_translation=True)
    records = stages.tokenize(stages.translate(records, engines, "hau_Latn", "eng_Latn"))
    assert [r.error for r in records] == ["the translation is empty", None, None]
    tagged = stages.tag(records, engines, frozenset())
    assert tagged[1].spans == [] and tagged[2].spans == [Span(1, 2, "PER")]  # [1]: not run


def test_a_method_that_needs_engines_gets_the_pipelines_engines(engines) -> None:
    seen: list[object] = []

    @dataclasses.dataclass(frozen=True)
    class ProbeOptions:
        pass

    @register_method("probe-engines", ProbeOptions, needs=("translator",))
    def probe(batch, options, given) -> list[Projected]:
        seen.append(given.translator)
        return [Projected([]) for _ in range(batch.size)]

    try:
        sentences = [words("musa ya tafi Abuja")]
        (result,) = translate_test(engines, sentences, "hau", method="probe-engines")
        assert result.error is None and seen == [engines.translator]
    finally:
        unregister_method("probe-engines")


# --- compositions -------------------------------------------------------------------------------


def test_translate_test_on_fake_engines(engines) -> None:
    sentences = [words("musa ya tafi Abuja"), [], words("BOOM here"), words("ina kwana")]
    results = list(translate_test(engines, sentences, "hau", chunk_size=4))
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert results[0].tags == ["O", "O", "O", "B-PER"]
    assert results[0].english_tokens == words("musax yax tafix Abujax")
    assert results[0].source_entities == 1 and results[0].lost == 0
    assert results[0].input is not None and results[0].input.tokens == sentences[0]
    assert results[1].segments == 0 and results[1].tokens == [] and results[1].error is None
    assert results[2].error == "translation failed: the engine broke"
    assert set(results[2].tags) == {"O"} and results[2].translation is None
    assert results[3].error is None
    # the failing batch was retried sentence by sentence, the others went on
    assert engines.translator.calls[0] == ["musa ya tafi Abuja", "BOOM here", "ina kwana"]


def test_a_long_sentence_goes_through_in_segments(engines) -> None:
    long = [f"w{k}" for k in range(450)]
    long[10] = "Kano"
    (result,) = translate_test(engines, [long], "hau")
    assert result.segments == 3 and len(result.tags) == 450 and result.error is None
    assert result.tags[10] == "B-PER" and result.english_tokens[10] == "Kanox"
    assert [len(texts) for texts in engines.translator.calls] == [3]  # one batched call


def test_model_transfer_tags_the_words_themselves(engines) -> None:
    results = list(model_transfer(engines, [words("ina Musa"), []], drop="MISC"))
    assert [r.tags for r in results] == [["O", "B-PER"], []]
    assert results[0].translation is None and results[0].alignment is None
    assert engines.translator.calls == []


def test_translate_train_projects_gold_entities_onto_the_translation(engines) -> None:
    sentences = [
        Sentence(words("musa went to kano"), ["B-PER", "O", "O", "B-LOC"], 1, "a.conll"),
        Sentence(words("EMPTY day"), ["O", "B-DATE"], 2, "a.conll"),
    ]
    first, second = translate_train(engines, sentences, "eng", "hau", drop="DATE")
    assert first.tokens == words("musax wentx tox kanox") and first.tags == first.input.tags
    assert first.source_entities == 2 and first.lost == 0
    assert second.error == "the translation is empty" and second.lost == 0
    assert second.source_spans == [] and second.output() is None


def test_experiment_shape_projects_every_method_over_the_same_records(engines) -> None:
    """The expensive stages once, then each method: the same results as translate-test run
    with that method, and the engines called once per chunk."""
    chunk = [Sentence(words("musa ya tafi Abuja"), line=1), Sentence(words("ina kwana"), line=2)]
    config = TranslateTestConfig("hau")
    records = prepare_translate_test(engines, chunk, config)
    assert len(engines.translator.calls) == 1 and len(engines.aligner.calls) == 1
    for method in ("heuristic", "ngram", "ngram-exact"):
        chosen = dataclasses.replace(config, method=method, options=None)
        done = stages.project(records, chosen.method, chosen.options, engines)
        alone = list(translate_test(engines, chunk, chosen))
        assert [r.explain() for r in translate_test_results(chunk, done)] == [
            r.explain() for r in alone
        ]
    assert len(engines.translator.calls) == 4  # 1 + one per translate_test run
