"""``xner experiment --vary pivots|sources``: subsets, their statistics, the per-voter cache,
the report files, and runs on the tiny bundle (figures meaningless, mechanics real)."""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
import random
import sys
from pathlib import Path

import pytest
from fake_engines import fake_engines
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.data import Sentence, Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.evaluate import EvaluationResult, Scores, evaluate
from xner.runtime.experiment.config import ExperimentConfig
from xner.runtime.experiment.vary import (
    DEFAULT_PIVOTS,
    VaryConfig,
    VoteCache,
    choose_subsets,
    pivot_votes,
    run_vary,
    score_subsets,
)
from xner.runtime.experiment.vary_report import (
    AVERAGE,
    STATS_COLUMNS,
    SUBSET_COLUMNS,
    VARY_FILES,
    SubsetScore,
    VaryResult,
    VoterCost,
    spread,
    write_vary_chart,
    write_vary_tables,
)
from xner.runtime.files.formats import read_sentences
from xner.runtime.pipelines import TranslateTestConfig, translate_test
from xner.runtime.pipelines.sources import project_sources
from xner.runtime.projection.combine import CombineOptions, combine_spans
from xner.runtime.tags import tags_from_spans

OPTIONS = EngineOptions(device="cpu", intra_threads=1)
PNG = b"\x89PNG\r\n\x1a\n"


# --- subsets --------------------------------------------------------------------------------------


def test_every_subset_when_there_are_few() -> None:
    assert choose_subsets(["a", "b", "c"], 10, seed=0) == [
        ("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c"),
    ]  # fmt: skip
    assert choose_subsets(["a", "b"], None) == [("a",), ("b",), ("a", "b")]


def test_a_seeded_sample_of_each_size_beyond_the_limit() -> None:
    voters = ["p0", "p1", "p2", "p3", "p4", "p5"]
    chosen = choose_subsets(voters, 4, seed=7)
    by_size = {k: [s for s in chosen if len(s) == k] for k in range(1, 7)}
    # Sizes with at most 4 subsets keep them all; the others draw 4 of them, by hand:
    assert by_size[6] == [tuple(voters)]
    for k in (1, 2, 3, 4, 5):
        every = list(itertools.combinations(voters, k))
        ranks = sorted(random.Random(f"7:{k}").sample(range(len(every)), 4))
        assert by_size[k] == [every[r] for r in ranks]
        assert len(set(by_size[k])) == 4
    assert choose_subsets(voters, 4, seed=7) == chosen  # the seed decides
    assert choose_subsets(voters, 4, seed=8) != chosen


def test_sample_of_many_voters_needs_no_list_of_every_subset() -> None:
    voters = [f"v{i}" for i in range(40)]  # C(40, 20) ~ 1.4e11 subsets of size 20
    chosen = choose_subsets(voters, 3, seed=1)
    assert len(chosen) == 3 * 39 + 1  # sizes 1..39 sampled, size 40 alone
    for subset in chosen:
        assert list(subset) == sorted(subset, key=voters.index) and len(set(subset)) == len(subset)


# --- statistics -----------------------------------------------------------------------------------


def test_spread_is_mean_sample_sd_min_max() -> None:
    mean, sd, low, high = spread([0.2, 0.4, 0.9])
    assert mean == pytest.approx(0.5)
    # sample sd by hand: deviations -0.3, -0.1, 0.4; squares 0.09 + 0.01 + 0.16 = 0.26; / (3 - 1)
    assert sd == pytest.approx(math.sqrt(0.26 / 2))
    assert (low, high) == (0.2, 0.9)
    assert spread([0.3]) == (0.3, None, 0.3, 0.3)  # one subset: no sample sd


def _evaluation(correct: int, gold: int = 10, predicted: int = 10) -> EvaluationResult:
    overall = Scores.from_counts(gold, predicted, correct)
    return EvaluationResult(overall, {"PER": overall}, predicted / gold, 5)


def _result() -> VaryResult:
    """Two languages, two voters: F1 = correct / 10 (gold = predicted = 10)."""
    correct = {
        ("x", ("a",)): 2, ("x", ("b",)): 4, ("x", ("a", "b")): 5,
        ("y", ("a",)): 6, ("y", ("b",)): 2, ("y", ("a", "b")): 9,
    }  # fmt: skip
    scores = tuple(
        SubsetScore(lang, voters, _evaluation(n)) for (lang, voters), n in correct.items()
    )
    costs = (
        VoterCost("x", {"a": 1.0, "b": 2.0}, 0.5, {"a": 0, "b": 1}),
        VoterCost("y", {"a": 3.0, "b": 4.0}, 0.25, {"a": 0, "b": 0}),
    )
    settings = {"split": "test", "method": "ngram", "limit": 5, "combine": {"rule": "vote"}}
    return VaryResult("pivots", ("x", "y"), ("a", "b"), scores, costs, settings)


def test_stats_per_language_and_the_averaged_row() -> None:
    rows = {(r.lang, r.size): r for r in _result().stats()}
    assert [key for key in rows] == [
        ("x", 1), ("x", 2), ("y", 1), ("y", 2), (AVERAGE, 1), (AVERAGE, 2),
    ]  # fmt: skip
    x1 = rows["x", 1]
    assert x1.subsets == 2 and (x1.mean, x1.min, x1.max) == pytest.approx((0.3, 0.2, 0.4))
    assert x1.sd == pytest.approx(math.sqrt(((0.2 - 0.3) ** 2 + (0.4 - 0.3) ** 2) / 1))
    assert rows["x", 2].sd is None and rows["x", 2].mean == pytest.approx(0.5)
    # AVERAGE: per subset the mean over languages (a: 0.4, b: 0.3), then their spread; not the
    # mean of the languages' spreads.
    avg = rows[AVERAGE, 1]
    assert (avg.mean, avg.min, avg.max) == pytest.approx((0.35, 0.3, 0.4))
    assert avg.sd == pytest.approx(math.sqrt(((0.4 - 0.35) ** 2 + (0.3 - 0.35) ** 2) / 1))
    assert avg.sd != pytest.approx((x1.sd + rows["y", 1].sd) / 2)
    assert rows[AVERAGE, 2].mean == pytest.approx(0.7)


def test_cost_figures() -> None:
    cost = _result().cost()
    assert cost["prepare"] == pytest.approx(10.0) and cost["combine"] == pytest.approx(0.75)
    assert cost["experiment"] == pytest.approx(10.75)
    # Without the cache each subset prepares its voters again: x 1 + 2 + 3, y 3 + 4 + 7.
    assert cost["without_cache"] == pytest.approx(20.0)
    assert (cost["subsets"], cost["voters"]) == (3, 2)


def test_tables_and_chart(tmp_path: Path) -> None:
    result = _result()
    files = {key: tmp_path / name for key, name in VARY_FILES.items()}
    write_vary_tables(result, files, complete=True)
    with files["csv"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == STATS_COLUMNS and len(rows) == 6
    assert rows[1]["sd_f1"] == ""  # one subset: no sample sd
    assert float(rows[0]["mean_f1"]) == pytest.approx(0.3)
    with files["subsets"].open(encoding="utf-8", newline="") as handle:
        subsets = list(csv.DictReader(handle))
    assert tuple(subsets[0]) == SUBSET_COLUMNS and subsets[2]["voters"] == "a+b"
    data = json.loads(files["json"].read_text(encoding="utf-8"))
    assert data["complete"] and data["vary"] == "pivots" and len(data["subsets"]) == 6
    assert [SubsetScore.from_dict(s) for s in data["subsets"]] == list(result.scores)
    assert [VoterCost.from_dict(c) for c in data["cost"]["languages"]] == list(result.costs)
    markdown = files["markdown"].read_text(encoding="utf-8")
    assert "| AVERAGE | 1 | 2 | 35.0 | 7.1 | 30.0 | 40.0 |" in markdown
    assert "| x | 2 | 1 | 50.0 | - | 50.0 | 50.0 |" in markdown
    assert "would have taken about 20.0 s" in markdown
    pytest.importorskip("matplotlib", reason="the chart needs matplotlib (the plot extra)")
    assert write_vary_chart(result, files["chart"])
    assert files["chart"].read_bytes()[:8] == PNG
    assert not list(tmp_path.glob(".*.tmp"))


# --- the cache and the combination loop, on fake engines -----------------------------------------


def test_each_sentence_and_pivot_is_prepared_once() -> None:
    """N pivots: N translate-test runs (one translation call each here), not one per subset."""
    engines = fake_engines()
    sentences = [
        Sentence(["Ada", "met", "Bola"], ["B-PER", "O", "B-PER"], 1, "g"),
        Sentence(["hello", "Chidi"], ["O", "B-PER"], 2, "g"),
        Sentence(["Ada", "met", "Bola"], ["B-PER", "O", "B-PER"], 3, "g"),  # a repeat
    ]
    pipeline = TranslateTestConfig("hau_Latn")
    pivots = ("eng_Latn", "fra_Latn", "por_Latn")
    cache = VoteCache()
    votes = {p: pivot_votes(engines, sentences, pipeline, p, cache) for p in pivots}
    assert cache.prepared == 3 * 2  # two distinct sentences per pivot
    assert len(engines.translator.calls) == 3
    subsets = choose_subsets(pivots, None)
    scores = score_subsets("hau", sentences, votes, subsets, CombineOptions())
    assert len(scores) == 7 and len(engines.translator.calls) == 3  # combining translates nothing
    again = {p: pivot_votes(engines, sentences, pipeline, p, cache) for p in pivots}
    assert again == votes and cache.prepared == 6 and len(engines.translator.calls) == 3
    # Each pivot's votes are its own translate-test run's spans.
    for pivot in pivots:
        alone = list(translate_test(engines, sentences, "hau_Latn", pivots=(pivot,)))
        assert [[span for span, _ in v or ()] for v in votes[pivot]] == [r.spans for r in alone]


def test_subsets_are_scored_on_the_combination() -> None:
    """Votes by hand: the combination of each subset, scored against gold."""
    gold = [Sentence(["a", "b", "c", "d"], ["B-PER", "O", "B-LOC", "O"], 1, "g")]
    per, loc, org = Span(0, 1, "PER"), Span(2, 3, "LOC"), Span(3, 4, "ORG")
    votes = {
        "p": [((per, 1.0), (org, 1.0))],
        "q": [((per, 0.9), (loc, 0.8))],
        "r": [None],  # failed: no vote
    }
    subsets = choose_subsets(["p", "q", "r"], None)
    scores = {s.voters: s for s in score_subsets("x", gold, votes, subsets, CombineOptions())}
    for subset, score in scores.items():
        combined = combine_spans({v: votes[v][0] for v in subset}, CombineOptions())
        predicted = tags_from_spans([c.span for c in combined], 4)
        assert score.evaluation == evaluate(gold, [predicted])
    assert scores[("p", "q")].evaluation.overall.predicted == 1  # only PER has a majority
    assert scores[("p", "q", "r")].evaluation == scores[("p", "q")].evaluation
    assert scores[("r",)].evaluation.overall.predicted == 0
    # Weights of voters outside a subset are left out for that subset (no error).
    weighted = CombineOptions("weighted", weights={"q": 3.0})
    by_weight = {s.voters: s for s in score_subsets("x", gold, votes, subsets, weighted)}
    assert by_weight[("p", "q")].evaluation.overall.correct == 2  # q outweighs p: PER and LOC


# --- settings -------------------------------------------------------------------------------------


def _experiment(
    tmp_path: Path, langs: list[str], methods: list[str] | None = None
) -> ExperimentConfig:
    return ExperimentConfig(tmp_path, langs, methods or ["ngram"])


def test_config_checks(tmp_path: Path) -> None:
    config = VaryConfig(_experiment(tmp_path, ["hau"]), voters="en, fra,eng_Latn")
    assert config.voters == ("eng_Latn", "fra_Latn")  # resolved, repeats left out
    assert VaryConfig(_experiment(tmp_path, ["hau"])).voters == DEFAULT_PIVOTS
    weighted = VaryConfig(
        _experiment(tmp_path, ["hau"]), combine=CombineOptions("weighted", weights={"fr": 2.0})
    )
    assert weighted.combine.weights == {"fra_Latn": 2.0}
    with pytest.raises(ConfigError, match="unknown thing to vary 'pivot'"):
        VaryConfig(_experiment(tmp_path, ["hau"]), vary="pivot")
    with pytest.raises(ConfigError, match="one projection method"):
        VaryConfig(_experiment(tmp_path, ["hau"], ["ngram", "heuristic"]))
    with pytest.raises(ConfigError, match="one projection method"):
        VaryConfig(_experiment(tmp_path, ["hau"], ["model-transfer"]))
    with pytest.raises(ConfigError, match="subsets must be an integer >= 1"):
        VaryConfig(_experiment(tmp_path, ["hau"]), subsets=0)
    with pytest.raises(ConfigError, match=r"unknown pivot in weights 'deu_Latn'"):
        VaryConfig(_experiment(tmp_path, ["hau"]), combine=CombineOptions(weights={"de": 2.0}))
    with pytest.raises(ConfigError, match="one target"):
        VaryConfig(_experiment(tmp_path, ["de", "es"]), vary="sources", voters="en")
    with pytest.raises(ConfigError, match="no sources given"):
        VaryConfig(_experiment(tmp_path, ["de"]), vary="sources")
    with pytest.raises(ConfigError, match="one target"):
        VaryConfig(_experiment(tmp_path, ["all"]), vary="sources", voters="en")
    with pytest.raises(ConfigError, match="the target de is also a source"):
        VaryConfig(_experiment(tmp_path, ["de"]), vary="sources", voters="en,de")


# --- runs on the tiny bundle ----------------------------------------------------------------------

LANGS = ["hau", "yor"]
PIVOTS = ("eng_Latn", "fra_Latn", "por_Latn")
LIMIT = 10


@pytest.fixture(scope="module")
def pivots_run(tiny_bundle: Path, shared_data: Path, tmp_path_factory) -> VaryResult:
    out = tmp_path_factory.mktemp("vary")
    experiment = ExperimentConfig(
        shared_data / "masakhaner2", LANGS, ["ngram"], ignore=["DATE"], limit=LIMIT
    )
    config = VaryConfig(experiment, voters=PIVOTS, subsets=10, seed=3)
    return run_vary(tiny_bundle, config, out_dir=out, options=OPTIONS, verify=False)


@pytest.mark.slow
def test_vary_pivots_on_the_tiny_bundle(
    pivots_run: VaryResult, tiny_bundle: Path, shared_data: Path
) -> None:
    result = pivots_run
    assert result.langs == tuple(LANGS) and result.voters == PIVOTS and result.complete
    assert [(s.lang, s.voters) for s in result.scores] == [
        (lang, subset) for lang in LANGS for subset in choose_subsets(PIVOTS, None)
    ]
    assert all(s.evaluation.sentences == LIMIT for s in result.scores)
    assert [c.lang for c in result.costs] == LANGS
    assert all(set(c.prepare_seconds) == set(PIVOTS) for c in result.costs)
    engines = Engines(tiny_bundle, OPTIONS, verify=False)
    gold = list(read_sentences(shared_data / "masakhaner2" / "hau.test.conll", "conll"))[:LIMIT]
    # A single pivot's subset is that pivot's own translate-test run.
    for pivot in PIVOTS:
        alone = translate_test(
            engines,
            gold,
            "hau",
            method="ngram",
            drop={"DATE"} & set(engines.entity_types()),
            pivots=(pivot,),
        )
        expected = evaluate(gold, [r.tags for r in alone], ignore=["DATE"])
        score = next(s for s in result.scores if s.lang == "hau" and s.voters == (pivot,))
        assert score.evaluation == expected
    # All three: the multi-pivot translate-test with the same combination.
    together = translate_test(
        engines, gold, "hau", method="ngram", drop={"DATE"} & set(engines.entity_types()),
        pivots=PIVOTS,
    )  # fmt: skip
    expected = evaluate(gold, [r.tags for r in together], ignore=["DATE"])
    assert next(s for s in result.scores if s.lang == "hau" and s.size == 3).evaluation == expected
    # Files.
    assert set(result.files) == set(VARY_FILES)
    data = json.loads(result.files["json"].read_text(encoding="utf-8"))
    assert data["complete"] and data["settings"]["voters"] == list(PIVOTS)
    assert data["settings"]["codes"]["hau"] == "hau_Latn"
    assert result.files["chart"].read_bytes()[:8] == PNG
    markdown = result.files["markdown"].read_text(encoding="utf-8")
    assert result.markdown() in markdown and "Cost:" in markdown


@pytest.mark.slow
def test_resume_keeps_languages_done_and_refuses_changed_settings(
    pivots_run: VaryResult, tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "vary"
    out.mkdir()
    saved = json.loads(pivots_run.files["json"].read_text(encoding="utf-8"))
    saved["complete"] = False
    saved["subsets"] = [s for s in saved["subsets"] if s["lang"] == "hau"]
    saved["cost"]["languages"] = [c for c in saved["cost"]["languages"] if c["lang"] == "hau"]
    saved["subsets"][0]["evaluation"]["overall"]["correct"] = 0  # marks the kept language
    saved["subsets"][0]["evaluation"]["overall"]["predicted"] = 99
    (out / VARY_FILES["json"]).write_text(json.dumps(saved), encoding="utf-8")
    experiment = ExperimentConfig(
        shared_data / "masakhaner2", LANGS, ["ngram"], ignore=["DATE"], limit=LIMIT
    )
    config = VaryConfig(experiment, voters=PIVOTS, subsets=10, seed=3)
    with pytest.raises(ConfigError, match="already holds vary.json"):
        run_vary(tiny_bundle, config, out_dir=out, options=OPTIONS, verify=False)
    changed = VaryConfig(experiment, voters=PIVOTS, subsets=10, seed=3,
                         combine=CombineOptions("union"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"settings differ.*combine.rule vote -> union"):
        run_vary(tiny_bundle, changed, out_dir=out, options=OPTIONS, verify=False, resume=True)
    resumed = run_vary(tiny_bundle, config, out_dir=out, options=OPTIONS, verify=False, resume=True)
    assert resumed.scores[0].evaluation.overall.predicted == 99  # hau kept, not run again
    assert [s.voters for s in resumed.scores] == [s.voters for s in pivots_run.scores]
    assert [s for s in resumed.scores if s.lang == "yor"] == [
        s for s in pivots_run.scores if s.lang == "yor"
    ]


@pytest.mark.slow
def test_vary_sources_on_europarl(tiny_bundle: Path, shared_data: Path, tmp_path: Path) -> None:
    data = shared_data / "europarl_ner"
    experiment = ExperimentConfig(data, ["de"], ["heuristic"], limit=20)
    config = VaryConfig(experiment, vary="sources", voters="en,es,it")
    result = run_vary(tiny_bundle, config, out_dir=tmp_path, options=OPTIONS, verify=False)
    assert result.langs == ("de",) and result.voters == ("en", "es", "it")
    assert len(result.scores) == 7 and all(s.evaluation.sentences == 20 for s in result.scores)
    # A single source's subset is project_sources from that source, scored on the gold target.
    gold = list(read_sentences(data / "de.test.conll", "conll"))[:20]
    english = list(read_sentences(data / "en.test.conll", "conll"))[:20]
    engines = Engines(tiny_bundle, OPTIONS, verify=False)
    projected = project_sources(
        engines, {"eng_Latn": english}, [s.tokens for s in gold], "deu_Latn", method="heuristic"
    )
    predicted = [
        tags_from_spans([] if p["eng_Latn"] is None else p["eng_Latn"].spans, len(g.tokens))
        for p, g in zip(projected, gold, strict=True)
    ]
    assert result.scores[0].voters == ("en",)
    assert result.scores[0].evaluation == evaluate(gold, predicted)
    rows = {(r.lang, r.size) for r in result.stats()}
    assert rows == {(lang, k) for lang in ("de", AVERAGE) for k in (1, 2, 3)}
    assert "no translation step" in result.files["markdown"].read_text(encoding="utf-8")


@pytest.mark.slow
def test_sources_that_are_not_parallel_are_refused(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    europarl = shared_data / "europarl_ner"
    (data / "de.test.conll").write_bytes((europarl / "de.test.conll").read_bytes())
    text = (europarl / "en.test.conll").read_text(encoding="utf-8")
    (data / "en.test.conll").write_text("\n\n".join(text.split("\n\n")[:3]) + "\n", "utf-8")
    config = VaryConfig(ExperimentConfig(data, ["de"], ["heuristic"], limit=5), "sources", "en")
    with pytest.raises(InputError, match=r"en.test.conll: 3 sentences where the target"):
        run_vary(tiny_bundle, config, out_dir=tmp_path / "out", options=OPTIONS, verify=False)


@pytest.mark.slow
def test_cli_vary_pivots(tiny_bundle: Path, shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "experiment", "--vary", "pivots", "-b", str(tiny_bundle), "--skip-verify",
        "--data", str(shared_data / "masakhaner2"), "--langs", "hau", "--methods", "ngram",
        "--pivots", "eng_Latn,fra_Latn", "--limit", "3", "--subsets", "5", "--seed", "2",
        "-o", str(out), "--device", "cpu",
    ]  # fmt: skip
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    assert "| hau | 2 | 1 |" in run.stdout and "| AVERAGE | 1 | 2 |" in run.stdout
    for name in VARY_FILES.values():
        assert (out / name).is_file()
    data = json.loads((out / VARY_FILES["json"]).read_text(encoding="utf-8"))
    assert data["settings"]["seed"] == 2 and data["settings"]["subsets"] == 5
    # Errors are one line.
    bad = CliRunner().invoke(app, [*args[:-4], "-o", str(tmp_path / "o2"), "--vary", "pivot"])
    assert bad.exit_code == 2 and "unknown thing to vary 'pivot'" in bad.output
    sources = CliRunner().invoke(
        app,
        ["experiment", "--vary", "sources", "-b", str(tiny_bundle), "--skip-verify",
         "--data", str(shared_data / "europarl_ner"), "--target", "de", "--sources", "en,es",
         "--methods", "heuristic", "--limit", "3", "-o", str(tmp_path / "src")],
    )  # fmt: skip
    assert sources.exit_code == 0, sources.output
    assert "| de | 2 | 1 |" in sources.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--langs", "hau", "--pivots", "fra_Latn"], "--pivots: only with --vary"),
        (["--langs", "hau", "--combine", "union", "--seed", "3"], "--seed, --combine: only with"),
        ([], "--langs is required"),
        (["--vary", "sources", "--target", "de"], "--vary sources needs --target (de) and"),
        (["--vary", "pivots", "--langs", "hau", "--target", "de"], "go with --vary sources"),
        (["--vary", "pivots", "--langs", "hau", "--route-by", "dev"], "--vary does not route"),
        (["--vary", "pivots", "--langs", "hau", "--weights", "deu_Latn=2"], "unknown pivot in"),
        (["--vary", "pivots", "--langs", "hau", "--methods", "ngram,heuristic"], "one projection"),
    ],
)
def test_cli_vary_errors_are_one_line(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["experiment", "-b", str(tiny_bundle), "--skip-verify", "-o", str(tmp_path / "o")]
    run = CliRunner().invoke(app, [*args, "--data", str(shared_data / "masakhaner2"), *extra])
    assert run.exit_code == 2 and message in run.output, run.output
    assert run.output.startswith("xner: error:") and run.output.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_chart_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    with caplog.at_level(logging.WARNING, logger="xner"):
        assert not write_vary_chart(_result(), tmp_path / "vary.png")
    assert "matplotlib is not installed" in caplog.text and not list(tmp_path.iterdir())
