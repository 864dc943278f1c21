"""``xner experiment --column``: a projection method with options, under a name, as a column
(specs read by hand; a made-up folder with the tiny bundle: mechanics)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from torchfree import run_cli_torch_free

from xner.runtime.data import Span
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError
from xner.runtime.experiment.columns import Column, parse_column
from xner.runtime.experiment.run import ExperimentConfig, run_experiment
from xner.runtime.projection.heuristic import HeuristicOptions
from xner.runtime.projection.inputs import ProjectionBatch
from xner.runtime.projection.ngram import NgramOptions
from xner.runtime.projection.registry import option, register_method, unregister_method
from xner.runtime.projection.result import Projected

OPTIONS = EngineOptions(device="cpu", intra_threads=1)


# --- specs, by hand -------------------------------------------------------------------------------


def test_a_spec_names_a_method_and_its_options_by_their_flags() -> None:
    column = parse_column("mix = ngram scores=align=0.4,ner=0.6 max-len=6 exact min-confidence=0.5")
    assert column == Column(
        "mix", "ngram", {"scores": ("align=0.4", "ner=0.6"), "max_len": 6, "exact": True}, 0.5
    )
    base, options = column.resolve()
    assert base == "ngram" and isinstance(options, NgramOptions)
    assert options.weights == {"align": 0.4, "ner": 0.6}
    assert (options.max_len, options.exact, options.candidates) == (6, True, "all")
    assert parse_column("plain=ngram exact=no max-len=none") == Column(
        "plain", "ngram", {"exact": False, "max_len": None}
    )


def test_a_column_of_a_variant_keeps_the_variant_preset_and_adds_its_options() -> None:
    base, options = parse_column("x = ngram-exact max-len=3").resolve()
    assert base == "ngram" and options.exact is True and options.max_len == 3


def test_a_column_starts_from_the_experiment_options_of_its_method() -> None:
    base, options = parse_column("h = heuristic").resolve(HeuristicOptions(merge_distance=0))
    assert base == "heuristic" and options == HeuristicOptions(merge_distance=0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ngram", "expected NAME = METHOD"),
        ("x = ", "expected NAME = METHOD"),
        ("x = nosuch", "nosuch"),
        ("x = ngram maxlen=3", "max-len"),  # the unknown option lists the valid ones
        ("x = ngram max-len=three", "max-len takes an integer"),
        ("x = ngram exact=maybe", "exact takes true or false"),
        ("x = ngram min-confidence=2", r"min_confidence must be a number in \[0, 1\]"),
        ("x = ngram min-confidence=high", "min-confidence takes a number"),
        ("x = ngram candidates=every", "candidates"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_column(spec).resolve()


def test_columns_join_the_methods_and_the_settings(tmp_path: Path) -> None:
    config = ExperimentConfig(
        tmp_path, ["hau"], ["heuristic"], columns=["c50 = ngram min-confidence=0.5"]
    )
    assert config.methods == ("heuristic", "c50")
    assert config.projections["c50"] == ("ngram", NgramOptions())
    assert config.min_confidence("c50") == 0.5 and config.min_confidence("heuristic") == 0.0
    assert config.canonical()["columns"] == {
        "c50": {"method": "ngram", "options": {}, "min_confidence": 0.5}
    }
    named = ExperimentConfig(tmp_path, ["hau"], ["c50", "heuristic"], columns=["c50 = ngram"])
    assert named.methods == ("c50", "heuristic")  # where --methods puts it
    assert "columns" not in ExperimentConfig(tmp_path, ["hau"], ["heuristic"]).canonical()


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["ngram = heuristic"], "already a method"),
        (["a = ngram", "a = heuristic"], "already a method or a column"),
        (["m = markers"], "translate-train method"),
    ],
)
def test_bad_columns_are_refused(tmp_path: Path, columns: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig(tmp_path, ["hau"], ["heuristic"], columns=columns)


# --- a made-up folder with the tiny bundle --------------------------------------------------------

# Two sentences of three words: every word is a one-word PER entity in the gold.
GOLD = "Ada B-PER\nBob B-PER\nCid B-PER\n\nDan B-PER\nEve B-PER\nFay B-PER\n"


@dataclass(frozen=True)
class EveryOptions:
    every: int = option(1, help="label one word in this many.")


@pytest.fixture
def every_word() -> Iterator[None]:
    """A method labelling every ``every``-th target word PER; the first word of a sentence with
    confidence 1.0, the others 0.25."""

    @register_method("every-word", EveryOptions, labels_alone=True)
    def every_word(batch: ProjectionBatch, options: EveryOptions) -> list[Projected]:
        out = []
        for n in batch.target_lengths.tolist():
            starts = range(0, n, options.every)
            spans = [Span(i, i + 1, "PER") for i in starts]
            out.append(Projected(spans, None, [1.0 if i == 0 else 0.25 for i in starts]))
        return out

    yield
    unregister_method("every-word")


@pytest.mark.slow
def test_columns_on_a_made_up_folder(tiny_bundle: Path, tmp_path: Path, every_word) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hau.test.conll").write_text(GOLD)
    config = ExperimentConfig(
        data,
        ["hau"],
        ["every-word"],
        columns=["sparse = every-word every=2", "sure = every-word min-confidence=0.5"],
    )
    result = run_experiment(tiny_bundle, config, out_dir=tmp_path / "out", options=OPTIONS)
    predicted = {m: result.cell("hau", m).evaluation.overall.predicted for m in result.methods}
    # 3 words per sentence, 2 sentences: every word 6; every other word (0 and 2) 4; only the
    # first word of each sentence has confidence >= 0.5: 2
    assert predicted == {"every-word": 6, "sparse": 4, "sure": 2}
    assert result.cell("hau", "every-word").f1 == 1.0


@pytest.mark.slow
def test_cli_column_torch_free(tiny_bundle: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hau.test.conll").write_text(GOLD)
    base = ["experiment", "-b", str(tiny_bundle), "--data", str(data), "--langs", "hau"]
    done = run_cli_torch_free(
        [
            *base, "--methods", "ngram", "--column", "c90 = ngram min-confidence=0.9",
            "--column", "short = ngram max-len=1", "-o", str(tmp_path / "out"),
            "--intra-threads", "1",
        ]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("| language | ngram | c90 | short |")
    bad = run_cli_torch_free([*base, "--column", "x = ngram maxlen=2", "-o", str(tmp_path / "b")])
    assert bad.returncode == 2 and bad.stderr.startswith("xner: error:")
    assert "max-len" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_a_column_may_change_an_option_other_options_derive_from() -> None:
    # back-translation resolves its inner method's options from back_translation_with: a column
    # that changes the inner method gets that method's options (a regression: the defaults'
    # HeuristicOptions were handed to ngram)
    base, options = parse_column("bt = back-translation back-translation-with=ngram").resolve()
    assert base == "back-translation" and isinstance(options.inner_options, NgramOptions)
    base, options = parse_column("e = ensemble ensemble-with=heuristic").resolve()
    assert base == "ensemble" and options.ensemble_with == "heuristic"
