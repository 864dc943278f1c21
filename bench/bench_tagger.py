"""Tagging with the int8 tagger: ONNX Runtime's profile per operator, and variants measured.

Usage: ``python bench/bench_tagger.py [--profile tiny|real] [--sentences 200] [--rounds 3]
[--threads 2] [--parts profile,variants] [--variants NAMES] [--bundle PATH] [--float32 PATH]
[--name NAME]``.

The bundle's int8 tagger (``--profile tiny``: the tiny random models of the tests, exported as
bench/bench_quant.py does and cached; ``real``: the real-size bundle bench/run_bench.py caches,
never built here) tags ``--sentences`` CoNLL-2003 English test sentences (evenly spaced through
the file) through the engine itself (:class:`xner.runtime.engines.tagger.Tagger`: its chunks,
``length_batches`` and ``run_encoder``); only the ONNX Runtime session is made here, with the
variant's settings, on the CPU.

1. **Profile**: one run of the default with ``SessionOptions.enable_profiling``; the JSON trace
   (warm-up runs left out) is summed per operator type (ms, share of all kernel time, count)
   and per node (the 10 slowest).
2. **Variants**, each run in a fresh process (session options are read at load), interleaved in
   ``--rounds`` rounds (median taken, min-max kept): sentences/s (wall), CPU seconds of the
   process (all threads), load seconds (tokenizer + session), peak RSS (``VmHWM``), padding
   share (padded positions / real positions of the batches run) and agreement of the word
   labels with the default (share of words, sentences changed). Variants:
   ``default`` (what the engine does today: ``ORT_ENABLE_ALL``, ``--threads`` intra-op threads,
   one inter-op thread, spinning on, prepacking on, batches of 32 sequences / 8192 positions);
   ``opt-extended``, ``opt-basic`` (graph optimisation level); ``saved-optimised`` (the graph
   optimised once at ``ORT_ENABLE_ALL`` and saved with ``optimized_model_filepath``, then loaded
   with optimisation disabled); ``threads-1``, ``threads-2`` (intra-op threads);
   ``spinning-0`` (``session.intra_op.allow_spinning``; on by default); ``no-prepacking``
   (``session.disable_prepacking``); ``batch-8/16/64`` (``max_batch_size``) and
   ``tokens-2048/4096`` (``max_batch_tokens``); and weight variants:

   - ``u8u8``: the shipped graph with its int8 weights stored as uint8 around a zero point of
     128 (exactly the same integers, so the same labels): ONNX Runtime's u8u8 kernels instead of
     u8s8. The shipped per-row graph (``export/quantize.py: rowwise_int8``) is u8s8: activations
     uint8 around 128 (per row), weights int8, symmetric, **one scale per matrix** (per-tensor;
     ``per_channel`` is off by default). On x86 without VNNI u8s8 uses ``vpmaddubsw``, whose
     16-bit sums can saturate with activations that span the full uint8 range (ours do), so
     u8u8 is also what such CPUs would need to keep these labels.
   - ``requantised`` and ``per-channel``: re-quantised with the export's own functions
     (``write_onnx`` -> ``quantize_int8`` -> ``rowwise_int8``) from the tagger's float32 ONNX
     (``--float32``; default: the one bench_quant.py caches, ``quant-<profile>-*/float32``),
     with per-tensor (must agree with ``default``; against a bundle exported before a change of
     the quantiser it measures that change) and per-channel weight scales.
     The float32 graph's fused ``Attention`` nodes are first split back into three ``MatMul``
     and a ``MultiHeadAttention``, the form the per-row export quantises.
   Not tried: s8s8 (the activations are stored as uint8 by design: one zero point of 128),
   ``reduce_range`` (7-bit weights: a fix for u8s8 saturation, less faithful than u8u8), and
   per-tensor activations (bench/bench_quant.py measures them; not batch-invariant).

Writes ``bench/results/<date>-<name>.json`` and ``.md`` (atomically) and prints the tables; the
load average is recorded at the start, the end and for each run. Temporary graphs go to a
folder under the bench cache (``$XNER_BENCH_CACHE`` or ``~/.cache/xner-bench``), removed at the
end.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_models  # noqa: E402
import bench_quant  # noqa: E402
import facts  # noqa: E402

from xner.runtime.engines.options import MAX_PADDING  # noqa: E402

logger = logging.getLogger("xner.bench")
DEFAULT_DATA = BENCH.parent.parent / "shared" / "data"
WARM_UP = 8  # sentences tagged before the timed run (not profiled, not timed)
TOP_NODES = 10
LEVELS = {  # name -> onnxruntime.GraphOptimizationLevel member
    "all": "ORT_ENABLE_ALL",
    "extended": "ORT_ENABLE_EXTENDED",
    "basic": "ORT_ENABLE_BASIC",
    "disabled": "ORT_DISABLE_ALL",
}
GRAPHS = ("shipped", "saved", "u8u8", "requantised", "per-channel")
FROM_FLOAT32 = ("requantised", "per-channel")


@dataclass(frozen=True)
class Variant:
    """One way of running the tagger. ``threads`` None: ``--threads``; ``spinning`` None: the
    library's default (on)."""

    graph: str = "shipped"
    optimization: str = "all"
    threads: int | None = None
    spinning: int | None = None
    prepacking: bool = True
    max_batch_size: int = 32
    max_batch_tokens: int = 8192
    max_padding: float | None = MAX_PADDING
    note: str = ""


VARIANTS: dict[str, Variant] = {
    "default": Variant(note="the engine today"),
    "opt-extended": Variant(optimization="extended"),
    "opt-basic": Variant(optimization="basic"),
    "saved-optimised": Variant(
        graph="saved", optimization="disabled", note="saved at ORT_ENABLE_ALL, loaded unoptimised"
    ),
    "threads-1": Variant(threads=1),
    "threads-2": Variant(threads=2),
    "spinning-0": Variant(spinning=0),
    "no-prepacking": Variant(prepacking=False),
    "batch-8": Variant(max_batch_size=8),
    "batch-16": Variant(max_batch_size=16),
    "batch-64": Variant(max_batch_size=64),
    "tokens-2048": Variant(max_batch_tokens=2048),
    "tokens-4096": Variant(max_batch_tokens=4096),
    "padding-unbounded": Variant(max_padding=None, note="batches as before issue 15"),
    "padding-0.1": Variant(max_padding=0.1),
    "padding-0.5": Variant(max_padding=0.5),
    "u8u8": Variant(graph="u8u8", note="same integers, uint8 weights around 128"),
    "requantised": Variant(graph="requantised", note="re-quantised by the export's current code"),
    "per-channel": Variant(graph="per-channel", note="one weight scale per output column"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of the default")
    parser.add_argument("--parts", type=_parts, default=["profile", "variants"])
    parser.add_argument("--variants", type=_variants, default=list(VARIANTS))
    parser.add_argument("--bundle", type=Path, help="default: the profile's cached bundle")
    parser.add_argument("--float32", type=Path, help="a bundle whose tagger is float32 ONNX")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--name", default=None, help="default: tagger-<profile>")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # JSON spec of one measured run
    parser.add_argument("--prepare", choices=GRAPHS[1:], help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.name = args.name or f"tagger-{args.profile}"
    if "default" not in args.variants:  # the reference of the agreement figures
        args.variants.insert(0, "default")
    return args


def _names(text: str, known: Sequence[str], what: str) -> list[str]:
    from xner.runtime.names import split_names

    names = list(split_names(text))
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown[:1]}; known: {list(known)}")
    return names


def _parts(text: str) -> list[str]:
    return _names(text, ("profile", "variants"), "part")


def _variants(text: str) -> list[str]:
    return _names(text, list(VARIANTS), "variant")


# --- pure parts -----------------------------------------------------------------------------------


def padding_share(
    calls: Sequence[Sequence[int]],
    max_batch_size: int,
    max_batch_tokens: int,
    max_padding: float | None = MAX_PADDING,
) -> float:
    """Padded positions / real positions over the batches the engine forms from ``calls`` (the
    sequence lengths of each ``run_encoder`` call), as ``length_batches`` groups them."""
    from xner.runtime.engines.options import length_batches

    real = padded = 0
    for lengths in calls:
        for batch in length_batches(lengths, max_batch_size, max_batch_tokens, max_padding):
            sizes = [lengths[i] for i in batch.tolist()]
            real += sum(sizes)
            padded += len(sizes) * max(sizes) - sum(sizes)
    return round(padded / real, 4) if real else 0.0


def batch_count(
    calls: Sequence[Sequence[int]],
    max_batch_size: int,
    max_batch_tokens: int,
    max_padding: float | None = MAX_PADDING,
) -> int:
    """How many ``session.run`` calls the engine makes for ``calls``."""
    from xner.runtime.engines.options import length_batches

    return sum(
        len(list(length_batches(c, max_batch_size, max_batch_tokens, max_padding))) for c in calls
    )


def aggregate_profile(events: list[dict[str, Any]], skip_runs: int = 0) -> dict[str, Any]:
    """Sum an ONNX Runtime profile (its JSON trace) per operator type and per node.

    Kernel events (``cat`` Node, name ``<node>_kernel_time``) that start before the
    ``skip_runs + 1``-th ``model_run`` are left out (warm-up). Returns ``run_ms`` (the runs
    kept), ``kernel_ms`` (their kernels, summed), ``ops`` (op type -> ms, share of kernel time,
    count; slowest first) and ``top_nodes`` (the :data:`TOP_NODES` slowest nodes).
    """
    runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
        key=lambda e: e["ts"],
    )
    start = runs[skip_runs]["ts"] if len(runs) > skip_runs else float("inf")
    kept = runs[skip_runs:]
    ops: dict[str, dict[str, Any]] = {}
    nodes: dict[str, dict[str, Any]] = {}
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith("_kernel_time") or event["ts"] < start:
            continue
        op = str(event.get("args", {}).get("op_name", "?"))
        ms = event.get("dur", 0) / 1000
        for table, key in ((ops, op), (nodes, name[: -len("_kernel_time")])):
            entry = table.setdefault(key, {"op": op, "ms": 0.0, "count": 0})
            entry["ms"] += ms
            entry["count"] += 1
    kernel = sum(entry["ms"] for entry in ops.values())

    def ranked(table: dict[str, dict[str, Any]], limit: int | None) -> dict[str, dict[str, Any]]:
        order = sorted(table.items(), key=lambda item: -item[1]["ms"])[:limit]
        return {
            key: {
                **({"op": entry["op"]} if table is nodes else {}),
                "ms": round(entry["ms"], 3),
                "share": round(entry["ms"] / kernel, 4) if kernel else 0.0,
                "count": entry["count"],
            }
            for key, entry in order
        }

    return {
        "runs": len(kept),
        "run_ms": round(sum(e.get("dur", 0) for e in kept) / 1000, 3),
        "kernel_ms": round(kernel, 3),
        "ops": ranked(ops, None),
        "top_nodes": ranked(nodes, TOP_NODES),
    }


def agreement(tags: list[list[str]], reference: list[list[str]]) -> dict[str, Any]:
    """Share of words labelled as in ``reference``, and how many sentences differ at all."""
    pairs = list(zip(tags, reference, strict=True))
    same = sum(a == b for x, y in pairs for a, b in zip(x, y, strict=True))
    total = sum(len(y) for y in reference)
    return {
        "words": round(same / total, 4) if total else 1.0,
        "sentences_changed": sum(x != y for x, y in pairs),
    }


def summarise(runs: list[dict[str, Any]], sentences: int) -> dict[str, Any]:
    """Median (and min-max) of a variant's runs: sentences/s, CPU s, load s, peak RSS MiB."""
    speeds = [sentences / run["wall_s"] for run in runs]
    return {
        "sentences_per_s": round(statistics.median(speeds), 2),
        "sentences_per_s_min_max": [round(min(speeds), 2), round(max(speeds), 2)],
        "cpu_s": round(statistics.median(run["cpu_s"] for run in runs), 3),
        "load_s": round(statistics.median(run["load_s"] for run in runs), 3),
        "peak_rss_mib": round(statistics.median(run["peak_rss_mib"] for run in runs), 1),
        "padding_share": runs[0]["padding_share"],
        "batches": runs[0]["batches"],
    }


# --- graphs -----------------------------------------------------------------------------------


def attention_to_mha(model: Any) -> int:
    """Split each fused ``Attention`` (weights ``[hidden, 3 hidden]`` packed q, k, v) into three
    ``MatMul`` and a ``MultiHeadAttention`` reading the same bias and mask: the form the per-row
    export quantises. In place; returns how many nodes were split."""
    import numpy as np
    from onnx import helper, numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    nodes: list[Any] = []
    split = 0
    for node in model.graph.node:
        if node.op_type != "Attention" or node.domain != "com.microsoft":
            nodes.append(node)
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        extra = set(attributes) - {"num_heads", "mask_filter_value", "scale"}
        if extra or len(node.input) != 4 or node.input[1] not in weights:
            raise ValueError(f"{node.name}: cannot split this Attention ({sorted(extra)})")
        w = numpy_helper.to_array(weights[node.input[1]])
        hidden = w.shape[1] // 3
        outputs = []
        for k, part in enumerate("qkv"):
            name = f"{node.name}_{part}"
            piece = np.ascontiguousarray(w[:, k * hidden : (k + 1) * hidden])
            model.graph.initializer.append(numpy_helper.from_array(piece, f"{name}_weight"))
            nodes.append(helper.make_node("MatMul", [node.input[0], f"{name}_weight"], [name]))
            outputs.append(name)
        nodes.append(
            helper.make_node(
                "MultiHeadAttention",
                [*outputs, node.input[2], node.input[3]],
                list(node.output),
                name=f"{node.name}_mha",
                domain="com.microsoft",
                **attributes,
            )
        )
        split += 1
    packed = {node.input[1] for node in model.graph.node if node.op_type == "Attention"}
    kept = [t for t in model.graph.initializer if t.name not in packed]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return split


def weights_to_u8(model: Any) -> int:
    """Store the int8 weights of every ``MatMulInteger`` as uint8 around a zero point of 128
    (the same integers: ``w + 128 - 128``). In place; returns how many products changed."""
    import numpy as np
    from onnx import TensorProto, numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    zero = "u8u8_weight_zero"
    converted: dict[str, str] = {}
    changed = 0
    for node in model.graph.node:
        if node.op_type != "MatMulInteger" or len(node.input) > 3 and node.input[3]:
            continue
        weight = weights.get(node.input[1])
        if weight is None or weight.data_type != TensorProto.INT8:
            continue
        if weight.name not in converted:
            values = numpy_helper.to_array(weight).astype(np.int16) + 128
            name = converted[weight.name] = f"{weight.name}_u8"
            model.graph.initializer.append(numpy_helper.from_array(values.astype(np.uint8), name))
        inputs = list(node.input) + [""] * (3 - len(node.input))
        del node.input[:]
        node.input.extend([inputs[0], converted[weight.name], inputs[2], zero])
        changed += 1
    if changed:
        model.graph.initializer.append(numpy_helper.from_array(np.uint8(128), zero))
        old = set(converted)
        kept = [t for t in model.graph.initializer if t.name not in old]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
    return changed


def prepare(kind: str, source: Path, out: Path) -> dict[str, Any]:
    """``--prepare``: write the graph of a weight or saved variant to ``out`` (``model.onnx``).

    ``source``: the shipped graph (``saved``, ``u8u8``) or the float32 one (the others)."""
    import onnx

    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    if kind == "saved":
        session_options, _ = session_settings(VARIANTS["default"], 1)
        session_options.optimized_model_filepath = str(out)
        config = session_options.add_session_config_entry
        config("session.optimized_model_external_initializers_file_name", out.name + ".data")
        config("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
        import onnxruntime as ort

        ort.InferenceSession(str(source), session_options, providers=["CPUExecutionProvider"])
    elif kind == "u8u8":
        model = onnx.load(str(source))
        info["products"] = weights_to_u8(model)
        _save(model, out)
    else:
        from xner.export.options import OnnxOptions
        from xner.export.quantize import write_onnx

        model = onnx.load(str(source))
        info["attention_split"] = attention_to_mha(model)
        unfused = out.parent / "float32-mha" / "model.onnx"
        _save(model, unfused)
        del model
        options = OnnxOptions(per_channel=kind == "per-channel")
        write_onnx(unfused, out, options, out.parent / "work")
        shutil.rmtree(unfused.parent)
        shutil.rmtree(out.parent / "work", ignore_errors=True)
    info["seconds"] = round(time.perf_counter() - started, 2)
    info["mib"] = facts.folder_mb(out.parent)
    return info


def _save(model: Any, path: Path) -> None:
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=path.name + ".data",
        size_threshold=1024,
    )


# --- one measured run (a child process) -----------------------------------------------------------


def session_settings(
    variant: Variant, threads: int, profile: Path | None = None
) -> tuple[Any, int]:
    """``onnxruntime.SessionOptions`` of a variant (as ``onnx_session`` makes them, plus the
    variant's changes) and its intra-op threads."""
    import onnxruntime as ort

    intra = variant.threads if variant.threads is not None else threads
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = 1
    options.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, LEVELS[variant.optimization]
    )
    options.log_severity_level = 3
    if variant.spinning is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", str(variant.spinning))
    if not variant.prepacking:
        options.add_session_config_entry("session.disable_prepacking", "1")
    if profile is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile)
    return options, intra


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Tag the sentences once with the variant ``spec`` describes; timings, tags, padding."""
    import onnxruntime as ort

    import xner.runtime.engines.options as options_module
    import xner.runtime.engines.tagger as tagger_module

    variant = Variant(**spec["variant"])
    options_module.MAX_PADDING = variant.max_padding  # type: ignore[assignment]  (read per call)
    profile = Path(spec["profile"]) if spec.get("profile") else None
    options, intra = session_settings(variant, spec["threads"], profile)
    sessions: list[Any] = []

    def session(path: Any, engine_options: Any) -> Any:
        model = spec.get("model") or str(path)
        made = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        sessions.append(made)
        return made

    calls: list[list[int]] = []
    run_encoder = tagger_module.run_encoder

    def recorded(session: Any, sequences: Sequence[Any], *rest: Any, **kw: Any) -> Any:
        calls.append([len(s) for s in sequences])
        return run_encoder(session, sequences, *rest, **kw)

    # the engine's own code, with this variant's session and a record of its batches
    tagger_module.onnx_session = session  # type: ignore[assignment]  (a stand-in, same call)
    tagger_module.run_encoder = recorded  # type: ignore[assignment]  (a wrapper, same call)
    sentences = bench_quant.english_sentences(Path(spec["data"]), spec["sentences"])
    started = time.perf_counter()
    tagger = tagger_module.Tagger(
        spec["bundle"],
        verify=False,
        intra_threads=intra,
        inter_threads=1,
        max_batch_size=variant.max_batch_size,
        max_batch_tokens=variant.max_batch_tokens,
    )
    load_s = time.perf_counter() - started
    tagger.tag(sentences[:WARM_UP])
    limits = (variant.max_batch_size, variant.max_batch_tokens, variant.max_padding)
    warm_runs = batch_count(calls, *limits)
    calls.clear()
    results, wall, cpu = bench_quant.timed(lambda: tagger.tag(sentences))
    out = {
        "load_s": round(load_s, 3),
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 3),
        "peak_rss_mib": peak_rss_mib(),
        "load_average": facts.load_average()[0],
        "padding_share": padding_share(calls, *limits),
        "batches": batch_count(calls, *limits),
        "tags": [r.tags for r in results],
    }
    if profile is not None:
        trace = Path(sessions[0].end_profiling())
        out["profile"] = aggregate_profile(json.loads(trace.read_text()), warm_runs)
        trace.unlink()
    return out


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run {spec['variant']} failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- the benchmark --------------------------------------------------------------------------------


@dataclass
class Inputs:
    bundle: Path
    float32: Path | None
    graphs: dict[str, Path] = field(default_factory=dict)
    prepared: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def find_inputs(args: argparse.Namespace) -> Inputs:
    """The bundle measured and the float32 bundle re-quantised (None: not at hand)."""
    if args.profile == "tiny":
        tagger, aligner, layer, root = bench_quant.checkpoints("tiny", args.data)
        bundle = args.bundle or bench_quant.export_variant("per-row", tagger, aligner, layer, root)
        needs_float32 = any(VARIANTS[v].graph in FROM_FLOAT32 for v in args.variants)
        float32 = args.float32 or (
            bench_quant.export_variant("float32", tagger, aligner, layer, root)
            if needs_float32
            else None
        )
        return Inputs(bundle, float32)
    key = bench_models.profile_key(bench_models.PROFILES["real"])
    bundle = args.bundle or bench_models.cache_root() / key / "bundle"
    if not (bundle / "tagger" / "model.onnx").is_file():
        raise SystemExit(f"no tagger in {bundle}: run bench/run_bench.py first or give --bundle")
    float32 = args.float32
    if float32 is None:
        found = sorted(
            bench_models.cache_root().glob(f"quant-{key}-*/float32/tagger/model.onnx"),
            key=lambda p: p.stat().st_mtime,
        )
        float32 = found[-1].parents[1] if found else None
    return Inputs(bundle, float32)


def prepare_graphs(inputs: Inputs, names: list[str], work: Path) -> list[str]:
    """Write the graphs the chosen variants need (each by a child process); the variants kept."""
    shipped = inputs.bundle / "tagger" / "model.onnx"
    kept = []
    for name in names:
        graph = VARIANTS[name].graph
        if graph == "shipped":
            kept.append(name)
            continue
        if graph in FROM_FLOAT32 and inputs.float32 is None:
            inputs.skipped[name] = "no float32 tagger at hand (give --float32 or run bench_quant)"
            continue
        if graph not in inputs.graphs:
            source = shipped
            if graph in FROM_FLOAT32:
                assert inputs.float32 is not None
                source = inputs.float32 / "tagger" / "model.onnx"
            out = work / graph / "model.onnx"
            command = [sys.executable, __file__, "--prepare", graph, "--source", str(source)]
            done = subprocess.run(
                [*command, "--out", str(out)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                inputs.skipped[name] = f"preparing failed: {done.stderr.strip()[-300:]}"
                continue
            inputs.graphs[graph] = out
            inputs.prepared[graph] = json.loads(done.stdout.strip().splitlines()[-1])
            logger.info("prepared %s: %s", graph, inputs.prepared[graph])
        kept.append(name)
    return kept


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return {}
    if args.prepare:
        print(json.dumps(prepare(args.prepare, args.source, args.out)))
        return {}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    load_start = facts.load_average()
    started = time.perf_counter()
    inputs = find_inputs(args)
    base = {"bundle": str(inputs.bundle), "threads": args.threads, "data": str(args.data)}
    base["sentences"] = args.sentences
    record: dict[str, Any] = {}
    bench_models.cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-tagger-", dir=bench_models.cache_root()) as tmp:
        work = Path(tmp)
        if "profile" in args.parts:
            spec = {**base, "variant": asdict(VARIANTS["default"]), "profile": str(work / "prof")}
            record["profile"] = run_child(spec)["profile"]
            logger.info("profile done")
        if "variants" in args.parts:
            names = prepare_graphs(inputs, args.variants, work)
            record["variants"] = measure(args, base, inputs, names)
    return finish(args, record, inputs, load_start, started)


def measure(
    args: argparse.Namespace, base: dict[str, Any], inputs: Inputs, names: list[str]
) -> dict[str, Any]:
    """The variants' runs in interleaved rounds, summed up; agreement with ``default``."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    tags: dict[str, list[list[str]]] = {}
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            variant = VARIANTS[name]
            graph = inputs.graphs.get(variant.graph)
            spec = {**base, "variant": asdict(variant), "model": str(graph) if graph else None}
            result = run_child(spec)
            tags.setdefault(name, result.pop("tags"))
            runs[name].append(result)
        logger.info("round %d done", round_ + 1)
    table: dict[str, Any] = {}
    for name in names:
        variant = VARIANTS[name]
        table[name] = {
            **summarise(runs[name], args.sentences),
            "agreement_with_default": agreement(tags[name], tags["default"]),
            "settings": {k: v for k, v in asdict(variant).items() if k != "note"},
            "note": variant.note,
            "runs": runs[name],
        }
    return table


def finish(
    args: argparse.Namespace,
    record: dict[str, Any],
    inputs: Inputs,
    load_start: list[float],
    started: float,
) -> dict[str, Any]:
    import onnxruntime

    full: dict[str, Any] = {
        **facts.record_header("tagger: ONNX Runtime profile and variants", args.name, load_start),
        "settings": {
            "profile": args.profile,
            "bundle": str(inputs.bundle),
            "float32": str(inputs.float32) if inputs.float32 else None,
            "sentences": args.sentences,
            "rounds": args.rounds,
            "threads": args.threads,
            "warm_up_sentences": WARM_UP,
            "onnxruntime": onnxruntime.__version__,
        },
        "prepared": inputs.prepared,
        "skipped": inputs.skipped,
        **record,
    }
    full["wall_s"] = round(time.perf_counter() - started, 1)
    facts.write_record(full, markdown(full), args.out_dir, args.name)
    return full


def markdown(record: dict[str, Any]) -> str:
    s, m = record["settings"], record["machine"]
    lines = [
        f"### {record['date']} `{record['name']}`: the int8 tagger, profiled and varied",
        "",
        f"Profile `{s['profile']}`, bundle `{s['bundle']}`: tagging {s['sentences']} CoNLL-2003 "
        f"English test sentences through the engine, {s['threads']} intra-op threads by default, "
        f"onnxruntime {s['onnxruntime']}.",
        "",
    ]
    if "profile" in record:
        p = record["profile"]
        lines += [
            f"**Operator profile** (default variant; {p['runs']} runs, {p['run_ms']:.1f} ms in "
            f"runs, {p['kernel_ms']:.1f} ms in kernels):",
            "",
            "| op type | ms | share | count |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {op} | {e['ms']:.1f} | {e['share']:.3f} | {e['count']} |"
            for op, e in p["ops"].items()
        ]
        lines += ["", "| slowest nodes | op | ms | share | count |", "|---|---|---:|---:|---:|"]
        lines += [
            f"| {node} | {e['op']} | {e['ms']:.1f} | {e['share']:.3f} | {e['count']} |"
            for node, e in p["top_nodes"].items()
        ]
        lines.append("")
    if "variants" in record:
        lines += [
            f"**Variants** (each run in a fresh process; median of {s['rounds']} interleaved "
            "rounds; agreement: word labels equal to `default`'s, sentences changed):",
            "",
            "| variant | sent/s | min-max | CPU s | load s | peak RSS MiB | padding | agreement "
            "| note |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, row in record["variants"].items():
            low, high = row["sentences_per_s_min_max"]
            agree = row["agreement_with_default"]
            lines.append(
                f"| {name} | {row['sentences_per_s']:.2f} | {low:.2f}-{high:.2f} | "
                f"{row['cpu_s']:.2f} | {row['load_s']:.2f} | {row['peak_rss_mib']:.0f} | "
                f"{row['padding_share']:.3f} | {agree['words']:.4f} "
                f"({agree['sentences_changed']}) | {row['note']} |"
            )
        lines.append("")
    for name, why in record["skipped"].items():
        lines.append(f"Skipped `{name}`: {why}.")
    lines += [
        "",
        f"{m['cpu']} ({', '.join(m['cpu_flags'])}), {m['usable_cores']} usable cores; load "
        f"average {record['load_average_start']} at the start, {record['load_average_end']} at "
        "the end (other work shared the machine).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
