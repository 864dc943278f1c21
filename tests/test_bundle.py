"""Bundle loading and verification: torch-free, and a bad file is always refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures_models import copy_bundle, tiny_bundle, tiny_models  # noqa: F401
from handmade import FILES, write_bundle
from torchfree import run_cli_torch_free, run_torch_free

from xner.runtime.bundles.bundle import (
    COMPONENT_ENGINES,
    COMPONENTS,
    Bundle,
    BundleError,
    verify_bundle,
)

# --------------------------------------------------------------------------- hand-made bundles


def test_a_good_bundle_loads_with_typed_settings(tmp_path: Path) -> None:
    bundle = Bundle.load(write_bundle(tmp_path / "b", FILES))
    assert bundle.translator is None and bundle.aligner is None
    tagger = bundle.require("tagger")
    assert tagger.settings.labels == ("O", "B-PER", "I-PER")
    assert tagger.settings.inputs == ("input_ids", "attention_mask")
    assert tagger.path(tagger.settings.model) == tmp_path / "b" / "tagger" / "model.onnx"
    assert tagger.size == sum(len(v) for v in FILES.values())
    with pytest.raises(BundleError, match="no aligner in this bundle; add one: xner export"):
        bundle.require("aligner")


def test_changed_or_missing_files_are_named(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", FILES)
    (root / "tagger" / "model.onnx").write_bytes(b"onnx bytez")  # same size, other bytes
    (root / "tagger" / "tokenizer.json").unlink()
    problems = [str(p) for p in verify_bundle(root)]
    assert problems == [
        "tagger/model.onnx: SHA-256 does not match the manifest",
        "tagger/tokenizer.json: missing",
    ]
    with pytest.raises(BundleError, match="tagger/model.onnx: SHA-256"):
        Bundle.load(root)
    with pytest.raises(BundleError, match="tagger/tokenizer.json: missing"):
        Bundle.load(root, verify=False)  # presence and sizes are still checked


def test_malformed_manifests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="manifest.json is missing"):
        Bundle.load(tmp_path)
    with pytest.raises(BundleError, match="newer than this xner"):
        Bundle.load(write_bundle(tmp_path / "new", FILES, format_version=2))
    escape = write_bundle(tmp_path / "escape", FILES)
    manifest = json.loads((escape / "manifest.json").read_text())
    manifest["components"]["tagger"]["files"][0]["path"] = "../outside"
    (escape / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match='"../outside": path leaves the bundle'):
        Bundle.load(escape)
    del manifest["components"]["tagger"]["settings"]["labels"]
    (escape / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="components.tagger.settings lacks labels"):
        Bundle.load(escape)
    (escape / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.load(escape)


# --------------------------------------------------------------------------- the tiny bundle


@pytest.mark.slow
def test_bundle_loads_and_verifies_where_torch_cannot_be_imported(
    tiny_bundle: Path,  # noqa: F811
) -> None:
    result = run_torch_free(
        f"""
        import json
        from xner.runtime.bundles.bundle import Bundle
        b = Bundle.load({str(tiny_bundle)!r})
        t, g, a = b.translator.settings, b.tagger.settings, b.aligner.settings
        print(json.dumps([t.source_prefix, t.target_prefix, len(t.languages), g.labels[:3],
                          g.scheme, a.layer, len(b.files)]))
        """
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["{src_lang}"],
        ["{tgt_lang}"],
        202,
        ["O", "B-PER", "I-PER"],
        "IOB2",
        1,
        12,  # with translator/vmap.txt, the vocabulary restriction's map
    ]
    verified = run_cli_torch_free(["verify", str(tiny_bundle)])
    assert verified.returncode == 0, verified.stderr
    assert "OK (12 files verified)" in verified.stdout


@pytest.mark.slow
def test_one_flipped_byte_or_a_missing_file_is_refused(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    bundle = copy_bundle(tiny_bundle, tmp_path)
    model = bundle / "tagger" / "model.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    (bundle / "aligner" / "tokenizer.json").unlink()

    result = run_cli_torch_free(["verify", str(bundle)])
    assert result.returncode == 1
    assert "tagger/model.onnx: SHA-256 does not match the manifest" in result.stderr
    assert "aligner/tokenizer.json: missing" in result.stderr
    assert "2 bad or missing file(s)" in result.stderr

    loaded = run_torch_free(
        f"""
        from xner.runtime.bundles.bundle import Bundle, BundleError
        try:
            Bundle.load({str(bundle)!r})
        except BundleError as error:
            print(error)
        """
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "tagger/model.onnx: SHA-256" in loaded.stdout and "bundle refused" in loaded.stdout


@pytest.mark.slow
def test_info_shows_components_sizes_languages_and_fidelity(
    tiny_bundle: Path,  # noqa: F811
) -> None:
    result = run_cli_torch_free(["info", str(tiny_bundle)])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "translator: " in out and "tagger: " in out and "aligner: " in out
    assert "202 languages: ace_Arab" in out
    assert "scheme IOB2" in out and "layer 1 of 2" in out
    assert "int8_vs_fp32: label_agreement" in out and "quantized_vs_float32" in out
    as_json = run_cli_torch_free(["info", "--json", str(tiny_bundle)])
    assert json.loads(as_json.stdout)["format"] == "xner-bundle"


def test_component_names_are_listed_once() -> None:
    """The export's parts, the engine set's keywords and the manifest's components are the one
    list of runtime/bundles/bundle.py."""
    import inspect

    from xner.export.manifest_writer import build_manifest
    from xner.export.options import PARTS
    from xner.runtime.engines.engine_set import Engines

    assert PARTS is COMPONENTS and tuple(COMPONENT_ENGINES) == COMPONENTS
    assert set(COMPONENTS) <= set(inspect.signature(Engines).parameters)
    assert set(COMPONENT_ENGINES.values()) == {"ctranslate2", "onnxruntime"}
    shuffled = {name: {"engine": COMPONENT_ENGINES[name]} for name in reversed(COMPONENTS)}
    assert tuple(build_manifest(shuffled, [])["components"]) == COMPONENTS
