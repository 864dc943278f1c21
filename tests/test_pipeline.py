"""The pipelines end to end on real sentences: translate-test, translate-train, model transfer.

The tiny bundle has random weights, so labels are meaningless but deterministic: the tests check
structure (one output sentence per input sentence, the same words, valid IOB2, explain records
that agree with the output), failure handling and laziness. The CLI runs torch-free.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from torchfree import run_cli_torch_free
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.data import Sentence, Span
from xner.runtime.engines.aligner import AlignmentResult
from xner.runtime.engines.translator import Translation
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.evaluate import evaluate
from xner.runtime.files.formats import read_sentences, write_sentences
from xner.runtime.jobs import (
    FileJobConfig,
    run_model_transfer,
    run_translate_test,
    run_translate_train,
)
from xner.runtime.pipelines import (
    Engines,
    ModelTransferConfig,
    TranslateTestConfig,
    TranslateTestResult,
    TranslateTrainConfig,
    model_transfer,
    translate_test,
    translate_train,
)
from xner.runtime.pipelines.records import Record, live, sentence_error
from xner.runtime.pipelines.stages import guarded, join_words, project
from xner.runtime.projection import ProjectionItem
from xner.runtime.projection.registry import project_results
from xner.runtime.projection.result import Projected
from xner.runtime.tags import spans_from_tags, validate_tags
from xner.runtime.tokenize import word_tokenize

THREADS = ["--intra-threads", "1", "--skip-verify"]


def first_sentences(path: Path, n: int, out: Path) -> Path:
    """The first ``n`` sentences of a shared data file, written to ``out`` (not into the repo)."""
    write_sentences(itertools.islice(read_sentences(path), n), out)
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def engines(tiny_bundle: Path) -> Engines:
    return Engines(tiny_bundle, intra_threads=1)


@pytest.fixture(scope="module")
def hausa(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hausa") / "hau.conll"
    return first_sentences(shared_data / "masakhaner2" / "hau.test.conll", 20, out)


@pytest.fixture(scope="module")
def english(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("english") / "en.conll"
    return first_sentences(shared_data / "europarl_ner" / "en.test.conll", 20, out)


class Failing:
    """A translator that raises on any batch holding ``BOOM`` and translates ``EMPTY`` to ""."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def translate(self, sentences, src_lang, tgt_lang, **kwargs):
        if any("BOOM" in text for text in sentences):
            raise RuntimeError("the engine broke")
        done = self.real.translate(sentences, src_lang, tgt_lang, **kwargs)
        return [
            Translation("") if "EMPTY" in s else t for s, t in zip(sentences, done, strict=True)
        ]


class Overreaching:
    """An aligner whose links for pairs holding ``FAR`` point past the end of the target."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def align(self, pairs, method=None):
        done = self.real.align(pairs, method=method)
        return [
            AlignmentResult(np.array([[0, len(target)]]), r.method) if "FAR" in target else r
            for (_, target), r in zip(pairs, done, strict=True)
        ]


@pytest.fixture(scope="module")
def failing(engines: Engines) -> Engines:
    return Engines(
        translator=Failing(engines.translator), tagger=engines.tagger, aligner=engines.aligner
    )


def check_explain_test_record(record: dict, sentence: Sentence, tags: list[str]) -> None:
    """An explain record of translate-test agrees with its input and output sentence."""
    assert record["tokens"] == sentence.tokens and record["line"] == sentence.line
    assert record["tags"] == tags
    entities = [(e["start"], e["end"], e["label"]) for e in record["entities"]]
    assert entities == [(s.start, s.end, s.label) for s in spans_from_tags(tags)]
    english = record["english_tokens"]
    assert english == [t.text for t in word_tokenize(record["translation"])]
    for entity in record["english_entities"]:
        assert 0 <= entity["start"] < entity["end"] <= len(english)
        assert entity["text"] == " ".join(english[entity["start"] : entity["end"]])
    if record["english_entities"]:
        pairs = np.asarray(record["alignment"]).reshape(-1, 2)
        assert np.all(pairs[:, 0] < len(english)) and np.all(pairs[:, 1] < len(sentence.tokens))
    else:
        assert record["alignment"] is None and not record["entities"]


# --- end to end, torch-free -------------------------------------------------------------------


def test_translate_test_cli_on_masakhaner_torch_free(tiny_bundle, hausa, tmp_path) -> None:
    out, explain = tmp_path / "pred.jsonl", tmp_path / "explain.jsonl"
    args = ["translate-test", "--bundle", str(tiny_bundle), "--lang", "hau_Latn", str(hausa)]
    args += ["-o", str(out), "--explain", str(explain), "--method", "ngram", "--drop", "MISC"]
    args += ["--gold", str(hausa), "--ignore", "DATE", "--chunk-size", "8", *THREADS]
    done = run_cli_torch_free(args)
    assert done.returncode == 0, done.stderr
    inputs = list(read_sentences(hausa))
    outputs = list(read_sentences(out))
    records = read_jsonl(explain)
    assert len(inputs) == len(outputs) == len(records) == 20
    for k, (sentence, predicted, record) in enumerate(zip(inputs, outputs, records, strict=True)):
        assert predicted.tokens == sentence.tokens
        validate_tags(predicted.tags, "IOB2", strict=True)
        assert not any(tag.endswith("-MISC") for tag in predicted.tags)  # dropped before projection
        assert record["index"] == k and record["status"] == "ok" and record["error"] is None
        check_explain_test_record(record, sentence, predicted.tags)
        assert all(e["label"] != "MISC" for e in record["english_entities"])
        chosen = [(m["start"], m["end"], m["label"]) for m in record["matches"]]
        assert chosen == [(e["start"], e["end"], e["label"]) for e in record["entities"]]
        pairs = np.asarray(record["alignment"] or [], dtype=np.int64).reshape(-1, 2)
        for m in record["matches"]:  # score = 2 * links / (|entity| + |candidate|)
            (a, b), (c, d) = m["entity_span"], (m["start"], m["end"])
            links = np.sum(
                (pairs[:, 0] >= a) & (pairs[:, 0] < b) & (pairs[:, 1] >= c) & (pairs[:, 1] < d)
            )
            assert m["score"] == pytest.approx(2 * links / (b - a + d - c))
    # the streamed evaluation is the evaluation of the written output
    expected = evaluate(inputs, outputs, ignore={"DATE"}).format_table()
    assert expected in done.stderr and "translate-test: 20 sentences" in done.stderr


def test_translate_train_cli_on_europarl_torch_free(tiny_bundle, english, tmp_path) -> None:
    out, explain = tmp_path / "de.conll", tmp_path / "explain.jsonl"
    args = ["translate-train", "--bundle", str(tiny_bundle), "--src-lang", "eng_Latn"]
    args += ["--tgt-lang", "deu_Latn", str(english), "-o", str(out), "--explain", str(explain)]
    done = run_cli_torch_free([*args, "--chunk-size", "8", *THREADS])
    assert done.returncode == 0, done.stderr
    inputs = list(read_sentences(english))
    records = read_jsonl(explain)
    assert len(records) == len(inputs) == 20
    written = [r for r in records if r["status"] == "ok"]
    outputs = list(read_sentences(out))
    assert len(outputs) == len(written) and len(written) + sum(
        r["status"] == "skipped" for r in records
    ) == len(inputs)
    for record, sentence in zip(records, inputs, strict=True):
        assert record["source_tokens"] == sentence.tokens
        source = [(e["start"], e["end"], e["label"]) for e in record["source_entities"]]
        assert source == [(s.start, s.end, s.label) for s in spans_from_tags(sentence.tags)]
    for record, predicted in zip(written, outputs, strict=True):
        assert predicted.tokens == record["tokens"]
        assert record["tokens"] == [t.text for t in word_tokenize(record["translation"])]
        validate_tags(predicted.tags, "IOB2", strict=True)
        assert predicted.tags == record["tags"]
        assert record["lost"] <= len(record["source_entities"])
    incomplete = sum(r["lost"] > 0 for r in written)
    if incomplete:
        assert f"incomplete projections (an entity lost): {incomplete}," in done.stderr


def test_malformed_conll_is_one_line_and_leaves_no_output(tiny_bundle, hausa, tmp_path) -> None:
    lines = hausa.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.conll"
    bad.write_text("\n".join([*lines[:30], "broken", *lines[30:]]) + "\n", encoding="utf-8")
    out = tmp_path / "out.conll"
    args = ["translate-test", "-b", str(tiny_bundle), "--lang", "hau", str(bad), "-o", str(out)]
    done = run_cli_torch_free([*args, *THREADS])
    assert done.returncode == 2
    assert done.stderr.startswith(f"xner: error: {bad}:31: ") and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.conll"]  # no OUT, no partial


# --- the Python API ---------------------------------------------------------------------------


def test_translate_test_reads_its_input_chunk_by_chunk(engines, hausa) -> None:
    sentences = list(read_sentences(hausa))
    pulled = 0

    def source():
        nonlocal pulled
        for sentence in itertools.cycle(sentences):  # endless: must never be read whole
            pulled += 1
            yield sentence

    results = translate_test(engines, source(), "hau", chunk_size=4)
    assert pulled == 0  # nothing read before the first result is asked for
    first = next(results)
    assert isinstance(first, TranslateTestResult) and pulled == 4
    for _ in range(4):
        next(results)
    assert pulled == 8


def test_drop_removes_predicted_labels_before_projection(engines, hausa) -> None:
    sentences = list(read_sentences(hausa))[:8]
    kept = list(translate_test(engines, sentences, "hau", drop={"MISC"}))
    full = list(translate_test(engines, sentences, "hau"))
    for a, b in zip(kept, full, strict=True):
        assert a.tokens == b.tokens and a.translation == b.translation
        assert a.english_spans == [s for s in b.english_spans if s.label != "MISC"]
        assert all(s.label != "MISC" for s in a.spans)


def test_model_transfer_tags_the_text_itself(engines, hausa) -> None:
    sentences = list(read_sentences(hausa))[:6]
    results = list(model_transfer(engines, sentences, "hau", chunk_size=6))
    direct = engines.tagger.tag([s.tokens for s in sentences])  # the same batch: int8 scales
    assert [type(r) for r in results] == [TranslateTestResult] * 6
    assert [r.tags for r in results] == [d.tags for d in direct]
    assert all(r.translation is None and r.alignment is None for r in results)


def test_translate_train_counts_lost_entities(engines, english) -> None:
    sentences = list(read_sentences(english))[:10]
    results = list(translate_train(engines, sentences, "eng", "deu", method="ngram"))
    for result, sentence in zip(results, sentences, strict=True):
        assert result.source_spans == spans_from_tags(sentence.tags)
        assert result.lost == len(result.source_spans) - len(result.matches or [])
        assert result.complete == (result.ok and result.lost == 0)
    with pytest.raises(InputError, match="needs labelled sentences"):
        list(translate_train(engines, [Sentence(["a"], None, 3, "x.conll")], "eng", "deu"))


def test_drop_incomplete_leaves_out_lossy_projections(engines, english, tmp_path) -> None:
    kept, dropped = tmp_path / "all.jsonl", tmp_path / "complete.jsonl"
    config = TranslateTrainConfig("eng", "deu", method="ngram", chunk_size=8)
    a = run_translate_train(engines, FileJobConfig(english, kept), config)
    lossless = dataclasses.replace(config, drop_incomplete=True)
    b = run_translate_train(engines, FileJobConfig(english, dropped), lossless)
    assert a.incomplete == b.incomplete == b.dropped > 0 and a.dropped == 0
    assert b.written == a.written - b.dropped == len(read_jsonl(dropped))
    assert "incomplete projections (an entity lost)" in b.report()


def test_a_failing_sentence_gets_an_error_and_the_others_go_on(engines, failing, hausa) -> None:
    sentences = list(read_sentences(hausa))[:6]
    sentences[2] = Sentence(["BOOM", *sentences[2].tokens], None, sentences[2].line, "h")
    sentences[4] = Sentence(["EMPTY"], None, sentences[4].line, "h")
    results = list(translate_test(failing, sentences, "hau"))
    alone = list(translate_test(engines, [sentences[k] for k in (0, 1, 3, 5)], "hau"))
    assert results[2].error == "translation failed: the engine broke"
    assert results[4].error == "the translation is empty"
    for k in (2, 4):
        assert set(results[k].tags) == {"O"} and len(results[k].tags) == len(sentences[k].tokens)
    assert [results[k].tags for k in (0, 1, 3, 5)] == [r.tags for r in alone]


def test_a_sentence_that_cannot_be_projected_fails_alone(engines, hausa) -> None:
    """The chunk is projected in one batch; out-of-range links fail only their sentence."""
    sentences = list(read_sentences(hausa))[:8]
    far = (1, 3, 6)
    for k in far:
        sentences[k] = Sentence([*sentences[k].tokens, "FAR"], None, sentences[k].line, "h")
    broken = Engines(
        translator=engines.translator, tagger=engines.tagger, aligner=Overreaching(engines.aligner)
    )
    results = list(translate_test(broken, sentences, "hau"))
    failed = [k for k in far if results[k].english_spans]
    assert failed  # the tiny tagger found something to project there
    for k in failed:
        n = len(sentences[k].tokens)
        expected = f"projection failed: alignment link 0-{n} points past the target sentence"
        assert results[k].error.startswith(expected)
        assert set(results[k].tags) == {"O"} and results[k].spans == []
    rest = [k for k in range(len(sentences)) if k not in far]
    alone = list(translate_test(engines, [sentences[k] for k in rest], "hau"))
    assert [results[k].tags for k in rest] == [r.tags for r in alone]
    assert all(results[k].error is None for k in rest)


def _record(k: int, spans: list[Span], links: list[list[int]], target: list[str]) -> Record:
    """A record of translate-train's shape: ``target`` is the translation, ``spans`` gold."""
    return Record(k, 0, ["w"] * 6, translated=target, spans=spans, links=np.array(links))


@pytest.mark.parametrize("method", ["heuristic", "ngram"])
def test_project_stage_equals_one_sentence_at_a_time(method) -> None:
    good = ([Span(0, 2, "PER")], [[0, 1], [1, 2]], ["a", "b", "c"])
    empty = ([], [[5, 9]], ["a"])  # no entity: its links are not looked at
    bad = ([Span(0, 1, "LOC")], [[0, 3]], ["a", "b"])
    chunk = [_record(k, *job) for k, job in enumerate([good, empty, bad, good])]
    out = project(chunk, method, None)
    assert [r.error for r in out] == [
        None,
        None,
        "projection failed: alignment link 0-3 points past the target sentence (2 words)",
        None,
    ]
    alone = [project([record], method, None)[0] for record in chunk]
    assert [r.projected for r in out] == [r.projected for r in alone]
    assert out[0].projected.spans == [Span(1, 3, "PER")]
    assert out[1].projected == Projected([], [] if method == "ngram" else None)
    assert out[2].projected is None and chunk[2].error is None  # the input records are kept
    with pytest.raises(ValueError, match="points past"):
        project_results([ProjectionItem(bad[0], np.array(bad[1]), 2, bad[2])], method)


def test_guarded_retries_one_by_one_and_names_the_stage() -> None:
    calls: list[list[int]] = []

    def fn(batch: list[int]) -> list[int]:
        calls.append(batch)
        if 3 in batch:
            raise RuntimeError("three\nis   bad")
        return [x * 10 for x in batch]

    errors: dict[str, str] = {}
    out = guarded("doubling", fn, {"a": 1, "b": 3, "c": 5}, errors)
    assert out == {"a": 10, "c": 50}
    assert errors == {"b": "doubling failed: three is bad"}
    assert calls == [[1, 3, 5], [1], [3], [5]]
    with pytest.raises(ConfigError):  # an error about every sentence is never caught
        guarded("x", lambda batch: (_ for _ in ()).throw(ConfigError("bad")), {0: 1}, {})


def test_a_failed_segment_stops_its_sentence_in_later_stages() -> None:
    records = [Record(0, 0, ["a"]), Record(0, 1, ["b"], error="x"), Record(1, 0, ["c"])]
    assert live(records) == [2]
    assert sentence_error(records[:2]) == "words 2-2: x"
    assert sentence_error(records[2:]) is None


@pytest.mark.parametrize(
    ("policy", "written", "status"), [("copy-O", 6, "copied-O"), ("skip", 5, "skipped")]
)
def test_on_error_policies(failing, hausa, tmp_path, policy, written, status) -> None:
    sentences = list(read_sentences(hausa))[:6]
    sentences[3] = Sentence(["BOOM", *sentences[3].tokens], ["O", *sentences[3].tags], 9, "in")
    source = tmp_path / "in.conll"
    write_sentences(sentences, source)
    out, explain = tmp_path / "out.conll", tmp_path / "ex.jsonl"
    files = FileJobConfig(source, out, explain=explain, on_error=policy)
    summary = run_translate_test(failing, files, TranslateTestConfig("hau", chunk_size=2))
    assert (summary.failed, summary.written, summary.sentences) == (1, written, 6)
    line = list(read_sentences(source))[3].line
    assert summary.problems == [f"{source}:{line}: translation failed: the engine broke"]
    assert [r["status"] for r in read_jsonl(explain)][3] == status
    assert len(list(read_sentences(out))) == written
    if policy == "copy-O":
        assert set(list(read_sentences(out))[3].tags) == {"O"}


def test_fail_policy_stops_with_file_and_line(failing, hausa, tmp_path) -> None:
    sentences = list(read_sentences(hausa))[:4]
    sentences[1] = Sentence(["BOOM"], ["O"], 0, "in")
    source = tmp_path / "in.conll"
    write_sentences(sentences, source)
    with pytest.raises(InputError) as caught:
        files = FileJobConfig(source, tmp_path / "o.conll", on_error="fail")
        run_translate_test(failing, files, TranslateTestConfig("hau"))
    line = list(read_sentences(source))[1].line
    assert str(caught.value).startswith(f"{source}:{line}: translation failed: the engine broke")
    assert not (tmp_path / "o.conll").exists()


def test_spacing_follows_the_script() -> None:
    assert join_words(["我", "爱", "你"], "zho_Hans") == "我爱你"
    assert join_words(["ภาษา", "ไทย"], "tha") == "ภาษาไทย"
    assert join_words(["Ina", "kwana"], "hau") == "Ina kwana"
    assert join_words(["a", "b"], "xyz_Qaaa") == "a b"  # an unknown script keeps spaces


def test_cli_option_errors_are_one_line(tiny_bundle, hausa, tmp_path) -> None:
    runner = CliRunner()
    base = ["translate-test", "-b", str(tiny_bundle), "--lang", "hau", str(hausa)]
    cases = [
        (["-o", str(tmp_path / "o.conll"), "--gold", str(hausa), "--evaluate"], "not both"),
        (["-o", str(tmp_path / "o.txt")], "cannot be written as text"),
        (["--resume"], "need an output file"),
        (["-o", str(tmp_path / "o.conll"), "--on-error", "ignore"], "choose from copy-O"),
        (["-o", str(tmp_path / "o.conll"), "--lang", "klingon"], "unknown language"),
    ]
    for extra, message in cases:
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_stdout_output_streams_and_explain_is_written(engines, hausa, tmp_path, capsys) -> None:
    explain = tmp_path / "ex.jsonl"
    files = FileJobConfig(hausa, "-", explain=explain)
    summary = run_model_transfer(engines, files, ModelTransferConfig("hau", chunk_size=8))
    printed = capsys.readouterr().out
    sentences = list(read_sentences(io.StringIO(printed), "conll"))
    assert summary.written == len(sentences) == len(read_jsonl(explain)) == 20
    assert [s.tokens for s in sentences] == [s.tokens for s in read_sentences(hausa)]
