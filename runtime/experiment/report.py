"""What an experiment produces: its cells, the result grid, and the files it is written to.

:class:`ExperimentResult` holds one :class:`ExperimentCell` per language and method;
:func:`write_tables` writes it as CSV, JSON and Markdown, :func:`write_chart` as a PNG of grouped
bars (matplotlib, the ``plot`` extra). :mod:`xner.runtime.experiment.run` runs the grid.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xner.runtime.evaluate import EvaluationResult, Scores
from xner.runtime.experiment.config import ROUTED
from xner.runtime.files.atomic import atomic_write
from xner.runtime.version import __version__

logger = logging.getLogger("xner")

RESULT_FILES = {
    "csv": "results.csv",
    "json": "results.json",
    "markdown": "results.md",
    "chart": "results.png",
}
CSV_COLUMNS = (
    "lang", "method", "precision", "recall", "f1", "gold", "predicted", "correct",
    "projection_ratio", "sentences", "seconds",
)  # fmt: skip
ROUTE_COLUMNS = ("chosen",)
"""The CSV column added when the experiment routes: the method each routed row applied."""


# --- cells and grid -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExperimentCell:
    """One language and method: its evaluation and what it cost.

    ``lang``: the folder's language code (``hau``); ``code``: its NLLB code (``hau_Latn``; None
    when it was not resolved: model transfer only). ``seconds``: wall time of the method as if
    run alone; ``shared_seconds``: the part of it spent translating, tagging and aligning the
    language, shared by every projection method of that language (0 for model transfer; it
    also holds the first projection method's own projection, a few milliseconds).
    ``failed``: sentences the pipeline could not label (an empty translation, an engine failure;
    scored as all ``O``, and logged); ``truncated``: translations that reached the decoding
    limit. A routed cell (method ``routed``) is the cell of the method ``chosen`` on the routing
    split, where every method scored ``route_f1`` (F1 by method); None elsewhere.
    """

    lang: str
    code: str | None
    method: str
    evaluation: EvaluationResult
    seconds: float
    shared_seconds: float = 0.0
    failed: int = 0
    truncated: int = 0
    chosen: str | None = None
    route_f1: Mapping[str, float] | None = None

    @property
    def f1(self) -> float:
        return self.evaluation.overall.f1

    def row(self) -> dict[str, Any]:
        """The CSV row (:data:`CSV_COLUMNS`, and :data:`ROUTE_COLUMNS` for a routed cell);
        figures are fractions in ``[0, 1]``."""
        routing = {} if self.chosen is None else {"chosen": self.chosen}
        return {
            "lang": self.lang,
            "method": self.method,
            **self.evaluation.overall.to_dict(),  # precision, recall, f1, gold, predicted, correct
            "projection_ratio": self.evaluation.projection_ratio,
            "sentences": self.evaluation.sentences,
            "seconds": round(self.seconds, 3),
            **routing,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: language, code, method, timings and the full evaluation."""
        fields = ("lang", "code", "method", "seconds", "shared_seconds", "failed", "truncated")
        routing = {}
        if self.chosen is not None:
            routing = {"chosen": self.chosen, "route_f1": dict(self.route_f1 or {})}
        return {
            **{name: getattr(self, name) for name in fields},
            "evaluation": self.evaluation.to_dict(),
            **routing,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentCell:
        """The cell that :meth:`to_dict` gave (a resumed run keeps the languages done); its
        figures are computed again from the counts, as the evaluation made them. Raises
        KeyError, TypeError or ValueError for a malformed cell."""
        evaluation = data["evaluation"]
        overall = _scores(evaluation["overall"])
        per_type = {str(name): _scores(s) for name, s in evaluation["per_type"].items()}
        ratio = overall.predicted / overall.gold if overall.gold else None
        code = data["code"]
        chosen = data.get("chosen")
        route_f1 = data.get("route_f1")
        return cls(
            str(data["lang"]),
            None if code is None else str(code),
            str(data["method"]),
            EvaluationResult(overall, per_type, ratio, int(evaluation["sentences"])),
            float(data["seconds"]),
            float(data["shared_seconds"]),
            int(data["failed"]),
            int(data["truncated"]),
            None if chosen is None else str(chosen),
            None if route_f1 is None else {str(k): float(v) for k, v in route_f1.items()},
        )


def _figure(cell: ExperimentCell, digits: int) -> str:
    figure = f"{100 * cell.f1:.{digits}f}"
    return figure if cell.chosen is None else f"{figure} ({cell.chosen})"


def _scores(counts: Mapping[str, Any]) -> Scores:
    return Scores.from_counts(int(counts["gold"]), int(counts["predicted"]), int(counts["correct"]))


@dataclass(frozen=True)
class ExperimentResult:
    """The grid: ``cells`` in language order, then method order.

    ``langs`` and ``methods``: the grid's rows and columns; ``settings``: what was run (data,
    split, limit, ignored labels, engine and projection options); ``bundle``: where the models
    came from; ``files``: the files written (``csv``, ``json``, ``markdown``, ``chart`` when
    matplotlib was available); ``complete``: False while languages are still missing.
    """

    langs: tuple[str, ...]
    methods: tuple[str, ...]
    cells: tuple[ExperimentCell, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    bundle: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, Path] = field(default_factory=dict)
    complete: bool = True

    def cell(self, lang: str, method: str) -> ExperimentCell:
        """The cell of ``lang`` and ``method`` (KeyError when it was not run)."""
        for cell in self.cells:
            if cell.lang == lang and cell.method == method:
                return cell
        raise KeyError((lang, method))

    def averages(self) -> dict[str, float]:
        """Per method, the mean F1 over the languages done (the tables' AVERAGE row)."""
        done = {cell.lang for cell in self.cells}
        return {
            method: sum(c.f1 for c in self.cells if c.method == method) / len(done)
            for method in self.methods
            if done
        }

    def rows(self) -> list[dict[str, Any]]:
        """One CSV row per cell (:meth:`ExperimentCell.row`)."""
        return [cell.row() for cell in self.cells]

    def markdown(self, digits: int = 1) -> str:
        """A Markdown table of F1 x 100: a row per language, a column per method, then AVERAGE.
        A routed cell names the method it applied: ``41.2 (ngram)``."""
        header = ["language", *self.methods]
        lines = [
            "| " + " | ".join(header) + " |",
            "| --- |" + " ---: |" * len(self.methods),
        ]
        done = [lang for lang in self.langs if any(c.lang == lang for c in self.cells)]
        for lang in done:
            figures = [_figure(self.cell(lang, m), digits) for m in self.methods]
            lines.append("| " + " | ".join([lang, *figures]) + " |")
        if done:
            averages = self.averages()
            figures = [f"{100 * averages[m]:.{digits}f}" for m in self.methods]
            lines.append("| " + " | ".join(["AVERAGE", *figures]) + " |")
        return "\n".join(lines) + "\n"

    def routed(self) -> bool:
        """Whether a cell was routed (the tables then name the method each applied)."""
        return any(cell.chosen is not None for cell in self.cells)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: format, settings, bundle, averages and every cell."""
        return {
            "format": "xner-experiment",
            "xner_version": __version__,
            "complete": self.complete,
            "settings": dict(self.settings),
            "bundle": dict(self.bundle),
            "langs": list(self.langs),
            "methods": list(self.methods),
            "average_f1": self.averages(),
            "cells": [cell.to_dict() for cell in self.cells],
        }


def write_tables(result: ExperimentResult, files: Mapping[str, Path], complete: bool) -> None:
    result = dataclasses.replace(result, complete=complete)
    buffer = io.StringIO()
    columns = (*CSV_COLUMNS, *(ROUTE_COLUMNS if result.routed() else ()))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in result.rows():
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    with atomic_write(files["csv"]) as handle:
        handle.write(buffer.getvalue())
    with atomic_write(files["json"]) as handle:
        json.dump(result.to_dict(), handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    settings = result.settings
    ignored = ", ".join(settings.get("ignore", ())) or "none"
    limit = settings.get("limit")
    caption = (
        f"Entity F1 x 100 (seqeval, exact match) on the {settings.get('split')} split"
        f"{f', first {limit} sentences per language' if limit else ''}; ignored labels: "
        f"{ignored}; AVERAGE: mean over languages.{'' if complete else ' (incomplete run)'}"
    )
    route_by = settings.get("route_by")
    if route_by:
        caption += (
            f" {ROUTED}: per language, the method with the best F1 on the {route_by} "
            "split (named in brackets), scored here."
        )
    with atomic_write(files["markdown"]) as handle:
        handle.write(f"# xner experiment\n\n{caption}\n\n{result.markdown()}")


def write_chart(result: ExperimentResult, path: Path) -> bool:
    """Grouped bars of F1 x 100 (a group per language and AVERAGE, a bar per method)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning(
            "chart skipped: matplotlib is not installed (pip install 'xner[plot]' to get %s)",
            path.name,
        )
        return False
    groups = [*result.langs, "AVERAGE"]
    averages = result.averages()
    width = 0.8 / len(result.methods)
    figure = Figure(figsize=(max(6.0, 0.9 * len(groups) * max(1, len(result.methods)) / 2), 4))
    axes = figure.subplots()
    x = np.arange(len(groups))
    for k, method in enumerate(result.methods):
        values = [100 * result.cell(lang, method).f1 for lang in result.langs]
        values.append(100 * averages[method])
        axes.bar(x + (k - (len(result.methods) - 1) / 2) * width, values, width, label=method)
    axes.set_xticks(x, groups)
    axes.set_ylim(0, 100)
    axes.set_ylabel("F1 x 100")
    axes.set_title(f"xner experiment ({result.settings.get('split', 'test')} split)")
    axes.legend(fontsize="small")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120)
    return True
