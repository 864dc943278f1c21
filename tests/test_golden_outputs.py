"""Byte-identical outputs of the file commands on the tiny bundle, against outputs recorded before
the pipeline layer was reshaped (issue 12: "all behaviour is unchanged").

The expected files in ``tests/golden/expected`` were written by the code of commit 6e071f7 (before
the reshaping) with ``XNER_WRITE_GOLDEN=1 pytest tests/test_golden_outputs.py``. The tiny bundle is
built the same way on every run (random weights from a fixed seed, subword vocabularies made
deterministically: ``xner.export.tiny``), and the test first checks that its model files are the
ones the expected outputs were made with, so a failure names its cause: the bundle or the code.

Inputs are hand-made (``tests/golden/inputs``) plus one generated long line (segments).
Experiment tables carry timings and dates: those columns are removed before comparing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xner.cli.main import app

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).parent / "golden"
INPUTS = GOLDEN / "inputs"
EXPECTED = GOLDEN / "expected"
WRITE = os.environ.get("XNER_WRITE_GOLDEN") == "1"
MODEL_FILES = (
    "aligner/model.onnx.data",
    "aligner/tokenizer.json",
    "tagger/model.onnx.data",
    "tagger/tokenizer.json",
    "translator/model.bin",
    "translator/sentencepiece.bpe.model",
)
TIMING = {"seconds", "shared_seconds"}


def _long_line() -> str:
    """A 'document on one line': 420 words with sentence ends, cut into segments."""
    words = [
        "Shugaba",
        "Buhari",
        "ya",
        "isa",
        "Abuja",
        "ranar",
        "Litinin",
        "tare",
        "da",
        "Aminu",
        "Kano",
        ".",
    ]
    return " ".join(words[k % len(words)] for k in range(420))


def _commands(bundle: Path) -> dict[str, list[str]]:
    b = ["--bundle", str(bundle), "--skip-verify", "--device", "cpu"]
    hau, en = "hau.txt", "en.conll"  # relative: the explain records hold the input's name
    return {
        "translate-test heuristic": [
            "translate-test",
            *b,
            "--lang",
            "hau",
            hau,
            "-o",
            "tt.conll",
            "--explain",
            "tt.explain.jsonl",
        ],
        "translate-test ngram": [
            "translate-test",
            *b,
            "--lang",
            "hau",
            hau,
            "-o",
            "tt_ngram.jsonl",
            "--method",
            "ngram",
            "--max-len",
            "4",
            "--explain",
            "tt_ngram.explain.jsonl",
            "--chunk-size",
            "2",
        ],
        "translate-train heuristic": [
            "translate-train",
            *b,
            "--src-lang",
            "eng",
            "--tgt-lang",
            "hau",
            en,
            "-o",
            "ttrain.conll",
            "--explain",
            "ttrain.explain.jsonl",
            "--drop",
            "DATE",
        ],
        "translate-train ngram exact": [
            "translate-train",
            *b,
            "--src-lang",
            "eng",
            "--tgt-lang",
            "hau",
            en,
            "-o",
            "ttrain_ngram.jsonl",
            "--method",
            "ngram",
            "--exact",
            "--explain",
            "ttrain_ngram.explain.jsonl",
            "--on-error",
            "copy-O",
        ],
        "tag": ["tag", *b, hau, "-o", "tag.conll", "--drop", "MISC"],
        "translate": [
            "translate",
            *b,
            "--src-lang",
            "hau",
            "--tgt-lang",
            "eng",
            hau,
            "-o",
            "translate.jsonl",
        ],
        "align": [
            "align",
            *b,
            "pairs_src.txt",
            "pairs_tgt.txt",
            "-o",
            "align.txt",
        ],
        "project": [
            "project",
            "--source",
            "en2.conll",
            "--target",
            "pairs_tgt.txt",
            "--alignments",
            "pairs.align",
            "-o",
            "project.conll",
            "--method",
            "ngram",
        ],
        "experiment": [
            "experiment",
            *b,
            "--data",
            "masakhane",
            "--langs",
            "hau,yor",
            "--methods",
            "heuristic,ngram,ngram-exact,model-transfer",
            "-o",
            "experiment",
            "--ignore",
            "DATE",
        ],
    }


def _bundle_digests(bundle: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((bundle / name).read_bytes()).hexdigest()[:16] for name in MODEL_FILES
    }


def _normalised(path: Path) -> bytes:
    """The file's bytes, minus what changes from run to run (experiment timings, dates)."""
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        out = io.StringIO()
        fields = [f for f in rows[0] if f not in TIMING] if rows else []
        writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode()
    if path.name == "results.json":
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("bundle", None)
        data.get("settings", {}).pop("created", None)
        for cell in data.get("cells", []):
            for key in TIMING:
                cell.pop(key, None)
        return json.dumps(data, sort_keys=True, indent=1).encode()
    return path.read_bytes()


def _outputs(work: Path) -> dict[str, Path]:
    skip = {"hau.txt", "results.png"}
    return {
        str(p.relative_to(work)): p
        for p in sorted(work.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def test_outputs_are_byte_identical_to_the_recorded_ones(tiny_bundle, tmp_path, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(INPUTS, work)
    text = (INPUTS / "hau.txt").read_text(encoding="utf-8")
    (work / "hau.txt").write_text(text + _long_line() + "\n", encoding="utf-8")
    monkeypatch.chdir(work)
    runner = CliRunner()
    for name, args in _commands(Path(tiny_bundle)).items():
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{name}: {result.output}"
    digests = _bundle_digests(Path(tiny_bundle))
    produced = {name: _normalised(path) for name, path in _outputs(work).items()}
    if WRITE:
        shutil.rmtree(EXPECTED, ignore_errors=True)
        EXPECTED.mkdir(parents=True)
        (EXPECTED / "bundle.json").write_text(json.dumps(digests, indent=1) + "\n")
        for name, data in produced.items():
            target = EXPECTED / "files" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        pytest.skip("XNER_WRITE_GOLDEN=1: expected outputs rewritten, nothing compared")
    recorded = json.loads((EXPECTED / "bundle.json").read_text())
    assert digests == recorded, (
        "the tiny bundle's model files differ from those the expected outputs were made with: "
        "xner.export.tiny no longer builds the same models (not a pipeline change)"
    )
    expected = {
        str(p.relative_to(EXPECTED / "files")): p.read_bytes()
        for p in sorted((EXPECTED / "files").rglob("*"))
        if p.is_file()
    }
    assert sorted(produced) == sorted(expected)
    for name, data in expected.items():
        assert produced[name] == data, f"{name} differs from tests/golden/expected/files/{name}"
