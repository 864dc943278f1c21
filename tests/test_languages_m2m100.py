"""What a language means to a translator: one answer (runtime/engines/translator.py
``translator_language``, ``supported_languages``, ``translatable_language``) for NLLB and for
M2M100 bundles, whose manifests list ``__ha__``-style tokens instead of NLLB codes.

The M2M100-style bundle is the tiny NLLB bundle with its language tokens renamed in the
CTranslate2 vocabulary (``hau_Latn`` -> ``__ha__``: same ids, so the model translates exactly as
before) and a manifest that declares family ``m2m100`` and those tokens, as ``xner export``
writes for a real M2M100 checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from fixtures_models import copy_bundle
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.bundles.bundle import MANIFEST, Bundle, TranslatorSettings, file_entry
from xner.runtime.engines.translator import (
    Translator,
    supported_languages,
    translatable_language,
    translator_language,
)
from xner.runtime.errors import ConfigError
from xner.runtime.files.formats import read_conll
from xner.runtime.languages import all_languages, check_supported, resolve_language

TOKENS = {"eng_Latn": "__en__", "fra_Latn": "__fr__", "hau_Latn": "__ha__", "swh_Latn": "__sw__"}
"""The languages of the M2M100-style translator (yor_Latn left out on purpose)."""

HAUSA = [
    [tuple(item.rsplit("/", 1)) for item in line.split()]
    for line in (
        "Shugaba/O Buhari/B-PER ya/O isa/O Abuja/B-LOC ./O",
        "Aminu/B-PER Kano/I-PER ya/O tafi/O Legas/B-LOC ./O",
        "Hukumar/B-ORG INEC/I-ORG ta/O yi/O taro/O ./O",
    )
]
"""Three Hausa sentences, (word, tag) pairs."""


def _settings(family: str, languages: tuple[str, ...]) -> TranslatorSettings:
    return TranslatorSettings(
        model_dir="translator",
        sentencepiece="translator/sp.model",
        tokenizer=None,
        family=family,
        quantization="int8",
        languages=languages,
        source_prefix=("{src_lang}",),
        source_suffix=("</s>",),
        target_prefix=("{tgt_lang}",),
    )


M2M100 = _settings("m2m100", tuple(sorted(TOKENS.values())))
NLLB = _settings("nllb", tuple(sorted(TOKENS)))


@pytest.mark.parametrize("code", ["hau", "ha", "Hausa", "hau_Latn", "HAU_LATN", "__ha__"])
def test_m2m100_tokens_from_any_spelling(code: str) -> None:
    assert translator_language(M2M100, code) == "__ha__"
    assert translator_language(M2M100, "swa") == "__sw__"  # macrolanguage -> swh_Latn -> sw


def test_nllb_codes_unchanged() -> None:
    assert translator_language(NLLB, "ha") == "hau_Latn"
    assert supported_languages(NLLB) == sorted(TOKENS)


def test_supported_languages_are_nllb_codes() -> None:
    assert supported_languages(M2M100) == sorted(TOKENS)
    assert translatable_language(M2M100, "ha") == "hau_Latn"
    assert translatable_language(M2M100, "Swahili") == "swh_Latn"


def test_unsupported_language_is_refused_naming_nllb_codes() -> None:
    with pytest.raises(ConfigError, match=r"'yor_Latn'.*not supported by this translator"):
        translator_language(M2M100, "yor")
    with pytest.raises(ConfigError, match=r"'yor_Latn' \(from 'yor'\).*e\.g\. .*hau_Latn"):
        translatable_language(M2M100, "yor")
    with pytest.raises(ConfigError, match="unknown language 'xx_nope'"):
        translatable_language(M2M100, "xx_nope")


@pytest.mark.parametrize("settings", [M2M100, NLLB], ids=["m2m100", "nllb"])
def test_supported_languages_agree_with_translator_language(settings: TranslatorSettings) -> None:
    """Every one of the 202 NLLB languages: the translator answers for it exactly when it is in
    supported_languages, and translatable_language gives its code back."""
    supported = set(supported_languages(settings))
    for language in all_languages():
        try:
            translator_language(settings, language.code)
            known = True
        except ConfigError:
            known = False
        assert known == (language.code in supported), language.code
        if known:
            assert translatable_language(settings, language.iso639_3) == resolve_language(
                language.iso639_3
            )


def test_the_manifest_list_alone_would_refuse_m2m100() -> None:
    """The check `xner experiment` used to make (the raw manifest list) refuses hau for an
    M2M100 translator that translates it: the reason for one answer."""
    with pytest.raises(ConfigError):
        check_supported(resolve_language("hau"), M2M100.languages)
    assert translatable_language(M2M100, "hau") == "hau_Latn"


# -- a real (tiny) M2M100-style bundle --------------------------------------------------------


@pytest.fixture(scope="module")
def m2m100_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_bundle(tiny_bundle, tmp_path_factory.mktemp("m2m100"))
    vocabulary = root / "translator" / "shared_vocabulary.json"
    tokens = json.loads(vocabulary.read_text(encoding="utf-8"))
    assert set(TOKENS) <= set(tokens)
    renamed = [TOKENS.get(token, token) for token in tokens]
    vocabulary.write_text(json.dumps(renamed, ensure_ascii=False), encoding="utf-8")
    manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    translator = manifest["components"]["translator"]
    translator["settings"]["family"] = "m2m100"
    translator["settings"]["languages"] = sorted(TOKENS.values())
    translator["files"] = [
        dataclasses.asdict(file_entry(root, entry["path"])) for entry in translator["files"]
    ]
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return root


def _hausa_folder(where: Path) -> Path:
    data = where / "data"
    data.mkdir()
    text = "\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in HAUSA) + "\n"
    (data / "hau.test.conll").write_text(text, encoding="utf-8")
    (data / "hau.txt").write_text(
        "\n".join(" ".join(w for w, _ in s) for s in HAUSA) + "\n", encoding="utf-8"
    )
    return data


@pytest.mark.slow
def test_m2m100_bundle_translates_like_the_nllb_one(m2m100_bundle: Path, tiny_bundle: Path) -> None:
    bundle = Bundle.load(m2m100_bundle)
    assert translator_language(bundle, "hau") == "__ha__"
    m2m = Translator(bundle, device="cpu", intra_threads=1)
    nllb = Translator(tiny_bundle, device="cpu", intra_threads=1)
    assert m2m.language("Hausa") == "__ha__" and nllb.language("Hausa") == "hau_Latn"
    texts = [" ".join(w for w, _ in s) for s in HAUSA]
    # the same ids generated (a random model may generate language tokens: renamed ones too)
    assert [t.tokens for t in m2m.translate(texts, "hau", "eng")] == [
        tuple(TOKENS.get(token, token) for token in t.tokens)
        for t in nllb.translate(texts, "hau", "eng")
    ]


@pytest.mark.slow
def test_translate_test_accepts_the_m2m100_bundle(m2m100_bundle: Path, tmp_path: Path) -> None:
    data = _hausa_folder(tmp_path)
    out = tmp_path / "out.conll"
    args = [
        "translate-test", "--bundle", str(m2m100_bundle), "--skip-verify", "--device", "cpu",
        "--intra-threads", "1", "--lang", "hau", str(data / "hau.txt"), "-o", str(out),
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    sentences = list(read_conll(out))
    assert [s.tokens for s in sentences] == [[w for w, _ in s] for s in HAUSA]


@pytest.mark.slow
def test_experiment_accepts_the_m2m100_bundle(m2m100_bundle: Path, tmp_path: Path) -> None:
    """Regression: `xner experiment` checked hau against the manifest's raw list (``__ha__``
    tokens) and refused the bundle that translate-test accepts."""
    data = _hausa_folder(tmp_path)
    out = tmp_path / "out"
    args = [
        "experiment", "--bundle", str(m2m100_bundle), "--data", str(data), "--langs", "hau",
        "--methods", "heuristic,model-transfer", "-o", str(out), "--device", "cpu",
        "--intra-threads", "1", "--skip-verify",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["settings"]["codes"] == {"hau": "hau_Latn"}
    cells = [(c["lang"], c["code"], c["method"]) for c in saved["cells"]]
    assert cells == [("hau", "hau_Latn", "heuristic"), ("hau", "hau_Latn", "model-transfer")]
    assert all(c["evaluation"]["sentences"] == len(HAUSA) for c in saved["cells"])


@pytest.mark.slow
def test_experiment_refuses_a_language_the_m2m100_translator_lacks(
    m2m100_bundle: Path, tmp_path: Path
) -> None:
    data = _hausa_folder(tmp_path)
    (data / "yor.test.conll").write_text("Ade\tB-PER\nlo\tO\n", encoding="utf-8")
    args = [
        "experiment", "--bundle", str(m2m100_bundle), "--data", str(data), "--langs", "hau,yor",
        "--methods", "heuristic", "-o", str(tmp_path / "out"), "--device", "cpu", "--skip-verify",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "translate-test cannot run on yor" in result.stderr
