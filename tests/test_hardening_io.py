"""Issue 10 (hardening) and issue 11 (field delivery): readers, usage errors, consoles, CRLF.

Each test pins a defect found by trying bad input as a new user would: a traceback, a silent
wait, a silent pass or a message at the wrong line. The console tests run the installed entry
point in a subprocess, with a cp1252 encoding and, where a terminal is needed, a pseudo-terminal.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path, PureWindowsPath

import pytest
import typer
from typer.testing import CliRunner

from xner.cli.app import _Formatter
from xner.cli.main import app
from xner.runtime.alignment.pharaoh import MAX_INDEX, parse_pharaoh, read_alignments
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.files.formats import read_sentences, resolve_format
from xner.runtime.files.io import STDIN_NOTICE, iter_lines, parse_json, source_name

runner = CliRunner()
DEEP = "[" * 100_000
YORUBA, HAUSA = "Ọlọ́run", "ƙasa"  # Ọ and ƙ are not in cp1252


def xner(*args: str | Path, stdin: str | None = None, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], input=stdin, env=env)


def one_line_error(result, code: int = 2) -> str:
    """The single stderr line of a failed command (and no traceback)."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("xner: error: ") and "Traceback" not in result.output
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# --- 1. deeply nested JSON ------------------------------------------------------------------


def test_parse_json_turns_every_decoder_failure_into_an_input_error() -> None:
    for text, needle in [
        (DEEP, "nested too deeply"),
        ("1" * 5000, "not valid JSON"),  # more digits than int() converts: ValueError
        ('{"a": ', "Expecting value"),
    ]:
        with pytest.raises(InputError, match=r"^f\.jsonl:3: not valid JSON") as info:
            parse_json(text, "f.jsonl", 3)
        assert needle in str(info.value)
    assert parse_json('{"tokens": []}', "f.jsonl", 1) == {"tokens": []}


def test_deeply_nested_json_is_one_line_in_every_jsonl_command(tmp_path: Path) -> None:
    deep = write(tmp_path / "deep.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n' + DEEP + "\n")
    good = write(tmp_path / "good.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n' * 2)
    text = write(tmp_path / "t.txt", "a\na\n")
    links = write(tmp_path / "l.talp", "0-0\n0-0\n")
    out = tmp_path / "out.conll"
    for args in [
        ("convert", deep, out),
        ("evaluate", deep, good),
        ("evaluate", good, deep),
        ("project", "--source", deep, "--target", text, "--alignments", links, "-o", out),
        ("project", "--source", good, "--target", deep, "--alignments", links, "-o", out),
    ]:
        message = one_line_error(xner(*args))
        assert f"{deep}:2: not valid JSON (nested too deeply)" in message, args
    assert not out.exists()


@pytest.mark.parametrize("text", [DEEP, '{"format_version": ' + "1" * 5000 + "}"])
def test_other_untrusted_json_goes_through_the_same_helper(tmp_path: Path, text: str) -> None:
    """The manifest of a bundle folder, of a bundle archive, and a resume sidecar."""
    import tarfile

    from xner.runtime.bundles.archive import unpack_bundle
    from xner.runtime.bundles.bundle import read_manifest
    from xner.runtime.errors import XnerError
    from xner.runtime.jobs.resume import CommittedOutput, progress_path

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write(bundle / "manifest.json", text)
    with pytest.raises(XnerError, match="not valid JSON"):
        read_manifest(bundle)
    archive = tmp_path / "b.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(bundle / "manifest.json", arcname="manifest.json")
    with pytest.raises(XnerError, match="not valid JSON"):
        unpack_bundle(archive, tmp_path / "unpacked")
    out = tmp_path / "out.conll"
    write(progress_path(out), text)
    with pytest.raises(XnerError, match="not a valid progress file"):
        CommittedOutput({"main": out}, {}, resume=True).check()


# --- 2. Pharaoh indices beyond 64 bits --------------------------------------------------------


def test_pharaoh_index_beyond_64_bits_is_out_of_range() -> None:
    for text in ["0-0 99999999999999999999-0", "0-99999999999999999999", "1p" + "9" * 5000]:
        with pytest.raises(InputError, match=r"^a\.talp:4: index out of range"):
            parse_pharaoh(text, path="a.talp", line=4)
    # leading zeros are not digits that count (int() alone refuses 5,001 of them)
    assert parse_pharaoh("0" * 5000 + "1-2", path="a").pairs.tolist() == [[1, 2]]
    assert parse_pharaoh(f"{MAX_INDEX}-0").pairs.tolist() == [[MAX_INDEX, 0]]
    with pytest.raises(InputError, match="index out of range"):
        parse_pharaoh(f"{MAX_INDEX + 1}-0")
    long = "9" * 100_000
    with pytest.raises(InputError) as info:
        parse_pharaoh(f"{long}-0")
    assert len(str(info.value)) < 200  # the message quotes the link cut short


def test_project_reports_a_huge_index_as_one_line(tmp_path: Path) -> None:
    src = write(tmp_path / "s.conll", "a\tB-PER\nb\tO\n\n")
    tgt = write(tmp_path / "t.txt", "x y\n")
    links = write(tmp_path / "l.talp", "0-0 99999999999999999999-0\n")
    args = ("project", "--source", src, "--target", tgt, "--alignments", links, "-o", "-")
    assert f"{links}:1: index out of range" in one_line_error(xner(*args))
    args = (*args, "--clip")
    assert f"{links}:1: index out of range" in one_line_error(xner(*args))


# --- 3. a bad tag is reported at its own line ---------------------------------------------------


def test_bad_tag_is_reported_at_its_own_line(tmp_path: Path) -> None:
    gold = write(
        tmp_path / "g.conll", "-DOCSTART-\n\nAda\tB-PER\nlives\tO\nin\tO\nLagos\tX-LOC\n\n"
    )
    pred = write(tmp_path / "p.conll", "Ada\tB-PER\nlives\tO\nin\tO\nLagos\tO\n\n")
    message = one_line_error(xner("evaluate", gold, pred))
    assert f"{gold}:6: bad tag 'X-LOC'" in message  # not line 3 + "word 4"
    message = one_line_error(xner("evaluate", pred, gold))
    assert f"{gold}:6: bad tag 'X-LOC'" in message
    tgt = write(tmp_path / "t.txt", "a b c d\n")
    links = write(tmp_path / "l.talp", "0-0\n")
    args = ("project", "--source", gold, "--target", tgt, "--alignments", links, "-o", "-")
    assert f"{gold}:6: bad tag 'X-LOC'" in one_line_error(xner(*args))


def test_jsonl_bad_tag_names_the_record_line_and_the_tag() -> None:
    text = '{"tokens": ["a"], "tags": ["O"]}\n\n{"tokens": ["a", "b"], "tags": ["O", "B-"]}\n'
    with pytest.raises(InputError, match=r"^<stream>:3: tag 2 of 'tags': bad tag 'B-'"):
        list(read_sentences(io.BytesIO(text.encode()), "jsonl"))


# --- 4. usage errors are one line; help shows every option in full ------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["convert", "--bogus"], "No such option: --bogus"),
        (["convert"], "Missing argument"),
        (["evaluate", "--ignore"], "requires an argument"),
        (["project", "--merge-distance", "abc"], "Invalid value for '--merge-distance'"),
        (["no-such-command"], "No such command"),
        (["--bogus"], "No such option"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], needle: str) -> None:
    message = one_line_error(xner(*args))
    assert needle in message and "╭" not in message


def test_usage_error_from_the_installed_entry_point_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "xner.cli.main", "convert", "--bogus"],
        capture_output=True, text=True, encoding="utf-8", timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("xner: error: No such option: --bogus")
    assert done.stderr.count("\n") == 1


def _commands(command, path=()):
    """Every (path, click command) pair of the app, groups included, hidden ones left out."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            yield from _commands(sub, (*path, name))


def test_help_shows_every_option_in_full_at_80_columns() -> None:
    root = typer.main.get_command(app)
    checked = 0
    for path, command in _commands(root):
        result = xner(*path, "--help", env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
        assert result.exit_code == 0, (path, result.output)
        assert "…" not in result.stdout, (path, result.stdout)
        for param in command.params:
            if getattr(param, "hidden", False) or param.param_type_name != "option":
                continue
            for name in [*param.opts, *param.secondary_opts]:
                pattern = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
                assert re.search(pattern, result.stdout), (path, name, result.stdout)
                checked += 1
    assert checked > 50  # every command was looked at, not just the root


def test_help_and_version_still_work() -> None:
    result = xner("--help")
    assert result.exit_code == 0 and "convert" in result.stdout and "Usage:" in result.stdout
    assert xner("convert", "-h").exit_code == 0
    result = xner()  # no arguments: the help, as before
    assert "Usage:" in result.output and result.exit_code in (0, 2)


@pytest.mark.skipif(sys.platform == "win32", reason="ENAMETOOLONG is a POSIX error")
def test_any_os_error_on_an_input_is_one_line(tmp_path: Path) -> None:
    long = tmp_path / ("a" * 300 + ".conll")  # open() fails with ENAMETOOLONG, not ENOENT
    message = one_line_error(xner("convert", long, tmp_path / "o.jsonl"))
    assert str(long) in message and "too long" in message


# --- 5. evaluate on two empty files warns --------------------------------------------------------


def test_evaluate_on_empty_files_warns_no_sentences(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gold, pred = write(tmp_path / "g.conll", ""), write(tmp_path / "p.conll", "\n\n")
    with caplog.at_level(logging.WARNING, logger="xner"):
        result = xner("evaluate", gold, pred)
    assert result.exit_code == 0  # a warning, not an error: the table says 0 sentences
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no sentences" in w and str(gold) in w for w in warnings), warnings
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="xner"):
        assert xner("evaluate", write(tmp_path / "x.conll", "a\tO\n"), "-").exit_code == 2
    # a gold file with a sentence is not "no sentences" (the prediction ends early instead)
    assert not any("no sentences" in r.getMessage() for r in caplog.records)


# --- 6. reading a terminal says so ----------------------------------------------------------------


class _Terminal(io.TextIOWrapper):
    def isatty(self) -> bool:
        return True


def test_reading_standard_input_from_a_terminal_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal(io.BytesIO(b"a b\r\n"), encoding="utf-8"))
    with caplog.at_level(logging.WARNING, logger="xner"):
        assert [s.tokens for s in read_sentences("-", "text")] == [["a", "b"]]
    notices = [r for r in caplog.records if getattr(r, "notice", False)]
    assert [r.getMessage() for r in notices] == [STDIN_NOTICE]
    assert _Formatter().format(notices[0]) == (
        "xner: reading standard input (end with Ctrl-D, Ctrl-Z on Windows)"
    )
    caplog.clear()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a\n"), encoding="utf-8"))
    with caplog.at_level(logging.WARNING, logger="xner"):
        list(iter_lines("-"))
    assert caplog.records == []  # a pipe or a file: nothing to say


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pseudo-terminal")
def test_the_installed_command_prints_the_notice_at_a_terminal(tmp_path: Path) -> None:
    import select

    leader, follower = os.openpty()
    out = tmp_path / "o.conll"
    proc = subprocess.Popen(
        [sys.executable, "-m", "xner.cli.main", "convert", "-", str(out), "--from", "text"],
        stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    os.close(follower)
    try:
        first = b""
        while not first.endswith(b"\n"):
            ready, _, _ = select.select([proc.stderr], [], [], 60)
            assert ready, "no notice within 60 s"
            chunk = os.read(proc.stderr.fileno(), 1)
            assert chunk, "stderr closed before the notice"
            first += chunk
        assert first.decode() == f"xner: {STDIN_NOTICE}\n"
        os.write(leader, f"{HAUSA} da\n".encode() + b"\x04")  # Ctrl-D at a line start: EOF
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill() if proc.poll() is None else None
        os.close(leader)
    assert proc.returncode == 0, err
    assert out.read_text(encoding="utf-8") == f"{HAUSA}\nda\n\n"


# --- 7. convert refuses non-IOB tags unless --lenient ---------------------------------------------


@pytest.mark.parametrize("tag", ["LOCATION", "B-", "PER", "b-PER"])
def test_convert_refuses_a_tag_that_is_not_iob(tmp_path: Path, tag: str) -> None:
    bad = write(tmp_path / "in.conll", f"Lagos\tB-LOC\nis\tO\n\nAbuja\t{tag}\n\n")
    out = tmp_path / "out.jsonl"
    message = one_line_error(xner("convert", bad, out))
    assert message == f"xner: error: {bad}:4: bad tag '{tag}' (expected O, B-TYPE or I-TYPE)"
    assert not out.exists()


def test_convert_lenient_passes_them_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = write(tmp_path / "in.conll", "Lagos\tLOCATION\nis\tO\n\nAbuja\tB-\n\n")
    out = tmp_path / "out.jsonl"
    with caplog.at_level(logging.WARNING, logger="xner"):
        result = xner("convert", bad, out, "--lenient")
    assert result.exit_code == 0, result.output
    assert '"tags": ["LOCATION", "O"]' in out.read_text(encoding="utf-8")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "passed 2 tags" in warnings[0], warnings
    jsonl = write(tmp_path / "in.jsonl", '{"tokens": ["a"], "tags": ["LOCATION"]}\n')
    assert "bad tag 'LOCATION'" in one_line_error(xner("convert", jsonl, tmp_path / "o.conll"))
    assert xner("convert", jsonl, tmp_path / "o.conll", "--lenient").exit_code == 0


# --- issue 11: CRLF input for every reader ------------------------------------------------


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        ("conll", f"# c\n{YORUBA}\tB-PER\n{HAUSA}\tO\n\n\nda\tO\n"),
        ("jsonl", f'{{"tokens": ["{YORUBA}", "{HAUSA}"], "tags": ["B-PER", "O"]}}\n\n'),
        ("text", f"{YORUBA} {HAUSA}\n\nda\n"),
    ],
)
def test_crlf_reads_like_lf(tmp_path: Path, fmt: str, text: str) -> None:
    lf, crlf = tmp_path / f"lf.{fmt}", tmp_path / f"crlf.{fmt}"
    lf.write_bytes(text.encode("utf-8"))
    crlf.write_bytes(_crlf(text))

    def read(path: Path) -> list:
        return [(s.tokens, s.tags, s.line) for s in read_sentences(path, fmt)]

    expected = read(lf)
    assert expected and read(crlf) == expected
    stream = [(s.tokens, s.tags, s.line) for s in read_sentences(io.BytesIO(_crlf(text)), fmt)]
    assert stream == expected
    assert all("\r" not in t for tokens, _, _ in expected for t in tokens)


def test_crlf_pharaoh_and_the_cli(tmp_path: Path) -> None:
    links = tmp_path / "l.talp"
    links.write_bytes(_crlf("0-0 1p1\n\n2-1\n"))
    assert [a.pairs.tolist() for a in read_alignments(links)] == [[[0, 0], [1, 1]], [], [[2, 1]]]
    src = tmp_path / "s.conll"
    src.write_bytes(_crlf("Ada\tB-PER\nsaw\tO\n\nme\tO\n\nx\tO\ny\tO\nz\tB-LOC\n\n"))
    tgt = tmp_path / "t.txt"
    tgt.write_bytes(_crlf("Ada ya\nni\na b\n"))
    result = xner("project", "--source", src, "--target", tgt, "--alignments", links, "-o", "-")
    assert result.exit_code == 0, result.output
    assert "\r" not in result.stdout and "Ada\tB-PER\nya\tO\n" in result.stdout


# --- issue 11: Windows paths -------------------------------------------------------------------


def test_windows_paths_select_formats_and_appear_verbatim() -> None:
    for path, fmt in [
        (r"C:\Users\Ada\data\hau.test.CONLL", "conll"),
        (r"D:\work\pred.jsonl", "jsonl"),
        (r"\\server\share\tekst.txt", "text"),
        (PureWindowsPath(r"C:\data\gold.iob"), "conll"),
    ]:
        assert resolve_format(path) == fmt
    assert source_name(PureWindowsPath(r"C:\data\gold.conll")) == r"C:\data\gold.conll"
    error = InputError(r"C:\data\gold.conll", 3, "bad tag 'X'")
    assert str(error) == r"C:\data\gold.conll:3: bad tag 'X'"


def test_windows_path_of_a_missing_file_is_named_as_given(tmp_path: Path) -> None:
    missing = r"C:\Users\Ada\gold.conll"
    message = one_line_error(xner("evaluate", missing, missing))
    assert missing in message and "no such file" in message


# --- issue 11: console encodings -------------------------------------------------------------


def _run_cp1252(args: list[str], cwd: Path, **streams) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0"}
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams}
    return subprocess.run(
        [sys.executable, "-m", "xner.cli.main", *args],
        stdin=subprocess.DEVNULL, env=env, cwd=cwd, timeout=120, **streams,
    )  # fmt: skip


def test_cp1252_pipe_gets_utf8_data_and_messages(tmp_path: Path) -> None:
    good = write(tmp_path / "g.conll", f"{YORUBA}\tB-PER\n{HAUSA}\tO\n\n")
    done = _run_cp1252(["convert", str(good), "-"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode("utf-8") == f"{YORUBA}\tB-PER\n{HAUSA}\tO\n\n"
    bad = write(tmp_path / f"{HAUSA}.conll", f"{YORUBA}\tB-PER\n{HAUSA}\tLOCATION\n\n")
    done = _run_cp1252(["convert", str(bad), str(tmp_path / "o.jsonl")], tmp_path)
    err = done.stderr.decode("utf-8")
    assert done.returncode == 2 and "Traceback" not in err
    assert err == f"xner: error: {bad}:2: bad tag 'LOCATION' (expected O, B-TYPE or I-TYPE)\n"


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a POSIX pseudo-terminal")
def test_cp1252_terminal_escapes_what_it_cannot_show(tmp_path: Path) -> None:
    good = write(tmp_path / "g.conll", f"{YORUBA}\tB-PER\n{HAUSA}\tO\n\n")
    bad = write(tmp_path / f"{HAUSA}.conll", "a\tLOCATION\n\n")
    for args, code in [(["convert", str(good), "-"], 0), (["convert", str(bad), "-"], 2)]:
        leader, follower = os.openpty()
        try:
            done = _run_cp1252(args, tmp_path, stdout=follower, stderr=follower)
        finally:
            os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # Linux raises EIO once the terminal is closed and drained
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
        text = shown.decode("cp1252")
        assert done.returncode == code and "Traceback" not in text, text
        if code == 0:  # the data, with what cp1252 cannot show escaped
            assert "\\u1ecc" in text and "\\u0199asa\tO" in text, text
        else:  # the message, the file name escaped the same way
            assert "xner: error: " in text and "\\u0199asa.conll:1: bad tag 'LOCATION'" in text


def test_a_folder_given_as_input_is_named_as_a_folder(tmp_path: Path) -> None:
    # regression: a folder without --from was refused for its missing extension
    with pytest.raises(ConfigError, match=r": is a folder, expected a file$"):
        resolve_format(tmp_path)
    assert resolve_format(tmp_path / "new.conll", kind="writer") == "conll"
