"""The Tagger engine: parity with transformers, batching, windowing, tag schemes, files, CLI.

The reference (transformers' token classification, first-subword aggregation) runs in this
process; the engine under test runs in a torch-free subprocess (tests/torchfree.py) for the
parity figures, and in-process elsewhere.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torchfree import run_cli_torch_free, run_torch_free
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.bundles.bundle import Bundle, BundleError, read_manifest
from xner.runtime.data import Span
from xner.runtime.engines.tagger import Tagger, TagResult, plan_windows
from xner.runtime.errors import ConfigError
from xner.runtime.files.formats import read_sentences
from xner.runtime.jobs import FileJobConfig, run_model_transfer
from xner.runtime.pipelines import Engines
from xner.runtime.pipelines.configs import ModelTransferConfig
from xner.runtime.tags import ignore_labels, validate_tags

MASAKHANER = ("hau", "swa", "yor", "ibo", "zul")
PARITY_CONLL = 20  # sentences from CoNLL-2003 English test
PARITY_PER_LANG = 8  # sentences from each MasakhaNER 2.0 test file

runner = CliRunner()


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fp32(tiny_bundle_fp32: Path) -> Tagger:
    return Tagger(tiny_bundle_fp32, device="cpu", intra_threads=1)


@pytest.fixture(scope="module")
def parity_sentences(shared_data: Path, fp32: Tagger) -> list[list[str]]:
    """60 real sentences (CoNLL-2003 en and five MasakhaNER languages) that fit the model."""

    def fits(words: list[str]) -> bool:
        encoding = fp32.tokenizer.encode(words, is_pretokenized=True)
        return len(encoding.ids) <= fp32.settings.max_length

    files = [(shared_data / "conll2003_en" / "test.conll", PARITY_CONLL)] + [
        (shared_data / "masakhaner2" / f"{lang}.test.conll", PARITY_PER_LANG) for lang in MASAKHANER
    ]
    sentences: list[list[str]] = []
    for path, count in files:
        stream = (s.tokens for s in read_sentences(path) if len(s.tokens) >= 5 and fits(s.tokens))
        sentences += list(itertools.islice(stream, count))
    assert len(sentences) == PARITY_CONLL + PARITY_PER_LANG * len(MASAKHANER)
    return sentences


@pytest.fixture(scope="module")
def reference(tiny_models, parity_sentences) -> list[np.ndarray | None]:
    """transformers' first-subword logits ``[n_words, n_labels]`` (NaN rows: no subword)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_models.tagger))
    assert tokenizer.is_fast
    model = transformers.AutoModelForTokenClassification.from_pretrained(str(tiny_models.tagger))
    model.eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = []
    try:
        with torch.no_grad():
            for words in parity_sentences:
                encoded = tokenizer(words, is_split_into_words=True, return_tensors="pt")
                logits = model(**encoded).logits[0].numpy()
                rows = np.full((len(words), logits.shape[-1]), np.nan, dtype=np.float32)
                seen: set[int] = set()
                for position, word in enumerate(encoded.word_ids(0)):
                    if word is not None and word not in seen:  # first subword of each word
                        seen.add(word)
                        rows[word] = logits[position]
                out.append(rows)
    finally:
        torch.set_num_threads(threads)
    return out


ENGINE_CODE = """
import json, sys
from xner.runtime.engines.tagger import Tagger
job = json.load(sys.stdin)
out = {}
for name in ("fp32", "int8"):
    tagger = Tagger(job[name], device="cpu", intra_threads=1)
    results = tagger.tag(job["sentences"])
    out[name] = {
        "labels": tagger.labels,
        "logits": [r.logits.tolist() for r in results],
        "tags": [r.tags for r in results],
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def engine(tiny_bundle: Path, tiny_bundle_fp32: Path, parity_sentences) -> dict:
    """The engine's logits and tags, fp32 and int8, from a torch-free subprocess."""
    job = {"fp32": str(tiny_bundle_fp32), "int8": str(tiny_bundle), "sentences": parity_sentences}
    result = run_torch_free(ENGINE_CODE, stdin=json.dumps(job))
    assert result.returncode == 0, result.stderr  # 97: torch imported or a socket opened
    return json.loads(result.stdout)


# --- parity with transformers ---------------------------------------------------------------------


def test_identical_to_transformers(engine, reference, parity_sentences) -> None:
    got = engine["fp32"]
    same = total = 0
    worst = 0.0
    for logits, ref in zip(got["logits"], reference, strict=True):
        logits = np.asarray(logits, dtype=np.float32)
        seen = ~np.isnan(ref[:, 0])
        total += int(seen.sum())
        same += int((logits[seen].argmax(axis=1) == ref[seen].argmax(axis=1)).sum())
        worst = max(worst, float(np.abs(logits[seen] - ref[seen]).max()))
    print(
        f"\ntagger fp32 vs transformers: {same}/{total} word labels, max |logit diff| {worst:.2e}"
    )
    assert len(parity_sentences) >= 50 and total >= 500
    assert same == total
    assert worst < 1e-4


def test_tags_are_iob2_of_the_labels(engine, parity_sentences) -> None:
    labels = engine["fp32"]["labels"]
    for words, logits, tags in zip(
        parity_sentences, engine["fp32"]["logits"], engine["fp32"]["tags"], strict=True
    ):
        assert len(tags) == len(words)
        validate_tags(tags, "IOB2", strict=True)
        raw = [labels[k] for k in np.asarray(logits).argmax(axis=1)]
        # IOB2 labels: the only change IOB2 writing makes is repairing an orphan I- into B-.
        for label, tag in zip(raw, tags, strict=True):
            assert tag == label or (label.startswith("I-") and tag == "B-" + label[2:])


def test_int8_agrees_with_fp32(engine) -> None:
    pairs = [
        (np.asarray(a).argmax(axis=1), np.asarray(b).argmax(axis=1))
        for a, b in zip(engine["int8"]["logits"], engine["fp32"]["logits"], strict=True)
    ]
    same = sum(int((a == b).sum()) for a, b in pairs)
    total = sum(len(a) for a, _ in pairs)
    print(f"\ntagger int8 vs fp32: {same}/{total} word labels ({same / total:.3f})")
    assert same / total >= 0.8  # random tiny weights: logits are close together, so flips happen


# --- batching and windowing -----------------------------------------------------------------------


def test_batched_equals_one_at_a_time(fp32: Tagger, parity_sentences) -> None:
    sentences = [*parity_sentences, [], ["solo"], "a string sentence"]
    batched = fp32.tag(sentences)
    single = Tagger(fp32.bundle, max_batch_size=1, device="cpu", intra_threads=1)
    small = Tagger(fp32.bundle, max_batch_tokens=96, device="cpu", intra_threads=1)
    streamed = list(small.tag_iter(iter(sentences), chunk_size=7))
    for k, words in enumerate(sentences):
        (alone,) = single.tag([words])
        for other in (alone, streamed[k]):
            np.testing.assert_allclose(batched[k].logits, other.logits, atol=1e-5)
            assert batched[k].tags == other.tags
    assert batched[-1].tags and len(batched[-1]) == 3
    assert sum(len(r) for r in batched) == sum(len(w) for w in sentences[:-1]) + 3


def _counts(tagger: Tagger, words: list[str]) -> np.ndarray:
    encoding = tagger.tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False)
    word_ids = [w for w in encoding.word_ids if w is not None]
    return np.bincount(word_ids, minlength=len(words))


def _check_windowed(tagger: Tagger, words: list[str]) -> int:
    """Each word's logits are those of its best window tagged alone; returns the windows."""
    (result,) = tagger.tag([words])
    assert len(result) == len(words) and np.isfinite(result.probabilities).all()
    counts = _counts(tagger, words)
    windows = plan_windows(counts, tagger.window, tagger.stride)
    alone = tagger.tag([words[first:end] for first, end in windows])
    starts = np.cumsum(counts) - counts
    total = int(counts.sum())
    for w in range(len(words)):
        if counts[w] == 0:
            continue
        best, best_margin = None, -1.0
        for k, (first, end) in enumerate(windows):
            if first <= w < end:
                left = np.inf if first == 0 else starts[w] - starts[first]
                stop = starts[end - 1] + counts[end - 1]
                right = np.inf if stop == total else stop - starts[w] - counts[w]
                if min(left, right) > best_margin:
                    best, best_margin = k, min(left, right)
        first = windows[best][0]
        np.testing.assert_allclose(result.logits[w], alone[best].logits[w - first], atol=1e-5)
    return len(windows)


def test_long_sentence_is_windowed_not_truncated(fp32: Tagger, parity_sentences) -> None:
    words = [w for sentence in parity_sentences[:30] for w in sentence]
    assert _counts(fp32, words).sum() > 3 * fp32.window
    assert _check_windowed(fp32, words) > 3


def test_small_window_knob(tiny_bundle_fp32: Path, fp32: Tagger, parity_sentences) -> None:
    small = Tagger(tiny_bundle_fp32, window=12, stride=5, device="cpu", intra_threads=1)
    assert (small.window, small.stride) == (12, 5)
    assert Tagger(fp32.bundle, window=12, device="cpu").stride == 6
    windows = [_check_windowed(small, words) for words in parity_sentences[:12]]
    assert max(windows) > 2
    # A sentence that fits the small window is tagged exactly as without windows.
    short = [words[:3] for words in parity_sentences if _counts(fp32, words[:3]).sum() <= 12]
    for a, b in zip(small.tag(short), fp32.tag(short), strict=True):
        np.testing.assert_allclose(a.logits, b.logits, atol=1e-5)


def test_word_longer_than_window_keeps_its_label(tiny_bundle_fp32: Path, caplog) -> None:
    small = Tagger(tiny_bundle_fp32, window=6, device="cpu", intra_threads=1)
    words = ["Shehu", "x" * 40 + "qzqzqzqz", "Gusau", "ya", "ce", "."]
    assert _counts(small, words)[1] > 6
    with caplog.at_level("WARNING", logger="xner"):
        (result,) = small.tag([words])
    assert len(result.tags) == len(words)
    assert "more than the tagger's window" in caplog.text


def test_plan_windows_by_hand() -> None:
    assert plan_windows([2, 3], 5, 2) == [(0, 2)]
    assert plan_windows([1] * 10, 4, 2) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    # a word too long for any window forms its own; zero-subword words ride along
    assert plan_windows([1, 0, 5, 1, 1, 1, 1], 4, 2) == [(0, 2), (2, 3), (3, 7)]
    assert plan_windows([], 4, 2) == [(0, 0)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=60),
    st.integers(1, 20),
    st.data(),
)
def test_plan_windows_properties(counts: list[int], window: int, data) -> None:
    stride = data.draw(st.integers(1, window))
    windows = plan_windows(counts, window, stride)
    arr = np.asarray(counts)
    assert windows[0][0] == 0 and windows[-1][1] == len(counts)
    for (first, end), (nxt, _) in itertools.pairwise(windows):
        assert first < nxt <= end  # progress, and no word falls between two windows
    for first, end in windows:
        assert end > first
        assert arr[first:end].sum() <= window or end == first + 1  # fits, or one giant word


# --- labels, schemes, special words ---------------------------------------------------------------


def test_results_shape_and_words_without_subwords(fp32: Tagger) -> None:
    empty, odd = fp32.tag([[], ["Paris", "\u200b", "", "London"]])
    assert isinstance(empty, TagResult) and len(empty) == 0 and empty.spans == []
    assert empty.probabilities.shape == (0, len(fp32.labels))
    assert odd.probabilities.shape == (4, 9) and odd.probabilities.dtype == np.float32
    np.testing.assert_allclose(odd.probabilities.sum(axis=1), 1.0, atol=1e-6)
    o = fp32.labels.index("O")
    for w in (1, 2):  # a zero-width space and an empty word give no subword: O, certainly
        assert odd.tags[w] == "O" and odd.probabilities[w, o] == 1.0
    assert fp32.labels == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"] + [
        "B-MISC",
        "I-MISC",
    ]
    assert fp32.entity_types == ["LOC", "MISC", "ORG", "PER"]


class _FixedSession:
    """Stands in for the ONNX session: returns the logits the test designed, counts calls."""

    def __init__(self, logits: np.ndarray) -> None:
        self.logits = logits
        self.calls = 0

    def run(self, outputs, feeds, run_options=None):
        self.calls += 1
        return [self.logits[None, : feeds["input_ids"].shape[1]]]


def _tagger_with(bundle: Path, scheme: str, labels: list[str] | None = None) -> Tagger:
    manifest = copy.deepcopy(read_manifest(bundle))
    settings_ = manifest["components"]["tagger"]["settings"]
    settings_["scheme"] = scheme
    if labels is not None:
        settings_["labels"] = labels
    return Tagger(Bundle.from_manifest(bundle, manifest), device="cpu")


def _designed(tagger: Tagger, words: list[str], raw: list[str]) -> _FixedSession:
    """A session whose first subword of word ``w`` scores label ``raw[w]`` highest."""
    encoding = tagger.tokenizer.encode(words, is_pretokenized=True)
    logits = np.zeros((len(encoding.ids), len(tagger.labels)), dtype=np.float32)
    seen = set()
    for position, word in enumerate(encoding.word_ids):
        if word is not None and word not in seen:
            seen.add(word)
            logits[position, tagger.labels.index(raw[word])] = 5.0
    return _FixedSession(logits)


def test_iob1_model_output_is_decoded_then_written_as_iob2(tiny_bundle_fp32: Path) -> None:
    tagger = _tagger_with(tiny_bundle_fp32, "IOB1")
    words = ["Bern", "Angela", "Merkel", "met", "John", "Smith", "Paul", "in", "Paris"]
    raw = ["I-LOC", "I-PER", "I-PER", "O", "I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    tagger.session = _designed(tagger, words, raw)
    (result,) = tagger.tag([words])
    assert result.spans == [
        Span(0, 1, "LOC"),
        Span(1, 3, "PER"),
        Span(4, 6, "PER"),
        Span(6, 7, "PER"),
        Span(8, 9, "LOC"),
    ]
    assert result.tags == ["B-LOC", "B-PER", "I-PER", "O", "B-PER", "I-PER", "B-PER", "O", "B-LOC"]


def test_bioes_model_output(tiny_bundle_fp32: Path) -> None:
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    tagger = _tagger_with(tiny_bundle_fp32, "BIOES", labels)
    words = ["Angela", "Dorothea", "Merkel", "in", "Bern", "Paris"]
    raw = ["B-PER", "I-PER", "E-PER", "O", "S-LOC", "S-LOC"]
    tagger.session = _designed(tagger, words, raw)
    (result,) = tagger.tag([words])
    assert result.tags == ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    assert tagger.entity_types == ["LOC", "PER"]


def test_empty_sentences_do_not_run_the_model(tiny_bundle_fp32: Path) -> None:
    tagger = _tagger_with(tiny_bundle_fp32, "IOB2")
    tagger.session = _FixedSession(np.zeros((4, 9), dtype=np.float32))
    assert [len(r) for r in tagger.tag([[], [], ""])] == [0, 0, 0]
    assert tagger.session.calls == 0


def test_bad_settings_and_options(tiny_bundle_fp32: Path, fp32: Tagger) -> None:
    with pytest.raises(ConfigError, match="Tagger option"):
        Tagger(fp32.bundle, devic="cpu")
    with pytest.raises(ConfigError, match="window must be an integer from 1 to 126"):
        Tagger(fp32.bundle, window=500)
    with pytest.raises(ConfigError, match="stride"):
        Tagger(fp32.bundle, window=10, stride=11)
    with pytest.raises(ConfigError, match="tag scheme"):
        _tagger_with(tiny_bundle_fp32, "IOB3")
    with pytest.raises(BundleError, match="no 'O' label"):
        _tagger_with(tiny_bundle_fp32, "IOB2", ["B-PER", "I-PER"] * 4 + ["B-LOC"])
    with pytest.raises(BundleError, match="9 logits per token for 3 labels"):
        _tagger_with(tiny_bundle_fp32, "IOB2", ["O", "B-PER", "I-PER"])
    with pytest.raises(ConfigError, match="chunk_size"):
        list(fp32.tag_iter([["a"]], chunk_size=-1))
    with pytest.raises(TypeError, match="strings"):
        fp32.tag([["a", 3]])
    assert Tagger(str(tiny_bundle_fp32), verify=False, device="cpu").labels == fp32.labels


def test_tag_iter_is_lazy(fp32: Tagger) -> None:
    endless = itertools.cycle([["Paris", "is", "big"], ["Hello"]])
    first = list(itertools.islice(fp32.tag_iter(endless, chunk_size=4), 5))
    assert [len(r) for r in first] == [3, 1, 3, 1, 3]


# --- files and the CLI ----------------------------------------------------------------------------


def test_model_transfer_conll_to_jsonl(tmp_path: Path, shared_data: Path, fp32: Tagger) -> None:
    source = shared_data / "masakhaner2" / "hau.dev.conll"
    gold = list(itertools.islice(read_sentences(source), 40))
    small = tmp_path / "small.conll"
    small.write_text(
        "".join(
            "".join(f"{t}\t{g}\n" for t, g in zip(s.tokens, s.tags, strict=True)) + "\n"
            for s in gold
        ),
        encoding="utf-8",
    )
    out = tmp_path / "tagged.jsonl"
    config = ModelTransferConfig("ha", frozenset({"MISC"}))
    engines = Engines(fp32.bundle, tagger=fp32)
    summary = run_model_transfer(engines, FileJobConfig(small, out), config)
    assert summary.written == len(gold)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = fp32.tag([s.tokens for s in gold])
    for record, sentence, result in zip(records, gold, expected, strict=True):
        assert record["tokens"] == sentence.tokens
        assert record["tags"] == ignore_labels(result.tags, {"MISC"})
        assert not any(tag.endswith("-MISC") for tag in record["tags"])
        validate_tags(record["tags"], "IOB2", strict=True)


def test_cli_torch_free(tmp_path: Path, tiny_bundle: Path) -> None:
    text = tmp_path / "in.txt"
    text.write_text("Angela Merkel besuchte Paris.\n\nAminu Kano ya tafi Abuja\n", encoding="utf-8")
    out = tmp_path / "out.conll"
    args = ["tag", "--bundle", str(tiny_bundle), str(text), "-o", str(out), "--tokenize"]
    result = run_cli_torch_free([*args, "unicode", "--lang", "de", "--drop", "MISC,ORG"])
    assert result.returncode == 0, result.stderr  # 97: torch imported or a socket opened
    assert "tagged 2 sentences" in result.stderr  # the empty line cannot be written as CoNLL
    tagged = list(read_sentences(out))
    assert [s.tokens for s in tagged] == [
        ["Angela", "Merkel", "besuchte", "Paris", "."],
        ["Aminu", "Kano", "ya", "tafi", "Abuja"],
    ]
    for sentence in tagged:
        validate_tags(sentence.tags, "IOB2", strict=True)
        assert not any(tag[2:] in ("MISC", "ORG") for tag in sentence.tags)


def test_cli_stdin_and_errors(tmp_path: Path, tiny_bundle_fp32: Path) -> None:
    bundle = ["tag", "--bundle", str(tiny_bundle_fp32), "--device", "cpu", "--skip-verify"]
    ok = runner.invoke(app, bundle, input="Paris is big\n")
    assert ok.exit_code == 0, ok.output
    lines = [line.split("\t") for line in ok.stdout.strip().splitlines()]
    assert [line[0] for line in lines] == ["Paris", "is", "big"]
    jsonl = runner.invoke(app, [*bundle, "--to", "jsonl"], input="Paris is big\n")
    assert json.loads(jsonl.stdout.splitlines()[0])["tokens"] == ["Paris", "is", "big"]
    conll = tmp_path / "in.conll"
    conll.write_text("Paris\tB-LOC\n", encoding="utf-8")
    cases = [
        ([*bundle, "--drop", "FOO"], "unknown entity type to drop 'FOO'; choose from LOC"),
        ([*bundle, "--lang", "klingonish"], "unknown language"),
        ([*bundle, str(conll), "--tokenize", "unicode"], "tokenize applies to text input only"),
        ([*bundle, str(tmp_path / "missing.conll")], "no such file"),
        ([*bundle, "--to", "text"], "tags cannot be written as text"),
        ([*bundle, "--tokenize", "spaces"], "unknown tokenizer 'spaces'"),
        (["tag", "--bundle", str(tmp_path)], "manifest.json is missing"),  # BundleError: 1
    ]
    for args, message in cases:
        result = runner.invoke(app, args, input="Paris\n")
        assert result.exit_code == (1 if "manifest" in message else 2), (args, result.output)
        assert message in result.output, (args, result.output)
