"""Multi-source translate-train (issue 14 item 2): parallel sources combined, separate sources
concatenated with their provenance, the projection of several sources onto given words, bad
specifications, resumption, and the command on the tiny bundle with real Europarl sentences."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from fake_engines import Aligner, Translator
from torchfree import run_cli_torch_free
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.data import Sentence, Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.files.formats import read_sentences, write_sentences
from xner.runtime.jobs import FileJobConfig, run_translate_train
from xner.runtime.jobs.resume import progress_path
from xner.runtime.jobs.sources_job import run_translate_train_sources
from xner.runtime.pipelines.compose import translate_train
from xner.runtime.pipelines.configs import TranslateTrainConfig
from xner.runtime.pipelines.sources import (
    LabelledSource,
    MultiSourceConfig,
    SourcedSentence,
    parse_sources,
    project_sources,
    translate_train_each,
    translate_train_sources,
)
from xner.runtime.projection.combine import CombineOptions, combine_spans

# --- hand-made parallel sentences -----------------------------------------------------------------
# The fake translator adds an x to each word and the fake aligner links word i to word i, so each
# source's entity at words [a, b) lands on the first source's translation at [a, b).


def labelled(words: str, tags: str, name: str, line: int = 1) -> Sentence:
    return Sentence(words.split(), tags.split(), line, name)


EN = labelled("Ada met Bob in Rome", "B-PER O B-PER O B-LOC", "en.conll")
ES = labelled("Ada vio Bob en Roma", "B-PER O B-ORG O B-LOC", "es.conll")
DE = labelled("Ada traf Bob Xin Rom", "B-PER O B-PER B-MISC O", "de.conll")
# votes on the target: PER(0,1) en es de; PER(2,3) en de; ORG(2,3) es; MISC(3,4) de;
# LOC(4,5) en es
SOURCES = "en.conll:eng_Latn,es.conll:spa,de.conll:German"


class FailingAligner(Aligner):
    """The diagonal aligner, failing on any pair whose source side holds the word ``FAIL``."""

    def align(self, pairs, method=None):
        if any("FAIL" in source for source, _ in pairs):
            raise RuntimeError("cannot align FAIL")
        return super().align(pairs, method)


def fakes() -> Engines:
    return Engines(translator=Translator(), aligner=FailingAligner())


def config(**settings) -> MultiSourceConfig:
    settings.setdefault("parallel", True)
    return MultiSourceConfig(parse_sources(SOURCES), "yor", **settings)


def combined(**settings) -> list[tuple[Span, float, tuple[str, ...]]]:
    (result,) = translate_train_sources(fakes(), [(EN, ES, DE)], config(**settings))
    assert result.tokens == ["Adax", "metx", "Bobx", "inx", "Romex"]
    return list(zip(result.spans, result.confidences, result.voters, strict=True))


EN_, ES_, DE_ = "eng_Latn", "spa_Latn", "deu_Latn"


def test_vote_keeps_the_spans_of_a_majority() -> None:
    assert combined() == [
        (Span(0, 1, "PER"), 1.0, (EN_, ES_, DE_)),
        (Span(2, 3, "PER"), 2 / 3, (EN_, DE_)),
        (Span(4, 5, "LOC"), 2 / 3, (EN_, ES_)),
    ]
    assert combined(combine=CombineOptions(min_votes=3)) == [
        (Span(0, 1, "PER"), 1.0, (EN_, ES_, DE_))
    ]


def test_union_keeps_every_span_and_overlaps_go_to_the_most_votes() -> None:
    assert combined(combine=CombineOptions("union")) == [
        (Span(0, 1, "PER"), 1.0, (EN_, ES_, DE_)),
        (Span(2, 3, "PER"), 2 / 3, (EN_, DE_)),  # beats ORG(2,3), one vote
        (Span(3, 4, "MISC"), 1 / 3, (DE_,)),
        (Span(4, 5, "LOC"), 2 / 3, (EN_, ES_)),
    ]


def test_weighted_keeps_spans_over_half_the_weight_named_by_any_code() -> None:
    # weights: en 1, es 3, de 1 (total 5): ORG(2,3) 3/5 wins over PER(2,3) 2/5
    assert combined(combine=CombineOptions("weighted", weights={"es": 3})) == [
        (Span(0, 1, "PER"), 1.0, (EN_, ES_, DE_)),
        (Span(2, 3, "ORG"), 0.6, (ES_,)),
        (Span(4, 5, "LOC"), 0.8, (EN_, ES_)),
    ]


def test_lost_counts_the_first_sources_entities_the_combination_dropped() -> None:
    (kept,) = translate_train_sources(fakes(), [(EN, ES, DE)], config())
    (strict,) = translate_train_sources(
        fakes(), [(EN, ES, DE)], config(combine=CombineOptions(min_votes=3))
    )
    assert (kept.lost, strict.lost, kept.source_entities) == (0, 2, 3)
    assert kept.tags == ["B-PER", "O", "B-PER", "O", "B-LOC"]
    spans = kept.scored_spans()
    assert [s["sources"] for s in spans] == [[EN_, ES_, DE_], [EN_, DE_], [EN_, ES_]]
    record = kept.explain()
    assert [s["source"] for s in record["sources"]] == [
        "en.conll:eng_Latn",
        "es.conll:spa_Latn",
        "de.conll:deu_Latn",
    ]
    assert record["sources"][1]["projected"][1] == {
        "start": 2,
        "end": 3,
        "label": "ORG",
        "text": "Bobx",
        "confidence": 1.0,
    }


def test_a_source_that_fails_for_a_sentence_does_not_vote() -> None:
    es_fails = Sentence(["Ada", "vio", "FAIL", "en", "Roma"], ES.tags, 2, "es.conll")
    en_fails = Sentence(["Ada", "FAIL", "Bob", "in", "Rome"], EN.tags, 3, "en.conll")
    all_fail = [Sentence(["FAIL"], ["O"], 4, name) for name in ("en", "es", "de")]
    items = [(EN, es_fails, DE), (en_fails, ES, DE), tuple(all_fail)]
    one, two, three = translate_train_sources(fakes(), items, config())
    # sentence 1: en and de answer; a majority of two is two
    assert one.projections[ES_] is None and one.error is None
    assert [(s, v) for s, v in zip(one.spans, one.voters, strict=True)] == [
        (Span(0, 1, "PER"), (EN_, DE_)),
        (Span(2, 3, "PER"), (EN_, DE_)),
    ]
    # sentence 2: the first source's alignment failed, but its translation is the target
    assert two.projections[EN_] is None and two.error is None
    assert two.tokens == ["Adax", "FAILx", "Bobx", "inx", "Romex"]
    assert [(s, v) for s, v in zip(two.spans, two.voters, strict=True)] == [
        (Span(0, 1, "PER"), (ES_, DE_))
    ]
    # sentence 3: words without entities are never aligned, so nothing fails there
    assert three.error is None and three.spans == []


def test_a_sentence_without_translation_fails_and_the_stream_goes_on() -> None:
    broken = Sentence(["BOOM", "Bob"], ["O", "B-PER"], 2, "en.conll")
    es, de = (Sentence(["Bob", "x"], ["B-PER", "O"], 2, n) for n in ("es.conll", "de.conll"))
    first, failed = translate_train_sources(fakes(), [(EN, ES, DE), (broken, es, de)], config())
    assert first.error is None
    assert failed.error.startswith("translation failed") and failed.output() is None
    assert failed.lost == 1


def test_a_long_sentence_translated_in_part_fails() -> None:
    words = ["w"] * 150 + ["."] + ["BOOM"] + ["v"] * 150  # two segments, the second breaks
    tags = ["B-PER"] + ["O"] * (len(words) - 1)
    rows = tuple(Sentence(words, tags, 1, name) for name in ("en", "es", "de"))
    (result,) = translate_train_sources(fakes(), [rows], config())
    assert result.first.segments == 2 and result.first.tokens  # the first segment's words
    assert "translation failed" in result.error and result.spans == []


def test_every_source_failing_fails_the_sentence() -> None:
    rows = [Sentence(["FAIL", "Bob"], ["O", "B-PER"], 2, n) for n in ("en", "es", "de")]
    (result,) = translate_train_sources(fakes(), [tuple(rows)], config())
    assert result.error.startswith("alignment failed")
    assert all(vote is None for vote in result.projections.values())
    assert result.tags == ["O", "O"] and result.output() is not None  # copy-O can write it


def test_an_item_must_hold_one_sentence_per_source() -> None:
    with pytest.raises(InputError, match="2 parallel sentences given for 3 sources"):
        list(translate_train_sources(fakes(), [(EN, ES)], config()))


def test_chunks_do_not_change_the_results() -> None:
    rows = [(EN, ES, DE)] * 5
    one = list(translate_train_sources(fakes(), rows, config(chunk_size=1)))
    many = list(translate_train_sources(fakes(), rows, config(chunk_size=2)))
    assert [(r.spans, r.voters, r.first.index) for r in one] == [
        (r.spans, r.voters, r.first.index) for r in many
    ]
    assert [r.first.index for r in one] == [0, 1, 2, 3, 4]


# --- project_sources ------------------------------------------------------------------------------


def test_project_sources_equals_translate_trains_own_projection() -> None:
    engines = fakes()
    (train,) = translate_train(engines, [EN], TranslateTrainConfig("eng", "yor"))
    (projected,) = project_sources(engines, {"en": [EN], "es": [ES]}, [train.tokens], "yor")
    assert list(projected) == ["en", "es"]  # the keys as given
    assert projected["en"].spans == train.spans
    assert projected["en"].confidences == train.confidences
    assert projected["es"].spans == [Span(0, 1, "PER"), Span(2, 3, "ORG"), Span(4, 5, "LOC")]


def test_project_sources_drops_labels_and_marks_failures() -> None:
    failing = Sentence(["Ada", "FAIL"], ["B-PER", "O"], 1, "de")
    rows = project_sources(
        fakes(),
        {"eng_Latn": [EN, EN], "deu_Latn": [DE, failing]},
        [EN.tokens, ["a", "b"]],
        "deu",
        drop="LOC,MISC",
    )
    first, second = rows
    assert first["eng_Latn"].spans == [Span(0, 1, "PER"), Span(2, 3, "PER")]
    assert first["deu_Latn"].spans == [Span(0, 1, "PER"), Span(2, 3, "PER")]
    assert second["deu_Latn"] is None and second["eng_Latn"] is not None


def test_project_sources_needs_parallel_lists() -> None:
    with pytest.raises(ConfigError, match="source es has 1 sentences but the target has 2"):
        project_sources(fakes(), {"es": [ES]}, [ES.tokens, ES.tokens], "yor")
    with pytest.raises(ConfigError, match="works in translate-train only"):
        project_sources(fakes(), {"es": [ES]}, [ES.tokens], "yor", method="markers")


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ("en.conll", r"bad entry 'en.conll'; write FILE:LANG"),
        ("en.conll:", r"bad entry 'en.conll:'"),
        (":eng_Latn", r"bad entry ':eng_Latn'"),
        ("en.conll:klingon", r"source en.conll: unknown language"),
        ("-:eng_Latn", r"not standard input"),
        ("", r"at least one FILE:LANG"),
    ],
)
def test_bad_source_specs(sources: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        MultiSourceConfig(parse_sources(sources), "yor")


def test_config_checks_and_fingerprint() -> None:
    with pytest.raises(ConfigError, match="eng_Latn is given twice"):
        MultiSourceConfig(parse_sources("a.conll:en,b.conll:eng"), "yor", parallel=True)
    MultiSourceConfig(parse_sources("a.conll:en,b.conll:eng"), "yor")  # separate: fine
    with pytest.raises(ConfigError, match="unknown source language in weights 'fra'; choose from"):
        config(combine=CombineOptions(weights={"fra": 2}))
    with pytest.raises(ConfigError, match="unknown language"):
        config(combine=CombineOptions(weights={"klingon": 2}))
    with pytest.raises(ConfigError, match="source language spa_Latn is given twice"):
        config(combine=CombineOptions(weights={"es": 2, "spa": 1}))
    with pytest.raises(ConfigError, match=r"min_votes 4 is more than the 3 source language\(s\)"):
        config(combine=CombineOptions(min_votes=4))
    assert config(combine="union").combine == CombineOptions("union")
    with pytest.raises(ConfigError, match="apply to --parallel sources"):
        config(parallel=False, combine=CombineOptions("union"))
    with pytest.raises(ConfigError, match="cannot project the other --parallel sources"):
        config(method="markers")
    with pytest.raises(ConfigError, match="unknown projection method"):
        config(method="nope")
    weighted = config(combine=CombineOptions("weighted", weights={"German": 2}))
    assert weighted.combine.weights == {"deu_Latn": 2.0}
    assert weighted.voters == (EN_, ES_, DE_)
    canonical = weighted.canonical()
    assert canonical["sources"] == ["en.conll:eng_Latn", "es.conll:spa_Latn", "de.conll:deu_Latn"]
    assert canonical["combine"] == {"rule": "weighted", "min_votes": None, "weights": {DE_: 2.0}}
    assert "combine" not in config(parallel=False).canonical()
    assert "src_lang" not in canonical and canonical["tgt_lang"] == "yor_Latn"
    assert LabelledSource.parse("C:/data/en.conll:en") == LabelledSource("C:/data/en.conll", "en")


# --- separate sources -----------------------------------------------------------------------------


def test_separate_sources_keep_their_order_and_language() -> None:
    spanish = Sentence(["Juan", "vive"], ["B-PER", "O"], 1, "es.conll")
    separate = config(parallel=False)
    items = [SourcedSentence(EN, 0), SourcedSentence(spanish, 1), SourcedSentence(DE, 2)]
    engines = Engines(translator=(translator := Translator()), aligner=Aligner())
    results = list(translate_train_each(engines, items, separate))
    assert [r.name for r in results] == [s.name for s in separate.sources]
    assert [r.result.index for r in results] == [0, 1, 2]
    assert [r.input for r in results] == items
    assert results[1].tags == ["B-PER", "O"] and results[1].explain()["from"] == results[1].name
    singles = [
        next(translate_train(Engines(translator=Translator(), aligner=Aligner()), [s], lang, "yor"))
        for s, lang in ((EN, "en"), (spanish, "es"), (DE, "de"))
    ]
    assert [r.result.tags for r in results] == [r.tags for r in singles]
    assert translator.calls == [[" ".join(s.tokens)] for s in (EN, spanish, DE)]


# --- the file job ---------------------------------------------------------------------------------


def _files(tmp_path: Path, rows: int = 5) -> dict[str, Path]:
    """en, es and de CoNLL files of ``rows`` parallel sentences (the hand-made ones, varied)."""
    paths = {}
    for name, sentence in (("en", EN), ("es", ES), ("de", DE)):
        variants = [
            Sentence([f"{w}{k}" if w[0].islower() else w for w in sentence.tokens], sentence.tags)
            for k in range(rows)
        ]
        paths[name] = tmp_path / f"{name}.conll"
        write_sentences(variants, paths[name])
    return paths


def _spec(paths: dict[str, Path], langs: str = "en,es,de") -> tuple[LabelledSource, ...]:
    return tuple(LabelledSource(str(paths[lang]), lang) for lang in split(langs))


def split(text: str) -> list[str]:
    return text.split(",")


def interrupt_after(count: int):
    def wrap(items):
        for k, item in enumerate(items):
            if k == count:
                raise KeyboardInterrupt
            yield item

    return wrap


def test_separate_files_are_concatenated_with_their_source(tmp_path: Path) -> None:
    paths = _files(tmp_path, rows=2)
    cfg = MultiSourceConfig(_spec(paths, "en,es"), "yor")
    out = tmp_path / "out.conll"
    summary = run_translate_train_sources(fakes(), FileJobConfig(output=out), cfg)
    assert (summary.sentences, summary.written) == (4, 4)
    text = out.read_text(encoding="utf-8")
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert comments == [f"# source: {paths['en']}"] * 2 + [f"# source: {paths['es']}"] * 2
    blocks = text.split("\n\n")
    assert all(block.startswith("# source: ") for block in blocks if block)
    back = list(read_sentences(out))  # the comments read back as comments
    single = tmp_path / "single.conll"
    expected = []
    for name, lang in (("en", "en"), ("es", "es")):
        run_translate_train(fakes(), FileJobConfig(paths[name], single, force=True),
                            TranslateTrainConfig(lang, "yor"))  # fmt: skip
        expected += list(read_sentences(single))
    assert [(s.tokens, s.tags) for s in back] == [(s.tokens, s.tags) for s in expected]
    jsonl = tmp_path / "out.jsonl"
    run_translate_train_sources(fakes(), FileJobConfig(output=jsonl), cfg)
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in records] == [cfg.sources[0].name] * 2 + [cfg.sources[1].name] * 2
    assert [r["tokens"] for r in records] == [s.tokens for s in expected]


def test_parallel_files_write_the_combination_with_its_sources(tmp_path: Path) -> None:
    paths = _files(tmp_path, rows=3)
    cfg = MultiSourceConfig(_spec(paths), "yor", parallel=True)
    out = tmp_path / "out.jsonl"
    explain = tmp_path / "explain.jsonl"
    summary = run_translate_train_sources(fakes(), FileJobConfig(output=out, explain=explain), cfg)
    assert (summary.sentences, summary.written, summary.incomplete) == (3, 3, 0)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(r["tags"] == ["B-PER", "O", "B-PER", "O", "B-LOC"] for r in records)
    assert [s["sources"] for s in records[0]["spans"]] == [[EN_, ES_, DE_], [EN_, DE_], [EN_, ES_]]
    reviews = [json.loads(line) for line in explain.read_text(encoding="utf-8").splitlines()]
    assert [r["status"] for r in reviews] == ["ok"] * 3
    assert len(reviews[2]["sources"]) == 3


def test_parallel_files_must_hold_as_many_sentences(tmp_path: Path) -> None:
    paths = _files(tmp_path, rows=3)
    write_sentences(list(read_sentences(paths["es"]))[:2], paths["es"])
    cfg = MultiSourceConfig(_spec(paths), "yor", parallel=True)
    out = tmp_path / "out.conll"
    with pytest.raises(InputError, match=r"es.conll: has 2 sentences but .*en.conll has 3"):
        run_translate_train_sources(fakes(), FileJobConfig(output=out), cfg)
    assert not out.exists()


@pytest.mark.parametrize("parallel", [True, False])
def test_an_interrupted_run_resumes_to_the_uninterrupted_output(
    tmp_path: Path, parallel: bool
) -> None:
    paths = _files(tmp_path, rows=7)
    cfg = MultiSourceConfig(_spec(paths), "yor", parallel=parallel, chunk_size=2)
    reference = tmp_path / "ref.conll"
    run_translate_train_sources(fakes(), FileJobConfig(output=reference), cfg)
    out = tmp_path / "out.conll"
    with pytest.raises(KeyboardInterrupt):
        run_translate_train_sources(
            fakes(), FileJobConfig(output=out), cfg, progress=interrupt_after(5)
        )
    assert json.loads(progress_path(out).read_text())["sentences_done"] == 4
    if parallel:  # other settings are refused, naming them
        other = MultiSourceConfig(
            _spec(paths), "yor", parallel=True, chunk_size=2, combine=CombineOptions("union")
        )
        with pytest.raises(ConfigError, match=r"settings differ .*combine"):
            run_translate_train_sources(fakes(), FileJobConfig(output=out, resume=True), other)
    summary = run_translate_train_sources(fakes(), FileJobConfig(output=out, resume=True), cfg)
    total = 7 if parallel else 21
    assert (summary.resumed, summary.processed, summary.sentences) == (4, total - 4, total)
    assert out.read_bytes() == reference.read_bytes()


# --- the command ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sources", "en.conll"], "bad entry 'en.conll'; write FILE:LANG"),
        (["--sources", "en.conll:klingon"], "source en.conll: unknown language"),
        (["--sources", "missing.conll:eng_Latn"], "missing.conll: no such file"),
        (["--sources", "en.conll:en", "en.conll"], "give SOURCE with --src-lang, or --sources"),
        ([], "needs SOURCE and --src-lang, or --sources"),
        (["--src-lang", "en", "en.conll", "--parallel"], "go with --sources"),
        (["--sources", "en.conll:en,es.conll:es", "--weights", "es"], "--weights: bad entry"),
        (["--sources", "en.conll:en,es.conll:es", "--combine", "all"], "unknown combine rule"),
        (["--sources", "en.conll:en,es.conll:es", "--parallel"], "has 2 sentences but"),
    ],
)
def test_bad_commands_fail_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    _files(tmp_path, rows=3)
    write_sentences(list(read_sentences(tmp_path / "es.conll"))[:2], tmp_path / "es.conll")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["translate-train", "--bundle", str(tmp_path), "--tgt-lang", "yor", *args]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xner: error: "), result.output
    assert message in lines[0]


# --- the tiny bundle, real Europarl sentences -----------------------------------------------------


@pytest.fixture(scope="module")
def europarl(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 20 sentences of the Europarl NER test set in en, es and de (parallel)."""
    folder = tmp_path_factory.mktemp("europarl")
    for lang in ("en", "es", "de"):
        sentences = read_sentences(shared_data / "europarl_ner" / f"{lang}.test.conll")
        write_sentences(itertools.islice(sentences, 20), folder / f"{lang}.conll")
    return folder


@pytest.mark.slow
def test_europarl_parallel_equals_a_hand_combination(tiny_bundle: Path, europarl: Path) -> None:
    engines = Engines(tiny_bundle, intra_threads=1)
    read = {lang: list(read_sentences(europarl / f"{lang}.conll")) for lang in ("en", "es", "de")}
    cfg = MultiSourceConfig(
        tuple(LabelledSource(str(europarl / f"{lang}.conll"), lang) for lang in read),
        "yor",
        parallel=True,
        chunk_size=8,
    )
    results = list(translate_train_sources(engines, zip(*read.values(), strict=True), cfg))
    # by hand: translate-train from English, project es and de onto its translations, vote
    firsts = list(translate_train(engines, read["en"], TranslateTrainConfig("en", "yor")))
    targets = [r.tokens for r in firsts]
    others = list(project_sources(engines, {ES_: read["es"], DE_: read["de"]}, targets, "yor"))
    assert len(results) == 20
    for result, first, more in zip(results, firsts, others, strict=True):
        assert result.tokens == first.tokens
        mine = None if first.error else list(zip(first.spans, first.confidences, strict=True))
        votes = {EN_: mine}
        for lang, projected in more.items():
            votes[lang] = None if projected is None else [
                (s, c) for s, c in zip(projected.spans, projected.confidences or [], strict=True)
            ]  # fmt: skip
        expected = combine_spans(votes, CombineOptions())
        assert result.spans == [c.span for c in expected]
        assert result.voters == [c.voters for c in expected]
    assert sum(len(r.spans) for r in results) > 0  # the tiny models do project something


@pytest.mark.slow
def test_europarl_command_torch_free(tiny_bundle: Path, europarl: Path) -> None:
    """Both forms of the command end to end in an interpreter where torch cannot be imported:
    the parallel JSONL equals the library's results; the separate CoNLL equals the three
    single-source runs, each block after its source's comment."""
    base = ["translate-train", "--bundle", str(tiny_bundle), "--skip-verify", "--device", "cpu"]
    base += ["--tgt-lang", "yor", "--intra-threads", "1"]
    sources = "en.conll:eng_Latn,es.conll:spa_Latn,de.conll:deu_Latn"
    done = run_cli_torch_free(
        [*base, "--sources", sources, "--parallel", "-o", "par.jsonl", "--on-error", "copy-O"],
        cwd=europarl,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (europarl / "par.jsonl").read_text().splitlines()]
    engines = Engines(tiny_bundle, intra_threads=1)
    read = [list(read_sentences(europarl / f"{lang}.conll")) for lang in ("en", "es", "de")]
    cfg = MultiSourceConfig(parse_sources(sources), "yor", parallel=True)
    expected = list(translate_train_sources(engines, zip(*read, strict=True), cfg))
    assert [r["tokens"] for r in records] == [r.tokens for r in expected]
    assert [r["tags"] for r in records] == [r.tags for r in expected]
    assert [[s["sources"] for s in r["spans"]] for r in records] == [
        [list(v) for v in r.voters] for r in expected
    ]
    done = run_cli_torch_free([*base, "--sources", sources, "-o", "sep.conll"], cwd=europarl)
    assert done.returncode == 0, done.stderr
    wanted = []
    for lang in ("en", "es", "de"):
        single = run_cli_torch_free(
            [*base, "--src-lang", lang, f"{lang}.conll", "-o", f"{lang}.out.conll"], cwd=europarl
        )
        assert single.returncode == 0, single.stderr
        blocks = (europarl / f"{lang}.out.conll").read_text().split("\n\n")
        wanted += [f"# source: {lang}.conll\n{block}\n\n" for block in blocks if block.strip()]
    assert (europarl / "sep.conll").read_text() == "".join(wanted)
