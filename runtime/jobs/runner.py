"""The one runner behind every file job: translate, tag, align, project, translate-test and
translate-train.

A job (:class:`FileJob`) brings three things: its *items* (read lazily from its input, each
knowing its ``source`` and ``line``), its *pipeline* (items -> results, lazily and in order, each
result carrying the item it came from: :class:`JobResult`) and its *writer* (result -> the text
to write, or the problem that prevents it: :class:`Written`). The runner does the rest, the same
way for every job:

- the output is written in committed chunks (:mod:`~xner.runtime.jobs.resume`): a killed job
  continues with ``resume`` where it stopped, after checking that the settings (the job's
  fingerprint) and the input read so far are the same; ``"-"`` streams to standard output;
- a failed item is handled by the ``on_error`` policy (``copy-O``, ``skip``, ``fail``) and
  reported as ``FILE:LINE: problem``;
- the ``explain`` records, the evaluation (a :class:`Scorer`) and the counts of the returned
  :class:`~xner.runtime.jobs.summary.RunSummary` survive a resumption;
- ``progress`` wraps the stream of results (a progress bar).

Everything that can fail on the files or the settings is checked before the pipeline is built,
and the pipeline (which may build the models) before the output files are created.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Generic, Protocol, TypeVar

from xner.runtime.data import Sentence
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.evaluate import EvaluationResult
from xner.runtime.files.atomic import SPACE_ERRNOS, atomic_write
from xner.runtime.files.formats import write_sentences
from xner.runtime.files.io import source_name
from xner.runtime.jobs.file_config import FileJobConfig
from xner.runtime.jobs.resume import Checkpoint, CommittedOutput, InputDigest
from xner.runtime.jobs.summary import RunSummary, merged

__all__ = [
    "FileJob",
    "JobInput",
    "JobResult",
    "NoLabels",
    "Progress",
    "Scorer",
    "Written",
    "render",
    "run_job",
]

logger = logging.getLogger("xner")

Progress = Callable[[Iterable[Any]], Iterable[Any]]
"""Wraps the stream of results (a progress bar); must yield every result, in order."""


class JobInput(Protocol):
    """An item read from a job's input: where it was read, for ``FILE:LINE`` messages."""

    @property
    def source(self) -> str: ...

    @property
    def line(self) -> int: ...


I = TypeVar("I", bound=JobInput)  # noqa: E741  (the item type, as in the docstrings)
I_co = TypeVar("I_co", bound=JobInput, covariant=True)


class JobResult(Protocol[I_co]):
    """What the runner reads from a result: the item it came from (None is refused: a job's
    pipeline must keep it), why it failed (None: it did not), and the counts of the summary
    (0 / empty where they do not apply)."""

    @property
    def input(self) -> I_co | None: ...

    @property
    def error(self) -> str | None: ...

    @property
    def truncated(self) -> bool: ...

    @property
    def source_entities(self) -> int: ...

    @property
    def lost(self) -> int: ...

    @property
    def spans(self) -> Collection[object]: ...

    def explain(self) -> dict[str, Any]: ...


@dataclass(frozen=True, kw_only=True)
class NoLabels:
    """The :class:`JobResult` fields of a result that labels nothing (a translation, links):
    a base for such results, which add their ``input`` and what they carry."""

    error: str | None = None
    truncated: bool = False
    source_entities: int = 0
    lost: int = 0
    spans: tuple[object, ...] = ()


R = TypeVar("R", bound=JobResult[Any])
I_contra = TypeVar("I_contra", contravariant=True)
R_contra = TypeVar("R_contra", contravariant=True)


@dataclass(frozen=True)
class Written:
    """What a job's writer makes of one result.

    ``text``: what goes to the output ("" for nothing); for a failed result, the text that
    ``copy-O`` writes ("" when there is none). ``problem``: why the result cannot be written (a
    sentence the output format cannot hold), else None. ``empty``: an empty item the output
    format cannot hold: not written, counted (``RunSummary.empty``).
    """

    text: str = ""
    problem: str | None = None
    empty: bool = False


class Scorer(Protocol[I_contra, R_contra]):
    """Scores a job's results against gold labels as they come (evaluation)."""

    def skip(self, item: I_contra) -> None:
        """An item the interrupted run did (its gold partner is read past)."""

    def add(self, result: R_contra) -> None:
        """Score one result."""

    def finish(self) -> None:
        """The input is done (the gold file must be done too)."""

    def result(self) -> EvaluationResult:
        """The scores of the results added so far."""


@dataclass(frozen=True)
class FileJob(Generic[I, R]):
    """One file job for :func:`run_job`.

    ``command``: its name (in the summary and the fingerprint). ``files``: the file side.
    ``fingerprint``: every setting that changes the output (a resumed run must have the same).
    ``items``: the input, read lazily. ``key``: what identifies an item (JSON-ready), hashed to
    recognise the input on resume. ``pipeline``: items -> results, lazily, in order; called once,
    before the output is opened (it may build engines and check settings then). ``write``: a
    result -> :class:`Written`. ``commit_every``: results per committed chunk. ``scorer``: the
    evaluation, when asked. ``drop_incomplete``: leave out results that lost an entity.
    """

    command: str
    files: FileJobConfig
    fingerprint: Mapping[str, Any]
    items: Iterator[I]
    key: Callable[[I], object]
    pipeline: Callable[[Iterator[I]], Iterator[R]]
    write: Callable[[R], Written]
    commit_every: int
    progress: Progress | None = None
    scorer: Scorer[I, R] | None = None
    drop_incomplete: bool = False


def render(sentence: Sentence, fmt: str) -> Written:
    """``sentence`` written in ``fmt`` (a sentence format), or the problem that prevents it."""
    buffer = io.StringIO()
    try:
        write_sentences([sentence], buffer, fmt)
    except InputError as error:
        return Written(problem=error.problem)
    return Written(buffer.getvalue())


# --- the loop ---------------------------------------------------------------------------------


class _StreamOutput:
    """Output to stdout (not resumable); the explain file is written atomically at the end."""

    def __init__(self, explain: Path | None) -> None:
        self._stack = contextlib.ExitStack()
        self._path = explain
        self._explain: IO[str] | None = None
        self.committed = 0

    def planned(self) -> Checkpoint:
        return Checkpoint()

    def open(self) -> Checkpoint:
        if self._path is not None:
            self._explain = self._stack.enter_context(atomic_write(self._path))
        return Checkpoint()

    def commit(self, texts: dict[str, str], checkpoint: Checkpoint) -> None:
        sys.stdout.write(texts["output"])
        sys.stdout.flush()
        if self._explain is not None:
            self._explain.write(texts["explain"])
        self.committed = checkpoint.sentences_done

    def finish(self, checkpoint: Checkpoint) -> None:
        self._stack.close()

    def close(self) -> None:
        error = RuntimeError("stopped")
        self._stack.__exit__(type(error), error, None)  # the explain file is not written

    discard = close


def _sink(files: FileJobConfig, fingerprint: Mapping[str, Any]) -> CommittedOutput | _StreamOutput:
    if files.stdout:
        return _StreamOutput(files.explain_path)
    paths: dict[str, str | os.PathLike[str]] = {"output": files.output}
    if files.explain is not None:
        paths["explain"] = files.explain
    return CommittedOutput(
        paths,
        fingerprint,
        resume=files.resume,
        force=files.force,
        input_name=source_name(files.source),
    )


def run_job(job: FileJob[I, R]) -> RunSummary:
    """Run ``job`` to the end (or from where an interrupted run stopped); its summary."""
    started = time.perf_counter()
    files = job.files
    summary = RunSummary(
        job.command, str(files.output), None if files.explain is None else str(files.explain)
    )
    sink = _sink(files, job.fingerprint)
    # the files and an interrupted run's settings, before any model is built
    planned = sink.planned()
    _check_policy(files, planned.state)
    digest = InputDigest()
    results = job.pipeline(_after(job, planned, digest))  # reads nothing yet
    checkpoint = sink.open()
    previous = summary.restore(checkpoint.state)
    summary.resumed = checkpoint.sentences_done
    if checkpoint.finished:
        summary.evaluation = previous
        return summary
    try:
        _loop(job, sink, checkpoint, summary, previous, results, digest)
    except BaseException as error:
        saved = sink.committed
        if saved:
            sink.close()
        else:
            sink.discard()
        if saved and isinstance(error, InputError):
            hint = f" ({saved} sentences before it are saved in {files.output}.partial: --resume)"
            raise InputError(error.path, error.line, error.problem + hint) from None
        if isinstance(error, OSError) and error.errno in SPACE_ERRNOS:
            hint = (
                f"; {saved} sentences are saved in {files.output}.partial: free some space and "
                "rerun with --resume"
                if saved
                else ""
            )
            raise OSError(error.errno, f"{error.strerror}{hint}", error.filename) from error
        if saved and isinstance(error, KeyboardInterrupt):
            logger.warning("stopped after %d sentences: rerun with --resume to go on", saved)
        raise
    finally:
        summary.seconds = time.perf_counter() - started
    return summary


def _after(job: FileJob[I, R], planned: Checkpoint, digest: InputDigest) -> Iterator[I]:
    """The items after those an interrupted run did, checking first that those are the same."""
    done = planned.sentences_done
    count = 0
    for item in itertools.islice(job.items, done):
        digest.add(job.key(item))
        if job.scorer is not None:
            job.scorer.skip(item)
        count += 1
    name = source_name(job.files.source)
    if count < done:
        raise ConfigError(
            f"cannot resume: {name} has {count} sentences but the interrupted run had done "
            f"{done}; it is not the same input (pass --force to start over)"
        )
    if digest.hexdigest() != planned.input_digest:
        raise ConfigError(
            f"cannot resume: the first {done} sentences of {name} differ from those the "
            "interrupted run read (pass --force to start over)"
        )
    yield from job.items


def _loop(
    job: FileJob[I, R],
    sink: CommittedOutput | _StreamOutput,
    checkpoint: Checkpoint,
    summary: RunSummary,
    previous: EvaluationResult | None,
    results: Iterator[R],
    digest: InputDigest,
) -> None:
    done = checkpoint.sentences_done
    scorer, explain = job.scorer, job.files.explain is not None
    texts: dict[str, list[str]] = {"output": [], "explain": []}

    def commit() -> None:
        evaluation = None if scorer is None else merged(previous, scorer.result())
        state = summary.state(evaluation)
        state["on_error"] = job.files.policy  # see _check_policy
        chunk = {name: "".join(parts) for name, parts in texts.items()}
        if not explain:
            del chunk["explain"]
        sink.commit(chunk, Checkpoint(done, digest.hexdigest(), state))
        for parts in texts.values():
            parts.clear()

    wrapped = results if job.progress is None else job.progress(results)
    for result in wrapped:
        if scorer is not None:
            scorer.add(result)
        text, status = _output(job, result, summary)
        if text:
            texts["output"].append(text)
        if explain:
            record = result.explain()
            record["index"], record["status"] = done, status  # index in the whole input
            texts["explain"].append(json.dumps(record, ensure_ascii=False) + "\n")
        digest.add(job.key(_input(job, result)))
        done += 1
        summary.sentences += 1
        summary.processed += 1
        if summary.processed % job.commit_every == 0:
            commit()
    if scorer is not None:
        scorer.finish()
    commit()
    summary.evaluation = None if scorer is None else merged(previous, scorer.result())
    sink.finish(Checkpoint(done, digest.hexdigest(), summary.state(summary.evaluation)))


def _check_policy(files: FileJobConfig, state: Mapping[str, Any]) -> None:
    """Refuse to resume under another ``on_error`` policy once the interrupted run has written
    or left out a failed sentence under its own (the output would mix two policies). Before
    that, as after a run stopped by ``fail``, the policy has not shaped the output yet."""
    before = state.get("on_error")
    handled = int(state.get("copied", 0)) + int(state.get("skipped", 0))
    if before not in (None, files.policy) and handled:
        raise ConfigError(
            f"--resume: settings differ from the interrupted run of {files.output}: on_error "
            f"{before} -> {files.policy} ({handled} failed sentences were handled by {before}); "
            "rerun with those settings or pass --force to start over"
        )


def _output(job: FileJob[I, R], result: R, summary: RunSummary) -> tuple[str | None, str]:
    """The text to write for ``result`` (None: nothing) and its status for the explain file."""
    written = job.write(result)
    summary.truncated += int(bool(result.truncated))
    if result.error is None and written.empty:
        summary.source_entities += result.source_entities
        summary.empty += 1
        return None, "empty"
    problem = result.error if result.error is not None else written.problem
    text = written.text if written.problem is None else ""
    if problem is not None:
        item = _input(job, result)
        if job.files.policy == "fail":  # the chunk is not committed: a resumed run redoes it
            raise InputError(item.source, item.line or None, problem)
        summary.failed += 1
        message = str(InputError(item.source, item.line or None, problem))
        summary.problem(message)
        if job.files.policy == "copy-O" and result.error is not None and text:
            summary.copied += 1
            summary.written += 1
            logger.warning("%s (written with O tags)", message)
            return text, "copied-O"
        summary.skipped += 1
        logger.warning("%s (left out)", message)
        return None, "skipped"
    summary.source_entities += result.source_entities
    summary.count_markers(result)
    if result.lost:
        summary.incomplete += 1
        if job.drop_incomplete:
            summary.dropped += 1
            return None, "dropped-incomplete"
    summary.written += 1
    summary.entities += len(result.spans)
    return text, "ok"


def _input(job: FileJob[I, R], result: R) -> I:
    item: I | None = result.input
    if item is None:
        raise TypeError(f"{job.command}: the pipeline gave a result without its input")
    return item
