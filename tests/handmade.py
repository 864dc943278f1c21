"""A hand-made bundle for tests that need a valid manifest but no working model.

One tagger component whose files are whatever bytes the test gives; its manifest lists them with
their real sizes and SHA-256, so ``Bundle.load`` verifies it. Engines cannot run on it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from xner.runtime.bundles.bundle import MANIFEST, file_entry

FILES = {"tagger/model.onnx": b"onnx bytes", "tagger/tokenizer.json": b"{}"}


def write_bundle(
    root: Path,
    files: dict[str, bytes] = FILES,
    *,
    settings: dict[str, Any] | None = None,
    **overrides: Any,
) -> Path:
    """Write ``files`` and a manifest listing them under ``root``; ``settings`` change the
    tagger's settings, ``overrides`` the manifest's top-level keys (``format_version=2``)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    tagger = {
        "model": "tagger/model.onnx",
        "tokenizer": "tagger/tokenizer.json",
        "family": "bert",
        "quantization": "int8",
        "labels": ["O", "B-PER", "I-PER"],
        "scheme": "IOB2",
        **(settings or {}),
    }
    manifest = {
        "format": "xner-bundle",
        "format_version": 1,
        "xner_version": "0.1.0",
        "created": "2025-01-01T00:00:00Z",
        "components": {
            "tagger": {
                "engine": "onnxruntime",
                "source": {"id": "x/y", "license": "mit"},
                "settings": tagger,
                "files": [dataclasses.asdict(file_entry(root, rel)) for rel in files],
            }
        },
        **overrides,
    }
    (root / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return root
