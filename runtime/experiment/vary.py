"""Does labelling get better, and does it converge, with more pivots or sources? ``--vary``.

:func:`run_vary` runs the experiment of issue 14 that a :class:`VaryConfig` describes:

- ``vary="pivots"`` (``xner experiment --vary pivots``): translate-test of each language of a
  MasakhaNER-like folder through each pivot (default :data:`DEFAULT_PIVOTS`), then, for each
  size k = 1..N, every k-subset of the pivots (or a seeded sample of ``subsets`` of them,
  :func:`choose_subsets`) has its pivots' projected spans combined
  (:func:`~xner.runtime.projection.combine.combine_spans`, with the ``vote``/``weighted``/
  ``union`` rule of ``combine``) and scored against the gold tags.
- ``vary="sources"`` (``--vary sources``): *annotation projection onto human translations*, the
  setting of arXiv 2505.10507: the folder holds the same sentences hand-annotated in several
  languages (Europarl NER: ``en.test.conll``, ``de.test.conll``, ...); each source's gold labels
  are projected onto the target's gold sentence (:func:`~xner.runtime.pipelines.sources.
  project_sources`: align and project, **no translation step**), and subsets of sources are
  combined and scored against the target's gold tags.

**Cost.** Each (sentence, voter) is prepared once: per voter, one run (translate-test with
``pivots=(p,)``, or the projection from one source) over the sentences not yet in the run's
:class:`VoteCache`, keyed by a SHA-256 of the sentence's words, the voter and the settings that
decide the labels; every subset then only combines the cached spans and scores (milliseconds).
So N pivots cost N translate-test runs, not 2^N. The report gives the time of the per-voter
preparation, of the combination, and what preparing every subset's voters again would have
cost (:meth:`~xner.runtime.experiment.vary_report.VaryResult.cost`).

**Sentences a voter fails on** (an empty translation, an engine failure) give no vote: the
other voters of a subset decide (a strict majority of those that answered); a subset none of
whose voters answered labels the sentence all ``O``. ``failed`` in the cost counts them.

**Outputs** in ``out_dir`` (:data:`~xner.runtime.experiment.vary_report.VARY_FILES`): ``vary.md``,
``vary.csv`` (a row per language and size: mean, sd, min, max), ``vary_subsets.csv`` (a row per
language and subset), ``vary.json`` (settings, bundle, statistics, cost, every subset's
evaluation), each written atomically after each language (``"complete": false`` until the last),
and at the end ``vary.png`` (matplotlib). **Resume** as the plain experiment: ``resume`` keeps
the languages an interrupted run finished when its settings and bundle are this run's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xner.runtime.bundles.bundle import Bundle
from xner.runtime.data import Sentence, Span
from xner.runtime.engines.options import EngineOptions
from xner.runtime.engines.translator import translatable_language
from xner.runtime.errors import ConfigError, InputError, unknown_choice
from xner.runtime.evaluate import Evaluator
from xner.runtime.experiment.config import MODEL_TRANSFER, ExperimentConfig
from xner.runtime.experiment.output import RunFiles, check_same_run, previous_run
from xner.runtime.experiment.run import (
    SCORING,
    bundle_info,
    plan_run,
    read_gold,
)
from xner.runtime.experiment.vary_report import (
    VARY_FILES,
    SubsetScore,
    VaryResult,
    VoterCost,
    write_vary_chart,
    write_vary_tables,
)
from xner.runtime.languages import resolve_language
from xner.runtime.names import split_names
from xner.runtime.pipelines import Engines, TranslateTestConfig, translate_test
from xner.runtime.pipelines.sources import project_sources
from xner.runtime.projection.combine import CombineOptions, combine_spans
from xner.runtime.tags import tags_from_spans

__all__ = [
    "DEFAULT_PIVOTS",
    "DEFAULT_SUBSETS",
    "VARY_CHOICES",
    "VaryConfig",
    "VoteCache",
    "choose_subsets",
    "pivot_votes",
    "run_vary",
    "score_subsets",
    "source_votes",
]

logger = logging.getLogger("xner")

VARY_CHOICES = ("pivots", "sources")
"""What ``--vary`` varies."""
VARY_RUN = RunFiles(
    VARY_FILES, "xner-experiment-vary", ("subsets",), "an experiment --vary", objects=("cost",)
)
"""The files of ``--vary`` in its output folder."""
DEFAULT_PIVOTS = ("eng_Latn", "fra_Latn", "por_Latn", "spa_Latn")
"""The pivots of ``--vary pivots`` unless ``--pivots`` says otherwise."""
DEFAULT_SUBSETS = 10
"""Subsets per size (all of them when a size has no more)."""

Votes = tuple[tuple[Span, float], ...]
"""One voter's projected spans of one sentence, each with its confidence."""
Progress = Callable[[Iterable[Any], str], Iterable[Any]]


# --- subsets --------------------------------------------------------------------------------------


def choose_subsets(
    voters: Sequence[str], subsets: int | None = DEFAULT_SUBSETS, seed: int = 0
) -> list[tuple[str, ...]]:
    """For each size k = 1..N (N voters), every k-subset in :func:`itertools.combinations`
    order, or, when there are more than ``subsets`` of them, a seeded sample of ``subsets``:
    the ranks ``random.Random(f"{seed}:{k}").sample(range(C(N, k)), subsets)``, sorted, each
    the combination of that rank in the same order. The sample of a size depends only on
    ``seed``, N and k. ``subsets=None``: every subset (2^N - 1 of them)."""
    n = len(voters)
    chosen: list[tuple[str, ...]] = []
    for k in range(1, n + 1):
        count = math.comb(n, k)
        if subsets is None or count <= subsets:
            chosen.extend(itertools.combinations(voters, k))
            continue
        ranks = sorted(random.Random(f"{seed}:{k}").sample(range(count), subsets))
        chosen.extend(tuple(voters[i] for i in _unrank(n, k, rank)) for rank in ranks)
    return chosen


def _unrank(n: int, k: int, rank: int) -> tuple[int, ...]:
    """The ``rank``-th k-combination of ``range(n)`` in lexicographic (combinations) order."""
    picked: list[int] = []
    start = 0
    for left in range(k, 0, -1):
        for i in range(start, n):
            block = math.comb(n - i - 1, left - 1)  # combinations that start with i
            if rank < block:
                picked.append(i)
                start = i + 1
                break
            rank -= block
    return tuple(picked)


# --- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VaryConfig:
    """What ``--vary`` runs, checked when made.

    ``experiment``: the data folder, split, languages (``sources``: the target, one file code),
    the one projection method (a method, variant or ``--column``), the ignored labels, the
    sentence limit, the beam and the aligner's method (:class:`ExperimentConfig`; no routing).
    ``vary``: ``pivots`` or ``sources``. ``voters``: the pivots (any language code form, kept as
    NLLB codes; none: :data:`DEFAULT_PIVOTS`) or the sources (file codes of the folder,
    ``en,es,it``); repeats left out; a comma-separated string is split. ``combine``: how a
    subset's spans are combined (its ``weights`` name voters: language codes of the pivots,
    resolved, or source file codes).
    ``subsets``: subsets per size at most (a seeded sample beyond, :func:`choose_subsets`;
    None: all). ``seed``: the sample's seed.
    """

    experiment: ExperimentConfig
    vary: str = "pivots"
    voters: Sequence[str] = ()
    combine: CombineOptions = field(default_factory=CombineOptions)
    subsets: int | None = DEFAULT_SUBSETS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.vary not in VARY_CHOICES:
            raise unknown_choice("thing to vary", str(self.vary), VARY_CHOICES)
        experiment = self.experiment
        if experiment.route_by is not None:
            raise ConfigError("--vary does not route (--route-by): it scores one method")
        methods = [m for m in experiment.methods if m != MODEL_TRANSFER]
        if len(experiment.methods) != 1 or not methods:
            raise ConfigError(
                f"--vary {self.vary} scores one projection method (--methods ngram); got "
                f"{', '.join(experiment.methods)}"
            )
        if self.subsets is not None and (isinstance(self.subsets, bool) or self.subsets < 1):
            raise ConfigError(f"subsets must be an integer >= 1, got {self.subsets!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")
        voters = tuple(dict.fromkeys(split_names(self.voters)))
        if self.vary == "pivots" and not voters:
            voters = DEFAULT_PIVOTS
        if self.vary == "pivots":
            voters = tuple(dict.fromkeys(resolve_language(v) for v in voters))
            weights = {resolve_language(k): w for k, w in self.combine.weights.items()}
        else:
            weights = dict(self.combine.weights)
            if len(experiment.langs) != 1 or experiment.every_language:
                raise ConfigError(
                    f"--vary sources projects onto one target (--target de); got "
                    f"{', '.join(experiment.langs) or 'none'}"
                )
            if experiment.langs[0] in voters:
                raise ConfigError(
                    f"the target {experiment.langs[0]} is also a source; leave it out of --sources"
                )
        if not voters:
            raise ConfigError(f"no {self.vary} given")
        for voter in weights:
            if voter not in voters:
                raise unknown_choice(f"{self.vary[:-1]} in weights", voter, voters)
        combine = dataclasses.replace(self.combine, weights=weights)
        object.__setattr__(self, "voters", voters)
        object.__setattr__(self, "combine", combine)

    @property
    def method(self) -> str:
        """The projection method (or column) scored."""
        return self.experiment.methods[0]

    def canonical(self) -> dict[str, Any]:
        """The settings as written in ``vary.json`` (a resumed run must match them)."""
        return {
            **self.experiment.canonical(),
            "vary": self.vary,
            "voters": list(self.voters),
            "method": self.method,
            "combine": self.combine.canonical(),
            "subsets": self.subsets,
            "seed": self.seed,
            "min_confidence": self.experiment.min_confidence(self.method),
        }


# --- per-voter runs, cached -----------------------------------------------------------------------


class VoteCache:
    """Each (sentence, voter, settings) prepared once in a run: the key is a SHA-256 of them
    (:meth:`key`), the value the voter's spans with confidences, or None when it failed.
    ``prepared`` counts the entries computed (each sentence sent to an engine run once)."""

    def __init__(self) -> None:
        self._votes: dict[str, Votes | None] = {}
        self.prepared = 0

    @staticmethod
    def key(*parts: Any) -> str:
        """The content hash of ``parts`` (JSON-serialisable: words, voter, settings)."""
        text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def missing(self, keys: Sequence[str]) -> list[int]:
        """The positions of the keys not cached yet, each key once (the first position)."""
        seen: set[str] = set()
        todo = []
        for k, key in enumerate(keys):
            if key not in self._votes and key not in seen:
                seen.add(key)
                todo.append(k)
        return todo

    def put(self, key: str, votes: Votes | None) -> None:
        self._votes[key] = votes
        self.prepared += 1

    def get(self, keys: Sequence[str]) -> list[Votes | None]:
        return [self._votes[key] for key in keys]


def _votes(spans: Sequence[Span], confidences: Sequence[float] | None) -> Votes:
    """Spans with their confidences (1 where the method gave none)."""
    given = list(confidences) if confidences is not None else [1.0] * len(spans)
    return tuple(zip(spans, given, strict=True))


def pivot_votes(
    engines: Engines,
    sentences: Sequence[Sentence],
    pipeline: TranslateTestConfig,
    pivot: str,
    cache: VoteCache,
) -> list[Votes | None]:
    """Each sentence's spans through ``pivot`` (translate-test with ``pipeline``'s settings and
    ``pivots=(pivot,)``), None where the pivot failed; the sentences not in ``cache`` go through
    one translate-test run, the others are read from it."""
    config = dataclasses.replace(pipeline, pivots=(pivot,))
    settings = {**config.canonical(), "beam": config.beam_size, "align": config.align_method}
    keys = [cache.key(s.tokens, pivot, settings) for s in sentences]
    todo = cache.missing(keys)
    if todo:
        batch = [sentences[k] for k in todo]
        for k, result in zip(todo, translate_test(engines, batch, config), strict=True):
            votes = None if result.error else _votes(result.spans, result.confidences)
            cache.put(keys[k], votes)
    return cache.get(keys)


def source_votes(
    engines: Engines,
    source: Sequence[Sentence],
    target: Sequence[Sentence],
    codes: tuple[str, str],
    config: VaryConfig,
    cache: VoteCache,
    drop: frozenset[str] = frozenset(),
) -> list[Votes | None]:
    """Each target sentence's spans projected from the parallel ``source`` sentence's gold
    labels (minus ``drop``; ``codes``: the source's and the target's NLLB codes), None where
    the projection failed; pairs not in ``cache`` go through one projection run."""
    experiment = config.experiment
    base, options = experiment.projections[config.method]
    settings = {
        "codes": list(codes),
        "method": base,
        "options": dataclasses.asdict(options),
        "align": experiment.align_method,
        "drop": sorted(drop),
        "min_confidence": experiment.min_confidence(config.method),
    }
    keys = [
        cache.key(s.tokens, s.tags, t.tokens, codes[0], settings)
        for s, t in zip(source, target, strict=True)
    ]
    todo = cache.missing(keys)
    if todo:
        stream = project_sources(
            engines,
            {codes[0]: [source[k] for k in todo]},
            [list(target[k].tokens) for k in todo],
            codes[1],
            method=base,
            options=options,
            align_method=experiment.align_method,
            drop=drop,
            min_confidence=experiment.min_confidence(config.method),
        )
        for k, projections in zip(todo, stream, strict=True):
            projected = projections.get(codes[0])
            votes = None if projected is None else _votes(projected.spans, projected.confidences)
            cache.put(keys[k], votes)
    return cache.get(keys)


# --- the combination loop -------------------------------------------------------------------------


def score_subsets(
    lang: str,
    gold: Sequence[Sentence],
    votes: Mapping[str, Sequence[Votes | None]],
    subsets: Sequence[tuple[str, ...]],
    combine: CombineOptions,
    ignore: Iterable[str] = (),
) -> list[SubsetScore]:
    """Each subset's voters' ``votes`` (voter -> per sentence of ``gold``) combined per
    sentence with ``combine`` (its weights restricted to the subset's voters) and scored
    against ``gold``'s tags."""
    ignored = frozenset(ignore)
    scores = []
    for subset in subsets:
        options = dataclasses.replace(
            combine, weights={v: w for v, w in combine.weights.items() if v in subset}
        )
        evaluator = Evaluator(ignored)
        for k, sentence in enumerate(gold):
            combined = combine_spans({voter: votes[voter][k] for voter in subset}, options)
            tags = tags_from_spans([c.span for c in combined], len(sentence.tokens))
            evaluator.add(
                sentence.tags or (), tags, line=sentence.line or None, source=sentence.source
            )
        scores.append(SubsetScore(lang, tuple(subset), evaluator.result()))
    return scores


# --- the run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """One language scored: its gold sentences, NLLB code, and per voter the parallel source
    sentences (``sources`` only)."""

    lang: str
    code: str
    gold: list[Sentence]
    sources: Mapping[str, list[Sentence]] = field(default_factory=dict)


def run_vary(
    bundle: Bundle | str | os.PathLike[str],
    config: VaryConfig,
    *,
    out_dir: str | os.PathLike[str],
    options: EngineOptions | None = None,
    verify: bool = True,
    force: bool = False,
    resume: bool = False,
    progress: Progress | None = None,
) -> VaryResult:
    """Run ``config`` and write its tables and chart into ``out_dir`` (module docstring).

    The arguments are those of :func:`~xner.runtime.experiment.run.run_experiment`. Checked
    before any model is built: the folder and its files, the languages and pivots against the
    translator, the output folder and an interrupted run's settings. Raises
    :class:`ConfigError` or :class:`InputError`.
    """
    experiment = config.experiment
    files = experiment.gold_files()
    voter_files: dict[str, Path] = {}
    if config.vary == "sources":
        voter_files = dataclasses.replace(experiment, langs=list(config.voters)).gold_files()
    out = Path(out_dir)
    saved = previous_run(out, VARY_RUN, force=force, resume=resume)
    loaded = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, verify=verify)
    options = options or EngineOptions()
    engines = Engines(loaded, options)
    langs, codes, drop = _resolve(loaded, engines, config, files)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if saved is not None:
        created = str(saved["settings"].get("created", created))
    settings = {
        "created": created,
        **config.canonical(),
        "langs": list(langs),
        "codes": dict(codes),
        "engine": options.recorded(),
        "drop": sorted(drop),
        "scoring": SCORING,
    }
    identity = bundle_info(loaded, engines.identity())
    subsets = choose_subsets(config.voters, config.subsets, config.seed)
    scores: list[SubsetScore] = []
    costs: list[VoterCost] = []
    if saved is not None:
        scores, costs = _kept(saved, settings, identity, langs, subsets, out)
    done = {cost.lang for cost in costs}
    todo = [lang for lang in langs if lang not in done]
    if done:
        logger.info(
            "resuming %s: %s done; running %s",
            out,
            ", ".join(sorted(done)),
            ", ".join(todo) or "nothing",
        )
    paths = {key: out / name for key, name in VARY_FILES.items()}
    wrap = progress or (lambda items, _description: items)

    def result() -> VaryResult:
        order = {lang: k for k, lang in enumerate(langs)}
        return VaryResult(
            config.vary,
            tuple(langs),
            tuple(config.voters),
            tuple(sorted(scores, key=lambda s: order[s.lang])),  # stable: subsets stay in order
            tuple(sorted(costs, key=lambda c: order[c.lang])),
            settings,
            identity,
        )

    cache = VoteCache()
    for lang in todo:
        target = _read_target(config, lang, codes[lang], files, voter_files)
        votes: dict[str, list[Votes | None]] = {}
        seconds: dict[str, float] = {}
        for voter in wrap(config.voters, f"{lang}: {config.vary}"):
            started = time.perf_counter()
            votes[voter] = _one_voter(engines, config, target, voter, codes, drop, cache)
            seconds[voter] = time.perf_counter() - started
            logger.info("%s through %s: %.1f s", lang, voter, seconds[voter])
        started = time.perf_counter()
        found = score_subsets(lang, target.gold, votes, subsets, config.combine, experiment.ignore)
        combining = time.perf_counter() - started
        failed = {voter: sum(v is None for v in votes[voter]) for voter in config.voters}
        for voter, count in failed.items():
            if count:
                logger.warning("%s: %s failed on %d sentences (no vote there)", lang, voter, count)
        scores.extend(found)
        costs.append(VoterCost(lang, seconds, combining, failed))
        best = max(found, key=lambda s: s.f1)
        logger.info(
            "%s: %d subsets combined and scored in %.2f s; best F1 %.1f (%s)",
            lang, len(found), combining, 100 * best.f1, "+".join(best.voters),
        )  # fmt: skip
        write_vary_tables(result(), paths, complete=lang == todo[-1])
    if not todo:
        write_vary_tables(result(), paths, complete=True)
    final = dataclasses.replace(result(), files=paths, complete=True)
    if not write_vary_chart(final, paths["chart"]):
        final = dataclasses.replace(final, files={k: v for k, v in paths.items() if k != "chart"})
    return final


def _resolve(
    bundle: Bundle, engines: Engines, config: VaryConfig, files: Mapping[str, Path]
) -> tuple[tuple[str, ...], dict[str, str], frozenset[str]]:
    """The languages run, every NLLB code (languages and voters) and the labels dropped before
    projection; the pivots must be languages the translator knows, other than the language."""
    experiment = config.experiment
    if config.vary == "pivots":
        plan = plan_run(bundle, engines, experiment, files, {})
        translator = bundle.require("translator").settings
        codes = {lang: str(plan.codes[lang]) for lang in plan.langs}
        for pivot in config.voters:
            codes[pivot] = translatable_language(translator, pivot)
            same = [lang for lang in plan.langs if codes[lang] == pivot]
            if same:
                raise ConfigError(
                    f"pivot {pivot} is the language of {', '.join(same)} itself; leave it out "
                    "of --pivots or of --langs"
                )
        return plan.langs, codes, plan.drop
    bundle.require("aligner")
    codes = {}
    for name in (*experiment.langs, *config.voters):
        try:
            codes[name] = resolve_language(name)
        except ConfigError as error:
            raise ConfigError(f"{name}: the file code must be a language code ({error})") from None
    return tuple(experiment.langs), codes, frozenset(experiment.ignore)


def _read_target(
    config: VaryConfig,
    lang: str,
    code: str,
    files: Mapping[str, Path],
    voter_files: Mapping[str, Path],
) -> _Target:
    """The gold sentences of ``lang`` and, for ``sources``, each source's parallel ones (the
    same number: else an InputError naming the file)."""
    limit = config.experiment.limit
    gold = read_gold(files[lang], limit)
    sources = {}
    for voter, path in voter_files.items():
        sentences = read_gold(path, limit)
        if len(sentences) != len(gold):
            raise InputError(
                path,
                None,
                f"{len(sentences)} sentences where the target {files[lang].name} has "
                f"{len(gold)}: the sources must be parallel to the target",
            )
        sources[voter] = sentences
    return _Target(lang, code, gold, sources)


def _one_voter(
    engines: Engines,
    config: VaryConfig,
    target: _Target,
    voter: str,
    codes: Mapping[str, str],
    drop: frozenset[str],
    cache: VoteCache,
) -> list[Votes | None]:
    """One voter's votes on every sentence of ``target`` (cached)."""
    experiment = config.experiment
    base, method_options = experiment.projections[config.method]
    if config.vary == "pivots":
        pipeline = TranslateTestConfig(
            target.code,
            method=base,
            options=method_options,
            drop=drop,
            beam_size=experiment.beam_size,
            align_method=experiment.align_method,
            min_confidence=experiment.min_confidence(config.method),
        )
        return pivot_votes(engines, target.gold, pipeline, voter, cache)
    return source_votes(
        engines,
        target.sources[voter],
        target.gold,
        (codes[voter], target.code),
        config,
        cache,
        drop,
    )


# --- an interrupted run ---------------------------------------------------------------------------


def _kept(
    saved: Mapping[str, Any],
    settings: Mapping[str, Any],
    bundle: Mapping[str, Any],
    langs: Sequence[str],
    subsets: Sequence[tuple[str, ...]],
    out: Path,
) -> tuple[list[SubsetScore], list[VoterCost]]:
    """The scores and costs of the languages the interrupted run finished (every subset's),
    when its settings and bundle are this run's; else a ConfigError naming what differs."""
    check_same_run(out, saved, settings, bundle)
    try:
        found = [SubsetScore.from_dict(score) for score in saved["subsets"]]
        costs = [VoterCost.from_dict(cost) for cost in saved["cost"]["languages"]]
    except (KeyError, TypeError, ValueError, AttributeError) as problem:
        raise ConfigError(
            f"{out / VARY_FILES['json']}: a result cannot be read ({problem!r}); pass --force "
            "to start over"
        ) from None
    wanted = set(subsets)
    kept_scores: list[SubsetScore] = []
    kept_costs: list[VoterCost] = []
    for cost in costs:
        mine = [s for s in found if s.lang == cost.lang]
        if cost.lang in langs and {s.voters for s in mine} == wanted:
            kept_scores.extend(mine)
            kept_costs.append(cost)
    return kept_scores, kept_costs
