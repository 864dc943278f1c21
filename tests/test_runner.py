"""The one runner of every file job (xner.runtime.jobs.runner): results that carry their input,
the on-error policies, resumption, and the same --resume/--force rules on every long command."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.files.formats import read_sentences
from xner.runtime.jobs import FileJobConfig, ProjectConfig, run_project
from xner.runtime.jobs.resume import progress_path
from xner.runtime.jobs.runner import FileJob, NoLabels, Written, run_job
from xner.runtime.projection import Projected
from xner.runtime.projection.registry import register_method, unregister_method

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "swahili"
SOURCE, TARGET = EXAMPLE / "english.conll", EXAMPLE / "swahili.txt"
LINKS = EXAMPLE / "english-swahili.talp"


@dataclass(frozen=True)
class Line:
    text: str
    line: int
    source: str


@dataclass(frozen=True)
class Shouted(NoLabels):
    """A toy result: the line upper-cased, or an error for lines holding 'bad'."""

    input: Line | None
    text: str

    def explain(self) -> dict[str, Any]:
        return {"text": self.text}


def lines_of(path: Path) -> Iterator[Line]:
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        yield Line(text, number, str(path))


def shout(lines: Iterator[Line]) -> Iterator[Shouted]:
    for line in lines:
        error = "a bad line" if "bad" in line.text else None
        yield Shouted(line, line.text.upper(), error=error)


def toy_job(source: Path, files: FileJobConfig, progress: Any = None) -> FileJob[Line, Shouted]:
    return FileJob(
        "shout",
        files,
        {"command": "shout"},
        lines_of(source),
        lambda line: line.text,
        shout,
        lambda result: Written(("o " if result.error else "") + result.text + "\n"),
        3,
        progress,
    )


def stop_after(count: int) -> Any:
    def wrap(items: Any) -> Iterator[Any]:
        for k, item in enumerate(items):
            if k == count:
                raise KeyboardInterrupt
            yield item

    return wrap


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("".join(f"line {k}\n" for k in range(10)), encoding="utf-8")
    return path


def test_an_interrupted_job_resumes_to_the_uninterrupted_output(source, tmp_path) -> None:
    reference, out = tmp_path / "reference.txt", tmp_path / "out.txt"
    full = run_job(toy_job(source, FileJobConfig(source, reference)))
    assert (full.sentences, full.written) == (10, 10)
    with pytest.raises(KeyboardInterrupt):
        run_job(toy_job(source, FileJobConfig(source, out), stop_after(7)))
    assert json.loads(progress_path(out).read_text())["sentences_done"] == 6
    with pytest.raises(ConfigError, match="pass --resume to continue it or --force"):
        run_job(toy_job(source, FileJobConfig(source, out)))
    other = tmp_path / "other.txt"
    other.write_text("line 0\nline X\n" + "".join(f"line {k}\n" for k in range(2, 10)))
    with pytest.raises(ConfigError, match="the first 6 sentences of .* differ"):
        run_job(toy_job(other, FileJobConfig(other, out, resume=True)))
    summary = run_job(toy_job(source, FileJobConfig(source, out, resume=True)))
    assert (summary.resumed, summary.processed, summary.sentences) == (6, 4, 10)
    assert (
        out.read_bytes()
        == reference.read_bytes()
        == b"".join(f"LINE {k}\n".encode() for k in range(10))
    )


def test_each_on_error_policy(tmp_path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one\nbad two\nthree\n", encoding="utf-8")
    copied = run_job(toy_job(source, FileJobConfig(source, tmp_path / "c.txt")))
    assert (tmp_path / "c.txt").read_text() == "ONE\no BAD TWO\nTHREE\n"
    assert (copied.failed, copied.copied, copied.written) == (1, 1, 3)
    assert copied.problems == [f"{source}:2: a bad line"]
    skipped = run_job(toy_job(source, FileJobConfig(source, tmp_path / "s.txt", on_error="skip")))
    assert (tmp_path / "s.txt").read_text() == "ONE\nTHREE\n"
    assert (skipped.failed, skipped.skipped, skipped.written) == (1, 1, 2)
    with pytest.raises(InputError, match=r"in.txt:2: a bad line$"):
        run_job(toy_job(source, FileJobConfig(source, tmp_path / "f.txt", on_error="fail")))
    assert not (tmp_path / "f.txt").exists()  # nothing committed: nothing left behind


def test_a_result_without_its_input_is_refused(source, tmp_path) -> None:
    def lost(lines: Iterator[Line]) -> Iterator[Shouted]:
        return (dataclasses.replace(r, input=None) for r in shout(lines))

    job = toy_job(source, FileJobConfig(source, tmp_path / "o.txt"))
    with pytest.raises(TypeError, match="a result without its input"):
        run_job(dataclasses.replace(job, pipeline=lost))


def test_a_pipeline_that_fails_to_start_leaves_no_file(source, tmp_path) -> None:
    """Output on stdout with an explain file: a pipeline that fails when it is built (an engine
    that cannot load, a language the model lacks) leaves no file behind."""

    def broken(lines: Iterator[Line]) -> Iterator[Shouted]:
        raise ConfigError("the model cannot start")

    folder = tmp_path / "explain"
    folder.mkdir()
    files = FileJobConfig(source, "-", explain=folder / "e.jsonl")
    with pytest.raises(ConfigError, match="cannot start"):
        run_job(dataclasses.replace(toy_job(source, files), pipeline=broken))
    assert list(folder.iterdir()) == []


# --- project: one sentence that cannot be projected fails alone, as FILE:LINE ------------------


@dataclass(frozen=True)
class SixOptions:
    """No options."""


@pytest.fixture
def fails_on_six():
    """A projection method that labels every target word 1 and refuses 6-word targets."""

    def method(batch: Any, options: SixOptions) -> list[Projected]:
        lengths = [int(n) for n in batch.target_lengths]
        if 6 in lengths:
            raise ValueError(f"sentence {lengths.index(6) + 1}: six words")
        return [Projected([Span(1, 2, "LOC")] if n > 1 else []) for n in lengths]

    register_method("fails-on-six", SixOptions)(method)
    yield "fails-on-six"
    unregister_method("fails-on-six")


def test_project_isolates_the_sentence_that_fails(fails_on_six, tmp_path) -> None:
    """Before the runner, the method's ValueError escaped ``xner project`` as a traceback."""
    out = tmp_path / "o.conll"
    args = ["project", "--source", str(SOURCE), "--target", str(TARGET)]
    args += ["--alignments", str(LINKS), "-o", str(out), "--method", fails_on_six]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"xner: error: {LINKS}:1: projection failed: sentence 1: six words\n"
    assert not out.exists()
    config = ProjectConfig(TARGET, LINKS, fails_on_six, chunk_size=4)
    summary = run_project(FileJobConfig(SOURCE, out, on_error="copy-O"), config)
    targets = list(read_sentences(TARGET))
    tags = [s.tags for s in read_sentences(out)]
    assert (summary.failed, summary.copied, summary.sentences) == (1, 1, len(targets))
    assert tags[0] == ["O"] * 6  # the failed sentence, written with O tags
    assert all(t[1] == "B-LOC" for t in tags[1:])  # the others projected in spite of it


# --- every long command: the same --resume / --force rules ------------------------------------


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    text, conll = tmp_path / "in.txt", tmp_path / "in.conll"
    text.write_text("Aminu ya tafi Kano\n", encoding="utf-8")
    conll.write_text("Aminu\tB-PER\nya\tO\ntafi\tO\nKano\tB-LOC\n", encoding="utf-8")
    links = tmp_path / "links.txt"
    links.write_text("0-0 3-3\n", encoding="utf-8")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}", encoding="utf-8")
    return {"text": str(text), "conll": str(conll), "links": str(links), "bundle": str(bundle)}


def long_commands(i: dict[str, str]) -> dict[str, list[str]]:
    b = ["-b", i["bundle"]]
    return {
        "translate-test": ["translate-test", *b, "--lang", "hau", i["text"]],
        "translate-train": ["translate-train", *b, "--src-lang", "eng", "--tgt-lang", "hau",
                            i["conll"]],
        "tag": ["tag", *b, i["text"]],
        "translate": ["translate", *b, "--src-lang", "hau", "--tgt-lang", "eng", i["text"]],
        "align": ["align", *b, i["text"], i["text"]],
        "project": ["project", "--source", i["conll"], "--target", i["text"], "--alignments",
                    i["links"]],
    }  # fmt: skip


LONG = ["translate-test", "translate-train", "tag", "translate", "align", "project"]


@pytest.mark.parametrize("name", LONG)
def test_every_long_command_refuses_to_resume_stdout(name, inputs) -> None:
    for flag in ("--resume", "--force"):
        result = CliRunner().invoke(app, [*long_commands(inputs)[name], "-o", "-", flag])
        assert result.exit_code == 2, (name, result.output)
        assert result.stderr == (
            "xner: error: --resume and --force need an output file (-o FILE), not stdout\n"
        )


@pytest.mark.slow
@pytest.mark.parametrize("name", LONG)
def test_every_long_command_finds_an_interrupted_run(name, inputs, tiny_bundle, tmp_path):
    inputs["bundle"] = str(tiny_bundle)
    out = tmp_path / "out.jsonl"
    progress_path(out).write_text(
        json.dumps(
            {"format": "xner-progress", "sentences_done": 3, "committed_bytes": {"output": 0}}
        ),
        encoding="utf-8",
    )
    verify = [] if name == "project" else ["--skip-verify"]
    result = CliRunner().invoke(app, [*long_commands(inputs)[name], *verify, "-o", str(out)])
    assert result.exit_code == 2, (name, result.output)
    assert result.stderr == (
        f"xner: error: {out} has an interrupted run (3 sentences done, see "
        f"{progress_path(out)}); pass --resume to continue it or --force to start over\n"
    )


# --- the file side of a job is checked once, when it is made ----------------------------------


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"on_error": "ignore"}, "unknown on-error policy 'ignore'"),
        ({"resume": True}, "--resume and --force need an output file"),
        ({"output": "o.conll", "explain": "-"}, "the explain records need a file"),
        ({"gold": "g.conll", "evaluate": True}, "give a gold file or evaluate"),
    ],
)
def test_file_job_config_refuses_bad_settings(settings, problem) -> None:
    with pytest.raises(ConfigError, match=problem):
        FileJobConfig("in.txt", **settings)


def test_file_job_config_normalises_once() -> None:
    files = FileJobConfig("in.txt", "o.conll", explain="e.jsonl", ignore="DATE, MISC,")
    assert files.ignore == frozenset({"DATE", "MISC"}) and files.explain == Path("e.jsonl")
    assert files.policy == "copy-O" and not files.stdout and not files.evaluates
    assert files.canonical() == {
        "tokenize": None,
        "explain": True,
        "gold": False,
        "evaluate": False,
        "ignore": ["DATE", "MISC"],
    }
