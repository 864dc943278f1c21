"""xner against the reference stack on real sentences: speed, memory, load time and footprint.

Usage: ``python bench/run_bench.py [--quick] [--profile real|small] [--name NAME] ...``
(``make bench``, ``make bench-quick``). Steps:

1. build (first time only) random-weight models at the real sizes and export them into a bundle,
   cached in ``$XNER_BENCH_CACHE`` or ``~/.cache/xner-bench`` (bench_models.py); ``--models``
   and ``--bundle`` take ready ones instead (the tests pass the tiny fixtures);
2. read ``--per-language`` MasakhaNER 2.0 test sentences of each language (bench_data.py);
3. run each side in its own subprocess (side_runner.py) with the same threads, interleaved over
   ``--rounds`` rounds (default 3 quick, 2 full): xner, reference, xner, reference, ...; xner
   runs torch-free (the import blocker of tests/torchfree.py makes the run fail if torch,
   transformers or optimum is imported), the reference is transformers + simalign; every ratio
   reported is the median of the per-round ratios with their min-max (report.py), and the load
   average is recorded before and after every run;
4. measure install sizes, sizes on disk and the cold start of ``xner --help`` (facts.py);
5. write ``bench/results/<date>-<name>-<cpu family>.json`` and ``.md`` (atomically; the family,
   ``amd`` or ``intel``, from /proc/cpuinfo) and print the table; with ``--readme``, also put
   the table into README.md's Benchmarks section, in that family's place (between the
   ``<!-- bench:amd:start -->`` and ``<!-- bench:amd:end -->`` markers, say).

Run it with nothing else heavy on the machine: CTranslate2, ONNX Runtime and torch all slow down
badly when their threads compete with another process. The load average at start and end, and
before and after every side's run, is recorded.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_data  # noqa: E402
import bench_models  # noqa: E402
import facts  # noqa: E402
import report  # noqa: E402

from xner.runtime.languages import resolve_language  # noqa: E402
from xner.runtime.names import split_names  # noqa: E402

logger = logging.getLogger("xner.bench")
DEFAULT_DATA = Path(os.environ.get("XNER_SHARED_DATA", ROOT.parent / "shared" / "data"))
TORCH_FREE_EXIT = 97


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="4 sentences per language, 1 run of each stage"
    )
    parser.add_argument("--profile", choices=sorted(bench_models.PROFILES), default="real")
    parser.add_argument("--models", type=Path, help="folder with translator/ tagger/ aligner/")
    parser.add_argument("--bundle", type=Path, help="a bundle exported from --models")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--languages", default=",".join(bench_data.LANGUAGES))
    parser.add_argument("--per-language", type=int, default=None, help="default 40 (quick: 4)")
    parser.add_argument("--length", type=int, default=32, help="generated tokens per sentence")
    parser.add_argument("--beam", type=int, default=1, help="beam size (1: greedy, xner's default)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of both sides")
    parser.add_argument("--batch-size", type=int, default=16, help="reference batch size")
    parser.add_argument("--align-method", default="itermax", choices=("itermax", "argmax"))
    parser.add_argument("--repeats", type=int, default=None, help="runs of tag/align (def. 3)")
    parser.add_argument("--translate-repeats", type=int, default=None, help="default 1")
    parser.add_argument("--e2e-repeats", type=int, default=None, help="default 1")
    parser.add_argument(
        "--rounds", type=int, default=None, help="interleaved runs of each side (3 quick, 2 full)"
    )
    parser.add_argument(
        "--cold-start-runs", type=int, default=None, help="default 7 (quick 3); 0: skip"
    )
    parser.add_argument(
        "--xner-batch-size", type=int, default=None, help="xner max_batch_size (default: xner's)"
    )
    parser.add_argument("--name", default=None, help="result name (default: the profile)")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--no-install-size", action="store_true", help="skip install sizes")
    parser.add_argument(
        "--readme",
        type=Path,
        nargs="?",
        const=ROOT / "README.md",
        default=None,
        help="put the table into this README's Benchmarks section (default README.md)",
    )
    args = parser.parse_args(argv)
    if (args.models is None) != (args.bundle is None):
        parser.error("--models and --bundle go together")
    quick = args.quick
    args.per_language = args.per_language or (4 if quick else 40)
    args.repeats = args.repeats or (1 if quick else 3)
    args.translate_repeats = args.translate_repeats or 1
    args.e2e_repeats = args.e2e_repeats or 1
    args.rounds = args.rounds or (3 if quick else 2)
    if args.cold_start_runs is None:
        args.cold_start_runs = 3 if quick else 7
    args.name = args.name or (args.profile + ("-quick" if quick else ""))
    return args


def torch_free_prelude() -> str | None:
    """The import blocker of tests/torchfree.py (None when the tests folder is absent)."""
    path = ROOT / "tests" / "torchfree.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("xner_bench_torchfree", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.PRELUDE


def run_side_process(name: str, config: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one side in a fresh interpreter; return its record."""
    config_path, out_path = work / f"{name}-config.json", work / f"{name}.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    out_path.unlink(missing_ok=True)  # an earlier round's record must not pass for this one's
    env = dict(os.environ)
    threads = str(config["threads"])
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    call = f"import side_runner; side_runner.main({[name, str(config_path), str(out_path)]!r})"
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); {call}"
    prelude = torch_free_prelude() if name == "xner" else None
    if prelude:
        code = prelude + "\n" + code
    env["XNER_BENCH_LAUNCHED"] = repr(time.time())  # "model load" counts from here
    load_before = facts.load_average()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if done.returncode == TORCH_FREE_EXIT:
        raise RuntimeError(f"the xner side imported torch or opened a socket:\n{done.stderr}")
    if done.returncode != 0 or not out_path.is_file():
        raise RuntimeError(f"the {name} side failed ({done.returncode}):\n{done.stderr[-4000:]}")
    record = json.loads(out_path.read_text(encoding="utf-8"))
    record["torch_free_checked"] = bool(prelude)
    record["subprocess_s"] = round(time.perf_counter() - started, 2)
    record["load_average"] = load_before
    record["load_average_after"] = facts.load_average()
    return record


def interleave(
    run_one: Callable[[str, int], dict[str, Any]], rounds: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``rounds`` runs of each side, alternating xner, reference, xner, reference, ...: a drift
    of the machine's load hits both sides alike. ``run_one(side, round)`` returns a run's record;
    the result is (xner runs, reference runs), round k at index k."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    runs: dict[str, list[dict[str, Any]]] = {"xner": [], "reference": []}
    for k in range(rounds):
        for side in ("xner", "reference"):
            logger.info("round %d/%d: %s side", k + 1, rounds, side)
            record = run_one(side, k)
            record["round"] = k + 1
            runs[side].append(record)
    return runs["xner"], runs["reference"]


def models_text(profile: bench_models.Profile | None) -> str:
    if profile is None:
        return "given checkpoints"
    t, g, a = profile.translator, profile.tagger, profile.aligner
    return (
        f"translator d{t.d_model} {t.layers}+{t.layers} layers vocab {t.vocab_size:,}; "
        f"tagger d{g.d_model} {g.layers} layers vocab {g.vocab_size:,}; "
        f"aligner d{a.d_model} {a.layers} layers vocab {a.vocab_size:,}, layer "
        f"{profile.aligner_layer}"
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    started = time.perf_counter()
    load_start = facts.load_average()
    profile = None
    build_seconds: dict = {}
    if args.models is not None:
        models = {p: args.models / p for p in ("translator", "tagger", "aligner")}
        bundle = args.bundle
        from xner.runtime.bundles.bundle import Bundle

        layer = Bundle.load(bundle, verify=False).require("aligner").settings.layer
    else:
        profile = bench_models.PROFILES[args.profile]
        built = bench_models.ensure_models(profile, args.data)
        models = {"translator": built.translator, "tagger": built.tagger, "aligner": built.aligner}
        bundle, layer, build_seconds = built.bundle, built.aligner_layer, built.seconds
    languages = split_names(args.languages)
    items = bench_data.load_sentences(args.data, languages, args.per_language)
    for item in items:
        item["code"] = resolve_language(item["lang"])
    config = {
        "items": items,
        "bundle": str(bundle),
        "models": {k: str(v) for k, v in models.items()},
        "aligner_layer": layer,
        "threads": args.threads,
        "beam": args.beam,
        "length": args.length,
        "batch_size": args.batch_size,
        "align_method": args.align_method,
        "xner_engine_options": (
            {"max_batch_size": args.xner_batch_size} if args.xner_batch_size else {}
        ),
        "repeats": {
            "translate": args.translate_repeats,
            "tag": args.repeats,
            "align": args.repeats,
            "project": max(args.repeats, 10),
            "e2e": args.e2e_repeats,
        },
    }
    warm = facts.read_through([Path(bundle), *models.values()])
    logger.info("page cache warmed in %.1f s; %d sentences", warm, len(items))
    with tempfile.TemporaryDirectory(prefix="xner-bench-") as tmp:
        xner_runs, reference_runs = interleave(
            lambda side, k: run_side_process(side, config, Path(tmp)), args.rounds
        )
    logger.info("footprint and cold start")
    runs = args.cold_start_runs
    found = {
        "bundle_mb": facts.folder_mb(Path(bundle)),
        "checkpoints_mb": round(sum(facts.folder_mb(p) for p in models.values()), 1),
        "cold_start_xner": facts.command_seconds([*facts.xner_executable(), "--help"], runs),
        "cold_start_reference": facts.command_seconds(
            [sys.executable, "-c", "import torch, transformers, simalign"],
            runs if runs < 3 else max(3, runs // 2),
        ),
    }  # 0 runs: not measured (median None)
    if not args.no_install_size:
        found["install_xner"] = facts.install_size(["xner"])
        found["install_reference"] = facts.install_size(["torch", "transformers", "simalign"])
    else:
        found["install_xner"] = found["install_reference"] = {"total_mb": None}
    record: dict[str, Any] = {
        **facts.record_header("translate-test", args.name, load_start),
        "settings": {
            "profile": args.profile if profile else "given",
            "models_text": models_text(profile),
            "profile_dims": asdict(profile) if profile else None,
            "languages": list(languages),
            "per_language": args.per_language,
            "sentences": len(items),
            "length": args.length,
            "beam": args.beam,
            "threads": args.threads,
            "reference_batch_size": args.batch_size,
            "align_method": args.align_method,
            "xner_engine_options": config["xner_engine_options"],
            "repeats": config["repeats"],
            "rounds": args.rounds,
            "bundle": str(bundle),
            "models": config["models"],
            "build_seconds": build_seconds,
            "page_cache_warm_s": warm,
        },
        "xner": report.merge_runs(xner_runs),
        "reference": report.merge_runs(reference_runs),
        "xner_runs": xner_runs,
        "reference_runs": reference_runs,
        "facts": found,
    }
    record["summary"] = report.summarize(xner_runs, reference_runs)
    record["wall_s"] = round(time.perf_counter() - started, 1)
    table = report.markdown(record)
    family = record["machine"]["cpu_family"]
    facts.write_record(record, table, args.out_dir, f"{args.name}-{family}")
    if args.readme is not None:
        if report.update_readme(args.readme, table, family):
            print(f"updated the {family} table of {args.readme}'s Benchmarks section")
        else:
            marker = report.README_START.format(family=family)
            logger.warning("%s has no %s marker: not updated", args.readme, marker)
    return record


if __name__ == "__main__":
    main()
