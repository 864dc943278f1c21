"""Start-up: time from process start to the first sentence, for ``xner tag`` and ``translate-test``.

Usage: ``python bench/bench_startup.py [--bundle PATH] [--repeats 3] [--name startup]``.

Each case runs the installed CLI (``xner.cli.main``) in a fresh process on ``--sentences``
Hausa MasakhaNER 2.0 test sentences with the real-size bundle (default: the one
bench/run_bench.py builds and caches, random weights at the real sizes), with and without
``--skip-verify``:

* ``translate-test``: process start to the first sentence's translation starting (the
  translator's first decoding call; the process then ends there: with random weights every
  translation runs to its decoding limit, which says nothing about start-up);
* ``tag``: process start to the first output line on stdout.

"Process start" is taken in this process just before the child is started (interpreter start and
imports are counted). The median and min-max of ``--repeats`` runs are reported. Writes
``bench/results/<date>-<name>.json`` and ``.md`` (atomically) and prints the table; the load
average at start and end is recorded (other work on the machine slows everything down).
``--python-path`` puts a folder first on the children's ``PYTHONPATH`` (to time another copy
of xner, e.g. an unpacked older commit, with the same script).
"""

from __future__ import annotations

import argparse
import os
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

import bench_data  # noqa: E402
import facts  # noqa: E402

DEFAULT_BUNDLE = Path.home() / ".cache" / "xner-bench" / "real-bc85b98538" / "bundle"
DEFAULT_DATA = BENCH.parent.parent / "shared" / "data"
GOAL_S = 1.5
MARK = "XNER-FIRST-TRANSLATION"

# the CLI, with the translator's first decoding call reporting the time and ending the process
CHILD = f"""
import os, sys, time
from xner.runtime.engines import translator

def _first(self, *args, **kwargs):
    sys.stderr.write("{MARK} %r\\n" % time.time())
    sys.stderr.flush()
    os._exit(0)

translator.Translator._generate = _first
from xner.cli.main import main
sys.argv = ["xner", *sys.argv[1:]]
main()
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE, help="real-size bundle")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--lang", default="hau", help="MasakhaNER language (default hau)")
    parser.add_argument("--sentences", type=int, default=8, help="input sentences")
    parser.add_argument("--repeats", type=int, default=3, help="runs per case (median, min-max)")
    parser.add_argument("--python-path", default=None, help="first on the children's PYTHONPATH")
    parser.add_argument("--name", default="startup", help="result name")
    parser.add_argument("--out-dir", type=Path, default=BENCH / "results")
    return parser.parse_args(argv)


def first_sentence_s(command: str, args: list[str], env: dict[str, str]) -> float:
    """Seconds from starting the child to its first sentence (see the module notes)."""
    started = time.time()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    if command == "tag":
        assert child.stdout is not None
        line = child.stdout.readline()
        seconds = time.time() - started
        out, err = child.communicate()
        if not line or child.returncode != 0:
            raise SystemExit(f"xner tag failed ({child.returncode}): {err.strip()[-500:]}")
        return seconds
    _, err = child.communicate()
    for text in err.splitlines():
        if text.startswith(MARK):
            return float(text.split()[1]) - started
    raise SystemExit(f"xner translate-test never translated ({child.returncode}): {err[-500:]}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    load_start = facts.load_average()
    began = time.perf_counter()
    path = args.data / "masakhaner2" / f"{args.lang}.test.conll"
    words = bench_data.read_conll_words(path)[: args.sentences]
    env = dict(os.environ)
    if args.python_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.python_path, env.get("PYTHONPATH")]))
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, "input.txt")
        source.write_text("".join(" ".join(w) + "\n" for w in words), encoding="utf-8")
        commands = {
            "tag": ["tag", "--bundle", str(args.bundle), str(source)],
            "translate-test": [
                "translate-test", "--bundle", str(args.bundle), "--lang", args.lang, str(source)
            ],
        }  # fmt: skip
        cases = [(c, v) for c in commands for v in ("verified", "skip-verify")]
        times: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
        for _ in range(args.repeats):  # interleaved: a busy spell hits every case alike
            for command, verify in cases:
                extra = ["--skip-verify"] if verify == "skip-verify" else []
                seconds = first_sentence_s(command, commands[command] + extra, env)
                times[command, verify].append(seconds)
        for (command, verify), runs in times.items():
            median = statistics.median(runs)
            rows[f"{command} ({verify})"] = {
                "command": command,
                "verify": verify == "verified",
                "median_s": round(median, 3),
                "min_s": round(min(runs), 3),
                "max_s": round(max(runs), 3),
                "runs_s": [round(x, 3) for x in runs],
                "within_goal": median <= GOAL_S,
            }
    record: dict[str, Any] = {
        **facts.record_header("start-up (time to the first sentence)", args.name, load_start),
        "settings": {
            "bundle": str(args.bundle),
            "language": args.lang,
            "sentences": len(words),
            "repeats": args.repeats,
            "python_path": args.python_path,
        },
        "rows": rows,
        "goal_s": GOAL_S,
    }
    record["wall_s"] = round(time.perf_counter() - began, 1)
    facts.write_record(record, markdown(record), args.out_dir, args.name)
    return record


def markdown(record: dict[str, Any]) -> str:
    machine = record["machine"]
    lines = [
        f"# Start-up: time to the first sentence ({record['date']}, {record['name']})",
        "",
        f"CPU: {machine.get('cpu')}; load average {record['load_average_start']} at start, "
        f"{record['load_average_end']} at the end. Bundle: `{record['settings']['bundle']}`; "
        f"{record['settings']['sentences']} sentences, {record['settings']['repeats']} runs per "
        f"case. Goal: <= {record['goal_s']} s."
        + (f" xner from `{where}`." if (where := record["settings"]["python_path"]) else ""),
        "",
        "| case | median s | min-max s | within goal |",
        "|---|---:|---:|---|",
    ]
    for name, row in record["rows"].items():
        goal = "yes" if row["within_goal"] else "no"
        spread = f"{row['min_s']:.2f}-{row['max_s']:.2f}"
        lines.append(f"| {name} | {row['median_s']:.2f} | {spread} | {goal} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
