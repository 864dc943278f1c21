"""Where bundles live: which bundle a command uses when ``--bundle`` is not given, and what is
installed.

Resolution order (:func:`resolve_bundle`, the only copy of it):

1. ``--bundle`` (a folder, or the name of an installed bundle);
2. the ``XNER_BUNDLE`` environment variable (the same);
3. the per-user data folder, ``platformdirs.user_data_dir("xner") / "bundles" / NAME``
   (``~/.local/share/xner/bundles`` on Linux, ``%LOCALAPPDATA%\\xner\\bundles`` on Windows,
   ``~/Library/Application Support/xner/bundles`` on macOS): the bundle named ``default``, or the
   only one installed;
4. ``./bundles/default`` (a checkout or a field folder next to the binary).

An error names every place that was looked at. Nothing here runs at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from xner.runtime.bundles.bundle import (
    MANIFEST,
    Bundle,
    BundleError,
    read_manifest,
)
from xner.runtime.errors import ConfigError

ENV_VAR = "XNER_BUNDLE"
DEFAULT_NAME = "default"
LOCAL_FOLDER = Path("bundles")


def user_bundles_dir() -> Path:
    """The per-user folder of installed bundles (``user_data_dir("xner") / "bundles"``)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("xner", appauthor=False)) / "bundles"


def local_bundles_dir(cwd: str | os.PathLike[str] | None = None) -> Path:
    """``./bundles`` relative to ``cwd`` (the current folder by default)."""
    return Path(cwd) / LOCAL_FOLDER if cwd is not None else LOCAL_FOLDER


def is_bundle(path: Path) -> bool:
    """True when ``path`` is a folder holding a ``manifest.json`` (not checked further)."""
    return (path / MANIFEST).is_file()


def installed(folder: Path) -> list[Path]:
    """The bundles in ``folder`` (sub-folders with a manifest), sorted by name.

    Hidden folders (``.NAME.*.partial``: an unpack in progress) are left out.
    """
    if not folder.is_dir():
        return []
    return sorted(
        (p for p in folder.iterdir() if not p.name.startswith(".") and is_bundle(p)),
        key=lambda p: p.name,
    )


def _is_name(value: str) -> bool:
    """A bare bundle name (``hausa``), not a path (``./hausa``, ``b/hausa``, ``C:\\b``)."""
    return bool(value) and value not in (".", "..") and not any(c in value for c in "/\\:")


def _named(value: str, data_dir: Path) -> Path | None:
    """``value`` as a folder, else as the name of an installed bundle; ``None`` when neither."""
    path = Path(value).expanduser()
    if path.exists():
        return path
    if _is_name(value) and is_bundle(data_dir / value):
        return data_dir / value
    return None


def resolve_bundle(
    given: str | os.PathLike[str] | None,
    *,
    environ: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Path:
    """The bundle folder to use: ``given``, then ``$XNER_BUNDLE``, then the installed bundle,
    then ``./bundles/default``.

    ``given`` and ``XNER_BUNDLE`` may be a folder or the name of a bundle in the user folder. The
    folder is not loaded or verified here (:meth:`Bundle.load` does that). Raises
    :class:`ConfigError` naming every place looked at when none holds a bundle.
    """
    environ = os.environ if environ is None else environ
    data_dir = user_bundles_dir() if data_dir is None else data_dir
    looked: list[str] = []
    for value, what in ((given, "--bundle"), (environ.get(ENV_VAR) or None, ENV_VAR)):
        if value is None:
            looked.append(f"{what} (not given)" if what == "--bundle" else f"{what} (not set)")
            continue
        text = os.fspath(value)
        found = _named(text, data_dir)
        if found is not None:
            return found
        where = f"{text}" + (f" or {data_dir / text}" if _is_name(text) else "")
        raise ConfigError(f"bundle {text!r} ({what}) not found: looked at {where}")

    bundles = installed(data_dir)
    default = data_dir / DEFAULT_NAME
    if is_bundle(default):
        return default
    if len(bundles) == 1:
        return bundles[0]
    if bundles:
        names = ", ".join(p.name for p in bundles)
        raise ConfigError(
            f"{len(bundles)} bundles installed in {data_dir} ({names}) and none is named "
            f"{DEFAULT_NAME}; choose one with --bundle NAME or {ENV_VAR}"
        )
    looked.append(f"{data_dir} (no bundle installed)")
    local = local_bundles_dir(cwd) / DEFAULT_NAME
    if is_bundle(local):
        return local
    looked.append(f"{local.absolute()} (not found)")
    raise ConfigError(
        f"no bundle: looked at {', '.join(looked)}; pass --bundle, or install one with "
        "`xner bundle unpack FILE`"
    )


# ---------------------------------------------------------------------------------------------
# What is installed


@dataclass(frozen=True, slots=True)
class InstalledBundle:
    """One installed bundle: where, how large, and what a check found.

    ``status`` is ``ok`` (every file's SHA-256 matches), ``sizes ok`` (quick check), or the first
    problem found; ``problems`` counts the bad or missing files.
    """

    name: str
    path: Path
    place: str
    files: int
    size: int
    status: str
    problems: int = 0

    @property
    def ok(self) -> bool:
        return self.problems == 0


def list_bundles(
    *,
    quick: bool = False,
    data_dir: Path | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> list[InstalledBundle]:
    """The bundles of the user folder (place ``user``) and of ``./bundles`` (place ``local``).

    Each is checked against its manifest: every SHA-256, or sizes only with ``quick``.
    """
    data_dir = user_bundles_dir() if data_dir is None else data_dir
    found = [(p, "user") for p in installed(data_dir)]
    found += [(p, "local") for p in installed(local_bundles_dir(cwd))]
    return [_check(path, place, quick) for path, place in found]


def _check(path: Path, place: str, quick: bool) -> InstalledBundle:
    try:
        bundle = Bundle.from_manifest(path, read_manifest(path))
    except BundleError as error:
        problem = "; ".join(error.problems)
        return InstalledBundle(path.name, path, place, 0, 0, problem, 1)
    problems = bundle.check(hashes=not quick)  # what `xner bundle verify` reports
    size = sum(entry.size for entry in bundle.files) + (path / MANIFEST).stat().st_size
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        status = f"{problems[0]}{more}"
    else:
        status = "sizes ok" if quick else "ok"
    return InstalledBundle(path.name, path, place, len(bundle.files), size, status, len(problems))
