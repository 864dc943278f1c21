"""Sentence files: a registry of readers and writers, and the CoNLL, JSON Lines and text formats.

Every reader streams: it yields one :class:`~xner.runtime.data.Sentence` at a time and never
loads a whole file. Readers take a path, ``"-"`` (standard input) or an open stream; writers a
path (written atomically), ``"-"`` (standard output) or an open text stream.

Formats and the extensions that select them when ``fmt`` is not given:

- ``conll`` (``.conll .tsv .iob .bio``): see :func:`read_conll`.
- ``jsonl`` (``.jsonl .json``): one JSON object per line, see :func:`read_jsonl`; projected
  sentences also list their spans with a confidence (:func:`jsonl_line`).
- ``text`` (``.txt``): one sentence per line, see :func:`read_text`.

More formats are added with the :func:`register_reader` / :func:`register_writer` decorators.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from xner.runtime.data import Sentence
from xner.runtime.errors import ConfigError, InputError, unknown_choice
from xner.runtime.files.io import (
    Source,
    Target,
    check_readable,
    iter_lines,
    open_output,
    parse_json,
    source_name,
)
from xner.runtime.tokenize import detokenize, word_tokenize

logger = logging.getLogger("xner")

Reader = Callable[..., Iterator[Sentence]]
Writer = Callable[..., int]
_READERS: dict[str, Reader] = {}
_WRITERS: dict[str, Writer] = {}
_EXTENSIONS: dict[str, dict[str, str]] = {"reader": {}, "writer": {}}


_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def _register(
    kind: str, table: dict[str, _Fn], name: str, extensions: tuple[str, ...]
) -> Callable[[_Fn], _Fn]:
    def decorate(fn: _Fn) -> _Fn:
        table[name] = fn
        for extension in extensions:
            _EXTENSIONS[kind]["." + extension.lower().lstrip(".")] = name
        return fn

    return decorate


def register_reader(name: str, *extensions: str) -> Callable[[Reader], Reader]:
    """Register ``fn(source, **options) -> Iterator[Sentence]`` as the reader of format ``name``.

    ``extensions`` (``".conll"`` or ``"conll"``) select this reader when no format is named.
    """
    return _register("reader", _READERS, name, extensions)


def register_writer(name: str, *extensions: str) -> Callable[[Writer], Writer]:
    """Register ``fn(sentences, stream, **options) -> int`` (sentences written) for ``name``."""
    return _register("writer", _WRITERS, name, extensions)


def reader_formats() -> list[str]:
    """The names of the formats that can be read."""
    return sorted(_READERS)


def writer_formats() -> list[str]:
    """The names of the formats that can be written."""
    return sorted(_WRITERS)


def resolve_format(path: Source, fmt: str | None = None, *, kind: str = "reader") -> str:
    """The format to use for ``path``: ``fmt`` if given (checked), else from the extension.

    ``kind`` is ``"reader"`` or ``"writer"``. Raises :class:`ConfigError` listing the valid
    formats for an unknown name, for an unknown extension and for ``"-"`` or a stream without
    ``fmt``.
    """
    table = _READERS if kind == "reader" else _WRITERS
    if fmt is not None:
        if fmt not in table:
            raise unknown_choice("format", fmt, table)
        return fmt
    extensions = _EXTENSIONS[kind]
    choices = ", ".join(sorted(table))
    if not isinstance(path, (str, os.PathLike)) or str(path) == "-":
        raise ConfigError(f"cannot tell the format of {source_name(path)}; name it ({choices})")
    suffix = Path(path).suffix.lower()
    if kind == "reader" and Path(path).is_dir():  # say what is wrong, not the extension
        raise ConfigError(f"{os.fspath(path)}: is a folder, expected a file")
    if suffix not in extensions:
        known = ", ".join(f"{ext} ({name})" for ext, name in sorted(extensions.items()))
        raise ConfigError(
            f"cannot tell the format of {os.fspath(path)} from its extension"
            f" {suffix or '(none)'!r}; name it ({choices}) or use one of {known}"
        )
    return extensions[suffix]


def _check_options(fn: Callable[..., Any], fmt: str, options: dict[str, Any], skip: int) -> None:
    allowed = list(inspect.signature(fn).parameters)[skip:]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        takes = f"its options: {', '.join(allowed)}" if allowed else "it takes no options"
        raise ConfigError(f"option {unknown[0]!r} does not apply to the {fmt} format; {takes}")


def read_sentences(source: Source, fmt: str | None = None, **options: Any) -> Iterator[Sentence]:
    """Stream the sentences of ``source`` (a path, ``"-"`` or an open stream).

    ``fmt`` names the format; when None it is chosen from the file extension. ``options`` go to
    the format's reader (for example ``tokenize="unicode"`` for text, ``labels=[...]`` for JSONL).
    Format, options and the file's existence are checked at once; the file is read lazily.
    """
    name = resolve_format(source, fmt, kind="reader")
    reader = _READERS[name]
    _check_options(reader, name, options, skip=1)
    check_readable(source)
    return reader(source, **options)


def write_sentences(
    sentences: Iterable[Sentence],
    target: Target,
    fmt: str | None = None,
    **options: Any,
) -> int:
    """Write ``sentences`` to ``target`` and return how many were written.

    A path is written atomically (complete or not at all, even when a sentence turns out to be
    unwritable half-way); ``"-"`` is standard output; an open text stream is written as is.
    ``fmt`` as in :func:`read_sentences`; ``options`` go to the format's writer.
    """
    name = resolve_format(target, fmt, kind="writer")
    writer = _WRITERS[name]
    _check_options(writer, name, options, skip=2)
    with open_output(target) as stream:
        return writer(sentences, stream, **options)


def convert(
    in_path: Source,
    out_path: Target,
    from_fmt: str | None = None,
    to_fmt: str | None = None,
    write_options: dict[str, Any] | None = None,
    **options: Any,
) -> int:
    """Stream ``in_path`` into ``out_path`` in another format; returns the sentences written.

    ``options`` go to the reader, ``write_options`` to the writer. Formats default to the file
    extensions.
    """
    to_name = resolve_format(out_path, to_fmt, kind="writer")
    sentences = read_sentences(in_path, from_fmt, **options)
    return write_sentences(sentences, out_path, to_name, **(write_options or {}))


# --- CoNLL -----------------------------------------------------------------------------------

_COLUMNS = re.compile(r"[ \t\v\f]+")
_UNSAFE = re.compile(r"[ \t\v\f\r\n]")
_TAG = re.compile(r"O|[BIESLU]-\S+")
DOCSTART = "-DOCSTART-"


class _TagCheck:
    """Refuses tags that are not ``O`` or ``P-TYPE`` (P one of B, I, E, S, L, U) at their line.

    With ``lenient`` such tags pass unchanged and :meth:`report` logs how many did, once.
    """

    def __init__(self, name: str, lenient: bool) -> None:
        self.name = name
        self.lenient = lenient
        self.passed = 0
        self._good: set[str] = set()

    def __call__(self, tag: str, number: int, where: str = "") -> None:
        if tag in self._good:
            return
        if _TAG.fullmatch(tag):
            if len(self._good) < 4096:
                self._good.add(tag)
            return
        if not self.lenient:
            raise InputError(
                self.name, number, f"{where}bad tag {tag!r} (expected O, B-TYPE or I-TYPE)"
            )
        self.passed += 1

    def report(self) -> None:
        if self.passed:
            logger.warning(
                "%s: passed %d tags that are not O, B-TYPE or I-TYPE through unchanged (lenient)",
                self.name,
                self.passed,
            )


def _is_comment(columns: list[str], tagged: bool | None) -> bool:
    """Whether a line whose first column starts with ``#`` is a comment (rule in read_conll)."""
    if len(columns) > 1:
        return _TAG.fullmatch(columns[-1]) is None
    return tagged is not False


@register_reader("conll", ".conll", ".tsv", ".iob", ".bio")
def read_conll(source: Source, lenient: bool = False) -> Iterator[Sentence]:
    """Read CoNLL-style columns: the token in the first column, the tag in the last.

    Columns are separated by runs of spaces or tabs (other Unicode spaces, such as the no-break
    space, stay inside tokens); middle columns are ignored. One or more blank lines end a
    sentence (no empty sentences are produced); ``-DOCSTART-`` lines end one too and are skipped.
    A file whose first token line has one column is read as tokens only (``tags=None``); mixing
    token lines with and without a tag column is an error.

    Comments: a line whose first character is ``#`` is a comment unless it is a token line, that
    is, unless it has two or more columns and its last column is an IOB-style tag (``O`` or
    ``B-``/``I-``/``E-``/``S-``/``L-``/``U-`` followed by a label), or it has one column in a
    file already known to be tokens only. So ``#<TAB>O`` is the token ``#`` and ``# sent_id = 3``
    is a comment.

    Tags must be ``O`` or a prefix letter, ``-`` and a type (``B-PER``; any of the schemes of
    :mod:`xner.runtime.tags`); another tag (``LOCATION``, ``B-``) is an error at its own line
    unless ``lenient``, which passes such tags through and logs how many there were.
    """
    name = source_name(source)
    check = _TagCheck(name, lenient)
    tagged: bool | None = None
    mode_line = 0
    tokens: list[str] = []
    tags: list[str] = []
    first = 0
    for number, text in iter_lines(source, name):
        stripped = text.strip(" \t\v\f")
        columns = _COLUMNS.split(stripped) if stripped else None
        if columns is None or columns[0] == DOCSTART:
            if tokens:
                yield Sentence(tokens, tags if tagged else None, first, name)
                tokens, tags = [], []
            continue
        if columns[0][0] == "#" and _is_comment(columns, tagged):
            continue
        has_tag = len(columns) > 1
        if tagged is None:
            tagged, mode_line = has_tag, number
        elif has_tag != tagged:
            if has_tag:
                problem = (
                    f"this line has a tag column but the first token line ({mode_line}) has none"
                )
            else:
                problem = (
                    f"token {columns[0]!r} has no tag column"
                    f" but the first token line ({mode_line}) has one"
                )
            raise InputError(name, number, problem + "; tag every token or none")
        if not tokens:
            first = number
        tokens.append(columns[0])
        if has_tag:
            check(columns[-1], number)
            tags.append(columns[-1])
    if tokens:
        yield Sentence(tokens, tags if tagged else None, first, name)
    check.report()


def _conll_problem(sentence: Sentence, tagged: bool, first_in_file: bool) -> str | None:
    """Why ``sentence`` cannot be written as CoNLL and read back unchanged, or None."""
    tokens, tags = sentence.tokens, sentence.tags
    if tags is not None and len(tags) != len(tokens):
        return f"{len(tokens)} tokens but {len(tags)} tags"
    for k, token in enumerate(tokens):
        tag = tags[k] if tags is not None else None
        if not token or _UNSAFE.search(token):
            return (
                f"token {k + 1} ({token!r}) is empty or holds whitespace, which CoNLL cannot hold"
            )
        if tag is not None and (not tag or _UNSAFE.search(tag)):
            return f"tag {k + 1} ({tag!r}) is empty or holds whitespace, which CoNLL cannot hold"
        if token == DOCSTART:
            return f"token {k + 1} is {DOCSTART}, which CoNLL readers skip"
        if first_in_file and k == 0 and token.startswith("\ufeff"):
            return "the first token starts with U+FEFF, which readers drop as a byte-order mark"
        columns = [token] if tag is None else [token, tag]
        lost = tagged or (first_in_file and k == 0)
        if token[0] == "#" and lost and _is_comment(columns, None):
            with_tag = "" if tag is None else f" with tag {tag!r}"
            return f"token {k + 1} ({token!r}){with_tag} would be read back as a comment"
    return None


@register_writer("conll", ".conll", ".tsv", ".iob", ".bio")
def write_conll(sentences: Iterable[Sentence], stream: TextIO) -> int:
    """Write ``token<TAB>tag`` lines (``token`` alone when tags are None), a blank line after each.

    Empty sentences cannot be written (a blank line is a boundary): they are skipped and their
    number is logged as a warning. A sentence that would not read back unchanged (a token with
    whitespace, a ``#`` token read as a comment, tags on some sentences only) raises InputError.
    """
    written = skipped = 0
    tagged: bool | None = None
    for sentence in sentences:
        if not sentence.tokens:
            skipped += 1
            continue
        has_tags = sentence.tags is not None
        if tagged is None:
            tagged = has_tags
        problem: str | None
        if has_tags != tagged:
            problem = "some sentences have tags and others not; CoNLL needs all or none"
        else:
            problem = _conll_problem(sentence, tagged, written == 0)
        if problem is not None:
            raise InputError(sentence.source, sentence.line or None, problem)
        if sentence.tags is not None:
            lines = [f"{t}\t{g}\n" for t, g in zip(sentence.tokens, sentence.tags, strict=True)]
        else:
            lines = [f"{t}\n" for t in sentence.tokens]
        lines.append("\n")
        stream.write("".join(lines))
        written += 1
    if skipped:
        logger.warning("skipped %d empty sentences: CoNLL cannot hold them", skipped)
    return written


# --- JSON Lines ------------------------------------------------------------------------------


@register_reader("jsonl", ".jsonl", ".json")
def read_jsonl(
    source: Source,
    tokens_key: str = "tokens",
    tags_key: str | None = None,
    labels: Sequence[str] | None = None,
    lenient: bool = False,
) -> Iterator[Sentence]:
    """Read one JSON object per line (blank lines are skipped; other keys are ignored).

    ``tokens_key``: the key of the token list (``"src_tokens"`` / ``"tgt_tokens"`` for the
    parallel Europarl files). ``tags_key``: the key of the tags; None looks for ``"tags"``, then
    ``"ner_tags"`` (the Hugging Face datasets name), and reads records without either as
    untagged. ``labels``: the label list that integer tag ids index (``ner_tags: [3, 0, 0]``);
    ids without it, or out of its range, are errors. Records with and without tags cannot mix.
    A tag that is not ``O`` or ``P-TYPE`` is an error unless ``lenient`` (as in :func:`read_conll`).
    """
    if labels is not None and (
        isinstance(labels, str) or not all(isinstance(x, str) for x in labels)
    ):
        raise ConfigError(
            "labels must be a list of label strings, for example ['O', 'B-PER', 'I-PER']"
        )
    labels = None if labels is None else list(labels)
    return _read_jsonl(source, tokens_key, tags_key, labels, lenient)


def _read_jsonl(
    source: Source,
    tokens_key: str,
    tags_key: str | None,
    labels: list[str] | None,
    lenient: bool,
) -> Iterator[Sentence]:
    name = source_name(source)
    check = _TagCheck(name, lenient)
    tagged: bool | None = None
    for number, text in iter_lines(source, name):
        if not text.strip():
            continue
        record = parse_json(text, name, number)
        if not isinstance(record, dict):
            raise InputError(name, number, f"expected a JSON object, found {type(record).__name__}")
        tokens = record.get(tokens_key)
        if not isinstance(tokens, list):
            problem = "no" if tokens is None else "a non-list"
            raise InputError(name, number, f"record has {problem} {tokens_key!r} (a list of words)")
        for k, token in enumerate(tokens):
            if not isinstance(token, str):
                raise InputError(
                    name, number, f"token {k + 1} of {tokens_key!r} is not a string: {token!r}"
                )
        key = tags_key or next((k for k in ("tags", "ner_tags") if k in record), None)
        if tags_key is not None and tags_key not in record:
            raise InputError(name, number, f"record has no {tags_key!r}")
        if tagged is None:
            tagged = key is not None
        elif tagged != (key is not None):
            raise InputError(name, number, "some records have tags and others not; tag all or none")
        tags = None if key is None else _tags(record[key], key, labels, name, number)
        if tags is not None and len(tags) != len(tokens):
            problem = f"{len(tokens)} tokens but {len(tags)} tags in {key!r}"
            raise InputError(name, number, problem)
        for k, tag in enumerate(tags or ()):
            check(tag, number, f"tag {k + 1} of {key!r}: ")
        yield Sentence(tokens, tags, number, name)
    check.report()


def _tags(value: Any, key: str, labels: list[str] | None, name: str, number: int) -> list[str]:
    if not isinstance(value, list):
        raise InputError(name, number, f"{key!r} is not a list")
    if all(isinstance(tag, str) for tag in value):
        return value
    tags: list[str] = []
    for tag in value:
        if isinstance(tag, str):
            tags.append(tag)
        elif not isinstance(tag, int) or isinstance(tag, bool):
            raise InputError(name, number, f"{key!r} holds {tag!r}; expected strings or label ids")
        elif labels is None:
            raise InputError(
                name, number, f"{key!r} holds label id {tag}; pass the label list (labels)"
            )
        elif not 0 <= tag < len(labels):
            raise InputError(
                name, number, f"label id {tag} is out of range for {len(labels)} labels"
            )
        else:
            tags.append(labels[tag])
    return tags


@register_writer("jsonl", ".jsonl", ".json")
def write_jsonl(
    sentences: Iterable[Sentence],
    stream: TextIO,
    tokens_key: str = "tokens",
    tags_key: str = "tags",
) -> int:
    """Write ``{"tokens": [...], "tags": [...]}`` per line (no ``tags`` key when tags are None).

    Non-ASCII text is written as is (UTF-8), not escaped. ``tokens_key`` / ``tags_key`` rename
    the keys.
    """
    written = 0
    for sentence in sentences:
        stream.write(jsonl_line(sentence, tokens_key=tokens_key, tags_key=tags_key))
        written += 1
    return written


def jsonl_line(
    sentence: Sentence,
    spans: Sequence[dict[str, Any]] | None = None,
    *,
    tokens_key: str = "tokens",
    tags_key: str = "tags",
) -> str:
    """One line of :func:`write_jsonl` (with its newline); ``spans``: the sentence's entities as
    ``{"start", "end", "label", "confidence"}`` records, written under ``"spans"`` after the
    tags (None: no ``spans`` key). Readers ignore the key."""
    record: dict[str, Any] = {tokens_key: sentence.tokens}
    if sentence.tags is not None:
        record[tags_key] = sentence.tags
    if spans is not None:
        record["spans"] = list(spans)
    return json.dumps(record, ensure_ascii=False) + "\n"


# --- plain text ------------------------------------------------------------------------------

_TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "whitespace": str.split,
    "unicode": lambda text: [token.text for token in word_tokenize(text)],
}


@register_reader("text", ".txt")
def read_text(source: Source, tokenize: str = "whitespace") -> Iterator[Sentence]:
    """Read one sentence per line, untagged.

    ``tokenize``: ``"whitespace"`` splits on (Unicode) whitespace, for pre-tokenised text;
    ``"unicode"`` uses :func:`xner.runtime.tokenize.word_tokenize`, which also separates
    punctuation. An empty (or blank) line yields an empty sentence, so that sentence ``k`` is
    always line ``k`` of the input (outputs stay line-aligned with it).
    """
    if tokenize not in _TOKENIZERS:
        raise unknown_choice("tokenizer", tokenize, _TOKENIZERS)
    return _read_text(source, _TOKENIZERS[tokenize])


def _read_text(source: Source, split: Callable[[str], list[str]]) -> Iterator[Sentence]:
    name = source_name(source)
    for number, text in iter_lines(source, name):
        yield Sentence(split(text), None, number, name)


@register_writer("text", ".txt")
def write_text(sentences: Iterable[Sentence], stream: TextIO, no_space: bool = False) -> int:
    """Write one sentence per line, words joined by spaces (by nothing if ``no_space``).

    Tags are not written. Empty sentences become empty lines (line alignment is kept).
    """
    written = 0
    for sentence in sentences:
        line = detokenize(sentence.tokens, no_space=no_space)
        if "\n" in line or "\r" in line:
            raise InputError(sentence.source, sentence.line or None, "a token holds a line break")
        stream.write(line + "\n")
        written += 1
    return written
