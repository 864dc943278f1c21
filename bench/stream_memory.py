"""Peak memory of ``xner translate-test`` on large inputs: does it stream in bounded memory?

Usage: ``python bench/stream_memory.py [--sizes 256,2000,20000] [--bundle DIR] [--chunk-size 256]``

For each size N, writes a CoNLL file of N sentences made by repeating MasakhaNER 2.0 Hausa test
sentences (``../shared/data``, read in place, never copied into the repository), runs
``xner translate-test --lang hau_Latn IN -o OUT.conll --explain OUT.jsonl`` on it in a child
process, and reports the child's peak resident memory (``ru_maxrss`` from ``os.wait4``), its wall
time and its rate. A streaming job's peak should not grow with N. For a baseline, the peak of
``xner translate-test --help`` (Python, typer and the runtime imports, no model) is measured too.

Without ``--bundle`` the tiny random-weight bundle of the tests is built in a temporary folder
(this needs the ``export`` extra: torch and transformers; the measured child stays torch-free).
Prints a Markdown table and writes JSON to ``bench/results/stream-memory-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xner.runtime.files.atomic import atomic_write
from xner.runtime.files.formats import read_sentences, write_sentences
from xner.runtime.names import split_names
from xner.runtime.version import __version__

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("XNER_SHARED_DATA", ROOT.parent / "shared" / "data"))


def build_tiny_bundle(where: Path) -> Path:
    """The tests' tiny bundle (int8 translator, tagger and aligner at layer 1)."""
    from xner.export import (
        AlignerSpec,
        ExportOptions,
        TaggerSpec,
        TranslatorSpec,
        build_tiny_models,
        export_bundle,
    )

    models = build_tiny_models(where / "models")
    export_bundle(
        ExportOptions(
            out=where / "tiny",
            translator=TranslatorSpec(str(models.translator)),
            tagger=TaggerSpec(str(models.tagger)),
            aligner=AlignerSpec(str(models.aligner), layer=1),
        )
    )
    return where / "tiny"


def make_input(path: Path, n: int) -> None:
    """N sentences: the Hausa test sentences repeated, in order."""
    sentences = list(read_sentences(DATA / "masakhaner2" / "hau.test.conll"))
    write_sentences(itertools.islice(itertools.cycle(sentences), n), path)


def measure(command: list[str]) -> dict[str, float]:
    """Run ``command``; its wall time and peak RSS (MiB), from this child's own rusage."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    errors = child.stderr.read()  # drained while it runs; the warnings can be many
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code
    if code != 0:
        sys.exit(f"{' '.join(command)} failed ({code}):\n{errors.decode()[-2000:]}")
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,2000,20000", help="comma-separated sentence counts")
    parser.add_argument("--bundle", type=Path, help="bundle to use (default: build the tiny one)")
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--intra-threads", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(x) for x in split_names(args.sizes)]
    with tempfile.TemporaryDirectory(prefix="xner-stream-") as tmp:
        work = Path(tmp)
        bundle = args.bundle or build_tiny_bundle(work / "bundle")
        xner = [sys.executable, "-m", "xner.cli.main"]
        rows = [
            {
                "sentences": 0,
                "what": "translate-test --help",
                **measure([*xner, "translate-test", "--help"]),
            }
        ]
        for n in sizes:
            source = work / f"in-{n}.conll"
            make_input(source, n)
            command = [
                *xner, "translate-test", "--bundle", str(bundle), "--lang", "hau_Latn",
                str(source), "-o", str(work / f"out-{n}.conll"),
                "--explain", str(work / f"out-{n}.jsonl"), "--chunk-size", str(args.chunk_size),
                "--intra-threads", str(args.intra_threads), "--skip-verify",
            ]  # fmt: skip
            row = {"sentences": n, "what": "translate-test", **measure(command)}
            row["input_mib"] = round(source.stat().st_size / 2**20, 1)
            row["output_mib"] = round((work / f"out-{n}.jsonl").stat().st_size / 2**20, 1)
            row["sentences_per_s"] = round(n / row["seconds"], 1)
            written = sum(1 for _ in read_sentences(work / f"out-{n}.conll"))
            assert written == n, f"{written} sentences written for {n}"
            rows.append(row)
            print(f"{n} sentences: {row}", file=sys.stderr, flush=True)
    print("| sentences | input MiB | explain MiB | seconds | sentences/s | peak RSS MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['sentences'] or row['what']} | {row.get('input_mib', '')} | "
            f"{row.get('output_mib', '')} | {row['seconds']} | {row.get('sentences_per_s', '')} | "
            f"{row['peak_rss_mib']} |"
        )
    record = {
        "date": dt.date.today().isoformat(),
        "xner": __version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
        "bundle": "tiny (random weights, int8)" if args.bundle is None else str(args.bundle),
        "chunk_size": args.chunk_size,
        "rows": rows,
    }
    out = ROOT / "bench" / "results" / f"stream-memory-{record['date']}.json"
    with atomic_write(out) as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    print(f"\nwritten {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
