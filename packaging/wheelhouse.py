"""`make wheelhouse`: every wheel the runtime needs, in one folder, for an offline ``pip install``.

    python packaging/wheelhouse.py [--out dist/wheelhouse] [--deps-cache DIR]

Writes xner's own wheel (``pip wheel --no-deps .``), the wheels of its runtime dependencies for
this platform and Python (``pip download --only-binary :all:``: never torch, transformers or
onnx, which only the export extra needs; the build fails if one turns up) and
``requirements.txt`` pinning every wheel with its SHA-256. On the offline machine:

    pip install --no-index --find-links wheelhouse xner
    pip install --no-index --find-links wheelhouse --require-hashes -r wheelhouse/requirements.txt

``--deps-cache DIR`` keeps the downloaded dependency wheels in DIR, keyed on the dependency list,
the platform and the Python version, so that a rebuild only builds xner's own wheel.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from xner.runtime.bundles.bundle import sha256_file  # the one copy of file hashing

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("torch", "torchvision", "torchaudio", "transformers", "onnx", "optimum")


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


# What the wheel is built from: copied to a temporary folder first, so that a stale build/lib
# cannot slip old files into the wheel and two builds at once do not share setuptools' folders.
SOURCES = ("pyproject.toml", "README.md", "runtime", "export", "train", "cli")


def build_own_wheel(out: Path) -> Path:
    """xner's wheel, built from a copy of this checkout, without its dependencies."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for name in SOURCES:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, source / name, ignore=ignore)
            else:
                source.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, source / name)
        pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp, str(source))
        (wheel,) = Path(tmp).glob("xner-*.whl")
        for old in out.glob("xner-*.whl"):
            old.unlink()
        return Path(shutil.copy2(wheel, out / wheel.name))


def runtime_requirements(wheel: Path) -> list[str]:
    """The wheel's ``Requires-Dist`` lines that belong to no extra (the runtime's)."""
    with zipfile.ZipFile(wheel) as handle:
        name = next(n for n in handle.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = handle.read(name).decode("utf-8")
    found = []
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            found.append(line.split(":", 1)[1].strip())
    return found


def download(requirements: list[str], where: Path) -> None:
    """Binary wheels of ``requirements`` and everything they need, for this platform."""
    where.mkdir(parents=True, exist_ok=True)
    pip("download", "--quiet", "--only-binary", ":all:", "-d", str(where), *requirements)


def cached_dependencies(requirements: list[str], cache: Path | None, out: Path) -> None:
    """Download into ``out``, or copy from (and fill) the cache entry for this key."""
    if cache is None:
        download(requirements, out)
        return
    key = "\n".join([*sorted(requirements), sys.version.split()[0], platform.platform()])
    entry = cache / hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    if not (entry / ".complete").is_file():
        shutil.rmtree(entry, ignore_errors=True)
        download(requirements, entry)
        (entry / ".complete").write_text(key, encoding="utf-8")
    for wheel in entry.glob("*.whl"):
        shutil.copy2(wheel, out / wheel.name)


def project_name(wheel: Path) -> str:
    """The normalised project name of a wheel file (``onnxruntime``, ``typing-extensions``)."""
    return re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()


def write_requirements(out: Path) -> Path:
    """``NAME==VERSION --hash=sha256:...`` for every wheel in the folder."""
    lines = ["# Every wheel in this folder, pinned with its SHA-256 (packaging/wheelhouse.py).\n"]
    for wheel in sorted(out.glob("*.whl"), key=lambda p: p.name.lower()):
        version = wheel.name.split("-")[1]
        lines.append(f"{project_name(wheel)}=={version} --hash=sha256:{sha256_file(wheel)}\n")
    target = out / "requirements.txt"
    target.write_text("".join(lines), encoding="utf-8")
    return target


def build(out: Path, cache: Path | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    own = build_own_wheel(out)
    cached_dependencies(runtime_requirements(own), cache, out)
    bad = [w.name for w in out.glob("*.whl") if project_name(w) in FORBIDDEN]
    if bad:
        raise SystemExit(f"wheelhouse: the torch side got in: {', '.join(sorted(bad))}")
    write_requirements(out)
    size = sum(p.stat().st_size for p in out.glob("*.whl"))
    count = len(list(out.glob("*.whl")))
    print(f"wrote {out}: {count} wheels, {size / 1e6:.1f} MB, and requirements.txt")  # noqa: T201
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "wheelhouse")
    parser.add_argument("--deps-cache", type=Path, help="keep downloaded wheels here")
    args = parser.parse_args()
    build(args.out.resolve(), args.deps_cache.resolve() if args.deps_cache else None)


if __name__ == "__main__":
    main()
