"""The settings of an experiment as one frozen dataclass, checked once, when it is made.

:class:`ExperimentConfig` holds what :func:`~xner.runtime.experiment.run.run_experiment` runs:
the folder of gold files and its split, the languages, the methods (:func:`experiment_methods`),
the labels ignored, the sentence limit, the translator's beam, the aligner's method and the
projection methods' options. Making one checks every value that needs neither the folder nor
the bundle (a bad one raises :class:`~xner.runtime.errors.ConfigError` naming the setting and,
for a choice, the valid values); :meth:`~ExperimentConfig.gold_files` checks the folder and the
languages; the run checks the rest against the bundle before any model is built.
:meth:`~ExperimentConfig.canonical` is the config's part of the ``settings`` of
``results.json``, which a resumed run must match.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xner.runtime.alignment.methods import get_method
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.experiment.columns import Column, parse_column
from xner.runtime.names import split_names
from xner.runtime.pipelines.configs import positive
from xner.runtime.projection.registry import (
    available_methods,
    available_variants,
    method_info,
    resolve_method,
)

__all__ = [
    "ALL_LANGUAGES",
    "MODEL_TRANSFER",
    "ROUTED",
    "ROUTE_CHOICES",
    "ExperimentConfig",
    "experiment_methods",
]

MODEL_TRANSFER = "model-transfer"
"""The baseline method: the bundle's multilingual tagger on the target text directly."""
ALL_LANGUAGES = "all"
"""The language list that takes every file of the split."""
ROUTED = "routed"
"""The column of a routed experiment: per language, the method that won on the routing split."""
ROUTE_CHOICES = ("dev",)
"""The splits an experiment can route by (``route_by``)."""


def experiment_methods() -> tuple[str, ...]:
    """Valid experiment methods: the projection methods that project translate-test's pairs
    (not those that translate themselves, such as translate-train's ``markers``), their
    variants and ``model-transfer``."""
    methods = [name for name in available_methods() if not method_info(name).translates]
    variants = [name for name in available_variants() if resolve_method(name)[0] in methods]
    return (*methods, *variants, MODEL_TRANSFER)


@dataclass(frozen=True)
class ExperimentConfig:
    """What an experiment runs: ``langs`` x ``methods`` on ``data_dir/<lang>.<split>.conll``.

    ``data_dir``: a folder laid out like MasakhaNER 2.0 (kept as a :class:`Path`). ``langs``:
    file codes of the folder (``hau``, ``yor``), or ``["all"]`` for every file of the split (a
    comma-separated string is split; repeats are left out). ``methods``: see
    :func:`experiment_methods` (same form). ``split``: the files' split (``test``, ``dev``).
    ``ignore``: entity types turned into O on both sides before scoring (``DATE``; published
    MasakhaNER results ignore MISC and DATE); those the tagger predicts are also dropped from the
    English entities before projection, so that they take no target words from the others.
    ``limit``: only the first ``limit`` sentences of each language (quick runs). ``beam_size``:
    the translator's beam (1: greedy). ``align_method``: the aligner's extraction method
    (``itermax``, ``argmax``, ``match``, ``softmax``). ``projection_options``: options per
    registered projection method (``{"heuristic": HeuristicOptions(...), "ngram": {"max_len":
    8}}``); a variant uses its method's options with its preset (``ngram-exact``: ``ngram``'s
    with ``exact=True``). ``route_by``: a split (``dev``) on which every method is also run, per
    language; the method with the best F1 there (ties: the first in ``methods``) is applied on
    ``split`` and reported as the column :data:`ROUTED` (None: no routing). ``columns``: more
    columns, each a method with options under a name (:class:`~xner.runtime.experiment.columns.
    Column` or its spec ``"ngram-c50 = ngram min-confidence=0.5"``); a column not named in
    ``methods`` is added after them.

    Resolved when made: :attr:`projections`, each translate-test method of ``methods`` with its
    registered method and options dataclass; :attr:`defined`, the columns by name.
    """

    data_dir: Path
    langs: Sequence[str]
    methods: Sequence[str]
    split: str = "test"
    ignore: Collection[str] = ()
    limit: int | None = None
    beam_size: int = 1
    align_method: str = "itermax"
    projection_options: Mapping[str, Any] | None = None
    route_by: str | None = None
    columns: Sequence[Column | str] = ()
    projections: Mapping[str, tuple[str, Any]] = field(init=False, repr=False, compare=False)
    defined: Mapping[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.limit is not None:
            positive("limit", self.limit)
        positive("beam_size", self.beam_size)
        get_method(self.align_method)  # an unknown one lists the methods
        columns = _columns(self.columns)
        methods = _names(self.methods)
        methods += tuple(name for name in columns if name not in methods)
        valid = (*experiment_methods(), *columns)
        if not methods:
            raise ConfigError(f"no method given; choose from {', '.join(valid)}")
        for method in methods:
            if method not in valid:
                raise unknown_choice("experiment method", method, valid)
        projections = _projections(methods, self.projection_options, columns)
        if self.route_by is not None:
            if self.route_by not in ROUTE_CHOICES:
                raise unknown_choice("split to route by", str(self.route_by), ROUTE_CHOICES)
            if self.route_by == self.split:
                raise ConfigError(
                    f"route_by {self.route_by} chooses the method on the {self.split} split "
                    "itself; score another split (--split test)"
                )
        for name, value in (
            ("data_dir", Path(self.data_dir)),
            ("langs", _names(self.langs)),
            ("methods", methods),
            ("ignore", _names(self.ignore)),
            ("projections", projections),
            ("defined", columns),
        ):
            object.__setattr__(self, name, value)

    @property
    def every_language(self) -> bool:
        """True when the languages are ``all``: those the translator lacks are left out (with a
        warning) rather than refused."""
        return tuple(self.langs) == (ALL_LANGUAGES,)

    @property
    def table_columns(self) -> tuple[str, ...]:
        """The methods, and :data:`ROUTED` when the experiment routes: the tables' columns."""
        return (*self.methods, *((ROUTED,) if self.route_by else ()))

    def route_files(self, langs: Sequence[str]) -> dict[str, Path]:
        """The gold file of each of ``langs`` in the ``route_by`` split (empty without routing);
        a ConfigError naming the languages whose file is missing."""
        if self.route_by is None:
            return {}
        files = {name: self.data_dir / f"{name}.{self.route_by}.conll" for name in langs}
        missing = [name for name, path in files.items() if not path.is_file()]
        if missing:
            names = ", ".join(f"{name}.{self.route_by}.conll" for name in missing)
            raise ConfigError(f"routing by {self.route_by} needs {names} in {self.data_dir}")
        return files

    def gold_files(self) -> dict[str, Path]:
        """The languages chosen, in order, each with its gold file. A ConfigError when the folder
        holds no file of the split (naming the splits it has) or a language has no file (listing
        those it has)."""
        available = _available(self.data_dir, self.split)
        if not self.langs:
            raise ConfigError(
                f"no language given; {self.data_dir} has {', '.join(available)} (or all)"
            )
        names = available if self.every_language else list(self.langs)
        for name in names:
            if name not in available:
                where = f"language in {self.data_dir} (split {self.split})"
                raise unknown_choice(where, name, available)
        return {name: self.data_dir / f"{name}.{self.split}.conll" for name in names}

    def canonical(self) -> dict[str, Any]:
        """The settings as written in ``results.json`` (``langs`` as given: the run writes the
        languages ``all`` resolved to; ``route_by`` only when the experiment routes)."""
        routing = {} if self.route_by is None else {"route_by": self.route_by}
        columns = {name: column.canonical() for name, column in self.defined.items()}
        return {
            "data_dir": str(self.data_dir),
            "split": self.split,
            "langs": list(self.langs),
            "methods": list(self.methods),
            "ignore": sorted(self.ignore),
            "limit": self.limit,
            "beam_size": self.beam_size,
            "align_method": self.align_method,
            "projection": {
                method: {"method": base, "options": dataclasses.asdict(options)}
                for method, (base, options) in self.projections.items()
            },
            **routing,
            **({"columns": columns} if columns else {}),
        }

    def min_confidence(self, method: str) -> float:
        """The confidence threshold of ``method``'s column (0 unless a column sets one)."""
        column = self.defined.get(method)
        return 0.0 if column is None else column.min_confidence


def _names(items: Collection[str] | str) -> tuple[str, ...]:
    """Names without repeats, in order (a string is split on commas: :func:`split_names`)."""
    return tuple(dict.fromkeys(split_names(items)))


def _columns(given: Sequence[Column | str]) -> dict[str, Column]:
    """The columns by name, specs parsed; a name taken twice or by a method is refused, and so
    is a method that translates itself (translate-train's ``markers``)."""
    if isinstance(given, str):
        given = [given]
    taken = set(experiment_methods()) | set(available_methods()) | set(available_variants())
    columns: dict[str, Column] = {}
    for item in given:
        column = item if isinstance(item, Column) else parse_column(item)
        if column.name in taken or column.name in columns or column.name == ROUTED:
            raise ConfigError(f"column name {column.name!r} is already a method or a column")
        base, _ = resolve_method(column.method)
        if method_info(base).translates:
            raise ConfigError(
                f"column {column.name!r}: {column.method} translates the sentences itself (a "
                "translate-train method); the experiment scores translate-test"
            )
        columns[column.name] = column
    return columns


def _projections(
    methods: Sequence[str],
    projection_options: Mapping[str, Any] | None,
    columns: Mapping[str, Column],
) -> dict[str, tuple[str, Any]]:
    given = dict(projection_options or {})
    projecting = [name for name in available_methods() if not method_info(name).translates]
    for name in given:
        if name not in projecting:
            raise unknown_choice("projection method in projection_options", name, projecting)
    chosen = {}
    for method in methods:
        if method == MODEL_TRANSFER:
            continue
        if method in columns:
            base, _ = resolve_method(columns[method].method)
            chosen[method] = columns[method].resolve(given.get(base))
            continue
        base, _ = resolve_method(method)
        chosen[method] = resolve_method(method, given.get(base))
    return chosen


def _available(data_dir: Path, split: str) -> list[str]:
    """File codes of ``data_dir`` for ``split``; a ConfigError when the folder holds none."""
    if not data_dir.is_dir():
        raise ConfigError(f"{data_dir}: not a folder (expected files like hau.{split}.conll)")
    suffix = f".{split}.conll"
    found = sorted(p.name[: -len(suffix)] for p in data_dir.glob(f"*{suffix}") if p.is_file())
    if not found:
        splits = sorted({p.name.split(".")[-2] for p in data_dir.glob("*.*.conll")})
        other = f"; splits there: {', '.join(splits)}" if splits else ""
        raise ConfigError(f"{data_dir}: no <lang>{suffix} files{other}")
    return found
