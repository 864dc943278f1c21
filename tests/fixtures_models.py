"""Session fixtures: tiny random models (export/tiny.py) and a bundle exported from them.

Import the fixtures into a test module (``from fixtures_models import tiny_bundle``) or list this
module in ``pytest_plugins``. The models and the bundle are built once per test run, in a folder
shared by the modules and the pytest-xdist workers (a file lock makes the others wait). Building
and exporting takes ~15 s, half of it importing torch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder per test run, shared by the pytest-xdist workers of that run."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "xner-tiny"
    root.mkdir(exist_ok=True)
    return root


def _build(root: Path) -> None:
    """Build the tiny models and export the bundle once, under a lock (xdist workers wait)."""
    from filelock import FileLock

    with FileLock(str(root / ".lock")):
        if (root / "seconds.json").is_file():
            return
        from xner.export import (
            AlignerSpec,
            ExportOptions,
            TaggerSpec,
            TranslatorSpec,
            build_tiny_models,
            export_bundle,
        )
        from xner.export.options import OnnxOptions

        models = build_tiny_models(root / "models")
        result = export_bundle(
            ExportOptions(
                out=root / "tiny",
                translator=TranslatorSpec(str(models.translator)),
                tagger=TaggerSpec(str(models.tagger), trained_on=("eng_Latn",)),
                aligner=AlignerSpec(str(models.aligner), layer=1),
            )
        )
        # The same models in full precision: the engines' parity tests compare against torch.
        export_bundle(
            ExportOptions(
                out=root / "tiny-fp32",
                translator=TranslatorSpec(str(models.translator), quantization="float32"),
                tagger=TaggerSpec(str(models.tagger), trained_on=("eng_Latn",)),
                aligner=AlignerSpec(str(models.aligner), layer=1),
                onnx=OnnxOptions(quantization="none"),
            )
        )
        (root / "seconds.json").write_text(json.dumps(result.seconds), encoding="utf-8")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory):
    """Tiny NLLB-style translator, XLM-R tagger (9 BIO labels) and mBERT-style encoder."""
    for module in ("torch", "transformers"):
        pytest.importorskip(module, reason=f"{module} (export extra) builds the tiny test models")
    pytest.importorskip("filelock", reason="filelock (test extra) guards the shared models")
    from xner.export import TinyModels

    root = _shared_root(tmp_path_factory)
    _build(root)
    models = root / "models"
    return TinyModels(models / "translator", models / "tagger", models / "aligner")


@pytest.fixture(scope="session")
def tiny_bundle(tiny_models, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A full bundle (translator, tagger, aligner at layer 1) exported from the tiny models.

    Read-only for tests: copy it (:func:`copy_bundle`) before changing anything.
    """
    return _shared_root(tmp_path_factory) / "tiny"


@pytest.fixture(scope="session")
def tiny_bundle_fp32(tiny_models, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny models exported without quantisation (float32 CTranslate2, fp32 ONNX).

    Read-only for tests, like :func:`tiny_bundle`.
    """
    return _shared_root(tmp_path_factory) / "tiny-fp32"


@pytest.fixture(scope="session")
def tiny_export_seconds(tiny_bundle: Path) -> dict[str, float]:
    """Seconds the tiny export took, per component and in total."""
    return json.loads((tiny_bundle.parent / "seconds.json").read_text(encoding="utf-8"))


def copy_bundle(bundle: Path, where: Path) -> Path:
    """A private copy of a bundle that a test may damage."""
    target = where / bundle.name
    shutil.copytree(bundle, target)
    return target
