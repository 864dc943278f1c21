"""`make wheelhouse` (issue 11): an offline ``pip install`` of the runtime, torch-free.

The slow test builds the wheelhouse (dependency wheels cached in build/wheelhouse-cache, keyed on
the dependency list), installs it as the README says into a fresh venv with every network route
closed, and runs translate-test on the tiny bundle with that venv's ``xner``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "packaging" / "wheelhouse.py"
GOLD = ROOT / "examples" / "swahili" / "swahili.gold.conll"


def _load_script():
    spec = importlib.util.spec_from_file_location("xner_wheelhouse", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def offline_env(home: Path) -> dict[str, str]:
    """No index, no find-links, no config file, and proxies that lead nowhere."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "VIRTUAL"))}
    env.update(
        PIP_NO_INDEX="1",
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        http_proxy="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        no_proxy="",
        NO_PROXY="",
        HOME=str(home),
    )
    return env


def test_requirements_pin_every_wheel_with_its_hash(tmp_path: Path) -> None:
    module = _load_script()
    (tmp_path / "numpy-2.0.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"numpy")
    (tmp_path / "typing_extensions-4.12.0-py3-none-any.whl").write_bytes(b"te")
    lines = module.write_requirements(tmp_path).read_text(encoding="utf-8").splitlines()
    wanted = {
        "numpy==2.0.0 --hash=sha256:" + hashlib.sha256(b"numpy").hexdigest(),
        "typing-extensions==4.12.0 --hash=sha256:" + hashlib.sha256(b"te").hexdigest(),
    }
    assert set(lines[1:]) == wanted


def test_only_the_runtime_requirements_are_taken(tmp_path: Path) -> None:
    import zipfile

    module = _load_script()
    wheel = tmp_path / "xner-1.0-py3-none-any.whl"
    metadata = (
        "Name: xner\nRequires-Dist: numpy>=1.23\nRequires-Dist: torch>=2.1; extra == 'export'\n"
    )
    with zipfile.ZipFile(wheel, "w") as handle:
        handle.writestr("xner-1.0.dist-info/METADATA", metadata)
    assert module.runtime_requirements(wheel) == ["numpy>=1.23"]


@pytest.mark.slow
def test_offline_install_from_the_wheelhouse_runs_translate_test(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    module = _load_script()
    house = module.build(tmp_path / "wheelhouse", ROOT / "build" / "wheelhouse-cache")
    requirements = (house / "requirements.txt").read_text(encoding="utf-8")
    wheels = sorted(house.glob("*.whl"))
    assert all(f"--hash=sha256:{module.sha256_file(w)}" in requirements for w in wheels)
    assert not [w for w in wheels if module.project_name(w) in ("torch", "transformers", "onnx")]

    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    bindir = target / ("Scripts" if sys.platform == "win32" else "bin")
    env = offline_env(tmp_path)
    install = subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "--no-index"]
        + ["--find-links", str(house), "xner"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    probe = "import importlib.util as u; print([m for m in ('torch', 'transformers', 'onnx')"
    probe += " if u.find_spec(m)])"
    found = subprocess.run(
        [str(bindir / "python"), "-c", probe], env=env, capture_output=True, text=True
    )
    assert found.stdout.strip() == "[]", found.stdout + found.stderr

    out = tmp_path / "out.conll"
    done = subprocess.run(
        [str(bindir / "xner"), "translate-test", "--bundle", str(tiny_bundle)]
        + ["--lang", "swh_Latn", str(GOLD), "-o", str(out), "--intra-threads", "1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    from xner.runtime.files.formats import read_sentences

    made, gold = list(read_sentences(out)), list(read_sentences(GOLD))
    assert [s.tokens for s in made] == [s.tokens for s in gold]


def test_own_wheel_holds_every_subpackage(tmp_path: Path) -> None:
    """Regression: the wheel lacked xner.runtime.pipelines and xner.runtime.projection."""
    import zipfile

    wheel = _load_script().build_own_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as handle:
        held = {name.rsplit("/", 1)[0] for name in handle.namelist() if name.endswith(".py")}
    wanted = {
        "xner/" + init.parent.relative_to(ROOT).as_posix()
        for top in ("runtime", "cli", "export", "train")
        for init in ROOT.glob(f"{top}/**/__init__.py")
    }
    assert wanted and wanted <= held, sorted(wanted - held)
