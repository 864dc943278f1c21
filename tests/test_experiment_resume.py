"""``run_experiment(..., resume=True)`` and ``xner experiment --resume``: an interrupted grid
continues in its folder, keeping the languages it finished, and ends with the tables of a run
that was never interrupted (timings aside)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError
from xner.runtime.experiment.run import (
    MODEL_TRANSFER,
    RESULT_FILES,
    ExperimentConfig,
    run_experiment,
)

pytestmark = pytest.mark.slow

LANGS = ["hau", "yor", "swa"]
METHODS = ["heuristic", "ngram-exact", MODEL_TRANSFER]
OPTIONS = EngineOptions(device="cpu", intra_threads=1)
TIMINGS = ("seconds", "shared_seconds")


def config_of(shared_data: Path, **settings: Any) -> ExperimentConfig:
    given: dict[str, Any] = {"ignore": ["DATE"], "limit": 3, **settings}
    return ExperimentConfig(shared_data / "masakhaner2", LANGS, METHODS, **given)


class Recorder:
    """A progress wrapper that records each stream's description and, when ``stop`` is given,
    interrupts the run (as Ctrl-C would) at the first stream whose description starts with it."""

    def __init__(self, stop: str | None = None) -> None:
        self.stop = stop
        self.seen: list[str] = []

    def __call__(self, items: Iterable[Any], description: str) -> Iterator[Any]:
        self.seen.append(description)
        if self.stop is not None and description.startswith(self.stop):
            raise KeyboardInterrupt
        yield from items


def interrupted_run(tiny_bundle: Path, config: ExperimentConfig, out: Path) -> None:
    """The grid stopped when it reaches its second language."""
    with pytest.raises(KeyboardInterrupt):
        run_experiment(
            tiny_bundle, config, out_dir=out, options=OPTIONS, verify=False,
            progress=Recorder(stop=f"{LANGS[1]}:"),
        )  # fmt: skip


def tables(folder: Path) -> dict[str, Any]:
    """The three tables of a folder, without what changes from run to run (timings, date)."""
    rows = list(csv.DictReader(io.StringIO((folder / "results.csv").read_text(encoding="utf-8"))))
    for row in rows:
        del row["seconds"]
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    del data["settings"]["created"]
    for cell in data["cells"]:
        for key in TIMINGS:
            del cell[key]
    markdown = (folder / "results.md").read_text(encoding="utf-8")
    return {"csv": rows, "json": data, "markdown": markdown}


@pytest.fixture(scope="module")
def straight(tiny_bundle: Path, shared_data: Path, tmp_path_factory) -> Path:
    """The folder of the same grid run without interruption."""
    out = tmp_path_factory.mktemp("straight")
    run_experiment(tiny_bundle, config_of(shared_data), out_dir=out, options=OPTIONS, verify=False)
    return out


def test_an_interrupted_grid_resumes_to_the_tables_of_a_straight_run(
    straight: Path, tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    config = config_of(shared_data)
    interrupted_run(tiny_bundle, config, tmp_path)
    saved = json.loads((tmp_path / RESULT_FILES["json"]).read_text(encoding="utf-8"))
    assert saved["complete"] is False
    assert {cell["lang"] for cell in saved["cells"]} == {LANGS[0]}
    assert "(incomplete run)" in (tmp_path / RESULT_FILES["markdown"]).read_text(encoding="utf-8")
    # Without --resume the folder is refused, and says how to go on.
    with pytest.raises(ConfigError, match=r"holds an interrupted experiment \(hau done\); pass "):
        run_experiment(tiny_bundle, config, out_dir=tmp_path, options=OPTIONS, verify=False)

    recorder = Recorder()
    threads = EngineOptions(device="cpu", intra_threads=2)  # speed, not labels: may change
    result = run_experiment(
        tiny_bundle, config, out_dir=tmp_path, options=threads, verify=False, resume=True,
        progress=recorder,
    )  # fmt: skip
    assert not any(seen.startswith(f"{LANGS[0]}:") for seen in recorder.seen)  # kept, not rerun
    assert {seen.split(":")[0] for seen in recorder.seen} == set(LANGS[1:])
    assert result.complete and [(c.lang, c.method) for c in result.cells] == [
        (lang, method) for lang in LANGS for method in METHODS
    ]
    resumed, expected = tables(tmp_path), tables(straight)
    resumed["json"]["settings"]["engine"]["intra_threads"] = 1
    assert resumed == expected
    assert (tmp_path / RESULT_FILES["chart"]).is_file()
    assert len(result.bundle["identity"]) == 16  # the manifest's digest: what resume compares
    # The kept cells are those the interrupted run measured, timings included.
    first = [cell for cell in saved["cells"] if cell["lang"] == LANGS[0]]
    assert [c.to_dict() for c in result.cells[: len(METHODS)]] == first


def test_a_resume_under_other_settings_or_another_bundle_is_refused(
    tiny_bundle: Path, shared_data: Path, tmp_path: Path
) -> None:
    interrupted_run(tiny_bundle, config_of(shared_data), tmp_path)
    before = (tmp_path / RESULT_FILES["json"]).read_bytes()
    kwargs = {"out_dir": tmp_path, "options": OPTIONS, "verify": False, "resume": True}
    with pytest.raises(
        ConfigError,
        match=r"--resume: settings differ from the interrupted run of .*: limit 3 -> 2; rerun "
        r"with those settings or pass --force to start over",
    ):
        run_experiment(tiny_bundle, config_of(shared_data, limit=2), **kwargs)
    with pytest.raises(ConfigError, match=r"ignore \[\"DATE\"\] -> \[\"MISC\"\]"):
        run_experiment(tiny_bundle, config_of(shared_data, ignore=["MISC"]), **kwargs)
    with pytest.raises(ConfigError, match="engine.device cpu -> auto"):
        run_experiment(tiny_bundle, config_of(shared_data), **{**kwargs, "options": None})
    # Another bundle (another manifest) is named too.
    data = json.loads(before)
    data["bundle"]["identity"] = "0123456789abcdef"
    (tmp_path / RESULT_FILES["json"]).write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bundle 0123456789abcdef -> [0-9a-f]{16};"):
        run_experiment(tiny_bundle, config_of(shared_data), **kwargs)
    (tmp_path / RESULT_FILES["json"]).write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not the results of an experiment .*--force"):
        run_experiment(tiny_bundle, config_of(shared_data), **kwargs)
    # --force starts over.
    forced = run_experiment(
        tiny_bundle, config_of(shared_data, limit=1), **{**kwargs, "force": True}
    )
    assert forced.complete and forced.settings["limit"] == 1


def test_resume_with_nothing_to_resume_starts_from_the_beginning_and_a_finished_run_stays(
    straight: Path, tiny_bundle: Path, shared_data: Path, tmp_path: Path, caplog
) -> None:
    config = ExperimentConfig(shared_data / "masakhaner2", ["yor"], [MODEL_TRANSFER], limit=2)
    with caplog.at_level(logging.WARNING, logger="xner"):
        result = run_experiment(
            tiny_bundle, config, out_dir=tmp_path, options=OPTIONS, verify=False, resume=True
        )
    assert "nothing to resume" in caplog.text and "starting from the beginning" in caplog.text
    assert result.complete and [c.lang for c in result.cells] == ["yor"]
    # A run that had finished: resumed, it runs nothing and writes the same tables.
    expected = tables(tmp_path)
    recorder = Recorder()
    again = run_experiment(
        tiny_bundle, config, out_dir=tmp_path, options=OPTIONS, verify=False, resume=True,
        progress=recorder,
    )  # fmt: skip
    assert recorder.seen == [] and again.cells == result.cells and tables(tmp_path) == expected


def test_cli_resume(tiny_bundle: Path, shared_data: Path, tmp_path: Path) -> None:
    interrupted_run(tiny_bundle, config_of(shared_data), tmp_path)
    args = [
        "experiment", "-b", str(tiny_bundle), "--data", str(shared_data / "masakhaner2"),
        "--langs", ",".join(LANGS), "--methods", ",".join(METHODS), "--ignore", "DATE",
        "--limit", "3", "-o", str(tmp_path), "--device", "cpu", "--intra-threads", "1",
        "--skip-verify",
    ]  # fmt: skip
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "pass --resume to continue it" in refused.stderr
    other = CliRunner().invoke(app, [*args, "--resume", "--limit", "2"])
    assert other.exit_code == 2 and "limit 3 -> 2" in other.stderr
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.startswith(f"| language | {' | '.join(METHODS)} |")
    data = json.loads((tmp_path / RESULT_FILES["json"]).read_text(encoding="utf-8"))
    assert data["complete"] and [c["lang"] for c in data["cells"]][:: len(METHODS)] == LANGS
