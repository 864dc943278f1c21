"""Checkpoints of a training run: written whole or not at all, and read back exactly.

``RUN_DIR/checkpoints/step-N/`` holds everything a resumed run needs to continue as if it had
never stopped: the model's weights (``model.safetensors``), the discriminator's when the run is
adversarial, the optimizer, scheduler and loss-scaler states, every random generator (Python,
NumPy, torch on the CPU and each CUDA device) and ``state.json`` (the step, the samplers' states,
the early-stopping state, the label list). A checkpoint is written into ``step-N.tmp/``, each
file flushed to disk, and renamed to ``step-N/`` last: a folder named ``step-N`` is complete.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from xner.runtime.errors import ConfigError

__all__ = [
    "Checkpoint",
    "capture_rng",
    "checkpoints",
    "latest_checkpoint",
    "load_checkpoint",
    "prune",
    "remove_unfinished",
    "restore_rng",
    "save_checkpoint",
    "save_weights",
    "load_weights",
]

logger = logging.getLogger("xner")

FOLDER = "checkpoints"
_NAME = re.compile(r"^step-(\d+)$")
_STATE = "state.json"
_WEIGHTS = "model.safetensors"
_DISCRIMINATOR = "discriminator.safetensors"
_OPTIMIZER = "optimizer.pt"
_SCHEDULER = "scheduler.pt"
_SCALER = "scaler.pt"
_RNG = "rng.pt"


@dataclass(frozen=True)
class Checkpoint:
    """A complete checkpoint folder and its step."""

    path: Path
    step: int


def checkpoints(run_dir: Path) -> list[Checkpoint]:
    """The complete checkpoints of ``run_dir``, oldest first."""
    folder = run_dir / FOLDER
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _NAME.match(path.name)
            if match and path.is_dir() and (path / _STATE).is_file():
                found.append(Checkpoint(path, int(match.group(1))))
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(run_dir: Path) -> Checkpoint:
    """The newest complete checkpoint; :class:`ConfigError` when there is none."""
    found = checkpoints(run_dir)
    if not found:
        raise ConfigError(
            f"--resume: no complete checkpoint in {run_dir / FOLDER} (the run stopped before "
            "its first one); pass --force instead of --resume to start it over"
        )
    return found[-1]


def remove_unfinished(run_dir: Path) -> None:
    """Delete ``step-N.tmp`` folders a killed run left behind."""
    folder = run_dir / FOLDER
    if folder.is_dir():
        for path in folder.glob("step-*.tmp"):
            shutil.rmtree(path, ignore_errors=True)


def capture_rng(cuda: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every random generator's state: the JSON part (Python, NumPy) and the tensor part
    (torch on the CPU and, when ``cuda``, on each device)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    plain = {
        "python": [version, list(internal), gauss],
        "numpy": [name, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)],
    }
    tensors: dict[str, Any] = {"torch": torch.get_rng_state()}
    if cuda:
        tensors["cuda"] = torch.cuda.get_rng_state_all()
    return plain, tensors


def restore_rng(plain: dict[str, Any], tensors: dict[str, Any]) -> None:
    """Put back the states :func:`capture_rng` took."""
    version, internal, gauss = plain["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch"])
    if "cuda" in tensors:
        torch.cuda.set_rng_state_all(tensors["cuda"])


def save_checkpoint(
    run_dir: Path,
    step: int,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    discriminator: torch.nn.Module | None = None,
    scaler: Any = None,
    cuda: bool = False,
) -> Checkpoint:
    """Write ``checkpoints/step-{step}/`` atomically (a temporary folder renamed last)."""
    folder = run_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step}"
    tmp = folder / f"step-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, str(tmp / _WEIGHTS))
    if discriminator is not None:
        save_model(discriminator, str(tmp / _DISCRIMINATOR))
    torch.save(optimizer.state_dict(), tmp / _OPTIMIZER)
    torch.save(scheduler.state_dict(), tmp / _SCHEDULER)
    if scaler is not None:
        torch.save(scaler.state_dict(), tmp / _SCALER)
    plain_rng, tensor_rng = capture_rng(cuda)
    torch.save(tensor_rng, tmp / _RNG)
    record = {**state, "step": step, "rng": plain_rng}
    (tmp / _STATE).write_text(json.dumps(record, sort_keys=True), encoding="utf-8")
    for path in tmp.iterdir():
        _fsync(path)
    if final.exists():  # a rerun of the same step after a resume: replace it whole
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync(folder)
    return Checkpoint(final, step)


def load_checkpoint(
    checkpoint: Checkpoint,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    discriminator: torch.nn.Module | None = None,
    scaler: Any = None,
    device: torch.device,
) -> dict[str, Any]:
    """Load a checkpoint into the given objects and restore the random generators; returns
    ``state.json`` (the step, samplers, early stopping, labels)."""
    path = checkpoint.path
    state: dict[str, Any] = json.loads((path / _STATE).read_text(encoding="utf-8"))
    load_model(model, str(path / _WEIGHTS), strict=True, device=str(device))
    if discriminator is not None:
        if not (path / _DISCRIMINATOR).is_file():
            raise ConfigError(f"--resume: {path} has no discriminator (not an adversarial run)")
        load_model(discriminator, str(path / _DISCRIMINATOR), strict=True, device=str(device))
    optimizer.load_state_dict(torch.load(path / _OPTIMIZER, map_location=device))
    scheduler.load_state_dict(torch.load(path / _SCHEDULER))
    if scaler is not None and (path / _SCALER).is_file():
        scaler.load_state_dict(torch.load(path / _SCALER))
    restore_rng(state["rng"], torch.load(path / _RNG))
    return state


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The model's weights alone (the best model so far), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_model(model, str(tmp))
    _fsync(tmp)
    os.replace(tmp, path)


def load_weights(model: torch.nn.Module, path: Path, device: torch.device) -> None:
    """Load weights written by :func:`save_weights`."""
    load_model(model, str(path), strict=True, device=str(device))


def prune(run_dir: Path, keep: int, best_files: Iterable[Path] = ()) -> list[int]:
    """Keep the newest ``keep`` checkpoints, and of the best-model files in ``best_files``'
    folder only those the kept checkpoints (or the caller) still point to; returns the steps
    of the checkpoints kept."""
    found = checkpoints(run_dir)
    for old in found[:-keep]:
        shutil.rmtree(old.path, ignore_errors=True)
    kept = found[-keep:]
    wanted = {p.resolve() for p in best_files}
    for checkpoint in kept:
        state = json.loads((checkpoint.path / _STATE).read_text(encoding="utf-8"))
        best = state.get("early_stopping", {}).get("best_file")
        if best:
            wanted.add((run_dir / best).resolve())
    for path in (run_dir / "best").glob("step-*.safetensors") if wanted else ():
        if path.resolve() not in wanted:
            path.unlink(missing_ok=True)
    return [c.step for c in kept]


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to disk; folders cannot be opened on Windows."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
