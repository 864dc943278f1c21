"""Field-delivery figures: bundle pack/unpack throughput and start-up time of the CLI.

Usage: ``python bench/field_delivery.py [--bundle DIR] [--xner EXE ...] [--name NAME]``

- **Bundle transfer**: ``pack_bundle`` / ``unpack_bundle`` (what ``xner bundle pack|unpack``
  run) on ``--bundle`` (default: the real-size benchmark bundle that ``make bench`` caches in
  ``~/.cache/xner-bench``), as ``.tar`` split into 3.9 GiB parts (the FAT32 case) and as
  ``.tar.zst`` when zstandard is installed. MB/s = bundle bytes (10^6) per wall second, page cache
  dropped before each step when this process may (root on Linux), so reads come from the disk;
  both steps hash every byte and fsync what they write. ``sha256sum`` of the same files and
  ``cp -r`` + ``sync`` are measured the same way as references.
- **Start-up**: ``EXE --version`` and ``EXE doctor`` for each ``--xner`` executable (the frozen
  binary, the venv's console script), median of 10 runs cold (page cache dropped before each
  run, when allowed) and 10 warm, with an empty environment and HOME in a temporary folder.

Writes ``bench/results/<date>-field-<name>.json`` and ``.md`` (or prints only, ``--no-save``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from xner.runtime.bundles.archive import pack_bundle, parse_size, unpack_bundle
from xner.runtime.bundles.bundle import Bundle, sha256_file
from xner.runtime.files.atomic import atomic_write

RESULTS = Path(__file__).resolve().parent / "results"


def drop_caches() -> bool:
    """Drop the page cache (Linux, root); False when this process may not."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def timed(step: Callable[[], object], cold: bool) -> float:
    """Wall seconds of ``step()``, after dropping the page cache when ``cold``."""
    if cold:
        drop_caches()
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def transfer(bundle: Path, work: Path) -> dict:
    """Pack / unpack timings (MB/s) of ``bundle`` in ``work``; references alongside."""
    entries = Bundle.load(bundle, verify=False).files
    total = sum(entry.size for entry in entries)
    cold = drop_caches()
    rows = {}

    def rate(seconds: float) -> float:
        return round(total / 1e6 / seconds, 1)

    def hash_all() -> None:
        for entry in entries:
            sha256_file(bundle / entry.path)

    def copy() -> None:
        shutil.copytree(bundle, work / "copy")
        os.sync()

    rows["sha256 of every file (reference)"] = rate(timed(hash_all, cold))
    rows["cp -r + sync (reference)"] = rate(timed(copy, cold))
    shutil.rmtree(work / "copy")
    kinds = [("tar, 3.9G parts", "b.tar", parse_size("3.9G"))]
    try:
        import zstandard  # noqa: F401

        kinds.append(("tar.zst", "b.tar.zst", None))
    except ImportError:
        pass
    sizes = {}
    for label, name, split in kinds:
        archive = work / name
        seconds = timed(lambda a=archive, s=split: pack_bundle(bundle, a, split=s), cold)
        rows[f"pack {label}"] = rate(seconds)
        first = next(work.glob(f"{name}*"))
        sizes[label] = sum(p.stat().st_size for p in work.glob(f"{name}*"))
        target = work / "unpacked"
        seconds = timed(lambda f=first, t=target: unpack_bundle(f, t), cold)
        rows[f"unpack {label}"] = rate(seconds)
        shutil.rmtree(target)
        for part in work.glob(f"{name}*"):
            part.unlink()
    return {
        "bundle": str(bundle),
        "bundle_bytes": total,
        "files": len(entries),
        "page_cache_dropped": cold,
        "mb_per_s": rows,
        "archive_bytes": sizes,
    }


def startup(exe: str) -> dict:
    home = tempfile.mkdtemp(prefix="xner-start-")
    out = {}
    for args in (["--version"], ["doctor"]):

        def once(a: list[str] = args) -> None:
            subprocess.run([exe, *a], env={"HOME": home}, capture_output=True, check=True)

        cold = drop_caches()
        colds = [timed(once, cold) for _ in range(10)] if cold else []
        warms = [timed(once, False) for _ in range(10)]
        out[" ".join(args)] = {
            "cold_median_s": round(statistics.median(colds), 3) if colds else None,
            "warm_median_s": round(statistics.median(warms), 3),
            "warm_min_s": round(min(warms), 3),
            "warm_max_s": round(max(warms), 3),
        }
    shutil.rmtree(home, ignore_errors=True)
    return out


def markdown(result: dict) -> str:
    lines = [f"### {result['date']} field delivery ({result['cpu']})", ""]
    if "transfer" in result:
        t = result["transfer"]
        lines += [
            f"Bundle `{t['bundle']}`: {t['files']} files, {t['bundle_bytes'] / 1e6:,.0f} MB; "
            f"page cache dropped before each step: {t['page_cache_dropped']}.",
            "",
            "| step | MB/s |",
            "|---|---:|",
            *[f"| {step} | {mbs:,.1f} |" for step, mbs in t["mb_per_s"].items()],
            "",
        ]
    for exe, figures in result.get("startup", {}).items():
        lines += [f"Start-up of `{exe}` (median of 10):", "", "| command | cold s | warm s |"]
        lines += ["|---|---:|---:|"]
        for cmd, f in figures.items():
            lines.append(f"| `{cmd}` | {f['cold_median_s']} | {f['warm_median_s']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle folder (default: the bench cache's)")
    parser.add_argument("--xner", action="append", default=[], help="an xner executable to time")
    parser.add_argument("--no-transfer", action="store_true", help="only the start-up times")
    parser.add_argument("--name", default="real")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    result: dict = {
        "date": dt.date.today().isoformat(),
        "cpu": platform.processor() or platform.machine(),
        "python": sys.version.split()[0],
    }
    if not args.no_transfer:
        bundle = args.bundle
        if bundle is None:
            found = sorted((Path.home() / ".cache" / "xner-bench").glob("real-*/bundle"))
            if not found:
                sys.exit("no --bundle and no real-size bundle in ~/.cache/xner-bench (make bench)")
            bundle = found[-1]
        with tempfile.TemporaryDirectory(dir=Path(bundle).parent) as work:
            result["transfer"] = transfer(Path(bundle), Path(work))
    result["startup"] = {exe: startup(exe) for exe in args.xner}
    text = markdown(result)
    print(json.dumps(result, indent=2))
    print(text)
    if not args.no_save:
        stem = RESULTS / f"{result['date']}-field-{args.name}"
        with atomic_write(stem.with_suffix(".json")) as handle:
            json.dump(result, handle, indent=2)
        with atomic_write(stem.with_suffix(".md")) as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
