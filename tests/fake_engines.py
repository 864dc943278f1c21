"""Fake engines for tests that exercise the pipelines' flow without any model.

The translator adds an ``x`` to each word (``Abuja`` -> ``Abujax``), breaks on ``BOOM`` and
gives an empty translation for ``EMPTY``; :class:`Scripted` translates by a table instead; the
tagger marks capitalised words as ``PER`` (``X`` words as ``MISC``); the aligner links word i to
word i. Each records its calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from xner.runtime.data import Span
from xner.runtime.engines.aligner import AlignmentResult
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.tagger import TagResult
from xner.runtime.engines.translator import Translation
from xner.runtime.tags import tags_from_spans


class Translator:
    """Word for word: ``Abuja`` -> ``Abujax`` (an ``x`` added to each word); ``BOOM`` in a text
    breaks the batch it is in; ``EMPTY`` translates to nothing."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def language(self, code: str) -> str:
        return code

    def translate(
        self,
        sentences: Sequence[str],
        src_lang: str,
        tgt_lang: str,
        *,
        beam_size: int | None = None,
    ) -> list[Translation]:
        self.calls.append(list(sentences))
        if any("BOOM" in text for text in sentences):
            raise RuntimeError("the engine broke")
        return [Translation("" if "EMPTY" in text else _x(text)) for text in sentences]


class Tagger:
    """Capitalised words are PER entities (one word each), ``X``-words are MISC."""

    entity_types = ("MISC", "PER")

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[TagResult]:
        out = []
        for words in sentences:
            spans = [
                Span(i, i + 1, "MISC" if word.startswith("X") else "PER")
                for i, word in enumerate(words)
                if word[:1].isupper()
            ]
            tags = tags_from_spans(spans, len(words))
            out.append(TagResult(spans, tags, np.zeros((0, 0)), np.zeros((0, 0))))
        return out


class Scripted:
    """A translator that answers from ``script`` (a text it does not know: itself), recording
    each call as (texts, source, target); a text holding ``BOOM`` breaks the batch."""

    def __init__(self, script: Mapping[str, str]) -> None:
        self.script = dict(script)
        self.calls: list[tuple[list[str], str, str]] = []

    def language(self, code: str) -> str:
        return code

    def translate(
        self,
        sentences: Sequence[str],
        src_lang: str,
        tgt_lang: str,
        *,
        beam_size: int | None = None,
    ) -> list[Translation]:
        self.calls.append((list(sentences), src_lang, tgt_lang))
        self.check(sentences, tgt_lang)
        table = self.table(tgt_lang)
        return [Translation(table.get(text, text)) for text in sentences]

    def check(self, sentences: Sequence[str], tgt_lang: str) -> None:
        """Break the batch as the script says (subclasses break otherwise)."""
        if any("BOOM" in text for text in sentences):
            raise RuntimeError("the engine broke")

    def table(self, tgt_lang: str) -> Mapping[str, str]:
        """The translations into ``tgt_lang`` (subclasses keep one table per language)."""
        return self.script


class Aligner:
    """Links word i to word i (the fake translation keeps the word order); records the pairs of
    each call."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[list[str], list[str]]]] = []

    def align(
        self, pairs: Sequence[tuple[Sequence[str], Sequence[str]]], method: str | None = None
    ) -> list[AlignmentResult]:
        self.calls.append([(list(s), list(t)) for s, t in pairs])
        out = []
        for source, target in pairs:
            n = min(len(source), len(target))
            out.append(AlignmentResult(np.stack([np.arange(n), np.arange(n)], 1), "diagonal"))
        return out


def fake_engines() -> Engines:
    """Engines made of the three fakes."""
    return Engines(translator=Translator(), tagger=Tagger(), aligner=Aligner())


def _x(text: str) -> str:
    return " ".join(word + "x" for word in text.split())
