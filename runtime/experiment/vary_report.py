"""What ``xner experiment --vary`` produces: F1 per number of pivots (or sources), its spread,
the cost, and the files they are written to.

:class:`VaryResult` holds one :class:`SubsetScore` per language and subset of voters (pivots or
sources) and one :class:`VoterCost` per language. :meth:`VaryResult.stats` gives, per language
and per subset size, the mean, minimum, maximum and **sample** standard deviation (``n - 1``) of
the subsets' F1 (:func:`spread`), and the AVERAGE row: per subset, the F1 averaged over the
languages, then the same statistics over those averages (so its spread is the spread of the
language-averaged F1 over subsets, not the mean of the languages' spreads).
:func:`write_vary_tables` writes Markdown, CSV (one row per size, and one per subset) and JSON;
:func:`write_vary_chart` a PNG line chart (matplotlib, the ``plot`` extra): F1 against the number
of voters, a line per language and a thicker one for the average, mean +- one sample standard
deviation as a band. :mod:`xner.runtime.experiment.vary` runs the experiment.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xner.runtime.evaluate import EvaluationResult, Scores
from xner.runtime.files.atomic import atomic_write
from xner.runtime.version import __version__

__all__ = [
    "AVERAGE",
    "STATS_COLUMNS",
    "SUBSET_COLUMNS",
    "VARY_FILES",
    "SizeStats",
    "SubsetScore",
    "VaryResult",
    "VoterCost",
    "csv_text",
    "size_stats",
    "spread",
    "stats_markdown",
    "write_size_chart",
    "write_vary_chart",
    "write_vary_tables",
]

logger = logging.getLogger("xner")

AVERAGE = "AVERAGE"
"""The row of the language-averaged F1."""
VARY_FILES = {
    "markdown": "vary.md",
    "csv": "vary.csv",
    "subsets": "vary_subsets.csv",
    "json": "vary.json",
    "chart": "vary.png",
}
"""The files of an experiment with ``--vary``, by kind (named apart from a plain experiment's)."""
STATS_COLUMNS = ("lang", "size", "subsets", "mean_f1", "sd_f1", "min_f1", "max_f1")
SUBSET_COLUMNS = (
    "lang", "size", "voters", "precision", "recall", "f1", "gold", "predicted", "correct",
    "sentences",
)  # fmt: skip
FORMAT = "xner-experiment-vary"


def spread(values: Sequence[float]) -> tuple[float, float | None, float, float]:
    """``(mean, sample standard deviation, min, max)`` of ``values`` (not empty); the standard
    deviation divides by ``n - 1`` and is None for a single value (undefined)."""
    if not values:
        raise ValueError("no values")
    array = np.asarray(values, dtype=np.float64)
    sd = float(array.std(ddof=1)) if len(array) > 1 else None
    return float(array.mean()), sd, float(array.min()), float(array.max())


@dataclass(frozen=True)
class SubsetScore:
    """One language scored with the combination of one subset of voters (in voter order)."""

    lang: str
    voters: tuple[str, ...]
    evaluation: EvaluationResult

    @property
    def size(self) -> int:
        return len(self.voters)

    @property
    def f1(self) -> float:
        return self.evaluation.overall.f1

    def row(self) -> dict[str, Any]:
        """The row of ``vary_subsets.csv`` (:data:`SUBSET_COLUMNS`; voters joined by ``+``)."""
        return {
            "lang": self.lang,
            "size": self.size,
            "voters": "+".join(self.voters),
            **self.evaluation.overall.to_dict(),
            "sentences": self.evaluation.sentences,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "voters": list(self.voters),
            "f1": self.f1,
            "evaluation": self.evaluation.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubsetScore:
        """The score that :meth:`to_dict` gave, its figures computed again from the counts.
        Raises KeyError, TypeError or ValueError for a malformed one."""
        evaluation = data["evaluation"]
        overall = _scores(evaluation["overall"])
        per_type = {str(name): _scores(s) for name, s in evaluation["per_type"].items()}
        ratio = overall.predicted / overall.gold if overall.gold else None
        return cls(
            str(data["lang"]),
            tuple(str(voter) for voter in data["voters"]),
            EvaluationResult(overall, per_type, ratio, int(evaluation["sentences"])),
        )


def _scores(counts: Mapping[str, Any]) -> Scores:
    return Scores.from_counts(int(counts["gold"]), int(counts["predicted"]), int(counts["correct"]))


@dataclass(frozen=True)
class VoterCost:
    """What one language cost: ``prepare_seconds``, per voter, the time of its one run
    (translate-test through that pivot, or the projection from that source) that every subset
    reuses; ``combine_seconds``: every subset combined and scored; ``failed``: per voter, the
    sentences it could not label (they give no vote)."""

    lang: str
    prepare_seconds: Mapping[str, float]
    combine_seconds: float
    failed: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lang": self.lang,
            "prepare_seconds": {k: round(v, 4) for k, v in self.prepare_seconds.items()},
            "combine_seconds": round(self.combine_seconds, 4),
            "failed": dict(self.failed),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VoterCost:
        return cls(
            str(data["lang"]),
            {str(k): float(v) for k, v in data["prepare_seconds"].items()},
            float(data["combine_seconds"]),
            {str(k): int(v) for k, v in data["failed"].items()},
        )


@dataclass(frozen=True)
class SizeStats:
    """The F1 of the ``subsets`` subsets of ``size`` voters for ``lang`` (or :data:`AVERAGE`):
    mean, sample standard deviation (None for one subset), min and max."""

    lang: str
    size: int
    subsets: int
    mean: float
    sd: float | None
    min: float
    max: float

    def row(self) -> dict[str, Any]:
        """The row of ``vary.csv`` (:data:`STATS_COLUMNS`); figures are fractions in [0, 1]."""
        return {
            "lang": self.lang,
            "size": self.size,
            "subsets": self.subsets,
            "mean_f1": self.mean,
            "sd_f1": self.sd,
            "min_f1": self.min,
            "max_f1": self.max,
        }


@dataclass(frozen=True)
class VaryResult:
    """The experiment: ``scores`` in language order, then subset order (by size, then the
    order of the subsets drawn).

    ``vary``: ``pivots`` or ``sources``; ``langs``: the languages scored (for ``sources``, the
    target); ``voters``: the pivots or sources, in order; ``costs``: one per language done;
    ``settings``, ``bundle``: what was run with what; ``files``: the files written;
    ``complete``: False while languages are still missing.
    """

    vary: str
    langs: tuple[str, ...]
    voters: tuple[str, ...]
    scores: tuple[SubsetScore, ...]
    costs: tuple[VoterCost, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    bundle: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, Path] = field(default_factory=dict)
    complete: bool = True

    def done(self) -> list[str]:
        """The languages scored so far, in order."""
        scored = {score.lang for score in self.scores}
        return [lang for lang in self.langs if lang in scored]

    def averaged(self) -> dict[tuple[str, ...], float]:
        """Per subset that every language done was scored with, its F1 averaged over them."""
        done = self.done()
        f1: dict[tuple[str, ...], dict[str, float]] = {}
        for score in self.scores:
            f1.setdefault(score.voters, {})[score.lang] = score.f1
        return {
            voters: sum(by_lang[lang] for lang in done) / len(done)
            for voters, by_lang in f1.items()
            if done and all(lang in by_lang for lang in done)
        }

    def stats(self) -> list[SizeStats]:
        """Per language done, then :data:`AVERAGE`: per subset size, the spread of F1."""
        rows: list[SizeStats] = []
        for lang in self.done():
            mine = [(s.voters, s.f1) for s in self.scores if s.lang == lang]
            rows.extend(size_stats(lang, mine))
        if self.done():
            rows.extend(size_stats(AVERAGE, list(self.averaged().items())))
        return rows

    def cost(self) -> dict[str, Any]:
        """The cost figures (seconds, over the languages done): ``prepare`` (each voter's one
        run, summed: what N separate single-voter runs spend on their engines), ``combine``
        (every subset combined and scored), ``experiment`` (their sum), ``without_cache`` (what
        running each subset's voters again for every subset would have spent on preparation,
        from the measured per-voter times), ``subsets`` (subsets scored per language)."""
        prepare = sum(sum(c.prepare_seconds.values()) for c in self.costs)
        combine = sum(c.combine_seconds for c in self.costs)
        by_lang = {c.lang: c for c in self.costs}
        without = sum(
            sum(by_lang[s.lang].prepare_seconds.get(voter, 0.0) for voter in s.voters)
            for s in self.scores
            if s.lang in by_lang
        )
        subsets = len({s.voters for s in self.scores})
        return {
            "prepare": prepare,
            "combine": combine,
            "experiment": prepare + combine,
            "without_cache": without,
            "subsets": subsets,
            "voters": len(self.voters),
        }

    def markdown(self, digits: int = 1) -> str:
        """A Markdown table of F1 x 100: a row per language (then AVERAGE) and size, with the
        number of subsets, mean, sample standard deviation (``-`` for one subset), min, max."""
        return stats_markdown(self.stats(), ("language", self.vary, "subsets"), digits)

    def cost_text(self) -> str:
        """One paragraph: the measured cost against separate single-voter runs."""
        c = self.cost()
        return (
            f"Cost: {c['experiment']:.1f} s in all = {c['prepare']:.1f} s for the {c['voters']} "
            f"single-{self.vary[:-1]} runs, each (sentence, {self.vary[:-1]}) prepared once and "
            f"cached (what {c['voters']} separate runs spend on their engines), + "
            f"{c['combine']:.2f} s combining and scoring the {c['subsets']} subsets; preparing "
            f"every subset's {self.vary} again would have taken about {c['without_cache']:.1f} s."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: format, settings, bundle, the statistics, the cost and every subset."""
        return {
            "format": FORMAT,
            "xner_version": __version__,
            "complete": self.complete,
            "vary": self.vary,
            "settings": dict(self.settings),
            "bundle": dict(self.bundle),
            "langs": list(self.langs),
            "voters": list(self.voters),
            "stats": [row.row() for row in self.stats()],
            "cost": {
                **{k: round(v, 4) if isinstance(v, float) else v for k, v in self.cost().items()},
                "languages": [c.to_dict() for c in self.costs],
            },
            "subsets": [score.to_dict() for score in self.scores],
        }


def stats_markdown(
    rows: Iterable[SizeStats], headers: tuple[str, str, str], digits: int = 1
) -> str:
    """A Markdown table of F1 x 100, a row per :class:`SizeStats`: its ``lang``, ``size`` and
    ``subsets`` under ``headers`` (``("language", "pivots", "subsets")``), then mean, sample
    standard deviation (``-`` for one value), min and max."""
    first, unit, count = headers
    lines = [
        f"| {first} | {unit} | {count} | mean F1 | sd | min | max |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        sd = "-" if row.sd is None else f"{100 * row.sd:.{digits}f}"
        figures = [f"{100 * x:.{digits}f}" for x in (row.mean, row.min, row.max)]
        lines.append(
            f"| {row.lang} | {row.size} | {row.subsets} | {figures[0]} | {sd} | "
            f"{figures[1]} | {figures[2]} |"
        )
    return "\n".join(lines) + "\n"


def size_stats(lang: str, f1: Iterable[tuple[tuple[str, ...], float]]) -> list[SizeStats]:
    """Per number of voters (``len`` of each tuple), the :func:`spread` of the F1 values given
    with them, as :class:`SizeStats` of ``lang`` (any row name), by increasing size; a subset
    given several times (several seeds) counts each time."""
    sizes: dict[int, list[float]] = {}
    for voters, value in f1:
        sizes.setdefault(len(voters), []).append(value)
    rows = []
    for size in sorted(sizes):
        mean, sd, low, high = spread(sizes[size])
        rows.append(SizeStats(lang, size, len(sizes[size]), mean, sd, low, high))
    return rows


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header of ``columns`` (None written as an empty cell)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


def write_vary_tables(result: VaryResult, files: Mapping[str, Path], complete: bool) -> None:
    """Write the Markdown, the two CSVs and the JSON of ``result`` (each atomically)."""
    result = dataclasses.replace(result, complete=complete)
    with atomic_write(files["csv"]) as handle:
        handle.write(csv_text((row.row() for row in result.stats()), STATS_COLUMNS))
    with atomic_write(files["subsets"]) as handle:
        handle.write(csv_text((score.row() for score in result.scores), SUBSET_COLUMNS))
    with atomic_write(files["json"]) as handle:
        json.dump(result.to_dict(), handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    with atomic_write(files["markdown"]) as handle:
        handle.write(f"# xner experiment --vary {result.vary}\n\n{_caption(result)}\n\n")
        handle.write(result.markdown())
        handle.write(f"\n{result.cost_text()}\n")


def _caption(result: VaryResult) -> str:
    s = result.settings
    limit = s.get("limit")
    ignored = ", ".join(s.get("ignore", ())) or "none"
    combine = s.get("combine") or {}
    votes = combine.get("min_votes")
    rule = f"{combine.get('rule', 'vote')}"
    if rule != "union":
        rule += f", min votes {votes if votes is not None else 'a strict majority'}"
    sample = s.get("subsets")
    how = (
        "every subset of each size"
        if sample is None
        else f"per size, every subset, or a sample of {sample} (seed {s.get('seed')}) where "
        "there are more"
    )
    where = (
        "annotation projection of each source's gold labels onto the target's gold sentence "
        "(human translations, no translation step)"
        if result.vary == "sources"
        else "translate-test through each pivot"
    )
    incomplete = "" if result.complete else " (incomplete run)"
    return (
        f"Entity F1 x 100 (seqeval, exact match) on the {s.get('split')} split"
        f"{f', first {limit} sentences per language' if limit else ''}; ignored labels: "
        f"{ignored}. {where.capitalize()} with {s.get('method')}, the {result.vary} combined by "
        f"{rule}; {result.vary} {', '.join(result.voters)}: {how}. sd: sample standard "
        f"deviation over the subsets (- for one subset); {AVERAGE}: per subset, F1 averaged over "
        f"the languages, then its spread over the subsets.{incomplete}"
    )


def write_vary_chart(result: VaryResult, path: Path) -> bool:
    """F1 x 100 against the number of voters: a line per language and a thicker one for
    :data:`AVERAGE`, each with mean +- one sample standard deviation as a band. False (and a
    warning) when matplotlib is not installed."""
    return write_size_chart(
        result.stats(),
        [*result.done(), AVERAGE],
        path,
        xlabel=f"number of {result.vary}",
        ylabel="F1 x 100 (band: mean +- sample sd over subsets)",
        title=f"xner experiment --vary {result.vary} ({result.settings.get('method')})",
        thick=AVERAGE,
    )


def write_size_chart(
    rows: Sequence[SizeStats],
    lines: Sequence[str],
    path: Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    thick: str | None = None,
) -> bool:
    """F1 x 100 against the size: a line per name of ``lines`` (the ``lang`` of its ``rows``;
    ``thick``: drawn thicker, in black), each with mean +- one sample standard deviation as a
    band, written as a PNG to ``path``. False (and a warning) when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning(
            "chart skipped: matplotlib is not installed (pip install 'xner[plot]' to get %s)",
            path.name,
        )
        return False
    figure = Figure(figsize=(6.4, 4.2))
    axes = figure.subplots()
    top = 0.0
    for lang in lines:
        mine = [row for row in rows if row.lang == lang]
        if not mine:
            continue
        x = np.array([row.size for row in mine])
        mean = 100 * np.array([row.mean for row in mine])
        sd = 100 * np.array([0.0 if row.sd is None else row.sd for row in mine])
        average = lang == thick
        (line,) = axes.plot(
            x,
            mean,
            marker="o",
            linewidth=2.6 if average else 1.4,
            color="black" if average else None,
            label=lang,
        )
        axes.fill_between(
            x, np.maximum(mean - sd, 0), mean + sd, color=line.get_color(), alpha=0.15
        )
        top = max(top, float((mean + sd).max()))
    sizes = sorted({row.size for row in rows}) or [1]
    axes.set_xticks(sizes)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_ylim(0, min(100.0, max(5.0, 1.15 * top)))  # the data's range: small gaps show
    axes.set_title(title)
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120)
    return True
