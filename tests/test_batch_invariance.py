"""A sentence's labels and links never depend on the other sentences of its batch (issue 15).

int8 encoders quantise activations at run time. With onnxruntime's dynamic quantisation (one
scale for the whole batch, padding included) 15 of 200 sentences of a tiny bundle changed labels
between being tagged alone and in a chunk. The default ``per-row`` activations take one scale per
token (export/quantize.py ``rowwise_int8``): these tests tag and align the same sentences alone,
in chunks of several sizes and in batches of several sizes, and require the same result.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from fixtures_models import tiny_bundle, tiny_models  # noqa: F401
from typer.testing import CliRunner

from xner.export import validate
from xner.export.options import ExportOptions, OnnxOptions, TaggerSpec
from xner.export.probes import load_probes
from xner.export.recipe import load_recipe
from xner.runtime.errors import ConfigError

CHUNKS = (1, 3, 16, 100, 1000)


def _sentences(count: int = 120, seed: int = 0) -> list[list[str]]:
    """Sentences of 1 to 60 words from the probe vocabulary (lengths vary, so padding does)."""
    words = sorted({word for probe in load_probes(None).sentences for word in probe.words})
    rng = random.Random(seed)
    return [rng.choices(words, k=rng.choice((1, 2, 5, 9, 14, 23, 40, 60))) for _ in range(count)]


# --- no model ------------------------------------------------------------------------------------


def test_rowwise_int8_rows_do_not_see_each_other(tmp_path: Path) -> None:
    """A row's product is bit-identical alone and next to rows 1000x larger, and close to fp32."""
    onnx = pytest.importorskip("onnx", reason="onnx (export extra) builds the test graph")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs the quantised graph")
    from onnx import TensorProto, helper, numpy_helper

    from xner.export.quantize import rowwise_int8

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", 8])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert rowwise_int8(model, per_channel=True) == 1
    assert "MatMul" not in {node.op_type for node in model.graph.node}
    path = tmp_path / "rows.onnx"
    onnx.save_model(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    small = rng.normal(size=(3, 16)).astype(np.float32)
    large = 1000 * rng.normal(size=(5, 16)).astype(np.float32)
    alone = session.run(None, {"x": small})[0]
    together = session.run(None, {"x": np.concatenate([large[:2], small, large[2:]])})[0]
    np.testing.assert_array_equal(together[2:5], alone)
    np.testing.assert_allclose(alone, small @ weight, rtol=0.05, atol=0.05)


def test_batch_invariance_counts_changed_sentences_and_pairs() -> None:
    ids = np.ones((2, 4), dtype=np.int64)
    batch = validate.EncodedBatch(ids, ids.copy(), np.asarray([[-1, 0, 1, -1], [-1, 0, 0, -1]]))
    alone = np.zeros((2, 4, 3), dtype=np.float32)
    alone[:, :, 1] = 1.0
    record = validate.batch_invariance(alone, alone.copy(), batch)
    assert record == {"identical": True, "changed": 0, "sentences": 2, "batch_size": 2}
    together = alone.copy()
    together[1, 2, 2] = 5.0  # second subword of a word: not read, no change
    assert validate.batch_invariance(alone, together, batch)["changed"] == 0
    together[0, 2, 2] = 5.0  # first subword of word 1 of sentence 0
    assert validate.batch_invariance(alone, together, batch)["changed"] == 1
    states = np.random.default_rng(1).normal(size=(2, 4, 6)).astype(np.float32)
    pairs = validate.batch_invariance(states, states.copy(), batch, [(0, 1)])
    assert pairs == {"identical": True, "changed": 0, "pairs": 1, "batch_size": 2}


def test_activations_are_checked_and_read_from_recipes(tmp_path: Path) -> None:
    options = ExportOptions(
        out=tmp_path / "b", tagger=TaggerSpec("m"), onnx=OnnxOptions(activations="per-batch")
    )
    with pytest.raises(ConfigError, match="per-row, per-tensor"):
        options.check()
    assert OnnxOptions().activations == "per-row"
    recipe = tmp_path / "r.toml"
    recipe.write_text('[tagger]\nmodel = "m"\n[onnx]\nactivations = "per-tensor"\n', "utf-8")
    assert load_recipe(recipe).onnx.activations == "per-tensor"


def test_cli_export_rejects_unknown_activations(tmp_path: Path) -> None:
    from xner.cli.main import app

    result = CliRunner().invoke(
        app, ["export", "--out", str(tmp_path / "b"), "--tagger", "m", "--activations", "rows"]
    )
    assert result.exit_code == 2
    assert "unknown ONNX activations 'rows'" in result.output
    assert "Traceback" not in result.output


# --- the tiny bundle (exported with the default, per-row activations) ---------------------------


@pytest.mark.slow
def test_tagger_labels_do_not_depend_on_the_batch(tiny_bundle: Path) -> None:  # noqa: F811
    from xner.runtime.engines.tagger import Tagger

    sentences = _sentences()
    tagger = Tagger(tiny_bundle)
    alone = [tagger.tag([words])[0].tags for words in sentences]
    assert any(any(tag != "O" for tag in tags) for tags in alone)  # the labels say something
    for size in CHUNKS:
        chunked = [result.tags for result in tagger.tag_iter(sentences, chunk_size=size)]
        changed = [k for k, (a, b) in enumerate(zip(alone, chunked, strict=True)) if a != b]
        assert not changed, f"chunk size {size}: sentences {changed} changed labels"
    for batch in (2, 5, 64):
        small = Tagger(tiny_bundle, max_batch_size=batch, max_batch_tokens=4096)
        assert [r.tags for r in small.tag(sentences)] == alone, f"max_batch_size {batch}"
    reordered = [r.tags for r in tagger.tag(sentences[::-1])][::-1]  # other neighbours
    assert reordered == alone


@pytest.mark.slow
def test_aligner_links_do_not_depend_on_the_batch(tiny_bundle: Path) -> None:  # noqa: F811
    from xner.runtime.engines.aligner import Aligner

    sentences = _sentences(80, seed=1)
    pairs = list(zip(sentences[::2], sentences[1::2], strict=True))
    aligner = Aligner(tiny_bundle)
    alone = [aligner.align([pair])[0].pairs.tolist() for pair in pairs]
    assert any(alone)
    for size in CHUNKS:
        chunked = [r.pairs.tolist() for r in aligner.align_iter(pairs, chunk_size=size)]
        changed = [k for k, (a, b) in enumerate(zip(alone, chunked, strict=True)) if a != b]
        assert not changed, f"chunk size {size}: pairs {changed} changed links"
    small = Aligner(tiny_bundle, max_batch_size=3)
    assert [r.pairs.tolist() for r in small.align(pairs)] == alone


@pytest.mark.slow
def test_manifest_records_the_batch_invariance_check(tiny_bundle: Path) -> None:  # noqa: F811
    components = json.loads((tiny_bundle / "manifest.json").read_text("utf-8"))["components"]
    probes = len(load_probes(None).sentences)
    tagger, aligner = components["tagger"]["fidelity"], components["aligner"]["fidelity"]
    assert tagger["batch_invariant"] == {
        "activations": "per-row",
        "identical": True,
        "changed": 0,
        "sentences": probes,
        "batch_size": probes,
    }
    assert aligner["batch_invariant"]["identical"] is True
    assert aligner["batch_invariant"]["pairs"] == len(load_probes(None).pairs)
    for fidelity in (tagger, aligner):  # the per-row graph: attention keeps its projections apart
        assert fidelity["fused_operators"].get("MultiHeadAttention")
        assert "int8_vs_fp32" in fidelity
    assert tagger["int8_vs_fp32"]["label_agreement"] > 0.9


@pytest.mark.slow
def test_info_prints_the_batch_invariance_check(tiny_bundle: Path) -> None:  # noqa: F811
    from xner.cli.main import app

    result = CliRunner().invoke(app, ["info", str(tiny_bundle)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "batch_invariant" in line]
    assert len(lines) == 2
    assert all("batch_invariant: yes" in line and "(per-row activations)" in line for line in lines)


@pytest.mark.slow
def test_per_tensor_export_records_its_activations(
    tiny_models,  # noqa: F811
    tmp_path: Path,
) -> None:
    from xner.export import export_bundle

    result = export_bundle(
        ExportOptions(
            out=tmp_path / "b",
            tagger=TaggerSpec(str(tiny_models.tagger)),
            onnx=OnnxOptions(activations="per-tensor"),
        )
    )
    fidelity = result.bundle.components["tagger"].fidelity
    assert fidelity["batch_invariant"]["activations"] == "per-tensor"
    assert fidelity["fused_operators"].get("Attention")  # quantised whole as QAttention
