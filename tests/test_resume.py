"""Long jobs: committed chunks, kill and resume, the progress sidecar's rules, bounded reading."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xner.runtime.data import Sentence
from xner.runtime.engines.translator import Translation, Translator
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.files.formats import read_sentences, write_sentences
from xner.runtime.jobs import FileJobConfig, run_model_transfer, run_translate_test
from xner.runtime.jobs.resume import Checkpoint, CommittedOutput, partial_path, progress_path
from xner.runtime.pipelines import Engines
from xner.runtime.pipelines.configs import ModelTransferConfig, TranslateTestConfig


@pytest.fixture(scope="module")
def engines(tiny_bundle: Path) -> Engines:
    return Engines(tiny_bundle, intra_threads=1)


@pytest.fixture(scope="module")
def hausa(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 200 sentences of MasakhaNER 2.0 Hausa test (gold tags kept)."""
    out = tmp_path_factory.mktemp("hausa") / "hau.conll"
    sentences = read_sentences(shared_data / "masakhaner2" / "hau.test.conll")
    write_sentences(itertools.islice(sentences, 200), out)
    return out


def xner(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "xner.cli.main", *(str(a) for a in args)]


def interrupt_after(count: int):
    """A progress hook that stops the job (as Ctrl-C would) when result ``count`` arrives."""

    def wrap(items):
        for k, item in enumerate(items):
            if k == count:
                raise KeyboardInterrupt
            yield item

    return wrap


def test_killed_run_resumes_to_the_uninterrupted_output(tiny_bundle, hausa, tmp_path) -> None:
    def command(out: Path) -> list[str]:
        return xner(
            "translate-test", "-b", tiny_bundle, "--lang", "hau", hausa, "-o", out,
            "--explain", out.with_suffix(".explain.jsonl"), "--chunk-size", "10",
            "--intra-threads", "1", "--skip-verify",
        )  # fmt: skip

    reference, out = tmp_path / "reference.conll", tmp_path / "out.conll"
    assert subprocess.run(command(reference), capture_output=True).returncode == 0
    sidecar = progress_path(out)
    child = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    deadline = time.monotonic() + 60
    while child.poll() is None and time.monotonic() < deadline:
        try:
            done = json.loads(sidecar.read_text(encoding="utf-8"))["sentences_done"]
        except (FileNotFoundError, json.JSONDecodeError):
            done = 0
        if done > 0:
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the job ended before it could be killed"
    assert 0 < done < 200 and not out.exists()
    # bytes written after the last commit (a chunk cut short by the kill) are dropped on resume
    for path in (out, out.with_suffix(".explain.jsonl")):
        with open(partial_path(path), "ab") as handle:
            handle.write(b"Uncommitted\tB-PER\n")
    resumed = subprocess.run([*command(out), "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stderr and "translate-test: 200 sentences" in resumed.stderr
    assert out.read_bytes() == reference.read_bytes()
    explain = out.with_suffix(".explain.jsonl").read_text(encoding="utf-8")
    assert explain == reference.with_suffix(".explain.jsonl").read_text(encoding="utf-8")
    assert [json.loads(line)["index"] for line in explain.splitlines()] == list(range(200))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == [
        "out.conll",
        "out.explain.jsonl",
    ]


def test_interrupted_evaluation_covers_the_whole_input(engines, hausa, tmp_path) -> None:
    source = tmp_path / "in.conll"
    write_sentences(itertools.islice(read_sentences(hausa), 20), source)
    config = ModelTransferConfig("hau", chunk_size=4)

    def files(out: Path, **more) -> FileJobConfig:
        return FileJobConfig(source, out, evaluate=True, ignore=frozenset({"DATE"}), **more)

    reference = run_model_transfer(engines, files(tmp_path / "ref.jsonl"), config)
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_model_transfer(engines, files(out), config, progress=interrupt_after(10))
    assert json.loads(progress_path(out).read_text())["sentences_done"] == 8
    with pytest.raises(ConfigError, match="pass --resume to continue it or --force"):
        run_model_transfer(engines, files(out), config)
    summary = run_model_transfer(engines, files(out, resume=True), config)
    assert (summary.resumed, summary.processed, summary.sentences) == (8, 12, 20)
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()
    assert summary.evaluation.to_dict() == reference.evaluation.to_dict()
    assert summary.evaluation.sentences == 20


def test_resume_refuses_other_settings_or_input(engines, hausa, tmp_path) -> None:
    source = tmp_path / "in.conll"
    sentences = list(itertools.islice(read_sentences(hausa), 12))
    write_sentences(sentences, source)
    out = tmp_path / "out.conll"
    config = ModelTransferConfig(chunk_size=4)
    dropping = ModelTransferConfig(drop=frozenset({"MISC"}), chunk_size=4)
    with pytest.raises(KeyboardInterrupt):
        run_model_transfer(engines, FileJobConfig(source, out), config, progress=interrupt_after(9))
    resumed = FileJobConfig(source, out, resume=True)
    with pytest.raises(
        ConfigError,
        match=r"settings differ from the interrupted run of .*: drop \[\] -> \[\"MISC\"\];",
    ):
        run_model_transfer(engines, resumed, dropping)
    changed = tmp_path / "changed.conll"
    write_sentences([Sentence(["Kano"], ["B-LOC"]), *sentences[1:]], changed)
    with pytest.raises(ConfigError, match="the first 8 sentences of .* differ"):
        run_model_transfer(engines, FileJobConfig(changed, out, resume=True), config)
    short = tmp_path / "short.conll"
    write_sentences(sentences[:5], short)
    with pytest.raises(ConfigError, match="has 5 sentences but the interrupted run had done 8"):
        run_model_transfer(engines, FileJobConfig(short, out, resume=True), config)
    fixed_later = tmp_path / "renamed.conll"  # same first 8 sentences: a legitimate resume
    write_sentences(sentences, fixed_later)
    summary = run_model_transfer(engines, FileJobConfig(fixed_later, out, resume=True), config)
    assert summary.resumed == 8 and summary.written == 12
    fresh = run_model_transfer(engines, FileJobConfig(source, out, force=True), config)
    assert fresh.resumed == 0 and fresh.written == 12


class BreaksOn:
    """A translator that raises on batches holding the word ``BOOM``."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def translate(self, sentences, *args, **kwargs) -> list[Translation]:
        if any("BOOM" in text for text in sentences):
            raise RuntimeError("the engine broke")
        return self.real.translate(sentences, *args, **kwargs)


def test_fail_policy_output_stays_resumable(engines, hausa, tmp_path) -> None:
    failing = Engines(
        translator=BreaksOn(engines.translator), tagger=engines.tagger, aligner=engines.aligner
    )
    sentences = list(itertools.islice(read_sentences(hausa), 8))
    sentences[5] = Sentence(["BOOM", *sentences[5].tokens], ["O", *sentences[5].tags])
    source = tmp_path / "in.conll"
    write_sentences(sentences, source)
    line = list(read_sentences(source))[5].line
    out, reference = tmp_path / "out.conll", tmp_path / "reference.conll"
    config = TranslateTestConfig("hau", chunk_size=2)
    with pytest.raises(InputError) as caught:
        run_translate_test(failing, FileJobConfig(source, out, on_error="fail"), config)
    assert str(caught.value) == (
        f"{source}:{line}: translation failed: the engine broke "
        f"(4 sentences before it are saved in {out}.partial: --resume)"
    )
    assert json.loads(progress_path(out).read_text())["sentences_done"] == 4
    resumed = run_translate_test(failing, FileJobConfig(source, out, resume=True), config)
    full = run_translate_test(failing, FileJobConfig(source, reference), config)
    assert out.read_bytes() == reference.read_bytes()
    assert (resumed.failed, resumed.copied, resumed.sentences) == (full.failed, full.copied, 8)


def test_resume_refuses_another_policy_once_it_shaped_the_output(engines, hausa, tmp_path):
    failing = Engines(
        translator=BreaksOn(engines.translator), tagger=engines.tagger, aligner=engines.aligner
    )
    sentences = list(itertools.islice(read_sentences(hausa), 8))
    sentences[1] = Sentence(["BOOM", *sentences[1].tokens], ["O", *sentences[1].tags])
    source = tmp_path / "in.conll"
    write_sentences(sentences, source)
    out = tmp_path / "out.conll"
    config = TranslateTestConfig("hau", chunk_size=2)
    with pytest.raises(KeyboardInterrupt):
        run_translate_test(failing, FileJobConfig(source, out), config, progress=interrupt_after(5))
    skipping = FileJobConfig(source, out, on_error="skip", resume=True)
    with pytest.raises(ConfigError, match=r"on_error copy-O -> skip \(1 failed sentences"):
        run_translate_test(failing, skipping, config)
    summary = run_translate_test(failing, FileJobConfig(source, out, resume=True), config)
    assert (summary.resumed, summary.copied, summary.sentences) == (4, 1, 8)


def test_committed_output_rules(tmp_path) -> None:
    out, explain = tmp_path / "o.txt", tmp_path / "e.txt"
    files = {"output": out, "explain": explain}
    first = CommittedOutput(files, {"k": 1})
    assert first.open() == Checkpoint()
    first.commit({"output": "a\n", "explain": "A\n"}, Checkpoint(1, "d1", {"n": 1}))
    first.commit({"output": "b\n"}, Checkpoint(2, "d2", {"n": 2}))
    first.close()  # a crash: the partial files stay
    with open(partial_path(out), "ab") as handle:
        handle.write(b"half a chunk")
    with pytest.raises(ConfigError, match="--resume to continue it or --force"):
        CommittedOutput(files, {"k": 1}).open()
    with pytest.raises(
        ConfigError, match="settings differ from the interrupted run of .*: k 1 -> 2;"
    ):
        CommittedOutput(files, {"k": 2}, resume=True).open()
    with pytest.raises(ConfigError, match="wrote explain, output, this one would write output"):
        CommittedOutput({"output": out}, {"k": 1}, resume=True).open()
    again = CommittedOutput(files, {"k": 1}, resume=True)
    assert again.open() == Checkpoint(2, "d2", {"n": 2})
    assert partial_path(out).read_bytes() == b"a\nb\n"  # the uncommitted bytes are gone
    again.commit({"output": "c\n", "explain": "C\n"}, Checkpoint(3, "d3", {}))
    again.finish(Checkpoint(3, "d3", {}))
    assert out.read_text() == "a\nb\nc\n" and explain.read_text() == "A\nC\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.txt", "o.txt"]


def test_committed_output_recovers_and_refuses(tmp_path, caplog) -> None:
    out = tmp_path / "o.txt"
    # a crash after the finished mark and before the renames: resume completes the job
    job = CommittedOutput({"output": out}, {})
    job.open()
    job.commit({"output": "x\n"}, Checkpoint(1, "d", {}))
    job._write_sidecar(Checkpoint(1, "d", {}, finished=True))
    job.close()
    assert CommittedOutput({"output": out}, {}, resume=True).open().finished
    assert out.read_text() == "x\n" and not progress_path(out).exists()
    # --resume with nothing to resume starts from the beginning, and says so
    with caplog.at_level("WARNING", logger="xner"):
        assert CommittedOutput({"output": out}, {}, resume=True).open() == Checkpoint()
    assert "nothing to resume" in caplog.text
    # a damaged sidecar or a lost partial file is refused unless --force
    progress_path(out).write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a valid progress file"):
        CommittedOutput({"output": out}, {}, resume=True).open()
    CommittedOutput({"output": out}, {}, force=True).open()
    job = CommittedOutput({"output": out}, {})
    job.discard()
    job = CommittedOutput({"output": out}, {})
    job.open()
    job.commit({"output": "y\n"}, Checkpoint(1, "d", {}))
    job.close()
    os.unlink(partial_path(out))
    with pytest.raises(ConfigError, match="is missing; pass --force"):
        CommittedOutput({"output": out}, {}, resume=True).open()


class CountingLines:
    """A text stream of ``n`` generated one-line sentences that counts the lines read."""

    name = "generated.txt"

    def __init__(self, sentences: list[list[str]], n: int) -> None:
        self.lines_read = 0
        self._lines = (" ".join(s) + "\n" for s in itertools.islice(itertools.cycle(sentences), n))

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.lines_read += 1
        return line

    def read(self, size: int = -1) -> str:  # only to look like a stream
        raise NotImplementedError


def test_a_job_reads_its_input_one_chunk_at_a_time(engines, hausa, tmp_path) -> None:
    sentences = [s.tokens for s in itertools.islice(read_sentences(hausa), 10)]
    stream = CountingLines(sentences, 400)
    seen: list[tuple[int, int]] = []

    def watch(items):
        for k, item in enumerate(items):
            seen.append((k, stream.lines_read))
            yield item

    summary = run_model_transfer(
        engines,
        FileJobConfig(stream, tmp_path / "o.conll", in_fmt="text"),
        ModelTransferConfig(chunk_size=16),
        progress=watch,
    )
    assert summary.written == 400 and len(seen) == 400
    assert all(read <= (k // 16 + 1) * 16 for k, read in seen)


# --- kill -9 at five points of a long job, for every resumable command --------------------------

KILLER = r"""
import os, signal, sys

point, count, engine = os.environ["XNER_TEST_KILL"].split(":")
count, calls = int(count), [0]


def hit():
    calls[0] += 1
    return calls[0] == count


def die():
    os.kill(os.getpid(), signal.SIGKILL)


from xner.runtime.jobs import resume as resumable

Out = resumable.CommittedOutput
if point == "start":  # the partial files and the first sidecar exist, nothing is done
    start = Out._start

    def _start(self):
        checkpoint = start(self)
        die()

    Out._start = _start
elif point == "engine":  # while an engine works on a chunk
    import importlib

    module, cls, method = engine.rsplit(".", 2)
    owner = getattr(importlib.import_module("xner.runtime." + module), cls)
    real = getattr(owner, method)

    def working(self, *args, **kwargs):
        if hit():
            die()
        return real(self, *args, **kwargs)

    setattr(owner, method, working)
elif point in ("append", "commit"):
    write = Out._write_sidecar

    def _write_sidecar(self, checkpoint):
        if point == "append" and hit():  # chunk appended, new sidecar half written
            self._sidecar_tmp.write_text('{"format": "xner-prog', encoding="utf-8")
            die()
        write(self, checkpoint)
        if point == "commit" and hit():  # sidecar replaced, next chunk not begun
            die()

    Out._write_sidecar = _write_sidecar
elif point == "finish":  # the first partial file renamed into place, the others not yet
    replace = os.replace

    def _replace(src, dst):
        replace(src, dst)
        if str(src).endswith(".partial") and hit():
            die()

    os.replace = _replace
from xner.cli.main import main

sys.argv = ["xner", *sys.argv[1:]]
main()
"""

KILL_POINTS = {  # point -> which call kills (the sidecar is written once at start, then per chunk)
    "start": 1,
    "engine": 3,
    "append": 3,
    "commit": 3,
    "finish": 1,
}
TRANSLATE = "engines.translator.Translator.translate"


def job_inputs(name: str, source: Path, folder: Path) -> list[str | Path]:
    """The input arguments of command ``name`` for the 30 labelled sentences of ``source``."""
    sentences = list(read_sentences(source))
    text = folder / "in.txt"
    if name in ("translate-test", "translate-train", "tag"):
        return [source]
    text.write_text("".join(" ".join(s.tokens) + "\n" for s in sentences), encoding="utf-8")
    if name in ("translate", "align"):
        return [text, text] if name == "align" else [text]
    links = folder / "links.txt"  # each word with itself
    links.write_text(
        "".join(" ".join(f"{i}-{i}" for i in range(len(s.tokens))) + "\n" for s in sentences),
        encoding="utf-8",
    )
    return ["--source", source, "--target", text, "--alignments", links]


ENGINE_FLAGS = ["--intra-threads", "1", "--skip-verify"]
# name -> (options, the method killed at the "engine" point, explains, the output holds words)
RESUMABLE = {
    "translate-test": (["--lang", "hau", *ENGINE_FLAGS], TRANSLATE, True, True),
    "translate-train": (["--src-lang", "hau", "--tgt-lang", "eng", *ENGINE_FLAGS], TRANSLATE,
                        True, False),
    "tag": (["--lang", "hau", *ENGINE_FLAGS], "engines.tagger.Tagger.tag", False, True),
    "translate": (["--src-lang", "hau", "--tgt-lang", "eng", *ENGINE_FLAGS], TRANSLATE, False,
                  False),
    "align": (ENGINE_FLAGS, "engines.aligner.Aligner.align", False, False),
    "project": ([], None, False, True),
}  # fmt: skip


def files_of(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RESUMABLE))
def test_kill_at_five_points_then_resume(name, tiny_bundle, hausa, tmp_path) -> None:
    options, engine, explains, words = RESUMABLE[name]
    source = tmp_path / "in.conll"
    write_sentences(itertools.islice(read_sentences(hausa), 30), source)
    inputs = job_inputs(name, source, tmp_path)
    bundle = [] if name == "project" else ["-b", tiny_bundle]

    def command(folder: Path) -> list[str | Path]:
        out = folder / "out.jsonl"
        extra = ["--explain", folder / "out.explain.jsonl"] if explains else []
        return [name, *bundle, *options, *inputs, "-o", out, "--chunk-size", "5", *extra]

    (tmp_path / "reference").mkdir()
    done = subprocess.run(xner(*command(tmp_path / "reference")), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reference = files_of(tmp_path / "reference")
    left: dict[str, dict[str, int]] = {}
    points = {p: n for p, n in KILL_POINTS.items() if engine is not None or p != "engine"}
    for point, count in points.items():
        folder = tmp_path / point
        folder.mkdir()
        killed = subprocess.run(
            [sys.executable, "-c", KILLER, *(str(a) for a in command(folder))],
            capture_output=True,
            text=True,
            env={**os.environ, "XNER_TEST_KILL": f"{point}:{count}:{engine}"},
        )
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr)
        left[point] = files_of(folder)
        assert "out.jsonl.progress.json" in left[point], (point, left[point])
        resumed = subprocess.run(xner(*command(folder), "--resume"), capture_output=True, text=True)
        assert resumed.returncode == 0, (point, resumed.stderr)
        assert files_of(folder) == reference, (point, left[point])
        for file in reference:
            assert (folder / file).read_bytes() == (tmp_path / "reference" / file).read_bytes()
        if explains:  # one record per input sentence, in order
            lines = (folder / "out.explain.jsonl").read_text(encoding="utf-8").splitlines()
            assert [json.loads(line)["index"] for line in lines] == list(range(30))
        if words:  # the output holds the input's words
            lines = (folder / "out.jsonl").read_text(encoding="utf-8").splitlines()
            tokens = [json.loads(line)["tokens"] for line in lines]
            assert tokens == [s.tokens for s in read_sentences(source)]
        else:  # one line per input sentence
            lines = (folder / "out.jsonl").read_text(encoding="utf-8").splitlines()
            assert len(lines) == 30 or name == "translate-train"
    # what each kill left behind (the partial files, the sidecar, a half-written sidecar)
    assert "out.jsonl.partial" in left["start"] and "out.jsonl" not in left["start"]
    assert "out.jsonl.progress.json.tmp" in left["append"]
    assert "out.jsonl" in left["finish"]  # renamed; the sidecar, marked finished, completes it


# --- everything that can change the output is in the fingerprint ----------------------------------


@pytest.mark.slow
def test_resume_refuses_another_compute_type_or_device(tiny_bundle, hausa, tmp_path, monkeypatch):
    from xner.runtime.engines import engine_set as engines_module
    from xner.runtime.engines.options import EngineOptions

    source = tmp_path / "in.conll"
    write_sentences(itertools.islice(read_sentences(hausa), 12), source)
    out, reference = tmp_path / "out.conll", tmp_path / "reference.conll"
    int8 = EngineOptions(device="cpu", compute_type="int8", intra_threads=1)
    config = TranslateTestConfig("hau", chunk_size=4)
    resumed = FileJobConfig(source, out, resume=True)
    run_translate_test(tiny_bundle, FileJobConfig(source, reference), config, engine_options=int8)
    with pytest.raises(KeyboardInterrupt):
        run_translate_test(
            tiny_bundle, FileJobConfig(source, out), config, engine_options=int8,
            progress=interrupt_after(9),
        )  # fmt: skip
    real_choose = engines_module.choose_device
    monkeypatch.setattr(  # "cuda" resolves to CUDA, as on a machine that has it
        engines_module,
        "choose_device",
        lambda device, library: ("cuda", 0) if device == "cuda" else real_choose(device, library),
    )

    def no_engine(*args, **kwargs):
        raise AssertionError("an engine was built before the settings were compared")

    with monkeypatch.context() as patch:
        patch.setattr(Translator, "__init__", no_engine)
        for changed, shown in (
            ({"compute_type": "float32"}, "compute_type int8 -> float32"),
            ({"device": "cuda"}, "device cpu -> cuda"),
            ({"device": "cuda", "compute_type": "float16"}, "compute_type int8 -> float16; device"),
        ):
            options = int8.with_(**changed)
            with pytest.raises(ConfigError, match="--resume: settings differ") as caught:
                run_translate_test(tiny_bundle, resumed, config, engine_options=options)
            assert shown in str(caught.value)
    # threads and batch sizes change speed, not labels: they are not in the fingerprint
    other = int8.with_(intra_threads=2, inter_threads=2, max_batch_size=3)
    summary = run_translate_test(tiny_bundle, resumed, config, engine_options=other)
    assert summary.resumed == 8 and out.read_bytes() == reference.read_bytes()
