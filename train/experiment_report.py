"""What ``xner experiment --train --vary sources`` produces: one :class:`TrainRun` per trained
tagger, the spread of F1 per setting and number of sources, the files they are written to.

:meth:`TrainVaryResult.stats` gives, per setting (plain, adversarial) and number of sources, the
mean, sample standard deviation, min and max of F1 over every (subset, seed) run, with the
statistics of ``--vary`` (:func:`~xner.runtime.experiment.vary_report.size_stats`);
:func:`write_tables` writes Markdown, CSV (one row per size, one per run) and JSON, each
atomically, and :func:`write_chart` the PNG (:func:`~xner.runtime.experiment.vary_report.
write_size_chart`: a line per setting, mean +- sd as a band). :mod:`xner.train.experiment` runs
the experiment.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xner.runtime.evaluate import EvaluationResult
from xner.runtime.experiment.vary_report import (
    SizeStats,
    SubsetScore,
    csv_text,
    size_stats,
    stats_markdown,
    write_size_chart,
)
from xner.runtime.files.atomic import atomic_write
from xner.runtime.version import __version__

__all__ = [
    "ADVERSARIAL",
    "FORMAT",
    "PLAIN",
    "RUN_COLUMNS",
    "STATS_COLUMNS",
    "TRAIN_VARY_FILES",
    "ProjectedSource",
    "TrainRun",
    "TrainVaryResult",
    "write_chart",
    "write_tables",
]

PLAIN, ADVERSARIAL = "plain", "adversarial"
"""The settings' names in the tables."""
TRAIN_VARY_FILES = {
    "markdown": "train_vary.md",
    "csv": "train_vary.csv",
    "runs": "train_vary_runs.csv",
    "json": "train_vary.json",
    "chart": "train_vary.png",
}
"""The files of ``xner experiment --train --vary sources``, by kind."""
STATS_COLUMNS = ("setting", "size", "runs", "mean_f1", "sd_f1", "min_f1", "max_f1")
RUN_COLUMNS = (
    "setting", "size", "sources", "seed", "steps", "precision", "recall", "f1", "gold",
    "predicted", "correct", "sentences", "seconds",
)  # fmt: skip
FORMAT = "xner-experiment-train-vary"


@dataclass(frozen=True)
class ProjectedSource:
    """One source carried into the target: the projected file, the sentences read, those
    written (the others failed to translate), the entities projected, and whether it came from
    the cache of an earlier run."""

    code: str
    lang: str
    path: Path
    sentences: int
    written: int
    entities: int
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "lang": self.lang,
            "path": str(self.path),
            "sentences": self.sentences,
            "written": self.written,
            "entities": self.entities,
        }


@dataclass(frozen=True)
class TrainRun:
    """One trained tagger scored: its setting (plain or adversarial), sources (codes, in source
    order), seed, steps run, evaluation and seconds (training and scoring)."""

    setting: str
    sources: tuple[str, ...]
    seed: int
    steps: int
    evaluation: EvaluationResult
    seconds: float

    @property
    def key(self) -> tuple[str, tuple[str, ...], int]:
        return self.setting, self.sources, self.seed

    @property
    def f1(self) -> float:
        return self.evaluation.overall.f1

    def row(self) -> dict[str, Any]:
        """The row of ``train_vary_runs.csv`` (:data:`RUN_COLUMNS`)."""
        return {
            "setting": self.setting,
            "size": len(self.sources),
            "sources": "+".join(self.sources),
            "seed": self.seed,
            "steps": self.steps,
            **self.evaluation.overall.to_dict(),
            "sentences": self.evaluation.sentences,
            "seconds": round(self.seconds, 2),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "sources": list(self.sources),
            "seed": self.seed,
            "steps": self.steps,
            "seconds": round(self.seconds, 4),
            "f1": self.f1,
            "evaluation": self.evaluation.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainRun:
        """The run :meth:`to_dict` gave (its figures computed again from the counts); KeyError,
        TypeError or ValueError for a malformed one."""
        score = SubsetScore.from_dict(
            {"lang": data["setting"], "voters": data["sources"], "evaluation": data["evaluation"]}
        )
        return cls(
            score.lang,
            score.voters,
            int(data["seed"]),
            int(data["steps"]),
            score.evaluation,
            float(data["seconds"]),
        )


# --- the result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainVaryResult:
    """The experiment: ``runs`` in plan order (size, subset, seed, setting); ``settings`` and
    ``bundle``: what was run with what; ``projected``: per source, what its projection gave;
    ``files``: the files written; ``complete``: False while runs are missing."""

    sources: tuple[str, ...]
    runs: tuple[TrainRun, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    bundle: Mapping[str, Any] = field(default_factory=dict)
    projected: tuple[ProjectedSource, ...] = ()
    files: Mapping[str, Path] = field(default_factory=dict)
    complete: bool = True

    def stats(self) -> list[SizeStats]:
        """Per setting (plain, then adversarial), per number of sources: the spread of F1 over
        every (subset, seed) run (:func:`~xner.runtime.experiment.vary_report.size_stats`;
        ``subsets`` counts the runs)."""
        rows: list[SizeStats] = []
        for setting in (PLAIN, ADVERSARIAL):
            mine = [(run.sources, run.f1) for run in self.runs if run.setting == setting]
            if mine:
                rows.extend(size_stats(setting, mine))
        return rows

    def markdown(self, digits: int = 1) -> str:
        """A Markdown table of F1 x 100: a row per setting and number of sources."""
        return stats_markdown(self.stats(), ("setting", "sources", "runs"), digits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "xner_version": __version__,
            "complete": self.complete,
            "settings": dict(self.settings),
            "bundle": dict(self.bundle),
            "sources": list(self.sources),
            "projected": [p.to_dict() for p in self.projected],
            "stats": [_stats_row(row) for row in self.stats()],
            "runs": [run.to_dict() for run in self.runs],
        }


def _stats_row(row: SizeStats) -> dict[str, Any]:
    """The row of ``train_vary.csv`` (:data:`STATS_COLUMNS`); F1 as fractions in [0, 1]."""
    return {
        "setting": row.lang,
        "size": row.size,
        "runs": row.subsets,
        "mean_f1": row.mean,
        "sd_f1": row.sd,
        "min_f1": row.min,
        "max_f1": row.max,
    }


def write_tables(result: TrainVaryResult, files: Mapping[str, Path], complete: bool) -> None:
    """The Markdown, the two CSVs and the JSON of ``result``, each atomically."""
    result = dataclasses.replace(result, complete=complete)
    with atomic_write(files["csv"]) as handle:
        handle.write(csv_text((_stats_row(row) for row in result.stats()), STATS_COLUMNS))
    with atomic_write(files["runs"]) as handle:
        handle.write(csv_text((run.row() for run in result.runs), RUN_COLUMNS))
    with atomic_write(files["json"]) as handle:
        json.dump(result.to_dict(), handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    with atomic_write(files["markdown"]) as handle:
        handle.write(f"# xner experiment --train --vary sources\n\n{_caption(result)}\n\n")
        handle.write(result.markdown())
        handle.write("\n" + _projection_text(result) + "\n")


def _caption(result: TrainVaryResult) -> str:
    s = result.settings
    limit = s.get("limit")
    first = f"first {limit} " if limit else ""
    sample = s.get("subsets")
    how = (
        "every subset of each size"
        if sample is None
        else f"per size every subset, or a sample of {sample} (seed {s.get('sample_seed')}) "
        "where there are more"
    )
    projection = s.get("projection") or {}
    incomplete = "" if result.complete else " (incomplete run)"
    return (
        f"Entity F1 x 100 (seqeval, exact match) on the {first}sentences of "
        f"{s.get('target_test')}; ignored "
        f"labels: {', '.join(s.get('ignore', ())) or 'none'}. Each run fine-tunes "
        f"{s.get('model')} for {s.get('max_steps')} steps (batch {s.get('batch_size')}, lr "
        f"{s.get('lr')}, no dev file) on the {first}gold sentences of each source in a subset "
        f"of the sources ({', '.join(result.sources)}), "
        f"translate-trained into {s.get('target')} with {projection.get('method')}, sampled "
        f"equally; {how}; seeds {', '.join(str(x) for x in s.get('seeds', ()))}. {ADVERSARIAL}: "
        "with a language discriminator behind a gradient-reversal layer that tells the "
        "projected data (by source language) from the target test sentences' words "
        "(unlabelled). sd: sample standard deviation over subsets x seeds (- for one run)."
        f"{incomplete}"
    )


def _projection_text(result: TrainVaryResult) -> str:
    parts = [
        f"{p.code} {p.written}/{p.sentences} sentences, {p.entities} entities"
        for p in result.projected
    ]
    seconds = sum(run.seconds for run in result.runs)
    return (
        f"Projected (translate-train, each source once): {'; '.join(parts)}. "
        f"{len(result.runs)} runs, {seconds:.1f} s of training and scoring."
    )


def write_chart(result: TrainVaryResult, path: Path) -> bool:
    """F1 x 100 against the number of sources, a line per setting with its sd band."""
    return write_size_chart(
        result.stats(),
        [PLAIN, ADVERSARIAL],
        path,
        xlabel="number of sources",
        ylabel="F1 x 100 (band: mean +- sd over runs)",
        title=f"xner experiment --train --vary sources ({result.settings.get('target')})",
    )
