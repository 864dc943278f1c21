"""The runtime half never imports torch, transformers or optimum and opens no socket."""

from __future__ import annotations

from pathlib import Path

from torchfree import VIOLATION_EXIT, run_cli_torch_free, run_torch_free

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "swahili"


def test_every_runtime_and_cli_module_imports_torch_free() -> None:
    result = run_torch_free(
        """
        import importlib, pkgutil
        import xner.runtime, xner.cli
        names = []
        for package in (xner.runtime, xner.cli):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(info.name)
                names.append(info.name)
        print(len(names))
        """
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 10  # the walk really imported the modules


def test_project_and_evaluate_run_torch_free_and_offline(tmp_path: Path) -> None:
    out = tmp_path / "pred.conll"
    projected = run_cli_torch_free(
        [
            "project",
            "--source",
            str(EXAMPLE / "english.conll"),
            "--target",
            str(EXAMPLE / "swahili.txt"),
            "--alignments",
            str(EXAMPLE / "english-swahili.talp"),
            "--method",
            "ngram",
            "-o",
            str(out),
        ]
    )
    assert projected.returncode == 0, projected.stderr
    evaluated = run_cli_torch_free(["evaluate", str(EXAMPLE / "swahili.gold.conll"), str(out)])
    assert evaluated.returncode == 0, evaluated.stderr
    assert "micro avg" in evaluated.stdout


def test_the_guard_itself_catches_torch_and_sockets() -> None:
    """The check above cannot pass vacuously: the same guard flags an import and a socket."""
    tried = run_torch_free("try:\n    import torch\nexcept ImportError:\n    pass\n")
    assert tried.returncode == VIOLATION_EXIT and "attempted=['torch']" in tried.stderr
    opened = run_torch_free("import socket\nsocket.socket(socket.AF_INET).close()\n")
    assert opened.returncode == VIOLATION_EXIT and "socket" in opened.stderr
