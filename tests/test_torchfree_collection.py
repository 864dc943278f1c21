"""Without the export extra (torch, transformers, optimum, onnx) the tests skip; they never error.

A machine that installs only ``xner[test]`` must still be able to run the suite: a test module
that imports torch (or code that needs it) at module level would fail the whole collection
instead of skipping its model tests. tests/torch_blocker.py makes those packages unimportable;
collecting every test module under it must give no error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _collect(*paths: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``pytest --collect-only`` over ``paths`` with the export extra blocked."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "torch_blocker", *map(str, paths)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_every_test_module_collects_with_the_export_extra_blocked() -> None:
    done = _collect(TESTS, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " error" not in done.stdout.splitlines()[-1], done.stdout[-4000:]
    assert "collected" in done.stdout.splitlines()[-1]  # the collection really ran


def test_the_blocker_makes_a_module_level_torch_import_an_error(tmp_path: Path) -> None:
    """The check above cannot pass vacuously: under the blocker ``import torch`` fails."""
    for name in ("torch", "transformers", "onnx"):
        (tmp_path / f"test_needs_{name}.py").write_text(
            f"import {name}\n\n\ndef test_nothing():\n    assert {name}\n", encoding="utf-8"
        )
    done = _collect(tmp_path, cwd=tmp_path)
    assert done.returncode != 0
    for name in ("torch", "transformers", "onnx"):
        assert f"No module named '{name}' (blocked by torch_blocker)" in done.stdout, done.stdout
