"""Speed, fidelity and batch invariance of the tagger and aligner: fp32, per-tensor, per-row int8.

Usage: ``python bench/bench_quant.py [--profile tiny|real] [--sentences 200] [--pairs 100]
[--repeats 3] [--threads 2] [--name NAME]``.

The same checkpoints are exported three times (tagger and aligner only): ``float32`` (no
quantisation), ``per-tensor`` (int8, onnxruntime's dynamic quantisation: one activation scale per
batch, the export before issue 15) and ``per-row`` (int8, one activation scale per token: the
default since issue 15). ``--profile tiny`` builds the tiny random models of the tests;
``real`` uses the real-size random-weight checkpoints that bench/run_bench.py builds and caches
(XLM-R-large tagger, mBERT aligner at layer 8). The exported bundles are cached beside them
(``$XNER_BENCH_CACHE`` or ``~/.cache/xner-bench``, ``quant-<profile>-<hash of the quantiser>``);
nothing else in the cache is touched.

Measured for each variant, the variants interleaved in each of ``--repeats`` rounds (median
taken): tagging ``--sentences`` CoNLL-2003 English test sentences (evenly spaced through the
file) in one chunk, and aligning ``--pairs`` English-German Europarl pairs: sentences (pairs)
per second, wall clock and CPU seconds of this process (CPU time suffers less from other work on
the machine), word-label agreement with fp32 and link F1 against fp32, and batch invariance: how
many of the first ``--alone`` sentences (pairs) get other labels (links) alone than in the chunk.
The load average is recorded at the start, the end and for each variant.

Writes ``bench/results/<date>-<name>.json`` and ``.md`` (atomically) and prints the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_data  # noqa: E402
import bench_models  # noqa: E402
import facts  # noqa: E402

from xner.runtime.engines.aligner import Aligner  # noqa: E402
from xner.runtime.engines.tagger import Tagger  # noqa: E402

logger = logging.getLogger("xner.bench")
DEFAULT_DATA = BENCH.parent.parent / "shared" / "data"
VARIANTS = {  # name -> (ONNX quantization, activations)
    "float32": ("float32", "per-row"),
    "per-tensor": ("int8", "per-tensor"),
    "per-row": ("int8", "per-row"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--alone", type=int, default=64, help="sentences also run one by one")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--name", default=None, help="default: quant-<profile>")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument(
        "--bundles",
        type=_bundles,
        default={},
        help="measure these bundles instead of exporting: float32=PATH,per-tensor=PATH,... "
        "(a real-size export needs about 17 GB of memory at its peak)",
    )
    parser.add_argument("--export", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=("tagger", "aligner"), help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--layer", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.name = args.name or f"quant-{args.profile}"
    return args


def _bundles(text: str) -> dict[str, Path]:
    from xner.runtime.names import split_names

    chosen = dict(item.partition("=")[::2] for item in split_names(text))
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variant {unknown[0]}; known: {list(VARIANTS)}")
    return {name: Path(path) for name, path in chosen.items()}


def checkpoints(profile: str, data: Path) -> tuple[Path, Path, int, Path]:
    """Tagger and aligner checkpoint folders, the aligner layer, and where to cache bundles."""
    quantiser = (BENCH.parent / "export" / "quantize.py").read_bytes()
    version = hashlib.sha256(quantiser).hexdigest()[:10]
    if profile == "real":
        built = bench_models.ensure_models(bench_models.PROFILES["real"], data)
        key = bench_models.profile_key(bench_models.PROFILES["real"])
        root = bench_models.cache_root() / f"quant-{key}-{version}"
        return built.tagger, built.aligner, built.aligner_layer, root
    from xner.export.tiny import build_tiny_models

    root = bench_models.cache_root() / f"quant-tiny-{version}"
    stamp = root / "models" / "done.json"
    if not stamp.is_file():
        build_tiny_models(root / "models")
        stamp.write_text("{}\n", encoding="utf-8")
    return root / "models" / "tagger", root / "models" / "aligner", 1, root


def export_variant(name: str, tagger: Path, aligner: Path, layer: int, root: Path) -> Path:
    """The variant's bundle (tagger and aligner), exported once and cached.

    Each part is exported by a child process (``--export``): a real-size export holds several
    copies of a model at its peak, and a process that exported once keeps much of that memory.
    """
    bundle = root / name
    for part in ("tagger", "aligner"):
        if (bundle / part / "model.onnx").is_file():
            continue
        started = time.perf_counter()
        command = [sys.executable, __file__, "--export", name, "--part", part]
        command += ["--checkpoint", str(tagger if part == "tagger" else aligner)]
        subprocess.run([*command, "--layer", str(layer), "--out", str(bundle)], check=True)
        logger.info("exported %s %s in %.0f s", name, part, time.perf_counter() - started)
    return bundle


def export_part(name: str, part: str, checkpoint: Path, layer: int, bundle: Path) -> None:
    """``--export``: one part of one variant into ``bundle`` (added to what it holds)."""
    from xner.export import AlignerSpec, ExportOptions, TaggerSpec, export_bundle
    from xner.export.options import OnnxOptions

    quantization, activations = VARIANTS[name]
    options = ExportOptions(
        out=bundle, onnx=OnnxOptions(quantization=quantization, activations=activations)
    )
    if part == "tagger":
        options.tagger = TaggerSpec(str(checkpoint))
    else:
        options.aligner = AlignerSpec(str(checkpoint), layer=layer)
    export_bundle(options)


def english_sentences(data: Path, count: int) -> list[list[str]]:
    sentences = bench_data.read_conll_words(data / "conll2003_en" / "test.conll")
    step = len(sentences) / count
    return [sentences[int(k * step)] for k in range(count)]


def parallel_pairs(data: Path, count: int) -> list[tuple[list[str], list[str]]]:
    pairs = []
    with open(data / "europarl_ner" / "parallel.en-de.jsonl", encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            if item["src_tokens"] and item["tgt_tokens"]:
                pairs.append((item["src_tokens"], item["tgt_tokens"]))
            if len(pairs) >= count:
                break
    return pairs


def timed(run: Any) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = run()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.export:
        export_part(args.export, args.part, args.checkpoint, args.layer, args.out)
        return {}
    load_start = facts.load_average()
    started = time.perf_counter()
    bundles = dict(args.bundles)
    if len(bundles) < len(VARIANTS):
        tagger_dir, aligner_dir, layer, root = checkpoints(args.profile, args.data)
        for name in VARIANTS:
            if name not in bundles:
                bundles[name] = export_variant(name, tagger_dir, aligner_dir, layer, root)
    bundles = {name: bundles[name] for name in VARIANTS}
    sentences = english_sentences(args.data, args.sentences)
    pairs = parallel_pairs(args.data, args.pairs)
    engines = {
        name: (
            Tagger(bundle, verify=False, intra_threads=args.threads),
            Aligner(bundle, verify=False, intra_threads=args.threads),
        )
        for name, bundle in bundles.items()
    }
    rows: dict[str, dict[str, Any]] = {name: {"tagger": [], "aligner": []} for name in VARIANTS}
    outputs: dict[str, dict[str, Any]] = {}
    for name, (tagger, aligner) in engines.items():  # warm up; outputs; alone
        tagger.tag(sentences[:4])
        aligner.align(pairs[:4])
        alone_tags = [tagger.tag([words])[0].tags for words in sentences[: args.alone]]
        alone_links = [aligner.align([pair])[0].pairs.tolist() for pair in pairs[: args.alone]]
        outputs[name] = {"alone_tags": alone_tags, "alone_links": alone_links}
    for round_ in range(args.repeats):
        order = list(VARIANTS)[round_ % len(VARIANTS) :] + list(VARIANTS)[: round_ % len(VARIANTS)]
        for name in order:
            tagger, aligner = engines[name]
            results, wall, cpu = timed(lambda t=tagger: t.tag(sentences))
            rows[name]["tagger"].append((wall, cpu, facts.load_average()[0]))
            outputs[name]["tags"] = [r.tags for r in results]
            links, wall, cpu = timed(lambda a=aligner: a.align(pairs))
            rows[name]["aligner"].append((wall, cpu, facts.load_average()[0]))
            outputs[name]["links"] = [r.pairs.tolist() for r in links]
            logger.info("round %d %s done", round_ + 1, name)
    reference = outputs["float32"]
    table: dict[str, dict[str, Any]] = {}
    for name in VARIANTS:
        out = outputs[name]
        tag_runs, align_runs = rows[name]["tagger"], rows[name]["aligner"]
        table[name] = {
            "quantization": VARIANTS[name][0],
            "activations": VARIANTS[name][1] if VARIANTS[name][0] == "int8" else "float32",
            "model_mb": {
                part: round(facts.folder_mb(bundles[name] / part), 1)
                for part in ("tagger", "aligner")
            },
            "tagger_runs": [[round(x, 3) for x in run] for run in tag_runs],
            "tagger_sentences_per_s": round(len(sentences) / _median(tag_runs, 0), 2),
            "tagger_cpu_ms_per_sentence": round(1000 * _median(tag_runs, 1) / len(sentences), 2),
            "label_agreement_vs_fp32": _agreement(out["tags"], reference["tags"]),
            "sentences_changed_alone_vs_chunk": _changed(out["alone_tags"], out["tags"]),
            "aligner_runs": [[round(x, 3) for x in run] for run in align_runs],
            "aligner_pairs_per_s": round(len(pairs) / _median(align_runs, 0), 2),
            "aligner_cpu_ms_per_pair": round(1000 * _median(align_runs, 1) / len(pairs), 2),
            "link_f1_vs_fp32": _link_f1(out["links"], reference["links"]),
            "pairs_changed_alone_vs_chunk": _changed(out["alone_links"], out["links"]),
        }
    record: dict[str, Any] = {
        **facts.record_header("int8 activations: per-tensor vs per-row", args.name, load_start),
        "settings": {
            "profile": args.profile,
            "bundles": {name: str(path) for name, path in bundles.items()},
            "sentences": len(sentences),
            "pairs": len(pairs),
            "alone": min(args.alone, len(sentences)),
            "repeats": args.repeats,
            "threads": args.threads,
            "load_average_per_run": "third item of each run: [wall s, cpu s, load]",
        },
        "rows": table,
    }
    record["wall_s"] = round(time.perf_counter() - started, 1)
    facts.write_record(record, markdown(record), args.out_dir, args.name)
    return record


def _median(runs: list[tuple[float, float, float]], column: int) -> float:
    return statistics.median(run[column] for run in runs)


def _agreement(tags: list[list[str]], reference: list[list[str]]) -> float:
    pairs = zip(tags, reference, strict=True)
    same = sum(a == b for x, y in pairs for a, b in zip(x, y, strict=True))
    total = sum(len(x) for x in reference)
    return round(same / total, 4) if total else 1.0


def _link_f1(links: list[list[list[int]]], reference: list[list[list[int]]]) -> float:
    common = both = 0
    for mine, theirs in zip(links, reference, strict=True):
        a, b = {tuple(x) for x in mine}, {tuple(x) for x in theirs}
        common += len(a & b)
        both += len(a) + len(b)
    return round(2 * common / both, 4) if both else 1.0


def _changed(alone: list[Any], together: list[Any]) -> list[int]:
    """[changed, compared]: items whose result alone differs from the one in the chunk."""
    return [sum(a != b for a, b in zip(alone, together[: len(alone)], strict=True)), len(alone)]


def markdown(record: dict[str, Any]) -> str:
    s, m = record["settings"], record["machine"]
    lines = [
        f"### {record['date']} `{record['name']}`: int8 activations per tensor vs per row",
        "",
        f"Profile `{s['profile']}`: tagging {s['sentences']} CoNLL-2003 English test sentences "
        f"in one chunk, aligning {s['pairs']} English-German Europarl pairs; {s['threads']} "
        f"threads, median of {s['repeats']} interleaved rounds. Changed: of the first "
        f"{s['alone']}, those whose labels (links) differ alone and in the chunk.",
        "",
        "| variant | tagger sent/s | tagger CPU ms/sent | labels = fp32 | changed | "
        "aligner pairs/s | aligner CPU ms/pair | link F1 vs fp32 | changed | MB (tagger, "
        "aligner) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in record["rows"].items():
        sizes = row["model_mb"]
        lines.append(
            f"| {name} | {row['tagger_sentences_per_s']:.2f} | "
            f"{row['tagger_cpu_ms_per_sentence']:.1f} | {row['label_agreement_vs_fp32']:.4f} | "
            f"{row['sentences_changed_alone_vs_chunk'][0]} of "
            f"{row['sentences_changed_alone_vs_chunk'][1]} | {row['aligner_pairs_per_s']:.2f} | "
            f"{row['aligner_cpu_ms_per_pair']:.1f} | {row['link_f1_vs_fp32']:.4f} | "
            f"{row['pairs_changed_alone_vs_chunk'][0]} of "
            f"{row['pairs_changed_alone_vs_chunk'][1]} | {sizes['tagger']}, {sizes['aligner']} |"
        )
    lines += [
        "",
        f"{m['cpu']} ({', '.join(m['cpu_flags'])}), {m['usable_cores']} usable cores; load "
        f"average {record['load_average_start']} at the start, {record['load_average_end']} at "
        f"the end (other work shared the machine). Random-weight models: agreement figures "
        "show how far int8 moves the outputs, not accuracy.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
