"""Output written in committed chunks, so that a long job can be killed and resumed.

For an output ``OUT`` (and any companion files, such as the ``--explain`` file ``EXPLAIN``):

- the output grows in ``OUT.partial`` (``EXPLAIN.partial``); ``OUT`` itself appears only when
  the job is complete, by one ``os.replace``;
- a **commit** appends one chunk to every partial file, flushes and fsyncs them, then replaces
  the sidecar ``OUT.progress.json`` atomically. The sidecar records the number of input
  sentences done, the committed size of each partial file, a SHA-256 of the input sentences
  done (:class:`InputDigest`), the job's counters, and a *fingerprint* of the settings;
- **resume** reads the sidecar, checks the fingerprint, truncates each partial file to its
  committed size (bytes written after the last commit are dropped) and tells the job how many
  input sentences to skip; the job checks that those sentences hash to the recorded digest, so
  the same input is resumed (the file may be renamed, or fixed after the part already done);
- **finish** marks the sidecar finished, renames the partial files into place and removes the
  sidecar. A crash between these steps is completed by the next ``resume``.

Without ``resume`` an existing sidecar is an error that tells the user to pass ``--resume`` or
``--force`` (``force`` starts over). ``resume`` without a sidecar starts from the beginning.
:meth:`CommittedOutput.check` makes all these checks (and
:func:`~xner.runtime.files.atomic.check_output`
on every file) without creating anything, so that a job can fail before it loads a model.

A kill at any point leaves a state the next ``resume`` continues from: a kill while a chunk is
appended leaves bytes past the committed size (dropped); a kill while the sidecar is written
leaves ``OUT.progress.json.tmp`` (removed) and the previous sidecar; a kill while the files are
renamed leaves a sidecar marked finished (the renames are completed). A full disk while
appending raises :class:`OSError` naming ``OUT`` (:func:`~xner.runtime.files.atomic.out_of_space`);
what is committed stays resumable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from xner.runtime.data import Sentence
from xner.runtime.errors import ConfigError, changed_settings
from xner.runtime.files.atomic import (
    SPACE_ERRNOS,
    atomic_write,
    check_output,
    keep_mode,
    out_of_space,
)
from xner.runtime.files.io import JsonError, load_json

__all__ = [
    "Checkpoint",
    "CommittedOutput",
    "InputDigest",
    "partial_path",
    "progress_path",
    "sentence_key",
]

logger = logging.getLogger("xner")

PROGRESS_FORMAT = "xner-progress"
PROGRESS_VERSION = 1


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Where the output ``path`` grows until the job is complete: ``path.partial``."""
    return Path(f"{os.fspath(path)}.partial")


def progress_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar of the output ``path``: ``path.progress.json``."""
    return Path(f"{os.fspath(path)}.progress.json")


class InputDigest:
    """A running SHA-256 over input items, to recognise the same input."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, key: object) -> None:
        """Add one item by its JSON-ready ``key`` (for a sentence :func:`sentence_key`: its
        words and tags, not its line number)."""
        record = json.dumps(key, ensure_ascii=False)
        self._hash.update(record.encode("utf-8") + b"\n")

    def hexdigest(self) -> str:
        """The digest of the sentences added so far."""
        return self._hash.hexdigest()


EMPTY_DIGEST = InputDigest().hexdigest()


def sentence_key(sentence: Sentence) -> list[Any]:
    """What identifies a sentence of the input: its words and tags (not where it was read)."""
    return [sentence.tokens, sentence.tags]


@dataclass
class Checkpoint:
    """What a commit records besides the bytes.

    ``sentences_done``: input sentences whose output is committed (written or deliberately left
    out). ``input_digest``: :meth:`InputDigest.hexdigest` of those sentences. ``state``: the
    job's own JSON-ready counters. ``finished``: the job completed (only read on resume).
    """

    sentences_done: int = 0
    input_digest: str = EMPTY_DIGEST
    state: dict[str, Any] = field(default_factory=dict)
    finished: bool = False


class CommittedOutput:
    """Output files written in committed chunks beside a progress sidecar (module docstring).

    ``files``: name -> final path; the first entry is the main output, beside which the sidecar
    lives. ``fingerprint``: JSON-ready settings that must not change between a run and its
    resumption (a mismatch is an error naming the settings that differ). ``resume``: continue an
    interrupted run. ``force``: discard an interrupted run and start over. ``input_name``: the
    input, recorded in the sidecar for people to read.

    Use: ``checkpoint = out.open()``, then ``out.commit(texts, checkpoint)`` per chunk, then
    ``out.finish(checkpoint)``; on an error, ``out.close()`` keeps what is committed (or
    ``out.discard()`` removes it all).
    """

    def __init__(
        self,
        files: Mapping[str, str | os.PathLike[str]],
        fingerprint: Mapping[str, Any],
        *,
        resume: bool = False,
        force: bool = False,
        input_name: str = "",
    ) -> None:
        if not files:
            raise ValueError("CommittedOutput needs at least one file")
        self.files = {name: Path(path) for name, path in files.items()}
        resolved = [path.resolve() for path in self.files.values()]
        if len(set(resolved)) != len(resolved):
            raise ConfigError("the output files must be different files")
        self.main = next(iter(self.files.values()))
        self.sidecar = progress_path(self.main)
        self.fingerprint = json.loads(json.dumps(dict(fingerprint), default=str))
        self.resume = resume
        self.force = force
        self.input_name = input_name
        self.committed = 0  # sentences_done at the last commit (or at open)
        self._handles: dict[str, IO[bytes]] = {}
        self._sizes: dict[str, int] = {}
        self._sidecar_tmp = Path(f"{self.sidecar}.tmp")
        self._checked = False
        self._saved: dict[str, Any] | None = None

    # --- start or resume ------------------------------------------------------------------------

    def check(self) -> dict[str, Any] | None:
        """Check the files and an interrupted run (its sidecar, its settings), creating nothing.

        Returns the interrupted run's sidecar record when this run resumes it, else None. Called
        by :meth:`open`; call it earlier to fail before any work is done.
        """
        if self._checked:
            return self._saved
        others = list(self.files.values())[1:]
        partials = [partial_path(path) for path in self.files.values()]
        check_output(self.main, companions=[*others, *partials, self.sidecar])
        saved = self._read_sidecar() if self.sidecar.exists() else None
        if saved is not None and not self.resume and not self.force:
            done = saved.get("sentences_done", "?")
            raise ConfigError(
                f"{self.main} has an interrupted run ({done} sentences done, see "
                f"{self.sidecar}); pass --resume to continue it or --force to start over"
            )
        if saved is None or self.force:
            saved = None
        else:
            self._check_fingerprint(saved)
            if set(saved["committed_bytes"]) != set(self.files):
                raise ConfigError(
                    f"cannot resume {self.main}: the interrupted run wrote "
                    f"{', '.join(sorted(saved['committed_bytes']))}, this one would write "
                    f"{', '.join(sorted(self.files))}; rerun with the same files or pass --force"
                )
        self._checked, self._saved = True, saved
        return saved

    def planned(self) -> Checkpoint:
        """The checkpoint this run will continue from (:meth:`check` first; creates nothing)."""
        saved = self.check()
        if saved is None:
            return Checkpoint()
        return Checkpoint(
            int(saved["sentences_done"]),
            str(saved["input_digest"]),
            dict(saved.get("state", {})),
            bool(saved.get("finished", False)),
        )

    def open(self) -> Checkpoint:
        """Start a fresh run or resume an interrupted one; returns the last checkpoint."""
        saved = self.check()
        with contextlib.suppress(FileNotFoundError):
            self._sidecar_tmp.unlink()  # left by a kill while the sidecar was written
        if saved is None:
            if self.resume and not self.force:
                logger.warning(
                    "nothing to resume (no %s): starting from the beginning", self.sidecar
                )
            return self._start()
        checkpoint = self.planned()
        committed = {name: int(size) for name, size in saved["committed_bytes"].items()}
        if checkpoint.finished:
            self._rename_all()
            logger.info("%s: the interrupted run had finished; completed it", self.main)
            return checkpoint
        for name, path in self.files.items():
            partial = partial_path(path)
            size = committed[name]
            actual = partial.stat().st_size if partial.exists() else -1
            if actual < size:
                state = "missing" if actual < 0 else f"{actual} bytes, {size} committed"
                raise ConfigError(
                    f"cannot resume: {partial} is {state}; pass --force to start over"
                )
            handle = open(partial, "r+b")  # noqa: SIM115  (kept open for the whole run)
            handle.truncate(size)
            handle.seek(size)
            self._handles[name], self._sizes[name] = handle, size
        self.committed = checkpoint.sentences_done
        logger.info("resuming %s after %d sentences", self.main, checkpoint.sentences_done)
        return checkpoint

    def _start(self) -> Checkpoint:
        for name, path in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handles[name] = open(partial_path(path), "wb")  # noqa: SIM115
            self._sizes[name] = 0
        checkpoint = Checkpoint()
        self._write_sidecar(checkpoint)
        return checkpoint

    def _read_sidecar(self) -> dict[str, Any]:
        try:
            data = load_json(self.sidecar.read_text(encoding="utf-8"))
            valid = (
                isinstance(data, dict)
                and data.get("format") == PROGRESS_FORMAT
                and isinstance(data.get("committed_bytes"), dict)
                and isinstance(data.get("sentences_done"), int)
            )
        except (OSError, UnicodeDecodeError, JsonError):
            valid = False
        if not valid:
            if self.force:
                return {}
            raise ConfigError(
                f"{self.sidecar} is not a valid progress file (damaged?); "
                "pass --force to start over"
            )
        if data.get("version", 0) > PROGRESS_VERSION:
            raise ConfigError(f"{self.sidecar} was written by a newer xner; upgrade xner")
        record: dict[str, Any] = data
        return record

    def _check_fingerprint(self, saved: dict[str, Any]) -> None:
        error = changed_settings(self.main, saved.get("fingerprint", {}), self.fingerprint)
        if error is not None:
            raise error

    # --- commit and finish ----------------------------------------------------------------------

    def commit(self, texts: Mapping[str, str], checkpoint: Checkpoint) -> None:
        """Append ``texts`` (name -> text) to the partial files, make them durable, then record
        ``checkpoint`` in the sidecar. Names absent from ``texts`` get nothing this time."""
        for name, text in texts.items():
            if not text:
                continue
            handle = self._handles[name]
            try:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            except OSError as error:
                if error.errno not in SPACE_ERRNOS:
                    raise
                raise out_of_space(error, self.files[name], self._sizes[name]) from error
            self._sizes[name] = handle.tell()
        self._write_sidecar(checkpoint)
        self.committed = checkpoint.sentences_done

    def finish(self, checkpoint: Checkpoint) -> None:
        """Mark the job finished, move the partial files into place and remove the sidecar."""
        self._write_sidecar(Checkpoint(**{**checkpoint.__dict__, "finished": True}))
        self.close()
        self._rename_all()

    def _rename_all(self) -> None:
        for path in self.files.values():
            partial = partial_path(path)
            if partial.exists():
                keep_mode(path, partial)  # a file replaced in place keeps its mode
                os.replace(partial, path)
        with contextlib.suppress(FileNotFoundError):
            self.sidecar.unlink()

    def close(self) -> None:
        """Close the partial files, keeping what is committed (resumable)."""
        for handle in self._handles.values():
            with contextlib.suppress(OSError):  # a full disk: bytes past the commit are dropped
                handle.close()
        self._handles.clear()

    def discard(self) -> None:
        """Close and remove the partial files and the sidecar (nothing worth resuming)."""
        self.close()
        for path in self.files.values():
            with contextlib.suppress(FileNotFoundError):
                partial_path(path).unlink()
        for path in (self.sidecar, self._sidecar_tmp):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _write_sidecar(self, checkpoint: Checkpoint) -> None:
        record = {
            "format": PROGRESS_FORMAT,
            "version": PROGRESS_VERSION,
            "input": self.input_name,
            "files": {name: str(path) for name, path in self.files.items()},
            "fingerprint": self.fingerprint,
            "sentences_done": checkpoint.sentences_done,
            "input_digest": checkpoint.input_digest,
            "committed_bytes": dict(self._sizes),
            "state": checkpoint.state,
            "finished": checkpoint.finished,
        }
        # A fixed temporary name: a kill while it is written leaves one file, which the next
        # open() removes.
        with atomic_write(self.sidecar, temporary=self._sidecar_tmp) as handle:
            json.dump(record, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
