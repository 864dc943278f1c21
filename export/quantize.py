"""Write an exported fp32 ONNX graph into the bundle: the graph, and its weights beside it.

int8 weights, and int8 activations quantised at run time, in one of two ways
(``OnnxOptions.activations``):

- ``per-row`` (default): every matrix product reads its input as int8 with **one scale per row**
  (per token), computed at run time from that row alone (:func:`rowwise_int8`), so a sentence's
  outputs never depend on the other sentences of its batch or on their padding. Attention is
  fused as ``MultiHeadAttention`` so that the query, key and value projections stay matrix
  products and are quantised too.
- ``per-tensor``: onnxruntime's ``quantize_dynamic`` (``DynamicQuantizeLinear``: one scale for
  the whole batch, padding included; fused attention as ``QAttention``). Measured on the tiny
  bundle, 15 of 200 sentences changed labels between being tagged alone and in a chunk.

Measured by bench/bench_quant.py on the real-size random-weight XLM-R-large tagger (2 threads,
AMD EPYC with VNNI): per-row tags at 0.78x the speed of per-tensor (1.3x its CPU time; fp32:
0.27x) and agrees better with fp32 (word labels 0.994 vs 0.968); mBERT alignment at 0.71x.
Also tried: 8-bit ``MatMulNBits`` (int8 compute, blocks of 32; blocks of 128 were not
batch-invariant) and static scales calibrated on the probes (``quantize_static``, QDQ): both
batch-invariant, both twice the CPU time of per-tensor, the static one less faithful.

Both modes quantise the embedding tables (``Gather``) to int8 with fixed scales, so an int8
encoder is about 4x smaller than fp32.

Every model is written as ``model.onnx`` (the graph, under a megabyte) plus ``model.onnx.data``
(the weights, ONNX external data), int8 and fp32 alike. ONNX Runtime maps the weights file
instead of parsing one large protobuf: it loads faster, and with int8 the matrices it repacks
for its kernels are the only copy in memory while the embedding rows stay on disk until a token
needs them. On the benchmark's XLM-R-large tagger this halved the resident memory (1,065 ->
576 MiB after tagging 200 sentences) and load time (1.6 -> 0.4 s). It also lifts the 2 GB
protobuf limit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from xner.export.options import OnnxOptions

logger = logging.getLogger("xner")

INLINE_LIMIT = 1024  # bytes: smaller tensors stay inside the graph file
FUSABLE = ("bert", "roberta", "xlm-roberta", "camembert")  # what the "bert" fusions match
ROW_MAX = 127.0  # per-row activations: |x| / scale lies in [0, 127], stored as uint8 around 128
ROW_ZERO = 128
SCALE_FLOOR = 1e-12  # an all-zero row or weight column keeps a usable scale


def fuse_encoder(
    fp32: Path, config: Any, work: Path, options: OnnxOptions | None = None
) -> tuple[Path, dict[str, int]]:
    """Fuse attention, GELU and layer norms of a BERT-like ``fp32`` graph; return it and counts.

    onnxruntime's transformer optimizer rewrites each layer's attention sub-graph into one
    ``Attention`` node (quantised whole to ``QAttention``), bias + GELU into ``BiasGelu`` and
    residual + layer norm into ``SkipLayerNormalization``, which ONNX Runtime runs as single
    kernels (optimum does the same before quantising). For int8 with ``per-row`` activations
    (``options``) attention fuses into ``MultiHeadAttention`` instead, which leaves the query,
    key and value projections as matrix products for :func:`rowwise_int8`. Families other than
    BERT/RoBERTa/XLM-R are returned unchanged with empty counts, as is a graph where nothing fused.
    """
    family = getattr(config, "model_type", None)
    if family not in FUSABLE:
        logger.info("%s: no fusion for model type %r (fusable: %s)", fp32, family, FUSABLE)
        return fp32, {}
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    fusions = FusionOptions("bert")
    fusions.use_multi_head_attention = _per_row(options)
    attention = "MultiHeadAttention" if fusions.use_multi_head_attention else "Attention"
    with _quiet_root_logger():
        model = optimize_model(
            str(fp32),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=0,  # fusions only: ONNX Runtime's own passes run when the bundle loads
            optimization_options=fusions,
        )
        counts = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
        if not counts.get(attention):
            logger.warning("%s: attention did not fuse (%s); kept as exported", fp32, counts)
            return fp32, {}
        out = work / f"{fp32.parent.name}-fused" / "model.onnx"
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save_model_to_file(str(out), use_external_data_format=True)
    return out, counts


def write_onnx(fp32: Path, dest: Path, options: OnnxOptions, work: Path) -> list[Path]:
    """Write ``dest`` (``.../model.onnx``) from the fp32 graph ``fp32``; return the files written.

    ``dest`` holds the graph, ``dest.data`` (``model.onnx.data``) the weights, quantised to int8
    (``options.quantization == "int8"``) or as exported (``"float32"``).
    """
    import onnx

    dest.parent.mkdir(parents=True, exist_ok=True)
    source = fp32
    if options.quantization == "int8":
        int8 = work / f"{fp32.parent.name}-int8" / "model.onnx"
        source = quantize_int8(fp32, int8, options, work)
    model = onnx.load(str(source))  # loads external data too
    data = dest.with_name(dest.name + ".data")
    onnx.save_model(
        model,
        str(dest),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data.name,
        size_threshold=INLINE_LIMIT,
    )
    if not data.is_file():  # no tensor above the inline limit
        return [dest]
    os.chmod(data, dest.stat().st_mode & 0o777)  # onnx creates it owner-only; match model.onnx
    sizes = dest.stat().st_size, data.stat().st_size
    logger.info("%s: graph %d bytes, weights %d bytes", dest, *sizes)
    return [dest, data]


def quantize_int8(fp32: Path, out: Path, options: OnnxOptions, work: Path) -> Path:
    """int8 quantisation of ``fp32`` into ``out`` (in a work folder, external data).

    ``options.activations`` chooses per-row (:func:`rowwise_int8`) or per-tensor
    (``quantize_dynamic``) activation scales; both quantise the embedding tables.
    """
    source = _preprocess(fp32, work) if options.preprocess else fp32
    out.parent.mkdir(parents=True, exist_ok=True)
    if not _per_row(options):
        return _quantize_dynamic(source, out, options)
    import onnx

    model = onnx.load(str(source))
    count = rowwise_int8(model, options.per_channel, options.reduce_range)
    logger.info("%s: %d matrix products quantised with per-row activation scales", fp32, count)
    rows = work / f"{fp32.parent.name}-rows" / "model.onnx"
    rows.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        model,
        str(rows),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=INLINE_LIMIT,
    )
    del model
    return _quantize_dynamic(rows, out, options, ops=("Gather", "EmbedLayerNormalization"))


def _quantize_dynamic(
    source: Path, out: Path, options: OnnxOptions, ops: tuple[str, ...] | None = None
) -> Path:
    """onnxruntime's ``quantize_dynamic`` (QInt8 weights) of the operators ``ops`` (all: None)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            model_input=str(source),
            model_output=str(out),
            op_types_to_quantize=list(ops) if ops else None,
            per_channel=options.per_channel,
            reduce_range=options.reduce_range,
            weight_type=QuantType.QInt8,
            use_external_data_format=True,
            # fused nodes (com.microsoft domain) defeat its type inference; weights are float
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return out


def rowwise_int8(model: Any, per_channel: bool = False, reduce_range: bool = False) -> int:
    """Rewrite every ``MatMul`` with a constant 2-D weight into int8 with per-row activations.

    In place on the ``onnx.ModelProto``; returns how many products were rewritten. For
    ``Y = A @ W``: ``W`` becomes int8 with one scale per output column (``per_channel``) or one
    for the matrix (7-bit with ``reduce_range``, for CPUs without VNNI); each row of ``A`` (one
    token) gets its own scale ``max |row| / 127``, computed in the graph from that row alone, and
    is stored as uint8 around the zero point 128. Then
    ``Y = MatMulIntegerToFloat(A_q, W_q, 1, w_scale, 128) * a_scale``: ONNX Runtime's fused
    integer product with its float conversion and weight scale (one kernel where
    ``MatMulInteger``, ``Cast`` and a ``Mul`` over the whole output took three: 13% of the int8
    tagger's time went to that ``Cast`` and ``Mul``), then one ``Mul`` by the rows' scales. An
    input shared by several products (the query, key and value projections) is quantised once.
    Nothing mixes rows, so a row's result is the same whatever else is in its batch.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 17)
    added: list[Any] = []

    def constant(name: str, value: Any) -> str:
        added.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    floor = constant("rowq_floor", np.float32(SCALE_FLOOR))
    top = constant("rowq_max", np.float32(ROW_MAX))
    zero = constant("rowq_zero", np.uint8(ROW_ZERO))
    one = constant("rowq_one", np.float32(1.0))
    zero_value = numpy_helper.from_array(np.asarray([ROW_ZERO], dtype=np.uint8), "value")
    flat = constant("rowq_flat", np.asarray([-1], dtype=np.int64))
    axes = constant("rowq_axes", np.asarray([-1], dtype=np.int64)) if opset >= 18 else None
    limit = 63.0 if reduce_range else ROW_MAX
    nodes: list[Any] = []
    rows: dict[str, str] = {}  # activation -> prefix of its quantised form
    for node in graph.node:
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2 or weight.data_type != TensorProto.FLOAT:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weight).astype(np.float32)
        w_max = np.abs(w).max(axis=0) if per_channel else np.abs(w).max()
        w_scale = (np.maximum(w_max, SCALE_FLOOR) / limit).astype(np.float32)
        w_q = np.clip(np.rint(w / w_scale), -limit, limit).astype(np.int8)
        name = f"rowq_{len(added)}_{weight.name}"
        constant(f"{name}_q", w_q)
        constant(f"{name}_scale", w_scale)
        uses[weight.name] -= 1
        source = node.input[0]
        if source not in rows:
            a = rows[source] = f"rowq_in{len(rows)}"
            reduce = helper.make_node(
                "ReduceMax", [f"{a}_abs", *([axes] if axes else [])], [f"{a}_absmax"], keepdims=1
            )
            if not axes:
                reduce.attribute.append(helper.make_attribute("axes", [-1]))
            width = constant(f"{a}_width", np.asarray([-1, weight.dims[0]], dtype=np.int64))
            nodes += [
                helper.make_node("Abs", [source], [f"{a}_abs"]),
                reduce,
                helper.make_node("Max", [f"{a}_absmax", floor], [f"{a}_top"]),
                helper.make_node("Div", [f"{a}_top", top], [f"{a}_scale"]),
                # QuantizeLinear per axis 0 of the rows: one scale and zero point (128) a row
                helper.make_node("Reshape", [f"{a}_scale", flat], [f"{a}_row_scale"]),
                helper.make_node("Shape", [f"{a}_row_scale"], [f"{a}_rows"]),
                helper.make_node(
                    "ConstantOfShape", [f"{a}_rows"], [f"{a}_row_zero"], value=zero_value
                ),
                helper.make_node("Reshape", [source, width], [f"{a}_matrix"]),
                helper.make_node(
                    "QuantizeLinear",
                    [f"{a}_matrix", f"{a}_row_scale", f"{a}_row_zero"],
                    [f"{a}_qmatrix"],
                    axis=0,
                ),
                helper.make_node("Shape", [source], [f"{a}_shape"]),
                helper.make_node("Reshape", [f"{a}_qmatrix", f"{a}_shape"], [f"{a}_q"]),
            ]
        a = rows[source]
        nodes += [
            helper.make_node(
                "MatMulIntegerToFloat",
                [f"{a}_q", f"{name}_q", one, f"{name}_scale", zero],
                [f"{name}_columns"],
                domain="com.microsoft",
            ),
            helper.make_node("Mul", [f"{name}_columns", f"{a}_scale"], [node.output[0]]),
        ]
    kept = [t for t in graph.initializer if uses.get(t.name, 1) > 0]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    if added and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return sum(node.op_type == "MatMulIntegerToFloat" for node in nodes)


def _per_row(options: OnnxOptions | None) -> bool:
    return bool(options and options.quantization == "int8" and options.activations == "per-row")


class _DropRootRecords(logging.Filter):
    """Drops records logged on the root logger (onnxruntime's quantiser chats there per tensor)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "root" or record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    drop = _DropRootRecords()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _preprocess(fp32: Path, work: Path) -> Path:
    """onnxruntime's quantisation pre-processing, run in a child process inside ``work``.

    Symbolic shape inference is skipped (it fails on XLM-R graphs); the tool leaves files in
    its working folder when it fails, so it runs in ``work``. On failure the raw graph is used.
    """
    out = work / f"{fp32.parent.name}-pre" / "model.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "onnxruntime.quantization.preprocess",
        "--input",
        str(fp32),
        "--output",
        str(out),
        "--skip_symbolic_shape",
        "True",
        "--save_as_external_data",
        "--all_tensors_to_one_file",
    ]
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        logger.warning("quantisation pre-processing failed (%s); quantising the raw graph", tail[0])
        return fp32
    return out
