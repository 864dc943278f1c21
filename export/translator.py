"""Export the translator: an M2M100 / NLLB checkpoint converted to CTranslate2.

The tokenizer may come from another checkpoint (``TranslatorSpec.tokenizer``): fine-tuned NLLB
models such as EasyProject's ship wrong tokenizer files. The token convention (where the
language codes and ``</s>`` go) is read from the tokenizer and written into the manifest.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xner.export import validate
from xner.export import vocabulary as vocabulary_map
from xner.export.manifest_writer import ComponentResult, jsonable
from xner.export.options import ExportError, ExportOptions, TranslatorSpec
from xner.export.probes import ProbeSet
from xner.export.sources import license_warnings, source_record
from xner.runtime.bundles.bundle import TranslatorSettings
from xner.runtime.engines.translator import translator_language

logger = logging.getLogger("xner")

NLLB_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
M2M_CODE = re.compile(r"^__[a-z]{2,3}__$")
SPM_NAMES = ("sentencepiece.bpe.model", "spm.model", "sentencepiece.model")
SERIAL_BELOW = 20_000_000
"""Models with fewer parameters are run on one torch thread by :func:`torch_greedy`: their
operations are too small to share, and waiting for busy cores made tiny exports ten times slower."""


def export_translator(
    spec: TranslatorSpec, root: Path, work: Path, options: ExportOptions, probes: ProbeSet
) -> ComponentResult:
    """Write ``root/translator/`` (CTranslate2 model, SentencePiece model, tokenizer.json)."""
    from transformers import AutoConfig, AutoTokenizer

    started = time.perf_counter()
    config = AutoConfig.from_pretrained(spec.model, revision=spec.revision)
    if config.model_type not in ("m2m_100", "m2m100"):
        raise ExportError(
            f"{spec.model}: model type {config.model_type!r} is not a translator xner can use; "
            "give an M2M100 or NLLB-200 checkpoint"
        )
    tok_revision = spec.tokenizer_revision if spec.tokenizer else spec.revision
    tokenizer = AutoTokenizer.from_pretrained(spec.tokenizer or spec.model, revision=tok_revision)
    family = "nllb" if "nllb" in type(tokenizer).__name__.lower() else "m2m100"
    if len(tokenizer) > config.vocab_size:
        raise ExportError(
            f"the tokenizer has {len(tokenizer)} tokens but {spec.model} only "
            f"{config.vocab_size} embeddings: wrong tokenizer? (--translator-tokenizer)"
        )
    saved = work / "translator-tokenizer"
    tokenizer.save_pretrained(saved)
    spm_file = next((saved / name for name in SPM_NAMES if (saved / name).is_file()), None)
    if spm_file is None:
        raise ExportError(
            f"{spec.tokenizer or spec.model}: no SentencePiece model in the tokenizer"
        )

    dest = root / "translator"
    _convert(spec.model, spec.revision, tokenizer, dest, spec.quantization)
    shutil.copyfile(spm_file, dest / spm_file.name)
    has_json = (saved / "tokenizer.json").is_file()
    if has_json:
        shutil.copyfile(saved / "tokenizer.json", dest / "tokenizer.json")
    vocabulary = _vocabulary(dest)
    languages = _languages(tokenizer, family, vocabulary)
    convention = _convention(tokenizer, family, languages)
    ct2_config = json.loads((dest / "config.json").read_text(encoding="utf-8"))
    settings = {
        "model_dir": "translator",
        "sentencepiece": f"translator/{spm_file.name}",
        "tokenizer": "translator/tokenizer.json" if has_json else None,
        "family": family,
        "quantization": spec.quantization,
        "languages": languages,
        **convention,
        "output_includes_prefix": True,
        "eos_token": tokenizer.eos_token,
        "unk_token": tokenizer.unk_token,
        "pad_token": tokenizer.pad_token,
        "decoder_start_token": ct2_config.get("decoder_start_token"),
        "max_source_positions": int(config.max_position_embeddings),
        "max_target_positions": int(config.max_position_embeddings),
        "decoding_length_counts_prefix": True,
        "vocabulary_size": len(vocabulary),
    }
    fidelity = _validate(spec, dest, work, tokenizer, settings, options, probes)
    if spec.vocabulary_pivots:
        restriction = _restrict_vocabulary(
            spec, dest, vocabulary, tokenizer, settings, options, probes
        )
        settings["vocabulary_restriction"], fidelity["vocabulary_restriction"] = restriction
    source = source_record(
        spec.model, config, spec.revision, spec.license, spec.tokenizer, spec.tokenizer_revision
    )
    files = sorted(p.relative_to(root).as_posix() for p in dest.rglob("*") if p.is_file())
    return ComponentResult(
        "translator",
        source,
        jsonable(settings),
        jsonable(fidelity),
        files,
        license_warnings("translator", source),
        time.perf_counter() - started,
    )


def _convert(model: str, revision: str | None, tokenizer: Any, out: Path, quantization: str):
    """CTranslate2 conversion that takes the vocabulary from ``tokenizer``, not the checkpoint."""
    from ctranslate2.converters import TransformersConverter

    class Converter(TransformersConverter):  # type: ignore[misc]  # ctranslate2 has no stubs
        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any):
            return tokenizer

    Converter(model, revision=revision).convert(str(out), quantization=quantization, force=True)


def _vocabulary(model_dir: Path) -> list[str]:
    path = model_dir / "shared_vocabulary.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    text = (model_dir / "shared_vocabulary.txt").read_text(encoding="utf-8")
    return text.splitlines()


def _languages(tokenizer: Any, family: str, vocabulary: list[str]) -> list[str]:
    """Language code tokens: the tokenizer's special tokens that look like codes, in the vocab."""
    pattern = NLLB_CODE if family == "nllb" else M2M_CODE
    known = set(vocabulary)
    specials = [t for t in tokenizer.additional_special_tokens if pattern.match(t) and t in known]
    codes = specials or [t for t in vocabulary if pattern.match(t)]
    if not codes:
        raise ExportError("the tokenizer knows no language codes; is this a multilingual model?")
    return sorted(set(codes))


def _set_lang(code: str, family: str) -> str:
    """The value tokenizers take for ``src_lang`` (M2M100 wants ``en`` for token ``__en__``)."""
    return code.strip("_") if family == "m2m100" else code


def _convention(tokenizer: Any, family: str, languages: list[str]) -> dict[str, list[str]]:
    """Read where language codes and ``</s>`` go from the tokenizer, with placeholders."""
    pick = {c.strip("_")[:2]: c for c in languages}
    src = "eng_Latn" if "eng_Latn" in languages else pick.get("en", languages[0])
    tgt = "fra_Latn" if "fra_Latn" in languages else pick.get("fr", languages[-1])
    text = "Angela Merkel visited Nairobi ."
    pieces = tokenizer.tokenize(text)
    tokenizer.src_lang = _set_lang(src, family)
    tokenizer.tgt_lang = _set_lang(tgt, family)
    source = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    target = tokenizer.convert_ids_to_tokens(tokenizer(text_target=text)["input_ids"])
    src_prefix, src_suffix = _around(source, pieces, src, "{src_lang}")
    tgt_prefix, _ = _around(target, pieces, tgt, "{tgt_lang}")
    if "{src_lang}" not in src_prefix + src_suffix:
        raise ExportError("the tokenizer does not mark the source language: unknown convention")
    if "{tgt_lang}" not in tgt_prefix:
        logger.info("target language code not before the pieces; using target_prefix [tgt_lang]")
        tgt_prefix = ["{tgt_lang}"]
    return {"source_prefix": src_prefix, "source_suffix": src_suffix, "target_prefix": tgt_prefix}


def _around(tokens: list[str], pieces: list[str], code: str, placeholder: str):
    """Tokens before and after ``pieces`` in ``tokens``, the language code as ``placeholder``."""
    for start in range(len(tokens) - len(pieces) + 1):
        if tokens[start : start + len(pieces)] == pieces:
            before, after = tokens[:start], tokens[start + len(pieces) :]
            swap = [placeholder if t == code else t for t in before]
            return swap, [placeholder if t == code else t for t in after]
    raise ExportError(f"cannot find the pieces {pieces} in the encoded sentence {tokens}")


def _validate(
    spec: TranslatorSpec,
    dest: Path,
    work: Path,
    tokenizer: Any,
    settings: dict[str, Any],
    options: ExportOptions,
    probes: ProbeSet,
) -> dict[str, Any]:
    """Greedy translations of the probes: float32 CTranslate2 against transformers (a converter
    fault fails the export), and the quantised model against CTranslate2 float32."""
    import ctranslate2

    languages = set(settings["languages"])
    default_tgt = "eng_Latn" if "eng_Latn" in languages else sorted(languages)[0]
    other_tgt = "fra_Latn" if "fra_Latn" in languages else sorted(languages)[-1]
    sources, prefixes, skipped = _probe_inputs(
        dest, settings, probes, lambda lang: [other_tgt if lang == default_tgt else default_tgt]
    )
    fidelity: dict[str, Any] = {
        "probe_sentences": len(sources),
        "probes_skipped_unknown_language": skipped,
        "probes": probes.source,
        "decoding": "greedy",
    }
    if not sources:
        fidelity["reference"] = None
        return fidelity
    fidelity["max_decoding_length"] = limit = _probe_limit(settings, sources)

    def run(model_dir: Path, compute_type: str) -> tuple[list[list[str]], str]:
        translator = ctranslate2.Translator(str(model_dir), device="cpu", compute_type=compute_type)
        results = translator.translate_batch(
            sources,
            target_prefix=prefixes,
            beam_size=1,
            max_batch_size=options.batch_size,
            max_decoding_length=limit,
        )
        return [r.hypotheses[0] for r in results], str(translator.compute_type)

    if spec.quantization == "float32":
        full, _ = run(dest, "float32")
        fidelity["reference"] = None
    else:
        reference_dir = work / "translator-float32"
        _convert(spec.model, spec.revision, tokenizer, reference_dir, "float32")
        quantized, used = run(dest, "default")
        full, _ = run(reference_dir, "float32")
        shutil.rmtree(reference_dir, ignore_errors=True)
        fidelity["reference"] = "ctranslate2-float32"
        fidelity["compute_type"] = used
        fidelity["quantized_vs_float32"] = agreement = validate.token_agreement(quantized, full)
        validate.judge(
            "translator",
            fidelity,
            "token agreement",
            agreement["token_agreement"],
            options.validation.min_agreement,
            "--translator-quantization float32",
        )
    vocabulary = _vocabulary(dest)
    unk = settings["unk_token"]
    torch_out = torch_greedy(spec, sources, prefixes, vocabulary, unk, limit, options.batch_size)
    fidelity["ct2_float32_vs_torch"] = validate.compare_greedy(
        "translator",
        [h[len(p) :] for h, p in zip(full, prefixes, strict=True)],
        [h[len(p) :] for h, p in zip(torch_out, prefixes, strict=True)],
        options.validation.min_agreement,
        options.validation.min_torch_agreement,
    )
    return fidelity


def _probe_inputs(
    dest: Path,
    settings: dict[str, Any],
    probes: ProbeSet,
    targets: Callable[[str], list[str]],
) -> tuple[list[list[str]], list[list[str]], int]:
    """The probes as CTranslate2 source tokens, each once per target language code that
    ``targets(probe language)`` gives, with the target prefixes; and how many probes were
    skipped, their language unknown to the model."""
    import sentencepiece

    languages = set(settings["languages"])
    sp = sentencepiece.SentencePieceProcessor(
        model_file=str(dest.parent / settings["sentencepiece"])
    )
    sources, prefixes, skipped = [], [], 0
    for probe in probes.sentences:
        if probe.lang not in languages:
            skipped += 1
            continue
        pieces = sp.encode(probe.text, out_type=str)
        for tgt in targets(probe.lang):
            fill = {"{src_lang}": probe.lang, "{tgt_lang}": tgt}
            sources.append(
                [fill.get(t, t) for t in settings["source_prefix"]]
                + pieces
                + [fill.get(t, t) for t in settings["source_suffix"]]
            )
            prefixes.append([fill.get(t, t) for t in settings["target_prefix"]])
    return sources, prefixes, skipped


def _probe_limit(settings: dict[str, Any], sources: list[list[str]]) -> int:
    """The decoding limit of the probe translations: twice the longest source plus 10."""
    return int(min(settings["max_target_positions"], 2 * max(len(s) for s in sources) + 10))


def _restrict_vocabulary(
    spec: TranslatorSpec,
    dest: Path,
    vocabulary: list[str],
    tokenizer: Any,
    settings: dict[str, Any],
    options: ExportOptions,
    probes: ProbeSet,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``vmap.txt`` (the pieces kept for translation into the pivots) and measure it.

    Returns the manifest's ``settings.vocabulary_restriction`` and ``fidelity`` record: the
    pivots' codes, pieces kept of all, and restricted against full greedy translations of the
    probes in other languages into each pivot.
    """
    view = TranslatorSettings(
        model_dir=settings["model_dir"],
        sentencepiece=settings["sentencepiece"],
        tokenizer=None,
        family=settings["family"],
        quantization=settings["quantization"],
        languages=tuple(settings["languages"]),
        source_prefix=(),
        source_suffix=(),
        target_prefix=(),
    )
    targets = list(dict.fromkeys(translator_language(view, p) for p in spec.vocabulary_pivots))
    # CTranslate2 adds the start, end and unknown tokens to every map; listed so that the
    # count is what the decoder may emit
    needed = [tokenizer.bos_token, settings["eos_token"], settings["unk_token"], *targets]
    if settings["decoder_start_token"]:
        needed.append(settings["decoder_start_token"])
    specials = [*settings["languages"], *tokenizer.all_special_tokens, settings["pad_token"]]
    kept = vocabulary_map.kept_pieces(vocabulary, needed, specials)
    vocabulary_map.write_vmap(dest / vocabulary_map.VMAP, kept)
    sources, prefixes, _ = _probe_inputs(
        dest, settings, probes, lambda lang: [t for t in targets if t != lang]
    )
    minimum = options.validation.min_vocabulary_agreement
    limit = _probe_limit(settings, sources) if sources else 0
    measured = vocabulary_map.restriction_fidelity(
        dest, sources, prefixes, limit, options.batch_size, minimum
    )
    share = len(kept) / len(vocabulary)
    logger.info(
        "vocabulary restriction into %s: %d of %d pieces kept (%.1f%%), token agreement %s",
        ", ".join(targets),
        len(kept),
        len(vocabulary),
        100 * share,
        measured["token_agreement"],
    )
    restriction = {
        "file": f"{settings['model_dir']}/{vocabulary_map.VMAP}",
        "targets": targets,
        "kept": len(kept),
        "total": len(vocabulary),
        "token_agreement": measured["token_agreement"],
        "exact_match": measured["exact_match"],
        "min_agreement": minimum,
        "validated": measured["validated"],
    }
    fidelity = {"targets": targets, "kept": len(kept), "total": len(vocabulary), **measured}
    return restriction, fidelity


def torch_greedy(
    spec: TranslatorSpec,
    sources: list[list[str]],
    prefixes: list[list[str]],
    vocabulary: list[str],
    unk_token: str,
    limit: int,
    batch_size: int,
) -> list[list[str]]:
    """Greedy translations of ``sources`` by the checkpoint in transformers, as CTranslate2 makes.

    Tokens map to ids through the converted model's vocabulary (as CTranslate2 reads them, a
    token it lacks becoming ``unk_token``). The decoder starts with the model's start token then
    the target prefix, forced (NLLB's forced BOS language token); ``limit`` generated tokens at
    most, the prefix counted as CTranslate2 counts it, so ``max_length`` is ``limit + 1`` with
    the start token. No sampling, repetition penalty or forced end token. Returns the prefix and
    the generated tokens, without the end token. Small models run on one thread
    (:data:`SERIAL_BELOW`).
    """
    import torch
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(spec.model, revision=spec.revision).eval()
    config = model.config
    start = model.generation_config.decoder_start_token_id
    if start is None:
        start = config.decoder_start_token_id
    index: dict[str, int] = {}
    for i, token in enumerate(vocabulary):
        index.setdefault(token, i)
    unk = index[unk_token]
    eos, pad = config.eos_token_id, config.pad_token_id
    threads = torch.get_num_threads()
    if sum(p.numel() for p in model.parameters()) < SERIAL_BELOW:
        torch.set_num_threads(1)
    hypotheses: list[list[str]] = []
    try:
        for first in range(0, len(sources), batch_size):
            batch = sources[first : first + batch_size]
            width = max(len(s) for s in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, tokens in enumerate(batch):
                ids[row, : len(tokens)] = torch.tensor([index.get(t, unk) for t in tokens])
                mask[row, : len(tokens)] = 1
            decoder = torch.tensor(
                [[start, *(index.get(t, unk) for t in p)] for p in prefixes[first:][: len(batch)]]
            )
            with torch.no_grad():
                out = model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    decoder_input_ids=decoder,
                    num_beams=1,
                    do_sample=False,
                    max_length=limit + 1,
                    min_length=0,
                    repetition_penalty=1.0,
                    no_repeat_ngram_size=0,
                    forced_bos_token_id=None,
                    forced_eos_token_id=None,
                    eos_token_id=eos,
                    pad_token_id=pad,
                )
            skip = decoder.shape[1] - 1  # the prefix, after the start token
            for row in out.tolist():
                generated = row[1:]
                if eos in generated[skip:]:
                    generated = generated[: generated.index(eos, skip)]
                hypotheses.append(
                    [vocabulary[i] if i < len(vocabulary) else f"<{i}>" for i in generated]
                )
    finally:
        torch.set_num_threads(threads)
    return hypotheses
