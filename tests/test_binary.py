"""`make binary` (issue 11): the frozen one-folder xner, run as a field laptop would run it.

The slow tests build the binary once per session (packaging/build_binary.py into build/binary-test,
the archive into a temporary dist/), then run packaging/smoke_test.py on it: ``--version``,
``doctor``, ``languages``, ``bundle verify`` (``verify`` until the ``bundle`` group exists),
``translate-test`` and ``evaluate`` on the tiny bundle with an empty environment, each compared
byte for byte with the installed package's ``xner``, and ``export``, which must fail in one line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
INSTALLED_XNER = Path(sys.executable).parent / ("xner.exe" if sys.platform == "win32" else "xner")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"xner_{name}", PACKAGING / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(application folder, dist folder) of one build per test run.

    Built once and shared by the pytest-xdist workers of the run (a file lock makes the others
    wait), like the tiny bundle in fixtures_models.py. The tests must not change it.
    """
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed (pip install -e '.[freeze]'; make test does)")
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "xner-binary"
    root.mkdir(exist_ok=True)
    app, dist = root / "work" / "dist" / "xner", root / "dist"
    with FileLock(str(root / ".lock")):
        if not (root / "built").is_file():
            done = subprocess.run(
                [sys.executable, str(PACKAGING / "build_binary.py"), "--dist", str(dist)]
                + ["--work", str(root / "work")],
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
            (root / "built").write_text("ok", encoding="utf-8")
    return app, dist


def test_forbidden_names_are_recognised() -> None:
    build = _load("build_binary")
    for bad in ("_internal/torch/__init__.py", "_internal/libtorch_cpu.so", "x/onnx/defs.py"):
        assert build._forbidden_path(Path(bad)), bad
    assert build._forbidden_path(Path("_internal/transformers-4.57.0.dist-info/METADATA"))
    assert build._forbidden_path(Path("_internal/xner/export/api.py"))
    for good in ("_internal/onnxruntime/capi/x.so", "_internal/ctranslate2/_ext.so", "xner"):
        assert not build._forbidden_path(Path(good)), good
    assert build._forbidden_module("torch.nn") and build._forbidden_module("xner.export")
    assert build._forbidden_module("xner.export.api") and build._forbidden_module("onnx")
    assert not build._forbidden_module("onnxruntime") and not build._forbidden_module("xner.cli")


def test_archive_name_says_version_os_and_architecture() -> None:
    tag = _load("build_binary").platform_tag()
    system, machine = tag.split("-", 1)
    assert system in ("linux", "windows", "macos") and machine in ("x86_64", "arm64"), tag


@pytest.mark.slow
def test_binary_folder_is_torch_free_and_archived(built: tuple[Path, Path], tmp_path: Path) -> None:
    app, dist = built
    build = _load("build_binary")
    assert build.forbidden_content(app) == []
    assert (app / "README-FIELD.txt").is_file()
    assert "{version}" not in (app / "README-FIELD.txt").read_text(encoding="utf-8")

    (archive,) = [p for p in dist.iterdir() if p.name.startswith("xner-")]
    assert archive.name == f"xner-{build.version()}-{build.platform_tag()}" + (
        ".zip" if sys.platform == "win32" else ".tar.gz"
    )
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert (dist / "SHA256SUMS").read_text(encoding="utf-8") == f"{digest}  {archive.name}\n"
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as handle:
            names = handle.namelist()
            handle.extractall(tmp_path)
    else:
        with tarfile.open(archive) as handle:
            names = handle.getnames()
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            handle.extractall(tmp_path, **extra)
    assert "xner/README-FIELD.txt" in names
    assert not [n for n in names if build._forbidden_path(Path(n))]
    # The unpacked archive runs as it is (links and permissions survived).
    exe = tmp_path / "xner" / ("xner.exe" if sys.platform == "win32" else "xner")
    env = _load("smoke_test").clean_env(tmp_path)
    done = subprocess.run([str(exe), "--version"], env=env, capture_output=True)
    assert done.returncode == 0 and done.stdout == f"xner {build.version()}\n".encode(), done


@pytest.mark.slow
def test_the_check_finds_what_got_in(built: tuple[Path, Path], tmp_path: Path) -> None:
    """A copy of the executable (its module archive) with a torch folder planted beside it."""
    app, _ = built
    build = _load("build_binary")
    exe = "xner.exe" if sys.platform == "win32" else "xner"
    shutil.copy2(app / exe, tmp_path / exe)
    (tmp_path / "_internal" / "torch").mkdir(parents=True)
    (tmp_path / "_internal" / "torch" / "__init__.py").write_text("", encoding="utf-8")
    assert build.forbidden_content(tmp_path) == ["_internal/torch", "_internal/torch/__init__.py"]
    assert build.archived_modules(tmp_path)  # the module archive was read, not skipped


@pytest.mark.slow
def test_frozen_binary_matches_the_installed_package(
    built: tuple[Path, Path], tiny_bundle: Path, tmp_path: Path
) -> None:
    app, _ = built
    exe = app / ("xner.exe" if sys.platform == "win32" else "xner")
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "smoke_test.py"), str(exe)]
        + ["--bundle", str(tiny_bundle), "--reference", str(INSTALLED_XNER)]
        + ["--work", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    same = "(same bytes as the installed package)"
    for step in ("version", "doctor", "languages", "bundle verify", "translate-test", "evaluate"):
        assert f"ok {step} {same}" in done.stdout, done.stdout
    assert "ok export" in done.stdout
