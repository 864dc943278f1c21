"""What to export and how: one dataclass per part plus the options shared by all parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xner.runtime.bundles.bundle import COMPONENTS
from xner.runtime.errors import ConfigError, XnerError, unknown_choice
from xner.runtime.languages import resolve_language
from xner.runtime.names import split_names

TRANSLATOR_QUANTIZATIONS = ("int8", "int8_float16", "int8_float32", "float16", "float32")
ONNX_QUANTIZATIONS = ("int8", "float32")
ONNX_ACTIVATIONS = ("per-row", "per-tensor")
"""How int8 activations are scaled at run time: per row (batch-invariant) or per tensor."""
ONNX_ALIASES = {"none": "float32"}
"""Old spellings of :data:`ONNX_QUANTIZATIONS`, still accepted (recipes, command lines)."""
SCHEMES = ("auto", "IOB1", "IOB2", "BIOES", "IO")
PARTS = COMPONENTS
"""The parts an export can build: the bundle's components (one list, in runtime/bundles)."""


class ExportError(XnerError):
    """The export cannot go on: a model that does not convert or fails validation."""


@dataclass
class TranslatorSpec:
    """An M2M100 / NLLB checkpoint to convert to CTranslate2.

    ``model``: hub id or local folder. ``tokenizer``: where to take the tokenizer from when the
    checkpoint's own files are wrong (fine-tuned EasyProject models: use the base NLLB id).
    ``revision`` / ``tokenizer_revision``: hub revisions (``None``: the default branch).
    ``quantization``: CTranslate2 weight type, one of :data:`TRANSLATOR_QUANTIZATIONS`.
    ``license``: overrides the licence read from the model card.
    ``vocabulary_pivots``: the target languages (any code form) that get a smaller output layer:
    pieces spelt in Latin letters, digits and punctuation plus the special tokens, written as
    CTranslate2's ``vmap.txt`` and measured on the probes (export/vocabulary.py); empty: none.
    """

    model: str
    tokenizer: str | None = None
    revision: str | None = None
    tokenizer_revision: str | None = None
    quantization: str = "int8"
    license: str | None = None
    vocabulary_pivots: tuple[str, ...] = ("eng_Latn",)


@dataclass
class TaggerSpec:
    """A token-classification checkpoint (XLM-R, mBERT, mDeBERTa) to export to ONNX.

    ``scheme``: ``auto`` reads the tag scheme from the label set; or force one of
    :data:`SCHEMES` (``IOB1`` for taggers trained on the original CoNLL-03 files).
    ``trained_on``: the languages of its fine-tuning data (any code form; written to the
    manifest as NLLB codes; empty: unknown, not written).
    """

    model: str
    revision: str | None = None
    license: str | None = None
    scheme: str = "auto"
    trained_on: tuple[str, ...] = ()


@dataclass
class AlignerSpec:
    """A base encoder (mBERT, XLM-R, LaBSE) cut at ``layer`` (1-based; 8 as in SimAlign)."""

    model: str
    layer: int = 8
    revision: str | None = None
    license: str | None = None


@dataclass
class OnnxOptions:
    """How the tagger and aligner graphs are written.

    ``quantization``: ``int8`` (weights and embedding tables; activations at run time) or
    ``float32`` (full precision, the word ``--translator-quantization`` uses; the old spelling
    ``none`` is accepted and read as ``float32``). ``per_channel``: one scale per output channel
    instead of per tensor.
    ``activations``: int8 activation scales, computed at run time: ``per-row`` (one per token,
    so a sentence's outputs never depend on the rest of its batch; the default) or
    ``per-tensor`` (onnxruntime's dynamic quantisation: one scale over the whole batch, padding
    included, so labels can change with the batch; see bench/bench_quant.py for the speed).
    ``reduce_range``: 7-bit weights (helps older x86 CPUs without VNNI avoid overflow).
    ``fuse``: fuse each layer's attention, GELU and layer norms into ONNX Runtime's transformer
    operators before quantising (BERT, RoBERTa, XLM-R; other families are kept as exported).
    ``opset``: ONNX opset of the exported graph. ``preprocess``: run onnxruntime's
    pre-processing (graph optimisation) before quantising; off by default since dynamic
    quantisation does not need it and it fails on XLM-R graphs unless shape inference is skipped.
    """

    quantization: str = "int8"
    per_channel: bool = False
    activations: str = "per-row"
    reduce_range: bool = False
    fuse: bool = True
    opset: int = 17
    preprocess: bool = False

    def __post_init__(self) -> None:
        self.quantization = ONNX_ALIASES.get(self.quantization, self.quantization)


@dataclass
class ValidationOptions:
    """The checks made while exporting.

    ``probe``: probe sentence file (``None``: the built-in multilingual probes).
    ``tolerance``: largest allowed difference between ONNX fp32 and torch outputs, relative to
    ``max(1, max |torch output|)``; above it the export fails. ``min_agreement``: int8 agreement
    with fp32 below this logs a warning that says how to export in full precision; float32
    CTranslate2 agreeing less with transformers' greedy translations also logs a warning.
    ``min_torch_agreement``: float32 CTranslate2 agreeing less than this with transformers
    (greedy token agreement on the probes) fails the export: the conversion is wrong, not
    imprecise (a correct one differs only where greedy search meets a near tie).
    ``min_vocabulary_agreement``: the smaller output layer for translation into the pivots
    (``TranslatorSpec.vocabulary_pivots``) is marked validated, and used at run time, when its
    greedy translations of the probes agree with the full layer's on at least this share of
    the tokens; below, it is recorded with a warning and not used.
    """

    probe: Path | None = None
    tolerance: float = 1e-3
    min_agreement: float = 0.98
    min_torch_agreement: float = 0.9
    min_vocabulary_agreement: float = 0.99


@dataclass
class ExportOptions:
    """Everything :func:`xner.export.export_bundle` needs.

    ``out``: the bundle folder; an existing bundle gets the parts added (``force`` to replace a
    part it already has). ``batch_size``: probe sentences per forward pass.
    """

    out: Path
    translator: TranslatorSpec | None = None
    tagger: TaggerSpec | None = None
    aligner: AlignerSpec | None = None
    onnx: OnnxOptions = field(default_factory=OnnxOptions)
    validation: ValidationOptions = field(default_factory=ValidationOptions)
    force: bool = False
    batch_size: int = 16

    def parts(self) -> dict[str, Any]:
        """The requested parts by name."""
        specs = {"translator": self.translator, "tagger": self.tagger, "aligner": self.aligner}
        return {name: spec for name, spec in specs.items() if spec is not None}

    def check(self) -> None:
        """Raise ConfigError for a bad value, listing the valid choices.

        Old spellings are resolved here (ONNX ``none`` becomes ``float32``, :data:`ONNX_ALIASES`).
        """
        if not self.parts():
            raise ConfigError(
                "nothing to export: give --recipe or at least one of --translator, --tagger, "
                "--aligner"
            )
        if self.translator and self.translator.quantization not in TRANSLATOR_QUANTIZATIONS:
            raise unknown_choice(
                "translator quantization", self.translator.quantization, TRANSLATOR_QUANTIZATIONS
            )
        self.onnx.quantization = ONNX_ALIASES.get(self.onnx.quantization, self.onnx.quantization)
        if self.onnx.quantization not in ONNX_QUANTIZATIONS:
            raise unknown_choice("ONNX quantization", self.onnx.quantization, ONNX_QUANTIZATIONS)
        if self.onnx.activations not in ONNX_ACTIVATIONS:
            raise unknown_choice("ONNX activations", self.onnx.activations, ONNX_ACTIVATIONS)
        if self.tagger and self.tagger.scheme not in SCHEMES:
            raise unknown_choice("tag scheme", self.tagger.scheme, SCHEMES)
        if self.tagger:
            codes = (resolve_language(code) for code in split_names(self.tagger.trained_on))
            self.tagger.trained_on = tuple(dict.fromkeys(codes))
        if self.aligner and self.aligner.layer < 0:
            raise ConfigError(f"aligner layer must be 0 or more, not {self.aligner.layer}")
        if not 0.0 <= self.validation.min_agreement <= 1.0:
            raise ConfigError("--min-agreement must lie between 0 and 1")
        if self.translator:
            pivots = split_names(self.translator.vocabulary_pivots)
            self.translator.vocabulary_pivots = tuple(dict.fromkeys(map(resolve_language, pivots)))
            other = [code for code in self.translator.vocabulary_pivots if code[-5:] != "_Latn"]
            if other:
                raise ConfigError(
                    f"vocabulary pivots keep Latin-script pieces only: {', '.join(other)} is "
                    "not written in Latin script (give codes like eng_Latn, or none)"
                )
        if not 0.0 <= self.validation.min_vocabulary_agreement <= 1.0:
            raise ConfigError("--min-vocabulary-agreement must lie between 0 and 1")
        if not 0.0 <= self.validation.min_torch_agreement <= 1.0:
            raise ConfigError("--min-torch-agreement must lie between 0 and 1")
        if self.validation.tolerance <= 0:
            raise ConfigError("--tolerance must be positive")
        if self.batch_size < 1:
            raise ConfigError("batch size must be at least 1")
