"""A new projection method touches one file: this one.

``first-word`` (label the first target word linked to each entity) is declared and registered
here only, with one command-line option, and works through every layer: ``project_batch``,
``project_results``, the generated command-line options (``--method first-word``,
``--first-word-label``), ``xner project``, the ``translate_test`` pipeline, ``xner
translate-test`` and ``xner experiment``. The fixture removes it afterwards, so other tests see the
usual methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from xner.cli.app import command
from xner.cli.main import app as xner_app
from xner.cli.method_options import ProjectionChoice, with_projection_options
from xner.runtime.data import Span
from xner.runtime.files.formats import read_sentences
from xner.runtime.projection import (
    Projected,
    ProjectionBatch,
    available_methods,
    option,
    project_batch,
    project_results,
    register_method,
    unregister_method,
)
from xner.runtime.tags import spans_from_tags

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "swahili"
HAUSA = ROOT / "tests" / "golden" / "inputs" / "hau.txt"
runner = CliRunner()


# --- the whole method --------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstWordOptions:
    """Options of ``first-word``: ``label`` replaces the entity's label when not empty."""

    label: str = option(
        "",
        help="label every span with this type (default: the entity's).",
        flag="--first-word-label",
    )


def first_word(batch: ProjectionBatch, options: FirstWordOptions) -> list[Projected]:
    """The first target word linked to each entity; a word linked first to several entities
    goes to the earliest of them."""
    ent, pos = batch.link_entity, batch.link_position  # sorted by entity, then position
    first = np.flatnonzero(np.concatenate(([True], ent[1:] != ent[:-1]))) if ent.size else ent
    pos, earliest = np.unique(pos[first], return_index=True)
    spans = batch.spans(ent[first][earliest], pos, pos + 1)
    if options.label:
        spans = [[Span(s.start, s.end, options.label) for s in sentence] for sentence in spans]
    return [Projected(sentence) for sentence in spans]


# ------------------------------------------------------------------------------------------------

calls: list[int] = []


@pytest.fixture
def first_word_method():
    def counted(batch, options):
        calls.append(batch.size)
        return first_word(batch, options)

    calls.clear()
    register_method("first-word", FirstWordOptions)(counted)
    yield "first-word"
    unregister_method("first-word")
    assert "first-word" not in available_methods()


def test_project_batch_and_project_results(first_word_method):
    a = ([Span(0, 2, "PER"), Span(3, 4, "LOC")], [(0, 3), (1, 2), (3, 0), (3, 1)], 5)
    b = ([Span(0, 1, "ORG"), Span(1, 2, "PER")], [(0, 1), (1, 1), (1, 2)], 3)  # b: shared word
    empty = ([], [(0, 7)], 2)  # projects nothing; its alignment is not read
    expected = [[Span(0, 1, "LOC"), Span(2, 3, "PER")], [Span(1, 2, "ORG")], []]
    assert project_batch([a, b, ([], [], 2)], first_word_method) == expected
    assert project_results([a, b, empty], first_word_method) == [Projected(s) for s in expected]
    renamed = project_batch([a], first_word_method, {"label": "X"})
    assert renamed == [[Span(0, 1, "X"), Span(2, 3, "X")]]


def test_the_generated_options_offer_it(first_word_method):
    app = typer.Typer(rich_markup_mode=None, add_completion=False)
    got = []

    @command("go", on=app)
    @with_projection_options
    def go(
        source: Annotated[str, typer.Argument()], projection: ProjectionChoice | None = None
    ) -> None:
        got.append(projection)

    @command("other", on=app)
    def other() -> None: ...

    result = runner.invoke(app, ["go", "--help"], terminal_width=200)
    text = " ".join(result.stdout.split())
    names = available_methods()
    assert f"Projection method: {', '.join(names[:-1])} or {names[-1]}." in text
    assert "first-word" in names
    assert "--first-word-label <str> first-word: label every span with this type" in text
    args = ["go", "x", "--method", "first-word", "--first-word-label", "X"]
    assert runner.invoke(app, args).exit_code == 0
    assert got == [ProjectionChoice("first-word", FirstWordOptions("X"))]
    result = runner.invoke(app, ["go", "x", "--first-word-label", "X"])
    assert result.exit_code == 2
    assert "--first-word-label belongs to --method first-word" in result.stderr


def test_xner_project_runs_it(first_word_method, tmp_path):
    out = tmp_path / "out.conll"
    args = ["project", "--source", EXAMPLE / "english.conll", "--target", EXAMPLE / "swahili.txt"]
    args += ["--alignments", EXAMPLE / "english-swahili.talp", "-o", out]
    args += ["--method", "first-word", "--first-word-label", "X"]
    result = runner.invoke(xner_app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    spans = [spans_from_tags(s.tags) for s in read_sentences(out)]
    assert any(spans) and calls
    assert all(s.end - s.start == 1 and s.label == "X" for sentence in spans for s in sentence)


@pytest.mark.slow
def test_translate_test_runs_it(first_word_method, tiny_bundle):
    from xner.runtime.pipelines import Engines, translate_test

    sentences = HAUSA.read_text(encoding="utf-8").splitlines()
    engines = Engines(tiny_bundle, intra_threads=1)
    results = list(translate_test(engines, sentences, "hau", method="first-word"))
    assert len(results) == len(sentences) and all(r.ok for r in results)
    assert calls  # the method ran on the sentences whose English side has entities
    labelled = [(r.spans, r.english_spans) for r in results if r.english_spans]
    assert labelled and all(r.matches is None for r in results)
    for spans, english in labelled:
        assert all(s.end - s.start == 1 for s in spans)
        assert {s.label for s in spans} <= {s.label for s in english}


@pytest.mark.slow
def test_xner_translate_test_runs_it(first_word_method, tiny_bundle, tmp_path):
    out = tmp_path / "out.conll"
    args = ["translate-test", "-b", str(tiny_bundle), "--skip-verify", "--lang", "hau"]
    args += [str(HAUSA), "-o", str(out), "--method", "first-word", "--first-word-label", "X"]
    result = runner.invoke(xner_app, args)
    assert result.exit_code == 0, result.output
    spans = [spans_from_tags(s.tags) for s in read_sentences(out)]
    assert calls and any(spans)
    assert all(s.end - s.start == 1 and s.label == "X" for sentence in spans for s in sentence)


@pytest.mark.slow
def test_xner_experiment_offers_it(first_word_method, tiny_bundle, tmp_path):
    data = ROOT / "tests" / "golden" / "inputs" / "masakhane"
    args = ["experiment", "-b", str(tiny_bundle), "--skip-verify", "--data", str(data)]
    args += ["--langs", "hau", "--methods", "first-word,heuristic", "-o", str(tmp_path / "x")]
    result = runner.invoke(xner_app, args)
    assert result.exit_code == 0, result.output
    table = (tmp_path / "x" / "results.md").read_text(encoding="utf-8")
    assert "| language | first-word | heuristic |" in table
    assert calls  # its projection ran on the experiment's shared records
