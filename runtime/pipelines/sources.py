"""Several labelled sources, one target language: multi-source translate-train (issue 14).

Each source is a file of labelled sentences in one language (:class:`LabelledSource`,
``en.conll:eng_Latn``). :class:`MultiSourceConfig` holds them with the settings of
translate-train. Two ways of using several sources:

- **parallel** sources hold the same sentences in several languages (Europarl):
  :func:`translate_train_sources` translates the *first* source into the target language (as
  translate-train does), projects every source's gold entities onto that one translation
  through its own alignment with it (:func:`project_sources`: the aligner is multilingual; the
  first source's projection is translate-train's own) and combines the projections per
  sentence with :func:`~xner.runtime.projection.combine.combine_spans` (``config.combine``;
  the voters are the source languages, in the order of the sources). A source whose projection
  fails for a sentence does not vote on it; the sentence fails when it has no whole
  translation (a long sentence one of whose segments failed to translate has none) or no
  source answers. A method without confidences votes with confidence 1.
- **separate** sources (not parallel): :func:`translate_train_each` runs translate-train on each
  source's sentences with its own language and keeps, per result, the source it came from
  (training can weight the sources).

:func:`project_sources` is also the multi-source projection on its own, onto given target
words (no translation): the experiment projects parallel gold sources onto a gold target
sentence with it (annotation projection onto human translations).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from xner.runtime.data import Sentence, Span
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.languages import resolve_language
from xner.runtime.names import split_names
from xner.runtime.pipelines import stages
from xner.runtime.pipelines.compose import (
    EngineSource,
    gold_spans,
    lost_entities,
    numbered_chunks,
    translate_train,
)
from xner.runtime.pipelines.configs import ENGLISH, TranslateTrainConfig, positive
from xner.runtime.pipelines.records import Record
from xner.runtime.pipelines.results import TranslateTrainResult
from xner.runtime.pipelines.source_results import (
    MultiSourceResult,
    ParallelSentences,
    SourcedResult,
    SourcedSentence,
)
from xner.runtime.projection.combine import CombineOptions, combine_spans, for_voters
from xner.runtime.projection.registry import method_info
from xner.runtime.projection.result import Projected
from xner.runtime.tags import tags_from_spans

__all__ = [
    "LabelledSource",
    "MultiSourceConfig",
    "MultiSourceResult",
    "ParallelSentences",
    "SourcedResult",
    "SourcedSentence",
    "parse_sources",
    "project_sources",
    "translate_train_each",
    "translate_train_sources",
]


# --- the sources ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledSource:
    """One source of multi-source translate-train: ``path``, its file (as given), and ``lang``,
    the language of its sentences (any code form; kept as the NLLB code)."""

    path: str
    lang: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.strip():
            raise ConfigError(f"a source needs a file, got {self.path!r}")
        if self.path.strip() == "-":
            raise ConfigError("--sources reads files, not standard input (-)")
        try:
            lang = resolve_language(self.lang)
        except ConfigError as error:
            raise ConfigError(f"source {self.path}: {error}") from None
        object.__setattr__(self, "path", self.path.strip())
        object.__setattr__(self, "lang", lang)

    @property
    def name(self) -> str:
        """``FILE:LANG`` with the NLLB code (``es.conll:spa_Latn``): the source in outputs."""
        return f"{self.path}:{self.lang}"

    @classmethod
    def parse(cls, text: str) -> LabelledSource:
        """``"es.conll:spa_Latn"`` (any code form after the last ``:``); a spec without a
        language is a ConfigError."""
        path, sep, lang = text.strip().rpartition(":")
        if not sep or not path.strip() or not lang.strip():
            raise ConfigError(
                f"--sources: bad entry {text.strip()!r}; write FILE:LANG, e.g. es.conll:spa_Latn"
            )
        return cls(path, lang.strip())


def parse_sources(value: str | Iterable[str | LabelledSource]) -> tuple[LabelledSource, ...]:
    """Sources from ``"en.conll:eng_Latn,es.conll:spa_Latn"`` (split by
    :func:`~xner.runtime.names.split_names`) or from specs / :class:`LabelledSource` objects."""
    items: Iterable[str | LabelledSource] = split_names(value) if isinstance(value, str) else value
    out = tuple(
        item if isinstance(item, LabelledSource) else LabelledSource.parse(item) for item in items
    )
    if not out:
        raise ConfigError("--sources: give at least one FILE:LANG")
    return out


@dataclass(frozen=True)
class MultiSourceConfig:
    """Multi-source translate-train settings.

    ``sources``: :class:`LabelledSource` objects or ``FILE:LANG`` specs (a comma-separated
    string or a list). ``tgt_lang``: the language to translate into. ``parallel``: the sources
    hold the same sentences (module docstring); then ``combine`` says how their projections are
    combined (:class:`~xner.runtime.projection.combine.CombineOptions`; its ``weights`` name source
    languages, in any code form) and each language may appear once. Without ``parallel`` the
    combine options must stay at their defaults. The other fields are those of
    :class:`~xner.runtime.pipelines.configs.TranslateTrainConfig`, checked the same way; a
    method that translates the sentences itself (``markers``) cannot project the other parallel
    sources.
    """

    sources: tuple[LabelledSource, ...]
    tgt_lang: str
    parallel: bool = False
    combine: CombineOptions = field(default_factory=CombineOptions)
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
        _set(self, sources=parse_sources(self.sources), parallel=bool(self.parallel))
        if isinstance(self.combine, str):
            _set(self, combine=CombineOptions(self.combine))
        elif isinstance(self.combine, Mapping):
            _set(self, combine=CombineOptions(**self.combine))
        if not isinstance(self.combine, CombineOptions):
            raise ConfigError(
                f"combine must be CombineOptions or a rule name, got {self.combine!r}"
            )
        first = self.source_config(self.sources[0])  # checks every shared setting
        for name in ("tgt_lang", "method", "options", "drop", "min_confidence"):
            _set(self, **{name: getattr(first, name)})
        _set(self, drop_incomplete=first.drop_incomplete)
        _set(self, chunk_size=positive("chunk_size", self.chunk_size))
        if self.parallel:
            self._check_parallel()
        elif self.combine != CombineOptions():
            raise ConfigError("--combine, --min-votes and --weights apply to --parallel sources")

    def _check_parallel(self) -> None:
        languages = self.voters
        repeated = [lang for k, lang in enumerate(languages) if lang in languages[:k]]
        if repeated:
            raise ConfigError(
                f"--parallel: each source language once (they are the voters); {repeated[0]} "
                "is given twice"
            )
        if method_info(self.method).translates:
            raise ConfigError(
                f"projection method {self.method!r} translates the sentences itself: it cannot "
                "project the other --parallel sources; choose another --method"
            )
        _set(self, combine=for_voters(self.combine, languages, "source language"))

    @property
    def voters(self) -> tuple[str, ...]:
        """The source languages, in the order of the sources (the voters when parallel)."""
        return tuple(source.lang for source in self.sources)

    def source_config(self, source: LabelledSource) -> TranslateTrainConfig:
        """Translate-train's config for one source (its language, the shared settings)."""
        return TranslateTrainConfig(
            source.lang,
            self.tgt_lang,
            self.method,
            self.options,
            drop=self.drop,
            drop_incomplete=self.drop_incomplete,
            beam_size=self.beam_size,
            align_method=self.align_method,
            chunk_size=self.chunk_size,
            min_confidence=self.min_confidence,
        )

    @property
    def needs(self) -> tuple[str, ...]:
        """Every engine this run uses: the pipeline's and the projection method's."""
        return self.source_config(self.sources[0]).needs

    def canonical(self) -> dict[str, Any]:
        """The settings that decide the output (the config's part of the resume fingerprint)."""
        shared = self.source_config(self.sources[0]).canonical()
        del shared["src_lang"]
        combine = {"combine": self.combine.canonical()} if self.parallel else {}
        return {
            "sources": [source.name for source in self.sources],
            "parallel": self.parallel,
            **combine,
            **shared,
        }

    def engine_fingerprint(self, engines: Engines) -> dict[str, Any]:
        """The engines' part of the resume fingerprint (beam size and method resolved)."""
        return self.source_config(self.sources[0]).engine_fingerprint(engines)

    def check(self, engines: Engines) -> None:
        """What needs the bundle (no model is built)."""
        self.source_config(self.sources[0]).check(engines)


def _set(config: Any, **values: Any) -> None:
    for name, value in values.items():
        object.__setattr__(config, name, value)


def _ready(
    engines: EngineSource, config: MultiSourceConfig, engine_options: EngineOptions | None
) -> Engines:
    """The engines, checked, with every language the run translates known to the translator."""
    ready = Engines.of(engines, engine_options)
    config.check(ready)
    languages = config.voters[:1] if config.parallel else config.voters
    for code in (*languages, config.tgt_lang):
        ready.translator.language(code)  # an unsupported language fails now
    return ready


# --- projecting several sources onto one target ---------------------------------------------------


def project_sources(
    engines: EngineSource,
    sources: Mapping[str, Sequence[Sentence]],
    target: Sequence[Sequence[str]],
    tgt_lang: str,
    *,
    method: str = "heuristic",
    options: Any = None,
    align_method: str | None = None,
    chunk_size: int = 256,
    drop: Iterable[str] | str = (),
    min_confidence: float = 0.0,
) -> Iterator[dict[str, Projected | None]]:
    """Project the gold entities of parallel labelled sentences onto given target words.

    ``sources``: language (any code form; the keys are kept as given) -> its labelled
    sentences (IOB2 tags), all as many as ``target``, the target words of each sentence.
    Each source's words are aligned with the target words (``align_method``: None, the
    aligner's) and its entities (minus the ``drop`` labels) projected with ``method`` and
    ``options``; spans below ``min_confidence`` are dropped (as in translate-train). Yields,
    per sentence, source -> its :class:`~xner.runtime.projection.result.Projected` (None: its
    alignment or projection failed for this sentence), lazily, ``chunk_size`` sentences at a
    time (one batched alignment per source per chunk).
    """
    codes = {code: resolve_language(code) for code in sources}
    settings = TranslateTrainConfig(
        next(iter(codes.values()), ENGLISH),  # the settings shared by every source
        tgt_lang,
        method,
        options,
        drop=frozenset(split_names(drop)),
        align_method=align_method,
        chunk_size=chunk_size,
        min_confidence=min_confidence,
    )
    if method_info(settings.method).translates:
        raise ConfigError(f"projection method {settings.method!r} works in translate-train only")
    for code, sentences in sources.items():
        if len(sentences) != len(target):
            raise ConfigError(
                f"project_sources: source {code} has {len(sentences)} sentences but the target "
                f"has {len(target)}; the sources must be parallel to the target"
            )
    ready = Engines.of(engines)

    def stream() -> Iterator[dict[str, Projected | None]]:
        for first, words in numbered_chunks(target, settings.chunk_size):
            chunk = {
                code: list(sentences[first : first + len(words)])
                for code, sentences in sources.items()
            }
            yield from _project_chunk(ready, chunk, words, codes, settings)

    return stream()


def _project_chunk(
    engines: Engines,
    chunk: Mapping[str, Sequence[Sentence]],
    target: Sequence[Sequence[str]],
    codes: Mapping[str, str],
    settings: TranslateTrainConfig,
) -> list[dict[str, Projected | None]]:
    """Each source's projection onto the target words of one chunk (``codes``: source key ->
    its NLLB code; ``settings``: method, options, drop, align method, threshold)."""
    out: list[dict[str, Projected | None]] = [{} for _ in target]
    for code, sentences in chunk.items():
        records = [
            Record(
                k,
                0,
                list(sentence.tokens),
                translated=list(target[k]),
                spans=[s for s in gold_spans(sentence) if s.label not in settings.drop],
            )
            for k, sentence in enumerate(sentences)
        ]
        records = stages.align(records, engines, settings.align_method)
        records = stages.project(
            records,
            settings.method,
            settings.options,
            engines,
            (codes[code], settings.tgt_lang),
            min_confidence=settings.min_confidence,
            drop=settings.drop,
        )
        for k, record in enumerate(records):
            failed = record.error is not None
            out[k][code] = None if failed else record.projected or Projected([], None, [], [])
    return out


# --- parallel sources: translate the first, project them all, combine -----------------------------


def translate_train_sources(
    engines: EngineSource,
    sentences: Iterable[ParallelSentences | Sequence[Sentence]],
    config: MultiSourceConfig,
    *,
    engine_options: EngineOptions | None = None,
) -> Iterator[MultiSourceResult]:
    """Translate-train from parallel sources (``config.parallel``; module docstring).

    ``sentences``: per sentence, its labelled version in each source of ``config.sources``, in
    that order (:class:`ParallelSentences` or a sequence of :class:`Sentence`). Settings and
    languages are checked at once; the input is read when the iterator is. Yields a
    :class:`MultiSourceResult` per sentence: the first source's translation with the combined
    spans.
    """
    if not config.parallel:
        raise ConfigError("translate_train_sources combines parallel sources: set parallel=True")
    ready = _ready(engines, config, engine_options)
    first_config = config.source_config(config.sources[0])
    codes = {source.lang: source.lang for source in config.sources[1:]}
    pending: deque[ParallelSentences] = deque()
    n = len(config.sources)

    def firsts() -> Iterator[Sentence]:
        for item in sentences:
            parallel = (
                item if isinstance(item, ParallelSentences) else ParallelSentences(tuple(item))
            )
            if len(parallel.sentences) != n:
                raise InputError(
                    parallel.source,
                    parallel.line or None,
                    f"{len(parallel.sentences)} parallel sentences given for {n} sources",
                )
            pending.append(parallel)
            yield parallel.sentences[0]

    def stream() -> Iterator[MultiSourceResult]:
        translated = translate_train(ready, firsts(), first_config)
        for _, results in numbered_chunks(translated, config.chunk_size):
            items = [pending.popleft() for _ in results]
            others = {
                source.lang: [item.sentences[k] for item in items]
                for k, source in enumerate(config.sources[1:], 1)
            }
            targets = [result.tokens for result in results]
            projected = _project_chunk(ready, others, targets, codes, first_config)
            for result, item, more in zip(results, items, projected, strict=True):
                yield _combined(result, item, more, config)

    return stream()


def _combined(
    first: TranslateTrainResult,
    item: ParallelSentences,
    others: dict[str, Projected | None],
    config: MultiSourceConfig,
) -> MultiSourceResult:
    """One sentence's result: the first source's translation with every source's projection
    combined."""
    votes: dict[str, Projected | None] = {config.voters[0]: _first_vote(first), **others}
    error = None
    combined = []
    if not first.tokens or (first.error is not None and first.segments > 1):
        # no translation (or no words), or a long sentence translated in part: no target
        votes = {voter: None for voter in votes}
        error = first.error
    elif all(vote is None for vote in votes.values()):
        error = first.error  # the first source failed (it has an error) and no other answered
    else:
        pairs = {voter: None if vote is None else _pairs(vote) for voter, vote in votes.items()}
        combined = combine_spans(pairs, config.combine)
    spans = [c.span for c in combined]
    links = stages.NO_LINKS if first.alignment is None else first.alignment
    lost = len(first.source_spans)
    if error is None:
        lost = lost_entities(first.source_spans, spans, None, links, len(first.tokens))
    gold = tuple(
        [s for s in gold_spans(sentence) if s.label not in config.drop]
        for sentence in item.sentences
    )
    return MultiSourceResult(
        first=first,
        parallel=item,
        tokens=list(first.tokens),
        tags=tags_from_spans(spans, len(first.tokens)),
        spans=spans,
        confidences=[c.confidence for c in combined],
        voters=[c.voters for c in combined],
        projections=votes,
        names=tuple(source.name for source in config.sources),
        source_spans=gold,
        lost=lost,
        error=error,
    )


def _first_vote(result: TranslateTrainResult) -> Projected | None:
    """The first source's projection as translate-train made it (None: it failed)."""
    if result.error is not None:
        return None
    return Projected(list(result.spans), None, result.confidences, result.origins)


def _pairs(projected: Projected) -> list[tuple[Span, float]]:
    """A projection's votes: each span with its confidence (1 when the method gives none)."""
    confidences = projected.confidences or [1.0] * len(projected.spans)
    return list(zip(projected.spans, confidences, strict=True))


# --- separate sources: translate each, keep where each sentence came from -------------------------


def translate_train_each(
    engines: EngineSource,
    sentences: Iterable[SourcedSentence],
    config: MultiSourceConfig,
    *,
    engine_options: EngineOptions | None = None,
) -> Iterator[SourcedResult]:
    """Translate-train over separate sources (module docstring): each sentence
    (:class:`SourcedSentence`: its number among ``config.sources``) is translated from its
    source's language; yields a :class:`SourcedResult` per sentence, in input order, with the
    source it came from."""
    ready = _ready(engines, config, engine_options)
    configs = [config.source_config(source) for source in config.sources]

    def stream() -> Iterator[SourcedResult]:
        index = 0
        for origin, group in itertools.groupby(sentences, key=lambda item: item.origin):
            if not 0 <= origin < len(configs):
                raise ConfigError(f"source number {origin} is not among {len(configs)} sources")
            plain = (item.sentence for item in group)
            for result in translate_train(ready, plain, configs[origin]):
                numbered = dataclasses.replace(result, index=index)
                yield SourcedResult(numbered, config.sources[origin].name, origin)
                index += 1

    return stream()
