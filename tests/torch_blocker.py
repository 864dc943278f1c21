"""A pytest plugin that makes the export extra (torch, transformers, optimum, onnx) unimportable.

``python -m pytest -p torch_blocker ...`` (run from the repository root; this folder must be on
``sys.path``, e.g. ``PYTHONPATH=tests``) runs the tests as they would run on a machine without the
export extra: every test that needs one of these packages must skip and say why, never error.
tests/test_torchfree_collection.py runs the collection this way and asserts that it is clean.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

BLOCKED = ("torch", "transformers", "optimum", "onnx")


class _Blocker(importlib.abc.MetaPathFinder):
    """Answers every import of a blocked package with ImportError (as if it were not installed)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked by torch_blocker)")
        return None


def _install() -> None:
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in BLOCKED)
    if loaded:
        raise RuntimeError(f"torch_blocker loaded too late: {loaded} already imported")
    if not any(isinstance(finder, _Blocker) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Blocker())


_install()
