"""Output paths: checked before any work, named as given; file modes; options checked early."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.bundles.bundle import Bundle
from xner.runtime.engines.aligner import Aligner
from xner.runtime.engines.tagger import Tagger
from xner.runtime.engines.translator import Translator
from xner.runtime.errors import InputError
from xner.runtime.files.atomic import atomic_write, check_output
from xner.runtime.jobs import run_translate_test  # noqa: F401  (imported before patching)
from xner.runtime.jobs.resume import Checkpoint, CommittedOutput

runner = CliRunner()
ROOT_SEES_ALL = hasattr(os, "geteuid") and os.geteuid() == 0


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield 0o644
    os.umask(old)


def test_check_output_names_the_given_path_and_creates_nothing(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n", encoding="utf-8")
    folder = tmp_path / "d.conll"
    folder.mkdir()
    cases = [
        (notes / "out.conll", "cannot create its folder: .*notes.txt is not a folder"),
        (notes / "deeper" / "out.conll", "notes.txt is not a folder"),
        (folder, "is a folder; give a file name for the output"),
        (f"{tmp_path / 'new'}/", "is a folder"),
    ]
    for path, problem in cases:
        with pytest.raises(InputError, match=problem) as caught:
            check_output(path)
        assert caught.value.path == str(path)
    with pytest.raises(InputError, match="d.conll: is a folder"):
        check_output(tmp_path / "ok.conll", companions=[folder])
    check_output("-")
    check_output(tmp_path / "a" / "b" / "out.conll")  # a folder that can be created
    check_output(notes)  # an existing file is replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.conll", "notes.txt"]


def test_check_output_refuses_a_read_only_folder(tmp_path: Path, monkeypatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if ROOT_SEES_ALL or os.name == "nt":  # root writes anywhere: play an ordinary user
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: Path(p) != locked and real(p, m))
    with pytest.raises(InputError, match="cannot write in .*locked: permission denied"):
        check_output(locked / "out.conll")


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_atomic_write_gives_the_usual_mode_and_keeps_a_replaced_files(tmp_path, umask_022):
    new = tmp_path / "new.txt"
    with atomic_write(new) as handle:
        handle.write("x\n")
    assert mode_of(new) == umask_022  # 0666 & ~umask, not mkstemp's 0600
    os.umask(0o002)
    other = tmp_path / "group.txt"
    with atomic_write(other) as handle:
        handle.write("x\n")
    assert mode_of(other) == 0o664
    private = tmp_path / "private.txt"
    private.write_text("old\n", encoding="utf-8")
    os.chmod(private, 0o600)
    shared = tmp_path / "shared.txt"
    shared.write_text("old\n", encoding="utf-8")
    os.chmod(shared, 0o640)
    for path, expected in ((private, 0o600), (shared, 0o640)):
        with atomic_write(path) as handle:
            handle.write("new\n")
        assert mode_of(path) == expected and path.read_text(encoding="utf-8") == "new\n"


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_resumable_outputs_get_the_same_modes(tmp_path, umask_022) -> None:
    new, kept = tmp_path / "new.conll", tmp_path / "kept.conll"
    kept.write_text("old\n", encoding="utf-8")
    os.chmod(kept, 0o640)
    for path in (new, kept):
        out = CommittedOutput({"output": path}, {})
        out.open()
        out.commit({"output": "a\tO\n"}, Checkpoint(1, "d", {}))
        out.finish(Checkpoint(1, "d", {}))
        assert path.read_text(encoding="utf-8") == "a\tO\n"
    assert mode_of(new) == umask_022 and mode_of(kept) == 0o640


def test_atomic_write_names_the_target_not_its_temporary_file(tmp_path: Path) -> None:
    folder = tmp_path / "out.conll"
    folder.mkdir()
    with pytest.raises(InputError, match="out.conll: is a folder"), atomic_write(folder) as h:
        h.write("never\n")
    assert [p.name for p in tmp_path.iterdir()] == ["out.conll"]


# --- every writing command: a bad output path fails first, in one line ------------------------


@pytest.fixture
def no_models(monkeypatch):
    """Make loading a bundle or building an engine fail the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a bundle or a model was loaded before the options were checked")

    monkeypatch.setattr(Bundle, "load", refuse)
    for engine in (Translator, Tagger, Aligner):
        monkeypatch.setattr(engine, "__init__", refuse)


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    """Small valid inputs for every command, and a folder that looks like a bundle."""
    files = {
        "text": ("in.txt", "Aminu ya tafi Kano\n"),
        "conll": ("in.conll", "Aminu\tB-PER\nya\tO\ntafi\tO\nKano\tB-LOC\n"),
        "links": ("links.txt", "0-0 3-3\n"),
    }
    out = {}
    for name, (file, text) in files.items():
        out[name] = tmp_path / file
        out[name].write_text(text, encoding="utf-8")
    out["bundle"] = tmp_path / "bundle"
    out["bundle"].mkdir()
    (out["bundle"] / "manifest.json").write_text("{}", encoding="utf-8")
    out["data"] = tmp_path / "data"
    out["data"].mkdir()
    return out


def commands(i: dict[str, Path], out: str) -> dict[str, list[str]]:
    b = str(i["bundle"])
    return {
        "translate-test": ["translate-test", "-b", b, "--lang", "hau", str(i["text"]), "-o", out],
        "translate-train": [
            "translate-train", "-b", b, "--src-lang", "hau", "--tgt-lang", "eng",
            str(i["conll"]), "-o", out,
        ],
        "tag": ["tag", "-b", b, str(i["text"]), "-o", out],
        "project": [
            "project", "--source", str(i["conll"]), "--target", str(i["text"]),
            "--alignments", str(i["links"]), "-o", out,
        ],
        "convert": ["convert", str(i["conll"]), out],
        "translate": [
            "translate", "-b", b, "--src-lang", "hau", "--tgt-lang", "eng", str(i["text"]),
            "-o", out,
        ],
        "align": ["align", "-b", b, str(i["text"]), str(i["text"]), "-o", out],
    }  # fmt: skip


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "name",
    ["translate-test", "translate-train", "tag", "project", "convert", "translate", "align"],
)
def test_a_bad_output_path_fails_first_naming_it(name, inputs, tmp_path, no_models) -> None:
    (tmp_path / "notes.txt").write_text("mine\n", encoding="utf-8")
    (tmp_path / "d.conll").mkdir()
    before = listing(tmp_path)
    cases = {
        str(tmp_path / "notes.txt" / "out.conll"): "is not a folder",
        str(tmp_path / "d.conll"): "is a folder; give a file name",
    }
    for out, problem in cases.items():
        result = runner.invoke(app, commands(inputs, out)[name])
        assert result.exit_code == 2, (name, out, result.output, result.exception)
        lines = result.stderr.strip().splitlines()
        assert lines == [lines[0]] and lines[0].startswith(f"xner: error: {out}: "), lines
        assert problem in lines[0]
        assert listing(tmp_path) == before, name  # no temporary, partial or progress file


def test_experiment_checks_its_output_folder_first(inputs, tmp_path, no_models) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("mine\n", encoding="utf-8")
    before = listing(tmp_path)
    b, data = str(inputs["bundle"]), str(inputs["data"])
    for out in (notes, notes / "results"):
        args = ["experiment", "-b", b, "--data", data, "--langs", "hau", "-o", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (result.output, result.exception)
        assert result.stderr.startswith(f"xner: error: {out}"), result.stderr
        assert "is not a folder" in result.stderr
        assert result.stderr.count("\n") == 1 and listing(tmp_path) == before


@pytest.mark.parametrize(
    ("name", "args", "problem"),
    [
        ("translate-test", ["--align-method", "foo"], "unknown alignment method 'foo'"),
        ("translate-test", ["--compute-type", "int9"], "unknown compute type 'int9'"),
        ("translate-test", ["--on-error", "ignore"], "unknown on-error policy 'ignore'"),
        ("translate-test", ["--method", "magic"], "magic"),
        ("translate-test", ["--tokenize", "spaces"], "unknown tokenizer 'spaces'"),
        ("translate-test", ["--lang", "klingonish"], "unknown language"),
        ("translate-test", ["--to", "text"], "tags cannot be written as text"),
        ("translate-test", ["--device", "tpu"], "unknown device 'tpu'"),
        ("translate-test", ["--exact"], "--exact belongs to --method ngram"),
        ("translate-train", ["--align-method", "foo"], "unknown alignment method 'foo'"),
        ("translate-train", ["--compute-type", "int9"], "unknown compute type 'int9'"),
        ("translate-train", ["--on-error", "ignore"], "unknown on-error policy 'ignore'"),
        ("translate-train", ["--tgt-lang", "klingonish"], "unknown language"),
        ("translate-train", ["--from", "text"], "translate-train needs labelled input"),
        ("tag", ["--on-error", "ignore"], "unknown on-error policy 'ignore'"),
        ("tag", ["--tokenize", "spaces"], "unknown tokenizer 'spaces'"),
        ("tag", ["--lang", "klingonish"], "unknown language"),
        ("tag", ["--to", "text"], "tags cannot be written as text"),
        ("translate", ["--compute-type", "int9"], "unknown compute type 'int9'"),
        ("translate", ["--beam-size", "0"], "--beam-size"),
        ("translate", ["--tgt-lang", "klingonish"], "unknown language"),
        ("align", ["--method", "foo"], "unknown alignment method 'foo'"),
    ],
)
def test_a_bad_option_fails_before_any_model(name, args, problem, inputs, tmp_path, no_models):
    out = str(tmp_path / "out.conll")
    result = runner.invoke(app, [*commands(inputs, out)[name], *args])
    assert result.exit_code == 2, (result.output, result.exception)
    assert problem in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out")]


# --- with a real bundle: checks that need its manifest come before any engine is built ----------


@pytest.fixture
def no_engines(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an engine was built before the options were checked")

    for engine in (Translator, Tagger, Aligner):
        monkeypatch.setattr(engine, "__init__", refuse)


@pytest.mark.slow
def test_labels_and_resume_settings_are_checked_before_any_engine(
    tiny_bundle, inputs, tmp_path, no_engines
) -> None:
    out = tmp_path / "out.conll"
    base = ["translate-test", "-b", str(tiny_bundle), "--lang", "hau", str(inputs["text"])]
    dropped = runner.invoke(app, [*base, "-o", str(out), "--drop", "FOO"])
    assert dropped.exit_code == 2 and "unknown entity type to drop 'FOO'" in dropped.stderr
    sidecar = Path(f"{out}.progress.json")
    sidecar.write_text(
        json.dumps(
            {
                "format": "xner-progress",
                "version": 1,
                "fingerprint": {"compute_type": "int8"},
                "sentences_done": 0,
                "committed_bytes": {"output": 0},
            }
        ),
        encoding="utf-8",
    )
    Path(f"{out}.partial").write_bytes(b"")
    args = [*base, "-o", str(out), "--resume", "--compute-type", "float32", "--skip-verify"]
    resumed = runner.invoke(app, args)
    assert resumed.exit_code == 2, (resumed.output, resumed.exception)
    assert "--resume: settings differ from the interrupted run" in resumed.stderr
    assert "compute_type int8 -> float32" in resumed.stderr
