"""The engine Protocols (runtime/engines/protocols.py): the bundle's engines satisfy them, and any
object that does can stand in for them in :class:`Engines` and the pipelines."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from xner.runtime.data import Span
from xner.runtime.engines.aligner import Aligner, AlignmentResult, WordPair
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.protocols import AlignerEngine, TaggerEngine, TranslatorEngine
from xner.runtime.engines.tagger import Tagger, TagResult
from xner.runtime.engines.translator import Translation, Translator, translator_language
from xner.runtime.errors import ConfigError
from xner.runtime.languages import resolve_language
from xner.runtime.pipelines import translate_test

ROOT = Path(__file__).resolve().parents[1]


class FakeTranslator:
    """'Translates' by copying the words; knows two languages; records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str, str]] = []

    def language(self, code: str) -> str:
        canonical = resolve_language(code)
        if canonical not in ("hau_Latn", "eng_Latn"):
            raise ConfigError(f"fake translator: no {canonical}")
        return f"fake:{canonical}"

    def translate(
        self,
        sentences: Sequence[str],
        src_lang: str,
        tgt_lang: str,
        *,
        beam_size: int | None = None,
    ) -> list[Translation]:
        self.calls.append((list(sentences), src_lang, tgt_lang))
        return [Translation(text, tuple(text.split()), 0.0) for text in sentences]


class FakeTagger:
    """Tags the first word of every sentence as PER."""

    entity_types = ("PER",)
    labels = ("O", "B-PER", "I-PER")

    def __init__(self) -> None:
        self.calls: list[list[list[str]]] = []

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[TagResult]:
        self.calls.append([list(words) for words in sentences])
        out = []
        for words in sentences:
            tags = ["B-PER"] + ["O"] * (len(words) - 1)
            zeros = np.zeros((len(words), len(self.labels)), dtype=np.float32)
            out.append(TagResult([Span(0, 1, "PER")], tags, zeros, zeros))
        return out


class FakeAligner:
    """Links word ``i`` to word ``i`` (the fake translation keeps the words)."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []

    def align(self, pairs: Sequence[WordPair], method: str | None = None) -> list[AlignmentResult]:
        self.calls.append(method)
        results = []
        for src, tgt in pairs:
            n = min(len(src), len(tgt))
            links = np.stack([np.arange(n), np.arange(n)], axis=1).astype(np.int64)
            results.append(AlignmentResult(links.reshape(-1, 2), method or "diagonal"))
        return results


def test_fakes_satisfy_the_protocols_and_run_translate_test() -> None:
    translator, tagger, aligner = FakeTranslator(), FakeTagger(), FakeAligner()
    assert isinstance(translator, TranslatorEngine)
    assert isinstance(tagger, TaggerEngine)
    assert isinstance(aligner, AlignerEngine)
    engines = Engines(translator=translator, tagger=tagger, aligner=aligner)  # no bundle at all
    assert engines.translator is translator and engines.entity_types() == ["PER"]
    sentences = [["Musa", "ya", "tafi", "Kano"], ["Audu", "ya", "zo"]]
    results = list(translate_test(engines, sentences, "hau"))
    assert [r.tags for r in results] == [["B-PER", "O", "O", "O"], ["B-PER", "O", "O"]]
    assert [r.translation for r in results] == ["Musa ya tafi Kano", "Audu ya zo"]
    # each fake did the work of its stage; languages reach the translator as NLLB codes (it
    # maps them to its own: no caller handles a model's codes)
    assert translator.calls == [(["Musa ya tafi Kano", "Audu ya zo"], "hau_Latn", "eng_Latn")]
    assert tagger.calls == [[["Musa", "ya", "tafi", "Kano"], ["Audu", "ya", "zo"]]]
    assert len(aligner.calls) == 1


def test_the_fake_translators_languages_are_its_own() -> None:
    engines = Engines(translator=FakeTranslator(), tagger=FakeTagger(), aligner=FakeAligner())
    with pytest.raises(ConfigError, match="fake translator: no yor_Latn"):
        translate_test(engines, [["Ade"]], "yor")


def test_missing_engine_without_bundle_names_it() -> None:
    engines = Engines(translator=FakeTranslator())
    with pytest.raises(ConfigError, match="no tagger: give a bundle or a ready Tagger"):
        _ = engines.tagger


def test_an_object_lacking_a_method_is_not_an_engine() -> None:
    assert not isinstance(FakeTagger(), TranslatorEngine)
    assert not isinstance(FakeTranslator(), AlignerEngine)
    assert not isinstance(object(), TaggerEngine)


@pytest.mark.slow
def test_bundle_engines_satisfy_the_protocols(tiny_bundle: Path) -> None:
    engines = Engines(tiny_bundle, device="cpu", intra_threads=1, verify=False)
    assert isinstance(engines.translator, Translator)
    assert isinstance(engines.translator, TranslatorEngine)
    assert isinstance(engines.tagger, Tagger) and isinstance(engines.tagger, TaggerEngine)
    assert isinstance(engines.aligner, Aligner) and isinstance(engines.aligner, AlignerEngine)
    # the translator answers languages with the one module-level function
    assert engines.translator.language("Hausa") == translator_language(engines.bundle, "hau")


TYPED = """
from xner.runtime.engines.aligner import Aligner
from xner.runtime.engines.protocols import AlignerEngine, TaggerEngine, TranslatorEngine
from xner.runtime.engines.tagger import Tagger
from xner.runtime.engines.translator import Translator


def engines(
    t: Translator, g: Tagger, a: Aligner
) -> tuple[TranslatorEngine, TaggerEngine, AlignerEngine]:
    return t, g, a


def wrong(g: Tagger) -> TranslatorEngine:
    return g
"""


@pytest.mark.slow
def test_mypy_sees_the_engines_satisfy_the_protocols(tmp_path: Path) -> None:
    """Structural typing checked statically: the concrete engines are accepted where the
    Protocols are expected, and a tagger is refused where a translator is."""
    pytest.importorskip("mypy", reason="mypy is a development tool, not installed here")
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("no mypy executable next to this Python")
    tree = tmp_path / "tree"
    (tree / "xner").mkdir(parents=True)
    for part in ("runtime", "export", "cli"):
        (tree / "xner" / part).symlink_to(ROOT / part)
    (tree / "typed_engines.py").write_text(textwrap.dedent(TYPED), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(tmp_path / "cache"), "--follow-imports", "silent",
            "typed_engines.py",
        ],
        cwd=tree, capture_output=True, text=True, check=False,
    )  # fmt: skip
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout + done.stderr
    assert "typed_engines.py:15:" in errors[0] and '"Tagger"' in errors[0], errors
