"""``run_experiment`` and ``xner experiment``: the languages x methods grid on MasakhaNER 2.0 files
with the tiny bundle (figures meaningless, mechanics real)."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import re
import sys
from pathlib import Path

import pytest
from fake_engines import fake_engines
from torchfree import run_cli_torch_free
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.data import Sentence
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.evaluate import evaluate
from xner.runtime.experiment.run import (
    CSV_COLUMNS,
    MODEL_TRANSFER,
    RESULT_FILES,
    ExperimentConfig,
    ExperimentResult,
    _Plan,
    _run_language,
    experiment_methods,
    run_experiment,
)
from xner.runtime.files.formats import read_sentences
from xner.runtime.pipelines import model_transfer, translate_test
from xner.runtime.projection.registry import register_method, unregister_method
from xner.runtime.projection.result import Projected

LANGS = ["hau", "yor", "swa"]
METHODS = ["heuristic", "ngram", "ngram-exact", MODEL_TRANSFER]
LIMIT = 5
OPTIONS = EngineOptions(device="cpu", intra_threads=1)


def masakhaner(shared_data: Path) -> Path:
    return shared_data / "masakhaner2"


@pytest.fixture(scope="module")
def grid(tiny_bundle: Path, shared_data: Path, tmp_path_factory) -> ExperimentResult:
    """The grid run once: three languages, four methods, five sentences each, DATE ignored."""
    out = tmp_path_factory.mktemp("experiment")
    config = ExperimentConfig(masakhaner(shared_data), LANGS, METHODS, ignore=["DATE"], limit=LIMIT)
    return run_experiment(tiny_bundle, config, out_dir=out, options=OPTIONS, verify=False)


def test_methods_are_the_projection_methods_and_model_transfer() -> None:
    methods = experiment_methods()
    assert {"heuristic", "ngram", "ngram-exact", MODEL_TRANSFER} <= set(methods)
    assert methods[-1] == MODEL_TRANSFER


def test_grid_shape_and_figures(grid: ExperimentResult) -> None:
    assert grid.langs == tuple(LANGS) and grid.methods == tuple(METHODS) and grid.complete
    assert [(c.lang, c.method) for c in grid.cells] == [(x, m) for x in LANGS for m in METHODS]
    for cell in grid.cells:
        s = cell.evaluation.overall
        assert cell.evaluation.sentences == LIMIT
        assert all(0.0 <= v <= 1.0 for v in (s.precision, s.recall, s.f1))
        assert 0 <= s.correct <= min(s.gold, s.predicted)
        assert "DATE" not in cell.evaluation.per_type  # ignored on both sides
        assert s.gold > 0 and cell.evaluation.projection_ratio == pytest.approx(
            s.predicted / s.gold
        )
        assert cell.seconds >= cell.shared_seconds >= 0.0
    # Every language has the same gold entities whatever the method.
    for lang in LANGS:
        assert len({grid.cell(lang, m).evaluation.overall.gold for m in METHODS}) == 1
    assert grid.cell("swa", "ngram").code == "swh_Latn"  # MasakhaNER's swa is NLLB's swh_Latn
    # Translate-test methods of one language share the translate/tag/align time.
    assert len({grid.cell("hau", m).shared_seconds for m in METHODS[:3]}) == 1
    assert grid.cell("hau", MODEL_TRANSFER).shared_seconds == 0.0
    averages = grid.averages()
    for method in METHODS:
        mean = sum(grid.cell(lang, method).f1 for lang in LANGS) / len(LANGS)
        assert averages[method] == pytest.approx(mean)


def test_files_agree_with_each_other(grid: ExperimentResult) -> None:
    assert set(grid.files) == {"csv", "json", "markdown", "chart"}
    for key, path in grid.files.items():
        assert path.name == RESULT_FILES[key] and path.stat().st_size > 0
    assert not list(grid.files["csv"].parent.glob(".*.tmp"))  # no temporary file left over
    assert grid.files["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with grid.files["csv"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    data = json.loads(grid.files["json"].read_text(encoding="utf-8"))
    markdown = grid.files["markdown"].read_text(encoding="utf-8")

    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(LANGS) * len(METHODS)
    assert data["complete"] and len(data["cells"]) == len(rows)
    assert data["settings"]["ignore"] == ["DATE"] and data["settings"]["limit"] == LIMIT
    assert data["settings"]["codes"] == {"hau": "hau_Latn", "yor": "yor_Latn", "swa": "swh_Latn"}
    assert data["settings"]["projection"]["ngram-exact"]["options"]["exact"] is True
    assert data["settings"]["engine"]["intra_threads"] == 1
    assert set(data["bundle"]["components"]) == {"translator", "tagger", "aligner"}
    table = _markdown_table(markdown)
    assert table[0] == ["language", *METHODS]
    assert [row[0] for row in table[1:]] == [*LANGS, "AVERAGE"]
    for row, cell in zip(rows, data["cells"], strict=True):
        ev = cell["evaluation"]
        assert (row["lang"], row["method"]) == (cell["lang"], cell["method"])
        for key in ("precision", "recall", "f1"):
            assert float(row[key]) == pytest.approx(ev["overall"][key])
            assert 0.0 <= float(row[key]) <= 1.0
        for key in ("gold", "predicted", "correct"):
            assert int(row[key]) == ev["overall"][key]
        assert float(row["projection_ratio"]) == pytest.approx(ev["projection_ratio"])
        assert int(row["sentences"]) == ev["sentences"] == LIMIT
        assert float(row["seconds"]) == pytest.approx(cell["seconds"], abs=1e-3)
        figure = table[1 + LANGS.index(row["lang"])][1 + METHODS.index(row["method"])]
        assert figure == f"{100 * float(row['f1']):.1f}"
    for k, method in enumerate(METHODS):
        assert table[-1][1 + k] == f"{100 * data['average_f1'][method]:.1f}"
    assert grid.markdown() in markdown


def _markdown_table(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert all(re.fullmatch(r"-+:?", c) for c in cells[1])  # the separator row
    return [cells[0], *cells[2:]]


def test_model_transfer_cell_is_the_tagger_scored_on_its_own(
    grid: ExperimentResult, tiny_bundle: Path, shared_data: Path
) -> None:
    gold = list(read_sentences(masakhaner(shared_data) / "yor.test.conll", "conll"))[:LIMIT]
    tagged = model_transfer(Engines(tiny_bundle, OPTIONS, verify=False), gold)
    expected = evaluate(gold, [r.tags for r in tagged], ignore=["DATE"])
    assert grid.cell("yor", MODEL_TRANSFER).evaluation == expected


@pytest.mark.parametrize("method", ["ngram", "ngram-exact"])
def test_projection_cells_equal_the_translate_test_pipeline(
    grid: ExperimentResult, tiny_bundle: Path, shared_data: Path, method: str
) -> None:
    """Methods after the first reuse the pipeline's translation and alignment: same figures as
    running the public pipeline with that method alone."""
    gold = list(read_sentences(masakhaner(shared_data) / "hau.test.conll", "conll"))[:LIMIT]
    results = translate_test(
        Engines(tiny_bundle, OPTIONS, verify=False),
        gold,
        "hau",
        method="ngram",
        options={"exact": method == "ngram-exact"},
    )
    expected = evaluate(gold, [r.tags for r in results], ignore=["DATE"])
    assert grid.cell("hau", method).evaluation == expected


def test_ignored_labels_are_not_projected(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    """An ignored type the tagger predicts (MISC) is dropped on the English side before
    projection, so it cannot take target words from the other entities."""
    config = ExperimentConfig(
        masakhaner(shared_data), ["yor"], ["heuristic", "ngram"], ignore=["MISC"], limit=LIMIT
    )
    result = run_experiment(tiny_bundle, config, out_dir=tmp_path, options=OPTIONS, verify=False)
    gold = list(read_sentences(masakhaner(shared_data) / "yor.test.conll", "conll"))[:LIMIT]
    engines = Engines(tiny_bundle, OPTIONS, verify=False)
    for method in ("heuristic", "ngram"):
        results = translate_test(engines, gold, "yor", method=method, drop={"MISC"})
        expected = evaluate(gold, [r.tags for r in results], ignore=["MISC"])
        assert result.cell("yor", method).evaluation == expected
        assert "MISC" not in expected.per_type


def test_unknown_method_and_language_list_the_valid_choices(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    data = masakhaner(shared_data)

    def run(langs: list[str], methods: list[str], **settings) -> None:
        config = ExperimentConfig(data, langs, methods, **settings)
        run_experiment(tiny_bundle, config, out_dir=tmp_path, verify=False)

    with pytest.raises(ConfigError, match=r"unknown experiment method 'ngarm'.*heuristic.*ngram"):
        run(["hau"], ["ngarm"])
    with pytest.raises(ConfigError, match=r"no method given; choose from .*ensemble, heuristic"):
        run(["hau"], [])
    with pytest.raises(ConfigError, match=r"unknown language .*'hauu'.*hau, ibo.*yor, zul"):
        run(["hauu"], ["heuristic"])
    with pytest.raises(ConfigError, match=r"no language given; .* has bam, bbj.* \(or all\)"):
        run([], ["heuristic"])
    with pytest.raises(
        ConfigError, match=r"no <lang>\.train\.conll files; splits there: dev, test"
    ):
        run(["hau"], ["heuristic"], split="train")
    with pytest.raises(ConfigError, match="translate-test cannot run on pcm, bbj"):
        run(["hau", "pcm", "bbj"], ["heuristic"])
    with pytest.raises(ConfigError, match="limit must be an integer >= 1, got 0"):
        run(["hau"], ["heuristic"], limit=0)
    with pytest.raises(ConfigError, match="beam_size must be an integer >= 1, got 0"):
        run(["hau"], ["heuristic"], beam_size=0)
    with pytest.raises(ConfigError, match=r"unknown alignment method 'itermix'.*itermax"):
        run(["hau"], ["heuristic"], align_method="itermix")
    with pytest.raises(ConfigError, match=r"projection_options 'heuristc'.*heuristic, ngram"):
        run(["hau"], ["heuristic"], projection_options={"heuristc": {}})
    assert not list(tmp_path.iterdir())  # nothing was written: every check comes first


def test_config_is_checked_once_and_canonical(tmp_path: Path) -> None:
    """The config normalises what it is given (comma lists, repeats, paths) when it is made, and
    its canonical dict is what results.json records."""
    config = ExperimentConfig(
        str(tmp_path), "hau, yor,hau", ["ngram-exact", "model-transfer"], ignore="DATE,MISC",
        projection_options={"ngram": {"max_len": 4}},
    )  # fmt: skip
    assert config.data_dir == tmp_path and config.langs == ("hau", "yor")
    assert config.methods == ("ngram-exact", MODEL_TRANSFER) and config.ignore == ("DATE", "MISC")
    base, options = config.projections["ngram-exact"]
    assert base == "ngram" and options.exact and options.max_len == 4
    canonical = config.canonical()
    assert canonical["ignore"] == ["DATE", "MISC"] and canonical["langs"] == ["hau", "yor"]
    assert canonical["projection"]["ngram-exact"]["options"]["max_len"] == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.limit = 3  # type: ignore[misc]  # frozen: assigning is what fails here


def test_all_leaves_out_languages_nllb_lacks_and_model_transfer_takes_them(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path, caplog, monkeypatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for lang in ("hau", "pcm"):  # links to the shared files, not copies
        (data / f"{lang}.test.conll").symlink_to(masakhaner(shared_data) / f"{lang}.test.conll")
    with caplog.at_level(logging.WARNING, logger="xner"):
        config = ExperimentConfig(data, ["all"], ["heuristic"], limit=2)
        result = run_experiment(
            tiny_bundle, config, out_dir=tmp_path / "a", options=OPTIONS, verify=False
        )
    assert result.langs == ("hau",) and "left out pcm" in caplog.text
    # Model transfer needs no translation: pcm is fine there, and the chart is optional.
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with caplog.at_level(logging.WARNING, logger="xner"):
        config = ExperimentConfig(data, ["pcm"], [MODEL_TRANSFER], limit=2)
        result = run_experiment(
            tiny_bundle, config, out_dir=tmp_path / "b", options=OPTIONS, verify=False
        )
    assert result.cell("pcm", MODEL_TRANSFER).code is None
    assert "chart skipped" in caplog.text and "xner[plot]" in caplog.text
    assert "chart" not in result.files and not (tmp_path / "b" / RESULT_FILES["chart"]).exists()
    assert (tmp_path / "b" / RESULT_FILES["markdown"]).is_file()


def test_existing_results_are_kept_unless_forced(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    (tmp_path / RESULT_FILES["csv"]).write_text("precious\n", encoding="utf-8")
    config = ExperimentConfig(masakhaner(shared_data), ["hau"], [MODEL_TRANSFER], limit=1)
    kwargs = {"out_dir": tmp_path, "options": OPTIONS, "verify": False}
    with pytest.raises(ConfigError, match="already holds results.csv"):
        run_experiment(tiny_bundle, config, **kwargs)
    with pytest.raises(ConfigError, match="already holds results.csv"):
        run_experiment(tiny_bundle, config, **kwargs, resume=True)  # nothing to resume there
    assert (tmp_path / RESULT_FILES["csv"]).read_text(encoding="utf-8") == "precious\n"
    run_experiment(tiny_bundle, config, **kwargs, force=True)
    assert (tmp_path / RESULT_FILES["csv"]).read_text(encoding="utf-8").startswith("lang,method")


def test_cli_prints_the_table(tiny_bundle: Path, shared_data: Path, tmp_path: Path) -> None:
    args = [
        "experiment", "--bundle", str(tiny_bundle), "--data", str(masakhaner(shared_data)),
        "--langs", "hau,swa", "--methods", "heuristic,model-transfer", "--ignore", "DATE,MISC",
        "--limit", "3", "-o", str(tmp_path), "--intra-threads", "1", "--device", "cpu",
        "--skip-verify",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = _markdown_table(result.stdout)
    assert table[0] == ["language", "heuristic", "model-transfer"]
    assert [row[0] for row in table[1:]] == ["hau", "swa", "AVERAGE"]
    data = json.loads((tmp_path / RESULT_FILES["json"]).read_text(encoding="utf-8"))
    assert data["settings"]["ignore"] == ["DATE", "MISC"]
    again = CliRunner().invoke(app, [*args[:-1], "--methods", "ngarm"])
    assert again.exit_code == 2 and "choose from back-translation, ensemble" in again.stderr


def test_a_bad_file_stops_the_run_and_keeps_the_languages_done(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hau.test.conll").symlink_to(masakhaner(shared_data) / "hau.test.conll")
    (data / "yor.test.conll").write_text("Ade\tB-PER\nlo\tX-LOC\n", encoding="utf-8")
    out = tmp_path / "out"
    config = ExperimentConfig(data, ["hau", "yor"], ["heuristic"], limit=2)
    with pytest.raises(InputError, match=r"yor\.test\.conll:2: bad tag 'X-LOC'"):
        run_experiment(tiny_bundle, config, out_dir=out, options=OPTIONS, verify=False)
    saved = json.loads((out / RESULT_FILES["json"]).read_text(encoding="utf-8"))
    assert saved["complete"] is False and [c["lang"] for c in saved["cells"]] == ["hau"]
    assert "incomplete run" in (out / RESULT_FILES["markdown"]).read_text(encoding="utf-8")


def test_cli_runs_torch_free_and_offline(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    done = run_cli_torch_free(
        [
            "experiment", "-b", str(tiny_bundle), "--data", str(masakhaner(shared_data)),
            "--langs", "yor", "--methods", "ngram,model-transfer", "--limit", "2",
            "-o", str(tmp_path), "--intra-threads", "1",
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("| language | ngram | model-transfer |")
    assert (tmp_path / RESULT_FILES["chart"]).is_file()  # matplotlib is torch-free too


def test_a_method_failing_on_a_sentence_leaves_the_other_methods_alone() -> None:
    """Each method projects the shared records on its own: before, a sentence the first method
    could not project counted as failed (all O) for every other method too."""

    @dataclasses.dataclass(frozen=True)
    class NoOptions:
        pass

    @register_method("fails-on-kano", NoOptions)
    def fails_on_kano(batch, options) -> list[Projected]:
        if any("Kano" in (words or ()) for words in batch.target_tokens):
            raise ValueError("Kano is out of range")
        return [Projected([]) for _ in range(batch.size)]

    gold = [
        Sentence(["Musa", "ya", "tafi", "Kano"], ["B-PER", "O", "O", "B-LOC"], 1, "g.conll"),
        Sentence(["ina", "Musa"], ["O", "B-PER"], 2, "g.conll"),
    ]
    try:
        config = ExperimentConfig(Path("unread"), ["hau"], ["fails-on-kano", "heuristic"])
        plan = _Plan(config, ("hau",), {}, {"hau": "hau_Latn"})
        failing, heuristic = _run_language(fake_engines(), plan, "hau", gold, None)
    finally:
        unregister_method("fails-on-kano")
    assert (failing.method, failing.failed) == ("fails-on-kano", 1)
    assert (heuristic.method, heuristic.failed) == ("heuristic", 0)
    assert heuristic.evaluation.overall.correct == 2  # Musa twice (Kano is tagged PER)
