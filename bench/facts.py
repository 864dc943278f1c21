"""Facts the benchmark records besides timings: the machine, install sizes, sizes on disk and
the cold start of ``xner --help``.

Install sizes are computed from the installed distributions' file lists (``RECORD``, through
``importlib.metadata``) in the current environment: the requirement closure of ``xner`` without
extras (what ``pip install xner`` brings) against the closure of ``torch``, ``transformers``
and ``simalign`` (the reference stack). xner itself is installed editable here, so its own size
is that of its package folders (what a wheel would hold).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
XNER_FOLDERS = ("runtime", "cli", "export", "train")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CPU_FAMILIES = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}


def cpu_family(cpuinfo: str | None = None) -> str:
    """``amd``, ``intel`` or ``other`` from the ``vendor_id`` of ``cpuinfo`` (default: the text
    of /proc/cpuinfo). Results are kept per CPU family: the two run the same int8 and fp32
    kernels at very different speeds."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return "other"
    for line in cpuinfo.splitlines():
        if line.startswith("vendor_id"):
            return CPU_FAMILIES.get(line.split(":", 1)[1].strip(), "other")
    return "other"


def cpu_flags() -> list[str]:
    """The vector extensions that matter for int8 and fp32 kernels (AVX2, AVX-512, VNNI, AMX)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16")
                return [f for f in wanted if f in flags]
    except OSError:
        pass
    return []


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        return None
    return None


def machine() -> dict[str, Any]:
    """CPU, cores, memory, OS and Python of this machine."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cpu_family": cpu_family(),
        "cpu_flags": cpu_flags(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "memory_gib": memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def write_record(record: dict[str, Any], table: str, out_dir: Path, name: str) -> Path:
    """Write ``record`` as ``<out_dir>/<date>-<name>.json`` and ``table`` beside it as ``.md``
    (each atomically), print the table and where it went; returns the path without suffix."""
    from xner.runtime.files.atomic import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{record['date']}-{name}"
    with atomic_write(stem.with_suffix(".json")) as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    with atomic_write(stem.with_suffix(".md")) as handle:
        handle.write(table)
    print(table)
    print(f"wrote {stem}.json and {stem}.md in {record.get('wall_s')} s")
    return stem


def record_header(benchmark: str, name: str, load_start: list[float]) -> dict[str, Any]:
    """The first fields of every benchmark record: what, when, where and how busy the machine
    was at the start and now (the end)."""
    return {
        "benchmark": benchmark,
        "name": name,
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "load_average_start": load_start,
        "load_average_end": load_average(),
    }


# -- install sizes -------------------------------------------------------------------------------


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def requirement_closure(roots: list[str]) -> tuple[list[str], list[str]]:
    """Installed distributions needed by ``roots`` (no extras), and requirements not installed."""
    from packaging.requirements import Requirement

    seen: dict[str, None] = {}
    missing: list[str] = []
    todo = [_normal(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        seen[name] = None
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            todo.append(_normal(requirement.name))
    return sorted(seen), sorted(set(missing))


def distribution_bytes(name: str) -> int:
    """Bytes of the files a distribution installed (its RECORD), caches excluded."""
    if _normal(name) == "xner":
        return sum(
            p.stat().st_size
            for folder in XNER_FOLDERS
            for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        )
    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        if "__pycache__" in file.parts:
            continue
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def install_size(roots: list[str]) -> dict[str, Any]:
    """Total and per-distribution MiB of the closure of ``roots``."""
    names, missing = requirement_closure(roots)
    sizes = {name: distribution_bytes(name) for name in names}
    return {
        "roots": roots,
        "total_mb": round(sum(sizes.values()) / 2**20, 1),
        "distributions": {k: round(v / 2**20, 2) for k, v in sorted(sizes.items())},
        "not_installed": missing,
    }


def folder_mb(path: Path) -> float:
    """MiB of the files under ``path``."""
    return round(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20, 1)


def read_through(paths: list[Path]) -> float:
    """Read every file under ``paths`` once (warms the page cache); return the seconds taken."""
    start = time.perf_counter()
    for root in paths:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file():
                with open(p, "rb") as handle:
                    while handle.read(1 << 23):
                        pass
    return round(time.perf_counter() - start, 2)


# -- cold start ----------------------------------------------------------------------------------


def command_seconds(command: list[str], runs: int, env: dict[str, str] | None = None) -> dict:
    """Median, min and max wall seconds of ``runs`` runs of ``command`` (after one warm-up run
    when ``runs`` is 3 or more); no runs: nothing measured, the times are None."""
    name = " ".join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command))
    if runs < 1:
        return {"command": name, "runs": 0, "median_s": None, "min_s": None, "max_s": None}
    if runs >= 3:
        subprocess.run(command, capture_output=True, env=env, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - start)
    return {
        "command": name,
        "runs": runs,
        "median_s": round(statistics.median(times), 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
    }


def xner_executable() -> list[str]:
    """How to run ``xner``: the console script beside this Python, else ``python -m``."""
    script = Path(sys.executable).with_name("xner")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "xner.cli.main"]
