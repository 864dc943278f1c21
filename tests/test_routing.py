"""``xner experiment --route-by dev``: per language, the method with the best dev F1 is applied
on test (choices and ties by hand; a made-up dev/test folder with the tiny bundle: mechanics)."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from torchfree import run_cli_torch_free

from xner.runtime.data import Span
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError
from xner.runtime.evaluate import EvaluationResult, Scores
from xner.runtime.experiment.run import (
    MODEL_TRANSFER,
    RESULT_FILES,
    ROUTED,
    ExperimentCell,
    ExperimentConfig,
    ExperimentResult,
    _routed,
    run_experiment,
)
from xner.runtime.projection.inputs import ProjectionBatch
from xner.runtime.projection.registry import option, register_method, unregister_method
from xner.runtime.projection.result import Projected

OPTIONS = EngineOptions(device="cpu", intra_threads=1)


def cell(method: str, correct: int, lang: str = "hau") -> ExperimentCell:
    """A cell whose F1 is correct / 4 (4 gold, 4 predicted)."""
    scores = Scores.from_counts(4, 4, correct)
    return ExperimentCell(lang, "hau_Latn", method, EvaluationResult(scores, {}, 1.0, 2), 1.0)


# --- the choice, by hand --------------------------------------------------------------------------


def test_the_best_dev_method_is_applied_on_test() -> None:
    test = [cell("heuristic", 1), cell("ngram", 2), cell(MODEL_TRANSFER, 3)]
    dev = [cell("heuristic", 1), cell("ngram", 4), cell(MODEL_TRANSFER, 2)]
    routed = _routed(test, dev)
    assert routed.method == ROUTED and routed.chosen == "ngram"
    assert routed.evaluation == test[1].evaluation  # ngram's TEST cell, not its dev cell
    assert routed.route_f1 == {"heuristic": 0.25, "ngram": 1.0, MODEL_TRANSFER: 0.5}


def test_a_tie_on_dev_goes_to_the_first_method() -> None:
    test = [cell("heuristic", 1), cell("ngram", 2), cell(MODEL_TRANSFER, 3)]
    dev = [cell("heuristic", 1), cell("ngram", 3), cell(MODEL_TRANSFER, 3)]
    assert _routed(test, dev).chosen == "ngram"
    flat = [cell(m, 0) for m in ("heuristic", "ngram", MODEL_TRANSFER)]
    assert _routed(test, flat).chosen == "heuristic"


def test_routed_cells_round_trip_and_name_their_method_in_the_tables() -> None:
    routed = _routed([cell("ngram", 2)], [cell("ngram", 1)])
    again = ExperimentCell.from_dict(json.loads(json.dumps(routed.to_dict())))
    assert again == routed
    assert "chosen" not in cell("ngram", 2).to_dict()  # unrouted cells keep their old form
    grid = ExperimentResult(("hau",), ("ngram", ROUTED), (cell("ngram", 2), routed))
    assert grid.markdown().splitlines()[2] == "| hau | 50.0 | 50.0 (ngram) |"
    assert grid.routed() and routed.row()["chosen"] == "ngram"


# --- the config -----------------------------------------------------------------------------------


def test_route_by_is_checked(tmp_path: Path) -> None:
    make = ExperimentConfig
    with pytest.raises(ConfigError, match="dev"):
        make(tmp_path, ["hau"], ["ngram"], route_by="train")
    with pytest.raises(ConfigError, match="another split"):
        make(tmp_path, ["hau"], ["ngram"], split="dev", route_by="dev")
    plain = make(tmp_path, ["hau"], ["ngram"])
    assert "route_by" not in plain.canonical() and plain.table_columns == ("ngram",)
    routed = make(tmp_path, ["hau"], ["ngram", MODEL_TRANSFER], route_by="dev")
    assert routed.canonical()["route_by"] == "dev"
    assert routed.table_columns == ("ngram", MODEL_TRANSFER, ROUTED)


# --- a made-up folder with the tiny bundle --------------------------------------------------------

# dev: every entity is a one-word PER; test: one-word LOC entities. The method "every-word-per"
# labels each target word PER: it wins on dev (F1 > 0) where "nothing" scores 0, so it is routed
# to, and on test it scores 0 (no PER there): routing applies the dev choice, not the test's best.
DEV = "Ada B-PER\nna O\nBob B-PER\n\nCid B-PER\nya O\n"
TEST = "Kano B-LOC\nna O\n\nAbuja B-LOC\n"


@dataclass(frozen=True)
class NoOptions:
    unused: int = option(0, help="unused.", cli=False)


@pytest.fixture
def toy_methods() -> Iterator[None]:
    @register_method("every-word-per", NoOptions, labels_alone=True)
    def every_word(batch: ProjectionBatch, options: NoOptions) -> list[Projected]:
        out = []
        for n in batch.target_lengths.tolist():
            spans = [Span(i, i + 1, "PER") for i in range(n)]
            out.append(Projected(spans, None, [1.0] * n))
        return out

    @register_method("nothing", NoOptions)
    def nothing(batch: ProjectionBatch, options: NoOptions) -> list[Projected]:
        return [Projected([], None, []) for _ in range(batch.size)]

    yield
    unregister_method("every-word-per")
    unregister_method("nothing")


def made_up(folder: Path) -> Path:
    folder.mkdir()
    for lang in ("hau", "yor"):
        (folder / f"{lang}.dev.conll").write_text(DEV)
        (folder / f"{lang}.test.conll").write_text(TEST)
    return folder


@pytest.mark.slow
def test_routing_on_a_made_up_folder(tiny_bundle: Path, tmp_path: Path, toy_methods) -> None:
    data = made_up(tmp_path / "data")
    config = ExperimentConfig(
        data, ["hau", "yor"], ["nothing", "every-word-per", "ensemble"], route_by="dev"
    )
    out = tmp_path / "out"
    result = run_experiment(tiny_bundle, config, out_dir=out, options=OPTIONS, verify=False)
    assert result.methods == ("nothing", "every-word-per", "ensemble", ROUTED)
    for lang in ("hau", "yor"):
        routed = result.cell(lang, ROUTED)
        scores = routed.route_f1 or {}
        assert set(scores) == {"nothing", "every-word-per", "ensemble"}
        assert scores["every-word-per"] > 0 == scores["nothing"]
        assert routed.chosen == max(scores, key=scores.__getitem__)  # the first of the best
        assert routed.evaluation == result.cell(lang, str(routed.chosen)).evaluation
    rows = list(csv.DictReader((out / RESULT_FILES["csv"]).open()))
    assert [row["method"] for row in rows if row["chosen"]] == [ROUTED, ROUTED]
    saved = json.loads((out / RESULT_FILES["json"]).read_text())
    assert saved["settings"]["route_by"] == "dev" and saved["methods"][-1] == ROUTED
    table = (out / RESULT_FILES["markdown"]).read_text()
    assert "| language | nothing | every-word-per | ensemble | routed |" in table
    assert "best F1 on the dev split" in table
    # resumed with the same settings: every language kept, the same tables
    again = run_experiment(
        tiny_bundle, config, out_dir=out, options=OPTIONS, verify=False, resume=True
    )
    assert [c.to_dict()["evaluation"] for c in again.cells] == [
        c.to_dict()["evaluation"] for c in result.cells
    ]
    # resumed without routing: the settings differ, and the error says which
    plain = dataclasses.replace(config, route_by=None)
    with pytest.raises(ConfigError, match="route_by"):
        run_experiment(tiny_bundle, plain, out_dir=out, options=OPTIONS, verify=False, resume=True)


def test_a_missing_dev_file_is_an_error_before_any_model(tmp_path: Path) -> None:
    data = made_up(tmp_path / "data")
    (data / "yor.dev.conll").unlink()
    config = ExperimentConfig(data, ["hau", "yor"], [MODEL_TRANSFER], route_by="dev")
    with pytest.raises(ConfigError, match=r"yor\.dev\.conll"):
        run_experiment(tmp_path / "no-bundle-needed", config, out_dir=tmp_path / "out")


@pytest.mark.slow
def test_cli_route_by_dev_torch_free(tiny_bundle: Path, tmp_path: Path) -> None:
    data = made_up(tmp_path / "data")
    done = run_cli_torch_free(
        [
            "experiment", "-b", str(tiny_bundle), "--data", str(data), "--langs", "hau,yor",
            "--methods", "heuristic,ngram,ensemble,model-transfer", "--route-by", "dev",
            "-o", str(tmp_path / "out"), "--intra-threads", "1",
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header = "| language | heuristic | ngram | ensemble | model-transfer | routed |"
    assert done.stdout.startswith(header)
    body = done.stdout.splitlines()[2:4]
    assert all(line.rstrip(" |").endswith(")") for line in body)  # routed names its method
    bad = run_cli_torch_free(
        [
            "experiment", "-b", str(tiny_bundle), "--data", str(data), "--langs", "hau",
            "--methods", "ngram", "--route-by", "test", "-o", str(tmp_path / "bad"),
        ]
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("xner: error:")
    assert "dev" in bad.stderr
