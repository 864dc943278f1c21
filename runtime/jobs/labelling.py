"""File jobs: :func:`run_translate_test`, :func:`run_translate_train`, :func:`run_model_transfer`.

Each job reads its input lazily (a file of any size is never loaded whole), runs the pipeline
``chunk_size`` sentences at a time and writes the output, and the ``explain`` records, in
committed chunks (:mod:`xner.runtime.jobs.resume`): a job that is killed continues with
``resume=True`` where it stopped, with no sentence lost or duplicated and the input order kept.

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
in the input's order, or ``evaluate=True`` takes the gold tags from the input itself (CoNLL or
JSONL with tags; otherwise the input's tags are ignored). A failed sentence counts as predicting
nothing (all ``O``), whatever ``on_error`` does with it. Empty input sentences (blank lines of a
text file) have no gold partner. The entity counts are kept in the checkpoints, so the scores
of a resumed job cover the whole input.

**Checks first**: the output path (and the explain file, the partial files and the sidecar),
then every option, then the bundle's manifest (labels to drop), then an interrupted run's
settings are checked before any engine is built. **Resuming** continues only a run with the
same settings: the fingerprint holds the bundle identity (manifest digest), the device class
(``cpu``/``cuda``, ``auto`` resolved) and compute type, the beam size and alignment method, the
languages, the projection method and its options, ``drop``, ``drop_incomplete``, the formats,
``tokenize``, ``explain`` / ``gold`` / ``evaluate`` / ``ignore``; a mismatch names each setting
(``compute_type int8 -> float32``). Another ``on_error`` is refused once the interrupted run
wrote or left out a failed sentence under its own. Threads, batch sizes and ``chunk_size`` are
left out: they change speed, not labels.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection
from typing import Any

from xner.runtime.engines.engine_set import Engines, check_engine_settings
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError
from xner.runtime.files.io import Source
from xner.runtime.jobs.runner import ON_ERROR, Progress, execute, label_set, make_job
from xner.runtime.jobs.summary import RunSummary
from xner.runtime.languages import resolve_language
from xner.runtime.pipelines.stages import checked_labels, projection_method
from xner.runtime.pipelines.translate_test import EngineSource, model_transfer, translate_test
from xner.runtime.pipelines.translate_train import translate_train

__all__ = ["ON_ERROR", "run_model_transfer", "run_translate_test", "run_translate_train"]


def run_translate_test(
    engines: EngineSource,
    source: Source,
    output: str | os.PathLike[str],
    lang: str,
    *,
    method: str = "heuristic",
    options: Any = None,
    drop: Collection[str] = (),
    explain: str | os.PathLike[str] | None = None,
    gold: Source | None = None,
    evaluate: bool = False,
    ignore: Collection[str] = (),
    on_error: str = "copy-O",
    resume: bool = False,
    force: bool = False,
    chunk_size: int = 256,
    in_fmt: str | None = None,
    out_fmt: str | None = None,
    tokenize: str | None = None,
    beam_size: int | None = None,
    align_method: str | None = None,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Label the sentences of ``source`` (in ``lang``) by translate-test; write them to
    ``output``.

    ``source``: CoNLL, JSONL or text (one sentence per line; ``tokenize``: ``whitespace`` or
    ``unicode``), format from ``in_fmt`` or the extension (``"-"``: text on stdin). ``output``:
    CoNLL or JSONL (``out_fmt`` or the extension; ``"-"``: CoNLL on stdout, not resumable).
    ``explain``: a JSONL file of per-sentence records (translation, English entities,
    alignment, n-gram scores, chosen projection, ``status``). ``gold`` / ``evaluate`` /
    ``ignore``: evaluation (module docstring). ``on_error``: ``copy-O``, ``skip`` or ``fail``.
    ``resume`` / ``force``: continue / discard an interrupted run. ``chunk_size``: sentences
    per engine chunk and per commit. ``progress`` wraps the stream of results (a progress bar).
    The other arguments are those of :func:`~xner.runtime.pipelines.translate_test`.
    """
    method, opts = projection_method(method, options)
    drop = label_set(drop)
    job = make_job(
        "translate-test",
        source,
        output,
        explain,
        in_fmt=in_fmt,
        out_fmt=out_fmt,
        tokenize=tokenize,
        on_error=on_error,
        chunk_size=chunk_size,
        resume=resume,
        force=force,
        progress=progress,
        gold=gold,
        evaluate=evaluate,
        ignore=ignore,
    )
    lang = resolve_language(lang)
    engines, identity = _load(
        engines,
        engine_options,
        verify,
        ("translator", "tagger", "aligner"),
        beam_size=beam_size,
        align_method=align_method,
    )
    checked_labels(drop, engines.entity_types(), "entity type to drop")
    job.fingerprint.update(
        identity,
        lang=lang,
        method=method,
        options=dataclasses.asdict(opts),
        drop=sorted(drop),
    )
    return execute(
        job,
        lambda stream: translate_test(
            engines,
            stream,
            lang,
            method=method,
            options=opts,
            drop=drop,
            chunk_size=job.chunk_size,
            beam_size=beam_size,
            align_method=align_method,
        ),
    )


def run_model_transfer(
    engines: EngineSource,
    source: Source,
    output: str | os.PathLike[str],
    lang: str | None = None,
    *,
    drop: Collection[str] = (),
    explain: str | os.PathLike[str] | None = None,
    gold: Source | None = None,
    evaluate: bool = False,
    ignore: Collection[str] = (),
    on_error: str = "copy-O",
    resume: bool = False,
    force: bool = False,
    chunk_size: int = 256,
    in_fmt: str | None = None,
    out_fmt: str | None = None,
    tokenize: str | None = None,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Tag the sentences of ``source`` directly with the tagger (the model-transfer baseline).

    Same files, evaluation and resumption as :func:`run_translate_test`, without translation.
    """
    drop = label_set(drop)
    job = make_job(
        "model-transfer",
        source,
        output,
        explain,
        in_fmt=in_fmt,
        out_fmt=out_fmt,
        tokenize=tokenize,
        on_error=on_error,
        chunk_size=chunk_size,
        resume=resume,
        force=force,
        progress=progress,
        gold=gold,
        evaluate=evaluate,
        ignore=ignore,
    )
    lang = None if lang is None else resolve_language(lang)
    engines, identity = _load(engines, engine_options, verify, ("tagger",))
    checked_labels(drop, engines.entity_types(), "entity type to drop")
    job.fingerprint.update(identity, lang=lang, drop=sorted(drop))
    return execute(
        job,
        lambda stream: model_transfer(engines, stream, lang, drop=drop, chunk_size=job.chunk_size),
    )


def run_translate_train(
    engines: EngineSource,
    source: Source,
    output: str | os.PathLike[str],
    src_lang: str,
    tgt_lang: str,
    *,
    method: str = "heuristic",
    options: Any = None,
    drop: Collection[str] = (),
    drop_incomplete: bool = False,
    explain: str | os.PathLike[str] | None = None,
    on_error: str = "skip",
    resume: bool = False,
    force: bool = False,
    chunk_size: int = 256,
    in_fmt: str | None = None,
    out_fmt: str | None = None,
    beam_size: int | None = None,
    align_method: str | None = None,
    engine_options: EngineOptions | None = None,
    verify: bool = True,
    progress: Progress | None = None,
) -> RunSummary:
    """Carry the labelled sentences of ``source`` (CoNLL or JSONL, IOB2) from ``src_lang`` into
    ``tgt_lang`` and write the labelled translations to ``output`` (CoNLL or JSONL).

    ``drop_incomplete``: leave out the sentences whose projection lost an entity (they are
    counted either way). ``on_error`` defaults to ``skip`` (module docstring). The other
    arguments are those of :func:`run_translate_test` and
    :func:`~xner.runtime.pipelines.translate_train`.
    """
    method, opts = projection_method(method, options)
    drop = label_set(drop)
    job = make_job(
        "translate-train",
        source,
        output,
        explain,
        in_fmt=in_fmt,
        out_fmt=out_fmt,
        tokenize=None,
        on_error=on_error,
        chunk_size=chunk_size,
        resume=resume,
        force=force,
        progress=progress,
    )
    if job.in_name == "text":
        raise ConfigError("translate-train needs labelled input: CoNLL or JSONL with tags")
    job.drop_incomplete = bool(drop_incomplete)
    src_lang, tgt_lang = resolve_language(src_lang), resolve_language(tgt_lang)
    engines, identity = _load(
        engines,
        engine_options,
        verify,
        ("translator", "aligner"),
        beam_size=beam_size,
        align_method=align_method,
    )
    job.fingerprint.update(
        identity,
        src_lang=src_lang,
        tgt_lang=tgt_lang,
        method=method,
        options=dataclasses.asdict(opts),
        drop=sorted(drop),
        drop_incomplete=job.drop_incomplete,
    )
    return execute(
        job,
        lambda stream: translate_train(
            engines,
            stream,
            src_lang,
            tgt_lang,
            method=method,
            options=opts,
            drop=drop,
            chunk_size=job.chunk_size,
            beam_size=beam_size,
            align_method=align_method,
        ),
    )


def _load(
    engines: EngineSource,
    engine_options: EngineOptions | None,
    verify: bool,
    needs: tuple[str, ...],
    *,
    beam_size: int | None = None,
    align_method: str | None = None,
) -> tuple[Engines, dict[str, Any]]:
    """Check the engine settings, then load the bundle (files checked first); the engines and
    the part of the resume fingerprint that they decide. No model is built here."""
    check_engine_settings(
        _options(engines, engine_options),
        translator="translator" in needs,
        beam_size=beam_size,
        align_method=align_method,
    )
    loaded = Engines.of(engines, engine_options, verify=verify)
    return loaded, loaded.fingerprint(needs, beam_size=beam_size, align_method=align_method)


def _options(engines: EngineSource, engine_options: EngineOptions | None) -> EngineOptions | None:
    """The engine settings a job will use, known before the bundle is loaded."""
    if isinstance(engines, Engines):
        return engines.options_of("translator")
    return engine_options
