"""The projection options generated from the registered methods (xner.cli.method_options)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from xner.cli.app import command
from xner.cli.main import app as xner_app
from xner.cli.method_options import (
    ProjectionChoice,
    _listed,
    projection_choice,
    projection_flags,
    with_projection_options,
)
from xner.cli.options import with_engine_options
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError
from xner.runtime.projection import (
    HeuristicOptions,
    NgramOptions,
    Projected,
    available_methods,
    option,
    register_method,
    unregister_method,
)

runner = CliRunner()
received: list[tuple[str, ProjectionChoice | None, str]] = []


def _app() -> typer.Typer:
    """A small app with one decorated command (``go``) that records what it receives."""
    app = typer.Typer(rich_markup_mode=None, add_completion=False)

    @command("go", on=app)
    @with_projection_options
    def go(
        source: Annotated[str, typer.Argument(help="The input.")],
        projection: ProjectionChoice | None = None,
        drop: Annotated[str, typer.Option("--drop", help="Types to drop.")] = "",
    ) -> None:
        received.append((source, projection, drop))

    @command("other", on=app)
    def other() -> None:
        """A second command, so that ``go`` keeps its name."""

    return app


def _go(*args: str):
    received.clear()
    return runner.invoke(_app(), ["go", "in.txt", *args])


def _error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xner: error: "), result.stderr
    return lines[0]


def _help(app: typer.Typer, *args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())


def test_flags_appear_with_their_help_and_defaults_where_the_command_declared_them():
    text = _help(_app(), "go")
    expected = [
        f"--method <str> Projection method: {_listed(available_methods())}. [default: heuristic]",
        "--merge-distance <int> heuristic: merge runs separated by at most this many words."
        " [default: 1]",
        "--length-ratio <float> heuristic: keep a run longer than this share of the entity."
        " [default: 0.8]",
        "--keep <str> heuristic: all runs or the largest. [default: all]",
        "--collisions <str> heuristic: overwrite, first or longer. [default: overwrite]",
        "--max-len <int> ngram: longest candidate in words (default: any).",
        "--stop-words <str> ngram: comma-separated words no candidate may hold. [default: !,?]",
        "--exact ngram: optimal matching, not greedy.",
        "--drop <str> Types to drop.",
    ]
    at = [text.index(line) for line in expected]
    assert at == sorted(at)  # in the command's order: the projection options before --drop
    assert "--max-states" not in text and "--no-exact" not in text


def test_values_reach_the_command():
    assert _go().exit_code == 0
    assert received == [("in.txt", ProjectionChoice("heuristic", HeuristicOptions()), "")]
    result = _go("--method", "ngram", "--exact", "--max-len", "3", "--stop-words", "a, b,")
    assert result.exit_code == 0, result.output
    options = NgramOptions(max_len=3, stop_words=("a", "b"), exact=True)
    assert received == [("in.txt", ProjectionChoice("ngram", options), "")]
    result = _go("--keep", "largest", "--merge-distance", "0", "--drop", "MISC")
    assert result.exit_code == 0, result.output
    options = HeuristicOptions(merge_distance=0, keep="largest")
    assert received == [("in.txt", ProjectionChoice("heuristic", options), "MISC")]
    assert _go("--method", "ngram", "--stop-words", "").exit_code == 0
    assert received[0][1] == ProjectionChoice("ngram", NgramOptions(stop_words=()))


def test_options_of_another_method_are_refused():
    assert _error(_go("--exact")).endswith("--exact belongs to --method ngram")
    message = _error(_go("--max-len", "2", "--exact"))
    assert message.endswith("--max-len and --exact belong to --method ngram")
    # before: ignored in silence (only --exact and --max-len were checked)
    message = _error(_go("--method", "ngram", "--keep", "largest"))
    assert message.endswith("--keep belongs to --method heuristic")
    assert _error(_go("--stop-words", "x")).endswith("--stop-words belongs to --method ngram")
    assert received == []
    # the default value given explicitly is no misuse
    assert _go("--stop-words", "!, ?", "--merge-distance", "1").exit_code == 0
    assert received[0][1] == ProjectionChoice("heuristic", HeuristicOptions())


def test_bad_methods_and_values_are_one_line_errors():
    message = _error(_go("--method", "magic"))
    valid = ", ".join(available_methods())
    assert f"unknown projection method 'magic'; choose from {valid}" in message
    assert "unknown keep policy 'biggest'" in _error(_go("--keep", "biggest"))
    assert "max_len must be None or an integer >= 1" in _error(
        _go("--method", "ngram", "--max-len", "0")
    )
    assert received == []


def test_projection_choice_without_a_command_line():
    assert projection_choice("ngram", {"exact": True}) == ProjectionChoice(
        "ngram", NgramOptions(exact=True)
    )
    with pytest.raises(ConfigError, match="--collisions belongs to --method heuristic"):
        projection_choice("ngram", {"collisions": "first"})


def test_with_engine_options_below():
    app = typer.Typer(rich_markup_mode=None, add_completion=False)
    got = []

    @command("go", on=app)
    @with_projection_options(default="ngram")
    @with_engine_options(compute_type=False)
    def go(projection: ProjectionChoice | None = None, engine: EngineOptions | None = None) -> None:
        got.append((projection, engine))

    text = _help(app)
    listed = _listed(available_methods())
    assert f"--method <str> Projection method: {listed}. [default: ngram]" in text
    assert "--batch-size" in text and "--exact" in text and "--compute-type" not in text
    result = runner.invoke(app, ["--exact", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    [(choice, engine)] = got
    assert choice == ProjectionChoice("ngram", NgramOptions(exact=True))
    assert engine.max_batch_size == 4


@dataclass(frozen=True)
class _LaterOptions:
    loud: bool = option(True, help="say it.")
    max_len: int | None = option(None, help="shared with ngram.")
    words: tuple[str, ...] = option(("x",), help="some words.", flag="--later-words")
    budget: float = option(1.5, help="not offered.", cli=False)


@pytest.fixture
def later_method():
    """A method registered after the commands were decorated."""

    @register_method("later", _LaterOptions)
    def later(batch, options):
        return [Projected([]) for _ in range(batch.size)]

    yield "later"
    unregister_method("later")


def test_a_method_registered_later_gets_its_options(later_method):
    app = _app()
    text = _help(app, "go")
    assert f"Projection method: {_listed(available_methods())}." in text and "later" in text
    assert "--loud / --no-loud later: say it. [default: loud]" in text
    assert "--later-words <str> later: some words. [default: x]" in text
    assert "--max-len <int> later, ngram: shared with ngram." in text
    assert "--budget" not in text
    result = _go("--method", "later", "--no-loud", "--max-len", "4", "--later-words", "a,b")
    assert result.exit_code == 0, result.output
    assert received[0][1] == ProjectionChoice("later", _LaterOptions(False, 4, ("a", "b")))
    result = _go("--method", "ngram", "--max-len", "4")  # a shared flag sets ngram's field too
    assert result.exit_code == 0, result.output
    assert received[0][1] == ProjectionChoice("ngram", NgramOptions(max_len=4))
    message = _error(_go("--max-len", "4", "--no-loud"))
    assert message.endswith(
        "--loud belongs to --method later; --max-len belongs to --method later or ngram"
    )
    unregister_method(later_method)
    assert "--loud" not in _help(app, "go")  # gone again


def test_the_real_project_command_keeps_its_options():
    text = _help(xner_app, "project")
    for flag in ("--merge-distance", "--length-ratio", "--keep", "--collisions", "--max-len"):
        assert flag in text
    assert "--exact ngram: optimal matching, not greedy. --scores" in text
    assert "--ner-any-class ngram: ner score of the best class, not the entity's." in text
    assert "0: every candidate. [default: 2] --one-indexed" in text  # --nmt-candidates, last


def test_programming_mistakes_are_type_errors():
    with pytest.raises(TypeError, match="needs a keyword parameter 'projection"):

        @with_projection_options
        def no_parameter(source: str) -> None: ...

    @with_projection_options
    def clash(projection: ProjectionChoice | None = None, keep: str = "") -> None: ...

    app = typer.Typer()
    app.command()(clash)
    with pytest.raises(TypeError, match=r"parameters \['keep'\] clash"):
        runner.invoke(app, ["--help"], catch_exceptions=False)

    @dataclass(frozen=True)
    class Odd:
        table: dict | None = option(None, help="not for the command line.")

    register_method("odd", Odd)(lambda batch, options: [])
    try:
        with pytest.raises(TypeError, match=r"'table' of projection method 'odd'.*cli=False"):
            projection_flags()
    finally:
        unregister_method("odd")

    @dataclass(frozen=True)
    class Clashing:
        max_len: int = option(3, help="not ngram's max_len.")

    register_method("clashing", Clashing)(lambda batch, options: [])
    try:
        with pytest.raises(TypeError, match="--max-len of projection method 'ngram' differs"):
            projection_flags()
    finally:
        unregister_method("clashing")
