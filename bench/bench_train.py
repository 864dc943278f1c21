"""Training throughput of ``xner train`` with a real-size XLM-R-base, with and without
``--adversarial``.

Usage: ``python bench/bench_train.py [--steps 6] [--batch-size 8] [--lang hau] [--threads 2]``.

The model is XLM-R base at its real size (``XLMRobertaConfig()`` defaults: hidden 768, 12
layers, 12 heads, ffn 3072; the vocabulary padded to XLM-R's 250,002 rows, positions 514) with
random weights and a 9-label head, built once and cached beside the benchmark's other models
(``$XNER_BENCH_CACHE``, default ``~/.cache/xner-bench``). Its tokenizer is the 32,000-piece
SentencePiece model that bench/bench_models.py trains on MasakhaNER 2.0 and CoNLL-2003 dev
sentences (the cached ``real`` profile's tagger when present, else one trained here), so
sentences split into about as many subwords as with the real tokenizer.

Each variant runs in its own process (so that its peak memory is its own): ``--steps`` optimizer
steps of ``--batch-size`` MasakhaNER dev sentences of ``--lang`` (the training data), on the CPU.
The first step (allocation, warm caches) and the last (it writes a checkpoint and the final
model) are left out of the timing: time per step is the median of the others, and throughput
is batch size / that median. ``--rounds N`` runs the variants N times in alternation (plain,
adversarial, plain, ...) and takes the median over every timed step of a variant: on a shared
machine the load drifts, and two threads that wait for each other while other work runs can be
several times slower (``--threads 1`` suffers less). ``adversarial`` adds the language
discriminator fed with as many unlabelled English sentences (CoNLL-2003 dev, words only) per
step. Peak memory is the process's maximum resident set size.

Writes ``bench/results/<date>-<name>.json`` and ``.md`` (atomically) and prints the table; the
load average at start and end is recorded (other work on the machine slows everything down).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_models  # noqa: E402
import facts  # noqa: E402

logger = logging.getLogger("xner.bench")
DEFAULT_DATA = BENCH.parent.parent / "shared" / "data"
CACHE = Path(os.environ.get("XNER_BENCH_CACHE", Path.home() / ".cache" / "xner-bench"))
VARIANTS = ("plain", "adversarial")
LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-DATE", "I-DATE")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per variant (>= 3)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lang", default="hau", help="MasakhaNER language of the training data")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=", ".join(VARIANTS))
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each variant, alternated (load drifts)"
    )
    parser.add_argument("--model", type=Path, default=None, help="default: build/cached base")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    parser.add_argument("--name", default="train-throughput")
    parser.add_argument("--one", choices=VARIANTS, help=argparse.SUPPRESS)  # a child process
    return parser.parse_args(argv)


# --- the model -----------------------------------------------------------------------------------


def base_model(data: Path) -> Path:
    """The cached XLM-R-base-sized random token classifier (built on first use)."""
    folder = CACHE / "xlmr-base-random"
    if (folder / "stamp.json").is_file():
        return folder
    from transformers import AutoTokenizer, XLMRobertaConfig, XLMRobertaForTokenClassification

    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_source(data))
    config = XLMRobertaConfig(  # the defaults are base's shape; vocabulary and ids as XLM-R's
        vocab_size=250002,
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        id2label=dict(enumerate(LABELS)),
        label2id={label: k for k, label in enumerate(LABELS)},
    )
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    XLMRobertaForTokenClassification(config).save_pretrained(tmp)
    tokenizer.model_max_length = 512
    tokenizer.save_pretrained(tmp)
    (tmp / "stamp.json").write_text(json.dumps({"built": time.time()}) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def _tokenizer_source(data: Path) -> Path:
    """The real profile's 32k tokenizer when cached, else one trained on the same corpus."""
    cached = sorted(CACHE.glob("real-*/models/tagger/tokenizer.json"))
    if cached:
        return cached[0].parent
    from xner.export.tiny import build_tiny_models

    work = CACHE / "xlmr-base-tokenizer"
    if not (work / "tagger" / "tokenizer.json").is_file():
        build_tiny_models(work, corpus=bench_models.corpus_lines(data), spm_vocab=32000)
    return work / "tagger"


# --- one variant (in a child process) ------------------------------------------------------------


def run_one(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    import torch

    from xner.train import TrainOptions, train
    from xner.train.data import DataSpec

    torch.set_num_threads(args.threads)
    model = args.model or base_model(args.data)
    with tempfile.TemporaryDirectory(prefix="xner-bench-train-") as tmp:
        plain = Path(tmp) / "eng.txt"
        words = []
        for block in (args.data / "conll2003_en" / "dev.conll").read_text().split("\n\n")[:400]:
            tokens = [line.split()[0] for line in block.splitlines() if line.strip()]
            if tokens and tokens[0] != "-DOCSTART-":
                words.append(" ".join(tokens))
        plain.write_text("\n".join(words) + "\n", encoding="utf-8")
        adversarial = variant == "adversarial"
        options = TrainOptions(
            model=str(model),
            data=(DataSpec(args.data / "masakhaner2" / f"{args.lang}.dev.conll", args.lang),),
            out=Path(tmp) / "run",
            max_steps=args.steps,
            checkpoint_every=args.steps,
            batch_size=args.batch_size,
            lr=5e-5,
            seed=1,
            adversarial=adversarial,
            unlabelled=(DataSpec(plain, "eng_Latn"),) if adversarial else (),
        )
        stamps: list[float] = []
        started = time.perf_counter()
        result = train(options, on_step=lambda record: stamps.append(time.perf_counter()))
        total = time.perf_counter() - started
    steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)][:-1]  # not the last
    per_step = statistics.median(steps)
    return {
        "variant": variant,
        "steps": result.steps,
        "timed_steps": len(steps),
        "step_s": round(per_step, 3),
        "step_s_all": [round(s, 3) for s in steps],
        "sentences_per_s": round(args.batch_size / per_step, 3),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "run_s": round(total, 1),
    }


# --- the parent ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.steps < 3:
        raise SystemExit("--steps: at least 3 (the first and last steps are not timed)")
    if args.one:
        row = run_one(args, args.one)
        print(json.dumps(row))
        return row
    started = time.perf_counter()
    load_start = facts.load_average()
    model = args.model or base_model(args.data)
    rows: dict[str, dict[str, Any]] = {}
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            command = [sys.executable, __file__, "--one", variant, "--model", str(model)]
            for flag in ("steps", "batch_size", "lang", "data", "threads"):
                command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            logger.info("running %s", " ".join(command))
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
            runs[variant].append(json.loads(done.stdout.strip().splitlines()[-1]))
            logger.info("%s: %s", variant, runs[variant][-1])
    rows = {variant: _merge(found, args.batch_size) for variant, found in runs.items()}
    plain, adv = rows.get("plain"), rows.get("adversarial")
    record: dict[str, Any] = {
        **facts.record_header("xner train throughput", args.name, load_start),
        "settings": {
            "model": "XLM-R base shape, random weights (XLMRobertaConfig() defaults, vocab 250002)",
            "parameters_m": _parameters_m(model),
            "language": args.lang,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "rounds": args.rounds,
            "threads": args.threads,
            "device": "cpu",
        },
        "rows": rows,
        "adversarial_cost": (
            {
                "time": round(adv["step_s"] / plain["step_s"], 2),
                "peak_memory": round(adv["peak_rss_gib"] / plain["peak_rss_gib"], 2),
            }
            if plain and adv
            else None
        ),
    }
    record["wall_s"] = round(time.perf_counter() - started, 1)
    facts.write_record(record, markdown(record), args.out_dir, args.name)
    return record


def _merge(runs: list[dict[str, Any]], batch_size: int) -> dict[str, Any]:
    """One row from the runs of a variant: the median over every timed step of every run."""
    steps = [s for run in runs for s in run["step_s_all"]]
    per_step = statistics.median(steps)
    return {
        "variant": runs[0]["variant"],
        "runs": len(runs),
        "timed_steps": len(steps),
        "step_s": round(per_step, 3),
        "step_s_all": steps,
        "sentences_per_s": round(batch_size / per_step, 3),
        "peak_rss_gib": max(run["peak_rss_gib"] for run in runs),
        "run_s": [run["run_s"] for run in runs],
    }


def _parameters_m(model: Path) -> float:
    from safetensors import safe_open

    total = 0
    with safe_open(str(model / "model.safetensors"), "np") as weights:
        for name in weights.keys():  # noqa: SIM118 - safe_open is not a mapping
            total += _size(weights.get_slice(name).get_shape())
    return round(total / 1e6, 1)


def _size(shape: list[int]) -> int:
    size = 1
    for n in shape:
        size *= n
    return size


def markdown(record: dict[str, Any]) -> str:
    s, m = record["settings"], record["machine"]
    lines = [
        f"### {record['date']} `{record['name']}`: training throughput, XLM-R base, CPU",
        "",
        f"{s['model']}, {s['parameters_m']} M parameters; batch {s['batch_size']} MasakhaNER "
        f"2.0 {s['language']} dev sentences, {s['steps']} steps per run, {s['rounds']} run(s) "
        "per variant alternated (median of the steps between the first and the last of each "
        f"run), {s['threads']} thread(s) on {m['cpu']} "
        f"({m['usable_cores']} usable cores); load average {record['load_average_start']} at "
        f"the start, {record['load_average_end']} at the end.",
        "",
        "| variant | s / step | sentences / s | peak memory (GiB) |",
        "|---|---:|---:|---:|",
    ]
    for name, row in record["rows"].items():
        lines.append(
            f"| {name} | {row['step_s']:.2f} | {row['sentences_per_s']:.2f} | "
            f"{row['peak_rss_gib']:.2f} |"
        )
    cost = record.get("adversarial_cost")
    if cost:
        lines += [
            "",
            f"`--adversarial` costs {cost['time']:.2f}x the time per step and "
            f"{cost['peak_memory']:.2f}x the peak memory (one more forward pass of the encoder "
            "on the unlabelled batch, its activations kept for the backward pass).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
