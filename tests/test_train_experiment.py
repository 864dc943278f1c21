"""``xner experiment --train --vary sources``: taggers trained on 1..N sources' projected data.

The bookkeeping (which subsets, seeds and settings are trained, with what data, each source
translated once, the statistics, results written after each run, resume) with a fake training
function and a fake translate-train; then one end-to-end run on the tiny bundle and the tiny
tagger (mechanics: a few steps, a few real sentences of ../shared/data).
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch (train extra) trains the taggers")
pytest.importorskip("transformers", reason="transformers (train extra) builds the models")

from typer.testing import CliRunner  # noqa: E402

from xner.cli.main import app  # noqa: E402
from xner.runtime.data import Sentence  # noqa: E402
from xner.runtime.errors import ConfigError  # noqa: E402
from xner.runtime.evaluate import EvaluationResult, Scores  # noqa: E402
from xner.runtime.experiment.vary import choose_subsets  # noqa: E402
from xner.train.experiment import (  # noqa: E402
    TRAIN_VARY_FILES,
    TrainVaryConfig,
    parse_train_sources,
    run_train_vary,
)
from xner.train.options import TrainOptions  # noqa: E402

OPTIONS = {"verify": False}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread, as tests/test_train.py: tiny matrices gain nothing from two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- fakes ----------------------------------------------------------------------------------------

SENTENCES = {
    "en": [("Obama visited Paris .", "B-PER O B-LOC O"), ("Hello there", "O O")],
    "de": [("Merkel besuchte Berlin .", "B-PER O B-LOC O"), ("Guten Tag", "O O")],
    "es": [("Sánchez visitó Madrid .", "B-PER O B-LOC O"), ("Buenos días", "O O")],
    "fr": [("Macron a visité Lyon .", "B-PER O O B-LOC O"), ("Bonjour", "O")],
}
LANGS = {"en": "eng_Latn", "de": "deu_Latn", "es": "spa_Latn", "fr": "fra_Latn"}


def _conll(path: Path, pairs: list[tuple[str, str]]) -> Path:
    blocks = [
        "\n".join(f"{w}\t{t}" for w, t in zip(words.split(), tags.split(), strict=True))
        for words, tags in pairs
    ]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for code, pairs in SENTENCES.items():
        _conll(data / f"{code}.conll", pairs)
    _conll(data / "hau.test.conll", [("Buhari ya isa Abuja .", "B-PER O O B-LOC O")] * 3)
    return data


@dataclass
class _Result:
    """What the experiment reads of a translate-train result."""

    tokens: list[str]
    tags: list[str]
    error: str | None = None

    def output(self) -> Sentence:
        return Sentence(self.tokens, self.tags)


class FakeTranslate:
    """translate-train that copies the words with a prefix; counts its calls per language."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, engines, sentences, config):
        self.calls[config.src_lang] += 1
        return [_Result([f"x{w}" for w in s.tokens], list(s.tags)) for s in sentences]


def _evaluation(correct: int) -> EvaluationResult:
    return EvaluationResult(Scores.from_counts(10, 10, correct), {}, 1.0, 3)


class Stopped(Exception):
    """Stands for an experiment killed between two runs."""


class FakeFit:
    """Records each run's options; F1 = (2 * sources + seed) / 10, 1 point more adversarial.
    ``stop_after``: raise after that many runs (an interrupted experiment)."""

    def __init__(self, out: Path, stop_after: int | None = None) -> None:
        self.out = out
        self.options: list[TrainOptions] = []
        self.saved_runs: list[int] = []
        self.stop_after = stop_after

    def __call__(self, options: TrainOptions, test: Path) -> tuple[int, EvaluationResult]:
        if self.stop_after is not None and len(self.options) == self.stop_after:
            raise Stopped(len(self.options))
        saved = self.out / TRAIN_VARY_FILES["json"]
        if saved.is_file():
            self.saved_runs.append(len(json.loads(saved.read_text())["runs"]))
        self.options.append(options)
        assert test.is_file()
        options.out.mkdir(parents=True)  # as train() would
        correct = 2 * len(options.data) + options.seed + (1 if options.adversarial else 0)
        return options.max_steps, _evaluation(correct)


def _config(folder: Path, codes: str = "en,de,es", **changes) -> TrainVaryConfig:
    sources = ",".join(f"{c}={c}.conll" for c in codes.split(","))
    settings = {
        "max_steps": 5,
        "seeds": (1, 2),
        "subsets": None,
        "adversarial": "both",
        **changes,
    }
    return TrainVaryConfig(
        "some-model",
        parse_train_sources(sources, folder),
        "hau",
        folder / "hau.test.conll",
        **settings,
    )


# --- bookkeeping ----------------------------------------------------------------------------------


@pytest.mark.slow  # the tiny bundle (only its manifest is used here)
def test_every_subset_seed_and_setting_is_trained_once_on_its_sources(
    tiny_bundle: Path, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    translate, fit = FakeTranslate(), FakeFit(out)
    config = _config(folder)
    result = run_train_vary(
        tiny_bundle, config, out_dir=out, fit=fit, translate=translate, **OPTIONS
    )

    subsets = choose_subsets(("en", "de", "es"), None)
    planned = [(sub, seed, adv) for sub in subsets for seed in (1, 2) for adv in (False, True)]
    trained = [
        (tuple(spec.path.name.split(".")[0] for spec in o.data), o.seed, o.adversarial)
        for o in fit.options
    ]
    assert trained == planned and len(trained) == 7 * 2 * 2
    # each source translated once, however many runs use it
    assert translate.calls == Counter({"eng_Latn": 1, "deu_Latn": 1, "spa_Latn": 1})
    for options in fit.options:
        assert [spec.lang for spec in options.data] == [
            LANGS[spec.path.name.split(".")[0]] for spec in options.data
        ]
        assert {spec.weight for spec in options.data} == {1.0}  # sampled equally
        assert options.dev is None and options.patience == 0 and options.max_steps == 5
        if options.adversarial:
            (unlabelled,) = options.unlabelled
            assert unlabelled.lang == "hau_Latn"
            assert (
                unlabelled.path.read_text(encoding="utf-8").splitlines()
                == ["Buhari ya isa Abuja ."] * 3
            )
        else:
            assert options.unlabelled == ()
        assert not options.out.exists()  # the run folder is removed (no --keep-runs)
    projected = (out / "projected" / "en.hau_Latn.conll").read_text(encoding="utf-8")
    assert projected.split("\n\n")[0].splitlines() == [
        "xObama\tB-PER", "xvisited\tO", "xParis\tB-LOC", "x.\tO",
    ]  # fmt: skip
    # the results are on disk after every run, before the next one starts
    assert fit.saved_runs == list(range(1, len(planned)))
    assert json.loads((out / TRAIN_VARY_FILES["json"]).read_text())["complete"] is True
    assert len(result.runs) == len(planned)


@pytest.mark.slow
def test_the_statistics_are_over_subsets_and_seeds(
    tiny_bundle: Path, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fit = FakeFit(out)
    result = run_train_vary(
        tiny_bundle, _config(folder), out_dir=out, fit=fit, translate=FakeTranslate(), **OPTIONS
    )
    rows = {(row.lang, row.size): row for row in result.stats()}
    assert sorted(rows) == [(s, k) for s in ("adversarial", "plain") for k in (1, 2, 3)]
    for (setting, size), row in rows.items():
        bonus = 1 if setting == "adversarial" else 0
        subsets = {1: 3, 2: 3, 3: 1}[size]
        values = [(2 * size + seed + bonus) / 10 for _ in range(subsets) for seed in (1, 2)]
        assert row.subsets == len(values)
        assert row.mean == pytest.approx(statistics.mean(values))
        assert row.sd == pytest.approx(statistics.stdev(values))
        assert (row.min, row.max) == pytest.approx((min(values), max(values)))
    with open(out / TRAIN_VARY_FILES["csv"], encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [(r["setting"], r["size"], r["runs"]) for r in table] == [
        (s, str(k), str(n)) for s in ("plain", "adversarial") for k, n in ((1, 6), (2, 6), (3, 2))
    ]
    with open(out / TRAIN_VARY_FILES["runs"], encoding="utf-8") as handle:
        runs = list(csv.DictReader(handle))
    assert len(runs) == 28 and runs[0]["sources"] == "en" and runs[-1]["sources"] == "en+de+es"
    markdown = (out / TRAIN_VARY_FILES["markdown"]).read_text(encoding="utf-8")
    assert "| setting | sources | runs | mean F1 | sd | min | max |" in markdown


@pytest.mark.slow
def test_a_sample_of_subsets_and_one_setting(
    tiny_bundle: Path, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    fit = FakeFit(out)
    config = _config(folder, "en,de,es,fr", subsets=2, sample_seed=3, adversarial="on")
    run_train_vary(tiny_bundle, config, out_dir=out, fit=fit, translate=FakeTranslate(), **OPTIONS)
    subsets = choose_subsets(("en", "de", "es", "fr"), 2, 3)
    trained = [tuple(s.path.name.split(".")[0] for s in o.data) for o in fit.options]
    assert trained == [sub for sub in subsets for _ in (1, 2)]
    assert all(o.adversarial for o in fit.options)


@pytest.mark.slow
def test_resume_trains_only_the_missing_runs_and_translates_nothing_again(
    tiny_bundle: Path, folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = _config(folder, adversarial="off")
    translate = FakeTranslate()
    with pytest.raises(Stopped):
        run_train_vary(
            tiny_bundle, config, out_dir=out, fit=FakeFit(out, stop_after=5),
            translate=translate, **OPTIONS,
        )  # fmt: skip
    saved = json.loads((out / TRAIN_VARY_FILES["json"]).read_text())
    assert saved["complete"] is False and len(saved["runs"]) == 5
    with pytest.raises(ConfigError, match="already holds"):
        run_train_vary(tiny_bundle, config, out_dir=out, fit=FakeFit(out), **OPTIONS)
    changed = _config(folder, adversarial="off", max_steps=6)
    with pytest.raises(ConfigError, match="max_steps 5 -> 6"):
        run_train_vary(tiny_bundle, changed, out_dir=out, resume=True, **OPTIONS)
    again, rest = FakeTranslate(), FakeFit(out)
    result = run_train_vary(
        tiny_bundle, config, out_dir=out, fit=rest, translate=again, resume=True, **OPTIONS
    )
    assert len(rest.options) == 14 - 5 and again.calls == Counter()  # projected files reused
    assert [(r.sources, r.seed) for r in result.runs] == [
        (sub, seed) for sub in choose_subsets(("en", "de", "es"), None) for seed in (1, 2)
    ]


def test_bad_settings_are_one_line_errors(folder: Path) -> None:
    for text, problem in (
        ("en", "bad entry 'en'; write CODE=FILE"),
        ("en=missing.conll", "missing.conll: no such file"),
        ("xx=en.conll", "xx:"),
        ("en=en.conll,en=de.conll", "en is given twice"),
        ("", "at least one CODE=FILE"),
    ):
        with pytest.raises(ConfigError, match=problem):
            parse_train_sources(text, folder)
    with pytest.raises(
        ConfigError, match="unknown --adversarial .maybe.; choose from both, off, on"
    ):
        _config(folder, adversarial="maybe")
    with pytest.raises(ConfigError, match="also the language of source ha"):
        TrainVaryConfig(
            "m", parse_train_sources("ha=en.conll", folder), "hau", folder / "hau.test.conll"
        )
    base = ["experiment", "-b", str(folder), "--data", str(folder), "-o", str(folder / "out")]
    for extra, message in (
        (["--train"], "--train varies the sources: add --vary sources"),
        (["--train", "--vary", "sources", "--target", "hau"], "--train needs --model"),
        (["--vary", "sources", "--max-steps", "3"], "--max-steps: only with --train"),
        (["--train", "--vary", "sources", "--langs", "hau"], "--langs: not with --train"),
    ):
        outcome = CliRunner().invoke(app, [*base, *extra])
        assert outcome.exit_code == 2, outcome.output
        assert "Traceback" not in outcome.output
        assert outcome.output.strip().splitlines()[-1].startswith(f"xner: error: {message}")


# --- end to end on the tiny models ----------------------------------------------------------------


@pytest.mark.slow
def test_the_experiment_end_to_end_on_the_tiny_models(
    tiny_bundle: Path, tiny_models, shared_data: Path, tmp_path: Path
) -> None:
    """3 sources x 20 sentences, 5 steps, 2 seeds, adversarial both, through the command."""
    out = tmp_path / "out"
    sources = "en=conll2003_en/dev.conll,de=conll_multi/de.conll.test.conll,es=conll_multi/es.conll.test.conll"  # noqa: E501
    outcome = CliRunner().invoke(
        app,
        [
            "experiment",
            "--train",
            "--vary",
            "sources",
            "-b",
            str(tiny_bundle),
            "--skip-verify",
            "--device",
            "cpu",
            "--model",
            str(tiny_models.tagger),
            "--data",
            str(shared_data),
            "--sources",
            sources,
            "--target",
            "hau",
            "--target-test",
            "masakhaner2/hau.test.conll",
            "--max-steps",
            "5",
            "--seeds",
            "1,2",
            "--limit",
            "20",
            "--adversarial",
            "both",
            "--ignore",
            "MISC,DATE",
            "--train-batch-size",
            "4",
            "--lr",
            "1e-3",
            "-o",
            str(out),
        ],  # fmt: skip
    )
    assert outcome.exit_code == 0, outcome.output
    saved = json.loads((out / TRAIN_VARY_FILES["json"]).read_text(encoding="utf-8"))
    assert saved["complete"] is True and len(saved["runs"]) == 7 * 2 * 2
    for run in saved["runs"]:
        assert 0.0 <= run["f1"] <= 1.0 and run["steps"] == 5
        assert run["evaluation"]["sentences"] == 20
    assert [p["written"] for p in saved["projected"]] == [20, 20, 20]
    for kind, name in TRAIN_VARY_FILES.items():
        if kind != "chart":
            assert (out / name).stat().st_size > 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass  # the chart is skipped with a warning without matplotlib
    else:
        assert (out / TRAIN_VARY_FILES["chart"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "runs").exists()  # every run folder removed
    assert "| plain | 3 | 2 |" in outcome.output and "| adversarial | 1 | 6 |" in outcome.output
