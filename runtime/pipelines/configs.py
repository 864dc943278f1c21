"""The settings of each pipeline as one frozen, validated dataclass, built once.

A config is checked when it is made (``__post_init__``): languages resolved to NLLB codes
(``hau`` -> ``hau_Latn``), the projection method and its options resolved through the projection
registry (the options become that method's options dataclass), ``drop`` split into a frozenset of
names, ``beam_size`` and ``chunk_size`` integers >= 1, ``align_method`` a known alignment method.
A bad value raises :class:`~xner.runtime.errors.ConfigError` naming the setting and, for a
choice, the valid values. What needs the bundle (labels against the tagger's entity types, the
translator's compute type) is checked by :meth:`check` without building a model.

:meth:`canonical` is the config's part of a resume fingerprint: the settings that change the
labels (``chunk_size`` changes speed only; ``beam_size`` and ``align_method`` are resolved by the
engines' part, :meth:`~xner.runtime.engines.engine_set.Engines.fingerprint`, see
:meth:`engine_fingerprint`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from xner.runtime.alignment.methods import get_method
from xner.runtime.engines.engine_set import Engines, check_engine_settings
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.languages import resolve_language
from xner.runtime.names import split_names
from xner.runtime.projection.combine import CombineOptions, for_voters
from xner.runtime.projection.registry import method_info, resolve_method

__all__ = [
    "ENGLISH",
    "ModelTransferConfig",
    "PipelineConfig",
    "TranslateTestConfig",
    "TranslateTrainConfig",
    "checked_labels",
    "confidence_threshold",
    "pivot_languages",
    "positive",
]

ENGLISH = "eng_Latn"
"""The default pivot language of translate-test (most taggers are trained on English)."""

Names = str | Iterable[str] | None
"""Entity types given as a comma-separated string or as names (``"MISC,DATE"``)."""


def positive(name: str, value: Any) -> int:
    """``value`` when it is an integer >= 1 (not a bool), else a ConfigError naming ``name``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def checked_labels(labels: Collection[str], known: Collection[str], what: str) -> None:
    """Each of ``labels`` must be one of ``known``: else a ConfigError listing them."""
    for label in sorted(labels):
        if label not in known:
            raise unknown_choice(what, label, known)


def confidence_threshold(value: Any) -> float:
    """``value`` as a float when it is a number in [0, 1] (not a bool), else a ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"min_confidence must be a number in [0, 1], got {value!r}")
    return float(value)


def _threshold(value: float) -> dict[str, float]:
    """``min_confidence`` for a fingerprint: left out at 0 (a run without it is unchanged)."""
    return {"min_confidence": value} if value > 0 else {}


def _set(config: Any, **values: Any) -> None:
    for name, value in values.items():
        object.__setattr__(config, name, value)


def _engine_settings(beam_size: int | None, align_method: str | None) -> None:
    if beam_size is not None:
        positive("beam_size", beam_size)
    if align_method is not None:
        get_method(align_method)  # an unknown one lists the methods


@dataclass(frozen=True)
class TranslateTestConfig:
    """Translate-test settings: label text in ``lang`` through English (or other pivots).

    ``lang``: the sentences' language (NLLB code, ISO code or name; kept as the NLLB code).
    ``method``: projection method or variant (``heuristic``, ``ngram``, ``ngram-exact``; kept as
    the registered method); ``options``: its options dataclass, a mapping of its fields, or None
    (kept as the dataclass). ``drop``: entity types predicted on the English side that are not
    projected. ``beam_size``: translation beam (None: the translator's). ``align_method``:
    ``itermax``, ``argmax``, ``match`` or ``softmax`` (None: the aligner's). ``chunk_size``:
    sentences per batched engine call. ``min_confidence``: projected spans whose confidence
    (in [0, 1], see :class:`~xner.runtime.projection.result.Projected`) is below it are
    dropped (0, the default, keeps them all). ``pivots``: the languages the sentences are
    translated into and tagged in (a comma-separated string or names, any code form; kept as
    NLLB codes in order, repeats left out; ``lang`` itself is not one), ``eng_Latn`` alone by
    default; with several, each pivot's projected spans are combined per sentence by
    ``combine`` (:class:`~xner.runtime.projection.combine.CombineOptions`, or a rule name, or a
    mapping of its fields; its ``weights`` name pivots in any code form, kept by NLLB code).
    """

    lang: str
    method: str = "heuristic"
    options: Any = None
    drop: frozenset[str] = frozenset()
    beam_size: int | None = None
    align_method: str | None = None
    chunk_size: int = 256
    min_confidence: float = 0.0
    pivots: tuple[str, ...] = (ENGLISH,)
    combine: CombineOptions = dataclasses.field(default_factory=CombineOptions)

    engines: ClassVar[tuple[str, ...]] = ("translator", "tagger", "aligner")
    """The engines the pipeline runs (a method may ask for more: :attr:`needs`)."""

    def __post_init__(self) -> None:
        method, options = resolve_method(self.method, self.options)
        if method_info(method).translates:  # markers: it needs the labelled source
            raise ConfigError(f"projection method {method!r} works in translate-train only")
        _set(self, method=method, options=options, drop=frozenset(split_names(self.drop)))
        _set(self, chunk_size=positive("chunk_size", self.chunk_size))
        _set(self, min_confidence=confidence_threshold(self.min_confidence))
        _engine_settings(self.beam_size, self.align_method)
        _set(self, lang=resolve_language(self.lang))
        _set(self, pivots=pivot_languages(self.pivots, self.lang))
        _set(self, combine=for_voters(self.combine, self.pivots, "pivot"))

    @property
    def needs(self) -> tuple[str, ...]:
        """Every engine this run uses: the pipeline's and the projection method's."""
        return _needs(self.engines, self.method, self.options)

    def canonical(self) -> dict[str, Any]:
        """The settings that decide the labels (the config's part of the resume fingerprint;
        ``pivots`` only when not English alone, ``combine`` only with several pivots, so that
        a run of before pivots existed resumes)."""
        pivots = {} if self.pivots == (ENGLISH,) else {"pivots": list(self.pivots)}
        combine = {"combine": self.combine.canonical()} if len(self.pivots) > 1 else {}
        return {
            "lang": self.lang,
            "method": self.method,
            "options": dataclasses.asdict(self.options),
            "drop": sorted(self.drop),
            **_threshold(self.min_confidence),
            **pivots,
            **combine,
        }

    def engine_fingerprint(self, engines: Engines) -> dict[str, Any]:
        """The engines' part of the resume fingerprint (beam size and method resolved)."""
        return engines.fingerprint(
            self.engines, beam_size=self.beam_size, align_method=self.align_method
        )

    def check(self, engines: Engines) -> None:
        """What needs the bundle: the labels to drop are the tagger's entity types, the
        translator's compute type is known. No model is built."""
        check_engine_settings(engines.options_of("translator"), translator=True)
        checked_labels(self.drop, engines.entity_types(), "entity type to drop")


@dataclass(frozen=True)
class TranslateTrainConfig:
    """Translate-train settings: carry labelled sentences from ``src_lang`` into ``tgt_lang``.

    ``drop``: entity types not carried over (any label: not checked against a model).
    ``drop_incomplete``: the file job leaves out sentences whose projection lost an entity (an
    entity whose span fell below ``min_confidence`` counts as lost). The other fields are those
    of :class:`TranslateTestConfig`.
    """

    src_lang: str
    tgt_lang: str
    method: str = "heuristic"
    options: Any = None
    drop: frozenset[str] = frozenset()
    drop_incomplete: bool = False
    beam_size: int | None = None
    align_method: str | None = None
    chunk_size: int = 256
    min_confidence: float = 0.0

    engines: ClassVar[tuple[str, ...]] = ("translator", "aligner")
    """The engines the pipeline runs (a method may ask for more: :attr:`needs`)."""

    def __post_init__(self) -> None:
        method, options = resolve_method(self.method, self.options)
        _set(self, method=method, options=options, drop=frozenset(split_names(self.drop)))
        _set(self, drop_incomplete=bool(self.drop_incomplete))
        _set(self, chunk_size=positive("chunk_size", self.chunk_size))
        _set(self, min_confidence=confidence_threshold(self.min_confidence))
        _engine_settings(self.beam_size, self.align_method)
        _set(self, src_lang=resolve_language(self.src_lang))
        _set(self, tgt_lang=resolve_language(self.tgt_lang))

    @property
    def needs(self) -> tuple[str, ...]:
        """Every engine this run uses: the pipeline's and the projection method's."""
        return _needs(self.engines, self.method, self.options)

    def canonical(self) -> dict[str, Any]:
        """The settings that decide the output (the config's part of the resume fingerprint)."""
        return {
            "src_lang": self.src_lang,
            "tgt_lang": self.tgt_lang,
            "method": self.method,
            "options": dataclasses.asdict(self.options),
            "drop": sorted(self.drop),
            "drop_incomplete": self.drop_incomplete,
            **_threshold(self.min_confidence),
        }

    def engine_fingerprint(self, engines: Engines) -> dict[str, Any]:
        """The engines' part of the resume fingerprint (beam size and method resolved)."""
        return engines.fingerprint(
            self.engines, beam_size=self.beam_size, align_method=self.align_method
        )

    def check(self, engines: Engines) -> None:
        """What needs the bundle: the translator's compute type. No model is built."""
        check_engine_settings(engines.options_of("translator"), translator=True)


@dataclass(frozen=True)
class ModelTransferConfig:
    """Model-transfer settings: tag the text directly with the multilingual tagger.

    ``lang``: the sentences' language, only checked (None: not given). ``drop`` and
    ``chunk_size``: as in :class:`TranslateTestConfig`.
    """

    lang: str | None = None
    drop: frozenset[str] = frozenset()
    chunk_size: int = 256

    engines: ClassVar[tuple[str, ...]] = ("tagger",)
    """The engines the pipeline runs."""

    def __post_init__(self) -> None:
        _set(self, drop=frozenset(split_names(self.drop)))
        _set(self, chunk_size=positive("chunk_size", self.chunk_size))
        if self.lang is not None:
            _set(self, lang=resolve_language(self.lang))

    @property
    def needs(self) -> tuple[str, ...]:
        """Every engine this run uses."""
        return self.engines

    def canonical(self) -> dict[str, Any]:
        """The settings that decide the labels (the config's part of the resume fingerprint)."""
        return {"lang": self.lang, "drop": sorted(self.drop)}

    def engine_fingerprint(self, engines: Engines) -> dict[str, Any]:
        """The engines' part of the resume fingerprint."""
        return engines.fingerprint(self.engines)

    def check(self, engines: Engines) -> None:
        """What needs the bundle: the labels to drop are the tagger's entity types."""
        checked_labels(self.drop, engines.entity_types(), "entity type to drop")


PipelineConfig = TranslateTestConfig | TranslateTrainConfig | ModelTransferConfig
"""Any pipeline's config."""


def pivot_languages(pivots: Names, lang: str) -> tuple[str, ...]:
    """``pivots`` (comma-separated or names, any code form) as NLLB codes in order, repeats left
    out; a ConfigError when there is none, or when one is ``lang`` (the sentences' language,
    an NLLB code) unless it is the default English pivot alone (translate-test of English
    text, as before pivots existed)."""
    resolved = tuple(dict.fromkeys(resolve_language(pivot) for pivot in split_names(pivots)))
    if not resolved:
        raise ConfigError("pivots: give at least one pivot language (e.g. eng_Latn)")
    if lang in resolved and resolved != (ENGLISH,):
        raise ConfigError(
            f"pivots: {lang} is the language of the sentences, not a pivot; "
            f"choose pivots other than {lang}"
        )
    return resolved


def _needs(engines: tuple[str, ...], method: str, options: Any) -> tuple[str, ...]:
    extra = [name for name in method_info(method).needed(options) if name not in engines]
    return (*engines, *extra)
