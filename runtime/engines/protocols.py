"""What the pipelines ask of an engine: three small Protocols.

The pipelines (:mod:`xner.runtime.pipelines`), the experiment and :class:`~xner.runtime.engines.
engine_set.Engines` use an engine only through these methods, so a different backend, a remote or
distributed proxy, or a test's fake can stand in for the bundle's :class:`~xner.runtime.engines.
translator.Translator`, :class:`~xner.runtime.engines.tagger.Tagger` and
:class:`~xner.runtime.engines.aligner.Aligner` (which satisfy them). The Protocols are
``runtime_checkable``: ``isinstance(obj, TranslatorEngine)`` checks that the methods exist (not
their signatures; mypy checks those).

Three attributes are read when an engine has them, never required: ``beam_size`` (translator)
and ``method`` (aligner), the defaults that go into the resume fingerprint
(:meth:`~xner.runtime.engines.engine_set.Engines.fingerprint`), and ``bundle`` and ``options``,
whose manifest and device go into it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from xner.runtime.engines.aligner import AlignmentResult, WordPair
from xner.runtime.engines.tagger import TagResult
from xner.runtime.engines.translator import Translation

__all__ = ["AlignerEngine", "TaggerEngine", "TranslatorEngine"]


@runtime_checkable
class TranslatorEngine(Protocol):
    """Translates sentences between languages; it alone knows its own language codes.

    Callers name languages by NLLB codes (``hau_Latn``, as the configs resolve them) and the
    engine maps them to its own (:meth:`language`), so that no caller handles a model's codes
    (an M2M100 model's ``__ha__``)."""

    def language(self, code: str) -> str:
        """The engine's own code for a language code, ISO code or name (``hau`` ->
        ``hau_Latn``); :class:`~xner.runtime.errors.ConfigError` when unknown or unsupported.
        The bundle's translator answers with
        :func:`~xner.runtime.engines.translator.translator_language`."""
        ...

    def translate(
        self,
        sentences: Sequence[str],
        src_lang: str,
        tgt_lang: str,
        *,
        beam_size: int | None = None,
    ) -> list[Translation]:
        """One :class:`Translation` per sentence, in input order (an empty sentence gives an
        empty text), from ``src_lang`` into ``tgt_lang`` (NLLB codes, mapped by the engine).
        ``beam_size``: ``None`` for the engine's own."""
        ...


@runtime_checkable
class TaggerEngine(Protocol):
    """Finds entities in word-tokenised sentences."""

    @property
    def entity_types(self) -> Sequence[str]:
        """The entity types the tagger can predict (``PER``, ``LOC``, ...), sorted."""
        ...

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[TagResult]:
        """One :class:`TagResult` per sentence (a list of words), in input order."""
        ...


@runtime_checkable
class AlignerEngine(Protocol):
    """Aligns the words of sentence pairs."""

    def align(self, pairs: Sequence[WordPair], method: str | None = None) -> list[AlignmentResult]:
        """One :class:`AlignmentResult` per ``(source_words, target_words)`` pair, in order.
        ``method``: an extraction method name (:mod:`xner.runtime.alignment.methods`), ``None``
        for the engine's own."""
        ...
