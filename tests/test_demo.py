"""`make demo` runs torch-free: the hand-made projection and the pipelines on the tiny bundle."""

from __future__ import annotations

import runpy
from pathlib import Path

from torchfree import run_torch_free

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.py"


def test_demo_runs_both_parts_torch_free(tiny_bundle: Path) -> None:
    code = f"import sys, runpy\nsys.argv = ['demo', {str(tiny_bundle)!r}]\n"
    code += f"runpy.run_path({str(DEMO)!r}, run_name='__main__')\n"
    done = run_torch_free(code)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Part 1" in out and "Part 2" in out and "RANDOM-WEIGHT" in out
    assert "[Umoja wa Mataifa]/ORG" in out  # a clean alignment projects the whole entity
    assert out.count("micro avg") == 4  # two methods in part 1, translate-test + transfer
    assert "6 sentences made" in out


def test_demo_part_one_needs_no_bundle(capsys) -> None:
    import sys

    argv, sys.argv = sys.argv, ["demo"]
    try:
        runpy.run_path(str(DEMO), run_name="__main__")
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert "micro avg      92.86      86.67      89.66" in out  # heuristic on the example
    assert "Part 2" not in out
