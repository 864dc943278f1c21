"""Export checks: ONNX fp32 and CT2 float32 against torch, int8 against fp32, quantised CT2 too.

As optimum's ``validate_model_outputs``: outputs of the exported graph are compared with the
source model on probe sentences and the export fails when they differ by more than a tolerance.
Quantised models are compared with their full-precision version by what matters downstream
(label, alignment and token agreement); every figure goes into the manifest. The float32
CTranslate2 translator is compared with transformers by greedy translations of the probes
(:func:`compare_greedy`): a converter fault fails the export as a wrong ONNX graph does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xner.export.options import ExportError
from xner.runtime.errors import InputError

logger = logging.getLogger("xner")


@dataclass
class EncodedBatch:
    """Padded int64 inputs of probe sentences and the word of each subword (-1: special/pad)."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    word_ids: np.ndarray

    def feed(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        arrays = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        return {name: arrays[name] for name in names}

    def first_subwords(self) -> np.ndarray:
        """Mask of each word's first subword (the one whose label the word takes)."""
        first = self.word_ids >= 0
        first[:, 1:] &= self.word_ids[:, 1:] != self.word_ids[:, :-1]
        return first


def encode_words(
    tokenizer_json: str,
    sentences: Sequence[Sequence[str]],
    pad_id: int,
    limit: int,
    where: tuple[str, Sequence[int]] | None = None,
) -> EncodedBatch:
    """Encode word lists with the shipped ``tokenizer.json`` exactly as the runtime will.

    ``where`` = (file name, line of each sentence) names a sentence longer than ``limit``.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_json)
    encodings = tokenizer.encode_batch([list(words) for words in sentences], is_pretokenized=True)
    width = min(max(len(e.ids) for e in encodings), limit)
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    words = np.full((len(encodings), width), -1, dtype=np.int64)
    for row, encoding in enumerate(encodings):
        if len(encoding.ids) > limit:
            name, lines = where if where else ("<probes>", range(1, len(encodings) + 1))
            problem = f"probe sentence of {len(encoding.ids)} subwords, above the limit {limit}"
            raise InputError(name, lines[row], problem)
        n = len(encoding.ids)
        ids[row, :n] = encoding.ids
        mask[row, :n] = 1
        words[row, :n] = [-1 if w is None else w for w in encoding.word_ids]
        words[row, :n][np.asarray(encoding.special_tokens_mask, dtype=bool)] = -1
    return EncodedBatch(ids, mask, words)


def compare_exact(
    what: str, onnx_out: np.ndarray, torch_out: np.ndarray, mask: np.ndarray, tolerance: float
) -> dict[str, Any]:
    """Largest difference between ONNX fp32 and torch on real tokens; ExportError above tolerance.

    The limit is ``tolerance * max(1, max |torch|)`` so that wide hidden states are judged fairly.
    """
    keep = mask.astype(bool)
    diff = float(np.abs(onnx_out[keep] - torch_out[keep]).max(initial=0.0))
    scale = max(1.0, float(np.abs(torch_out[keep]).max(initial=0.0)))
    passed = diff <= tolerance * scale
    record = {"max_abs_diff": diff, "scale": scale, "tolerance": tolerance, "passed": passed}
    if not passed:
        raise ExportError(
            f"{what}: ONNX fp32 differs from torch by {diff:.3g} (allowed {tolerance * scale:.3g});"
            " the export is wrong, not imprecise: please report it"
        )
    return record


def label_agreement(
    quantized: np.ndarray, reference: np.ndarray, batch: EncodedBatch
) -> dict[str, float]:
    """Agreement of argmax labels: per word (first subword, as the tagger reads) and per token."""
    keep = batch.word_ids >= 0
    first = batch.first_subwords()
    same = quantized.argmax(-1) == reference.argmax(-1)
    return {
        "label_agreement": float(same[first].mean()) if first.any() else 1.0,
        "token_agreement": float(same[keep].mean()) if keep.any() else 1.0,
        "max_abs_diff": float(np.abs(quantized - reference)[keep].max(initial=0.0)),
    }


def argmax_alignment(source: np.ndarray, target: np.ndarray, source_words, target_words) -> set:
    """Word pairs linked by SimAlign's argmax (forward and backward argmax intersected).

    ``source`` / ``target`` are subword vectors (specials removed); a word pair is aligned when
    any of its subword pairs is.
    """
    a = source / np.linalg.norm(source, axis=1, keepdims=True).clip(1e-9)
    b = target / np.linalg.norm(target, axis=1, keepdims=True).clip(1e-9)
    sim = a @ b.T
    forward = sim.argmax(1)
    backward = sim.argmax(0)
    rows = np.nonzero(backward[forward] == np.arange(len(forward)))[0]
    return set(zip(source_words[rows].tolist(), target_words[forward[rows]].tolist(), strict=True))


def alignment_agreement(
    quantized: np.ndarray,
    reference: np.ndarray,
    batch: EncodedBatch,
    pairs: Sequence[tuple[int, int]],
) -> dict[str, float]:
    """Word-pair F1 of argmax alignments from int8 against fp32 hidden states, over all pairs."""
    both = common = 0
    for i, j in pairs:
        links = []
        for states in (quantized, reference):
            si, sj = batch.word_ids[i] >= 0, batch.word_ids[j] >= 0
            links.append(
                argmax_alignment(
                    states[i][si], states[j][sj], batch.word_ids[i][si], batch.word_ids[j][sj]
                )
            )
        common += len(links[0] & links[1])
        both += len(links[0]) + len(links[1])
    keep = batch.word_ids >= 0
    q, r = quantized[keep], reference[keep]
    cosine = (q * r).sum(1) / (np.linalg.norm(q, axis=1) * np.linalg.norm(r, axis=1)).clip(1e-9)
    return {
        "alignment_f1": 2 * common / both if both else 1.0,
        "mean_cosine": float(cosine.mean()) if len(cosine) else 1.0,
        "max_abs_diff": float(np.abs(q - r).max(initial=0.0)),
    }


def token_agreement(hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[str]]):
    """Position-wise token agreement of two sets of translations, and the exact-match rate."""
    same = total = exact = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        n = min(len(hyp), len(ref))
        same += int(np.sum(np.asarray(hyp[:n], dtype=object) == np.asarray(ref[:n], dtype=object)))
        total += max(len(hyp), len(ref))
        exact += list(hyp) == list(ref)
    return {
        "token_agreement": same / total if total else 1.0,
        "exact_match": exact / len(hypotheses) if hypotheses else 1.0,
    }


def judge(part: str, fidelity: dict[str, Any], figure: str, value: float, minimum: float, fix: str):
    """Record ``value`` against ``minimum``; below it, warn loudly and say how to export fp32."""
    fidelity["min_agreement"] = minimum
    fidelity["below_min_agreement"] = value < minimum
    if value < minimum:
        logger.warning(
            "%s: quantised %s is %.4f, below --min-agreement %.4f; the quantised model may hurt "
            "quality: export it in full precision with %s",
            part,
            figure,
            value,
            minimum,
            fix,
        )


def compare_greedy(
    what: str,
    converted: Sequence[Sequence[str]],
    reference: Sequence[Sequence[str]],
    minimum: float,
    floor: float,
) -> dict[str, Any]:
    """Greedy translations of a full-precision conversion against the source model's.

    Token agreement below ``floor`` raises ExportError (the conversion is wrong, not imprecise);
    below ``minimum`` it logs a warning (a correct conversion differs only where greedy search
    meets a near tie, and the rest of that sentence then differs too).
    """
    record: dict[str, Any] = dict(token_agreement(converted, reference))
    value = record["token_agreement"]
    record.update(min_torch_agreement=floor, passed=value >= floor)
    if value < floor:
        raise ExportError(
            f"{what}: float32 CTranslate2 agrees with transformers on {value:.1%} of the greedy "
            f"tokens (at least {floor:.1%} needed, --min-torch-agreement); the conversion is "
            "wrong, not imprecise: please report it"
        )
    if value < minimum:
        logger.warning(
            "%s: float32 CTranslate2 agrees with transformers on %.4f of the greedy tokens, "
            "below --min-agreement %.4f; near ties explain a few differences, many point to a "
            "conversion fault",
            what,
            value,
            minimum,
        )
    return record


def run_alone(run: Callable[[np.ndarray, np.ndarray], np.ndarray], batch: EncodedBatch):
    """Outputs of each row of ``batch`` run on its own (a batch of one, no padding), laid out
    as the padded batch's outputs (zeros past each row's length)."""
    rows = []
    for ids, mask in zip(batch.input_ids, batch.attention_mask, strict=True):
        n = int(mask.sum())
        rows.append(run(ids[None, :n], mask[None, :n])[0])
    width = batch.input_ids.shape[1]
    out = np.zeros((len(rows), width, *rows[0].shape[1:]), dtype=rows[0].dtype)
    for row, values in enumerate(rows):
        out[row, : len(values)] = values
    return out


def batch_invariance(
    alone: np.ndarray,
    together: np.ndarray,
    batch: EncodedBatch,
    pairs: Sequence[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Do the probes give the same result alone as in one batch? (DESIGN: a sentence's labels
    never depend on which other sentences share its batch.)

    Tagger (``pairs`` None): each sentence's word labels (first subwords' argmax). Aligner: each
    pair's argmax links. ``identical`` is true when no sentence (pair) changed.
    """
    if pairs is None:
        first = batch.first_subwords()
        same = alone.argmax(-1) == together.argmax(-1)
        changed = int((~same & first).any(axis=1).sum())
        what, total = "sentences", len(batch.input_ids)
    else:
        changed = 0
        for i, j in pairs:
            links = []
            for states in (alone, together):
                si, sj = batch.word_ids[i] >= 0, batch.word_ids[j] >= 0
                links.append(
                    argmax_alignment(
                        states[i][si], states[j][sj], batch.word_ids[i][si], batch.word_ids[j][sj]
                    )
                )
            changed += links[0] != links[1]
        what, total = "pairs", len(pairs)
    if changed:
        logger.warning(
            "%d of %d probe %s change when batched together instead of alone: results depend "
            "on the batch (export with per-row activations to avoid it)",
            changed,
            total,
            what,
        )
    size = len(batch.input_ids)
    return {"identical": not changed, "changed": changed, what: total, "batch_size": size}
