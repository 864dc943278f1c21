"""The model-free commands: project, evaluate, convert, --version, and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.version import __version__

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "swahili"
SOURCE, TARGET = EXAMPLE / "english.conll", EXAMPLE / "swahili.txt"
LINKS, GOLD = EXAMPLE / "english-swahili.talp", EXAMPLE / "swahili.gold.conll"

runner = CliRunner()


def xner(*args: str | Path, stdin: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=stdin)


def project(out: Path, *extra: str, source=SOURCE, target=TARGET, links=LINKS):
    return xner(
        "project", "--source", source, "--target", target, "--alignments", links, "-o", out, *extra
    )


def read_tags(path: Path) -> list[list[str]]:
    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")
    return [[line.split("\t")[1] for line in block.splitlines()] for block in blocks]


def test_version() -> None:
    result = xner("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"xner {__version__}"


@pytest.mark.parametrize(
    ("extra", "expected_f1"),
    [
        ((), 0.8966),  # heuristic: misses the half-aligned "Addis Ababa", grows "wa Umoja ..."
        (("--method", "ngram"), 0.8667),
        (("--method", "ngram", "--exact"), 0.8667),
        (("--keep", "largest"), 0.8966),
        (("--length-ratio", "0.4"), 0.8667),  # "Addis" alone now survives: a wrong LOC
    ],
)
def test_project_then_evaluate_the_example(tmp_path: Path, extra, expected_f1) -> None:
    out = tmp_path / "pred.conll"
    result = project(out, *extra)
    assert result.exit_code == 0, result.output
    scored = xner("evaluate", GOLD, out, "--json")
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.stdout)
    assert set(report) == {"overall", "per_type", "projection_ratio", "sentences"}
    assert set(report["overall"]) == {"precision", "recall", "f1", "gold", "predicted", "correct"}
    assert report["sentences"] == 6 and report["overall"]["gold"] == 15
    assert report["overall"]["f1"] == pytest.approx(expected_f1, abs=1e-4)


def test_clean_alignments_project_perfectly(tmp_path: Path) -> None:
    """The first five sentences have clean hand alignments: every entity lands where it should."""
    out = tmp_path / "pred.conll"
    assert project(out).exit_code == 0
    assert read_tags(out)[:5] == read_tags(GOLD)[:5]


def test_evaluate_ignore_and_table(tmp_path: Path) -> None:
    result = xner("evaluate", GOLD, GOLD, "--ignore", "LOC,ORG")
    assert result.exit_code == 0
    assert "PER" in result.stdout and "LOC" not in result.stdout and "100.00" in result.stdout


def test_project_to_stdout_and_jsonl(tmp_path: Path) -> None:
    result = project(Path("-"))
    assert result.exit_code == 0
    assert result.stdout.startswith("Barack\tB-PER\nObama\tI-PER\n")
    out = tmp_path / "pred.jsonl"
    assert project(out).exit_code == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6 and records[0]["tags"][:2] == ["B-PER", "I-PER"]


def test_convert_round_trip(tmp_path: Path) -> None:
    as_jsonl = tmp_path / "gold.jsonl"
    assert xner("convert", GOLD, as_jsonl).exit_code == 0
    back = tmp_path / "gold.conll"
    assert xner("convert", as_jsonl, back).exit_code == 0
    assert back.read_text(encoding="utf-8") == GOLD.read_text(encoding="utf-8")
    as_text = tmp_path / "gold.txt"
    assert xner("convert", GOLD, as_text).exit_code == 0
    assert as_text.read_text(encoding="utf-8") == TARGET.read_text(encoding="utf-8")


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_alignment_out_of_range_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.talp"
    lines = LINKS.read_text().splitlines()
    lines[2] += " 3-40"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "pred.conll"
    message = _one_line_error(project(out, links=bad))
    assert f"{bad}:3:" in message and "3-40" in message
    assert not out.exists()  # nothing half-written
    assert project(out, "--clip", links=bad).exit_code == 0


def test_malformed_alignment_token(tmp_path: Path) -> None:
    bad = tmp_path / "bad.talp"
    bad.write_text("0-0 1-\n")
    message = _one_line_error(project(tmp_path / "o.conll", links=bad))
    assert message.startswith(f"xner: error: {bad}:1:") and "1-" in message


def test_files_out_of_step(tmp_path: Path) -> None:
    short = tmp_path / "short.txt"
    short.write_text("".join(TARGET.read_text().splitlines(keepends=True)[:4]))
    message = _one_line_error(project(tmp_path / "o.conll", target=short))
    assert "the target ended after 4 sentences" in message


def test_bad_tag_in_source(tmp_path: Path) -> None:
    bad = tmp_path / "src.conll"
    bad.write_text("Obama\tX-PER\nspoke\tO\n\n")
    message = _one_line_error(project(tmp_path / "o.conll", source=bad))
    assert f"{bad}:1:" in message and "X-PER" in message


def test_evaluate_length_mismatch(tmp_path: Path) -> None:
    pred = tmp_path / "pred.conll"
    pred.write_text(GOLD.read_text().replace("Jumatatu\tO\n", "", 1))
    message = _one_line_error(xner("evaluate", GOLD, pred))
    assert f"{pred}:" in message and "words" in message


def test_unknown_method_lists_choices(tmp_path: Path) -> None:
    message = _one_line_error(project(tmp_path / "o.conll", "--method", "magic"))
    assert "heuristic" in message and "ngram" in message


def test_missing_file(tmp_path: Path) -> None:
    message = _one_line_error(xner("evaluate", tmp_path / "nope.conll", GOLD))
    assert "nope.conll" in message


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    """The installed entry point: a bad file gives exit code 2 and one line on stderr."""
    bad = tmp_path / "bad.conll"
    bad.write_bytes(b"Obama\tB-PER\n\xff\tO\n")
    exe = Path(sys.executable).with_name("xner")
    done = subprocess.run(
        [str(exe), "evaluate", str(bad), str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and f"{bad}:2:" in done.stderr
