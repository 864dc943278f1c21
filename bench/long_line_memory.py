"""Peak memory of ``xner translate-test`` (and translate-train) on one 100,000-character line.

Usage: ``python bench/long_line_memory.py [--chars 100000] [--bundle DIR] [--out FILE.json]``

A field user who pastes a document without line breaks gives the pipelines one enormous
sentence. This writes such a line (MasakhaNER 2.0 Hausa test sentences joined with spaces, from
``../shared/data``, read in place; or, with ``--synthetic`` or without the data, short generated
sentences), runs ``xner translate-test --lang hau_Latn LINE.txt -o OUT.conll --explain OUT.jsonl``
in a child process and reports the child's peak resident memory (``ru_maxrss`` from
``os.wait4``) and wall time; then the same for ``xner translate-train`` on one JSONL record of
as many characters (CoNLL-2003 English test sentences with their tags, or generated ones). The
peak of ``xner translate-test --help`` (imports, no model) is the baseline.

Without ``--bundle`` the tests' tiny random-weight bundle is built in a temporary folder (needs
the ``export`` extra; the measured children stay torch-free). Prints JSON on standard output
(``--out`` also writes it to a file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

from stream_memory import DATA, build_tiny_bundle, measure

from xner.runtime.files.atomic import atomic_write
from xner.runtime.files.formats import read_sentences
from xner.runtime.version import __version__


def collect(path: Path, chars: int, tagged: bool) -> tuple[list[str], list[str]]:
    """Words (and tags) of the sentences of ``path``, cycled, up to ``chars`` characters."""
    sentences = list(read_sentences(path))
    words: list[str] = []
    tags: list[str] = []
    size = -1
    while True:
        for sentence in sentences:
            grown = size + sum(len(word) + 1 for word in sentence.tokens)
            if grown > chars:
                return words, tags
            words += sentence.tokens
            tags += sentence.tags if tagged and sentence.tags else ["O"] * len(sentence.tokens)
            size = grown


def synthetic(chars: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Generated short sentences (6 to 24 words, a comma, a full stop), all tagged O but one
    ``Kano`` (B-LOC) in every other sentence, up to ``chars`` characters."""
    rng = random.Random(seed)
    vocab = ["da", "na", "a", "ya", "ta", "ba", "su", "ne", "ce", "wannan", "kuma", "amma"]
    words: list[str] = []
    tags: list[str] = []
    size = -1
    while True:
        sentence = [rng.choice(vocab) for _ in range(rng.randint(6, 24))]
        labels = ["O"] * len(sentence)
        if rng.random() < 0.5:
            sentence[0], labels[0] = "Kano", "B-LOC"
        sentence[len(sentence) // 2] += ","
        sentence[-1] += "."
        grown = size + sum(len(word) + 1 for word in sentence)
        if grown > chars:
            return words, tags
        words += sentence
        tags += labels
        size = grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=100_000, help="characters in the line")
    parser.add_argument("--bundle", type=Path, help="bundle to use (default: build the tiny one)")
    parser.add_argument("--synthetic", action="store_true", help="generated text, not the data")
    parser.add_argument("--intra-threads", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the JSON record here")
    args = parser.parse_args()
    real = not args.synthetic and DATA.is_dir()
    if real:
        test_words, _ = collect(DATA / "masakhaner2" / "hau.test.conll", args.chars, False)
        train_words, train_tags = collect(DATA / "conll2003_en" / "test.conll", args.chars, True)
    else:
        test_words, _ = synthetic(args.chars)
        train_words, train_tags = synthetic(args.chars, seed=1)
    with tempfile.TemporaryDirectory(prefix="xner-long-line-") as tmp:
        work = Path(tmp)
        bundle = args.bundle or build_tiny_bundle(work / "bundle")
        xner = [sys.executable, "-m", "xner.cli.main"]
        common = ["--bundle", str(bundle), "--intra-threads", str(args.intra_threads)]
        line = work / "line.txt"
        line.write_text(" ".join(test_words) + "\n", encoding="utf-8")
        record = work / "line.jsonl"
        text = json.dumps({"tokens": train_words, "tags": train_tags}, ensure_ascii=False)
        record.write_text(text + "\n", encoding="utf-8")
        rows = [{"what": "translate-test --help", **measure([*xner, "translate-test", "--help"])}]
        runs = {
            "translate-test": (
                test_words,
                [*xner, "translate-test", str(line), "--lang", "hau_Latn", *common,
                 "-o", str(work / "test.conll"), "--explain", str(work / "test.jsonl")],
            ),
            "translate-train": (
                train_words,
                [*xner, "translate-train", str(record), "--src-lang", "eng_Latn",
                 "--tgt-lang", "hau_Latn", *common, "-o", str(work / "train.conll"),
                 "--explain", str(work / "train.jsonl")],
            ),
        }  # fmt: skip
        for what, (words, command) in runs.items():
            row = {"what": what, **measure(command)}
            explained = json.loads((work / f"{what.split('-')[1]}.jsonl").read_text("utf-8"))
            row["input_chars"] = len(" ".join(words))
            row["input_words"] = len(words)
            row["segments"] = explained["segments"]
            row["error"] = explained["error"]
            row["output_words"] = len(explained["tokens"])
            rows.append(row)
            print(f"{what}: {row}", file=sys.stderr, flush=True)
    result = {
        "date": dt.date.today().isoformat(),
        "xner": __version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
        "bundle": "tiny (random weights, int8)" if args.bundle is None else str(args.bundle),
        "text": "MasakhaNER 2.0 hau test / CoNLL-2003 en test" if real else "synthetic",
        "rows": rows,
    }
    print(json.dumps(result, indent=2))
    if args.out is not None:
        with atomic_write(args.out) as handle:
            json.dump(result, handle, indent=2)
            handle.write("\n")


if __name__ == "__main__":
    main()
