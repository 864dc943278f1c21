"""Fuzzing (issue 10): the readers, the projection methods and the CLI's argument handling.

Every target gets generated inputs and must either succeed with a well-formed result or fail
with one of xner's own errors (the CLI: exit code 0, 1 or 2, never a traceback). The number of
examples per target is ``XNER_FUZZ_EXAMPLES`` (default 40, so that this file runs in well under
a minute; ``make fuzz`` sets it high and runs with random seeds, while the default run is
derandomized so that ``make test`` is reproducible). When ``XNER_FUZZ_COUNTS`` names a file, the
number of inputs each target ran is written there as JSON at the end of the module.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import typer
from fuzzing import FUZZ_COUNTS, fuzz_settings, write_fuzz_counts  # noqa: F401
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.alignment.pharaoh import MAX_INDEX, parse_pharaoh, read_alignments
from xner.runtime.data import Alignment, Span
from xner.runtime.errors import XnerError
from xner.runtime.files.formats import read_sentences
from xner.runtime.projection import ProjectionItem, available_methods, project_batch

FUZZ = fuzz_settings(40)
COUNTS = FUZZ_COUNTS


# --- readers ---------------------------------------------------------------------------------

WORDS = ["a", "Ọlọ́run", "ƙasa", "#", "# sent_id = 1", "-DOCSTART-", "\ufeff", "\u00a0", "x y"]
TAGS = ["O", "B-PER", "I-PER", "I-LOC", "S-ORG", "LOCATION", "B-", "X-PER", "o", "B_PER"]
SEPARATORS = ["\t", " ", "  ", "\t\t", "\v", " \t "]
ENDS = ["\n", "\r\n", "\r"]


def _encode(lines: list[str], ends: list[str], junk: bytes | None) -> bytes:
    data = "".join(line + ends[k % len(ends)] for k, line in enumerate(lines)).encode("utf-8")
    if junk:
        cut = len(data) // 2
        data = data[:cut] + junk + data[cut:]
    return data


conll_line = st.one_of(
    st.just(""),
    st.lists(st.sampled_from(WORDS + TAGS), min_size=1, max_size=4).flatmap(
        lambda cols: st.lists(
            st.sampled_from(SEPARATORS), min_size=len(cols), max_size=len(cols)
        ).map(lambda seps: "".join(c + s for c, s in zip(cols, seps, strict=True)).rstrip())
    ),
    st.text(max_size=12),
)
line_ends = st.lists(st.sampled_from(ENDS), min_size=1, max_size=3)
junk_bytes = st.one_of(st.none(), st.binary(min_size=1, max_size=4))


def _check_sentences(sentences) -> None:
    for sentence in sentences:
        assert sentence.line >= 1 and isinstance(sentence.source, str)
        assert all(isinstance(t, str) for t in sentence.tokens)
        if sentence.tags is not None:
            assert len(sentence.tags) == len(sentence.tokens)
            assert all(isinstance(t, str) for t in sentence.tags)


def _read(data: bytes, fmt: str, **options) -> list:
    try:
        sentences = list(read_sentences(io.BytesIO(data), fmt, **options))
    except XnerError:
        return []
    _check_sentences(sentences)
    return sentences


@FUZZ
@given(st.lists(conll_line, max_size=25), line_ends, junk_bytes, st.booleans())
def test_fuzz_conll_reader(lines, ends, junk, lenient) -> None:
    COUNTS["reader_conll"] += 1
    for sentence in _read(_encode(lines, ends, junk), "conll", lenient=lenient):
        assert sentence.tokens and all(
            t and not any(c in t for c in " \t\n") for t in sentence.tokens
        )


json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.sampled_from(WORDS + TAGS), st.text()
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)
record = st.fixed_dictionaries(
    {},
    optional={
        "tokens": st.one_of(st.lists(st.sampled_from(WORDS), max_size=5), json_value),
        "tags": st.one_of(st.lists(st.sampled_from(TAGS), max_size=5), json_value),
        "ner_tags": st.one_of(st.lists(st.integers(-2, 9), max_size=5), json_value),
        "other": json_value,
    },
)
jsonl_line = st.one_of(
    record.map(lambda r: json.dumps(r, ensure_ascii=False)),
    json_value.map(json.dumps),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * (n % 2) * n),
    st.integers(4000, 6000).map(lambda n: "1" * n),
    st.text(max_size=20),
    st.just(""),
)


@FUZZ
@given(
    st.lists(jsonl_line, max_size=8),
    line_ends,
    junk_bytes,
    st.one_of(st.none(), st.lists(st.sampled_from(TAGS), max_size=6)),
    st.booleans(),
)
def test_fuzz_jsonl_reader(lines, ends, junk, labels, lenient) -> None:
    COUNTS["reader_jsonl"] += 1
    _read(_encode(lines, ends, junk), "jsonl", labels=labels, lenient=lenient)


@FUZZ
@given(
    st.lists(st.text(max_size=30), max_size=10),
    line_ends,
    junk_bytes,
    st.sampled_from(["whitespace", "unicode"]),
)
def test_fuzz_text_reader(lines, ends, junk, tokenize) -> None:
    COUNTS["reader_text"] += 1
    sentences = _read(_encode(lines, ends, junk), "text", tokenize=tokenize)
    assert [s.line for s in sentences] == list(range(1, len(sentences) + 1))


index = st.one_of(
    st.integers(0, 20).map(str),
    st.integers(0, 10**30).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),
    st.integers(1, 6000).map(lambda n: "0" * n + "7"),
    st.sampled_from(["", "-1", "a", "٣", "1.5"]),
)
link = st.tuples(index, st.sampled_from(["-", "p", "--", ":", ""]), index).map("".join)
pharaoh_line = st.one_of(
    st.lists(link, max_size=6).map(" ".join),
    st.lists(link, max_size=6).map("\t".join),
    st.text(alphabet="0123456789-p \t", max_size=30),
)


@FUZZ
@given(st.lists(pharaoh_line, max_size=6), line_ends, junk_bytes, st.booleans())
def test_fuzz_pharaoh_reader(lines, ends, junk, one_indexed) -> None:
    COUNTS["reader_pharaoh"] += 1
    try:
        alignments = list(
            read_alignments(io.BytesIO(_encode(lines, ends, junk)), one_indexed=one_indexed)
        )
    except XnerError:
        return
    for alignment in alignments:
        pairs = alignment.pairs
        assert pairs.ndim == 2 and pairs.shape[1] == 2 and len(pairs) == len(alignment.possible)
        assert (pairs >= 0).all() and (pairs <= MAX_INDEX).all()
        assert [tuple(p) for p in pairs.tolist()] == sorted({tuple(p) for p in pairs.tolist()})
    for text in lines:  # the one-line parser agrees with the reader
        with contextlib.suppress(XnerError):
            parse_pharaoh(text, one_indexed=one_indexed)


# --- projection methods ----------------------------------------------------------------------

LABELS = ["PER", "LOC", "ORG", "DATE"]
TARGET_WORDS = ["a", "!", "?", ",", "ƙasa"]


@st.composite
def projection_item(draw):
    src_len = draw(st.integers(0, 8))
    tgt_len = draw(st.integers(0, 9))
    spans = draw(
        st.lists(
            st.builds(
                Span,
                st.integers(-1, src_len + 1),
                st.integers(-1, src_len + 2),
                st.sampled_from(LABELS),
            ),  # fmt: skip
            max_size=4,
        )
    )
    pairs = draw(
        st.lists(st.tuples(st.integers(-1, src_len + 1), st.integers(-1, tgt_len + 1)), max_size=12)
    )
    alignment = draw(
        st.sampled_from(["pairs", "array", "alignment"]).map(
            lambda kind: (
                pairs
                if kind == "pairs"
                else Alignment.from_pairs(pairs)
                if kind == "alignment"
                else Alignment.from_pairs(pairs).pairs
            )
        )
    )
    tokens = draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from(TARGET_WORDS), min_size=tgt_len, max_size=tgt_len),
            st.lists(st.just("b"), max_size=10),  # possibly the wrong length
        )
    )
    candidates = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.tuples(st.integers(-1, tgt_len + 1), st.integers(-1, tgt_len + 2)), max_size=5
            ),
        )
    )
    return ProjectionItem(spans, alignment, tgt_len, tokens, candidates)


OPTIONS = {
    "heuristic": st.fixed_dictionaries(
        {},
        optional={
            "merge_distance": st.integers(-1, 3),
            "length_ratio": st.floats(-0.5, 2.0),
            "keep": st.sampled_from(["all", "largest", "bogus"]),
            "collisions": st.sampled_from(["overwrite", "keep", "bogus"]),
        },
    ),
    "ngram": st.fixed_dictionaries(
        {},
        optional={
            "max_len": st.one_of(st.none(), st.integers(-1, 5)),
            "exact": st.booleans(),
        },
    ),
}


@pytest.mark.parametrize("method", available_methods())
def test_fuzz_projection_methods(method: str) -> None:
    options = OPTIONS.get(method, st.just({}))

    @FUZZ
    @given(st.lists(projection_item(), max_size=6), options)
    def run(items, opts) -> None:
        COUNTS[f"projection_{method}"] += 1
        try:
            results = project_batch(items, method, opts or None)
        except (XnerError, ValueError):  # documented: ConfigError for options, ValueError input
            return
        assert len(results) == len(items)
        for item, spans in zip(items, results, strict=True):
            end = 0
            for span in spans:
                assert 0 <= span.start < span.end <= item.target_length
                assert span.start >= end and span.label in LABELS
                end = span.end

    run()


# --- the CLI's argument handling -------------------------------------------------------------

EXCLUDED = {("export",)}  # the torch side: it may download checkpoints, not a runtime command
VALUES = [
    "in.conll", "in.jsonl", "in.txt", "in.talp", "deep.jsonl", "dir", "missing.conll",
    "junk-bundle", "empty-bundle", "out.conll", "out.jsonl", "out.talp", "-", "", "0", "-1", "2",
    "1e400", "nan", "abc", "Ọlọ́run", "ƙasa", "hau", "eng_Latn", "heuristic", "ngram", "itermax",
    "MISC,DATE", "--", "-x", "3.9G", "cpu", "cuda", "int8", "all", "largest", "overwrite", "skip",
    r"C:\data\gold.conll", "dir/out.conll", "in.conll/out.conll",
]  # fmt: skip


def _cli_commands():
    """``(path, params)`` of every leaf command; params are ``(kind, names)`` with kind
    ``argument``, ``flag`` or ``option`` (an option that takes a value)."""
    root = typer.main.get_command(app)
    found = []

    def walk(command, path):
        subs = getattr(command, "commands", None)
        if subs is None:
            if path not in EXCLUDED:
                params = []
                for p in command.params:
                    names = [*p.opts, *p.secondary_opts]
                    if p.param_type_name == "argument":
                        params.append(("argument", names))
                    else:
                        flag = getattr(p, "is_flag", False) or getattr(p, "count", False)
                        params.append(("flag" if flag else "option", names))
                found.append((path, params))
            return
        for name, sub in sorted(subs.items()):
            walk(sub, (*path, name))

    walk(root, ())
    return found


COMMANDS = _cli_commands()
ALL_OPTIONS = sorted(
    {n for _, params in COMMANDS for kind, names in params if kind != "argument" for n in names}
    | {"--help", "--version", "-h", "-v"}
)
value = st.sampled_from(VALUES)


@st.composite
def argv(draw):
    """A command and then either junk (option names and values in any order) or a well-formed
    line (each argument a value, a subset of its options each with a value), so that both the
    parser and the commands' own checks are reached."""
    path, params = draw(st.sampled_from(COMMANDS))
    if draw(st.booleans()):
        own = [n for kind, names in params if kind != "argument" for n in names] or ["--help"]
        token = st.one_of(st.sampled_from(own), value)
        rest = draw(st.lists(st.one_of(token, token, st.sampled_from(ALL_OPTIONS)), max_size=8))
        return [*path, *rest]
    rest: list[str] = []
    for kind, names in params:
        if kind == "argument":
            rest.append(draw(value))
        elif draw(st.integers(0, 2)) == 0:
            rest.append(draw(st.sampled_from(names)))
            if kind == "option":
                rest.append(draw(value))
    return [*path, *rest]


@pytest.fixture
def cli_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A working folder with small, partly broken inputs, and no bundle to be found anywhere."""
    (tmp_path / "in.conll").write_text("Ada\tB-PER\nsaw\tO\n\nƙasa\tB-LOC\n\n", encoding="utf-8")
    (tmp_path / "in.jsonl").write_text('{"tokens": ["a"], "tags": ["O"]}\n', encoding="utf-8")
    (tmp_path / "in.txt").write_text("Ada ya\nƙasa\n", encoding="utf-8")
    (tmp_path / "in.talp").write_text("0-0 1-1\n0-0\n", encoding="utf-8")
    (tmp_path / "deep.jsonl").write_text("[" * 100_000 + "\n", encoding="utf-8")
    (tmp_path / "dir").mkdir()
    (tmp_path / "junk-bundle").mkdir()
    (tmp_path / "junk-bundle" / "manifest.json").write_text("{", encoding="utf-8")
    (tmp_path / "empty-bundle").mkdir()
    monkeypatch.chdir(tmp_path)
    home = str(tmp_path / "home")
    return {
        "XNER_BUNDLE": str(tmp_path / "no-bundle"),
        "HOME": home,
        "USERPROFILE": home,
        "XDG_DATA_HOME": home,
        "LOCALAPPDATA": home,
        "APPDATA": home,
        "COLUMNS": "80",
    }


def test_fuzz_cli_arguments(cli_sandbox: dict[str, str]) -> None:
    runner = CliRunner()

    @FUZZ
    @given(argv())
    def run(args) -> None:
        COUNTS["cli_arguments"] += 1
        result = runner.invoke(app, args, env=cli_sandbox)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(
                f"xner {args}: uncaught {result.exception!r}"
            ) from result.exception
        assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
        COUNTS[f"cli_arguments_exit_{result.exit_code}"] += 1
        COUNTS["cli_arguments_usage_errors"] += "(see 'xner" in result.stderr
        assert "Traceback" not in result.output, (args, result.output)
        if result.exit_code:
            errors = [line for line in result.stderr.splitlines() if line.startswith("xner: error")]
            assert len(errors) <= 1, (args, result.stderr)

    run()
