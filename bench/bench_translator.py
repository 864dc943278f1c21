"""Translation settings per CPU: compute type, GEMM backend, ISA, batch size and vocabulary map.

Usage: ``python bench/bench_translator.py [--profile tiny|real] [--sentences 40] [--rounds 3]
[--variants default,int8,mkl,...] [--length 32] [--threads 2] [--bundle PATH] [--name NAME]``.

``--sentences`` MasakhaNER 2.0 test sentences of each of hau, yor, swa, ibo and zul (evenly
spaced through each file, bench_data.py) are translated into ``eng_Latn`` with the bundle's
translator (``xner.runtime.engines.translator.Translator``), one call per language as the
pipelines do, greedy, ``--threads`` intra-op threads. Random-weight models have no natural end,
so every sentence decodes exactly ``--length`` tokens (``min_decoding_length =
max_decoding_length``, as bench/side_xner.py does); ``--length 0`` lets the model end by itself
(trained models).

Each variant (:data:`VARIANTS`: a name -> CTranslate2 environment variables and
:class:`~xner.runtime.engines.options.EngineOptions` knobs; ``a+b`` combines two) runs in a
FRESH subprocess (CTranslate2 reads its environment variables once, when it is loaded), with
``CT2_*`` variables of this shell removed and ``CT2_VERBOSE=1`` set, so that CTranslate2's own
account of its CPU, ISA and GEMM backends is recorded. The variants are interleaved in
``--rounds`` rounds (the order rotates each round); per variant: the median and min-max of
sentences/s and generated tokens/s (a warm-up of two sentences not counted), CPU seconds and
peak RSS (``VmHWM``) of the subprocess, the model load time (constructing the Translator; the
bundle's SHA-256 check before it is timed apart), the time from the process start to the loaded
model, and the token agreement of its translations with those of ``default`` (always run: the
bundle's saved type, ``int8`` -> ``int8_float32`` on CPU). A compute type that
``ctranslate2.get_supported_compute_types("cpu")`` does not list under the variant's
environment is skipped with the reason; a variant whose process fails is recorded as failed.

``--profile tiny`` exports the tiny random translator once into the cache (``$XNER_BENCH_CACHE``
or ``~/.cache/xner-bench``, ``translator-tiny-<hash>``); ``real`` takes the real-size bundle
bench/run_bench.py builds (it is never built here); ``--bundle`` takes any bundle.

Writes ``bench/results/<date>-<name>.json`` and ``.md`` (atomically) and prints the table; the
load average is recorded at the start, the end, and before every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_data  # noqa: E402
import bench_models  # noqa: E402
import facts  # noqa: E402

logger = logging.getLogger("xner.bench")
DEFAULT_DATA = Path(os.environ.get("XNER_SHARED_DATA", BENCH.parent.parent / "shared" / "data"))
ENGLISH = "eng_Latn"
REFERENCE = "default"
CT2_LOG = "[ctranslate2]"


@dataclass(frozen=True)
class Variant:
    """CTranslate2 environment variables and EngineOptions knobs of one variant."""

    env: dict[str, str] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    force_vmap: bool = False
    """Decode into English with the bundle's vocabulary map even where the export did not
    validate it (random weights never agree well enough): measures what the smaller output
    layer saves; a bench-only override of ``Translator.restricted_targets``."""


VARIANTS: dict[str, Variant] = {
    REFERENCE: Variant(note="the bundle's saved type (int8 -> int8_float32 on CPU)"),
    # compute types
    "int8_float32": Variant(knobs={"compute_type": "int8_float32"}),
    "int8": Variant(knobs={"compute_type": "int8"}, note="int8 weights, int8 activations"),
    "int8_bfloat16": Variant(knobs={"compute_type": "int8_bfloat16"}),
    "int16": Variant(knobs={"compute_type": "int16"}, note="needs the MKL backend"),
    "float32": Variant(knobs={"compute_type": "float32"}, note="reference point"),
    # GEMM backend and ISA (read by CTranslate2 at load). CTranslate2 4.8 uses MKL by default on
    # GenuineIntel CPUs only and never picks AVX512 by itself (AVX2 at most: only
    # CT2_FORCE_CPU_ISA selects it); CT2_PACKED_GEMM (default on) packs weights for MKL only, and
    # CT2_USE_EXPERIMENTAL_PACKED_GEMM is not read by it (its binary does not hold the name).
    "mkl": Variant(env={"CT2_USE_MKL": "1"}, note="Intel MKL GEMM, packed weights"),
    "no-mkl": Variant(env={"CT2_USE_MKL": "0"}, note="oneDNN GEMM"),
    "mkl-unpacked": Variant(
        env={"CT2_USE_MKL": "1", "CT2_PACKED_GEMM": "0"}, note="MKL GEMM without packed weights"
    ),
    "avx2": Variant(env={"CT2_FORCE_CPU_ISA": "AVX2"}),
    "avx512": Variant(env={"CT2_FORCE_CPU_ISA": "AVX512"}),
    # batching (xner's defaults: 32 sentences, 8192 tokens)
    "batch8": Variant(knobs={"max_batch_size": 8}),
    "batch16": Variant(knobs={"max_batch_size": 16}),
    "batch32": Variant(knobs={"max_batch_size": 32}),
    "batch64": Variant(knobs={"max_batch_size": 64}),
    "tokens1024": Variant(knobs={"max_batch_tokens": 1024}, note="token budget binds"),
    # output layer
    "no-vmap": Variant(knobs={"vocab_restriction": False}, note="whole output layer"),
    "vmap-forced": Variant(note="vocabulary map used even if not validated", force_vmap=True),
}
"""The known variants; ``--variants`` takes names from here, or ``a+b`` for both at once."""


def combine(name: str, known: dict[str, Variant] | None = None) -> Variant:
    """The variant called ``name``: a known one, or ``a+b(+c...)`` (their environments and
    knobs together; a variable or knob set to two different values is an error)."""
    known = VARIANTS if known is None else known
    parts = [part.strip() for part in name.split("+")]
    env: dict[str, str] = {}
    knobs: dict[str, Any] = {}
    notes = []
    force_vmap = False
    for part in parts:
        if part not in known:
            raise ValueError(f"unknown variant {part!r}; known: {', '.join(known)} (or a+b)")
        variant = known[part]
        for mine, theirs in ((env, variant.env), (knobs, variant.knobs)):
            for key, value in theirs.items():
                if key in mine and mine[key] != value:
                    raise ValueError(
                        f"variant {name!r} sets {key} to both {mine[key]!r} and {value!r}"
                    )
                mine[key] = value
        if variant.note:
            notes.append(variant.note)
        force_vmap = force_vmap or variant.force_vmap
    if force_vmap and knobs.get("vocab_restriction") is False:
        raise ValueError(f"variant {name!r} both forces and switches off the vocabulary map")
    note = "; ".join(notes) if len(parts) > 1 else variant.note
    return Variant(env, knobs, note, force_vmap)


def parse_variants(text: str | None) -> dict[str, Variant]:
    """``--variants``: comma-separated names (``all`` or none: every known one); ``default``
    always comes first (the agreement reference), repeats are dropped."""
    from xner.runtime.names import split_names

    names = list(split_names(text)) or ["all"]
    if "all" in names:
        names = [n for n in names if n != "all"] + list(VARIANTS)
    chosen = {REFERENCE: VARIANTS[REFERENCE]}
    for name in names:
        if name not in chosen:
            chosen[name] = combine(name)
    return chosen


def variant_env(base: dict[str, str], variant: Variant, threads: int) -> dict[str, str]:
    """The environment of a variant's process: ``base`` without its ``CT2_*`` variables (a
    setting of the shell must not leak into every variant), the threads pinned, the variant's
    variables, and ``CT2_VERBOSE=1`` (CTranslate2 then logs its ISA and backends at load)."""
    env = {key: value for key, value in base.items() if not key.startswith("CT2_")}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONNOUSERSITE="1")
    env.update(variant.env)
    env["CT2_VERBOSE"] = "1"
    return env


def backend_lines(stderr: str) -> list[str]:
    """What CTranslate2 said at load about the CPU, ISA, GEMM backends and compute type (the
    ``[ctranslate2]`` log lines, timestamps and thread ids cut off)."""
    lines = []
    for line in stderr.splitlines():
        if CT2_LOG not in line or "Loaded model" in line:
            continue
        text = line.split("]", 4)[-1].strip() if line.count("]") >= 4 else line.strip()
        if any(k in text for k in ("CPU:", "ISA", "MKL", "backend", "compute type")):
            lines.append(text.lstrip("- ").strip())
    return lines


def backend_summary(lines: list[str]) -> str:
    """The ISA and the GEMM backends of :func:`backend_lines`, short (``AVX2; S8 DNNL; F32
    MKL packed``), for the table."""
    parts = []
    for line in lines:
        if line.startswith("Selected ISA:"):
            parts.append(line.split(":", 1)[1].strip())
        for key, short in (("GEMM_S8 backend:", "S8"), ("SGEMM backend:", "F32")):
            if line.startswith(key):
                value = line.split(":", 1)[1].strip()
                packed = " packed" if "packed: true" in value else ""
                parts.append(f"{short} {value.split()[0]}{packed}")
    return "; ".join(parts) or "-"


# -- aggregation --------------------------------------------------------------------------------

FIGURES = (
    "sentences_per_s",
    "tokens_per_s",
    "translate_s",
    "cpu_s",
    "peak_rss_mb",
    "verify_s",
    "load_s",
    "start_to_loaded_s",
)


def spread(values: list[float]) -> dict[str, float | None]:
    """Median, min and max (None for no values)."""
    if not values:
        return {"median": None, "min": None, "max": None}
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def summarise(runs: list[dict[str, Any]], reference: list[list[str]] | None) -> dict[str, Any]:
    """One variant's row from its runs (each a child record): the spread of every figure, the
    token agreement of its first run's translations with ``reference`` (None: not compared),
    and whether all runs translated alike."""
    from xner.export.validate import token_agreement

    row: dict[str, Any] = {name: spread([run[name] for run in runs]) for name in FIGURES}
    first = runs[0]
    row["runs"] = len(runs)
    row["compute_type"] = first["compute_type"]
    row["vmap_used"] = first["vmap_used"]
    row["vmap_validated"] = first.get("vmap_validated")
    row["same_output_every_run"] = all(run["tokens"] == first["tokens"] for run in runs)
    if reference is None:
        row["token_agreement"] = row["exact_match"] = None
    else:
        agreement = token_agreement(first["tokens"], reference)
        row["token_agreement"] = round(agreement["token_agreement"], 4)
        row["exact_match"] = round(agreement["exact_match"], 4)
    return row


# -- the child: one variant in its own process ---------------------------------------------------


def child(config_path: Path, out_path: Path) -> None:
    """Translate the sentences with one variant's settings; write the record to ``out_path``."""
    started_at = float(os.environ.get("XNER_BENCH_LAUNCHED", time.time()))
    config = json.loads(config_path.read_text(encoding="utf-8"))
    import ctranslate2

    supported = sorted(ctranslate2.get_supported_compute_types("cpu"))
    knobs = dict(config["knobs"])
    wanted = knobs.get("compute_type")
    if wanted and wanted not in supported:
        reason = f"{wanted} is not among the CPU compute types CTranslate2 lists: {supported}"
        out_path.write_text(json.dumps({"skipped": reason, "supported": supported}))
        return
    from measure import peak_mb

    from xner.runtime.bundles.bundle import Bundle
    from xner.runtime.engines.translator import Translator

    length = config["length"] or None
    begin = time.perf_counter()
    bundle = Bundle.load(config["bundle"], verify=True)
    verify_s = time.perf_counter() - begin
    begin = time.perf_counter()
    translator = Translator(
        bundle,
        device="cpu",
        intra_threads=config["threads"],
        inter_threads=1,
        max_decoding_length=length,
        min_decoding_length=length or 0,
        **knobs,
    )
    load_s = time.perf_counter() - begin
    loaded_at = time.time()
    restriction = translator.settings.vocabulary_restriction
    if config["force_vmap"]:
        if restriction is None:
            out_path.write_text(json.dumps({"skipped": "the bundle has no vocabulary map"}))
            return
        translator.restricted_targets = frozenset(restriction.targets)
    groups: dict[str, list[str]] = {}
    for item in config["items"]:
        groups.setdefault(item["lang"], []).append(item["text"])
    first_lang = next(iter(groups))
    translator.translate(groups[first_lang][:2], first_lang, ENGLISH)  # warm-up, not timed
    cpu, wall = time.process_time(), time.perf_counter()
    tokens: list[list[str]] = []
    for lang, texts in groups.items():
        tokens.extend(list(t.tokens) for t in translator.translate(texts, lang, ENGLISH))
    translate_s = time.perf_counter() - wall
    record = {
        "supported": supported,
        "compute_type": translator.compute_type,
        "vmap_used": bool(translator.restricted_targets),
        "vmap_validated": None if restriction is None else restriction.validated,
        "options": translator.options.recorded(),
        "verify_s": verify_s,
        "load_s": load_s,
        "start_to_loaded_s": loaded_at - started_at,
        "translate_s": translate_s,
        "cpu_s": time.process_time() - cpu,
        "sentences_per_s": len(tokens) / translate_s,
        "tokens_per_s": sum(len(t) for t in tokens) / translate_s,
        "generated_tokens": sum(len(t) for t in tokens),
        "peak_rss_mb": peak_mb(),
        "tokens": tokens,
    }
    out_path.write_text(json.dumps(record), encoding="utf-8")


def run_variant(
    name: str, variant: Variant, settings: dict[str, Any], work: Path, threads: int
) -> dict[str, Any]:
    """Run one variant in a fresh process; its record (``skipped`` or ``failed`` when so)."""
    config_path, out_path = work / "config.json", work / "out.json"
    config = {**settings, "knobs": variant.knobs, "force_vmap": variant.force_vmap}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    out_path.unlink(missing_ok=True)
    env = variant_env(dict(os.environ), variant, threads)
    env["XNER_BENCH_LAUNCHED"] = repr(time.time())
    load_before = facts.load_average()
    command = [sys.executable, __file__, "--child", str(config_path), str(out_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out_path.is_file():
        last = done.stderr.strip().splitlines()[-1:] or ["no output"]
        logger.warning("%s failed (%d): %s", name, done.returncode, last[0])
        return {"failed": f"exit {done.returncode}: {last[0]}", "load_average": load_before}
    record: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
    record["backend"] = backend_lines(done.stderr)
    record["load_average"] = load_before
    return record


# -- the parent ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--bundle", type=Path, default=None, help="default: the profile's")
    parser.add_argument("--sentences", type=int, default=40, help="per language (5 languages)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each variant")
    parser.add_argument(
        "--variants", default=None, help=f"names or a+b; default all: {','.join(VARIANTS)}"
    )
    parser.add_argument("--length", type=int, default=32, help="tokens per sentence; 0: natural")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--name", default=None, help="default: translator-<profile>-<cpu family>")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--export-tiny", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child or args.export_tiny:
        return args
    try:
        args.variants = parse_variants(args.variants)
    except ValueError as error:
        parser.error(str(error))
    if args.rounds < 1 or args.sentences < 1 or args.length < 0:
        parser.error("--rounds and --sentences must be at least 1, --length at least 0")
    args.name = args.name or f"translator-{args.profile}-{facts.cpu_family()}"
    return args


def tiny_bundle() -> Path:
    """The tiny translator-only bundle, exported once (in a child process: it imports torch)."""
    exporter = (BENCH.parent / "export" / "translator.py").read_bytes()
    root = (
        bench_models.cache_root() / f"translator-tiny-{hashlib.sha256(exporter).hexdigest()[:10]}"
    )
    bundle = root / "bundle"
    if not (bundle / "manifest.json").is_file():
        subprocess.run([sys.executable, __file__, "--export-tiny", str(root)], check=True)
    return bundle


def export_tiny(root: Path) -> None:
    from xner.export import ExportOptions, TranslatorSpec, build_tiny_models, export_bundle

    models = build_tiny_models(root / "models")
    export_bundle(
        ExportOptions(out=root / "bundle", translator=TranslatorSpec(str(models.translator)))
    )


def default_bundle(profile: str) -> Path:
    if profile == "tiny":
        return tiny_bundle()
    real = bench_models.PROFILES["real"]
    bundle = bench_models.cache_root() / bench_models.profile_key(real) / "bundle"
    if not (bundle / "manifest.json").is_file():
        raise SystemExit(f"no real-size bundle at {bundle}: build it with bench/run_bench.py")
    return bundle


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.child:
        child(*args.child)
        return {}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.export_tiny:
        export_tiny(args.export_tiny)
        return {}
    load_start = facts.load_average()
    began = time.perf_counter()
    import ctranslate2

    bundle = args.bundle or default_bundle(args.profile)
    items = bench_data.load_sentences(args.data, per_language=args.sentences)
    settings = {
        "bundle": str(bundle),
        "items": items,
        "length": args.length,
        "threads": args.threads,
    }
    variants: dict[str, Variant] = args.variants
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    stopped: dict[str, dict[str, Any]] = {}  # skipped or failed: not run again
    names = list(variants)
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            order = names[k % len(names) :] + names[: k % len(names)]
            for name in order:
                if name in stopped:
                    continue
                logger.info("round %d/%d: %s", k + 1, args.rounds, name)
                record = run_variant(name, variants[name], settings, Path(tmp), args.threads)
                if "skipped" in record or "failed" in record:
                    stopped[name] = record
                    if name == REFERENCE:
                        raise SystemExit(f"the default variant did not run: {record}")
                    continue
                record["round"] = k + 1
                runs[name].append(record)
    reference = runs[REFERENCE][0]["tokens"]
    rows: dict[str, dict[str, Any]] = {}
    for name, variant in variants.items():
        base = {"env": variant.env, "knobs": variant.knobs, "note": variant.note}
        base["force_vmap"] = variant.force_vmap
        if name in stopped:
            rows[name] = {**base, **{k: v for k, v in stopped[name].items() if k != "tokens"}}
            continue
        mine = runs[name]
        rows[name] = {
            **base,
            **summarise(mine, None if name == REFERENCE else reference),
            "backend": mine[0]["backend"],
            "load_average_per_run": [run["load_average"] for run in mine],
        }
    if REFERENCE in rows:
        rows[REFERENCE]["token_agreement"] = rows[REFERENCE]["exact_match"] = 1.0
    record: dict[str, Any] = {
        **facts.record_header("translation settings per CPU", args.name, load_start),
        "ctranslate2": ctranslate2.__version__,
        "supported_compute_types_cpu": sorted(ctranslate2.get_supported_compute_types("cpu")),
        "settings": {
            "profile": args.profile,
            "bundle": str(bundle),
            "languages": list(bench_data.LANGUAGES),
            "sentences_per_language": args.sentences,
            "sentences": len(items),
            "length": args.length,
            "threads": args.threads,
            "rounds": args.rounds,
            "variants": list(variants),
        },
        "rows": rows,
    }
    record["wall_s"] = round(time.perf_counter() - began, 1)
    facts.write_record(record, markdown(record), args.out_dir, args.name)
    return record


def _cell(figure: dict[str, float | None], digits: int = 1) -> str:
    if figure["median"] is None:
        return "-"
    return f"{figure['median']:.{digits}f} ({figure['min']:.{digits}f}-{figure['max']:.{digits}f})"


def markdown(record: dict[str, Any]) -> str:
    s, m = record["settings"], record["machine"]
    length = f"exactly {s['length']} tokens each" if s["length"] else "natural lengths"
    lines = [
        f"### {record['date']} `{record['name']}`: translation settings per CPU",
        "",
        f"{s['sentences']} MasakhaNER 2.0 test sentences ({s['sentences_per_language']} each of "
        f"{', '.join(s['languages'])}) into English, one call per language, greedy, {length}; "
        f"{s['threads']} threads; each variant in a fresh process, median (min-max) of "
        f"{s['rounds']} interleaved rounds. CTranslate2 {record['ctranslate2']}, CPU compute "
        f"types {record['supported_compute_types_cpu']}. Agreement: position-wise tokens equal "
        f"to `{REFERENCE}`'s.",
        "",
        "| variant | settings | compute type | sent/s | tokens/s | CPU s | peak RSS MB | load s "
        "| agreement | backend |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in record["rows"].items():
        knobs = {**row["env"], **row["knobs"], **({"force_vmap": 1} if row["force_vmap"] else {})}
        what = ", ".join(f"{k}={v}" for k, v in knobs.items()) or "-"
        if "skipped" in row or "failed" in row:
            why = row.get("skipped") or f"failed: {row.get('failed')}"
            lines.append(f"| {name} | {what} | - | - | - | - | - | - | - | {why} |")
            continue
        backend = backend_summary(row["backend"])
        vmap = ", vmap" if row["vmap_used"] else ""
        lines.append(
            f"| {name} | {what} | {row['compute_type']}{vmap} | {_cell(row['sentences_per_s'], 2)} "
            f"| {_cell(row['tokens_per_s'])} | {_cell(row['cpu_s'])} | "
            f"{_cell(row['peak_rss_mb'], 0)} | {_cell(row['load_s'], 2)} | "
            f"{row['token_agreement']:.4f} | {backend} |"
        )
    lines += [
        "",
        f"{m['cpu']} ({m['cpu_family']}; {', '.join(m['cpu_flags'])}), {m['usable_cores']} usable "
        f"cores; load average {record['load_average_start']} at the start, "
        f"{record['load_average_end']} at the end.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
