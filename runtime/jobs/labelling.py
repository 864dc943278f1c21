"""File jobs: :func:`run_translate_test`, :func:`run_translate_train`, :func:`run_model_transfer`.

Each takes the engines (or a bundle), the file side of the job
(:class:`~xner.runtime.jobs.file_config.FileJobConfig`) and the pipeline's config
(:mod:`xner.runtime.pipelines.configs`), and runs the pipeline over the input through the
runner (:mod:`xner.runtime.jobs.runner`): the input is read lazily (a file of any size is never
loaded whole), ``chunk_size`` sentences at a time, and the output and the ``explain`` records
are written in committed chunks (:mod:`xner.runtime.jobs.resume`): a job that is killed
continues with ``resume=True`` where it stopped, with no sentence lost or duplicated and the
input order kept.

**Failed sentences** (an empty translation, an engine failure on that sentence, a sentence the
output format cannot hold) are reported with their ``FILE:LINE`` and handled by ``on_error``:

- ``"copy-O"`` (translate-test and model transfer default): write the sentence with all-``O``
  tags and log a warning. In translate-train the translation's words are written with ``O``
  tags when there is a translation; without one the sentence is left out;
- ``"skip"`` (translate-train default: an unlabelled sentence would teach a model that its
  entities are not entities): leave it out and log a warning;
- ``"fail"``: stop with ``FILE:LINE: problem``; what is committed stays resumable.

Failures are counted in the :class:`~xner.runtime.jobs.summary.RunSummary` either way.

**Evaluation** (translate-test, model transfer): ``gold`` names a file of gold-tagged sentences
in the input's order, or ``evaluate=True`` takes the gold tags from the input itself
(:mod:`~xner.runtime.jobs.scoring`). The entity counts are kept in the checkpoints, so the
scores of a resumed job cover the whole input.

**Checks first**: the output path (and the explain file, the partial files and the sidecar),
then every option, then the bundle's manifest (labels to drop), then an interrupted run's
settings are checked before any engine is built. **Resuming** continues only a run with the
same settings: the fingerprint is the file config's canonical dict (formats, ``tokenize``,
``explain`` / ``gold`` / ``evaluate`` / ``ignore``), the engines' (bundle identity, device class,
compute type, beam size, alignment method) and the pipeline config's (languages, projection
method and options, ``drop``, ``drop_incomplete``, translate-test's pivots other than English
alone and their combination); a mismatch names each setting
(``compute_type int8 -> float32``). Another ``on_error`` is refused once the interrupted run
wrote or left out a failed sentence under its own. Threads, batch sizes and ``chunk_size`` are
left out: they change speed, not labels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from xner.runtime.data import Sentence
from xner.runtime.engines.engine_set import Engines, check_engine_settings
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError
from xner.runtime.jobs.file_config import ON_ERROR, FileJobConfig
from xner.runtime.jobs.resume import sentence_key
from xner.runtime.jobs.runner import FileJob, Progress, run_job
from xner.runtime.jobs.scoring import GoldScorer
from xner.runtime.jobs.sentence_files import sentence_formats, write_labelled
from xner.runtime.jobs.summary import RunSummary
from xner.runtime.pipelines.compose import (
    EngineSource,
    model_transfer,
    translate_test,
    translate_train,
)
from xner.runtime.pipelines.configs import (
    ModelTransferConfig,
    PipelineConfig,
    TranslateTestConfig,
    TranslateTrainConfig,
)
from xner.runtime.pipelines.results import LabelledResult

__all__ = [
    "ON_ERROR",
    "planned_options",
    "run_model_transfer",
    "run_translate_test",
    "run_translate_train",
]

Pipeline = Callable[[Engines, Iterator[Sentence]], Iterator[LabelledResult]]


def run_translate_test(
    engines: EngineSource,
    files: FileJobConfig,
    config: TranslateTestConfig,
    *,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Label the sentences of ``files.source`` by translate-test; write them to
    ``files.output``.

    ``files.source``: CoNLL, JSONL or text (one sentence per line; ``tokenize``: ``whitespace``
    or ``unicode``), format from ``in_fmt`` or the extension (``"-"``: text on stdin).
    ``files.output``: CoNLL or JSONL (``out_fmt`` or the extension; ``"-"``: CoNLL on stdout,
    not resumable). ``files.explain``: a JSONL file of per-sentence records (translation,
    English entities, alignment, n-gram scores, chosen projection, ``status``). ``engines``:
    ready :class:`Engines` or a bundle (loaded with ``engine_options``, checked unless
    ``verify`` is false). ``progress`` wraps the stream of results (a progress bar).
    """
    return _labelling_job(
        "translate-test",
        engines,
        files,
        config,
        lambda ready, items: translate_test(ready, items, config),
        engine_options,
        verify,
        progress,
    )


def run_model_transfer(
    engines: EngineSource,
    files: FileJobConfig,
    config: ModelTransferConfig | None = None,
    *,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Tag the sentences of ``files.source`` directly with the tagger (the model-transfer
    baseline). Same files, evaluation and resumption as :func:`run_translate_test`."""
    chosen = ModelTransferConfig() if config is None else config
    return _labelling_job(
        "model-transfer",
        engines,
        files,
        chosen,
        lambda ready, items: model_transfer(ready, items, chosen),
        engine_options,
        verify,
        progress,
    )


def run_translate_train(
    engines: EngineSource,
    files: FileJobConfig,
    config: TranslateTrainConfig,
    *,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Carry the labelled sentences of ``files.source`` (CoNLL or JSONL, IOB2) into the target
    language and write the labelled translations to ``files.output`` (CoNLL or JSONL).

    ``config.drop_incomplete``: leave out the sentences whose projection lost an entity (they
    are counted either way). ``files.on_error`` defaults to ``skip`` (the module docstring says
    why). The other arguments are those of :func:`run_translate_test`.
    """
    if files.evaluates:
        raise ConfigError("translate-train does not evaluate: its output is in another language")
    if files.on_error is None:
        files = dataclasses.replace(files, on_error="skip")
    return _labelling_job(
        "translate-train",
        engines,
        files,
        config,
        lambda ready, items: translate_train(ready, items, config),
        engine_options,
        verify,
        progress,
    )


def _labelling_job(
    command: str,
    engines: EngineSource,
    files: FileJobConfig,
    config: PipelineConfig,
    pipeline: Pipeline,
    engine_options: EngineOptions | None,
    verify: bool,
    progress: Progress | None,
) -> RunSummary:
    """Check the files, then the engine settings, then the bundle (no model is built), then
    run the job."""
    formats = sentence_formats(files)
    if command == "translate-train" and formats.reader == "text":
        raise ConfigError("translate-train needs labelled input: CoNLL or JSONL with tags")
    check_engine_settings(
        planned_options(engines, engine_options), translator="translator" in config.engines
    )
    ready = Engines.of(engines, engine_options, verify=verify)
    config.check(ready)
    fingerprint: dict[str, Any] = {
        "command": command,
        **formats.canonical(),
        **files.canonical(),
        **config.engine_fingerprint(ready),
        **config.canonical(),
    }
    job: FileJob[Sentence, LabelledResult] = FileJob(
        command,
        files,
        fingerprint,
        formats.read(files),
        sentence_key,
        lambda items: pipeline(ready, items),
        lambda result: write_labelled(result, formats.writer),
        config.chunk_size,
        progress,
        GoldScorer(files.gold, files.ignore) if files.evaluates else None,
        drop_incomplete=isinstance(config, TranslateTrainConfig) and config.drop_incomplete,
    )
    return run_job(job)


def planned_options(
    engines: EngineSource, engine_options: EngineOptions | None
) -> EngineOptions | None:
    """The engine settings a job will use, known before the bundle is loaded."""
    if isinstance(engines, Engines):
        return engines.options_of("translator")
    return engine_options
