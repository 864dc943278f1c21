"""Probe sentences for export validation: built in (export/resources/probes.tsv) or from a file.

Format, one sentence per line: ``LANG<TAB>SENTENCE`` or just ``SENTENCE`` (taken as
``eng_Latn``). Words are separated by spaces. Lines starting with ``#`` are comments. A blank
line ends a *group* of translations of one sentence: the aligner check pairs the first line of a
group with each other line; when no group has two lines, consecutive lines are paired instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from xner.runtime.errors import InputError

DEFAULT_LANG = "eng_Latn"
_LANG = re.compile(r"^(?:[a-z]{2,3}_[A-Z][a-z]{3}|__[a-z]{2,3}__|[a-z]{2,3})$")


@dataclass(frozen=True)
class Probe:
    """One probe sentence with its language code and 1-based line in the probe file."""

    lang: str
    text: str
    group: int
    line: int

    @property
    def words(self) -> list[str]:
        return self.text.split()


@dataclass(frozen=True)
class ProbeSet:
    """The probe sentences and the sentence pairs (indices into ``sentences``) for the aligner."""

    source: str
    sentences: tuple[Probe, ...]
    pairs: tuple[tuple[int, int], ...] = field(default=())


def load_probes(path: str | Path | None) -> ProbeSet:
    """Read a probe file (``None``: the built-in multilingual probes)."""
    if path is None:
        text = resources.files("xner.export").joinpath("resources/probes.tsv").read_text("utf-8")
        name = "<built-in probes>"
    else:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(name, None, "probe file is not UTF-8 text") from None
    return parse_probes(text, name)


def parse_probes(text: str, name: str = "<probes>") -> ProbeSet:
    """Parse probe text (see the module docstring for the format)."""
    sentences: list[Probe] = []
    group = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            if sentences and sentences[-1].group == group:
                group += 1
            continue
        if line.startswith("#"):
            continue
        lang, sep, sentence = raw.partition("\t")
        if not sep:
            lang, sentence = DEFAULT_LANG, raw
        lang, sentence = lang.strip(), " ".join(sentence.split())
        if not _LANG.match(lang):
            raise InputError(name, number, f"bad language code {lang!r} (expected e.g. hau_Latn)")
        if not sentence:
            raise InputError(name, number, "empty sentence after the language code")
        sentences.append(Probe(lang, sentence, group, number))
    if not sentences:
        raise InputError(name, None, "no probe sentences")
    return ProbeSet(name, tuple(sentences), _pairs(sentences))


def _pairs(sentences: list[Probe]) -> tuple[tuple[int, int], ...]:
    pairs: list[tuple[int, int]] = []
    first: dict[int, int] = {}
    for index, probe in enumerate(sentences):
        if probe.group in first:
            pairs.append((first[probe.group], index))
        else:
            first[probe.group] = index
    if not pairs:
        pairs = [(i, i + 1) for i in range(len(sentences) - 1)] or [(0, 0)]
    return tuple(pairs)
