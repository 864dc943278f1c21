"""Does a tagger trained on projected data get better with more source languages? The
convergence experiment of ``xner experiment --train --vary sources`` (issue 16, item 5).

:func:`run_train_vary` runs what a :class:`TrainVaryConfig` describes:

1. **Projection, once per source.** Each source's first ``limit`` gold sentences are carried
   into the target language with translate-train
   (:func:`~xner.runtime.pipelines.compose.translate_train`, the bundle's translator and
   aligner, one projection method). The projected file is written to ``OUT/projected/`` next
   to a key (a SHA-256 of the sentences, languages, method and bundle,
   :meth:`~xner.runtime.experiment.vary.VoteCache.key`): every subset reuses it, and a rerun
   (``--resume``) with the same key reads it instead of translating again. Sentences whose
   translation failed are left out (counted).
2. **Training, per run.** For each size k = 1..N, each chosen k-subset of the sources (all of
   them, or a seeded sample of ``subsets``:
   :func:`~xner.runtime.experiment.vary.choose_subsets`), each seed and each adversarial
   setting: :func:`xner.train.trainer.train` fine-tunes ``model`` for exactly ``max_steps``
   steps on the subset's projected files (equal sampling weights, no dev file: no early
   stopping, the last step's model) in ``OUT/runs/...``, removed afterwards unless
   ``keep_runs``. With ``adversarial`` on, the language discriminator learns to tell the
   projected data by the language it was translated *from* (each projected file is given its
   source's language) from the target's own text: the target test sentences' words, without
   labels (transductive, as the issue asks).
3. **Scoring.** The final model tags the target test set's first ``limit`` sentences and
   xner's :class:`~xner.runtime.evaluate.Evaluator` scores it (entity-level, seqeval-exact,
   ``ignore`` labels as O on both sides).

**Outputs** in ``OUT`` (:data:`~xner.train.experiment_report.TRAIN_VARY_FILES`, written by
:mod:`xner.train.experiment_report`): ``train_vary.md``, ``train_vary.csv`` (per
setting and size: mean, sample sd, min, max of F1 over subsets x seeds), ``train_vary_runs.csv``
(one row per run), ``train_vary.json`` (settings, bundle, projection counts, statistics, every
run), each written atomically after every run (``"complete": false`` until the last), and
``train_vary.png`` (matplotlib: a line per setting, mean +- sample sd as a band). **Resume**:
``resume`` keeps the runs (subset, seed, setting) an interrupted experiment finished when its
settings and bundle are this one's; a run cut off in the middle starts over.

**Cost.** One translate-train per source, then one ``xner train`` of ``max_steps`` steps per run
(sum of k-subsets x seeds x settings), plus tagging the test sentences. Each run folder holds
what ``xner train`` writes (the final model and one checkpoint with the optimizer's state: about
four times the model's size on disk) until the run is scored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from xner.runtime.bundles.bundle import Bundle
from xner.runtime.data import Sentence
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError, InputError, unknown_choice
from xner.runtime.evaluate import EvaluationResult
from xner.runtime.experiment.output import RunFiles, check_same_run, previous_run
from xner.runtime.experiment.run import bundle_info, read_gold
from xner.runtime.experiment.vary import DEFAULT_SUBSETS, VoteCache, choose_subsets
from xner.runtime.files.atomic import atomic_write
from xner.runtime.files.formats import write_sentences
from xner.runtime.files.io import JsonError, load_json
from xner.runtime.languages import resolve_language
from xner.runtime.names import split_names
from xner.runtime.pipelines import Engines
from xner.runtime.pipelines.compose import translate_train
from xner.runtime.pipelines.configs import TranslateTrainConfig
from xner.runtime.pipelines.results import TranslateTrainResult
from xner.train.data import DataSpec
from xner.train.experiment_report import (
    ADVERSARIAL,
    FORMAT,
    PLAIN,
    TRAIN_VARY_FILES,
    ProjectedSource,
    TrainRun,
    TrainVaryResult,
    write_chart,
    write_tables,
)
from xner.train.options import TrainOptions

__all__ = [
    "ADVERSARIAL_CHOICES",
    "TRAIN_VARY_FILES",
    "TrainSource",
    "TrainVaryConfig",
    "TrainVaryResult",
    "parse_train_sources",
    "project_once",
    "run_train_vary",
    "score_model",
    "train_and_score",
]

logger = logging.getLogger("xner")
TRAIN_RUN = RunFiles(TRAIN_VARY_FILES, FORMAT, ("runs",), "an experiment --train")
"""The files of ``--train`` in its output folder."""


def _read_json(path: Path) -> Any:
    try:
        return load_json(path.read_bytes())
    except (OSError, JsonError):
        return None


ADVERSARIAL_CHOICES = ("off", "on", "both")
"""``--adversarial``: train without the language discriminator, with it, or each run both ways."""
Translate = Callable[[Engines, Sequence[Sentence], TranslateTrainConfig], Iterable[Any]]
"""translate-train over sentences (default: :func:`~xner.runtime.pipelines.compose.
translate_train`)."""
Fit = Callable[[TrainOptions, Path], tuple[int, EvaluationResult]]
"""Train with the options, score on the test file: ``(steps run, evaluation)``."""
Progress = Callable[[Iterable[Any], str], Iterable[Any]]


# --- settings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSource:
    """One source: its ``code`` (``en``: the name in the tables), its gold file and its
    language (the code resolved to NLLB)."""

    code: str
    path: Path
    lang: str


def parse_train_sources(
    text: str | Sequence[str], data_dir: Path | None
) -> tuple[TrainSource, ...]:
    """``"en=conll2003_en/dev.conll,de=conll_multi/de.conll.test.conll"`` -> sources; each
    ``CODE=FILE``, the code a language code (any form), the file relative to ``data_dir`` unless
    absolute. A bad entry, an unknown language, a missing file or a code given twice is a
    :class:`ConfigError` naming it."""
    sources: list[TrainSource] = []
    for entry in split_names(text):
        code, equals, path = entry.partition("=")
        code, path = code.strip(), path.strip()
        if not equals or not code or not path:
            raise ConfigError(
                f"--sources: bad entry {entry!r}; write CODE=FILE, e.g. en=conll2003_en/dev.conll"
            )
        try:
            lang = resolve_language(code)
        except ConfigError as error:
            raise ConfigError(f"--sources: {code}: {error}") from None
        file = Path(path)
        if not file.is_absolute() and data_dir is not None:
            file = data_dir / file
        if not file.is_file():
            raise ConfigError(f"--sources: {code}: {file}: no such file")
        if any(s.code == code for s in sources):
            raise ConfigError(f"--sources: {code} is given twice")
        sources.append(TrainSource(code, file, lang))
    if not sources:
        raise ConfigError("--sources: give at least one CODE=FILE")
    return tuple(sources)


@dataclass(frozen=True)
class TrainVaryConfig:
    """What ``xner experiment --train --vary sources`` runs, checked when made.

    ``model``: the encoder to fine-tune (folder or hub id). ``sources``: the labelled sources
    (:func:`parse_train_sources`). ``target``: the target language (any code form; kept as the
    NLLB code), ``target_test``: its gold test file. ``max_steps``: the fixed budget of every
    run; ``seeds``: one run per seed for each subset; ``subsets``: subsets per size at most (a
    sample beyond, seeded by ``sample_seed``; None: all). ``limit``: the first sentences of each
    source and of the test file (None: all). ``adversarial``: off, on or both
    (:data:`ADVERSARIAL_CHOICES`). ``method``: the projection method of translate-train (with
    ``beam_size`` and ``align_method``); ``ignore``: entity types turned into O in training and
    scoring. ``batch_size``, ``lr``: training's (:class:`~xner.train.options.TrainOptions`);
    ``device``: cpu, cuda or cuda:N for training (``auto``: CUDA when torch sees one);
    ``keep_runs``: keep each run's folder (model, checkpoint, ``train.jsonl``).
    """

    model: str
    sources: tuple[TrainSource, ...]
    target: str
    target_test: Path
    max_steps: int = 200
    seeds: tuple[int, ...] = (1, 2, 3)
    subsets: int | None = DEFAULT_SUBSETS
    sample_seed: int = 0
    limit: int | None = None
    adversarial: str = "off"
    method: str = "ngram"
    beam_size: int | None = None
    align_method: str | None = None
    ignore: tuple[str, ...] = ()
    batch_size: int = 16
    lr: float = 5e-5
    device: str = "cpu"
    keep_runs: bool = False

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError("--sources: give at least one CODE=FILE")
        target = resolve_language(self.target)
        same = [s.code for s in self.sources if s.lang == target]
        if same:
            raise ConfigError(
                f"the target {target} is also the language of source {', '.join(same)}; leave "
                "it out of --sources"
            )
        if not Path(self.target_test).is_file():
            raise ConfigError(f"--target-test: {self.target_test}: no such file")
        if self.adversarial not in ADVERSARIAL_CHOICES:
            raise unknown_choice("--adversarial", str(self.adversarial), ADVERSARIAL_CHOICES)
        seeds = tuple(dict.fromkeys(int(s) for s in self.seeds))
        if not seeds:
            raise ConfigError("--seeds: give at least one seed")
        for flag, value in (("--max-steps", self.max_steps), ("--limit", self.limit)):
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ConfigError(f"{flag}: {value!r} is not a whole number >= 1")
        if self.subsets is not None and (isinstance(self.subsets, bool) or self.subsets < 1):
            raise ConfigError(f"--subsets: {self.subsets!r} is not a whole number >= 1")
        TranslateTrainConfig(  # the projection settings, checked now
            self.sources[0].lang,
            target,
            self.method,
            beam_size=self.beam_size,
            align_method=self.align_method,
        )
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "target_test", Path(self.target_test))
        object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "ignore", tuple(split_names(self.ignore)))

    @property
    def codes(self) -> tuple[str, ...]:
        """The sources' codes, in order (the voters of :func:`choose_subsets`)."""
        return tuple(s.code for s in self.sources)

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings each (subset, seed) is trained with: plain, adversarial, or both."""
        return {"off": (PLAIN,), "on": (ADVERSARIAL,), "both": (PLAIN, ADVERSARIAL)}[
            self.adversarial
        ]

    def translate_config(self, source: TrainSource) -> TranslateTrainConfig:
        """translate-train's settings for one source."""
        return TranslateTrainConfig(
            source.lang,
            self.target,
            self.method,
            beam_size=self.beam_size,
            align_method=self.align_method,
        )

    def canonical(self) -> dict[str, Any]:
        """The settings as written in ``train_vary.json`` (a resumed run must match them; the
        device and ``keep_runs`` may change)."""
        return {
            "model": self.model,
            "sources": [
                {"code": s.code, "path": str(s.path), "lang": s.lang} for s in self.sources
            ],
            "target": self.target,
            "target_test": str(self.target_test),
            "max_steps": self.max_steps,
            "seeds": list(self.seeds),
            "subsets": self.subsets,
            "sample_seed": self.sample_seed,
            "limit": self.limit,
            "adversarial": self.adversarial,
            "projection": self.translate_config(self.sources[0]).canonical(),
            "ignore": list(self.ignore),
            "batch_size": self.batch_size,
            "lr": self.lr,
        }


# --- projection, once per source ------------------------------------------------------------------


def project_once(
    config: TrainVaryConfig,
    engines: Engines,
    folder: Path,
    *,
    translate: Translate | None = None,
) -> dict[str, ProjectedSource]:
    """Each source's first ``limit`` gold sentences translate-trained into the target once,
    written to ``folder/CODE.TARGET.conll`` with a ``.key`` beside it; a file whose key matches
    is read back instead (module docstring). ``translate``: the translate-train function
    (tests count its calls)."""
    run = translate or translate_train
    folder.mkdir(parents=True, exist_ok=True)
    identity = engines.identity()
    projected: dict[str, ProjectedSource] = {}
    for source in config.sources:
        gold = read_gold(source.path, config.limit)
        pipeline = config.translate_config(source)
        key = VoteCache.key(
            [[s.tokens, s.tags] for s in gold], pipeline.canonical(), identity, FORMAT
        )
        path = folder / f"{source.code}.{config.target}.conll"
        key_file = path.with_suffix(".key")
        if path.is_file() and key_file.is_file():
            saved = _read_json(key_file)
            if isinstance(saved, dict) and saved.get("key") == key:
                projected[source.code] = ProjectedSource(
                    source.code, source.lang, path, int(saved["sentences"]), int(saved["written"]),
                    int(saved["entities"]), cached=True,
                )  # fmt: skip
                logger.info("%s: projected file %s reused (same key)", source.code, path)
                continue
        started = time.perf_counter()
        kept = [_written(r) for r in run(engines, gold, pipeline)]
        sentences = [s for s in kept if s is not None]
        if not sentences:
            raise InputError(
                source.path, None, f"no sentence could be translated into {config.target}"
            )
        entities = sum(sum(t.startswith("B-") for t in s.tags or ()) for s in sentences)
        with atomic_write(path) as handle:
            write_sentences(sentences, handle, "conll")
        info = ProjectedSource(source.code, source.lang, path, len(gold), len(sentences), entities)
        with atomic_write(key_file) as handle:
            json.dump({"key": key, **info.to_dict()}, handle, indent=2)
            handle.write("\n")
        projected[source.code] = info
        logger.info(
            "%s: %d of %d sentences projected into %s (%d entities) in %.1f s",
            source.code, len(sentences), len(gold), config.target, entities,
            time.perf_counter() - started,
        )  # fmt: skip
    return projected


def _written(result: TranslateTrainResult) -> Sentence | None:
    """The projected sentence to train on; None when its translation failed."""
    if result.error is not None:
        return None
    sentence = result.output()
    return sentence if sentence is not None and sentence.tokens else None


# --- training and scoring -------------------------------------------------------------------------


def train_and_score(options: TrainOptions, test: Path) -> tuple[int, EvaluationResult]:
    """Train with ``options`` (:func:`xner.train.trainer.train`), then score the final model on
    ``test`` (:func:`score_model`): ``(steps run, evaluation)``."""
    from transformers.utils import logging as hf_logging

    from xner.train.trainer import train

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # not "newly initialized head" once per run: it always is
    try:
        result = train(options)
        return result.steps, score_model(options, result.out, test)
    finally:
        hf_logging.set_verbosity(verbosity)


def score_model(options: TrainOptions, run_dir: Path, test: Path) -> EvaluationResult:
    """The model saved in ``run_dir`` tags ``test`` (gold CoNLL); xner's entity-level
    evaluation of it, with the label map and ignored types of ``options`` (as a dev file is
    scored during training, :class:`~xner.train.dev.DevSet`)."""
    import contextlib

    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from xner.train.data import collate
    from xner.train.dev import DevSet
    from xner.train.trainer import _max_length  # the model's own limit, as training used

    device = torch.device(options.device)
    tokenizer = AutoTokenizer.from_pretrained(run_dir, use_fast=True)
    model = AutoModelForTokenClassification.from_pretrained(run_dir).to(device)
    labels = [model.config.id2label[k] for k in sorted(model.config.id2label)]
    scored = dataclasses.replace(options, model=str(run_dir), dev=test)
    dev = DevSet(scored, tokenizer, labels, _max_length(scored, tokenizer))

    def batch(pieces: Sequence[Any]) -> dict[str, torch.Tensor]:
        tensors = collate(pieces, tokenizer.pad_token_id)
        return {k: tensors[k].to(device) for k in ("input_ids", "attention_mask")}

    return dev.evaluate(model, batch, contextlib.nullcontext)


# --- the run --------------------------------------------------------------------------------------


def run_train_vary(
    bundle: Bundle | str | os.PathLike[str],
    config: TrainVaryConfig,
    *,
    out_dir: str | os.PathLike[str],
    options: EngineOptions | None = None,
    verify: bool = True,
    force: bool = False,
    resume: bool = False,
    progress: Progress | None = None,
    fit: Fit | None = None,
    translate: Translate | None = None,
) -> TrainVaryResult:
    """Run ``config`` and write its tables and chart into ``out_dir`` (module docstring).

    ``bundle``, ``options``, ``verify``: the bundle whose translator and aligner project the
    sources. ``force``: replace the results of an earlier run; ``resume``: keep the runs an
    interrupted one finished. ``fit`` (train and score one run, default
    :func:`train_and_score`) and ``translate`` (default translate-train) are for tests.
    """
    out = Path(out_dir)
    saved = previous_run(out, TRAIN_RUN, force=force, resume=resume)
    loaded = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle, verify=verify)
    engines = Engines(loaded, options or EngineOptions())
    identity = bundle_info(loaded, engines.identity())
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if saved is not None:
        created = str(saved["settings"].get("created", created))
    # as JSON gives them back (tuples as lists): a resumed run compares like with like
    settings = json.loads(json.dumps({"created": created, **config.canonical()}, default=str))
    subsets = choose_subsets(config.codes, config.subsets, config.sample_seed)
    plan = [
        (setting, subset, seed)
        for subset in subsets
        for seed in config.seeds
        for setting in config.settings
    ]
    runs: dict[tuple[str, tuple[str, ...], int], TrainRun] = {}
    if saved is not None:
        runs = _kept(saved, settings, identity, plan, out)
    test = _test_file(config, out / "projected")
    projected = project_once(config, engines, out / "projected", translate=translate)
    unlabelled = _unlabelled(test, out / "projected" / f"unlabelled.{config.target}.txt")
    paths = {key: out / name for key, name in TRAIN_VARY_FILES.items()}
    fit = fit or train_and_score

    def result(complete: bool) -> TrainVaryResult:
        done = tuple(runs[key] for key in plan if key in runs)
        return TrainVaryResult(
            config.codes, done, settings, identity, tuple(projected.values()), paths, complete
        )

    todo = [key for key in plan if key not in runs]
    if len(todo) < len(plan):
        logger.info("resuming %s: %d of %d runs done", out, len(plan) - len(todo), len(plan))
    wrap = progress or (lambda items, _description: items)
    for number, (setting, subset, seed) in enumerate(wrap(todo, "training"), 1):
        run_dir = out / "runs" / f"{'+'.join(subset)}.seed{seed}.{setting}"
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a run cut off in the middle starts over
        train_options = TrainOptions(
            model=config.model,
            data=tuple(DataSpec(projected[c].path, projected[c].lang) for c in subset),
            out=run_dir,
            max_steps=config.max_steps,
            checkpoint_every=config.max_steps,
            keep_checkpoints=1,
            log_every=max(1, config.max_steps // 50),
            batch_size=config.batch_size,
            lr=config.lr,
            seed=seed,
            device=_device(config.device),
            patience=0,
            ignore=config.ignore,
            adversarial=setting == ADVERSARIAL,
            unlabelled=(DataSpec(unlabelled, config.target),) if setting == ADVERSARIAL else (),
        )
        started = time.perf_counter()
        steps, evaluation = fit(train_options, test)
        seconds = time.perf_counter() - started
        run = TrainRun(setting, tuple(subset), seed, steps, evaluation, seconds)
        runs[run.key] = run
        logger.info(
            "run %d/%d: sources %s, seed %d, %s, %d steps: F1 %.1f in %.1f s",
            number, len(todo), "+".join(subset), seed, setting, steps, 100 * run.f1, seconds,
        )  # fmt: skip
        if not config.keep_runs:
            shutil.rmtree(run_dir, ignore_errors=True)
        write_tables(result(False), paths, complete=len(runs) == len(plan))
    final = result(True)
    if not todo:
        write_tables(final, paths, complete=True)
    if not config.keep_runs and (out / "runs").is_dir() and not any((out / "runs").iterdir()):
        (out / "runs").rmdir()
    if not write_chart(final, paths["chart"]):
        final = dataclasses.replace(final, files={k: v for k, v in paths.items() if k != "chart"})
    return final


def _device(name: str) -> str:
    """The training device: ``auto`` is CUDA when torch sees one, else the CPU."""
    device = name.strip().lower()
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _test_file(config: TrainVaryConfig, folder: Path) -> Path:
    """The target test set's first ``limit`` sentences as a CoNLL file in ``folder`` (what
    every run is scored on)."""
    folder.mkdir(parents=True, exist_ok=True)
    gold = read_gold(config.target_test, config.limit)
    path = folder / f"test.{config.target}.conll"
    with atomic_write(path) as handle:
        write_sentences(gold, handle, "conll")
    return path


def _unlabelled(test: Path, path: Path) -> Path:
    """The test sentences' words, one sentence per line, no labels: the discriminator's
    target-language text."""
    gold = read_gold(test, None)
    with atomic_write(path) as handle:
        handle.writelines(" ".join(s.tokens) + "\n" for s in gold if s.tokens)
    return path


# --- an interrupted run ---------------------------------------------------------------------------


def _kept(
    saved: Mapping[str, Any],
    settings: Mapping[str, Any],
    bundle: Mapping[str, Any],
    plan: Sequence[tuple[str, tuple[str, ...], int]],
    out: Path,
) -> dict[tuple[str, tuple[str, ...], int], TrainRun]:
    """The runs of the interrupted experiment that this one plans, when its settings and bundle
    are this one's; else a ConfigError naming what differs."""
    check_same_run(out, saved, settings, bundle)
    try:
        found = [TrainRun.from_dict(run) for run in saved["runs"]]
    except (KeyError, TypeError, ValueError, AttributeError) as problem:
        raise ConfigError(
            f"{out / TRAIN_VARY_FILES['json']}: a run cannot be read ({problem!r}); pass "
            "--force to start over"
        ) from None
    wanted = set(plan)
    return {run.key: run for run in found if run.key in wanted}
