"""The translator engine: NLLB-200 / M2M100 on CTranslate2 with the bundle's SentencePiece model.

Nothing about tokens is assumed: the source prefix/suffix, the target prefix and whether the
hypotheses repeat the prefix are read from the manifest (``translator.settings``).

No sentence is cut silently. CTranslate2 truncates inputs at 1024 tokens and outputs at 256 by
default; this engine always passes ``max_input_length=0`` and its own decoding limit:

* a source longer than the model accepts is split at sentence-final punctuation, then at clause
  punctuation, then at whitespace; the parts are translated separately and joined with a space
  (a warning names the sentence); a single word too long to fit raises :class:`XnerError`;
* the decoding limit of a sentence of ``n`` source pieces is ``max(16, 3 * n + 10)`` generated
  tokens (the target prefix not counted, the end token counted), at most what the model's
  positions allow. A hypothesis that reaches it is translated once more with the model's whole
  target length; if it reaches that too, it is flagged ``truncated`` and a warning names it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from xner.runtime.bundles.bundle import Bundle, BundleError, TranslatorSettings
from xner.runtime.engines.options import (
    EngineOptions,
    choose_device,
    chunked,
    length_batches,
    trim_heap,
)
from xner.runtime.errors import ConfigError, XnerError, unknown_choice
from xner.runtime.languages import (
    Language,
    all_languages,
    check_supported,
    get_language,
    resolve_language,
)

logger = logging.getLogger("xner")

COMPUTE_TYPES = (
    "default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16",
    "int16", "float16", "bfloat16", "float32",
)  # fmt: skip
CPU_ALIASES = {"int8": "int8_float32"}
"""Compute types CTranslate2 reports under another name on the CPU (no warning for those)."""
MIN_DECODING, DECODING_RATIO, DECODING_MARGIN = 16, 3, 10
VMAP = "vmap.txt"
"""The vocabulary map's name in the model folder: CTranslate2 reads it from there."""
_CLOSE = "[\"'\u201d\u2019\u00bb)\\]\u300d\u300f\uff09]*"
SPLIT_LEVELS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sentence", re.compile(f"[.!?\u2026\u0589\u1362\u061f\u0964\u0965]+{_CLOSE}\\s+"
                            f"|[\u3002\uff01\uff1f]+{_CLOSE}\\s*")),
    ("clause", re.compile(f"[,;:\u060c\u061b\u2014\u2013]+{_CLOSE}\\s+"
                          "|[\uff0c\uff1b\uff1a\u3001]\\s*|\\s[-\u2013\u2014]\\s")),
    ("whitespace", re.compile(r"\s+")),
)  # fmt: skip
"""Where an over-long sentence may be cut, tried in this order."""


@dataclass(frozen=True, slots=True)
class Translation:
    """One translated sentence.

    ``text``: the translation (language codes and end token removed). ``tokens``: its target
    pieces as generated (without the target prefix and the end token). ``score``: CTranslate2's
    hypothesis score, the sum of the generated tokens' log-probabilities divided by the
    hypothesis length (``length_penalty`` 1; normalised over the kept pieces when the vocabulary
    restriction was used); for exact log-likelihoods use :meth:`Translator.score`. ``None`` for
    an empty input. ``truncated``: the hypothesis reached
    the model's largest decoding length and may be incomplete. ``segments``: how many parts the
    source was split into to fit the model (1: not split).
    """

    text: str
    tokens: tuple[str, ...] = ()
    score: float | None = None
    truncated: bool = False
    segments: int = 1


def decoding_limit(source_pieces: int, ceiling: int) -> int:
    """Default decoding limit: ``max(16, 3 * pieces + 10)`` generated tokens, at most ceiling."""
    return min(ceiling, max(MIN_DECODING, DECODING_RATIO * source_pieces + DECODING_MARGIN))


def split_for_length(text: str, fits: Callable[[str], bool]) -> list[str] | None:
    """Cut ``text`` into parts that each ``fits``, or ``None`` when some word alone does not.

    Cuts fall at sentence-final punctuation first, then clause punctuation, then whitespace
    (:data:`SPLIT_LEVELS`); consecutive pieces are packed greedily, so parts are as long as fits.
    The parts keep the original spelling (stripped of surrounding blanks).
    """
    text = text.strip()
    if fits(text):
        return [text]

    def cuts(level: int, lo: int, hi: int) -> list[int]:
        pattern = SPLIT_LEVELS[level][1]
        return [m.end() for m in pattern.finditer(text, lo, hi) if lo < m.end() < hi]

    spans = pack_spans(0, len(text), cuts, lambda a, b: fits(text[a:b].strip()), len(SPLIT_LEVELS))
    if spans is None:
        return None
    return [part for a, b in spans if (part := text[a:b].strip())]


def pack_spans(
    lo: int,
    hi: int,
    cuts: Callable[[int, int, int], Sequence[int]],
    fits: Callable[[int, int], bool],
    levels: int,
    *,
    keep_long: bool = False,
    level: int = 0,
) -> list[tuple[int, int]] | None:
    """Cut ``[lo, hi)`` into consecutive spans ``[a, b)`` that each ``fits``: the one cutting
    algorithm of :func:`split_for_length` (characters) and of the pipelines' sentence segments
    (words, :func:`xner.runtime.pipelines.segments.segment_words`).

    ``cuts(level, lo, hi)``: the sorted positions strictly inside ``(lo, hi)`` where a cut of
    ``level`` may fall (level 0 the coarsest, ``levels - 1`` the finest). Pieces between the cuts
    of the coarsest level that has any are packed greedily; a piece that does not fit alone is cut
    at the next levels. A piece that no level can cut small enough makes the result ``None``, or,
    with ``keep_long``, is kept as one span (too long). ``level``: the first level tried.
    """
    for depth in range(level, levels):
        ends = list(cuts(depth, lo, hi))
        if not ends:
            continue
        spans: list[tuple[int, int]] = []
        start = None  # start of the span being packed
        for begin, end in zip([lo, *ends], [*ends, hi], strict=True):
            if start is not None and fits(start, end):
                continue
            if start is not None:
                spans.append((start, begin))
                start = None
            if fits(begin, end):
                start = begin
                continue
            inner = pack_spans(begin, end, cuts, fits, levels, keep_long=keep_long, level=depth + 1)
            if inner is None:
                return None
            spans.extend(inner[:-1])
            start = inner[-1][0]  # keep packing after the last inner part
        if start is not None:
            spans.append((start, hi))
        return spans
    return [(lo, hi)] if keep_long else None


# -- languages: what a code means to a translator, read from its settings (no model built) ------


def _translator_settings(translator: TranslatorSettings | Bundle) -> TranslatorSettings:
    if isinstance(translator, Bundle):
        settings: TranslatorSettings = translator.require("translator").settings
        return settings
    return translator


def _m2m100_token(settings: TranslatorSettings, language: Language) -> str | None:
    """An M2M100 model's token for ``language`` (``__ha__``), when it has one."""
    iso = language.iso639_1
    token = f"__{iso}__"
    return token if iso and settings.family == "m2m100" and token in settings.languages else None


def translator_language(translator: TranslatorSettings | Bundle, code: str) -> str:
    """The model's own code for a language code, ISO code or name: ``hau_Latn`` for an NLLB
    translator, ``__ha__`` for an M2M100 one (``hau``, ``ha``, ``Hausa`` and ``hau_Latn`` all
    give it). The one answer to "does this translator know this language": read from the
    bundle's translator settings (or the bundle), without building the model.

    A code the model lists verbatim (any case) is accepted even when it is not an NLLB-200 code
    (fine-tuned models with extra codes). Raises :class:`ConfigError` for an unknown language
    or one the translator does not know.
    """
    settings = _translator_settings(translator)
    if settings.family == "m2m100" and not code.startswith("__"):
        try:
            token = _m2m100_token(settings, get_language(code))
        except ConfigError:
            token = None
        if token is not None:
            return token
    return check_supported(code, settings.languages, what="translator")


def supported_languages(translator: TranslatorSettings | Bundle) -> list[str]:
    """The NLLB-200 codes of the languages the translator knows, sorted: exactly those for which
    :func:`translator_language` answers (codes the model lists that are not NLLB-200 codes are
    left out)."""
    settings = _translator_settings(translator)
    listed = {code.casefold() for code in settings.languages}
    return [
        language.code
        for language in all_languages()
        if language.code.casefold() in listed or _m2m100_token(settings, language) is not None
    ]


def translatable_language(translator: TranslatorSettings | Bundle, code: str) -> str:
    """The canonical NLLB-200 code (``hau_Latn``) of a language code, ISO code or name that the
    translator can translate (:func:`translator_language` answers for it). Raises
    :class:`ConfigError` for an unknown language or one the translator does not know (naming
    NLLB-200 codes it knows)."""
    supported = supported_languages(translator)
    canonical = resolve_language(code)
    if canonical in supported:
        return canonical
    return check_supported(code, supported, what="translator")  # raises, naming known codes


class Translator:
    """Translate sentences with the bundle's CTranslate2 model (torch-free).

    ``bundle``: a loaded :class:`Bundle` or the path of one (loaded and verified).
    ``options``: the shared engine settings (:class:`EngineOptions`); keyword ``knobs`` override
    its fields: ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``), ``compute_type``
    (CTranslate2 type, ``default`` keeps the saved one; a fallback CTranslate2 makes is logged),
    ``intra_threads`` (threads per batch, 0: one per core), ``inter_threads`` (batches translated
    in parallel), ``max_batch_size`` (sentences per batch) and ``max_batch_tokens`` (padded
    source tokens per batch; batches are formed from length-sorted sentences).
    ``beam_size``: 1 is greedy search (the default: fast on laptops); NLLB's own default is 4.
    ``max_input_length``: most source tokens per sentence, language code and end token included
    (default: the model's ``max_source_positions``; it cannot be larger); longer sentences are
    split (see the module notes).
    ``max_decoding_length``: ``None`` for the length-based limit with one retry (module notes);
    or a fixed most generated tokens per sentence (end token counted, target prefix not), with
    no retry: hypotheses that reach it are flagged ``truncated``. Capped by the model's
    ``max_target_positions``.
    ``min_decoding_length``: least generated tokens per sentence before the end token may be
    produced (target prefix not counted); 0 (the default) lets the model end when it likes.
    Benchmarks of random-weight models set it equal to ``max_decoding_length`` so that every
    translation has the same fixed length (as ``min_new_tokens = max_new_tokens`` does in
    transformers).
    ``vocab_restriction`` (an :class:`EngineOptions` knob, on by default): translations into the
    targets of the manifest's validated ``vocabulary_restriction`` (English for the default
    export) decode over the pieces kept at export only (CTranslate2 ``use_vmap``);
    ``restricted_targets`` holds those targets' codes (empty when off, absent or not validated).
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str],
        options: EngineOptions | None = None,
        *,
        beam_size: int = 1,
        max_input_length: int | None = None,
        max_decoding_length: int | None = None,
        min_decoding_length: int = 0,
        **knobs: Any,
    ) -> None:
        own = ("beam_size", "max_input_length", "max_decoding_length", "min_decoding_length")
        self.options = EngineOptions.merge(options, knobs, engine="Translator", own=own)
        self.bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
        component = self.bundle.require("translator")
        self.settings: TranslatorSettings = component.settings
        s = self.settings
        self.beam_size = _positive("beam_size", beam_size)
        around = len(s.source_prefix) + len(s.source_suffix)
        limit = s.max_source_positions if max_input_length is None else max_input_length
        if not isinstance(limit, int) or not around < limit <= s.max_source_positions:
            raise ConfigError(
                f"max_input_length must lie in {around + 1}..{s.max_source_positions} "
                f"(the model's source positions), got {limit!r}"
            )
        self.max_input_length = limit
        self.max_source_pieces = limit - around
        self.max_target_tokens = s.max_target_positions - len(s.target_prefix)
        if max_decoding_length is not None:
            _positive("max_decoding_length", max_decoding_length)
            if max_decoding_length > self.max_target_tokens:
                logger.info(
                    "max_decoding_length %d capped at %d (model target positions)",
                    max_decoding_length,
                    self.max_target_tokens,
                )
            max_decoding_length = min(max_decoding_length, self.max_target_tokens)
        self.max_decoding_length = max_decoding_length
        if not isinstance(min_decoding_length, int) or min_decoding_length < 0:
            raise ConfigError(
                f"min_decoding_length must be an integer >= 0, got {min_decoding_length!r}"
            )
        self.min_decoding_length = min_decoding_length
        self._specials = {*s.languages, s.eos_token, s.pad_token, "<s>", "<mask>"}
        self.restricted_targets = self._restricted_targets(component)
        self._ct2, self._sp = self._load(component)

    def _restricted_targets(self, component: Any) -> frozenset[str]:
        """The model's codes of the targets translated with the smaller output layer: those the
        manifest's ``vocabulary_restriction`` lists when it is validated and not switched off."""
        restriction = self.settings.vocabulary_restriction
        if restriction is None or not self.options.vocab_restriction:
            return frozenset()
        targets = ", ".join(restriction.targets)
        if not restriction.validated:
            logger.info(
                "vocabulary restriction into %s not validated at export (token agreement %s, "
                "below %s): the whole vocabulary is used",
                targets,
                restriction.token_agreement,
                restriction.min_agreement,
            )
            return frozenset()
        expected = f"{PurePosixPath(self.settings.model_dir).as_posix()}/{VMAP}"
        if PurePosixPath(restriction.file).as_posix() != expected:
            raise BundleError(
                component.root,
                [
                    f"manifest.json: components.translator.settings.vocabulary_restriction.file: "
                    f"{restriction.file}: CTranslate2 reads the vocabulary map from {expected}"
                ],
            )
        component.path(restriction.file)  # a listed file, or BundleError
        logger.info(
            "translation into %s: %d of %d pieces (vocabulary restriction, token agreement %s)",
            targets,
            restriction.kept,
            restriction.total,
            restriction.token_agreement,
        )
        return frozenset(restriction.targets)

    def _load(self, component: Any) -> tuple[Any, Any]:
        try:
            import ctranslate2
            import sentencepiece
        except ImportError as error:
            raise XnerError(f"the translator needs {error.name}: pip install xner") from None
        compute_type = self.options.compute_type
        if compute_type not in COMPUTE_TYPES:
            raise unknown_choice("compute type", compute_type, COMPUTE_TYPES)
        device, index = choose_device(self.options.device, "ctranslate2")
        sp = component.load(
            self.settings.sentencepiece,
            lambda path: sentencepiece.SentencePieceProcessor(model_file=path),
        )
        model = component.load(
            self.settings.model_dir,
            lambda path: ctranslate2.Translator(
                path,
                device=device,
                device_index=index,
                compute_type=compute_type,
                intra_threads=self.options.intra_threads,
                inter_threads=self.options.inter_threads,
            ),
            folder=True,
        )
        used = str(getattr(model, "compute_type", compute_type))
        same = CPU_ALIASES.get(compute_type) == used and device == "cpu"
        if compute_type not in ("default", "auto", used) and not same:
            logger.warning(
                "compute type %s is not usable on %s; using %s", compute_type, device, used
            )
        logger.info("ctranslate2: translator on %s:%d, compute type %s", device, index, used)
        self.device, self.compute_type = f"{device}:{index}", used
        return model, sp

    # -- languages and tokens ----------------------------------------------------------------

    def language(self, code: str) -> str:
        """The model's token for a language code, ISO code or name (ConfigError if unknown):
        :func:`translator_language` on this translator's settings."""
        return translator_language(self.settings, code)

    def pieces(self, text: str) -> list[str]:
        """SentencePiece pieces of ``text``; text the model cannot spell becomes ``unk_token``."""
        ids = self._sp.encode(text)
        unk = self._sp.unk_id()
        return [
            self.settings.unk_token if i == unk else p
            for i, p in zip(ids, self._sp.id_to_piece(ids), strict=True)
        ]

    def source_tokens(self, text: str, src_lang: str) -> list[str]:
        """The tokens CTranslate2 receives for ``text``: prefix, SentencePiece pieces, suffix."""
        return self._wrap(self.pieces(text), self.language(src_lang))

    def _wrap(self, pieces: list[str], src: str) -> list[str]:
        s = self.settings
        fill = [t.replace("{src_lang}", src) for t in s.source_prefix]
        return fill + pieces + [t.replace("{src_lang}", src) for t in s.source_suffix]

    def _prefix(self, tgt: str) -> list[str]:
        return [t.replace("{tgt_lang}", tgt) for t in self.settings.target_prefix]

    # -- translation ---------------------------------------------------------------------------

    def translate(
        self,
        sentences: Sequence[str],
        src_lang: str,
        tgt_lang: str,
        *,
        beam_size: int | None = None,
        first: int = 0,
    ) -> list[Translation]:
        """Translate ``sentences`` (in input order; an empty sentence gives an empty text).

        Languages are codes, ISO codes or names (``hau``, ``Hausa``, ``hau_Latn``); a language
        the model does not know raises :class:`ConfigError` before any work. ``first``: how many
        sentences of the same stream came before these (warnings and errors number sentences
        from it: a file job passes its chunk's position, so ``sentence N`` is line N).
        """
        src, tgt = self.language(src_lang), self.language(tgt_lang)
        beam = self.beam_size if beam_size is None else _positive("beam_size", beam_size)
        return self._translate(list(sentences), src, tgt, beam, first)

    def translate_iter(
        self,
        sentences: Iterable[str],
        src_lang: str,
        tgt_lang: str,
        *,
        beam_size: int | None = None,
        chunk_size: int = 256,
    ) -> Iterator[Translation]:
        """Translate a stream lazily, ``chunk_size`` sentences at a time, in input order.

        The languages are checked at once, before the first sentence is read.
        """
        src, tgt = self.language(src_lang), self.language(tgt_lang)
        beam = self.beam_size if beam_size is None else _positive("beam_size", beam_size)
        _positive("chunk_size", chunk_size)

        def stream() -> Iterator[Translation]:
            done = 0
            for chunk in chunked(sentences, chunk_size):
                yield from self._translate(chunk, src, tgt, beam, done)
                done += len(chunk)

        return stream()

    def _translate(
        self, sentences: list[str], src: str, tgt: str, beam: int, first: int
    ) -> list[Translation]:
        owners: list[int] = []
        units: list[list[str]] = []
        for i, text in enumerate(sentences):
            if not isinstance(text, str):
                raise TypeError(f"sentence {first + i + 1} is a {type(text).__name__}, not str")
            for pieces in self._segments(text, first + i):
                owners.append(i)
                units.append(pieces)
        prefix = self._prefix(tgt)
        numbers = [first + owner + 1 for owner in owners]
        vmap = tgt in self.restricted_targets
        sources = [self._wrap(p, src) for p in units]
        decoded = self._decode(sources, units, prefix, beam, numbers, vmap)
        parts: list[list[tuple[list[str], float | None, bool]]] = [[] for _ in sentences]
        for owner, result in zip(owners, decoded, strict=True):
            parts[owner].append(result)
        return [self._assemble(p) for p in parts]

    def _segments(self, text: str, index: int) -> list[list[str]]:
        pieces = self.pieces(text)
        if len(pieces) <= self.max_source_pieces:
            return [pieces] if pieces else []
        limit = self.max_source_pieces
        parts = split_for_length(text, lambda t: len(self._sp.encode(t)) <= limit)
        if parts is None:
            raise XnerError(
                f"sentence {index + 1} has {len(pieces)} pieces, more than the {limit} the "
                "translator accepts, and a word in it is too long to fit: shorten it"
            )
        logger.warning(
            "sentence %d has %d pieces, more than the %d the translator accepts: "
            "translated in %d parts",
            index + 1,
            len(pieces),
            limit,
            len(parts),
        )
        return [self.pieces(part) for part in parts]

    def _assemble(self, parts: list[tuple[list[str], float | None, bool]]) -> Translation:
        if not parts:
            return Translation("", segments=0)
        texts = [
            self._sp.decode([t for t in tokens if t not in self._specials]) for tokens, *_ in parts
        ]
        tokens = tuple(t for tokens, *_ in parts for t in tokens)
        scored = [(score, len(toks) + 1) for toks, score, _ in parts if score is not None]
        weight = sum(n for _, n in scored)
        score = sum(s * n for s, n in scored) / weight if scored else None
        return Translation(
            " ".join(t for t in texts if t),
            tokens,
            score,
            any(truncated for *_, truncated in parts),
            len(parts),
        )

    def _decode(
        self,
        sources: list[list[str]],
        pieces: list[list[str]],
        prefix: list[str],
        beam: int,
        numbers: list[int],
        vmap: bool = False,
    ) -> list[tuple[list[str], float | None, bool]]:
        """Generate for every source; retry once at the model's length what hit its limit.

        ``numbers``: the 1-based sentence number of each source, for the warnings. ``vmap``:
        decode with the bundle's vocabulary map (the smaller output layer).
        """
        top = self.max_target_tokens
        fixed = self.max_decoding_length
        limits = [fixed or decoding_limit(len(p), top) for p in pieces]
        results = self._generate(sources, prefix, limits, beam, vmap)
        retry = [i for i, (_, _, hit) in enumerate(results) if hit and limits[i] < top]
        if retry and fixed is None:
            logger.info("%d translations reached their decoding limit: retried", len(retry))
            again = self._generate(
                [sources[i] for i in retry], prefix, [top] * len(retry), beam, vmap
            )
            for i, result in zip(retry, again, strict=True):
                results[i] = result
        hits = sorted({numbers[i] for i, (_, _, hit) in enumerate(results) if hit})
        if hits:
            shown = ", ".join(str(n) for n in hits[:10]) + (", ..." if len(hits) > 10 else "")
            logger.warning(
                "%d translations reached the decoding limit (%d tokens) and may be incomplete: "
                "sentences %s",
                len(hits),
                fixed or top,
                shown,
            )
        return results

    def _generate(
        self,
        sources: list[list[str]],
        prefix: list[str],
        limits: list[int],
        beam: int,
        vmap: bool = False,
    ) -> list[tuple[list[str], float | None, bool]]:
        """``(tokens, score, hit_limit)`` per source; the result does not depend on batching."""
        s = self.settings
        extra = len(prefix) if s.decoding_length_counts_prefix else 0
        trim_heap()
        pending = []
        batches = length_batches(
            [len(x) for x in sources], self.options.max_batch_size, self.options.max_batch_tokens
        )
        for batch in batches:
            idx = batch.tolist()
            longest = max(limits[i] for i in idx)
            minimum = min(self.min_decoding_length, longest)
            futures = self._ct2.translate_batch(
                [sources[i] for i in idx],
                target_prefix=[prefix] * len(idx),
                asynchronous=True,
                beam_size=beam,
                max_input_length=0,
                max_decoding_length=longest + extra,
                min_decoding_length=minimum + extra if minimum else 1,  # 1: CTranslate2's default
                return_end_token=True,
                return_scores=True,
                use_vmap=vmap,
            )
            pending.append((idx, futures))
        results: list[Any] = [None] * len(sources)
        for idx, futures in pending:
            for i, future in zip(idx, futures, strict=True):
                result = future.result()
                tokens = list(result.hypotheses[0])
                if s.output_includes_prefix:
                    tokens = tokens[len(prefix) :]
                ended = bool(tokens) and tokens[-1] == s.eos_token
                if ended:
                    tokens.pop()
                # generated tokens, the end token counted; beyond this sentence's own limit
                # counts as reaching it (a larger batch limit must not change the outcome)
                hit = len(tokens) + ended > limits[i] or (not ended and len(tokens) >= limits[i])
                score = float(result.scores[0]) if result.scores else None
                results[i] = (tokens[: limits[i]], score, hit)
        return results

    # -- scoring -------------------------------------------------------------------------------

    def score(
        self,
        sources: Sequence[str],
        targets: Sequence[str],
        src_lang: str,
        tgt_lang: str,
        *,
        normalize: bool = False,
    ) -> list[float]:
        """Log-likelihood of each target given its source (teacher forcing, ``score_batch``).

        The sum of the natural-log probabilities of the target's pieces and of the end token;
        the target prefix (the forced language code) is not scored. ``normalize``: divide by
        the number of scored tokens (pieces + 1). A pair too long for the model raises
        :class:`XnerError` (scoring cannot split a pair). Probabilities are always normalised
        over the whole vocabulary: scoring never uses the vocabulary restriction.
        """
        if len(sources) != len(targets):
            raise ConfigError(f"{len(sources)} sources but {len(targets)} targets to score")
        src, tgt = self.language(src_lang), self.language(tgt_lang)
        prefix = self._prefix(tgt)
        room = self.settings.max_target_positions - len(prefix)
        srcs, tgts = [], []
        for i, (source, target) in enumerate(zip(sources, targets, strict=True)):
            pieces = self.pieces(source)
            target_pieces = self.pieces(target)
            if len(pieces) > self.max_source_pieces or len(target_pieces) >= room:
                raise XnerError(
                    f"pair {i + 1} is too long to score ({len(pieces)} source and "
                    f"{len(target_pieces)} target pieces; the model takes at most "
                    f"{self.max_source_pieces} and {room - 1})"
                )
            srcs.append(self._wrap(pieces, src))
            tgts.append(prefix + target_pieces)
        lengths = [max(len(a), len(b)) for a, b in zip(srcs, tgts, strict=True)]
        pending = []
        for batch in length_batches(
            lengths, self.options.max_batch_size, self.options.max_batch_tokens
        ):
            idx = batch.tolist()
            futures = self._ct2.score_batch(
                [srcs[i] for i in idx],
                [tgts[i] for i in idx],
                max_input_length=0,
                offset=len(prefix),
                asynchronous=True,
            )
            pending.append((idx, futures))
        scores = [0.0] * len(srcs)
        for idx, futures in pending:
            for i, future in zip(idx, futures, strict=True):
                log_probs = future.result().log_probs
                total = float(sum(log_probs))
                scores[i] = total / max(len(log_probs), 1) if normalize else total
        return scores


def _positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return value
