"""Random-weight models at the real sizes, and the bundle exported from them, cached outside the
repository (``$XNER_BENCH_CACHE``, default ``~/.cache/xner-bench``).

Profiles (:data:`PROFILES`):

- ``real``: NLLB-200-distilled-600M (d_model 1024, 12 + 12 layers, 16 heads, ffn 4096, vocab
  256,206), XLM-R-large token classifier (hidden 1024, 24 layers, 16 heads, ffn 4096, vocab
  250,002) and mBERT (hidden 768, 12 layers, 12 heads, ffn 3072, vocab 119,547; aligner layer 8).
- ``small``: the same three architectures at a few million parameters, for trying the harness.

The subword models are trained on MasakhaNER 2.0 *dev* sentences of every language plus the
CoNLL-2003 English dev set (the benchmark reads *test* sentences), with 32,000 pieces; the
embedding tables are padded to the real vocabulary sizes. Two changes make random models behave
like trained ones where it matters for timing (both sides use the same checkpoints):

- the translator's padded embedding rows (its output projection is tied to them) are zero, so
  it never generates a padding id and its output decodes to real pieces (words); only
  word-initial pieces (and the end token) keep their rows, so that a repeated random piece
  still makes separate words instead of one giant word, and no language code is generated;
- the tagger's ``O`` logit gets a bias calibrated so that about :data:`OUTSIDE_SHARE` of the
  words are ``O``, as in real text (a random tagger would mark almost every word).

Everything is keyed by a hash of the settings; ``stamp.json`` marks a finished build, so an
interrupted one is redone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from xner.runtime.bundles.bundle import COMPONENTS
from xner.runtime.files.atomic import atomic_write

logger = logging.getLogger("xner.bench")

BUILD_VERSION = 2  # bump when the way models are built changes
OUTSIDE_SHARE = 0.88
SPM_VOCAB = 32000


@dataclass(frozen=True)
class ModelDims:
    """Dimensions of one model (the knobs of ``xner.export.tiny.TinyDims``)."""

    d_model: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    spm_vocab: int = SPM_VOCAB


@dataclass(frozen=True)
class Profile:
    """The three models of one benchmark profile and the aligner layer cut by the export."""

    name: str
    translator: ModelDims
    tagger: ModelDims
    aligner: ModelDims
    aligner_layer: int = 8


PROFILES = {
    "real": Profile(
        "real",
        translator=ModelDims(1024, 12, 16, 4096, 256206, 1024),
        tagger=ModelDims(1024, 24, 16, 4096, 250002, 512),
        aligner=ModelDims(768, 12, 12, 3072, 119547, 512),
    ),
    "small": Profile(
        "small",
        translator=ModelDims(256, 2, 4, 1024, 256206, 1024, 8000),
        tagger=ModelDims(256, 2, 4, 1024, 250002, 512, 8000),
        aligner=ModelDims(256, 4, 4, 1024, 119547, 512, 8000),
        aligner_layer=3,
    ),
}


@dataclass(frozen=True)
class BuiltModels:
    """Checkpoint folders (``from_pretrained``-loadable) and the bundle exported from them."""

    translator: Path
    tagger: Path
    aligner: Path
    bundle: Path
    aligner_layer: int
    seconds: dict


def cache_root() -> Path:
    """``$XNER_BENCH_CACHE`` or ``~/.cache/xner-bench``."""
    env = os.environ.get("XNER_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "xner-bench"


def corpus_lines(data: Path) -> list[str]:
    """Text to train the subword models on: MasakhaNER 2.0 dev files and CoNLL-2003 English dev."""
    files = sorted((data / "masakhaner2").glob("*.dev.conll"))
    files += sorted((data / "conll2003_en").glob("*dev*"))
    lines: list[str] = []
    for path in files:
        words: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.append(line.split("\t")[0].split(" ")[0])
            elif words:
                lines.append(" ".join(words))
                words = []
        if words:
            lines.append(" ".join(words))
    return lines


def profile_key(profile: Profile) -> str:
    """Cache folder name of a profile: its name and a hash of its settings."""
    settings = json.dumps(
        {"profile": asdict(profile), "version": BUILD_VERSION, "share": OUTSIDE_SHARE},
        sort_keys=True,
    )
    return f"{profile.name}-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"


def ensure_models(profile: Profile, data: Path, root: Path | None = None) -> BuiltModels:
    """The profile's checkpoints and bundle, built and exported on first use (then cached)."""
    folder = (root or cache_root()) / profile_key(profile)
    stamp = folder / "stamp.json"
    models = folder / "models"
    seconds: dict = {}
    if not stamp.is_file():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        _build(profile, data, models)
        seconds["build"] = round(time.perf_counter() - started, 1)
        with atomic_write(stamp) as handle:
            json.dump({"profile": asdict(profile), "seconds": seconds}, handle, indent=2)
    else:
        seconds = json.loads(stamp.read_text(encoding="utf-8")).get("seconds", {})
    bundle = folder / "bundle"
    stale = _stale_components(bundle)
    if stale:
        started = time.perf_counter()
        if set(stale) == set(COMPONENTS):
            shutil.rmtree(bundle, ignore_errors=True)
        _export(models, bundle, profile.aligner_layer, stale)
        seconds["export"] = round(time.perf_counter() - started, 1)
        data_ = json.loads(stamp.read_text(encoding="utf-8"))
        data_["seconds"] = seconds
        with atomic_write(stamp) as handle:
            json.dump(data_, handle, indent=2)
    return BuiltModels(
        models / "translator",
        models / "tagger",
        models / "aligner",
        bundle,
        profile.aligner_layer,
        seconds,
    )


def _stale_components(bundle: Path) -> list[str]:
    """The components of the cached ``bundle`` to export again: all of them when it does not
    load with this xner (sizes checked, not hashes), else those laid out otherwise than this
    xner exports them: ONNX weights beside the graphs, fused attention, per-row int8 activations
    through ``MatMulIntegerToFloat`` (issue 15), a translator with its vocabulary map.
    """
    if not (bundle / "manifest.json").is_file():
        return list(COMPONENTS)
    import onnx

    from xner.runtime.bundles.bundle import Bundle
    from xner.runtime.errors import XnerError

    try:
        loaded = Bundle.load(bundle, verify=False)
    except XnerError as error:
        logger.info("cached bundle %s is stale (%s): exporting it again", bundle, error)
        return list(COMPONENTS)
    stale = []
    for name in COMPONENTS:
        component = loaded.components.get(name)
        if component is None:
            stale.append(name)
        elif name == "translator":
            if component.settings.vocabulary_restriction is None:
                stale.append(name)
        elif not (
            component.settings.external_data
            and component.fidelity.get("fused_operators")
            and component.fidelity.get("batch_invariant", {}).get("activations") == "per-row"
            and any(
                node.op_type == "MatMulIntegerToFloat"
                for node in onnx.load(
                    str(bundle / name / "model.onnx"), load_external_data=False
                ).graph.node
            )
        ):
            stale.append(name)
    if stale:
        logger.info("cached bundle %s: %s to export again", bundle, ", ".join(stale))
    return stale


def _build(profile: Profile, data: Path, models: Path) -> None:
    from xner.export.tiny import TinyDims, build_tiny_models

    dims = {
        name: TinyDims(
            d.d_model, d.layers, d.heads, d.ffn, d.vocab_size, d.spm_vocab, d.max_positions
        )
        for name, d in (
            ("translator", profile.translator),
            ("tagger", profile.tagger),
            ("aligner", profile.aligner),
        )
    }
    lines = corpus_lines(data)
    logger.info("building %s models (%d corpus lines) in %s", profile.name, len(lines), models)
    built = build_tiny_models(models, corpus=lines, dims=dims)
    _word_initial_outputs(built.translator)
    _calibrate_outside(built.tagger, lines[::50][:400])


def _word_initial_outputs(folder: Path) -> None:
    """Zero the translator's embedding rows of padding ids and of non-word-initial pieces."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    keep = torch.zeros(model.config.vocab_size, dtype=torch.bool)
    specials = set(tokenizer.all_special_tokens)  # language codes included: never generated
    for piece, index in tokenizer.get_vocab().items():
        keep[index] = piece.startswith("\u2581") and piece not in specials
    keep[tokenizer.eos_token_id] = True
    with torch.no_grad():
        model.get_input_embeddings().weight[~keep] = 0.0
    model.save_pretrained(folder)
    logger.info("translator: %d of %d output rows kept", int(keep.sum()), len(keep))


def _calibrate_outside(folder: Path, lines: list[str]) -> None:
    """Raise the ``O`` bias so that about OUTSIDE_SHARE of first subwords are ``O``."""
    import numpy as np
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForTokenClassification.from_pretrained(folder).eval()
    outside = model.config.label2id["O"]
    margins = []
    with torch.inference_mode():
        for start in range(0, len(lines), 16):
            words = [line.split() for line in lines[start : start + 16]]
            enc = tokenizer(words, is_split_into_words=True, padding=True, return_tensors="pt")
            logits = model(**enc).logits.numpy()
            for row, _ in enumerate(words):
                ids = enc.word_ids(row)
                first = [k for k, w in enumerate(ids) if w is not None and w != ids[k - 1]]
                sub = logits[row, first]
                others = np.delete(sub, outside, axis=1).max(axis=1)
                margins.extend((others - sub[:, outside]).tolist())
    bias = float(np.quantile(margins, OUTSIDE_SHARE)) + 1e-3
    with torch.no_grad():
        model.classifier.bias[outside] += bias
    model.save_pretrained(folder)
    logger.info("tagger: O bias raised by %.3f for %.0f%% O", bias, 100 * OUTSIDE_SHARE)


def _export(models: Path, bundle: Path, layer: int, parts: list[str]) -> None:
    """Export ``parts`` of the bundle from the checkpoints (the others are kept)."""
    from xner.export import AlignerSpec, ExportOptions, TaggerSpec, TranslatorSpec, export_bundle

    logger.info("exporting %s of %s", ", ".join(parts), bundle)
    export_bundle(
        ExportOptions(
            out=bundle,
            translator=TranslatorSpec(str(models / "translator"))
            if "translator" in parts
            else None,
            tagger=TaggerSpec(str(models / "tagger")) if "tagger" in parts else None,
            aligner=AlignerSpec(str(models / "aligner"), layer=layer)
            if "aligner" in parts
            else None,
            force=True,
        )
    )
