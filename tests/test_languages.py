"""The NLLB-200 language table: codes, aliases, macrolanguages, errors and `xner languages`."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest
from torchfree import run_torch_free
from typer.testing import CliRunner

from xner.cli import language_commands  # noqa: F401  (registers `xner languages`)
from xner.cli.app import app
from xner.runtime import languages as lang_module
from xner.runtime.errors import ConfigError
from xner.runtime.languages import (
    Language,
    all_languages,
    check_supported,
    find_languages,
    format_language_table,
    get_language,
    resolve_language,
)

# First, middle and last codes of NLLB-200's list, and some that are easy to get wrong.
SAMPLE_CODES = {
    "ace_Arab", "ace_Latn", "aka_Latn", "als_Latn", "arb_Arab", "azb_Arab", "azj_Latn",
    "eng_Latn", "gaz_Latn", "hau_Latn", "khk_Cyrl", "knc_Arab", "knc_Latn", "lvs_Latn",
    "min_Latn", "mni_Beng", "npi_Deva", "pbt_Arab", "pes_Arab", "plt_Latn", "prs_Arab",
    "sat_Beng", "swh_Latn", "taq_Latn", "taq_Tfng", "twi_Latn", "tzm_Tfng", "uzn_Latn",
    "ydd_Hebr", "yue_Hant", "zho_Hans", "zho_Hant", "zsm_Latn", "zul_Latn",
}  # fmt: skip

MACROLANGUAGES = {
    "swh_Latn": ["sw", "swa", "Swahili", "Kiswahili"],
    "arb_Arab": ["ar", "ara", "Arabic"],
    "pes_Arab": ["fa", "fas", "per", "Persian", "Farsi"],
    "zho_Hans": ["zh", "zho", "chi", "Chinese"],
    "zsm_Latn": ["ms", "msa", "may", "Malay"],
    "est_Latn": ["et", "est", "Estonian"],
    "lvs_Latn": ["lv", "lav", "Latvian"],
    "gaz_Latn": ["om", "orm", "Oromo"],
    "uzn_Latn": ["uz", "uzb", "Uzbek"],
    "plt_Latn": ["mg", "mlg", "Malagasy"],
    "npi_Deva": ["ne", "nep", "Nepali"],
    "quy_Latn": ["qu", "que", "Quechua"],
    "als_Latn": ["sq", "sqi", "alb", "Albanian"],
    "azj_Latn": ["az", "aze", "Azerbaijani"],
    "khk_Cyrl": ["mn", "mon", "Mongolian"],
    "kmr_Latn": ["ku", "kur", "Kurdish"],
    "pbt_Arab": ["ps", "pus", "Pashto"],
    "ydd_Hebr": ["yi", "yid", "Yiddish"],
    "nob_Latn": ["no", "nor", "nb", "nob", "Norwegian"],
    "grn_Latn": ["gn", "grn", "Guarani"],
    "knc_Latn": ["kr", "kau", "knc", "Kanuri"],
    "lug_Latn": ["lg", "lug", "Luganda", "Ganda"],
    "twi_Latn": ["tw", "twi", "Twi"],
    # aka_Latn is a code of its own in NLLB-200, so Akan resolves to it, not to twi_Latn
    "aka_Latn": ["ak", "aka", "Akan"],
    # several scripts: the bare code takes the most common one
    "kas_Arab": ["ks", "kas", "Kashmiri"],
    "taq_Latn": ["taq", "Tamasheq"],
    "ace_Latn": ["ace", "Acehnese"],
    "bjn_Latn": ["bjn", "Banjar"],
    "min_Latn": ["min", "Minangkabau"],
}

# MasakhaNER 2.0 folder codes -> NLLB code, or None where NLLB-200 lacks the language.
MASAKHANER2 = {
    "bam": "bam_Latn", "bbj": None, "ewe": "ewe_Latn", "fon": "fon_Latn", "hau": "hau_Latn",
    "ibo": "ibo_Latn", "kin": "kin_Latn", "lug": "lug_Latn", "luo": "luo_Latn",
    "mos": "mos_Latn", "nya": "nya_Latn", "pcm": None, "sna": "sna_Latn", "swa": "swh_Latn",
    "tsn": "tsn_Latn", "twi": "twi_Latn", "wol": "wol_Latn", "xho": "xho_Latn",
    "yor": "yor_Latn", "zul": "zul_Latn",
}  # fmt: skip


def transformers_nllb_codes() -> list[str]:
    """FAIRSEQ_LANGUAGE_CODES read from transformers' source text (without importing it)."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or spec.origin is None:
        pytest.skip("transformers is not installed: cannot compare with its NLLB code list")
    source = Path(spec.origin).parent / "models" / "nllb" / "tokenization_nllb.py"
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("FAIRSEQ_LANGUAGE_CODES = "):
            return ast.literal_eval(line.split("=", 1)[1].split("#")[0].strip())
    pytest.fail(f"no FAIRSEQ_LANGUAGE_CODES in {source}")


def test_table_has_the_202_nllb_codes_exactly() -> None:
    codes = [language.code for language in all_languages()]
    assert len(codes) == 202
    assert len(set(codes)) == 202
    assert codes == sorted(codes)
    assert set(codes) >= SAMPLE_CODES
    assert not {"arb_Latn", "min_Arab", "sat_Olck"} & set(codes)


def test_table_matches_transformers_nllb_tokenizer() -> None:
    assert sorted(transformers_nllb_codes()) == [lang.code for lang in all_languages()]


def test_fields_are_consistent() -> None:
    for language in all_languages():
        assert isinstance(language, Language)
        assert re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", language.code)
        assert language.code == f"{language.iso639_3}_{language.script}"
        assert language.iso639_1 is None or re.fullmatch(r"[a-z]{2}", language.iso639_1)
        assert language.name and language.name == language.name.strip()
    hausa = get_language("hau_Latn")
    assert hausa == Language("hau_Latn", "hau", "ha", "Latn", "Hausa", ("hau", "ha"))


def test_every_alias_resolves_to_its_own_code_only() -> None:
    owner: dict[str, str] = {}
    for language in all_languages():
        for key in (language.code, language.name, *language.aliases):
            assert resolve_language(key) == language.code, key
            folded = key.casefold()
            assert owner.setdefault(folded, language.code) == language.code, key


def test_shared_iso_codes_are_claimed_by_one_explicit_default() -> None:
    by_iso3: dict[str, list[Language]] = {}
    for language in all_languages():
        by_iso3.setdefault(language.iso639_3, []).append(language)
    shared = {iso: langs for iso, langs in by_iso3.items() if len(langs) > 1}
    assert set(shared) == {"ace", "bjn", "kas", "knc", "taq", "zho"}
    for iso, langs in shared.items():
        claimed = [lang.code for lang in langs if iso in lang.aliases]
        assert len(claimed) == 1, (iso, claimed)
        assert resolve_language(iso) == claimed[0]
    assert resolve_language("zho") == "zho_Hans"
    assert resolve_language("zho_Hant") == "zho_Hant"


@pytest.mark.parametrize("code", sorted(MACROLANGUAGES))
def test_macrolanguages_and_defaults(code: str) -> None:
    for alias in MACROLANGUAGES[code]:
        assert resolve_language(alias) == code, alias


def test_case_accents_blanks_and_locale_tags() -> None:
    assert resolve_language("HAU_LATN") == "hau_Latn"
    assert resolve_language("hau-latn") == "hau_Latn"
    assert resolve_language("  hausa ") == "hau_Latn"
    assert resolve_language("YORUBA") == "yor_Latn"
    assert resolve_language("Yorùbá") == "yor_Latn"
    assert resolve_language("swahili") == "swh_Latn"
    assert resolve_language("norwegian bokmal") == "nob_Latn"
    assert resolve_language("Norwegian Bokmål") == "nob_Latn"
    assert resolve_language("HA") == "hau_Latn"
    assert resolve_language("zh-Hant") == "zho_Hant"
    assert resolve_language("zh_TW") == "zho_Hant"
    assert resolve_language("ks-Deva") == "kas_Deva"
    assert resolve_language("pt-BR") == "por_Latn"
    assert resolve_language("sw-KE") == "swh_Latn"


def test_unknown_language_suggests_closest_codes_with_names() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_language("hausa2")
    message = str(caught.value)
    assert message.startswith("unknown language 'hausa2'; closest codes: hau_Latn (Hausa), ")
    listed = re.findall(r"[a-z]{3}_[A-Z][a-z]{3} \(", message)
    assert 1 <= len(listed) <= 5
    with pytest.raises(ConfigError, match=r"closest codes: arb_Arab \(Modern Standard Arabic\)"):
        resolve_language("arb_Latn")
    with pytest.raises(ConfigError, match=r"closest codes: kas_Arab .*, kas_Deva "):
        resolve_language("kas_Latn")
    with pytest.raises(ConfigError, match="empty language code"):
        resolve_language("  ")


@pytest.mark.parametrize("folder", sorted(MASAKHANER2))
def test_masakhaner2_languages(folder: str) -> None:
    expected = MASAKHANER2[folder]
    if expected is not None:
        assert resolve_language(folder) == expected
        return
    name = {"pcm": "Nigerian Pidgin", "bbj": "Ghomálá'"}[folder]
    with pytest.raises(ConfigError) as caught:
        resolve_language(folder)
    message = str(caught.value)
    assert f"unknown language '{folder}' ({name} is not one of the 202 NLLB-200 languages)" in (
        message
    )
    assert re.search(r"closest codes: [a-z]{3}_[A-Z][a-z]{3} \(", message)


def test_masakhaner2_folder_codes_are_all_covered(shared_data: Path) -> None:
    folders = {path.name.split(".")[0] for path in (shared_data / "masakhaner2").glob("*.conll")}
    assert folders == set(MASAKHANER2)


def test_check_supported() -> None:
    supported = ["eng_Latn", "fra_Latn", "hau_Latn", "swh_Latn"]
    assert check_supported("ha", supported) == "hau_Latn"
    assert check_supported("Swahili", supported) == "swh_Latn"
    # a code the model lists verbatim passes even when NLLB-200 lacks it (fine-tuned models)
    assert check_supported("PCM_Latn", ["pcm_Latn", "eng_Latn"]) == "pcm_Latn"
    with pytest.raises(ConfigError) as caught:
        check_supported("yo", supported, what="tagger")
    message = str(caught.value)
    assert message.startswith(
        "language 'yor_Latn' (from 'yo') is not supported by this tagger; it knows 4 codes, e.g. "
    )
    with pytest.raises(ConfigError, match="unknown language 'xx_Yyyy'"):
        check_supported("xx_Yyyy", supported)
    with pytest.raises(ConfigError, match="declares no language codes"):
        check_supported("eng_Latn", [])


def test_find_and_format() -> None:
    assert find_languages("") == all_languages()
    assert [lang.code for lang in find_languages("sw")][0] == "swh_Latn"
    kurdish = [lang.code for lang in find_languages("kurd")]
    assert kurdish == ["ckb_Arab", "kmr_Latn"]
    with pytest.raises(ConfigError, match="unknown language 'qqqqq'"):
        find_languages("qqqqq")
    table = format_language_table([get_language("ha"), get_language("dik_Latn")])
    lines = table.splitlines()
    assert re.fullmatch(r"code +ISO 639-1 +ISO 639-3 +name", lines[0])
    assert re.fullmatch(r"hau_Latn +ha +hau +Hausa", lines[1])
    assert re.fullmatch(r"dik_Latn +- +dik +Southwestern Dinka", lines[2])
    assert len({line.index("ISO 639-3") for line in lines[:1]}) == 1


def test_table_is_built_once_lazily() -> None:
    lang_module._table.cache_clear()
    assert lang_module._table.cache_info().currsize == 0
    resolve_language("ha")
    resolve_language("yo")
    info = lang_module._table.cache_info()
    assert (info.misses, info.currsize) == (1, 1)


def test_broken_table_is_refused() -> None:
    row = "hau_Latn\tha\tHausa\t\n"
    with pytest.raises(RuntimeError, match="alias 'Hausa' already means hau_Latn"):
        lang_module._build(row + "yor_Latn\tyo\tYoruba\tHausa\n")
    with pytest.raises(RuntimeError, match="malformed row"):
        lang_module._build("hau_latn\tha\tHausa\t\n")


runner = CliRunner()


def test_cli_lists_all_languages() -> None:
    result = runner.invoke(app, ["languages"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 + 202
    assert lines[0].split()[0] == "code"
    assert any(re.fullmatch(r"swh_Latn +sw +swh +Swahili", line) for line in lines)


def test_cli_query() -> None:
    result = runner.invoke(app, ["languages", "Swahili"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].startswith("swh_Latn")
    result = runner.invoke(app, ["languages", "zho"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()[1:]] == ["zho_Hans", "zho_Hant"]


def test_cli_unknown_query_is_one_line_error() -> None:
    result = runner.invoke(app, ["languages", "pcm"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "xner: error: unknown language 'pcm' (Nigerian Pidgin" in result.output


def test_runtime_languages_are_torch_free() -> None:
    done = run_torch_free(
        """
        from xner.runtime.languages import resolve_language
        import xner.cli.language_commands
        assert resolve_language("Hausa") == "hau_Latn"
        """
    )
    assert done.returncode == 0, done.stderr
