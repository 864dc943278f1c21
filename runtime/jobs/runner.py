"""The loop behind the file jobs of :mod:`xner.runtime.jobs.labelling`: checks, resumable
output, failed sentences, evaluation (see that module for the behaviour)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xner.runtime.data import Sentence
from xner.runtime.errors import ConfigError, InputError, unknown_choice
from xner.runtime.evaluate import EvaluationResult, Evaluator
from xner.runtime.files.atomic import SPACE_ERRNOS, atomic_write, check_output
from xner.runtime.files.formats import read_sentences, resolve_format, write_sentences
from xner.runtime.files.io import Source, check_readable, is_stream, source_name
from xner.runtime.jobs.resume import (
    Checkpoint,
    CommittedOutput,
    InputDigest,
    partial_path,
    progress_path,
)
from xner.runtime.jobs.summary import RunSummary, merged
from xner.runtime.pipelines.stages import checked_chunk_size

__all__ = ["ON_ERROR", "Job", "execute", "label_set", "make_job"]

logger = logging.getLogger("xner")

ON_ERROR = ("copy-O", "skip", "fail")
"""What to do with a sentence that cannot be labelled (:mod:`xner.runtime.jobs.labelling`)."""

Progress = Callable[[Iterable[Any]], Iterable[Any]]


@dataclass
class Job:
    """Everything a file job needs besides the pipeline itself."""

    command: str
    source: Source
    in_name: str
    read_options: dict[str, Any]
    output: str | os.PathLike[str]
    out_name: str
    explain: Path | None
    fingerprint: dict[str, Any]
    on_error: str
    chunk_size: int
    resume: bool
    force: bool
    progress: Progress | None
    gold: Source | None = None
    evaluate_input: bool = False
    ignore: frozenset[str] = frozenset()
    drop_incomplete: bool = False


# --- checks -----------------------------------------------------------------------------------


def label_set(labels: Collection[str]) -> frozenset[str]:
    if isinstance(labels, str):
        labels = labels.split(",")
    return frozenset(label.strip() for label in labels if label.strip())


def make_job(
    command: str,
    source: Source,
    output: str | os.PathLike[str],
    explain: str | os.PathLike[str] | None,
    *,
    in_fmt: str | None,
    out_fmt: str | None,
    tokenize: str | None,
    on_error: str,
    chunk_size: int,
    resume: bool,
    force: bool,
    progress: Progress | None,
    gold: Source | None = None,
    evaluate: bool = False,
    ignore: Collection[str] = (),
) -> Job:
    """Check the files and options of a job before any model is loaded."""
    if on_error not in ON_ERROR:
        raise unknown_choice("on-error policy", str(on_error), ON_ERROR)
    if is_stream(output):
        raise ConfigError("the output must be a file path or - (stdout)")
    stdin = not is_stream(source) and str(source) == "-"
    in_name = resolve_format(source, in_fmt or ("text" if stdin else None), kind="reader")
    stdout = str(output) == "-"
    out_name = resolve_format(output, out_fmt or ("conll" if stdout else None), kind="writer")
    if out_name == "text":
        raise ConfigError("tags cannot be written as text; write conll or jsonl")
    read_options: dict[str, Any] = {}
    if tokenize is not None:
        if in_name != "text":
            raise ConfigError(f"tokenize applies to text input only, not to {in_name}")
        read_options["tokenize"] = tokenize
    if stdout and (resume or force):
        raise ConfigError("--resume and --force need an output file (-o FILE), not stdout")
    if explain is not None and str(explain) == "-":
        raise ConfigError("the explain records need a file (--explain FILE.jsonl), not stdout")
    if gold is not None and evaluate:
        raise ConfigError("give a gold file or evaluate against the input's tags, not both")
    if not stdout:
        companions = [partial_path(output), progress_path(output)]
        if explain is not None:
            companions += [explain, partial_path(explain)]
        check_output(output, companions=companions)
    elif explain is not None:
        check_output(explain)
    check_readable(source)
    read_sentences(source, in_name, **read_options)  # checks the reader's options now
    if gold is not None:
        check_readable(gold)
        resolve_format(gold, None, kind="reader")
    fingerprint = {
        "command": command,
        "in_format": in_name,
        "out_format": out_name,
        "tokenize": tokenize,
        "explain": explain is not None,
        "gold": gold is not None,
        "evaluate": bool(evaluate),
        "ignore": sorted(label_set(ignore)),
    }
    return Job(
        command,
        source,
        in_name,
        read_options,
        output,
        out_name,
        None if explain is None else Path(explain),
        fingerprint,
        on_error,
        checked_chunk_size(chunk_size),
        resume,
        force,
        progress,
        gold,
        bool(evaluate),
        label_set(ignore),
    )


# --- the job loop -----------------------------------------------------------------------------


class _StreamOutput:
    """Output to stdout (not resumable); the explain file is written atomically at the end."""

    def __init__(self, explain: Path | None) -> None:
        self._stack = contextlib.ExitStack()
        self._explain = (
            None if explain is None else self._stack.enter_context(atomic_write(explain))
        )
        self.committed = 0

    def open(self) -> Checkpoint:
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


def _sink(job: Job) -> CommittedOutput | _StreamOutput:
    if str(job.output) == "-":
        return _StreamOutput(job.explain)
    files: dict[str, str | os.PathLike[str]] = {"output": job.output}
    if job.explain is not None:
        files["explain"] = job.explain
    return CommittedOutput(
        files,
        job.fingerprint,
        resume=job.resume,
        force=job.force,
        input_name=source_name(job.source),
    )


def execute(job: Job, pipeline: Callable[[Iterator[Sentence]], Iterator[Any]]) -> RunSummary:
    started = time.perf_counter()
    summary = RunSummary(
        job.command, str(job.output), None if job.explain is None else str(job.explain)
    )
    inputs: list[Iterator[Sentence]] = []
    pending: deque[Sentence] = deque()

    def feed() -> Iterator[Sentence]:
        for sentence in inputs[0]:
            pending.append(sentence)
            yield sentence

    sink = _sink(job)
    if isinstance(sink, CommittedOutput):
        # files and an interrupted run's settings, before any model is built
        _check_policy(job, sink.check())
    results = pipeline(feed())  # checks languages and labels now; reads nothing yet
    checkpoint = sink.open()
    previous = summary.restore(checkpoint.state)
    summary.resumed = checkpoint.sentences_done
    if checkpoint.finished:
        summary.evaluation = previous
        return summary
    try:
        _loop(job, sink, checkpoint, summary, previous, results, inputs, pending)
    except BaseException as error:
        saved = sink.committed
        if saved:
            sink.close()
        else:
            sink.discard()
        if saved and isinstance(error, InputError):
            hint = f" ({saved} sentences before it are saved in {job.output}.partial: --resume)"
            raise InputError(error.path, error.line, error.problem + hint) from None
        if isinstance(error, OSError) and error.errno in SPACE_ERRNOS:
            hint = (
                f"; {saved} sentences are saved in {job.output}.partial: free some space and "
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


def _loop(
    job: Job,
    sink: CommittedOutput | _StreamOutput,
    checkpoint: Checkpoint,
    summary: RunSummary,
    previous: EvaluationResult | None,
    results: Iterator[Any],
    inputs: list[Iterator[Sentence]],
    pending: deque[Sentence],
) -> None:
    digest = InputDigest()
    stream = read_sentences(job.source, job.in_name, **job.read_options)
    golds = None if job.gold is None else read_sentences(job.gold)
    done = checkpoint.sentences_done
    _skip_done(job, stream, golds, digest, checkpoint)
    inputs.append(stream)
    evaluator = Evaluator(job.ignore) if job.gold is not None or job.evaluate_input else None
    texts: dict[str, list[str]] = {"output": [], "explain": []}

    def commit() -> None:
        evaluation = None if evaluator is None else merged(previous, evaluator.result())
        state = summary.state(evaluation)
        state["on_error"] = job.on_error  # see _check_policy
        chunk = {name: "".join(parts) for name, parts in texts.items()}
        if job.explain is None:
            del chunk["explain"]
        sink.commit(chunk, Checkpoint(done, digest.hexdigest(), state))
        for parts in texts.values():
            parts.clear()

    wrapped = results if job.progress is None else job.progress(results)
    for result in wrapped:
        original = pending.popleft()
        gold = None
        if evaluator is not None and original.tokens:
            gold = _gold_for(job, golds, original)
        text, status = _output(job, result, original, summary)
        if gold is not None and evaluator is not None:
            evaluator.add(gold.tags, result.tags, line=gold.line or None, source=gold.source)
        if text:
            texts["output"].append(text)
        if job.explain is not None:
            record = result.explain()
            record["index"], record["status"] = done, status  # index in the whole input
            texts["explain"].append(json.dumps(record, ensure_ascii=False) + "\n")
        digest.add(original)
        done += 1
        summary.sentences += 1
        summary.processed += 1
        if summary.processed % job.chunk_size == 0:
            commit()
    if golds is not None:
        extra = next(golds, None)
        if extra is not None:
            problem = f"the gold file goes on after the input's last sentence ({summary.sentences})"
            raise InputError(extra.source, extra.line or None, problem)
    commit()
    summary.evaluation = None if evaluator is None else merged(previous, evaluator.result())
    sink.finish(Checkpoint(done, digest.hexdigest(), summary.state(summary.evaluation)))


def _check_policy(job: Job, saved: dict[str, Any] | None) -> None:
    """Refuse to resume under another ``on_error`` policy once the interrupted run has written
    or left out a failed sentence under its own (the output would mix two policies). Before
    that, as after a run stopped by ``fail``, the policy has not shaped the output yet."""
    state = (saved or {}).get("state") or {}
    before = state.get("on_error")
    handled = int(state.get("copied", 0)) + int(state.get("skipped", 0))
    if before not in (None, job.on_error) and handled:
        raise ConfigError(
            f"--resume: settings differ from the interrupted run of {job.output}: on_error "
            f"{before} -> {job.on_error} ({handled} failed sentences were handled by {before}); "
            "rerun with those settings or pass --force to start over"
        )


def _skip_done(
    job: Job,
    stream: Iterator[Sentence],
    golds: Iterator[Sentence] | None,
    digest: InputDigest,
    checkpoint: Checkpoint,
) -> None:
    """Read past the sentences an interrupted run did, checking that they are the same."""
    done = checkpoint.sentences_done
    count = 0
    for sentence in itertools.islice(stream, done):
        digest.add(sentence)
        if golds is not None and sentence.tokens:
            _gold_for(job, golds, sentence)
        count += 1
    name = source_name(job.source)
    if count < done:
        raise ConfigError(
            f"cannot resume: {name} has {count} sentences but the interrupted run had done "
            f"{done}; it is not the same input (pass --force to start over)"
        )
    if digest.hexdigest() != checkpoint.input_digest:
        raise ConfigError(
            f"cannot resume: the first {done} sentences of {name} differ from those the "
            "interrupted run read (pass --force to start over)"
        )


def _gold_for(job: Job, golds: Iterator[Sentence] | None, original: Sentence) -> Sentence:
    """The gold sentence of ``original``: the next one of the gold file, or itself."""
    where = f"{original.source}:{original.line}"
    if golds is None:
        if original.tags is None:
            raise InputError(
                original.source, original.line or None, "no tags in the input to evaluate against"
            )
        return original
    gold = next(golds, None)
    if gold is None:
        raise InputError(job.gold, None, f"the gold file ends before the input sentence at {where}")
    if gold.tags is None:
        raise InputError(gold.source, gold.line or None, "the gold file has no tags")
    if len(gold.tokens) != len(original.tokens):
        problem = (
            f"this gold sentence has {len(gold.tokens)} words but the input sentence at {where} "
            f"has {len(original.tokens)}"
        )
        raise InputError(gold.source, gold.line or None, problem)
    return gold


def _output(
    job: Job,
    result: Any,
    original: Sentence,
    summary: RunSummary,
) -> tuple[str | None, str]:
    """The text to write for ``result`` (None: nothing) and its status for the explain file."""
    sentence = result.output()
    problem = result.error
    summary.truncated += int(bool(getattr(result, "truncated", False)))
    text = None
    if problem is None and sentence is not None:
        if not sentence.tokens and job.out_name == "conll":
            summary.empty += 1
            return None, "empty"
        text, problem = _render(sentence, job.out_name)
    if problem is not None:
        if job.on_error == "fail":  # the chunk is not committed: a resumed run redoes it whole
            raise InputError(original.source, original.line or None, problem)
        summary.failed += 1
        message = str(InputError(original.source, original.line or None, problem))
        summary.problem(message)
        if job.on_error == "copy-O" and result.error is not None and sentence is not None:
            text, _ = _render(sentence, job.out_name)  # all-O tags
        if text:
            summary.copied += 1
            summary.written += 1
            logger.warning("%s (written with O tags)", message)
            return text, "copied-O"
        summary.skipped += 1
        logger.warning("%s (left out)", message)
        return None, "skipped"
    summary.source_entities += len(getattr(result, "english_spans", None) or [])
    summary.source_entities += len(getattr(result, "source_spans", None) or [])
    if getattr(result, "lost", 0):
        summary.incomplete += 1
        if job.drop_incomplete:
            summary.dropped += 1
            return None, "dropped-incomplete"
    summary.written += 1
    summary.entities += len(result.spans)
    return text, "ok"


def _render(sentence: Sentence, fmt: str) -> tuple[str | None, str | None]:
    """``sentence`` written in ``fmt``, or the problem that prevents it."""
    buffer = io.StringIO()
    try:
        write_sentences([sentence], buffer, fmt)
    except InputError as error:
        return None, error.problem
    return buffer.getvalue(), None
