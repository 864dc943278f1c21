"""``xner export --tagger RUN_DIR --into BUNDLE``: a trained tagger back into an existing bundle.

``RUN_DIR`` is a local Hugging Face token-classification folder, what ``xner train`` writes
(``config.json``, ``model.safetensors``, the tokenizer files, ``run.json``). Only the bundle's
tagger is exported again, by :func:`xner.export.api.export_bundle` with the usual ONNX export,
fusion, int8 quantisation and fidelity checks; the other components are verified and kept as
they are (hard links), the new bundle is written beside the old one, verified, and swapped in.
A failure or a kill at any moment leaves the old bundle as it was.

The manifest's tagger ``fidelity`` records ``bundle_vs_torch``: how often the tagger the bundle
ships (int8 or float32) gives the trained model's own argmax label to a probe word.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xner.export.api import ExportResult, export_bundle
from xner.export.options import (
    ExportOptions,
    OnnxOptions,
    TaggerSpec,
    ValidationOptions,
)
from xner.export.sources import read_card_license
from xner.runtime.bundles.bundle import read_manifest
from xner.runtime.errors import ConfigError, InputError

logger = logging.getLogger("xner")

CONFIG = "config.json"
RUN_RECORD = "run.json"  # written by ``xner train``: its settings, the data languages among them
SUMMARY = "xner_train.json"  # written by ``xner train`` beside the final model: trained_on, ...
WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
FIGURE = "bundle_vs_torch"
"""The fidelity entry of the agreement with the trained model's labels (onnx_export writes it)."""


@dataclass
class IntoResult:
    """What :func:`export_into` did.

    ``export``: the export's result (bundle, seconds). ``replaced``: the bundle had a tagger
    before (else one was added). ``label_agreement``: share of the words of the
    ``probe_sentences`` to which the bundle's tagger gives the trained model's own argmax label.
    """

    export: ExportResult
    replaced: bool
    label_agreement: float
    probe_sentences: int


def export_into(
    run_dir: str | Path,
    bundle: str | Path,
    *,
    quantization: str | None = None,
    onnx: OnnxOptions | None = None,
    validation: ValidationOptions | None = None,
    scheme: str = "auto",
    trained_on: tuple[str, ...] | None = None,
    batch_size: int = 16,
) -> IntoResult:
    """Replace the tagger of ``bundle`` by the token-classification model in ``run_dir``.

    ``quantization``: ``int8`` or ``float32`` (``None``: as the bundle's tagger was exported,
    int8 when it has none). ``onnx``: the other graph options (fusion, per-channel, ...; the
    defaults when ``None``). ``validation``: probes, tolerance, ``min_agreement`` (a
    ``bundle_vs_torch`` label agreement below it logs a warning). ``trained_on``: the languages
    of the training data (``None``: what ``xner train`` recorded in ``run_dir``,
    :func:`run_languages`).
    Raises :class:`ConfigError` for a folder that is not a token-classification model,
    :class:`~xner.runtime.bundles.bundle.BundleError` for a missing or broken bundle.
    """
    run = Path(run_dir).absolute()
    out = Path(bundle).absolute()
    manifest = read_manifest(out)  # BundleError: not a folder, no manifest.json, bad JSON
    check_token_classifier(run)
    components = manifest.get("components")
    old = components.get("tagger") if isinstance(components, dict) else None
    onnx = onnx if onnx is not None else OnnxOptions()
    if quantization is not None:
        onnx.quantization = quantization
    elif isinstance(old, dict):
        onnx.quantization = str(old.get("settings", {}).get("quantization", onnx.quantization))
    languages = trained_on if trained_on is not None else run_languages(run)
    spec = TaggerSpec(str(run), scheme=scheme, trained_on=languages, license=_license(run))
    warn_leftovers(out)
    options = ExportOptions(
        out=out,
        tagger=spec,
        onnx=onnx,
        validation=validation if validation is not None else ValidationOptions(),
        force=True,
        batch_size=batch_size,
    )
    result = export_bundle(options)
    fidelity = result.bundle.require("tagger").fidelity
    agreement = float(fidelity[FIGURE]["label_agreement"])
    if agreement < options.validation.min_agreement:
        logger.warning(
            "tagger: the bundle's tagger gives the trained model's label to %.4f of the probe "
            "words, below --min-agreement %.4f; export it in full precision with "
            "--onnx-quantization float32",
            agreement,
            options.validation.min_agreement,
        )
    return IntoResult(result, isinstance(old, dict), agreement, int(fidelity["probe_sentences"]))


def check_token_classifier(run: Path) -> dict[str, Any]:
    """The ``config.json`` of ``run`` after checking that the folder holds a token classifier.

    Checked without loading the model: a local folder with a ``config.json`` whose
    ``architectures`` name a ``...ForTokenClassification`` class, its weights and its tokenizer.
    """
    if not run.is_dir():
        raise ConfigError(
            f"--tagger {run}: not a folder; --into takes a local model folder (what xner train "
            "writes: config.json, model.safetensors, tokenizer files)"
        )
    path = run / CONFIG
    if not path.is_file():
        raise ConfigError(f"--tagger {run}: no {CONFIG}, not a Hugging Face model folder")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(path, None, f"not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise InputError(path, None, "not a JSON object")
    architectures = config.get("architectures") or []
    if not any(str(name).endswith("ForTokenClassification") for name in architectures):
        named = ", ".join(map(str, architectures)) or "none named"
        raise ConfigError(
            f"--tagger {run}: not a token-classification model (architectures: {named}); "
            "--into needs a ...ForTokenClassification model such as xner train writes"
        )
    if not any((run / name).is_file() for name in WEIGHTS):
        raise ConfigError(f"--tagger {run}: no weights ({' or '.join(WEIGHTS[::2])})")
    if not any((run / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(f"--tagger {run}: no tokenizer ({' or '.join(TOKENIZER_FILES)})")
    return config


def run_languages(run: Path) -> tuple[str, ...]:
    """The languages of the labelled data of an ``xner train`` run: ``trained_on`` of its
    ``xner_train.json``, else the ``data`` languages of its ``run.json``, in order.

    Empty when there is no readable record: the manifest then says nothing of them.
    """
    listed = _record(run / SUMMARY).get("trained_on")
    if not isinstance(listed, list):
        data = _record(run / RUN_RECORD).get("data")
        entries = data if isinstance(data, list) else []
        listed = [entry.get("lang") for entry in entries if isinstance(entry, dict)]
    return tuple(dict.fromkeys(lang for lang in listed if isinstance(lang, str) and lang))


def _record(path: Path) -> dict[str, Any]:
    """A JSON object written by ``xner train`` (empty when absent or unreadable)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning(
            "%s: not read (%s); the run's languages and base model stay unknown", path, error
        )
        return {}
    return record if isinstance(record, dict) else {}


def _license(run: Path) -> str | None:
    """The run's own model card licence, else that of the model it was trained from."""
    own = read_card_license(str(run))
    if own is not None:
        return own
    base = _record(run / SUMMARY).get("base_model") or _record(run / RUN_RECORD).get("model")
    return read_card_license(str(base)) if isinstance(base, str) and base else None


def warn_leftovers(out: Path) -> None:
    """Name the folders an earlier killed export left beside the bundle (they may be large)."""
    left = sorted(
        p.name
        for kind in ("tmp", "work", "old")
        for p in out.parent.glob(f".{out.name}.{kind}-*")
        if p.is_dir()
    )
    if left:
        logger.warning(
            "folders left beside %s by an interrupted export: %s; remove them when no other "
            "export runs",
            out,
            ", ".join(left),
        )
