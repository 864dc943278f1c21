"""The Unicode word tokenizer: words keep their marks, punctuation splits off, offsets are exact."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xner.runtime.tokenize import Token, detokenize, word_tokenize


def words(text: str) -> list[str]:
    return [token.text for token in word_tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, world!", ["Hello", ",", "world", "!"]),
        ("  spaced\tout\n", ["spaced", "out"]),
        ("", []),
        ("(Lagos)", ["(", "Lagos", ")"]),
        ("Wait... what?!", ["Wait", "...", "what", "?", "!"]),
        ("3.5 kg, 1,000 naira.", ["3.5", "kg", ",", "1,000", "naira", "."]),
        ("U.S.", ["U", ".", "S", "."]),
        ("co-op", ["co", "-", "op"]),
        ("$5 + 10% = €", ["$", "5", "+", "10", "%", "=", "€"]),
        ("«Bonjour»", ["«", "Bonjour", "»"]),
    ],
)
def test_punctuation_and_numbers(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_apostrophes_inside_words_stay_joined() -> None:
    assert words("n'a l'homme don't") == ["n'a", "l'homme", "don't"]
    assert words("ma\u2019aikata") == ["ma\u2019aikata"]
    # at a word edge an apostrophe is punctuation
    assert words("'quoted' dogs'") == ["'", "quoted", "'", "dogs", "'"]


def test_yoruba_with_combining_marks_is_one_word_in_nfc_and_nfd() -> None:
    text = "Ọ̀gbẹ́ni Adébáyọ̀ lọ sí Èkó."
    for form in ("NFC", "NFD"):
        normalised = unicodedata.normalize(form, text)
        tokens = words(normalised)
        assert len(tokens) == 6, (form, tokens)
        assert tokens[-1] == "."
        assert "".join(tokens) == normalised.replace(" ", "")


def test_hausa_hooked_letters_and_glottal_stop() -> None:
    assert words("ƙasar Ɗanjuma ʼyan sanda") == ["ƙasar", "Ɗanjuma", "ʼyan", "sanda"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("नमस्ते दुनिया।", ["नमस्ते", "दुनिया", "।"]),  # Devanagari vowel signs and virama are marks
        ("ኢትዮጵያ፣ አዲስ አበባ።", ["ኢትዮጵያ", "፣", "አዲስ", "አበባ", "።"]),  # Ethiopic punctuation
        ("مرحبا، عالم", ["مرحبا", "،", "عالم"]),
        (
            "東京は日本の首都です。",
            ["東京は日本の首都です", "。"],
        ),  # no segmentation without spaces
        ("می\u200cخواهم", ["می\u200cخواهم"]),  # zero-width non-joiner stays in the word
    ],
)
def test_other_scripts(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_invisible_separators_and_joiners() -> None:
    assert words("a\u200bb\ufeffc") == ["a", "b", "c"]
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert words(f"hi {family}!") == ["hi", family, "!"]
    assert words("\u200dword") == ["word"]  # a joiner with nothing before it is dropped


def test_offsets() -> None:
    text = "Ayo, ó dé!"
    tokens = word_tokenize(text)
    assert tokens == [
        Token("Ayo", 0, 3),
        Token(",", 3, 4),
        Token("ó", 5, 6),
        Token("dé", 7, 9),
        Token("!", 9, 10),
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_tokens_cover_every_visible_character(text: str) -> None:
    tokens = word_tokenize(text)
    end = 0
    for token in tokens:
        assert token.text
        assert text[token.start : token.end] == token.text
        assert token.start >= end
        gap = text[end : token.start]
        assert all(c.isspace() or unicodedata.category(c) == "Cf" for c in gap), (gap, tokens)
        assert not any(c.isspace() for c in token.text)
        end = token.end
    assert all(c.isspace() or unicodedata.category(c) == "Cf" for c in text[end:])


def test_detokenize() -> None:
    assert detokenize(["Hello", ",", "world"]) == "Hello , world"
    assert detokenize(["東京", "は", "首都"], no_space=True) == "東京は首都"
    assert detokenize(word_tokenize("Ọ̀gbẹ́ni  lọ.")) == "Ọ̀gbẹ́ni lọ ."
    assert detokenize([]) == ""
