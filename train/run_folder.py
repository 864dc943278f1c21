"""The run folder of ``xner train``: what is in it, and how a run starts, resumes and ends there.

``RUN_DIR/run.json`` (every setting), ``train.jsonl`` (one record per logged step, each line
flushed to disk), ``best/step-N.safetensors`` (the best weights by dev F1 so far),
``checkpoints/step-N/`` (:mod:`xner.train.checkpoint`), and at the end the final model in
Hugging Face format with its tokenizer and ``xner_train.json`` (labels, languages, best step).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from xner.runtime.errors import ConfigError, changed_settings
from xner.runtime.files.atomic import atomic_write
from xner.train import checkpoint as ckpt
from xner.train.options import TrainOptions

__all__ = [
    "BEST",
    "LOG",
    "RUN",
    "SUMMARY",
    "append",
    "iter_log",
    "prepare",
    "rewind",
    "save_final",
    "write_run_file",
]

logger = logging.getLogger("xner")

LOG = "train.jsonl"
RUN = "run.json"
SUMMARY = "xner_train.json"
BEST = "best"


def prepare(options: TrainOptions) -> ckpt.Checkpoint | None:
    """Check ``out`` against --resume/--force; the checkpoint to resume from, if any."""
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, expected a run folder")
    used = out.is_dir() and any(out.iterdir())
    if options.resume and not used:  # as the file jobs: a first run may say --resume already
        logger.warning("nothing to resume in %s: starting from the beginning", out)
    elif options.resume:
        before = _read_run_file(out)
        problem = changed_settings(out, before.get("resume", {}), options.resume_settings())
        if problem is not None:
            raise problem
        if before.get("max_steps") != options.max_steps:
            logger.warning(
                "--max-steps %s -> %s: the learning-rate schedule changes from the interrupted "
                "run's",
                before.get("max_steps"),
                options.max_steps,
            )
        ckpt.remove_unfinished(out)
        if not ckpt.checkpoints(out):  # killed before its first checkpoint: step 0 is the start
            logger.warning(
                "no complete checkpoint in %s yet: the run starts again from the beginning", out
            )
            rewind(out, 0)
            return None
        return ckpt.latest_checkpoint(out)
    if used:
        if not options.force:
            raise ConfigError(
                f"--out {out}: exists and is not empty; pass --resume to continue its run or "
                "--force to start over"
            )
        if not (out / RUN).is_file():
            raise ConfigError(
                f"--out {out}: --force only clears a run folder of xner train (one with {RUN}); "
                "choose another --out"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return None


def write_run_file(out: Path, options: TrainOptions) -> None:
    record = {**options.to_dict(), "resume": options.resume_settings()}
    with atomic_write(out / RUN) as stream:
        json.dump(record, stream, indent=1, sort_keys=True)
        stream.write("\n")


def _read_run_file(out: Path) -> dict[str, Any]:
    if not (out / RUN).is_file():
        raise ConfigError(
            f"--resume: {out} holds no run of xner train (no {RUN}); choose another --out"
        )
    try:
        value = json.loads((out / RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"--resume: cannot read {out / RUN}: {error}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--resume: {out / RUN} is not a run description")
    return value


def rewind(out: Path, step: int) -> None:
    """Cut ``train.jsonl`` back to the checkpoint's step and drop best models saved after it
    (the resumed run makes them again)."""
    path = out / LOG
    kept: list[str] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                if int(json.loads(line)["step"]) <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                break  # a line cut by the kill: everything after it is later too
    with atomic_write(path) as stream:
        stream.write("".join(line + "\n" for line in kept))
    for best in (out / BEST).glob("step-*.safetensors"):
        if int(best.stem.split("-")[1]) > step:
            best.unlink()


def append(log: Any, record: dict[str, Any]) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()
    os.fsync(log.fileno())


def save_final(out: Path, model: Any, tokenizer: Any, summary: Mapping[str, Any]) -> None:
    """The final (best) model, its tokenizer and ``summary`` (as ``xner_train.json``) into
    ``out``: written into a temporary folder, then each file renamed in."""
    tmp = out / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    (tmp / SUMMARY).write_text(json.dumps(dict(summary), indent=1) + "\n", encoding="utf-8")
    for path in sorted(tmp.iterdir()):
        os.replace(path, out / path.name)
    tmp.rmdir()


def iter_log(run_dir: Path) -> Iterator[dict[str, Any]]:
    """The records of a run's ``train.jsonl``."""
    with open(Path(run_dir) / LOG, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                yield json.loads(line)
