"""The smaller output layer for translation into the pivots (issue 15, item 2).

At export: which pieces are kept (Latin letters, digits, punctuation, the word marker and the
specials the decoder needs), CTranslate2's ``vmap.txt`` and the manifest's record with the
fidelity measured on the probes. At run time: the map is used for the listed targets of a
validated restriction only, never for other targets nor for scoring, and can be switched off;
a bundle without the record translates as before.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xner.runtime.bundles.bundle import MANIFEST, Bundle, BundleError
from xner.runtime.engines.engine_set import Engines
from xner.runtime.engines.options import EngineOptions
from xner.runtime.engines.translator import VMAP, Translator

FAST = {"device": "cpu", "intra_threads": 1}
HAUSA = [
    "Shehu Gusau ya isa Abuja",
    "Hukumar wasan motsa jiki ta duniya",
    "Aminu Kano ranar Litinin",
]


# -- the piece rules (no model) ----------------------------------------------------------------


def test_latin_pieces_are_kept_and_other_scripts_are_not() -> None:
    vocabulary = pytest.importorskip("xner.export.vocabulary", reason="export side")
    latin = ["▁Hello", "é", "▁ɓata", "ƙ", "▁2024", ",", "▁(", "’", "€", "▁Straße", "naïve"]
    other = ["▁Привет", "мир", "مرحبا", "▁中国", "αβ", "▁שלום", "१२", "▁", "", "\u0301"]
    assert all(vocabulary.latin_piece(p) for p in latin)
    assert not any(vocabulary.latin_piece(p) for p in other)
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁the", "▁мир", "▁", "eng_Latn", "rus_Cyrl", "▁the"]
    pieces += ["madeupword0", "<madeupword12>"]  # rows that pad the vocabulary
    specials = ["<s>", "<pad>", "</s>", "<unk>", "eng_Latn", "rus_Cyrl"]
    kept = vocabulary.kept_pieces(pieces, ["</s>", "<unk>", "eng_Latn"], specials)
    assert kept == ["</s>", "<unk>", "▁the", "▁", "eng_Latn"]  # vocabulary order, once each


def test_vmap_line_has_an_empty_source_side(tmp_path: Path) -> None:
    vocabulary = pytest.importorskip("xner.export.vocabulary", reason="export side")
    path = tmp_path / VMAP
    vocabulary.write_vmap(path, ["</s>", "▁the", "eng_Latn"])
    assert path.read_text(encoding="utf-8") == "\t</s> ▁the eng_Latn\n"
    with pytest.raises(ValueError, match="blanks"):
        vocabulary.write_vmap(path, ["a b"])


def test_recorded_engine_options_leave_the_default_switch_out() -> None:
    assert "vocab_restriction" not in EngineOptions().recorded()
    assert EngineOptions(vocab_restriction=False).recorded()["vocab_restriction"] is False
    with pytest.raises(Exception, match="vocab_restriction must be true or false"):
        EngineOptions(vocab_restriction="no")  # type: ignore[arg-type]


# -- the export --------------------------------------------------------------------------------


def _vocabulary(bundle: Path) -> list[str]:
    return json.loads((bundle / "translator" / "shared_vocabulary.json").read_text("utf-8"))


def _kept(bundle: Path) -> list[str]:
    line = (bundle / "translator" / VMAP).read_text(encoding="utf-8")
    source, tab, targets = line.rstrip("\n").partition("\t")
    assert (source, tab) == ("", "\t") and line.count("\n") == 1
    return targets.split(" ")


@pytest.mark.slow
def test_export_writes_the_map_of_latin_pieces_and_specials(tiny_bundle: Path) -> None:
    from xner.export.vocabulary import latin_piece

    vocabulary = _vocabulary(tiny_bundle)
    kept = _kept(tiny_bundle)
    specials = {"<s>", "</s>", "<unk>", "eng_Latn", "▁"}
    assert specials <= set(kept)
    assert all(latin_piece(p) or p in specials for p in kept)
    assert len(kept) == len(set(kept)) and set(kept) <= set(vocabulary)
    cyrillic = [p for p in vocabulary if any("\u0400" <= c <= "\u04ff" for c in p)]
    assert cyrillic, "the tiny vocabulary is learnt on the probes, Russian ones included"
    assert not set(cyrillic) & set(kept)
    assert "rus_Cyrl" not in kept and "hau_Latn" not in kept and "<pad>" not in kept
    by_hand = [
        p for p in vocabulary if p in ("▁the", ".", ",", "▁Nairobi") or p.strip("▁").isdigit()
    ]
    assert by_hand and set(by_hand) <= set(kept)


@pytest.mark.slow
def test_manifest_records_the_restriction_and_its_fidelity(tiny_bundle: Path) -> None:
    bundle = Bundle.load(tiny_bundle, verify=False)
    component = bundle.require("translator")
    r = component.settings.vocabulary_restriction
    assert r is not None
    assert r.file == f"translator/{VMAP}" and r.file in {e.path for e in component.files}
    assert r.targets == ("eng_Latn",)
    assert r.kept == len(_kept(tiny_bundle)) and r.total == len(_vocabulary(tiny_bundle))
    assert r.kept < r.total
    assert r.min_agreement == 0.99
    assert r.token_agreement is not None and 0.0 <= r.token_agreement <= 1.0
    assert r.exact_match is not None and 0.0 <= r.exact_match <= r.token_agreement + 1e-9
    assert r.validated == (r.token_agreement >= r.min_agreement)
    measured = component.fidelity["vocabulary_restriction"]
    assert measured["token_agreement"] == r.token_agreement
    assert measured["validated"] == r.validated
    assert measured["probe_sentences"] > 0  # probes in other languages, into English


# -- the runtime -------------------------------------------------------------------------------


class Spy:
    """Forwards to the CTranslate2 translator and records each call's keyword arguments."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def translate_batch(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(("translate_batch", kwargs))
        return self.model.translate_batch(*args, **kwargs)

    def score_batch(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(("score_batch", kwargs))
        return self.model.score_batch(*args, **kwargs)


def _spied(translator: Translator) -> Spy:
    spy = Spy(translator._ct2)
    translator._ct2 = spy
    return spy


def _edited(bundle: Path, where: Path, edit: Any) -> Path:
    """A copy of ``bundle`` whose manifest's translator entry ``edit`` changed."""
    target = where / "bundle"
    shutil.copytree(bundle, target)
    manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    edit(manifest["components"]["translator"], target)
    (target / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return target


def _validated(bundle: Path, where: Path) -> Path:
    def edit(translator: dict[str, Any], _root: Path) -> None:
        translator["settings"]["vocabulary_restriction"]["validated"] = True

    return _edited(bundle, where, edit)


def _stripped(bundle: Path, where: Path) -> Path:
    """The bundle as an export before the restriction wrote it: no record, no vmap.txt."""

    def edit(translator: dict[str, Any], root: Path) -> None:
        del translator["settings"]["vocabulary_restriction"]
        translator["fidelity"].pop("vocabulary_restriction")
        translator["files"] = [e for e in translator["files"] if not e["path"].endswith(VMAP)]
        (root / "translator" / VMAP).unlink()

    return _edited(bundle, where, edit)


@pytest.mark.slow
def test_map_is_used_into_the_pivot_only(tiny_bundle: Path, tmp_path: Path) -> None:
    translator = Translator(_validated(tiny_bundle, tmp_path), **FAST)
    assert translator.restricted_targets == frozenset({"eng_Latn"})
    spy = _spied(translator)
    english = translator.translate(HAUSA, "hau", "eng")
    assert spy.calls and all(kw["use_vmap"] is True for _, kw in spy.calls)
    kept = set(_kept(tiny_bundle))
    assert all(set(t.tokens) <= kept for t in english)  # the map really bounds the output
    spy.calls.clear()
    translator.translate(HAUSA, "hau", "fra")
    assert spy.calls and all(kw["use_vmap"] is False for _, kw in spy.calls)
    spy.calls.clear()
    translator.score(HAUSA, [t.text or "x" for t in english], "hau", "eng")
    assert [name for name, _ in spy.calls] == ["score_batch"] * len(spy.calls) and spy.calls
    assert all("use_vmap" not in kw for _, kw in spy.calls)


@pytest.mark.slow
def test_opt_out_and_unvalidated_use_the_whole_vocabulary(tiny_bundle: Path, tmp_path: Path):
    validated = _validated(tiny_bundle, tmp_path)
    off = Translator(validated, vocab_restriction=False, **FAST)
    assert off.restricted_targets == frozenset()
    spy = _spied(off)
    off.translate(HAUSA, "hau", "eng")
    assert spy.calls and all(kw["use_vmap"] is False for _, kw in spy.calls)

    def unvalidate(translator: dict[str, Any], _root: Path) -> None:
        translator["settings"]["vocabulary_restriction"]["validated"] = False

    (tmp_path / "second").mkdir()
    refused = Translator(_edited(tiny_bundle, tmp_path / "second", unvalidate), **FAST)
    assert refused.restricted_targets == frozenset()
    spy = _spied(refused)
    refused.translate(HAUSA, "hau", "eng")
    assert all(kw["use_vmap"] is False for _, kw in spy.calls)
    assert Engines(validated).fingerprint(["translator"])["vocab_restriction"] is True
    assert (
        Engines(validated, vocab_restriction=False).fingerprint(["translator"])["vocab_restriction"]
        is False
    )


@pytest.mark.slow
def test_bundle_without_the_record_translates_as_before(tiny_bundle: Path, tmp_path: Path):
    old = _stripped(tiny_bundle, tmp_path)
    Bundle.load(old)  # verifies: no vmap.txt, nothing unlisted
    before = Translator(old, **FAST)
    assert before.settings.vocabulary_restriction is None
    assert before.restricted_targets == frozenset()
    assert "vocab_restriction" not in Engines(old).fingerprint(["translator"])
    now = Translator(tiny_bundle, vocab_restriction=False, **FAST)
    assert [t.tokens for t in before.translate(HAUSA, "hau", "eng")] == [
        t.tokens for t in now.translate(HAUSA, "hau", "eng")
    ]


@pytest.mark.slow
def test_map_file_must_be_listed_and_in_the_model_folder(tiny_bundle: Path, tmp_path: Path):
    def elsewhere(translator: dict[str, Any], _root: Path) -> None:
        restriction = translator["settings"]["vocabulary_restriction"]
        restriction.update(validated=True, file="translator/sentencepiece.bpe.model")

    with pytest.raises(BundleError, match="reads the vocabulary map from translator/vmap.txt"):
        Translator(_edited(tiny_bundle, tmp_path, elsewhere), **FAST)

    def unlisted(translator: dict[str, Any], _root: Path) -> None:
        translator["settings"]["vocabulary_restriction"]["file"] = "translator/other.txt"

    (tmp_path / "second").mkdir()
    with pytest.raises(BundleError, match="vocabulary_restriction.file"):
        Bundle.load(_edited(tiny_bundle, tmp_path / "second", unlisted), verify=False)


@pytest.mark.slow
def test_cli_info_and_switch(tiny_bundle: Path, tmp_path: Path) -> None:
    from xner.cli.main import app

    runner = CliRunner()
    info = runner.invoke(app, ["bundle", "info", str(tiny_bundle)])
    assert info.exit_code == 0, info.output
    r = Bundle.load(tiny_bundle, verify=False).require("translator").settings
    assert r.vocabulary_restriction is not None
    line = next(x for x in info.output.splitlines() if "vocabulary restriction" in x)
    assert (
        f"into eng_Latn: {r.vocabulary_restriction.kept} of {r.vocabulary_restriction.total}"
        in line
    )
    source = tmp_path / "in.txt"
    source.write_text("\n".join(HAUSA) + "\n", encoding="utf-8")
    validated = _validated(tiny_bundle, tmp_path)
    outputs = {}
    for flag in ("--vocab-restriction", "--no-vocab-restriction"):
        out = tmp_path / f"{flag}.txt"
        args = ["translate", "--bundle", str(validated), "--device", "cpu", "--intra-threads", "1"]
        args += ["--src-lang", "hau", "--tgt-lang", "eng", str(source), "-o", str(out), flag]
        done = runner.invoke(app, args)
        assert done.exit_code == 0, done.output
        outputs[flag] = out.read_text(encoding="utf-8")
    assert all(len(text.splitlines()) == len(HAUSA) for text in outputs.values())
    tag = runner.invoke(app, ["tag", "--help"])
    assert "--no-vocab-restriction" not in tag.output  # no translator there


def test_export_options_resolve_the_pivots_and_check_the_threshold() -> None:
    options_module = pytest.importorskip("xner.export.options", reason="export side")
    from xner.runtime.errors import ConfigError

    def options(pivots: Any, minimum: float = 0.99) -> Any:
        spec = options_module.TranslatorSpec("model", vocabulary_pivots=pivots)
        validation = options_module.ValidationOptions(min_vocabulary_agreement=minimum)
        made = options_module.ExportOptions(Path("out"), spec, validation=validation)
        made.check()
        return made

    assert options(["en", "French", "eng_Latn"]).translator.vocabulary_pivots == (
        "eng_Latn",
        "fra_Latn",
    )
    assert options(()).translator.vocabulary_pivots == ()
    assert options_module.ValidationOptions().min_vocabulary_agreement == 0.99
    with pytest.raises(ConfigError, match="rus_Cyrl is not written in Latin script"):
        options(["rus"])
    with pytest.raises(ConfigError, match="--min-vocabulary-agreement must lie between 0 and 1"):
        options(["en"], 1.5)


@pytest.mark.slow
def test_export_flags_threshold_and_no_pivots(tiny_models: Any, tmp_path: Path) -> None:
    from xner.cli.main import app

    runner = CliRunner()
    base = ["export", "--translator", str(tiny_models.translator)]
    done = runner.invoke(
        app, [*base, "--out", str(tmp_path / "a"), "--min-vocabulary-agreement", "0"]
    )
    assert done.exit_code == 0, done.output
    translator = Translator(tmp_path / "a", **FAST)  # validated at export: used, no edit needed
    assert translator.restricted_targets == frozenset({"eng_Latn"})
    assert "validated: used" in done.output
    none = ["--out", str(tmp_path / "b"), "--translator-vocabulary-pivots", ""]
    done = runner.invoke(app, [*base, *none])
    assert done.exit_code == 0, done.output
    bare = Bundle.load(tmp_path / "b").require("translator")
    assert bare.settings.vocabulary_restriction is None
    assert "vocabulary_restriction" not in bare.fidelity
    assert not (tmp_path / "b" / "translator" / VMAP).exists()
    refused = runner.invoke(
        app, [*base, "--out", str(tmp_path / "c"), "--translator-vocabulary-pivots", "rus"]
    )
    assert refused.exit_code == 2 and "not written in Latin script" in refused.output
