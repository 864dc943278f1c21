"""Tiny random-weight models with real tokenizers, for tests, the demo and benchmarks.

:func:`build_tiny_models` writes three Hugging Face checkpoints that ``xner export`` accepts as
it accepts the public ones: an NLLB-style M2M100 translator (SentencePiece BPE trained on the
fly, the hub's id layout), an XLM-R token classifier with 9 BIO labels (SentencePiece unigram)
and an mBERT-style encoder (WordPiece). Weights are random, so outputs are meaningless but
deterministic for a given ``seed``. Dimensions are parameters: benchmarks build the models at
real sizes (``d_model=1024, layers=12, vocab_size=256206`` ...).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from xner.export.probes import load_probes
from xner.runtime.bundles.bundle import COMPONENTS

LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
_CARD = (
    "---\nlicense: apache-2.0\n---\n# Tiny random {what} built by xner.export.tiny (tests only)\n"
)


@dataclass(frozen=True)
class TinyModels:
    """Folders of the three checkpoints, each loadable with ``from_pretrained``."""

    translator: Path
    tagger: Path
    aligner: Path


@dataclass(frozen=True)
class TinyDims:
    """Model dimensions.

    ``d_model`` hidden width, ``layers`` encoder (and decoder) layers, ``heads`` attention heads,
    ``ffn`` feed-forward width, ``vocab_size`` embedding rows (``None``: the tokenizer's size;
    larger values pad the vocabulary, as real models have ~250k rows), ``spm_vocab`` pieces learnt
    by the subword models, ``max_positions`` usable positions per sequence.
    """

    d_model: int = 32
    layers: int = 2
    heads: int = 4
    ffn: int = 64
    vocab_size: int | None = None
    spm_vocab: int = 300
    max_positions: int = 128


def build_tiny_models(
    directory: str | Path,
    *,
    d_model: int = 32,
    layers: int = 2,
    heads: int = 4,
    ffn: int = 64,
    vocab_size: int | None = None,
    spm_vocab: int = 300,
    max_positions: int = 128,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    dims: Mapping[str, TinyDims] | None = None,
) -> TinyModels:
    """Write ``translator/``, ``tagger/`` and ``aligner/`` checkpoints under ``directory``.

    ``corpus`` is the text the subword models are trained on (default: the built-in probe
    sentences). See :class:`TinyDims` for the dimension knobs. ``dims``: per-model dimensions
    keyed ``translator``, ``tagger`` or ``aligner`` (benchmarks build each model at its own real
    size); a model not named there uses the keyword dimensions. Takes a few seconds at the
    default sizes. Needs torch, transformers, sentencepiece and tokenizers.
    """
    import torch

    shared = TinyDims(d_model, layers, heads, ffn, vocab_size, spm_vocab, max_positions)
    unknown = sorted(set(dims or {}) - set(COMPONENTS))
    if unknown:
        raise ValueError(f"dims for unknown models {unknown}; known: {', '.join(COMPONENTS)}")
    per_model = {name: (dims or {}).get(name, shared) for name in COMPONENTS}
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    lines = list(corpus) if corpus is not None else [p.text for p in load_probes(None).sentences]
    with tempfile.TemporaryDirectory(prefix="xner-tiny-") as tmp:
        work = Path(tmp)
        torch.manual_seed(seed)  # reseeded per model: each one is reproducible on its own
        translator = _build_translator(root / "translator", work, lines, per_model["translator"])
        torch.manual_seed(seed + 1)
        tagger = _build_tagger(root / "tagger", work, lines, per_model["tagger"])
        torch.manual_seed(seed + 2)
        aligner = _build_aligner(root / "aligner", lines, per_model["aligner"])
    return TinyModels(translator, tagger, aligner)


def _train_spm(lines: list[str], model_type: str, size: int, path: Path) -> Path:
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buffer,
        vocab_size=size,
        model_type=model_type,
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,  # deterministic pieces
        minloglevel=2,
    )
    path.write_bytes(buffer.getvalue())
    return path


def _rows(dims: TinyDims, tokenizer_size: int) -> int:
    return max(tokenizer_size, dims.vocab_size or 0)


def _build_translator(out: Path, work: Path, lines: list[str], dims: TinyDims) -> Path:
    """An NLLB-style M2M100 model; tokenizer ids as on the hub (codes after pieces, mask last)."""
    from transformers import (
        M2M100Config,
        M2M100ForConditionalGeneration,
        NllbTokenizer,
        NllbTokenizerFast,
    )

    spm_file = _train_spm(lines, "bpe", dims.spm_vocab, work / "nllb.model")
    slow = NllbTokenizer(vocab_file=str(spm_file), mask_token=None)
    slow.add_special_tokens({"mask_token": "<mask>"})
    slow.save_pretrained(work / "nllb-slow")
    fast = NllbTokenizerFast.from_pretrained(work / "nllb-slow")
    fast.save_pretrained(out)
    config = M2M100Config(
        vocab_size=_rows(dims, len(fast)),
        d_model=dims.d_model,
        encoder_layers=dims.layers,
        decoder_layers=dims.layers,
        encoder_attention_heads=dims.heads,
        decoder_attention_heads=dims.heads,
        encoder_ffn_dim=dims.ffn,
        decoder_ffn_dim=dims.ffn,
        max_position_embeddings=dims.max_positions,
        scale_embedding=True,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        decoder_start_token_id=fast.eos_token_id,
        tokenizer_class="NllbTokenizer",
        dropout=0.0,
    )
    M2M100ForConditionalGeneration(config).eval().save_pretrained(out)
    (out / "README.md").write_text(_CARD.format(what="NLLB-style translator"), encoding="utf-8")
    return out


def _build_tagger(out: Path, work: Path, lines: list[str], dims: TinyDims) -> Path:
    """An XLM-R token classifier with the 9 CoNLL BIO labels (IOB2 label set)."""
    from transformers import (
        XLMRobertaConfig,
        XLMRobertaForTokenClassification,
        XLMRobertaTokenizer,
        XLMRobertaTokenizerFast,
    )

    spm_file = _train_spm(lines, "unigram", dims.spm_vocab, work / "xlmr.model")
    XLMRobertaTokenizer(vocab_file=str(spm_file)).save_pretrained(work / "xlmr-slow")
    fast = XLMRobertaTokenizerFast.from_pretrained(work / "xlmr-slow")
    fast.model_max_length = dims.max_positions
    fast.save_pretrained(out)
    config = XLMRobertaConfig(
        vocab_size=_rows(dims, len(fast)),
        hidden_size=dims.d_model,
        num_hidden_layers=dims.layers,
        num_attention_heads=dims.heads,
        intermediate_size=dims.ffn,
        max_position_embeddings=dims.max_positions + fast.pad_token_id + 1,
        type_vocab_size=1,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    XLMRobertaForTokenClassification(config).eval().save_pretrained(out)
    (out / "README.md").write_text(_CARD.format(what="XLM-R tagger"), encoding="utf-8")
    return out


def _build_aligner(out: Path, lines: list[str], dims: TinyDims) -> Path:
    """An mBERT-style encoder (cased WordPiece) with ``layers`` layers."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out.mkdir(parents=True, exist_ok=True)
    pieces = _wordpiece_vocab(lines, dims.spm_vocab)
    (out / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
    fast = BertTokenizerFast(
        vocab_file=str(out / "vocab.txt"), do_lower_case=False, strip_accents=False
    )
    fast.model_max_length = dims.max_positions
    fast.save_pretrained(out)
    config = BertConfig(
        vocab_size=_rows(dims, len(fast)),
        hidden_size=dims.d_model,
        num_hidden_layers=dims.layers,
        num_attention_heads=dims.heads,
        intermediate_size=dims.ffn,
        max_position_embeddings=dims.max_positions,
        pad_token_id=fast.pad_token_id,
    )
    BertModel(config).eval().save_pretrained(out)
    (out / "README.md").write_text(_CARD.format(what="mBERT-style aligner"), encoding="utf-8")
    return out


def _wordpiece_vocab(lines: list[str], size: int) -> list[str]:
    """A cased WordPiece vocabulary learnt the same way on every run: the special tokens, every
    character alone and as a continuation (``##c``), then the pieces of byte-pair merges of the
    corpus words (the most frequent adjacent pair first, ties by spelling) up to ``size``
    entries. (The tokenizers library's trainer breaks ties between equally frequent merges at
    random, which made two builds of the tiny bundle differ.)"""
    from collections import Counter

    from tokenizers.pre_tokenizers import BertPreTokenizer

    split = BertPreTokenizer()
    counts = Counter(w for line in lines for w, _ in split.pre_tokenize_str(line))
    words = {w: [w[0], *(f"##{c}" for c in w[1:])] for w in counts}
    chars = sorted({c for w in counts for c in w})
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    known = set(pieces)
    while len(pieces) < size:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, parts in words.items():
            for a, b in zip(parts, parts[1:], strict=False):
                pairs[a, b] += counts[word]
        if not pairs:
            break
        (a, b), _ = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        merged = a + b[2:]
        for parts in words.values():
            k = 0
            while k < len(parts) - 1:
                if parts[k] == a and parts[k + 1] == b:
                    parts[k : k + 2] = [merged]
                else:
                    k += 1
        if merged not in known:
            pieces.append(merged)
            known.add(merged)
    return pieces
