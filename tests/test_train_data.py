"""xner.train.data: sources and weights, reading (confidence, label map), encoding, the sampler."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch", reason="torch (train extra) is needed by xner.train")
pytest.importorskip("transformers", reason="transformers (train extra) is needed by xner.train")

from xner.runtime.errors import ConfigError, InputError  # noqa: E402
from xner.train.data import (  # noqa: E402
    IGNORE_INDEX,
    DataOptions,
    DataSpec,
    Encoded,
    Example,
    WeightedSampler,
    apply_weights,
    collate,
    encode,
    label_list,
    parse_data_spec,
    parse_label_map,
    read_examples,
    read_unlabelled,
)

# --- tokenizers ------------------------------------------------------------------------------

_HAND_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]",
    "Chin", "##ua", "Ache", "##be", "wrote", "Things", "Fall", "A", "##part", ".",
]  # fmt: skip


def _fast(tokenizer: Any) -> Any:
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    )


def _bert_like(tokenizer: Any) -> Any:
    from tokenizers import pre_tokenizers, processors

    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[(t, tokenizer.token_to_id(t)) for t in ("[CLS]", "[SEP]")],
    )
    return _fast(tokenizer)


@pytest.fixture(scope="module")
def hand_tokenizer() -> Any:
    """A WordPiece tokenizer with a hand-made vocabulary: ids can be read off _HAND_VOCAB."""
    from tokenizers import Tokenizer, models

    vocab = {piece: k for k, piece in enumerate(_HAND_VOCAB)}
    return _bert_like(Tokenizer(models.WordPiece(vocab, unk_token="[UNK]")))


def _real_lines(shared_data: Path) -> list[str]:
    lines: list[str] = []
    for name in (
        "masakhaner2/yor.dev.conll",
        "masakhaner2/hau.dev.conll",
        "conll2003_en/dev.conll",
    ):
        words: list[str] = []
        for line in (shared_data / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.append(line.split()[0])
            elif words:
                lines.append(" ".join(words))
                words = []
    return lines


@pytest.fixture(scope="module", params=["wordpiece", "xlmr"])
def tokenizer(request: pytest.FixtureRequest, shared_data: Path, tmp_path_factory: Any) -> Any:
    """A tiny WordPiece (mBERT-like) or SentencePiece unigram (XLM-R) fast tokenizer trained on
    the real sentences, with a small vocabulary so that most words have several subwords."""
    lines = _real_lines(shared_data)
    if request.param == "wordpiece":
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        wordpiece.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.WordPieceTrainer(
            vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        )
        wordpiece.train_from_iterator(lines, trainer)
        return _bert_like(wordpiece)
    pytest.importorskip("sentencepiece", reason="sentencepiece builds the XLM-R-like tokenizer")
    import io

    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer, XLMRobertaTokenizerFast

    work = tmp_path_factory.mktemp("xlmr")
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=buffer,
        vocab_size=400,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    (work / "spm.model").write_bytes(buffer.getvalue())
    XLMRobertaTokenizer(vocab_file=str(work / "spm.model")).save_pretrained(work / "slow")
    return XLMRobertaTokenizerFast.from_pretrained(work / "slow")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    return _write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


# --- specs and weights -----------------------------------------------------------------------


def test_data_spec_resolves_the_language_and_keeps_colons_in_the_path() -> None:
    assert parse_data_spec("yor.proj.conll:yo") == DataSpec(Path("yor.proj.conll"), "yor_Latn")
    assert parse_data_spec("C:/data/en.conll:English") == DataSpec(
        Path("C:/data/en.conll"), "eng_Latn"
    )


@pytest.mark.parametrize("text", ["en.conll", "en.conll:", ":en", "en.conll:klingonese"])
def test_a_bad_data_spec_is_one_config_error_naming_it(text: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_data_spec(text)
    assert repr(text) in str(error.value)
    assert "\n" not in str(error.value)


def _specs() -> list[DataSpec]:
    return [
        DataSpec(Path("data/yor.proj.conll"), "yor_Latn"),
        DataSpec(Path("data/en.conll"), "eng_Latn"),
        DataSpec(Path("data/es.conll"), "spa_Latn"),
        DataSpec(Path("data/yor.gold.conll"), "yor_Latn"),
    ]


def test_weights_by_language_in_any_code_form_and_by_file_name() -> None:
    weighted = apply_weights(_specs(), "en=0.5, spa_Latn=2, yor=3, yor.gold.conll=0")
    assert [s.weight for s in weighted] == [3.0, 0.5, 2.0, 0.0]
    assert [(s.path, s.lang) for s in weighted] == [(s.path, s.lang) for s in _specs()]
    # A source that is not named keeps its weight; no text keeps them all.
    assert [s.weight for s in apply_weights(_specs(), "Spanish=4")] == [1.0, 1.0, 4.0, 1.0]
    assert apply_weights(_specs(), None) == _specs()
    # The path as given works as a key too.
    assert apply_weights(_specs(), "data/en.conll=7")[1].weight == 7.0


def test_bad_weight_entries_are_named_together_in_one_error() -> None:
    with pytest.raises(ConfigError) as error:
        apply_weights(_specs(), "en=x,fr=1,es,yor=-1,de.conll=2,eng_Latn=3,en=1")
    message = str(error.value)
    for bad in ("'en=x'", "'fr'", "'es'", "'yor=-1'", "'de.conll'", "'en=1'"):
        assert bad in message
    assert "en.conll" in message and "spa_Latn" in message  # the valid keys are listed
    assert "\n" not in message


def test_all_weights_zero_is_refused() -> None:
    with pytest.raises(ConfigError, match="weight 0"):
        apply_weights(_specs(), "yor=0,en=0,es=0")


def test_label_map_parsing() -> None:
    assert parse_label_map("PERSON=PER, GPE=LOC,DATE=O") == {
        "PERSON": "PER",
        "GPE": "LOC",
        "DATE": "O",
    }
    assert parse_label_map(None) == {}
    with pytest.raises(ConfigError) as error:
        parse_label_map("PERSON=PER,GPE,=LOC,PERSON=X")
    assert "'GPE'" in str(error.value) and "'=LOC'" in str(error.value)
    assert "'PERSON=X'" in str(error.value)


# --- reading ---------------------------------------------------------------------------------


def _scored(tmp_path: Path) -> Path:
    """JSONL as `xner translate-train -o x.jsonl` writes it, spans with confidences."""
    return _jsonl(
        tmp_path / "yor.proj.jsonl",
        [
            {
                "tokens": ["Chinua", "Achebe", "wà", "ní", "Èkó"],
                "tags": ["B-PER", "I-PER", "O", "O", "B-LOC"],
                "spans": [
                    {"start": 0, "end": 2, "label": "PER", "confidence": 0.9},
                    {"start": 4, "end": 5, "label": "LOC", "confidence": 0.75},
                ],
            },
            {
                "tokens": ["Ọba", "Èkó"],
                "tags": ["O", "B-LOC"],
                "spans": [{"start": 1, "end": 2, "label": "LOC", "confidence": 0.3}],
            },
            {"tokens": ["ó", "dára"], "tags": ["O", "O"], "spans": []},
            {
                "tokens": ["Naira", "ni"],
                "tags": ["B-MISC", "O"],
                "spans": [{"start": 0, "end": 1, "label": "MISC", "confidence": 0.1}],
            },
            {"tokens": [], "tags": []},
        ],
    )


def test_min_confidence_leaves_out_sentences_with_a_doubtful_entity(tmp_path: Path) -> None:
    spec = DataSpec(_scored(tmp_path), "yor_Latn")
    examples, stats = read_examples(spec, DataOptions(min_confidence=0.5), source=3)
    assert [e.tokens for e in examples] == [
        ("Chinua", "Achebe", "wà", "ní", "Èkó"),
        ("ó", "dára"),
    ]
    assert [e.line for e in examples] == [1, 3]
    assert {(e.lang, e.source) for e in examples} == {("yor_Latn", 3)}
    assert (stats.sentences, stats.kept, stats.low_confidence, stats.empty) == (5, 2, 2, 1)
    assert stats.scored == 4
    # An ignored type's confidence does not matter: the MISC sentence stays, its MISC gone.
    kept, stats = read_examples(spec, DataOptions(min_confidence=0.5, ignore=("MISC",)), 0)
    assert [e.tags for e in kept][-1] == ("O", "O")
    assert stats.low_confidence == 1
    # At 0 (the default) nothing is left out but empty sentences.
    assert read_examples(spec, DataOptions(), 0)[1].kept == 4


def test_files_without_confidences_are_unaffected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conll = _write(tmp_path / "en.conll", "Chinua\tB-PER\nAchebe\tI-PER\n\nLagos\tB-LOC\n")
    plain = _jsonl(tmp_path / "en.jsonl", [{"tokens": ["Lagos"], "tags": ["B-LOC"]}])
    for path in (conll, plain):
        with caplog.at_level(logging.WARNING, logger="xner"):
            examples, stats = read_examples(
                DataSpec(path, "eng_Latn"), DataOptions(min_confidence=0.9), 0
            )
        assert stats.low_confidence == 0 and stats.kept == len(examples) > 0
        assert str(path) in caplog.text and "no span confidences" in caplog.text
        caplog.clear()


def test_a_bad_confidence_is_an_input_error_at_its_line(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "bad.jsonl",
        [
            {"tokens": ["a"], "tags": ["O"], "spans": []},
            {
                "tokens": ["Lagos"],
                "tags": ["B-LOC"],
                "spans": [{"start": 0, "end": 1, "label": "LOC", "confidence": "high"}],
            },
        ],
    )
    with pytest.raises(InputError) as error:
        read_examples(DataSpec(path, "yor_Latn"), DataOptions(min_confidence=0.5), 0)
    assert str(error.value).startswith(f"{path}:2: span 1: confidence 'high'")


def test_label_map_and_ignore_rewrite_tags_in_iob2(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "gold.conll",
        # IOB1 tags (CoNLL-2003's original scheme) come out as IOB2.
        "Chinua\tI-PERSON\nAchebe\tI-PERSON\nof\tO\nNigeria\tI-GPE\nin\tO\n1958\tI-DATE\n",
    )
    options = DataOptions(label_map={"PERSON": "PER", "GPE": "LOC"}, ignore=("DATE",))
    examples, _ = read_examples(DataSpec(path, "eng_Latn"), options, 0)
    assert examples[0].tags == ("B-PER", "I-PER", "O", "B-LOC", "O", "O")
    assert label_list(examples) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    dropped = DataOptions(label_map={"PERSON": "O", "GPE": "LOC", "DATE": "DATE"})
    examples, _ = read_examples(DataSpec(path, "eng_Latn"), dropped, 0)
    assert label_list(examples) == ["O", "B-DATE", "I-DATE", "B-LOC", "I-LOC"]


def test_untagged_training_data_is_an_input_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "words.conll", "Chinua\nAchebe\n")
    with pytest.raises(InputError, match="has no tags"):
        read_examples(DataSpec(path, "eng_Latn"), DataOptions(), 0)


def test_read_unlabelled_skips_empty_lines_and_stops_at_the_limit(tmp_path: Path) -> None:
    path = _write(tmp_path / "yor.raw", "Mo  fẹ́ràn  Èkó\n\n  \nỌba dé .\nÓ dára\n")
    spec = DataSpec(path, "yor_Latn")
    assert read_unlabelled(spec) == [["Mo", "fẹ́ràn", "Èkó"], ["Ọba", "dé", "."], ["Ó", "dára"]]
    assert read_unlabelled(spec, limit=2) == [["Mo", "fẹ́ràn", "Èkó"], ["Ọba", "dé", "."]]


# --- encoding --------------------------------------------------------------------------------

_LABELS = {"O": 0, "B-PER": 1, "I-PER": 2, "B-MISC": 3, "I-MISC": 4}


def _example(tokens: str, tags: str, lang: str = "eng_Latn", source: int = 0) -> Example:
    return Example(tuple(tokens.split()), tuple(tags.split()), lang, source)


def test_first_subword_gets_the_label_by_hand(hand_tokenizer: Any) -> None:
    example = _example("Chinua Achebe wrote", "B-PER I-PER O")
    (encoded,) = encode([example], hand_tokenizer, _LABELS, max_length=16)
    # [CLS] Chin ##ua Ache ##be wrote [SEP]
    assert encoded.input_ids == [2, 4, 5, 6, 7, 8, 3]
    assert encoded.labels == [-100, 1, -100, 2, -100, 0, -100]
    assert encoded.word_ids == [None, 0, 0, 1, 1, 2, None]
    assert (encoded.lang, encoded.source, encoded.example, encoded.part) == ("eng_Latn", 0, 0, 0)


def test_a_long_sentence_is_split_at_word_boundaries_by_hand(hand_tokenizer: Any) -> None:
    example = _example(
        "Chinua Achebe wrote Things Fall Apart .", "B-PER I-PER O B-MISC I-MISC I-MISC O"
    )
    # Subwords per word: 2 2 1 1 1 2 1; five positions leave three for words after [CLS] [SEP].
    pieces = encode([example], hand_tokenizer, _LABELS, max_length=5)
    assert [sorted({w for w in p.word_ids if w is not None}) for p in pieces] == [
        [0],
        [1, 2],
        [3, 4],
        [5, 6],
    ]
    assert [p.part for p in pieces] == [0, 1, 2, 3]
    assert pieces[1].input_ids == [2, 6, 7, 8, 3]
    assert pieces[1].labels == [-100, 2, -100, 0, -100]
    assert pieces[3].labels == [-100, 4, -100, 0, -100]


def test_a_word_longer_than_a_piece_keeps_its_first_subwords(hand_tokenizer: Any) -> None:
    pieces = encode([_example("Chinua wrote", "B-PER O")], hand_tokenizer, _LABELS, max_length=3)
    assert [p.input_ids for p in pieces] == [[2, 4, 3], [2, 8, 3]]
    assert [p.labels for p in pieces] == [[-100, 1, -100], [-100, 0, -100]]


def test_a_label_outside_the_label_set_is_a_config_error(hand_tokenizer: Any) -> None:
    with pytest.raises(ConfigError, match="'B-LOC' is not one of the model's labels"):
        encode([_example("Achebe", "B-LOC")], hand_tokenizer, _LABELS, max_length=8)


def _check_encoding(
    examples: list[Example],
    encoded: list[Encoded],
    tokenizer: Any,
    label2id: dict[str, int],
    max_length: int,
) -> None:
    """Every piece fits; every word with subwords is in exactly one piece, its first subword
    labelled, the rest -100; an example that fits is exactly the tokenizer's own encoding."""
    by_example: dict[int, list[Encoded]] = {}
    for piece in encoded:
        by_example.setdefault(piece.example, []).append(piece)
    assert sorted(by_example) == list(range(len(examples)))
    for k, example in enumerate(examples):
        pieces = by_example[k]
        assert [p.part for p in pieces] == list(range(len(pieces)))
        whole = tokenizer(list(example.tokens), is_split_into_words=True)
        with_subwords = sorted({w for w in whole.word_ids() if w is not None})
        seen: list[int] = []
        for piece in pieces:
            assert len(piece.input_ids) == len(piece.labels) == len(piece.word_ids)
            words = [w for w in piece.word_ids if w is not None]
            seen.extend(dict.fromkeys(words))
            previous = None
            for word, label in zip(piece.word_ids, piece.labels, strict=True):
                if word is None or word == previous:
                    assert label == IGNORE_INDEX
                else:
                    assert label == label2id[example.tags[word]]
                previous = word
            assert (piece.lang, piece.source) == (example.lang, example.source)
        assert seen == with_subwords  # each word once, in order
        assert max(len(p.input_ids) for p in pieces) <= max_length
        if len(whole["input_ids"]) <= max_length:
            assert [p.input_ids for p in pieces] == [whole["input_ids"]]


@pytest.mark.parametrize("max_length", [12, 512])
def test_real_sentences_encode_within_max_length(
    shared_data: Path, tokenizer: Any, max_length: int
) -> None:
    options = DataOptions(ignore=("DATE",), max_length=max_length)
    examples: list[Example] = []
    for source, (name, lang) in enumerate(
        [
            ("masakhaner2/yor.dev.conll", "yor"),
            ("masakhaner2/hau.dev.conll", "hau"),
            ("conll2003_en/dev.conll", "en"),
        ]
    ):
        spec = parse_data_spec(f"{shared_data / name}:{lang}")
        read, stats = read_examples(spec, options, source)
        assert stats.kept == stats.sentences > 100
        examples.extend(read[:150])
    label2id = {label: k for k, label in enumerate(label_list(examples))}
    assert "B-DATE" not in label2id and "B-PER" in label2id
    encoded = encode(examples, tokenizer, label2id, max_length)
    assert max(len(p.input_ids) for p in encoded) <= max_length
    split = {p.example for p in encoded if p.part > 0}
    assert (len(split) > 0) == (max_length == 12)
    _check_encoding(examples, encoded, tokenizer, label2id, max_length)


def test_collate_pads_inputs_masks_and_labels() -> None:
    batch = [
        Encoded([0, 5, 6, 2], [-100, 1, 2, -100], [None, 0, 1, None], "yor_Latn", 0),
        Encoded([0, 7, 2], [-100, 0, -100], [None, 0, None], "eng_Latn", 1),
    ]
    tensors = collate(batch, pad_id=1, lang2id={"eng_Latn": 0, "yor_Latn": 1})
    assert tensors["input_ids"].tolist() == [[0, 5, 6, 2], [0, 7, 2, 1]]
    assert tensors["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert tensors["labels"].tolist() == [[-100, 1, 2, -100], [-100, 0, -100, -100]]
    assert tensors["languages"].tolist() == [1, 0]
    assert {str(t.dtype) for t in tensors.values()} == {"torch.int64"}
    assert "languages" not in collate(batch, pad_id=1)


# --- the sampler -----------------------------------------------------------------------------


def test_sampler_draws_sources_by_weight() -> None:
    sizes, weights = [5, 7, 3, 4], [1.0, 3.0, 0.5, 0.0]
    sampler = WeightedSampler(sizes, weights, seed=11)
    draws = [pair for _ in range(2000) for pair in sampler.next_batch(8)]
    counts = Counter(source for source, _ in draws)
    n, total = len(draws), sum(weights)
    for source, weight in enumerate(weights):
        p = weight / total
        sd = math.sqrt(n * p * (1 - p))
        assert abs(counts[source] - n * p) <= 4 * sd, (source, counts[source], n * p)
    assert counts[3] == 0


def test_sampler_goes_through_each_source_in_shuffled_passes() -> None:
    sizes = [5, 7]
    sampler = WeightedSampler(sizes, [1.0, 1.0], seed=3)
    per_source: dict[int, list[int]] = {0: [], 1: []}
    for _ in range(40):
        for source, index in sampler.next_batch(4):
            per_source[source].append(index)
    for source, indices in per_source.items():
        size = sizes[source]
        passes = [indices[k : k + size] for k in range(0, len(indices) - size + 1, size)]
        assert len(passes) >= 3
        assert all(sorted(p) == list(range(size)) for p in passes)
        assert len({tuple(p) for p in passes}) > 1  # reshuffled between passes
    assert sampler.epochs == [len(per_source[0]) // 5, len(per_source[1]) // 7]


def test_sampler_is_deterministic_by_seed() -> None:
    def batches(seed: int) -> list[list[tuple[int, int]]]:
        sampler = WeightedSampler([10, 20, 30], [1.0, 0.5, 2.0], seed=seed)
        return [sampler.next_batch(6) for _ in range(30)]

    assert batches(5) == batches(5)
    assert batches(5) != batches(6)


def test_sampler_state_round_trip_continues_exactly() -> None:
    sizes, weights = [4, 9, 2], [1.0, 2.0, 0.7]
    original = WeightedSampler(sizes, weights, seed=42)
    for _ in range(13):
        original.next_batch(5)
    state = json.loads(json.dumps(original.state_dict()))  # as a checkpoint stores it
    expected = [original.next_batch(5) for _ in range(20)]
    resumed = WeightedSampler(sizes, weights, seed=42)
    resumed.next_batch(3)  # whatever it did before is overwritten
    resumed.load_state_dict(state)
    assert [resumed.next_batch(5) for _ in range(20)] == expected
    with pytest.raises(ConfigError, match="sizes"):
        WeightedSampler([4, 8, 2], weights, seed=42).load_state_dict(state)


def test_sampler_refuses_an_empty_source_and_bad_weights() -> None:
    with pytest.raises(ConfigError, match="no training examples in yor.conll"):
        WeightedSampler([3, 0], [1.0, 1.0], seed=0, names=["en.conll", "yor.conll"])
    with pytest.raises(ConfigError, match="source 2"):
        WeightedSampler([3, 4], [1.0, -1.0], seed=0)
    with pytest.raises(ConfigError, match="weight 0"):
        WeightedSampler([3, 4], [0.0, 0.0], seed=0)
