"""The benchmark sentences: real MasakhaNER 2.0 test sentences, the same for both sides."""

from __future__ import annotations

from pathlib import Path

LANGUAGES = ("hau", "yor", "swa", "ibo", "zul")


def read_conll_words(path: Path) -> list[list[str]]:
    """The sentences of a ``token<TAB>tag`` file, as word lists."""
    sentences: list[list[str]] = []
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            words.append(line.split("\t")[0])
        elif words:
            sentences.append(words)
            words = []
    if words:
        sentences.append(words)
    return sentences


def load_sentences(
    data: Path, languages: tuple[str, ...] = LANGUAGES, per_language: int = 40
) -> list[dict]:
    """``per_language`` test sentences of each language, evenly spaced through its file.

    Each item: ``{"lang": "hau", "words": [...], "text": "words joined by spaces"}``, grouped by
    language in the order of ``languages``.
    """
    items = []
    for lang in languages:
        sentences = read_conll_words(data / "masakhaner2" / f"{lang}.test.conll")
        if per_language > len(sentences):
            raise ValueError(f"{lang}: {per_language} sentences asked, {len(sentences)} in file")
        step = len(sentences) / per_language
        for k in range(per_language):
            words = sentences[int(k * step)]
            items.append({"lang": lang, "words": words, "text": " ".join(words)})
    return items
