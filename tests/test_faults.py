"""A full disk while writing: the output stays consistent, one line, and --resume goes on.

The disk is filled with ``RLIMIT_FSIZE`` in a child process (``SIGXFSZ`` ignored, so a write past
the limit fails with ``EFBIG`` as a full disk fails with ``ENOSPC``). Kills at five points of a
job are in ``test_resume.py``.
"""

from __future__ import annotations

import errno
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xner.runtime.data import Sentence
from xner.runtime.files.atomic import atomic_write
from xner.runtime.files.formats import read_sentences, write_sentences
from xner.runtime.jobs.resume import Checkpoint, CommittedOutput, partial_path, progress_path

resource = pytest.importorskip("resource", reason="RLIMIT_FSIZE is POSIX only")

LIMITED = r"""
import resource, signal, sys

limit = int(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from xner.cli.main import main

sys.argv = ["xner", *sys.argv[2:]]
main()
"""


def xner(*args: str | Path, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI, with files limited to ``limit`` bytes when given (a full disk)."""
    words = [str(a) for a in args]
    command = [sys.executable, "-c", LIMITED, str(limit), *words] if limit else [
        sys.executable, "-m", "xner.cli.main", *words
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_full_disk_keeps_the_old_output_and_names_the_target(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old\n", encoding="utf-8")
    with pytest.raises(OSError) as caught, atomic_write(out) as handle:
        handle.write("new text")
        handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(out)
    assert caught.value.strerror == "no space left on device (wrote 8 bytes)"
    assert out.read_text(encoding="utf-8") == "old\n" and listing(tmp_path) == ["out.txt"]


def test_a_full_disk_during_a_commit_keeps_what_is_committed(tmp_path, monkeypatch) -> None:
    out = tmp_path / "out.txt"
    job = CommittedOutput({"output": out}, {})
    job.open()
    job.commit({"output": "a\n"}, Checkpoint(1, "d1", {}))
    real_fsync = os.fsync

    def full(fd: int) -> None:
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="disk quota exceeded") as caught:
        job.commit({"output": "b\n"}, Checkpoint(2, "d2", {}))
    assert caught.value.filename == str(out) and "(wrote 2 bytes)" in caught.value.strerror
    monkeypatch.setattr(os, "fsync", real_fsync)
    job.close()
    again = CommittedOutput({"output": out}, {}, resume=True)
    assert again.open() == Checkpoint(1, "d1", {})
    assert partial_path(out).read_bytes() == b"a\n"


def test_convert_on_a_full_disk(tmp_path: Path) -> None:
    source = tmp_path / "in.conll"
    sentences = [Sentence([f"w{k}", "Kano"], ["O", "B-LOC"]) for k in range(400)]
    write_sentences(sentences, source)
    out = tmp_path / "out.jsonl"
    out.write_text("old\n", encoding="utf-8")
    full = xner("convert", source, out, limit=4096)
    assert full.returncode == 2, full.stderr
    assert full.stderr.splitlines() == [
        f"xner: error: {out}: file too large (no space for it under the file size limit) "
        "(wrote 4096 bytes)"
    ]
    assert out.read_text(encoding="utf-8") == "old\n"  # the old output is intact
    assert listing(tmp_path) == ["in.conll", "out.jsonl"]  # no temporary file left
    assert xner("convert", source, out).returncode == 0
    assert [s.tokens for s in read_sentences(out)] == [s.tokens for s in sentences]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("translate-test", ["--lang", "hau", "--explain", "EXPLAIN"]),
        ("translate-train", ["--src-lang", "hau", "--tgt-lang", "eng"]),
        ("tag", ["--lang", "hau"]),
    ],
)
def test_a_full_disk_then_resume(name, args, tiny_bundle, shared_data, tmp_path) -> None:
    source = tmp_path / "in.conll"
    hausa = read_sentences(shared_data / "masakhaner2" / "hau.test.conll")
    write_sentences(itertools.islice(hausa, 40), source)

    def command(out: Path) -> list[str | Path]:
        extra = [str(out.with_suffix(".explain.jsonl")) if a == "EXPLAIN" else a for a in args]
        return [name, "-b", tiny_bundle, source, "-o", out, "--chunk-size", "5",
                "--intra-threads", "1", "--skip-verify", *extra]  # fmt: skip

    reference = tmp_path / "reference.conll"
    assert xner(*command(reference)).returncode == 0
    size = max(p.stat().st_size for p in tmp_path.glob("reference.*"))  # the largest file
    out = tmp_path / "out.conll"
    out.write_text("old\n", encoding="utf-8")
    full = xner(*command(out), limit=size // 2)  # it fills the disk half-way
    assert full.returncode == 2, full.stderr
    errors = [line for line in full.stderr.splitlines() if line.startswith("xner: error:")]
    named = (out, out.with_suffix(".explain.jsonl"))  # whichever file filled the disk
    assert len(errors) == 1, full.stderr
    assert any(errors[0].startswith(f"xner: error: {path}: ") for path in named), errors
    assert "file too large" in errors[0] and "rerun with --resume" in errors[0]
    assert out.read_text(encoding="utf-8") == "old\n"  # the old output is intact
    assert progress_path(out).exists() and partial_path(out).stat().st_size <= size // 2
    resumed = xner(*command(out), "--resume")  # the space is free again
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == reference.read_bytes()
    if "--explain" in args:
        explain = out.with_suffix(".explain.jsonl").read_bytes()
        assert explain == reference.with_suffix(".explain.jsonl").read_bytes()
    assert not progress_path(out).exists() and not partial_path(out).exists()
