"""The pipeline configs: checked and normalised once, their canonical part of the resume
fingerprint, what they check against the bundle, and the entry points taking them."""

from __future__ import annotations

import dataclasses

import pytest

from xner.runtime.errors import ConfigError
from xner.runtime.pipelines import (
    Engines,
    ModelTransferConfig,
    TranslateTestConfig,
    TranslateTrainConfig,
    model_transfer,
    translate_test,
    translate_train,
)
from xner.runtime.projection import HeuristicOptions, NgramOptions
from xner.runtime.projection.registry import register_method, unregister_method


class Tagger:
    entity_types = ("DATE", "LOC", "PER")

    def tag(self, sentences):  # never called: checks do not run the tagger
        raise AssertionError("a check ran the tagger")


@pytest.fixture
def engines() -> Engines:
    return Engines(tagger=Tagger())


def test_settings_are_normalised_once() -> None:
    config = TranslateTestConfig("hau", "ngram", {"max_len": 4}, drop="MISC, DATE,")
    assert config.lang == "hau_Latn"
    assert config.method == "ngram" and config.options == NgramOptions(max_len=4)
    assert config.drop == frozenset({"MISC", "DATE"})
    assert dataclasses.replace(config, drop=["PER"]).drop == frozenset({"PER"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lang = "yor"
    train = TranslateTrainConfig("English", "yor", drop=("DATE",), drop_incomplete=1)
    assert (train.src_lang, train.tgt_lang, train.drop_incomplete) == ("eng_Latn", "yor_Latn", True)
    assert ModelTransferConfig().lang is None and ModelTransferConfig("swa").lang == "swh_Latn"


def test_a_variant_becomes_its_method_with_the_options_fixed() -> None:
    config = TranslateTestConfig("hau", "ngram-exact", {"max_len": 3})
    assert config.method == "ngram"
    assert config.options == NgramOptions(max_len=3, exact=True)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"chunk_size": 0}, "chunk_size must be an integer >= 1, got 0"),
        ({"chunk_size": True}, "chunk_size must be an integer >= 1, got True"),
        ({"beam_size": 0}, "beam_size must be an integer >= 1, got 0"),
        ({"align_method": "itermix"}, r"unknown alignment method 'itermix'.*itermax"),
        ({"method": "ngarm"}, r"unknown projection method 'ngarm'.*heuristic, markers, ngram"),
        ({"method": "ngram", "options": {"max_lenn": 2}}, r"option of projection method"),
        ({"options": NgramOptions()}, "must be HeuristicOptions"),
    ],
)
def test_bad_settings_are_one_config_error(settings, message) -> None:
    with pytest.raises(ConfigError, match=message):
        TranslateTestConfig("hau", **settings)


def test_an_unknown_language_is_refused_for_every_pipeline() -> None:
    for make in (
        lambda: TranslateTestConfig("zzzz"),
        lambda: TranslateTrainConfig("eng", "zzzz"),
        lambda: ModelTransferConfig("zzzz"),
    ):
        with pytest.raises(ConfigError, match="unknown language 'zzzz'"):
            make()


def test_canonical_holds_what_changes_labels_and_nothing_else() -> None:
    config = TranslateTestConfig("hau", drop="PER")
    assert config.canonical() == {
        "lang": "hau_Latn",
        "method": "heuristic",
        "options": dataclasses.asdict(HeuristicOptions()),
        "drop": ["PER"],
    }
    faster = dataclasses.replace(config, chunk_size=8, beam_size=4, align_method="argmax")
    assert faster.canonical() == config.canonical()  # those go in the engines' part, resolved
    train = TranslateTrainConfig("eng", "hau", "ngram", drop="DATE,LOC", drop_incomplete=True)
    assert list(train.canonical()) == [
        "src_lang",
        "tgt_lang",
        "method",
        "options",
        "drop",
        "drop_incomplete",
    ]
    assert train.canonical()["drop"] == ["DATE", "LOC"]
    assert ModelTransferConfig(drop="MISC").canonical() == {"lang": None, "drop": ["MISC"]}


def test_check_compares_drop_with_the_taggers_types(engines) -> None:
    TranslateTestConfig("hau", drop="PER").check(engines)
    with pytest.raises(ConfigError, match=r"unknown entity type to drop 'MISC'.*DATE, LOC, PER"):
        TranslateTestConfig("hau", drop="MISC").check(engines)
    with pytest.raises(ConfigError, match="entity type to drop 'ORG'"):
        ModelTransferConfig(drop="ORG").check(engines)
    TranslateTrainConfig("eng", "hau", drop="ANYTHING").check(engines)  # not the tagger's


def test_check_refuses_an_unknown_compute_type() -> None:
    engines = Engines(tagger=Tagger(), compute_type="int3")
    with pytest.raises(ConfigError, match="unknown compute type 'int3'"):
        TranslateTestConfig("hau").check(engines)


def test_needs_adds_the_engines_a_method_asks_for() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoOptions:
        pass

    register_method("needs-tagger", NoOptions, needs=("tagger",))(lambda batch, o, e: [])
    try:
        assert TranslateTrainConfig("eng", "hau").needs == ("translator", "aligner")
        train = TranslateTrainConfig("eng", "hau", "needs-tagger")
        assert train.needs == ("translator", "aligner", "tagger")
        assert train.engines == ("translator", "aligner")  # the fingerprint's, as before
        assert TranslateTestConfig("hau", "needs-tagger").needs == TranslateTestConfig.engines
    finally:
        unregister_method("needs-tagger")


def test_entry_points_take_a_config_or_settings_not_both(engines) -> None:
    config = TranslateTestConfig("hau")
    with pytest.raises(ConfigError, match="either a TranslateTestConfig or settings"):
        translate_test(engines, [], config, method="ngram")
    with pytest.raises(ConfigError, match="either a TranslateTrainConfig or settings"):
        translate_train(engines, [], TranslateTrainConfig("eng", "hau"), "yor")
    assert list(model_transfer(engines, [], ModelTransferConfig(drop="PER"))) == []
    with pytest.raises(ConfigError, match="chunk_size must be"):
        model_transfer(engines, [], chunk_size=0)
