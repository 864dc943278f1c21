"""bench/bench_tagger.py: its pure parts (arguments, padding, profile sums, agreement, medians),
its graph rewrites (same outputs as the graph they come from) and one short run on the tiny
bundle. No timings are asserted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_tagger  # noqa: E402


def test_arguments_keep_the_default_as_reference_and_refuse_unknown_names(capsys):
    args = bench_tagger.parse_args(["--variants", "u8u8, batch-8"])
    assert args.variants == ["default", "u8u8", "batch-8"]
    assert args.name == "tagger-tiny"
    assert bench_tagger.parse_args([]).variants == list(bench_tagger.VARIANTS)
    with pytest.raises(SystemExit):
        bench_tagger.parse_args(["--variants", "u8u9"])
    assert "known:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_tagger.parse_args(["--parts", "speed"])


def test_every_variant_names_a_known_graph_and_level():
    for variant in bench_tagger.VARIANTS.values():
        assert variant.graph in bench_tagger.GRAPHS
        assert variant.optimization in bench_tagger.LEVELS
    assert bench_tagger.VARIANTS["default"] == bench_tagger.Variant(note="the engine today")


def test_padding_share_follows_the_engines_batches():
    # lengths 4, 2, 2, 1 in batches of 2 (longest first): [4, 2] pads 2, [2, 1] pads 1
    assert bench_tagger.padding_share([[2, 4, 1, 2]], 2, 8192) == round(3 / 9, 4)
    # one batch of 4: 4 x 4 positions for 9 real ones
    assert bench_tagger.padding_share([[2, 4, 1, 2]], 4, 8192) == round(7 / 9, 4)
    # at most 8 positions: [4, 2] (8), [2, 1] (4)
    assert bench_tagger.padding_share([[2, 4, 1, 2]], 4, 8) == round(3 / 9, 4)
    assert bench_tagger.padding_share([[3], [3, 3]], 32, 8192) == 0.0
    assert bench_tagger.padding_share([], 32, 8192) == 0.0
    assert bench_tagger.batch_count([[2, 4, 1, 2], [5]], 2, 8192) == 3


def _node(name, op, ts, dur):
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur,
            "args": {"op_name": op}}  # fmt: skip


def test_profile_is_summed_per_operator_and_node_without_the_warm_up():
    events = [
        {"cat": "Session", "name": "model_run", "ts": 0, "dur": 5000},  # warm-up
        _node("mm0", "MatMulInteger", 10, 4000),
        {"cat": "Session", "name": "model_run", "ts": 6000, "dur": 7000},
        _node("mm0", "MatMulInteger", 6010, 3000),
        _node("mm1", "MatMulInteger", 7000, 1000),
        {"cat": "Node", "name": "mm1_fence_before", "ts": 6999, "dur": 0, "args": {}},
        _node("mha", "MultiHeadAttention", 8000, 2000),
        {"cat": "Session", "name": "model_run", "ts": 20000, "dur": 3000},
        _node("mha", "MultiHeadAttention", 20010, 2000),
    ]
    profile = bench_tagger.aggregate_profile(events, skip_runs=1)
    assert profile["runs"] == 2
    assert profile["run_ms"] == 10.0
    assert profile["kernel_ms"] == 8.0
    assert profile["ops"] == {
        "MatMulInteger": {"ms": 4.0, "share": 0.5, "count": 2},
        "MultiHeadAttention": {"ms": 4.0, "share": 0.5, "count": 2},
    }
    assert list(profile["top_nodes"]) == ["mha", "mm0", "mm1"]
    assert profile["top_nodes"]["mm0"] == {
        "op": "MatMulInteger", "ms": 3.0, "share": 0.375, "count": 1
    }  # fmt: skip
    everything = bench_tagger.aggregate_profile(events)
    assert everything["ops"]["MatMulInteger"]["ms"] == 8.0


def test_agreement_counts_words_and_changed_sentences():
    reference = [["B-PER", "O"], ["O"], ["B-LOC", "I-LOC", "O"]]
    tags = [["B-PER", "O"], ["B-ORG"], ["B-LOC", "O", "O"]]
    assert bench_tagger.agreement(tags, reference) == {"words": round(4 / 6, 4),
                                                        "sentences_changed": 2}  # fmt: skip
    assert bench_tagger.agreement(reference, reference) == {"words": 1.0, "sentences_changed": 0}


def test_summary_takes_medians_and_keeps_the_spread():
    runs = [
        {"wall_s": 2.0, "cpu_s": 3.0, "load_s": 0.5, "peak_rss_mib": 100.0,
         "padding_share": 0.1, "batches": 4},
        {"wall_s": 1.0, "cpu_s": 2.0, "load_s": 0.4, "peak_rss_mib": 110.0,
         "padding_share": 0.1, "batches": 4},
        {"wall_s": 4.0, "cpu_s": 5.0, "load_s": 0.6, "peak_rss_mib": 90.0,
         "padding_share": 0.1, "batches": 4},
    ]  # fmt: skip
    summary = bench_tagger.summarise(runs, 100)
    assert summary["sentences_per_s"] == 50.0
    assert summary["sentences_per_s_min_max"] == [25.0, 100.0]
    assert (summary["cpu_s"], summary["load_s"], summary["peak_rss_mib"]) == (3.0, 0.5, 100.0)


def _run(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_u8_weights_give_the_same_integers():
    onnx = pytest.importorskip("onnx", reason="onnx (export extra) writes the graphs")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 128, size=(6, 5)).astype(np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "w", "a_zero"], ["y"])],
        "g",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [3, 6])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [3, 5])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.uint8(128), "a_zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"a": rng.integers(1, 256, size=(3, 6)).astype(np.uint8)}
    before = _run(model, feeds)[0]
    assert bench_tagger.weights_to_u8(model) == 1
    onnx.checker.check_model(model)
    kinds = {t.name: t.data_type for t in model.graph.initializer}
    assert kinds == {"w_u8": TensorProto.UINT8, "a_zero": TensorProto.UINT8,
                     "u8u8_weight_zero": TensorProto.UINT8}  # fmt: skip
    np.testing.assert_array_equal(_run(model, feeds)[0], before)


def _tagger_feeds() -> dict[str, np.ndarray]:
    ids = np.asarray([[0, 10, 11, 12, 2], [0, 13, 2, 1, 1]], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": (ids != 1).astype(np.int64)}


@pytest.mark.slow
def test_split_attention_gives_the_fused_graphs_logits(tiny_bundle_fp32):
    onnx = pytest.importorskip("onnx", reason="onnx (export extra) writes the graphs")
    model = onnx.load(str(tiny_bundle_fp32 / "tagger" / "model.onnx"))
    feeds = _tagger_feeds()
    before = _run(model, feeds)[0]
    assert bench_tagger.attention_to_mha(model) > 0
    ops = [node.op_type for node in model.graph.node]
    assert "Attention" not in ops and "MultiHeadAttention" in ops
    np.testing.assert_allclose(_run(model, feeds)[0], before, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_short_run_on_the_tiny_bundle(tiny_bundle, tiny_bundle_fp32, shared_data, tmp_path):
    pytest.importorskip("onnx", reason="onnx (export extra) re-quantises the float32 graph")
    record = bench_tagger.main(
        ["--sentences", "12", "--rounds", "1", "--variants", "u8u8,requantised,batch-8",
         "--bundle", str(tiny_bundle), "--float32", str(tiny_bundle_fp32),
         "--data", str(shared_data), "--out-dir", str(tmp_path), "--name", "t"]
    )  # fmt: skip
    written = json.loads((tmp_path / f"{record['date']}-t.json").read_text())
    assert written["variants"].keys() == {"default", "u8u8", "requantised", "batch-8"}
    assert written["skipped"] == {}
    # the same integers, and the export's own quantiser on the split float32 graph: same labels
    for name in ("u8u8", "requantised"):
        agreement = written["variants"][name]["agreement_with_default"]
        assert agreement == {"words": 1.0, "sentences_changed": 0}
    assert written["profile"]["ops"]
    assert abs(sum(e["share"] for e in written["profile"]["ops"].values()) - 1) < 0.01
    run = written["variants"]["default"]["runs"][0]
    assert run["peak_rss_mib"] > 0 and run["batches"] >= 1
    assert "| u8u8 |" in (tmp_path / f"{record['date']}-t.md").read_text()
