"""An experiment's output folder: the results already there, and the run to resume.

Every kind of experiment (the grid, ``--vary``, ``--train``) writes its results into one folder,
with a JSON file that holds the whole run (:class:`RunFiles` names them). Before any work,
:func:`previous_run` decides what that folder allows: nothing there, a run to resume
(``--resume``), results to replace (``--force``), or a refusal that says which. Nothing is created
here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xner.runtime.errors import ConfigError, changed_settings
from xner.runtime.files.io import JsonError, load_json

__all__ = [
    "SPEED_KNOBS",
    "RunFiles",
    "check_same_run",
    "compared_settings",
    "previous_run",
    "read_saved",
]

logger = logging.getLogger("xner")

SPEED_KNOBS = ("intra_threads", "inter_threads", "max_batch_size", "max_batch_tokens")
"""Engine settings that change speed, not labels: a resumed run may change them."""


@dataclass(frozen=True)
class RunFiles:
    """The files of one kind of experiment: ``files`` (kind -> name; ``"json"`` holds the run),
    the ``format`` its JSON declares, the keys of that JSON that must be lists of objects
    (``lists``) or objects (``objects``), and how errors name it (``what``: ``"an experiment
    --vary"``). ``done``: for a run whose JSON says ``"complete": false``, what it finished
    (``"hau done"``); None: such a folder is refused like any other."""

    files: Mapping[str, str]
    format: str
    lists: tuple[str, ...]
    what: str
    objects: tuple[str, ...] = ()
    done: Callable[[Mapping[str, Any]], str] | None = None


def read_saved(path: Path, kind: RunFiles) -> dict[str, Any]:
    """The run that ``path`` (the JSON of ``kind``) holds: a ConfigError when it is none."""
    try:
        data = load_json(path.read_bytes())
        valid = (
            isinstance(data, dict)
            and data.get("format") == kind.format
            and isinstance(data.get("settings"), dict)
            and isinstance(data.get("bundle"), dict)
            and all(
                isinstance(data.get(key), list) and all(isinstance(x, dict) for x in data[key])
                for key in kind.lists
            )
            and all(isinstance(data.get(key), dict) for key in kind.objects)
        )
    except (OSError, JsonError):
        valid = False
    if not valid:
        raise ConfigError(
            f"{path} is not the results of {kind.what} (damaged?); pass --force to start over"
        )
    saved: dict[str, Any] = data
    return saved


def previous_run(out: Path, kind: RunFiles, *, force: bool, resume: bool) -> dict[str, Any] | None:
    """The saved run to resume from ``out``, else None; results already in ``out`` are refused
    unless ``force`` (or ``resume``, for a run to continue). Creates nothing."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    saved = out / kind.files["json"]
    existing = [name for name in kind.files.values() if (out / name).exists()]
    if force:
        return None
    if resume and saved.is_file():
        return read_saved(saved, kind)
    if resume and not existing:
        logger.warning("nothing to resume (no %s): starting from the beginning", saved)
    if not existing:
        return None
    if kind.done is not None and saved.is_file():  # not resumed: an interrupted run says so
        try:
            previous: dict[str, Any] | None = read_saved(saved, kind)
        except ConfigError:
            previous = None  # not one: refused below like any other file
        if previous is not None and previous.get("complete") is False:
            raise ConfigError(
                f"{out} holds an interrupted {kind.what.removeprefix('an ')} "
                f"({kind.done(previous)}); pass --resume to continue it or --force to start over"
            )
    raise ConfigError(
        f"{out} already holds {', '.join(existing)}; choose another folder, --resume an "
        "interrupted run or --force to replace them"
    )


def compared_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a resumed run must share with the interrupted one, as JSON reads them (the
    date it was made and the engines' speed knobs left out)."""
    same: dict[str, Any] = json.loads(json.dumps(dict(settings), default=str))
    same.pop("created", None)
    engine = same.get("engine")
    if isinstance(engine, dict):
        same["engine"] = {k: v for k, v in engine.items() if k not in SPEED_KNOBS}
    return same


def check_same_run(
    out: Path, saved: Mapping[str, Any], settings: Mapping[str, Any], bundle: Mapping[str, Any]
) -> None:
    """A ConfigError naming what differs when the interrupted run ``saved`` (in ``out``) had
    other settings or another bundle than this one (``settings``, ``bundle``)."""
    before = {**compared_settings(saved["settings"]), "bundle": saved["bundle"].get("identity")}
    now = {**compared_settings(settings), "bundle": bundle["identity"]}
    error = changed_settings(out, before, now)
    if error is not None:
        raise error
