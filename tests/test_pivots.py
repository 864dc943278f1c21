"""Translate-test through several pivot languages: settings, the combination per sentence, a pivot
failing for one sentence, the JSONL ``pivots`` keys, ``--explain``, the tagger warning and the
command end to end (torch blocked) on the tiny bundle."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from fake_engines import Aligner, Scripted, Tagger
from fixtures_models import copy_bundle, tiny_bundle, tiny_models  # noqa: F401
from torchfree import run_cli_torch_free

from xner.cli.bundle_commands import describe
from xner.runtime.bundles.bundle import Bundle
from xner.runtime.data import Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.errors import ConfigError, changed_settings
from xner.runtime.jobs import FileJobConfig, run_translate_test
from xner.runtime.pipelines import TranslateTestConfig, TranslateTestResult, translate_test
from xner.runtime.pipelines.compose import combine_pivot_results, warn_untrained_pivots
from xner.runtime.projection.combine import CombineOptions, combine_spans

THREE = ("eng_Latn", "fra_Latn", "por_Latn")


class PivotTranslator(Scripted):
    """Translates by a table per target language (a text it does not know: itself); a text
    holding ``BOOM`` breaks when translated into ``breaks_into``, one holding ``DEAD`` breaks
    into every language. Records each call as (texts, source, target)."""

    def __init__(self, script: Mapping[str, Mapping[str, str]], breaks_into: str = "") -> None:
        super().__init__({})
        self.by_language = script
        self.breaks_into = breaks_into

    def check(self, sentences: Sequence[str], tgt_lang: str) -> None:
        for text in sentences:
            if "DEAD" in text or ("BOOM" in text and tgt_lang == self.breaks_into):
                raise RuntimeError(f"no {tgt_lang} for this one")

    def table(self, tgt_lang: str) -> Mapping[str, str]:
        return self.by_language.get(tgt_lang, {})


# The fake tagger makes every capitalised word a PER entity and the fake aligner links word i to
# word i: so each pivot's translation below decides which words it labels.
SENTENCE = "a bb c dd e"
SCRIPT = {
    "eng_Latn": {SENTENCE: "a Bb c Dd e"},  # words 1 and 3
    "fra_Latn": {SENTENCE: "a Bb c dd e"},  # word 1
    "por_Latn": {SENTENCE: "A bb c Dd e"},  # words 0 and 3
}


def engines(breaks_into: str = "") -> Engines:
    return Engines(
        translator=PivotTranslator(SCRIPT, breaks_into), tagger=Tagger(), aligner=Aligner()
    )


def per(k: int) -> Span:
    return Span(k, k + 1, "PER")


def hand_combined(
    ready: Engines, sentences: list[str], pivots: Sequence[str], options: CombineOptions
) -> list[list[Span]]:
    """Each pivot run alone, then combine_spans over their spans (a failed one: None)."""
    alone = {p: list(translate_test(ready, sentences, "hau", pivots=(p,))) for p in pivots}
    out = []
    for k in range(len(sentences)):
        votes = {
            p: None
            if results[k].error
            else list(zip(results[k].spans, results[k].confidences or [], strict=True))
            for p, results in alone.items()
        }
        out.append([c.span for c in combine_spans(votes, options)])
    return out


# --- settings -------------------------------------------------------------------------------------


def test_one_english_pivot_keeps_the_fingerprint_of_before() -> None:
    config = TranslateTestConfig("hau")
    assert config.pivots == ("eng_Latn",)
    assert set(config.canonical()) == {"lang", "method", "options", "drop"}
    assert TranslateTestConfig("hau", pivots="en").canonical() == config.canonical()


def test_pivots_are_resolved_in_order_without_repeats() -> None:
    config = TranslateTestConfig("hau", pivots="fr, por_Latn, fra_Latn,eng")
    assert config.pivots == ("fra_Latn", "por_Latn", "eng_Latn")
    assert config.canonical()["pivots"] == ["fra_Latn", "por_Latn", "eng_Latn"]
    assert config.canonical()["combine"] == {"rule": "vote", "min_votes": None, "weights": {}}


def test_one_other_pivot_is_in_the_fingerprint_without_a_combination() -> None:
    canonical = TranslateTestConfig("hau", pivots=["fra_Latn"]).canonical()
    assert canonical["pivots"] == ["fra_Latn"] and "combine" not in canonical


def test_resume_refuses_other_pivots_or_another_combination() -> None:
    before = TranslateTestConfig("hau", pivots=THREE).canonical()
    other = TranslateTestConfig("hau", pivots="eng,fra,spa").canonical()
    error = changed_settings("out.conll", before, other)
    assert error is not None
    assert 'pivots ["eng_Latn", "fra_Latn", "por_Latn"] -> ["eng_Latn"' in str(error)
    union = TranslateTestConfig("hau", pivots=THREE, combine="union").canonical()
    error = changed_settings("out.conll", before, union)
    assert error is not None and "combine.rule vote -> union" in str(error)


def test_weights_are_keyed_by_pivot_code() -> None:
    combine = CombineOptions("weighted", None, {"fr": 0.5, "por_Latn": 2})
    config = TranslateTestConfig("hau", pivots=THREE, combine=combine)
    assert config.combine.weights == {"fra_Latn": 0.5, "por_Latn": 2.0}
    assert config.canonical()["combine"]["weights"] == {"fra_Latn": 0.5, "por_Latn": 2.0}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"pivots": ""}, "pivots: give at least one pivot language"),
        ({"pivots": "eng_Latn,hau_Latn"}, "pivots: hau_Latn is the language of the sentences"),
        ({"pivots": "ha"}, "pivots: hau_Latn is the language of the sentences"),
        ({"pivots": "eng,klingon"}, "unknown language"),
        (
            {"pivots": THREE, "combine": CombineOptions(weights={"deu_Latn": 2})},
            "unknown pivot in weights 'deu_Latn'; choose from eng_Latn, fra_Latn, por_Latn",
        ),
        (
            {"pivots": THREE, "combine": CombineOptions(weights={"fr": 2, "fra_Latn": 1})},
            "weights: pivot fra_Latn is given twice",
        ),
        (
            {"pivots": THREE, "combine": CombineOptions(min_votes=4)},
            "min_votes 4 is more than the 3 pivot(s) eng_Latn, fra_Latn, por_Latn",
        ),
        ({"combine": 3}, "combine must be CombineOptions or a rule name, got 3"),
        ({"combine": "majority"}, "unknown combine rule 'majority'"),
        ({"combine": {"rule": "union", "min_votes": 2}}, "min_votes 2 does not apply"),
    ],
)
def test_bad_pivot_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TranslateTestConfig("hau", **settings)  # type: ignore[arg-type]


def test_english_text_through_the_default_pivot_still_works() -> None:
    assert TranslateTestConfig("eng_Latn").pivots == ("eng_Latn",)


# --- the combination, with fake engines -----------------------------------------------------------


def test_three_pivots_vote_per_sentence() -> None:
    ready = engines()
    [result] = translate_test(ready, [SENTENCE], "hau", pivots=THREE)
    assert result.spans == [per(1), per(3)]
    assert result.pivots == (("eng_Latn", "fra_Latn"), ("eng_Latn", "por_Latn"))
    assert result.confidences == [pytest.approx(2 / 3)] * 2
    assert result.tags == ["O", "B-PER", "O", "B-PER", "O"]
    assert set(result.by_pivot or {}) == set(THREE)
    assert result.by_pivot is not None and result.by_pivot["por_Latn"].spans == [per(0), per(3)]


def test_one_batched_translation_per_pivot_per_chunk() -> None:
    ready = engines()
    sentences = [SENTENCE, "f gg", "hh i"]
    list(translate_test(ready, sentences, "hau", pivots=THREE, chunk_size=2))
    calls = ready.translator.calls  # type: ignore[attr-defined]
    assert [(len(texts), target) for texts, _, target in calls] == [
        (2, "eng_Latn"),
        (2, "fra_Latn"),
        (2, "por_Latn"),
        (1, "eng_Latn"),
        (1, "fra_Latn"),
        (1, "por_Latn"),
    ]


@pytest.mark.parametrize(
    "options",
    [
        CombineOptions(),
        CombineOptions("union"),
        CombineOptions(min_votes=1),
        CombineOptions("weighted", weights={"por_Latn": 3}),
    ],
)
def test_several_pivots_equal_the_hand_combination_of_single_runs(
    options: CombineOptions,
) -> None:
    sentences = [SENTENCE, "Kano x", "x y z"]
    combined = list(translate_test(engines(), sentences, "hau", pivots=THREE, combine=options))
    assert [r.spans for r in combined] == hand_combined(engines(), sentences, THREE, options)


def test_union_keeps_spans_of_one_pivot() -> None:
    [result] = translate_test(engines(), [SENTENCE], "hau", pivots=THREE, combine="union")
    assert result.spans == [per(0), per(1), per(3)]
    assert result.pivots == (("por_Latn",), ("eng_Latn", "fra_Latn"), ("eng_Latn", "por_Latn"))


def test_one_pivot_failing_for_a_sentence_does_not_vote() -> None:
    ready = engines(breaks_into="fra_Latn")
    broken = "a bb BOOM dd e"
    script = {"eng_Latn": {broken: "a Bb boom Dd e"}, "por_Latn": {broken: "A bb boom dd e"}}
    ready.translator.by_language = script  # type: ignore[attr-defined]
    results = list(translate_test(ready, [broken, "Kano"], "hau", pivots=THREE))
    first = results[0]
    assert first.error is None
    assert first.by_pivot is not None and first.by_pivot["fra_Latn"].error is not None
    # two pivots answered: a strict majority is 2; they agree on no span (eng 1, 3; por 0)
    assert first.spans == []
    assert results[1].error is None and results[1].spans == [per(0)]  # the chunk went on
    union = list(translate_test(ready, [broken], "hau", pivots=THREE, combine="union"))[0]
    assert union.spans == [per(0), per(1), per(3)]
    assert union.confidences == [pytest.approx(1 / 2)] * 3  # of the two that answered


def test_a_sentence_fails_only_when_every_pivot_fails() -> None:
    ready = engines()
    results = list(translate_test(ready, ["DEAD Kano", "Kano"], "hau", pivots=THREE))
    assert results[0].error is not None and results[0].error.startswith("every pivot failed: ")
    for pivot in THREE:
        assert f"{pivot}: translation failed: no {pivot} for this one" in results[0].error
    assert results[0].tags == ["O", "O"] and results[0].spans == []
    assert results[1].error is None and results[1].spans == [per(0)]


def test_combine_pivot_results_with_a_method_without_confidences() -> None:
    """A pivot whose method gives no confidences votes with confidence 1."""
    one = TranslateTestResult(0, 1, "<input>", ["A", "b"], ["B-PER", "O"], [per(0)])
    combined = combine_pivot_results({"eng_Latn": one, "fra_Latn": one}, CombineOptions())
    assert combined.spans == [per(0)] and combined.confidences == [1.0]
    assert combined.pivots == (("eng_Latn", "fra_Latn"),)


def test_one_pivot_gives_the_single_pivot_result() -> None:
    [alone] = translate_test(engines(), [SENTENCE], "hau")
    assert alone.pivots is None and alone.by_pivot is None
    assert alone.spans == [per(1), per(3)]


# --- files: JSONL pivots keys, --explain ----------------------------------------------------------


def _job(tmp_path: Path, pivots: Sequence[str], name: str) -> tuple[list[dict], list[dict]]:
    source = tmp_path / "in.txt"
    source.write_text(f"{SENTENCE}\nDEAD x\n", encoding="utf-8")
    out, explain = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.explain.jsonl"
    config = TranslateTestConfig("hau", pivots=pivots)
    run_translate_test(engines(), FileJobConfig(source, out, explain), config)
    read = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    reviewed = [json.loads(line) for line in explain.read_text(encoding="utf-8").splitlines()]
    return read, reviewed


def test_jsonl_spans_list_the_pivots_that_agreed(tmp_path: Path) -> None:
    records, explained = _job(tmp_path, THREE, "three")
    assert records[0]["spans"] == [
        {"start": 1, "end": 2, "label": "PER", "confidence": 0.666667, "pivots": list(THREE[:2])},
        {"start": 3, "end": 4, "label": "PER", "confidence": 0.666667, "pivots": list(THREE[::2])},
    ]
    assert records[1]["tags"] == ["O", "O"] and records[1]["spans"] == []
    first = explained[0]
    assert [p["pivot"] for p in first["pivots"]] == list(THREE)
    assert first["pivots"][2]["translation"] == "A bb c Dd e"
    assert first["pivots"][2]["pivot_entities"] == [
        {"start": 0, "end": 1, "label": "PER", "text": "A"},
        {"start": 3, "end": 4, "label": "PER", "text": "Dd"},
    ]
    assert [e["start"] for e in first["pivots"][2]["entities"]] == [0, 3]
    assert first["entities"][0] == {
        "start": 1,
        "end": 2,
        "label": "PER",
        "text": "bb",
        "confidence": 0.666667,
        "pivots": ["eng_Latn", "fra_Latn"],
    }
    assert explained[1]["error"].startswith("every pivot failed: ")


def test_jsonl_of_one_pivot_has_no_pivots_key(tmp_path: Path) -> None:
    records, explained = _job(tmp_path, ("eng_Latn",), "one")
    assert records[0]["spans"] and all("pivots" not in span for span in records[0]["spans"])
    assert "pivots" not in explained[0] and explained[0]["translation"] == "a Bb c Dd e"


# --- the tagger warning ---------------------------------------------------------------------------


def test_warning_names_the_pivots_the_tagger_was_not_trained_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="xner"):
        list(translate_test(engines(), [SENTENCE], "hau", pivots=THREE))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("pivots fra_Latn, por_Latn: the tagger was fine-tuned on ")
    assert "(unknown)" in warnings[0]


def test_the_warning_names_each_pivot_once_per_engines(caplog: pytest.LogCaptureFixture) -> None:
    ready = engines()
    with caplog.at_level(logging.WARNING, logger="xner"):
        for _ in range(3):  # as the experiment: translate-test per language and pivot
            list(translate_test(ready, [SENTENCE], "hau", pivots=THREE))
        list(translate_test(engines(), [SENTENCE], "hau", pivots=THREE))  # other engines
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and warnings[0] == warnings[1]


def test_no_warning_through_english(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="xner"):
        list(translate_test(engines(), [SENTENCE], "hau"))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --- the tiny bundle (slow) -----------------------------------------------------------------------

HAUSA = Path(__file__).parent / "golden" / "inputs" / "hau.txt"


@pytest.mark.slow
def test_tiny_bundle_three_pivots_equal_the_hand_combination(
    tiny_bundle: Path,  # noqa: F811
) -> None:
    ready = Engines(tiny_bundle, device="cpu", verify=False)
    sentences = [line for line in HAUSA.read_text(encoding="utf-8").splitlines() if line]
    for options in (CombineOptions(), CombineOptions("union")):
        combined = list(translate_test(ready, sentences, "hau", pivots=THREE, combine=options))
        assert [r.spans for r in combined] == hand_combined(ready, sentences, THREE, options)
        for result in combined:
            assert result.pivots is not None and len(result.pivots) == len(result.spans)
            for span, voters in zip(result.spans, result.pivots, strict=True):
                assert result.by_pivot is not None
                assert all(span in result.by_pivot[p].spans for p in voters)


@pytest.mark.slow
def test_tiny_bundle_trained_on_is_optional(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    exported = Bundle.load(tiny_bundle, verify=False)  # its recipe says eng_Latn
    assert exported.tagger is not None and exported.tagger.settings.trained_on == ("eng_Latn",)
    assert warn_untrained_pivots(Engines(exported), THREE) == ["fra_Latn", "por_Latn"]
    assert "  trained on eng_Latn" in describe(exported)  # xner bundle info
    copy = copy_bundle(tiny_bundle, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    settings = manifest["components"]["tagger"]["settings"]
    del settings["trained_on"]  # a bundle exported before the field existed
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    old = Bundle.load(copy)
    assert old.tagger is not None and old.tagger.settings.trained_on == ()
    assert warn_untrained_pivots(Engines(old), THREE) == ["fra_Latn", "por_Latn"]
    assert "  trained on unknown languages" in describe(old)
    settings["trained_on"] = ["eng_Latn", "fra_Latn"]
    (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert warn_untrained_pivots(Engines(Bundle.load(copy)), THREE) == ["por_Latn"]


@pytest.mark.slow
def test_cli_several_pivots_torch_free(tiny_bundle: Path, tmp_path: Path) -> None:  # noqa: F811
    source = tmp_path / "hau.txt"
    shutil.copy(HAUSA, source)
    out, explain = tmp_path / "out.jsonl", tmp_path / "out.explain.jsonl"
    common = ["translate-test", "--bundle", str(tiny_bundle), "--device", "cpu", "--lang", "hau"]
    done = run_cli_torch_free(
        [
            *common,
            "--pivots",
            "eng_Latn,fra_Latn,por_Latn",
            "--combine",
            "union",
            "-o",
            str(out),
            "--explain",
            str(explain),
            str(source),
        ]
    )
    assert done.returncode == 0, done.stderr
    assert "pivots fra_Latn, por_Latn: the tagger was fine-tuned on eng_Latn;" in done.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 5
    for record in records:
        for span in record["spans"]:
            assert span["pivots"] and set(span["pivots"]) <= set(THREE)
    reviewed = [json.loads(line) for line in explain.read_text(encoding="utf-8").splitlines()]
    assert all([p["pivot"] for p in r["pivots"]] == list(THREE) for r in reviewed)
    bad = run_cli_torch_free([*common, "--pivots", "eng,fra", "--weights", "fra:2", str(source)])
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "xner: error: --weights: bad entry 'fra:2'; write VOTER=WEIGHT with a number > 0, "
        "e.g. fra_Latn=0.5"
    ]


# --- the recipes record the tagger's training languages -------------------------------------------

MODELS = Path(__file__).resolve().parents[1] / "models"


def test_recipes_record_the_tagger_languages() -> None:
    from xner.export.options import ExportOptions
    from xner.export.recipe import load_recipe

    for name, languages in {"default": ("eng_Latn",), "paper": ("eng_Latn",)}.items():
        recipe = load_recipe(MODELS / f"{name}.toml")
        assert recipe.tagger is not None and recipe.tagger.trained_on == languages
    small = load_recipe(MODELS / "small.toml").tagger
    assert small is not None and {"eng_Latn", "fra_Latn", "por_Latn"} <= set(small.trained_on)
    options = ExportOptions(Path("unused"), tagger=small)
    options.check()  # codes resolved to NLLB codes
    assert options.tagger is not None and "por_Latn" in options.tagger.trained_on


def test_a_recipe_tagger_languages_in_any_code_form(tmp_path: Path) -> None:
    from xner.export.options import ExportOptions
    from xner.export.recipe import load_recipe
    from xner.runtime.errors import InputError

    recipe = tmp_path / "r.toml"
    recipe.write_text('[tagger]\nmodel = "m"\ntrained_on = ["en", "fr", "eng_Latn"]\n')
    options = ExportOptions(tmp_path / "out", tagger=load_recipe(recipe).tagger)
    options.check()
    assert options.tagger is not None and options.tagger.trained_on == ("eng_Latn", "fra_Latn")
    recipe.write_text('[tagger]\nmodel = "m"\ntrained_on = "en"\n')
    with pytest.raises(
        InputError, match=r"\[tagger\] trained_on must be a list of names, not 'en'"
    ):
        load_recipe(recipe)
    untagged = ExportOptions(tmp_path / "out", tagger=load_recipe(MODELS / "default.toml").tagger)
    untagged.tagger.trained_on = ()  # type: ignore[union-attr]
    untagged.check()  # optional: no languages is fine (unknown)
