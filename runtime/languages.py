"""NLLB-200 language codes and the one table that resolves ISO codes and English names to them.

The canonical codes are the 202 codes of the NLLB-200 tokenizer (FLORES-200 style, ``hau_Latn``).
The table lives in ``resources/languages.tsv``; read once, on first use. Besides the code itself
(any case), a language resolves from its ISO 639-3 and ISO 639-1 codes, its English names and
the macrolanguage and ISO 639-2/B codes listed in the table (``sw``, ``swa`` and ``Swahili`` all
give ``swh_Latn``). Where one ISO code has several NLLB codes (``zho_Hans``/``zho_Hant``), the
table names the default explicitly. Matching ignores case, accents, surrounding blanks and the
difference between ``-`` and ``_``; locale-style tags resolve too (``zh-Hant``, ``pt-BR``).
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from importlib import resources

from xner.runtime.errors import ConfigError

__all__ = [
    "Language",
    "all_languages",
    "check_supported",
    "find_languages",
    "format_language_table",
    "get_language",
    "resolve_language",
]

TABLE_FILE = "resources/languages.tsv"
MAX_SUGGESTIONS = 5

# Real languages met in NER data sets (and FLORES-200 codes) that NLLB-200 does not translate:
# asking for one of them says so instead of only "unknown".  (name, keys that mean it)
_OUTSIDE_NLLB: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Nigerian Pidgin", ("pcm", "Nigerian Pidgin", "Naija", "pcm_Latn")),
    ("Ghomálá'", ("bbj", "Ghomala", "Ghomálá'", "bbj_Latn")),
    ("Modern Standard Arabic in Latin script", ("arb_Latn",)),
    ("Minangkabau in Arabic script", ("min_Arab",)),
)

_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_TAG = re.compile(r"^([a-z]{2,3})_([a-z]{4}|[a-z]{2}|\d{3})$")  # normalised ll_Script / ll_RG


@dataclass(frozen=True, slots=True)
class Language:
    """One NLLB-200 language code and what resolves to it.

    ``code``: the canonical NLLB code, ISO 639-3 language + ``_`` + ISO 15924 script (``hau_Latn``).
    ``iso639_3``: the language part of the code (``hau``).
    ``iso639_1``: the two-letter code of the language, or of the macrolanguage the code stands
    for (``sw`` for ``swh_Latn``); ``None`` when there is none.
    ``script``: the ISO 15924 script part of the code (``Latn``).
    ``name``: the English name, as FLORES-200 spells it.
    ``aliases``: every other string that resolves to this code (ISO codes, other names,
    macrolanguage codes), in table order; ISO codes shared with another script are listed only
    on the default row.
    """

    code: str
    iso639_3: str
    iso639_1: str | None
    script: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Table:
    languages: dict[str, Language]  # canonical code -> Language, sorted by code
    index: dict[str, str]  # normalised alias -> canonical code
    outside: dict[str, str]  # normalised key -> name of a language that NLLB-200 lacks


def _normalise(text: str) -> str:
    """Case-fold, drop accents, map ``-`` to ``_`` and collapse blanks."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().replace("-", "_").split())


def _parse(text: str) -> list[tuple[int, str, str | None, str, list[str]]]:
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        fields = raw.rstrip("\n").split("\t")
        if len(fields) != 4 or not _CODE.match(fields[0]) or not fields[2]:
            raise RuntimeError(f"{TABLE_FILE}:{number}: malformed row {raw!r}")
        code, iso1, name, extra = fields
        aliases = [alias.strip() for alias in extra.split("|") if alias.strip()]
        rows.append((number, code, None if iso1 == "-" else iso1, name, aliases))
    return rows


def _build(text: str) -> _Table:
    """Build the lookup table; a table where one alias means two codes is refused."""
    rows = _parse(text)
    iso3_count: dict[str, int] = {}
    iso1_count: dict[str, int] = {}
    for _, code, iso1, _, _ in rows:
        iso3_count[code[:3]] = iso3_count.get(code[:3], 0) + 1
        if iso1:
            iso1_count[iso1] = iso1_count.get(iso1, 0) + 1

    index: dict[str, str] = {}
    languages: dict[str, Language] = {}
    for number, code, iso1, name, extra in rows:
        if code in languages:
            raise RuntimeError(f"{TABLE_FILE}:{number}: duplicate code {code}")
        keys = [code, name]
        if iso3_count[code[:3]] == 1:
            keys.append(code[:3])
        if iso1 and iso1_count[iso1] == 1:
            keys.append(iso1)
        keys.extend(extra)
        aliases: list[str] = []
        seen = {_normalise(code), _normalise(name)}
        for key in keys:
            norm = _normalise(key)
            owner = index.setdefault(norm, code)
            if owner != code:
                raise RuntimeError(f"{TABLE_FILE}:{number}: alias {key!r} already means {owner}")
            if norm not in seen:
                seen.add(norm)
                aliases.append(key)
        languages[code] = Language(code, code[:3], iso1, code[4:], name, tuple(aliases))

    outside = {_normalise(key): name for name, keys in _OUTSIDE_NLLB for key in keys}
    clash = sorted(set(outside) & set(index))
    if clash:
        raise RuntimeError(f"{TABLE_FILE}: listed as outside NLLB-200 but in the table: {clash}")
    return _Table(dict(sorted(languages.items())), index, outside)


@functools.cache
def _table() -> _Table:
    text = resources.files("xner.runtime").joinpath(TABLE_FILE).read_text(encoding="utf-8")
    return _build(text)


def _lookup(text: str) -> str | None:
    """The canonical code for ``text``, or ``None``."""
    table = _table()
    key = _normalise(text)
    code = table.index.get(key)
    if code is not None:
        return code
    tag = _TAG.match(key)
    if tag is None:
        return None
    base = table.index.get(tag.group(1))
    if base is None:
        return None
    if len(tag.group(2)) != 4:  # a region (pt_BR, sw_KE): the language's default script
        return base
    candidate = f"{base[:3]}_{tag.group(2).title()}"  # zh_Hant -> zho_Hant
    return candidate if candidate in table.languages else None


def _describe(codes: Iterable[str]) -> str:
    languages = _table().languages
    return ", ".join(f"{code} ({languages[code].name})" for code in codes)


def _suggest(text: str, n: int = MAX_SUGGESTIONS) -> list[str]:
    """Up to ``n`` canonical codes closest to ``text``: first the other scripts of the same
    language (``arb_Latn`` -> ``arb_Arab``), then the codes whose code, aliases or names are most
    similar (difflib; the nearest ones at all when none is similar)."""
    table = _table()
    query = _normalise(text)
    codes: list[str] = []
    tag = _TAG.match(query)
    base = table.index.get(tag.group(1)) if tag else None
    if base is not None:
        codes.append(base)
        codes.extend(code for code in table.languages if code[:3] == base[:3] and code != base)
    keys = list(table.index)
    matches = difflib.get_close_matches(query, keys, n=4 * n, cutoff=0.5)
    if not matches and not codes:
        matches = difflib.get_close_matches(query, keys, n=4 * n, cutoff=0.0)
    for key in matches:
        if table.index[key] not in codes:
            codes.append(table.index[key])
    return codes[:n]


def resolve_language(text: str) -> str:
    """Return the canonical NLLB code for a code, ISO 639-1/639-3 code or English name.

    Raises :class:`ConfigError` for an unknown language, naming the closest codes.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"empty language code {text!r}; `xner languages` lists the valid ones")
    code = _lookup(text)
    if code is not None:
        return code
    outside = _table().outside.get(_normalise(text))
    note = f" ({outside} is not one of the 202 NLLB-200 languages)" if outside else ""
    raise ConfigError(
        f"unknown language {text.strip()!r}{note}; closest codes: {_describe(_suggest(text))}; "
        "`xner languages` lists them all"
    )


def get_language(code_or_alias: str) -> Language:
    """The :class:`Language` of a code or alias (see :func:`resolve_language`)."""
    return _table().languages[resolve_language(code_or_alias)]


def all_languages() -> list[Language]:
    """All 202 NLLB-200 languages, sorted by code."""
    return list(_table().languages.values())


def find_languages(query: str = "") -> list[Language]:
    """Languages for ``xner languages QUERY``: all for an empty query, else the language the query
    resolves to (first) and every language whose code, name or alias contains it.

    Raises :class:`ConfigError` (with suggestions) when nothing matches.
    """
    languages = _table().languages
    if not query.strip():
        return list(languages.values())
    needle = _normalise(query)
    exact = _lookup(query)
    found = [languages[exact]] if exact else []
    for language in languages.values():
        if language.code == exact:
            continue
        haystack = (language.code, language.name, *language.aliases)
        if any(needle in _normalise(item) for item in haystack):
            found.append(language)
    if not found:
        resolve_language(query)  # raises the error with suggestions
    return found


def check_supported(code: str, supported: Collection[str], *, what: str = "translator") -> str:
    """Resolve ``code`` and check that a model knows it; return it as ``supported`` spells it.

    ``supported``: the language codes the model declares (from the bundle manifest). A code the
    model lists verbatim (any case) is accepted even when it is not an NLLB-200 code, so that
    fine-tuned models with extra codes work. ``what``: the component named in the error message.
    Raises :class:`ConfigError` for an unknown language or one the model does not know.

    Whether a *translator* knows a language is answered by
    :func:`xner.runtime.engines.translator.translator_language` (which also maps NLLB codes to
    an M2M100 model's ``__ha__`` tokens): ask it, not this list check.
    """
    by_fold = {item.casefold(): item for item in supported}
    if isinstance(code, str) and code.strip().casefold() in by_fold:
        return by_fold[code.strip().casefold()]
    canonical = resolve_language(code)
    if canonical.casefold() in by_fold:
        return by_fold[canonical.casefold()]
    origin = "" if canonical == code.strip() else f" (from {code.strip()!r})"
    if not by_fold:
        raise ConfigError(
            f"language {canonical!r}{origin} is not supported: this {what} "
            "declares no language codes"
        )
    known = sorted(by_fold.values())
    examples = difflib.get_close_matches(canonical, known, n=MAX_SUGGESTIONS, cutoff=0.5)
    examples = examples or known[:MAX_SUGGESTIONS]
    raise ConfigError(
        f"language {canonical!r}{origin} is not supported by this {what}; it knows "
        f"{len(known)} codes, e.g. {', '.join(examples)}"
    )


def format_language_table(languages: Iterable[Language]) -> str:
    """A plain-text table with one line per language: code, ISO 639-1, ISO 639-3 and name."""
    header = ("code", "ISO 639-1", "ISO 639-3", "name")
    rows = [header] + [
        (lang.code, lang.iso639_1 or "-", lang.iso639_3, lang.name) for lang in languages
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3]
        for row in rows
    ]
    return "\n".join(lines)
