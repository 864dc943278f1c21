"""Issue 11 item 6: one word for full precision (float32), and float32 CTranslate2 vs torch."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest
import typer
from fixtures_models import copy_bundle, tiny_bundle, tiny_bundle_fp32, tiny_models  # noqa: F401
from handmade import write_bundle
from typer.testing import CliRunner

from xner.cli.bundle_commands import describe
from xner.export import validate
from xner.export.options import (
    ONNX_QUANTIZATIONS,
    AlignerSpec,
    ExportError,
    ExportOptions,
    OnnxOptions,
    TaggerSpec,
    TranslatorSpec,
    ValidationOptions,
)
from xner.export.recipe import load_recipe
from xner.runtime.bundles.bundle import Bundle
from xner.runtime.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _option_help(command: str, flag: str) -> str:
    """The help text of one option, read from the click command (no terminal wrapping)."""
    from xner.cli.main import app

    group = typer.main.get_command(app)
    for param in group.commands[command].params:
        if flag in param.opts:
            return param.help or ""
    raise AssertionError(f"{command} has no option {flag}")


# --------------------------------------------------------------------------- one vocabulary


def test_onnx_full_precision_is_float32_and_none_is_an_alias(tmp_path: Path) -> None:
    assert ONNX_QUANTIZATIONS == ("int8", "float32")
    assert OnnxOptions(quantization="none").quantization == "float32"  # recipes, API
    options = ExportOptions(out=tmp_path, tagger=TaggerSpec("x"))
    options.onnx.quantization = "none"  # as the command line sets it
    options.check()
    assert options.onnx.quantization == "float32"
    options.onnx.quantization = "fp16"
    with pytest.raises(ConfigError, match="ONNX quantization 'fp16'; choose from float32, int8"):
        options.check()


def test_recipes_accept_the_old_spelling(tmp_path: Path) -> None:
    recipe = tmp_path / "old.toml"
    recipe.write_text('[tagger]\nmodel = "x"\n[onnx]\nquantization = "none"\n', encoding="utf-8")
    assert load_recipe(recipe).onnx.quantization == "float32"
    for path in sorted((ROOT / "models").glob("*.toml")):
        assert load_recipe(path).onnx.quantization in ONNX_QUANTIZATIONS, path.name


def test_export_help_says_float32() -> None:
    text = _option_help("export", "--onnx-quantization")
    assert "float32" in text and "none" in text  # the new word, the old one still accepted
    assert "transformers" in _option_help("export", "--min-torch-agreement")


def test_info_says_float32_for_an_old_manifest(tmp_path: Path) -> None:
    # what exports before issue 11 wrote for a full-precision ONNX model
    root = write_bundle(tmp_path / "old", settings={"quantization": "none"})
    text = "\n".join(describe(Bundle.load(root)))
    assert "ONNX float32" in text and "ONNX none" not in text


# --------------------------------------------------------------------------- CT2 vs torch


def test_compare_greedy_fails_below_the_floor_and_warns_below_the_minimum(
    caplog: pytest.LogCaptureFixture,
) -> None:
    same = validate.compare_greedy("translator", [["a", "b"]], [["a", "b"]], 0.98, 0.9)
    assert same["token_agreement"] == 1.0 and same["exact_match"] == 1.0 and same["passed"]
    near = [["a"] * 10 + ["b"] * 9 + ["x"]], [["a"] * 10 + ["b"] * 10]  # 19 of 20 tokens
    with caplog.at_level(logging.WARNING, logger="xner"):
        record = validate.compare_greedy("translator", *near, 0.98, 0.9)
    assert record["token_agreement"] == pytest.approx(0.95) and record["passed"]
    assert "below --min-agreement" in caplog.text
    wrong = "33.3% of the greedy tokens.*min-torch-agreement.*conversion is wrong"
    with pytest.raises(ExportError, match=wrong):
        validate.compare_greedy("translator", [["a", "x", "y"]], [["a", "b", "c"]], 0.98, 0.9)


@pytest.mark.slow
def test_tiny_export_records_float32_ct2_against_torch(
    tiny_bundle: Path,  # noqa: F811
    tiny_bundle_fp32: Path,  # noqa: F811
) -> None:
    for root in (tiny_bundle, tiny_bundle_fp32):  # int8 and float32 translators
        bundle = Bundle.load(root)
        record = bundle.translator.fidelity["ct2_float32_vs_torch"]
        assert record["token_agreement"] == pytest.approx(1.0, abs=0.02)
        assert record["exact_match"] >= 0.9 and record["passed"]
        assert record["min_torch_agreement"] == ValidationOptions().min_torch_agreement
        shown = "\n".join(describe(bundle))
        assert "ct2_float32_vs_torch: token_agreement" in shown
    # the fixture asks for ONNX "none": the manifest says float32
    fp32 = Bundle.load(tiny_bundle_fp32)
    assert fp32.tagger.settings.quantization == fp32.aligner.settings.quantization == "float32"


@pytest.mark.slow
def test_a_broken_conversion_fails_the_export(
    tiny_models,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A converter that gets one weight wrong (the decoder's last layer norm) is caught."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    from xner.export import export_bundle
    from xner.export import translator as export_translator

    convert = export_translator._convert

    def faulty(model, revision, tokenizer, out, quantization):
        broken = AutoModelForSeq2SeqLM.from_pretrained(model, revision=revision)
        with torch.no_grad():
            broken.model.decoder.layer_norm.weight.neg_()  # a sign error in one tensor
        copy = tmp_path / "converter-input"
        broken.save_pretrained(copy)
        convert(str(copy), None, tokenizer, out, quantization)

    monkeypatch.setattr(export_translator, "_convert", faulty)
    out = tmp_path / "out" / "b"
    spec = TranslatorSpec(str(tiny_models.translator), quantization="float32")
    with pytest.raises(ExportError, match="float32 CTranslate2 agrees with transformers"):
        export_bundle(ExportOptions(out=out, translator=spec))
    assert not out.parent.exists() or os.listdir(out.parent) == []  # nothing left behind


@pytest.mark.slow
def test_cli_onnx_quantization_none_writes_float32(
    tiny_models,  # noqa: F811
    tmp_path: Path,
) -> None:
    from xner.cli.main import app

    out = tmp_path / "b"
    args = ["export", "--aligner", str(tiny_models.aligner), "--aligner-layer", "1"]
    result = CliRunner().invoke(app, [*args, "--onnx-quantization", "none", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Bundle.load(out).aligner.settings.quantization == "float32"
    assert "ONNX float32" in result.output


@pytest.mark.slow
def test_a_kept_old_component_is_rewritten_with_float32(
    tiny_bundle_fp32: Path,  # noqa: F811
    tiny_models,  # noqa: F811
    tmp_path: Path,
) -> None:
    from xner.export import export_bundle

    old = copy_bundle(tiny_bundle_fp32, tmp_path)
    manifest = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    manifest["components"]["tagger"]["settings"]["quantization"] = "none"  # an older export
    (old / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert "ONNX none" not in "\n".join(describe(Bundle.load(old)))
    spec = AlignerSpec(str(tiny_models.aligner), layer=1)
    result = export_bundle(ExportOptions(out=old, aligner=spec, force=True))
    assert result.kept == ["tagger", "translator"]
    written = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    assert written["components"]["tagger"]["settings"]["quantization"] == "float32"
