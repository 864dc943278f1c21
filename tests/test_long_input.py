"""Long sentences (issue 10, defect 1): a document pasted as one line is labelled in bounded memory.

Before the fix a 100,000-character line made translate-test build a 93,754 x 85,965 similarity
matrix and die with a ``MemoryError`` traceback; translate-train did the same on a long JSONL
line. Now the pipelines cut such a sentence into segments (``segments.segment_words``) that go
through the engines like ordinary sentences, and the aligner refuses a pair beyond its cap with
one clear line. The end-to-end tests run the real CLI / library in a child process on the tiny
bundle and bound the child's peak resident memory (a bound, not a timing).
"""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.alignment.methods import extract_alignment
from xner.runtime.data import Sentence, Span
from xner.runtime.engines import aligner as aligner_module
from xner.runtime.engines.aligner import MAX_ALIGN_SUBWORDS, PairTooLong, subword_groups
from xner.runtime.engines.tagger import _choose_windows, _subword_range, plan_windows
from xner.runtime.engines.translator import split_for_length
from xner.runtime.errors import InputError
from xner.runtime.files.formats import read_sentences
from xner.runtime.jobs import FileJobConfig, run_translate_test
from xner.runtime.pipelines import Engines, TranslateTestConfig, translate_test, translate_train
from xner.runtime.pipelines.records import Record, by_sentence, live, plan, sentence_error
from xner.runtime.pipelines.segments import (
    SEGMENT_CHARS,
    SEGMENT_WORDS,
    Joined,
    join_segments,
    segment_ranges,
    segment_words,
)
from xner.runtime.projection import Match
from xner.runtime.projection.result import Projected
from xner.runtime.tags import spans_from_tags, validate_tags

PEAK_BOUND_MIB = 1536  # generous: the tiny bundle's runs peak at a few hundred MiB
LINE_CHARS = 100_000
VOCAB = " ".join(
    [
        "the of and a in to is was for on that with as by at from his an were are which it be",
        "this had or has not first new one their after two its also da na a ya ta ba su ne ce",
        "wannan kuma amma saboda lokacin gwamnati jihar shugaban mutane kasar",
    ]
).split()
NAMES = [("Kano", "LOC"), ("Abuja", "LOC"), ("Musa Ibrahim", "PER"), ("Dangote Group", "ORG")]


def long_words(chars: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Words of a text of about ``chars`` characters made of short sentences, and IOB2 tags
    (names inserted as entities); sentence-final and clause punctuation sit on the words."""
    rng = random.Random(seed)
    words: list[str] = []
    tags: list[str] = []
    size = 0
    while size < chars:
        n = rng.randint(6, 24)
        sentence = [rng.choice(VOCAB) for _ in range(n)]
        labels = ["O"] * n
        if n > 12:
            sentence[n // 2] += ","
        if rng.random() < 0.5:
            name, label = rng.choice(NAMES)
            parts = name.split()
            at = rng.randint(0, n - 1)
            sentence[at:at] = parts
            labels[at:at] = [f"B-{label}"] + [f"I-{label}"] * (len(parts) - 1)
        sentence[-1] += "."
        words += sentence
        tags += labels
        size += sum(len(w) + 1 for w in sentence)
    while sum(len(w) + 1 for w in words) - 1 > chars:
        words.pop()
        tags.pop()
    return words, tags


def run_measured(command: list[str], cwd: Path) -> tuple[int, str, str, float]:
    """Run ``command``; its exit code, stdout, stderr and peak RSS in MiB.

    Measured by a wrapper interpreter whose only child is ``command``, so that
    ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is that child's own peak.
    """
    wrapper = textwrap.dedent(
        f"""
        import json, resource, subprocess, sys
        done = subprocess.run({command!r}, capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        json.dump({{"code": done.returncode, "out": done.stdout, "err": done.stderr,
                   "peak": peak}}, sys.stdout)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper], cwd=cwd, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(done.stdout)
    return record["code"], record["out"], record["err"], record["peak"]


XNER = [sys.executable, "-m", "xner.cli.main"]
FAST = ["--intra-threads", "1", "--skip-verify"]


# --- segmentation (no models) --------------------------------------------------------------------


def as_words(text: str) -> list[str]:
    return text.split()


def test_segments_cut_where_the_translator_cuts_text() -> None:
    """One algorithm: on words joined by spaces, segments are split_for_length's parts."""
    cases = [
        "a b c",
        "a b. c d e. f",
        "a b c d e, f g. h",
        "a b c d e f g. h",
        "a b c, d e f g h i",
        "x y z — u v w , q r. s t u v w x",
    ]
    for text in cases:
        words = as_words(text)
        parts = split_for_length(text, lambda t: len(t.split()) <= 4)
        ranges = segment_words(words, max_words=4, max_chars=10_000)
        assert parts is not None
        assert [" ".join(words[a:b]) for a, b in ranges] == parts, text


def test_segments_levels_and_offsets() -> None:
    words = as_words("a b. c d e. f")
    assert segment_words(words, max_words=4) == [(0, 2), (2, 6)]
    words = as_words("a b c, d e f g h i")
    assert segment_words(words, max_words=4) == [(0, 3), (3, 7), (7, 9)]
    assert segment_words([]) == []
    assert segment_words(["one"]) == [(0, 1)]
    short = as_words("a short sentence stays whole .")
    assert segment_words(short) == [(0, len(short))]


def test_segments_never_cut_inside_a_protected_span() -> None:
    words = as_words("p q r s t u v w x y")
    spans = [Span(2, 5, "PER"), Span(6, 8, "LOC")]
    ranges = segment_words(words, spans, max_words=3)
    cuts = {a for a, _ in ranges[1:]}
    assert not any(s.start < c < s.end for s in spans for c in cuts), ranges
    # a protected span longer than a segment forms one alone
    ranges = segment_words(words, [Span(1, 8, "ORG")], max_words=3)
    assert (1, 8) in ranges


def test_segments_bound_characters_and_keep_a_giant_word_whole() -> None:
    giant = "x" * (SEGMENT_CHARS + 500)
    words = ["a", "b", giant, "c", "d"]
    ranges = segment_words(words)
    assert (2, 3) in ranges
    assert [w for a, b in ranges for w in words[a:b]] == words


@pytest.mark.parametrize("seed", range(20))
def test_segments_cover_the_sentence_within_bounds(seed: int) -> None:
    rng = random.Random(seed)
    words, tags = long_words(rng.randint(1, 30_000), seed)
    max_words = rng.choice([5, 50, SEGMENT_WORDS])
    max_chars = rng.choice([40, 400, SEGMENT_CHARS])
    spans = spans_from_tags(tags, "IOB2")
    ranges = segment_words(words, spans, max_words=max_words, max_chars=max_chars)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(words)
    assert all(b > a for a, b in ranges)
    assert all(a == prev_b for (_, prev_b), (a, _) in zip(ranges, ranges[1:], strict=False))
    for a, b in ranges:
        if b - a > 1 and not any(s.start == a and s.end == b for s in spans):
            assert b - a <= max_words
            assert len(" ".join(words[a:b])) <= max_chars
    cuts = {a for a, _ in ranges[1:]}
    assert not any(s.start < c < s.end for s in spans for c in cuts)


def test_segments_of_a_chunk_and_their_errors() -> None:
    words, _ = long_words(5_000)
    chunk = [Sentence(["short", "one"], line=1), Sentence(words, line=2), Sentence([], line=3)]
    ranges = segment_ranges(chunk)
    assert ranges[0] == [(0, 2)] and ranges[2] == []
    assert ranges[1] == segment_words(words) and len(ranges[1]) > 1
    records = plan(chunk, ranges)
    assert [r.sentence for r in records] == [0] + [1] * len(ranges[1])
    assert [w for r in records if r.sentence == 1 for w in r.words] == words
    second = records[2]
    failed = [
        dataclasses.replace(records[0], error="the translation is empty"),
        records[1],
        dataclasses.replace(second, error="alignment failed: boom"),
        *records[3:],
    ]
    grouped = by_sentence(failed, len(chunk))
    assert [sentence_error(mine) for mine in grouped] == [
        "the translation is empty",
        f"words {second.start + 1}-{second.end}: alignment failed: boom",
        None,
    ]
    assert live(failed) == []
    assert live([records[0], *failed[1:]]) == [0]


def test_plan_gives_each_segment_its_gold_spans() -> None:
    sentence = Sentence(["a", "b", "c", "d", "e"], line=1)
    spans = [Span(0, 1, "PER"), Span(3, 5, "LOC")]
    records = plan([sentence], [[(0, 3), (3, 5)]], spans=[spans])
    assert [r.spans for r in records] == [[Span(0, 1, "PER")], [Span(0, 2, "LOC")]]
    assert [(r.start, r.end, r.words) for r in records] == [
        (0, 3, ["a", "b", "c"]),
        (3, 5, ["d", "e"]),
    ]


def _piece(source: int, target: int, spans, links, projected) -> Record:
    """A translate-train record with ``source`` words and a ``target``-word translation."""
    return Record(
        0,
        0,
        ["w"] * source,
        translated=["t"] * target,
        spans=spans,
        links=links,
        projected=None if projected is None else Projected(*projected),
    )


def test_join_segments_shifts_spans_links_and_matches() -> None:
    first = _piece(3, 4, [Span(0, 1, "PER")], np.array([[0, 0], [2, 3]]), ([Span(0, 1, "PER")],))
    second = _piece(
        2,
        5,
        [Span(1, 2, "LOC")],
        np.array([[1, 4]]),
        ([Span(4, 5, "LOC")], [Match(0, Span(4, 5, "LOC"), 0.5)]),
    )
    skipped = _piece(4, 1, [], None, None)
    joined = join_segments([first, skipped, second])
    assert joined.source_spans == [Span(0, 1, "PER"), Span(8, 9, "LOC")]
    assert joined.links.tolist() == [[0, 0], [2, 3], [8, 9]]
    assert joined.spans == [Span(0, 1, "PER"), Span(9, 10, "LOC")]
    assert joined.matches == [Match(1, Span(9, 10, "LOC"), 0.5)]
    assert join_segments([skipped]) == Joined([], None, [], None, [], [])
    # translate-test: the translation is the source side
    back = dataclasses.replace(first, from_translation=True)
    assert join_segments([back, back]).source_spans == [Span(0, 1, "PER"), Span(4, 5, "PER")]


@pytest.mark.parametrize("method", ["argmax", "itermax", "match", "softmax"])
def test_extraction_memory_is_linear_in_the_matrix(method: str) -> None:
    """No method allocates more than a few float64 matrices of the pair's m x n cells."""
    rng = np.random.default_rng(1)
    m, n, d = 420, 380, 16
    src = rng.standard_normal((m, d)).astype(np.float32)
    tgt = rng.standard_normal((n, d)).astype(np.float32)
    distortion = 0.0 if method == "softmax" else 0.5
    tracemalloc.start()
    try:
        extract_alignment(
            src,
            tgt,
            method,
            src_word_ids=np.arange(m),
            tgt_word_ids=np.arange(n),
            n_src_words=m,
            n_tgt_words=n,
            distortion=distortion,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 64 * m * n, f"{method}: {peak / (m * n):.1f} bytes a cell"


def test_subword_groups_bound_what_is_held_at_once() -> None:
    assert subword_groups([5, 5, 5], 10) == [[0, 1], [2]]
    assert subword_groups([20, 1, 0, 9], 10) == [[0], [1, 2, 3]]
    assert subword_groups([], 10) == []


def test_tagger_window_choice_is_linear_and_unchanged() -> None:
    """The per-word window choice no longer builds a windows x words matrix; same choices."""

    def quadratic(counts, starts, windows, ranges):  # the former implementation, as an oracle
        n, total = len(counts), int(counts.sum())
        word, ends = np.arange(n), starts + counts
        margins = np.full((len(windows), n), -1.0)
        for k, ((first, end), (begin, stop)) in enumerate(zip(windows, ranges, strict=True)):
            inside = (word >= first) & (word < end)
            left = np.inf if begin == 0 else starts - begin
            right = np.inf if stop == total else stop - ends
            margins[k] = np.where(inside, np.maximum(np.minimum(left, right), 0), -1.0)
        return margins.argmax(axis=0)

    rng = np.random.default_rng(0)
    for _ in range(200):
        counts = rng.integers(0, 6, size=int(rng.integers(1, 300)))
        counts[rng.random(len(counts)) < 0.01] = 40  # now and then a word longer than a window
        window = int(rng.integers(4, 30))
        stride = int(rng.integers(1, window + 1))
        starts = np.cumsum(counts) - counts
        windows = plan_windows(counts, window, stride)
        ranges = [_subword_range(counts, starts, a, b, window) for a, b in windows]
        expected = quadratic(counts, starts, windows, ranges)
        np.testing.assert_array_equal(_choose_windows(counts, starts, windows, ranges), expected)


# --- engines: segments flow through the ordinary stages -----------------------------------------


@pytest.fixture(scope="module")
def engines(tiny_bundle: Path) -> Engines:
    return Engines(tiny_bundle, intra_threads=1, verify=False)


@pytest.mark.slow
def test_translate_test_long_sentence_is_its_segments_joined(engines) -> None:
    """A long sentence's result is exactly its segments' results as sentences, joined."""
    words, _ = long_words(12_000)
    ranges = segment_words(words)
    assert len(ranges) > 3
    (whole,) = translate_test(engines, [words], "hau")
    parts = list(translate_test(engines, [words[a:b] for a, b in ranges], "hau"))
    assert whole.error is None and all(p.error is None for p in parts)
    assert whole.segments == len(ranges) and {p.segments for p in parts} == {1}
    assert whole.tokens == words
    validate_tags(whole.tags, "IOB2")
    assert whole.tags == [tag for p in parts for tag in p.tags]
    assert whole.translation == " ".join(p.translation for p in parts)
    assert whole.english_tokens == [w for p in parts for w in p.english_tokens]
    offsets = np.cumsum([0] + [len(p.english_tokens) for p in parts])
    shifted = [
        p.alignment + [offsets[i], ranges[i][0]]
        for i, p in enumerate(parts)
        if p.alignment is not None
    ]
    np.testing.assert_array_equal(whole.alignment, np.concatenate(shifted))
    assert whole.english_spans == [
        Span(s.start + offsets[i], s.end + offsets[i], s.label)
        for i, p in enumerate(parts)
        for s in p.english_spans
    ]


@pytest.mark.slow
def test_a_long_sentence_does_not_change_its_neighbours(engines) -> None:
    words, _ = long_words(6_000)
    short = [["Musa", "ya", "tafi", "Kano", "."], ["Gwamnati", "ta", "ce", "a", "Abuja", "."]]
    alone = list(translate_test(engines, short, "hau"))
    mixed = list(translate_test(engines, [short[0], words, short[1]], "hau"))
    assert [r.tags for r in (mixed[0], mixed[2])] == [r.tags for r in alone]
    assert mixed[1].segments > 1 and len(mixed[1].tags) == len(words)


@pytest.mark.slow
def test_translate_train_long_sentence_keeps_entities_whole(engines) -> None:
    words, tags = long_words(12_000, seed=3)
    spans = spans_from_tags(tags, "IOB2")
    ranges = segment_words(words, spans)
    assert len(ranges) > 3
    (whole,) = translate_train(engines, [Sentence(words, tags, 1, "long.jsonl")], "hau", "eng")
    parts = list(
        translate_train(
            engines, [Sentence(words[a:b], tags[a:b], 1) for a, b in ranges], "hau", "eng"
        )
    )
    assert whole.error is None and whole.segments == len(ranges)
    assert whole.source_spans == spans
    assert whole.tokens == [w for p in parts for w in p.tokens]
    assert whole.tags == [t for p in parts for t in p.tags]
    validate_tags(whole.tags, "IOB2")
    assert whole.translation == " ".join(p.translation for p in parts)
    assert whole.lost == sum(p.lost for p in parts)


@pytest.mark.slow
def test_a_segment_over_the_aligner_cap_fails_its_sentence_with_file_and_line(
    engines, tmp_path, monkeypatch
) -> None:
    """A part that cannot be aligned: the sentence is reported as FILE:LINE (``--on-error``)."""
    words, _ = long_words(3_000)
    source = tmp_path / "long.txt"
    source.write_text("Musa ya tafi Kano .\n" + " ".join(words) + "\n", encoding="utf-8")
    monkeypatch.setattr(aligner_module, "MAX_ALIGN_SUBWORDS", 150)
    with pytest.raises(InputError) as caught:
        files = FileJobConfig(source, tmp_path / "o.conll", on_error="fail")
        run_translate_test(engines, files, TranslateTestConfig("hau"))
    message = str(caught.value)
    assert message.startswith(f"{source}:2: words "), message
    assert "alignment failed: sentence too long to align: " in message
    assert "(limit 150 subwords a side)" in message
    files = FileJobConfig(source, tmp_path / "c.conll", on_error="copy-O")
    summary = run_translate_test(engines, files, TranslateTestConfig("hau"))
    assert summary.failed == 1 and summary.written == 2
    written = list(read_sentences(tmp_path / "c.conll"))
    assert written[1].tokens == words and set(written[1].tags) == {"O"}


# --- the aligner's cap ----------------------------------------------------------------------------


@pytest.mark.slow
def test_aligner_refuses_a_pair_over_the_cap(engines) -> None:
    long_side = [f"w{k}x" for k in range(MAX_ALIGN_SUBWORDS + 1)]
    with pytest.raises(PairTooLong) as caught:
        engines.aligner.align([(["a", "b"], ["c"]), (long_side, ["c", "d"])])
    assert caught.value.index == 1
    assert caught.value.problem.startswith(
        f"sentence too long to align: {len(long_side)} x 2 words, "
    )
    # an empty side aligns nothing and is never too long
    assert len(engines.aligner.align([(long_side, [])])[0]) == 0


@pytest.mark.slow
def test_xner_align_over_the_cap_is_one_line_with_file_and_line(tiny_bundle, tmp_path) -> None:
    long_side = " ".join(f"w{k}x" for k in range(MAX_ALIGN_SUBWORDS + 1))
    src, tgt, out = tmp_path / "s.txt", tmp_path / "t.txt", tmp_path / "o.talp"
    src.write_text("a b\n" + long_side + "\n", encoding="utf-8")
    tgt.write_text("c d\ne f\n", encoding="utf-8")
    done = CliRunner().invoke(
        app, ["align", str(src), str(tgt), "-b", str(tiny_bundle), "-o", str(out), *FAST]
    )
    assert done.exit_code == 2, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 1, done.output
    assert lines[0].startswith(f"xner: error: {src}:2: sentence too long to align: ")
    assert not out.exists()


# --- a 100,000-character line end to end, in bounded memory --------------------------------------


@pytest.fixture(scope="module")
def long_line(tmp_path_factory: pytest.TempPathFactory) -> Path:
    words, _ = long_words(LINE_CHARS)
    path = tmp_path_factory.mktemp("long") / "line.txt"
    path.write_text(" ".join(words) + "\n", encoding="utf-8")
    assert LINE_CHARS - 100 < len(" ".join(words)) <= LINE_CHARS
    return path


@pytest.mark.slow
def test_cli_translate_test_on_a_100k_character_line(tiny_bundle, long_line, tmp_path) -> None:
    out, explain = tmp_path / "o.conll", tmp_path / "o.jsonl"
    command = [
        *XNER, "translate-test", str(long_line), "--lang", "hau_Latn", "-b", str(tiny_bundle),
        "-o", str(out), "--explain", str(explain), *FAST,
    ]  # fmt: skip
    code, _, err, peak = run_measured(command, tmp_path)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    (sentence,) = read_sentences(out)
    words = long_line.read_text(encoding="utf-8").split()
    assert sentence.tokens == words
    validate_tags(sentence.tags, "IOB2")
    (record,) = [json.loads(line) for line in explain.read_text(encoding="utf-8").splitlines()]
    assert record["error"] is None and record["segments"] > 1
    assert f"{long_line}:1: {len(words)} words" in err
    assert peak < PEAK_BOUND_MIB, f"peak RSS {peak:.0f} MiB"


@pytest.mark.slow
def test_library_translate_test_on_a_100k_character_line(tiny_bundle, long_line, tmp_path) -> None:
    code = f"""
    import json
    from xner.runtime.pipelines import translate_test
    line = open({str(long_line)!r}, encoding="utf-8").read()
    (result,) = translate_test({str(tiny_bundle)!r}, [line], "hau")
    print(json.dumps({{"words": len(result.tokens), "tags": len(result.tags),
                      "segments": result.segments, "error": result.error}}))
    """
    command = [sys.executable, "-c", textwrap.dedent(code)]
    status, out, err, peak = run_measured(command, tmp_path)
    assert status == 0, err[-3000:]
    record = json.loads(out)
    words = len(long_line.read_text(encoding="utf-8").split())
    assert record == {"words": words, "tags": words, "segments": record["segments"], "error": None}
    assert record["segments"] > 1
    assert peak < PEAK_BOUND_MIB, f"peak RSS {peak:.0f} MiB"


@pytest.mark.slow
def test_cli_translate_train_on_a_long_jsonl_line(tiny_bundle, tmp_path) -> None:
    words, tags = long_words(LINE_CHARS, seed=7)
    source, out = tmp_path / "long.jsonl", tmp_path / "o.jsonl"
    source.write_text(json.dumps({"tokens": words, "tags": tags}) + "\n", encoding="utf-8")
    command = [
        *XNER, "translate-train", str(source), "--src-lang", "hau_Latn", "--tgt-lang",
        "eng_Latn", "-b", str(tiny_bundle), "-o", str(out), *FAST,
    ]  # fmt: skip
    code, _, err, peak = run_measured(command, tmp_path)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    (sentence,) = read_sentences(out)
    assert sentence.tokens and len(sentence.tags) == len(sentence.tokens)
    validate_tags(sentence.tags, "IOB2")
    assert f"{source}:1: {len(words)} words" in err
    assert peak < PEAK_BOUND_MIB, f"peak RSS {peak:.0f} MiB"
