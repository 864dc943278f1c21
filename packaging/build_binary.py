"""`make binary`: freeze the runtime and the CLI into one folder, check it, archive it.

    python packaging/build_binary.py [--dist dist] [--work build/binary] [--add-binary FILE ...]

Steps: stage a copy of runtime/ and cli/ as xner/runtime, xner/cli (the editable install hides
them from PyInstaller, and xner.export is then not even on the path), run PyInstaller on
packaging/xner.spec, copy README-FIELD.txt (and any --add-binary file) into the folder, fail when
anything of the torch side is inside (files, or modules in the executable's archive), then write
``DIST/xner-VERSION-OS-ARCH.tar.gz`` (``.zip`` on Windows) and ``DIST/SHA256SUMS``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from xner.runtime.bundles.bundle import sha256_file  # the one copy of file hashing

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Top-level modules and folder names that must never be inside the frozen application.
FORBIDDEN = ("torch", "torchvision", "torchaudio", "transformers", "onnx", "optimum")


def version() -> str:
    text = (ROOT / "runtime" / "version.py").read_text(encoding="utf-8")
    found = re.search(r"__version__\s*=\s*[\"']([^\"']+)[\"']", text)
    if not found:
        raise SystemExit("build_binary: no __version__ in runtime/version.py")
    return found.group(1)


def platform_tag() -> str:
    """``linux-x86_64``, ``windows-x86_64``, ``macos-arm64`` ..."""
    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    system = "linux" if system.startswith("linux") else system
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(machine, machine)
    return f"{system}-{machine}"


def check_ctranslate2() -> None:
    """Older ctranslate2 imports pkg_resources, gone with setuptools >= 81: refuse early."""
    spec = importlib.util.find_spec("ctranslate2")
    if spec is None or spec.origin is None:
        raise SystemExit("build_binary: ctranslate2 is not installed in this environment")
    source = Path(spec.origin).read_text(encoding="utf-8")
    if "pkg_resources" in source and importlib.util.find_spec("pkg_resources") is None:
        raise SystemExit(
            "build_binary: this ctranslate2 imports pkg_resources, which setuptools >= 81 removed:"
            " upgrade ctranslate2 (>= 4.5) or install 'setuptools<81'"
        )


def stage(work: Path) -> Path:
    """Copy runtime/ and cli/ under WORK/src/xner/ (xner is a namespace: no __init__.py)."""
    src = work / "src"
    shutil.rmtree(src, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder, name in (("runtime", "runtime"), ("cli", "cli")):
        shutil.copytree(ROOT / folder, src / "xner" / name, ignore=ignore)
    return src


def freeze(work: Path, src: Path) -> Path:
    """Run PyInstaller; returns the application folder WORK/dist/xner."""
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level=WARN",
        "--distpath",
        str(work / "dist"),
        "--workpath",
        str(work / "pyinstaller"),
        str(HERE / "xner.spec"),
        "--",
        "--src",
        str(src),
    ]
    subprocess.run(command, check=True)
    return work / "dist" / "xner"


def _forbidden_module(name: str) -> bool:
    return name.split(".")[0] in FORBIDDEN or (name + ".").startswith("xner.export.")


def _forbidden_path(relative: Path) -> bool:
    for part in (p.lower() for p in relative.parts):
        stem = part.split("-")[0]  # torch-2.13.0.dist-info
        if part in FORBIDDEN or stem in FORBIDDEN or part.startswith("libtorch"):
            return True
    return "xner/export" in relative.as_posix().lower()


def archived_modules(app: Path) -> list[str]:
    """Module names inside the executable's PYZ archive (where PyInstaller keeps pure Python)."""
    from PyInstaller.archive.readers import CArchiveReader

    exe = app / ("xner.exe" if sys.platform == "win32" else "xner")
    reader = CArchiveReader(str(exe))
    names: list[str] = []
    for entry in reader.toc:
        if entry.endswith(".pyz"):
            names += list(reader.open_embedded_archive(entry).toc)
    pyz_files = [p for p in app.rglob("*.pyz")]
    if pyz_files:  # a PyInstaller that keeps the PYZ beside the executable
        from PyInstaller.archive.readers import ZlibArchiveReader

        for path in pyz_files:
            names += list(ZlibArchiveReader(str(path)).toc)
    if not names:
        raise SystemExit(f"build_binary: found no module archive in {exe}: cannot check it")
    return names


def forbidden_content(app: Path) -> list[str]:
    """Everything of the torch side in the folder: files, folders and archived modules."""
    found = [
        path.relative_to(app).as_posix()
        for path in app.rglob("*")
        if _forbidden_path(path.relative_to(app))
    ]
    found += [f"module {name}" for name in archived_modules(app) if _forbidden_module(name)]
    return sorted(found)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def archive(app: Path, dist: Path, name: str) -> Path:
    """The folder as ``NAME/...`` in a .zip (Windows) or .tar.gz (elsewhere)."""
    dist.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        target = dist / f"{name}.zip"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as handle:
            for path in sorted(app.rglob("*")):
                handle.write(path, Path("xner") / path.relative_to(app))
    else:
        target = dist / f"{name}.tar.gz"
        with tarfile.open(target, "w:gz", compresslevel=6) as handle:
            handle.add(app, arcname="xner")
    return target


def write_sums(dist: Path) -> Path:
    """``SHA256SUMS`` over the archives in DIST, in the format ``sha256sum -c`` reads."""
    archives = sorted(dist.glob("xner-*.tar.gz")) + sorted(dist.glob("xner-*.zip"))
    lines = [f"{sha256_file(path)}  {path.name}\n" for path in archives]
    target = dist / "SHA256SUMS"
    target.write_text("".join(lines), encoding="utf-8", newline="\n")
    return target


def build(dist: Path, work: Path, add_binary: list[Path], make_archive: bool = True) -> Path:
    check_ctranslate2()
    work.mkdir(parents=True, exist_ok=True)
    app = freeze(work, stage(work))
    for path in add_binary:  # Windows: the VC++ runtime beside the engines' DLLs
        shutil.copy2(path, app / "_internal" / path.name)
    readme = (HERE / "README-FIELD.txt").read_text(encoding="utf-8")
    (app / "README-FIELD.txt").write_text(
        readme.replace("{version}", version()), encoding="utf-8", newline="\r\n"
    )
    bad = forbidden_content(app)
    if bad:
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise SystemExit(f"build_binary: the torch side got into {app}: {shown}")
    print(f"built {app} ({folder_bytes(app) / 1e6:.1f} MB), no torch/transformers/onnx inside")  # noqa: T201  (a script)
    if make_archive:
        target = archive(app, dist, f"xner-{version()}-{platform_tag()}")
        write_sums(dist)
        print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) and {dist / 'SHA256SUMS'}")  # noqa: T201  (a script)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the archive goes")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "binary", help="build folder")
    parser.add_argument(
        "--add-binary",
        type=Path,
        action="append",
        default=[],
        help="a file to put beside the engines' libraries (Windows: the VC++ runtime DLLs)",
    )
    parser.add_argument("--no-archive", action="store_true", help="build and check only")
    args = parser.parse_args()
    build(args.dist.resolve(), args.work.resolve(), args.add_binary, not args.no_archive)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
