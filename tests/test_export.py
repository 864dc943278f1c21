"""xner export: tiny models to a bundle, its manifest, fidelity figures, atomic writes, recipes."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import tiny_bundle, tiny_export_seconds, tiny_models  # noqa: F401
from typer.testing import CliRunner

from xner.export import labels as label_sets
from xner.export import validate
from xner.export.options import ExportError, ExportOptions, TaggerSpec, ValidationOptions
from xner.export.probes import load_probes, parse_probes
from xner.export.recipe import load_recipe
from xner.export.tiny import LABELS
from xner.runtime.bundles.bundle import Bundle, sha256_file
from xner.runtime.errors import ConfigError, InputError

ROOT = Path(__file__).resolve().parents[1]
CONLL03_XLMR = ["B-LOC", "B-MISC", "B-ORG", "I-LOC", "I-MISC", "I-ORG", "I-PER", "O"]


# --------------------------------------------------------------------------- fast unit tests


def test_label_sets_give_their_scheme() -> None:
    conll = label_sets.read_labels(CONLL03_XLMR)
    assert conll.scheme == "IOB1" and "B-PER" in conll.reason
    assert conll.entity_types == ("LOC", "MISC", "ORG", "PER")
    assert label_sets.read_labels(LABELS).scheme == "IOB2"
    assert label_sets.read_labels(["O", "B-PER", "I-PER", "E-PER", "S-PER"]).scheme == "BIOES"
    assert label_sets.read_labels(["O", "I-PER", "I-LOC"]).scheme == "IO"
    assert label_sets.read_labels(LABELS, forced="IOB1").scheme == "IOB1"
    with pytest.raises(ExportError, match="LABEL_0"):
        label_sets.read_labels(["O", "LABEL_0"])


def test_inside_start_rate_counts_entities_opened_with_i() -> None:
    labels = ["O", "B-PER", "I-PER", "I-LOC"]
    # sentence 0: I-PER I-PER O I-LOC ; sentence 1: B-PER I-PER | I-PER starts sentence 2
    predicted = np.array([2, 2, 0, 3, 1, 2, 2])
    sentence = np.array([0, 0, 0, 0, 1, 1, 2])
    # starts: I-PER(0), I-LOC(3), B-PER(4), I-PER(6) -> 3 of 4 open with I-
    assert label_sets.inside_start_rate(predicted, sentence, labels) == pytest.approx(0.75)


def test_probes_parse_groups_pairs_and_errors(tmp_path: Path) -> None:
    built_in = load_probes(None)
    assert len(built_in.sentences) >= 40
    assert {p.lang for p in built_in.sentences} >= {"eng_Latn", "swh_Latn", "rus_Cyrl"}
    assert all(built_in.sentences[i].lang == "eng_Latn" for i, _ in built_in.pairs)
    probes = parse_probes("# c\nhau_Latn\tA b\nC d\n\nE f\n", "p.tsv")
    assert [(p.lang, p.group, p.line) for p in probes.sentences] == [
        ("hau_Latn", 0, 2),
        ("eng_Latn", 0, 3),
        ("eng_Latn", 1, 5),
    ]
    assert probes.pairs == ((0, 1),)
    assert parse_probes("a b\nc d\ne f\n").pairs == ((0, 1), (0, 2))  # one group
    assert parse_probes("a b\n\nc d\n\ne f\n").pairs == ((0, 1), (1, 2))  # singletons
    with pytest.raises(InputError, match=r"p.tsv:2: bad language code"):
        parse_probes("a\nHausa!\tb\n", "p.tsv")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(InputError, match="not UTF-8"):
        load_probes(bad)


def test_agreement_figures() -> None:
    agreement = validate.token_agreement([["a", "b", "c"], ["x"]], [["a", "b", "d"], ["x"]])
    assert agreement == {"token_agreement": pytest.approx(3 / 4), "exact_match": 0.5}
    rng = np.random.default_rng(0)
    src, tgt = rng.normal(size=(4, 8)), rng.normal(size=(3, 8))
    tgt[1] = src[2] * 3  # subword 2 of the source is subword 1 of the target
    links = validate.argmax_alignment(src, tgt, np.array([0, 0, 1, 2]), np.array([0, 1, 1]))
    assert (1, 1) in links


def test_judge_warns_below_the_minimum(caplog: pytest.LogCaptureFixture) -> None:
    fidelity: dict = {}
    with caplog.at_level(logging.WARNING, logger="xner"):
        validate.judge("tagger", fidelity, "label agreement", 0.9, 0.98, "--onnx-quantization none")
    assert fidelity == {"min_agreement": 0.98, "below_min_agreement": True}
    assert "--onnx-quantization none" in caplog.text and "0.9000" in caplog.text


def test_recipes_in_models_parse() -> None:
    default = load_recipe(ROOT / "models" / "default.toml")
    assert default.translator.model == "facebook/nllb-200-distilled-600M"
    assert default.tagger.model == "FacebookAI/xlm-roberta-large-finetuned-conll03-english"
    assert (default.aligner.model, default.aligner.layer) == (
        "google-bert/bert-base-multilingual-cased",
        8,
    )
    assert load_recipe(ROOT / "models" / "paper.toml").translator.model == "facebook/nllb-200-3.3B"
    small = load_recipe(ROOT / "models" / "small.toml")
    assert small.tagger.license and small.translator.quantization == "int8"


def test_bad_recipes_name_file_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text('[tagger]\nmodel = "x"\ncolour = 1\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"r.toml: \[tagger\] has unknown key\(s\) colour"):
        load_recipe(path)
    path.write_text("[aligner]\nmodel = 'x'\nlayer = 'eight'\n", encoding="utf-8")
    with pytest.raises(InputError, match="layer must be a int"):
        load_recipe(path)
    path.write_text("[tagger]\nmodel = \n", encoding="utf-8")
    with pytest.raises(InputError, match=r"r.toml:2: bad TOML"):
        load_recipe(path)


def test_options_list_the_valid_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to export"):
        ExportOptions(out=tmp_path).check()
    options = ExportOptions(out=tmp_path, tagger=TaggerSpec("x"))
    options.onnx.quantization = "int4"
    with pytest.raises(ConfigError, match="choose from float32, int8"):
        options.check()


def test_cli_export_reports_bad_options(tmp_path: Path) -> None:
    from xner.cli.main import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["export", "--aligner-layer", "3", "--tagger", "x", "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 2
    assert "--aligner-layer needs --aligner" in result.output
    result = runner.invoke(
        app,
        ["export", "--translator", "x", "--translator-quantization", "int4", "--out", "b"],
    )
    assert result.exit_code == 2 and "int8_float16" in result.output


def test_cli_export_only_takes_a_comma_list_of_parts(tmp_path: Path) -> None:
    """--only is read by the one comma-list parser (split_names): blanks and empty names are
    ignored, an unknown part is named with the valid ones, before anything is exported."""
    from xner.cli.main import app

    recipe = Path(__file__).resolve().parents[1] / "models" / "default.toml"
    out = tmp_path / "b"
    result = CliRunner().invoke(
        app, ["export", "--recipe", str(recipe), "--only", " tagger , ,bogus", "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "unknown part 'bogus'; choose from aligner, tagger, translator" in result.output
    assert not out.exists()


# --------------------------------------------------------------------------- tiny models


@pytest.mark.slow
def test_tiny_export_writes_a_complete_manifest(
    tiny_bundle: Path,  # noqa: F811
    tiny_export_seconds: dict,  # noqa: F811
) -> None:
    manifest = json.loads((tiny_bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "xner-bundle" and manifest["format_version"] == 1
    assert list(manifest["components"]) == ["translator", "tagger", "aligner"]
    for component in manifest["components"].values():
        assert component["source"]["license"] == "apache-2.0"  # read from the model card
        for entry in component["files"]:
            path = tiny_bundle / entry["path"]
            assert entry["size"] == path.stat().st_size
            assert entry["sha256"] == sha256_file(path)
    translator = manifest["components"]["translator"]["settings"]
    assert translator["source_prefix"] == ["{src_lang}"]
    assert translator["source_suffix"] == ["</s>"]
    assert translator["target_prefix"] == ["{tgt_lang}"]
    assert len(translator["languages"]) == 202 and "hau_Latn" in translator["languages"]
    tagger = manifest["components"]["tagger"]["settings"]
    assert tagger["labels"] == list(LABELS) and tagger["scheme"] == "IOB2"
    assert (tagger["pad_id"], tagger["cls_id"], tagger["sep_id"]) == (1, 0, 2)
    assert tagger["max_length"] == 128 and tagger["inputs"] == ["input_ids", "attention_mask"]
    onnx = pytest.importorskip("onnx", reason="onnx (export extra) reads the exported graphs")
    aligner = manifest["components"]["aligner"]["settings"]
    assert (aligner["layer"], aligner["hidden_size"], aligner["cls_token"]) == (1, 32, "[CLS]")
    assert aligner["output"] == "hidden_states"
    for part, settings in (("tagger", tagger), ("aligner", aligner)):
        fused = manifest["components"][part]["fidelity"]["fused_operators"]
        # per-row int8 (the default) fuses attention as MultiHeadAttention (Q/K/V stay MatMuls)
        assert fused["MultiHeadAttention"] >= 1 and fused["SkipLayerNormalization"] >= 2
        # int8 weights beside the graph, so ONNX Runtime maps them instead of parsing a protobuf
        assert settings["quantization"] == "int8"
        assert settings["external_data"] == [f"{part}/model.onnx.data"]
        graph = onnx.load(str(tiny_bundle / part / "model.onnx"), load_external_data=False)
        biggest = max(graph.graph.initializer, key=lambda t: np.prod(t.dims))
        assert biggest.data_location == onnx.TensorProto.EXTERNAL
    # every stage was timed (speed is measured by bench/, never asserted in tests)
    assert set(tiny_export_seconds) >= {"total"} and tiny_export_seconds["total"] > 0


@pytest.mark.slow
def test_fidelity_figures_are_recorded(tiny_bundle: Path) -> None:  # noqa: F811
    bundle = Bundle.load(tiny_bundle)
    tagger, aligner = bundle.tagger.fidelity, bundle.aligner.fidelity
    assert tagger["onnx_fp32_vs_torch"]["passed"] and aligner["onnx_fp32_vs_torch"]["passed"]
    assert tagger["onnx_fp32_vs_torch"]["max_abs_diff"] < 1e-4
    assert 0.9 <= tagger["int8_vs_fp32"]["label_agreement"] <= 1.0
    assert 0.9 <= aligner["int8_vs_fp32"]["alignment_f1"] <= 1.0
    for fidelity, figure in (
        (tagger, tagger["int8_vs_fp32"]["label_agreement"]),
        (aligner, aligner["int8_vs_fp32"]["alignment_f1"]),
        (
            bundle.translator.fidelity,
            bundle.translator.fidelity["quantized_vs_float32"]["token_agreement"],
        ),  # noqa: E501
    ):
        assert fidelity["below_min_agreement"] == (figure < fidelity["min_agreement"])
    assert bundle.translator.fidelity["probe_sentences"] == 48


@pytest.mark.slow
def test_recorded_token_convention_reproduces_the_hf_tokenizer(
    tiny_bundle: Path,  # noqa: F811
    tiny_models,  # noqa: F811
) -> None:
    import ctranslate2
    import sentencepiece
    from transformers import AutoTokenizer

    bundle = Bundle.load(tiny_bundle)
    s = bundle.translator.settings
    sp = sentencepiece.SentencePieceProcessor(
        model_file=str(bundle.translator.path(s.sentencepiece))
    )
    text = "Wangari Maathai alianzisha Vuguvugu la Ukanda wa Kijani ."
    fill = {"{src_lang}": "swh_Latn", "{tgt_lang}": "eng_Latn"}
    ours = [fill.get(t, t) for t in s.source_prefix]
    ours += sp.encode(text, out_type=str) + [fill.get(t, t) for t in s.source_suffix]
    hf = AutoTokenizer.from_pretrained(tiny_models.translator, src_lang="swh_Latn")
    assert ours == hf.convert_ids_to_tokens(hf(text)["input_ids"])
    translator = ctranslate2.Translator(str(bundle.translator.path(s.model_dir)), device="cpu")
    prefix = [fill.get(t, t) for t in s.target_prefix]
    result = translator.translate_batch([ours], target_prefix=[prefix], max_decoding_length=6)
    hypothesis = result[0].hypotheses[0]
    assert hypothesis[: len(prefix)] == prefix and len(hypothesis) <= 6


@pytest.mark.slow
def test_parts_are_added_atomically_and_replaced_only_with_force(
    tiny_models,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from xner.export import AlignerSpec, export_bundle

    out = tmp_path / "b"
    strict = ValidationOptions(min_agreement=0.9999)
    with caplog.at_level(logging.WARNING, logger="xner"):
        first = export_bundle(
            ExportOptions(out=out, tagger=TaggerSpec(str(tiny_models.tagger)), validation=strict)
        )
    assert list(first.bundle.components) == ["tagger"]
    below = first.bundle.tagger.fidelity["below_min_agreement"]
    assert below == ("--onnx-quantization float32" in caplog.text)
    tagger_entry = json.loads((out / "manifest.json").read_text())["components"]["tagger"]
    model = out / "tagger" / "model.onnx"
    inode = model.stat().st_ino

    added = export_bundle(
        ExportOptions(out=out, aligner=AlignerSpec(str(tiny_models.aligner), layer=2))
    )
    assert added.kept == ["tagger"] and set(added.bundle.components) == {"tagger", "aligner"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["components"]["tagger"] == tagger_entry
    assert (out / "tagger" / "model.onnx").stat().st_ino == inode  # hard-linked, not rewritten
    assert manifest["components"]["aligner"]["settings"]["layer"] == 2
    Bundle.load(out)

    with pytest.raises(ConfigError, match="already has a tagger; use --force"):
        export_bundle(ExportOptions(out=out, tagger=TaggerSpec(str(tiny_models.tagger))))
    again = export_bundle(
        ExportOptions(out=out, tagger=TaggerSpec(str(tiny_models.tagger)), force=True)
    )
    assert again.kept == ["aligner"]
    Bundle.load(out)
    assert sorted(os.listdir(tmp_path)) == ["b"]  # no temporary folders left behind


@pytest.mark.slow
def test_failed_export_leaves_the_target_untouched(
    tiny_models,  # noqa: F811
    tmp_path: Path,
) -> None:
    from xner.export import export_bundle

    out = tmp_path / "b"
    impossible = ValidationOptions(tolerance=1e-15)
    with pytest.raises(ExportError, match="ONNX fp32 differs from torch"):
        export_bundle(
            ExportOptions(
                out=out, tagger=TaggerSpec(str(tiny_models.tagger)), validation=impossible
            )
        )
    assert os.listdir(tmp_path) == []
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a bundle, refusing"):
        export_bundle(
            ExportOptions(
                out=tmp_path / "c", tagger=TaggerSpec(str(tiny_models.tagger)), force=True
            )
        )
    assert sorted(os.listdir(tmp_path)) == ["c"]
    assert os.listdir(tmp_path / "c") == ["notes.txt"]


@pytest.mark.slow
def test_cli_export_with_a_recipe_and_only(
    tiny_models,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Also: the weights go to external data beside the graph, listed in the manifest."""
    import onnxruntime as ort

    from xner.cli.main import app

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(
        f'name = "tiny"\n[tagger]\nmodel = "{tiny_models.tagger}"\nlicense = "cc-by-nc-4.0"\n'
        f'[aligner]\nmodel = "{tiny_models.aligner}"\nlayer = 1\n[onnx]\nquantization = "none"\n',
        encoding="utf-8",
    )
    out = tmp_path / "b"
    result = CliRunner().invoke(
        app, ["export", "--recipe", str(recipe), "--only", "tagger", "--no-fuse", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    bundle = Bundle.load(out)
    assert list(bundle.components) == ["tagger"]
    assert bundle.tagger.settings.quantization == "float32"  # the recipe says none (old)
    assert "int8_vs_fp32" not in bundle.tagger.fidelity
    assert bundle.tagger.fidelity["fused_operators"] == {}  # --no-fuse
    assert bundle.tagger.settings.external_data == ("tagger/model.onnx.data",)
    assert {e.path for e in bundle.tagger.files} >= {"tagger/model.onnx", "tagger/model.onnx.data"}
    session = ort.InferenceSession(str(bundle.tagger.path(bundle.tagger.settings.model)))
    assert [i.name for i in session.get_inputs()] == list(bundle.tagger.settings.inputs)
    assert session.get_outputs()[0].name == bundle.tagger.settings.output
    assert any("non-commercial" in w or "forbids commercial" in w for w in bundle.warnings)
