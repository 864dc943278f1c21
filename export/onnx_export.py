"""Export the tagger and the aligner: torch -> ONNX fp32 -> fused -> checked -> int8 (or fp32).

Both are encoders read with a ``tokenizers`` tokenizer; the graphs take ``input_ids`` and
``attention_mask`` (int64, ``[batch, sequence]``) and return ``logits`` (tagger) or the hidden
states of the chosen layer (aligner). Graphs are traced with the TorchScript exporter
(``dynamo=False``; the dynamo exporter needs onnxscript) in eager attention.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from xner.export import labels as label_sets
from xner.export import validate
from xner.export.manifest_writer import ComponentResult, jsonable
from xner.export.options import AlignerSpec, ExportError, ExportOptions, TaggerSpec
from xner.export.probes import ProbeSet
from xner.export.quantize import fuse_encoder, write_onnx
from xner.export.sources import license_warnings, source_record

logger = logging.getLogger("xner")

INPUTS = ("input_ids", "attention_mask")
ROBERTA_LIKE = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert"}


def export_tagger(
    spec: TaggerSpec, root: Path, work: Path, options: ExportOptions, probes: ProbeSet
) -> ComponentResult:
    """Write ``root/tagger/`` from a token-classification checkpoint and return its record."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification

    started = time.perf_counter()
    config = AutoConfig.from_pretrained(spec.model, revision=spec.revision)
    labels = [config.id2label[i] for i in range(config.num_labels)]
    info = label_sets.read_labels(labels, spec.scheme)
    model = AutoModelForTokenClassification.from_pretrained(
        spec.model, revision=spec.revision, attn_implementation="eager"
    ).eval()
    tokenizer = _tokenizer(spec.model, spec.revision)
    settings = _encoder_settings("tagger", config, tokenizer, options, output="logits")
    dest = root / "tagger"
    dest.mkdir(parents=True)
    _save_tokenizer_json(tokenizer, dest / "tokenizer.json")

    fp32 = _trace(
        _first_output(model), tokenizer, work / "tagger-fp32" / "model.onnx", "logits", options
    )
    fp32, fused = _fuse(fp32, config, work, options)
    batch = _probe_batch(dest / "tokenizer.json", probes, settings)
    with torch.no_grad():
        reference = _torch_run(_logits(model), batch, options)
    del model
    fidelity: dict[str, Any] = {"probe_sentences": len(probes.sentences), "probes": probes.source}
    fidelity["fused_operators"] = fused
    fidelity["tokenizer_json_matches"] = _check_tokenizer_json(tokenizer, batch, probes)
    full = _onnx_run(fp32, batch, options)
    fidelity["onnx_fp32_vs_torch"] = validate.compare_exact(
        "tagger", full, reference, batch.attention_mask, options.validation.tolerance
    )
    files = write_onnx(fp32, dest / "model.onnx", options.onnx, work)
    shipped = full
    if options.onnx.quantization == "int8":
        shipped = quantized = _onnx_run(dest / "model.onnx", batch, options)
        fidelity["int8_vs_fp32"] = agreement = validate.label_agreement(quantized, full, batch)
        validate.judge(
            "tagger",
            fidelity,
            "label agreement",
            agreement["label_agreement"],
            options.validation.min_agreement,
            "--onnx-quantization float32",
        )
    # the graph the bundle ships (int8 or fp32) against the model's own argmax labels
    fidelity["bundle_vs_torch"] = validate.label_agreement(shipped, reference, batch)
    fidelity["batch_invariant"] = _batch_invariance(dest / "model.onnx", batch, options)
    first = batch.first_subwords()
    sentence_of_word = np.nonzero(first)[0]
    rate = label_sets.inside_start_rate(reference.argmax(-1)[first], sentence_of_word, labels)
    fidelity["scheme_evidence"] = {"reason": info.reason, "inside_start_rate": rate}
    if info.scheme == "IOB2" and rate > 0.6:
        logger.warning(
            "tagger: %.0f%% of the entities the model predicts on the probes start with I-: it may "
            "be an IOB1 tagger; if so, export it with --tagger-scheme IOB1",
            100 * rate,
        )
    settings.update(
        labels=list(labels),
        scheme=info.scheme,
        entity_types=list(info.entity_types),
        aggregation="first",
        external_data=[_rel(root, p) for p in files[1:]],
    )
    if spec.trained_on:  # optional: a bundle without it reads as unknown
        settings["trained_on"] = list(spec.trained_on)
    return _result(
        "tagger", spec, config, settings, fidelity, [*files, dest / "tokenizer.json"], started
    )


def export_aligner(
    spec: AlignerSpec, root: Path, work: Path, options: ExportOptions, probes: ProbeSet
) -> ComponentResult:
    """Write ``root/aligner/``: the encoder truncated after ``spec.layer`` layers."""
    import torch
    from transformers import AutoConfig, AutoModel

    started = time.perf_counter()
    config = AutoConfig.from_pretrained(spec.model, revision=spec.revision)
    layers = getattr(config, "num_hidden_layers", None)
    if layers is None or not 0 <= spec.layer <= layers:
        raise ExportError(f"{spec.model}: layer {spec.layer} is not in 0..{layers}")
    tokenizer = _tokenizer(spec.model, spec.revision)
    settings = _encoder_settings("aligner", config, tokenizer, options, output="hidden_states")
    dest = root / "aligner"
    dest.mkdir(parents=True)
    _save_tokenizer_json(tokenizer, dest / "tokenizer.json")
    with _transformers_quiet():  # it lists every unused weight of the layers cut off
        cut = AutoModel.from_pretrained(
            spec.model,
            revision=spec.revision,
            num_hidden_layers=spec.layer,
            attn_implementation="eager",
        ).eval()

    fp32_path = work / "aligner-fp32" / "model.onnx"
    fp32 = _trace(_first_output(cut), tokenizer, fp32_path, "hidden_states", options)
    fp32, fused = _fuse(fp32, config, work, options)
    del cut
    batch = _probe_batch(dest / "tokenizer.json", probes, settings)
    full_model = AutoModel.from_pretrained(
        spec.model, revision=spec.revision, attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        reference = _torch_run(_hidden_states(full_model, spec.layer), batch, options)
    del full_model
    fidelity: dict[str, Any] = {"probe_pairs": len(probes.pairs), "probes": probes.source}
    fidelity["fused_operators"] = fused
    fidelity["tokenizer_json_matches"] = _check_tokenizer_json(tokenizer, batch, probes)
    full = _onnx_run(fp32, batch, options)
    fidelity["onnx_fp32_vs_torch"] = validate.compare_exact(
        f"aligner layer {spec.layer}",
        full,
        reference,
        batch.attention_mask,
        options.validation.tolerance,
    )
    files = write_onnx(fp32, dest / "model.onnx", options.onnx, work)
    if options.onnx.quantization == "int8":
        quantized = _onnx_run(dest / "model.onnx", batch, options)
        agreement = validate.alignment_agreement(quantized, full, batch, probes.pairs)
        fidelity["int8_vs_fp32"] = agreement
        validate.judge(
            "aligner",
            fidelity,
            "alignment F1",
            agreement["alignment_f1"],
            options.validation.min_agreement,
            "--onnx-quantization float32",
        )
    pairs = probes.pairs
    fidelity["batch_invariant"] = _batch_invariance(dest / "model.onnx", batch, options, pairs)
    settings.update(
        layer=spec.layer,
        hidden_size=int(config.hidden_size),
        num_layers_source=int(layers),
        external_data=[_rel(root, p) for p in files[1:]],
    )
    return _result(
        "aligner", spec, config, settings, fidelity, [*files, dest / "tokenizer.json"], started
    )


# ---------------------------------------------------------------------------------------------


def _result(
    part: str,
    spec: TaggerSpec | AlignerSpec,
    config: Any,
    settings: dict[str, Any],
    fidelity: dict[str, Any],
    files: list[Path],
    started: float,
) -> ComponentResult:
    """The record of an exported encoder: source, settings, fidelity, files (relative)."""
    root = files[0].parent.parent
    source = source_record(spec.model, config, spec.revision, spec.license)
    return ComponentResult(
        part,
        source,
        jsonable(settings),
        jsonable(fidelity),
        [_rel(root, p) for p in files],
        license_warnings(part, source),
        time.perf_counter() - started,
    )


def _first_output(model: Any) -> Any:
    """Wrap ``model`` so that the traced graph takes (input_ids, attention_mask), gives output 0."""
    import torch

    class FirstOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            outputs = self.model(
                input_ids=input_ids, attention_mask=attention_mask, return_dict=False
            )
            return outputs[0]

    return FirstOutput()


def _logits(model: Any) -> Any:
    return lambda ids, mask: model(ids, attention_mask=mask).logits


def _hidden_states(model: Any, layer: int) -> Any:
    def run(ids: Any, mask: Any) -> Any:
        return model(ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]

    return run


@contextlib.contextmanager
def _transformers_quiet() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _tokenizer(model: str, revision: str | None):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
    if not tokenizer.is_fast:
        raise ExportError(f"{model}: no fast tokenizer (tokenizer.json) could be built")
    return tokenizer


def _save_tokenizer_json(tokenizer: Any, path: Path) -> None:
    """The backend tokenizer without truncation or padding (the engines handle both)."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    backend.save(str(path))


def _max_length(family: str, config: Any, tokenizer: Any) -> int:
    """Usable positions, special tokens included (RoBERTa-style models lose pad_id + 1)."""
    positions = int(getattr(config, "max_position_embeddings", 512) or 512)
    if family in ROBERTA_LIKE:
        positions -= int(config.pad_token_id) + 1
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        positions = min(positions, limit)
    return positions


def _encoder_settings(part: str, config: Any, tokenizer: Any, options: ExportOptions, output: str):
    family = str(config.model_type)
    cls_token = tokenizer.cls_token or tokenizer.bos_token
    sep_token = tokenizer.sep_token or tokenizer.eos_token
    if cls_token is None or sep_token is None or tokenizer.pad_token_id is None:
        raise ExportError(f"{part}: the tokenizer lacks a CLS/BOS, SEP/EOS or PAD token")
    cls_id = tokenizer.convert_tokens_to_ids(cls_token)
    sep_id = tokenizer.convert_tokens_to_ids(sep_token)
    ids = tokenizer(["probe"], is_split_into_words=True)["input_ids"]
    if ids[0] != cls_id or ids[-1] != sep_id:
        raise ExportError(
            f"{part}: the tokenizer does not wrap a sentence as {cls_token} ... {sep_token} "
            f"(got {tokenizer.convert_ids_to_tokens(ids)}); this model family is not supported"
        )
    return {
        "model": f"{part}/model.onnx",
        "tokenizer": f"{part}/tokenizer.json",
        "family": family,
        "quantization": options.onnx.quantization,
        "inputs": list(INPUTS),
        "output": output,
        "input_dtype": "int64",
        "max_length": _max_length(family, config, tokenizer),
        "pad_id": int(tokenizer.pad_token_id),
        "pad_token": tokenizer.pad_token,
        "cls_token": cls_token,
        "cls_id": int(cls_id),
        "sep_token": sep_token,
        "sep_id": int(sep_id),
        "unk_token": tokenizer.unk_token,
        "unk_id": int(tokenizer.unk_token_id),
        "add_special_tokens": True,
        "pretokenized": True,
    }


def _trace(module: Any, tokenizer: Any, path: Path, output: str, options: ExportOptions) -> Path:
    """Export ``module`` (eval mode) to ``path`` in its own folder (external data if > 2 GB)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = tokenizer(
        [["Angela", "Merkel", "visited", "Nairobi", "."], ["Paris", "."]],
        is_split_into_words=True,
        padding=True,
        return_tensors="pt",
    )
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, output)}
    module.eval()  # export restores the wrapper's mode afterwards: it must be eval already
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (dummy["input_ids"], dummy["attention_mask"]),
            str(path),
            input_names=list(INPUTS),
            output_names=[output],
            dynamic_axes=dynamic,
            opset_version=options.onnx.opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return path


def _probe_batch(tokenizer_json: Path, probes: ProbeSet, settings: dict[str, Any]):
    words = [probe.words for probe in probes.sentences]
    where = (probes.source, [probe.line for probe in probes.sentences])
    return validate.encode_words(
        str(tokenizer_json), words, settings["pad_id"], settings["max_length"], where
    )


def _check_tokenizer_json(tokenizer: Any, batch: validate.EncodedBatch, probes: ProbeSet) -> bool:
    """The shipped tokenizer.json must encode the probes exactly as transformers does."""
    expected = tokenizer([p.words for p in probes.sentences], is_split_into_words=True)
    for row, ids in enumerate(expected["input_ids"]):
        if list(batch.input_ids[row, : len(ids)]) != list(ids) or batch.attention_mask[
            row
        ].sum() != len(ids):
            raise ExportError(
                f"tokenizer.json encodes probe line {probes.sentences[row].line} differently "
                "from the transformers tokenizer; please report this model"
            )
    return True


def _torch_run(fn: Any, batch: validate.EncodedBatch, options: ExportOptions) -> np.ndarray:
    import torch

    outputs = []
    for start in range(0, len(batch.input_ids), options.batch_size):
        rows = slice(start, start + options.batch_size)
        ids = torch.from_numpy(batch.input_ids[rows])
        mask = torch.from_numpy(batch.attention_mask[rows])
        outputs.append(fn(ids, mask).float().numpy())
    return np.concatenate(outputs)


def _fuse(fp32: Path, config: Any, work: Path, options: ExportOptions) -> tuple[Path, dict]:
    """The fused graph and fusion counts (the graph as exported when fusion is off)."""
    return fuse_encoder(fp32, config, work, options.onnx) if options.onnx.fuse else (fp32, {})


def _session(path: Path) -> Any:
    import onnxruntime as ort

    session_options = ort.SessionOptions()
    session_options.log_severity_level = 3
    return ort.InferenceSession(str(path), session_options, providers=["CPUExecutionProvider"])


def _batch_invariance(
    path: Path,
    batch: validate.EncodedBatch,
    options: ExportOptions,
    pairs: tuple[tuple[int, int], ...] | None = None,
) -> dict[str, Any]:
    """The written graph on each probe alone and on all of them in one padded batch."""
    session = _session(path)

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    together = run(batch.input_ids, batch.attention_mask)
    record = validate.batch_invariance(validate.run_alone(run, batch), together, batch, pairs)
    int8 = options.onnx.quantization == "int8"
    return {"activations": options.onnx.activations if int8 else "float32", **record}


def _onnx_run(path: Path, batch: validate.EncodedBatch, options: ExportOptions) -> np.ndarray:
    session = _session(path)
    outputs = []
    for start in range(0, len(batch.input_ids), options.batch_size):
        rows = slice(start, start + options.batch_size)
        feed = {name: array[rows] for name, array in batch.feed(INPUTS).items()}
        outputs.append(session.run(None, feed)[0])
    return np.concatenate(outputs)
