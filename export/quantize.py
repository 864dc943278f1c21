"""Write an exported fp32 ONNX graph into the bundle: int8 (one file) or fp32 (external data >2GB).

Dynamic quantisation (onnxruntime ``quantize_dynamic``, QInt8 weights) also quantises the
embedding tables (``Gather``), so an int8 encoder is about 4x smaller than fp32.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from xner.export.options import ExportError, OnnxOptions

logger = logging.getLogger("xner")

PROTOBUF_LIMIT = 2**31 - 1
EXTERNAL_THRESHOLD = 1_800_000_000  # bytes of weights above which fp32 goes to external data


def write_onnx(fp32: Path, dest: Path, options: OnnxOptions, work: Path) -> list[Path]:
    """Write ``dest`` (``.../model.onnx``) from the fp32 graph ``fp32``; return the files written.

    ``int8``: one file (the export fails if it would pass the 2 GB protobuf limit).
    ``none``: fp32, as one file below ~1.8 GB of weights, else with ``model.onnx.data`` beside.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if options.quantization == "int8":
        return [quantize_int8(fp32, dest, options, work)]
    import onnx

    model = onnx.load(str(fp32))  # loads external data too
    weights = sum(len(t.raw_data) for t in model.graph.initializer)
    if weights < EXTERNAL_THRESHOLD:
        onnx.save_model(model, str(dest))
        return [dest]
    data = dest.with_name(dest.name + ".data")
    onnx.save_model(
        model,
        str(dest),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data.name,
        size_threshold=1024,
    )
    os.chmod(data, dest.stat().st_mode & 0o777)  # onnx creates it owner-only; match model.onnx
    logger.info("fp32 graph of %d bytes written with external data %s", weights, data.name)
    return [dest, data]


def quantize_int8(fp32: Path, dest: Path, options: OnnxOptions, work: Path) -> Path:
    """Dynamic int8 quantisation of ``fp32`` into the single file ``dest``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = _preprocess(fp32, work) if options.preprocess else fp32
    with _quiet_root_logger():
        quantize_dynamic(
            model_input=str(source),
            model_output=str(dest),
            per_channel=options.per_channel,
            reduce_range=options.reduce_range,
            weight_type=QuantType.QInt8,
            use_external_data_format=False,
        )
    size = dest.stat().st_size
    if size > PROTOBUF_LIMIT:
        raise ExportError(f"{dest}: the int8 graph is {size} bytes, above the 2 GB ONNX limit")
    return dest


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
    out = work / (fp32.stem + ".pre.onnx")
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
    ]
    if sum(p.stat().st_size for p in fp32.parent.iterdir() if p.is_file()) > EXTERNAL_THRESHOLD:
        cmd += ["--save_as_external_data", "--all_tensors_to_one_file"]
    done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not out.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        logger.warning("quantisation pre-processing failed (%s); quantising the raw graph", tail[0])
        return fp32
    return out
