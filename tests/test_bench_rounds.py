"""Robust benchmark figures (issue 15 item 1): interleaved rounds, the median of the per-round
ratios with their min-max, "model load" up to the first translation, results per CPU family.

Everything here runs on fake sides and hand-made records: no model, no timed assertion.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import facts  # noqa: E402
import report  # noqa: E402
import run_bench  # noqa: E402
import side_runner  # noqa: E402

STAGES = report.STAGES


def side(e2e: float, peak: float = 1000.0, startup: float | None = None) -> dict[str, Any]:
    """A side record with every stage at 1 s, end to end at ``e2e`` s."""
    stages = {
        name: {
            "runs": 1,
            "median_s": 1.0,
            "peak_rss_mb": peak,
            "overhead_share": None,
            "sentences": 10,
            "tokens": 100,
            "token_unit": "words",
        }
        for name in STAGES
    }
    stages["end_to_end"]["median_s"] = e2e
    record = {
        "stages": stages,
        "process_peak_rss_mb": peak,
        "load_s": {"total": 2.0},
        "wall_s": 10.0,
        "rss_after_load_mb": peak / 2,
    }
    if startup is not None:
        record["startup_s"] = startup
    return record


def test_spread_is_median_min_max_of_known_values():
    assert report.spread([4.0, 15.0, 7.5]) == {"median": 7.5, "min": 4.0, "max": 15.0, "runs": 3}
    assert report.spread([2.0, None, 4.0]) == {"median": 3.0, "min": 2.0, "max": 4.0, "runs": 2}
    assert report.spread([None]) == {"median": None, "min": None, "max": None, "runs": 0}


def test_speedup_is_the_median_of_per_round_ratios_not_the_ratio_of_medians():
    # per-round ratios 4, 15, 7.5 -> median 7.5; the ratio of the medians would be 30 / 2 = 15
    xner = [side(1.0), side(2.0), side(4.0)]
    reference = [side(4.0), side(30.0), side(30.0)]
    summary = report.summarize(xner, reference)
    e2e = summary["stages"]["end_to_end"]
    assert (e2e["speedup"], e2e["speedup_min"], e2e["speedup_max"]) == (7.5, 4.0, 15.0)
    assert [r["end_to_end_speedup"] for r in summary["rounds"]] == [4.0, 15.0, 7.5]
    assert summary["goals"]["end_to_end_speedup"]["measured"] == 7.5
    assert summary["goals"]["end_to_end_speedup"]["met"] is True
    assert summary["stages"]["tag"]["speedup"] == 1.0  # every other stage: 1 s against 1 s


def test_peak_ratio_and_load_are_per_round_medians():
    xner = [side(1.0, peak=300.0, startup=1.0), side(1.0, peak=400.0, startup=3.0)]
    reference = [side(5.0, peak=1000.0, startup=2.0), side(5.0, peak=1000.0, startup=2.0)]
    summary = report.summarize(xner, reference)
    peak = summary["peak_rss"]
    assert (peak["ratio"], peak["ratio_min"], peak["ratio_max"]) == (0.35, 0.3, 0.4)
    load = summary["load"]
    assert load["xner_s"] == 2.0 and load["xner_s_min"] == 1.0 and load["xner_s_max"] == 3.0
    assert load["xner_engines_s"] == 2.0  # the engines alone: load_s total


def test_model_load_counts_to_the_first_translation():
    assert report.model_load(side(1.0, startup=4.5)) == 4.5
    assert report.model_load(side(1.0)) == 2.0  # no startup_s: the engines' load time


def test_rounds_must_pair_up():
    with pytest.raises(ValueError, match="need pairs"):
        report.summarize([side(1.0)], [side(1.0), side(2.0)])


def test_interleave_alternates_the_sides():
    calls: list[tuple[str, int]] = []

    def run_one(name: str, k: int) -> dict[str, Any]:
        calls.append((name, k))
        return {"side": name}

    xner, reference = run_bench.interleave(run_one, 3)
    assert calls == [
        ("xner", 0),
        ("reference", 0),
        ("xner", 1),
        ("reference", 1),
        ("xner", 2),
        ("reference", 2),
    ]
    assert [r["round"] for r in xner] == [r["round"] for r in reference] == [1, 2, 3]
    assert {r["side"] for r in xner} == {"xner"} and {r["side"] for r in reference} == {"reference"}
    with pytest.raises(ValueError, match="at least 1"):
        run_bench.interleave(run_one, 0)


def test_default_rounds_quick_three_full_two():
    assert run_bench.parse_args(["--quick"]).rounds == 3
    assert run_bench.parse_args([]).rounds == 2
    assert run_bench.parse_args(["--rounds", "5"]).rounds == 5


def test_merge_runs_takes_the_median_seconds_and_the_highest_peak():
    merged = report.merge_runs([side(1.0, peak=300.0), side(3.0, peak=500.0), side(2.0)])
    e2e = merged["stages"]["end_to_end"]
    assert e2e["median_s"] == 2.0 and e2e["runs"] == 3 and e2e["sentences_per_s"] == 5.0
    assert e2e["peak_rss_mb"] == 1000.0  # the third run's default peak
    assert merged["process_peak_rss_mb"] == 500.0


def test_markdown_shows_the_spread_and_the_rounds():
    xner = [side(1.0), side(2.0), side(4.0)]
    reference = [side(4.0), side(30.0), side(30.0)]
    for k, run in enumerate(xner + reference):
        run.update(
            load_average=[float(k), 0.0, 0.0],
            versions={"xner": "0", "transformers": "0", "simalign": "0"},
            engine_note="note",
        )
        run["load_s"]["bundle_verify"] = 0.1
    record = {
        "date": "2026-12-02",
        "name": "fake",
        "machine": {"cpu": "CPU", "cpu_family": "amd", "usable_cores": 2, "cpu_flags": []},
        "load_average_start": [1.0, 1.0, 1.0],
        "load_average_end": [2.0, 2.0, 2.0],
        "settings": {
            "beam": 1,
            "sentences": 10,
            "languages": ["hau"],
            "per_language": 10,
            "profile": "given",
            "models_text": "m",
            "length": 8,
            "threads": 2,
        },
        "xner": report.merge_runs(xner),
        "reference": report.merge_runs(reference),
        "summary": report.summarize(xner, reference),
        "facts": {
            "install_xner": {"total_mb": None},
            "install_reference": {"total_mb": None},
            "bundle_mb": 1.0,
            "checkpoints_mb": 2.0,
            "cold_start_xner": {"median_s": None},
            "cold_start_reference": {"median_s": None},
        },
    }
    text = report.markdown(record)
    assert "| **7.5x** (4.0-15.0) |" in text  # end to end: median (min-max)
    assert "| **1.0x** |" in text  # no spread where every round gave the same ratio
    assert "3 round(s), the sides interleaved" in text
    assert "| 2 | 2.000 | 30.000 | 15.00x |" in text and "[1.0, 0.0, 0.0]" in text
    assert "CPU (amd," in text


def test_readme_keeps_one_table_per_cpu_family(tmp_path):
    readme = tmp_path / "README.md"
    amd = report.README_START.format(family="amd"), report.README_END.format(family="amd")
    intel = report.README_START.format(family="intel"), report.README_END.format(family="intel")
    readme.write_text(
        f"## Benchmarks\n\n{amd[0]}\nold amd\n{amd[1]}\n\n{intel[0]}\nnot measured here\n"
        f"{intel[1]}\n",
        encoding="utf-8",
    )
    assert report.update_readme(readme, "| new amd |\n", "amd")
    text = readme.read_text(encoding="utf-8")
    assert "old amd" not in text and "| new amd |" in text and "not measured here" in text
    assert not report.update_readme(readme, "| t |", "other")
    assert readme.read_text(encoding="utf-8") == text


def test_cpu_family_from_the_vendor():
    assert facts.cpu_family("processor\t: 0\nvendor_id\t: GenuineIntel\n") == "intel"
    assert facts.cpu_family("vendor_id\t: AuthenticAMD\nflags\t: avx2\n") == "amd"
    assert facts.cpu_family("vendor_id\t: CentaurHauls\n") == "other"
    assert facts.cpu_family("") == "other"
    assert facts.machine()["cpu_family"] in ("amd", "intel", "other")


class FakeSide:
    """Stage functions that do nothing, noting when loading ended and translating began."""

    name = "fake"
    load_rss_mb: dict[str, float] = {}

    def __init__(self) -> None:
        self.loaded_at = self.first_translate_at = 0.0

    def load(self) -> dict[str, float]:
        self.loaded_at = time.time()
        return {"total": 0.0}

    def translate(self, items: list[dict]) -> list[tuple[str, int]]:
        if not self.first_translate_at:
            self.first_translate_at = time.time()
        return [(item["text"], 1) for item in items]

    def words(self, text: str) -> list[str]:
        return text.split()

    def tag(self, sentences: list[list[str]]) -> list[list[Any]]:
        return [[] for _ in sentences]

    def align(self, pairs: list[Any]) -> list[Any]:
        return [[] for _ in pairs]

    def project(self, spans: list[Any], links: list[Any], lengths: list[int]) -> list[Any]:
        return [[] for _ in spans]

    def project_ngram(self, spans: list[Any], links: list[Any], words: list[Any]) -> list[Any]:
        return [[] for _ in spans]

    def end_to_end(self, items: list[dict]) -> list[Any]:
        return [[] for _ in items]

    def versions(self) -> dict[str, str]:
        return {}

    def note(self) -> str:
        return "fake"


def test_startup_runs_from_launch_to_the_first_translation():
    items = [{"text": "a b", "words": ["a", "b"]}, {"text": "c", "words": ["c"]}]
    repeats = {"translate": 1, "tag": 1, "align": 1, "project": 1, "e2e": 1}
    fake = FakeSide()
    launched = time.time() - 100.0  # a process launched 100 s ago
    record = side_runner.run_side(fake, {"items": items, "repeats": repeats}, None, launched)
    # between the end of loading and the first translate call, counted from the launch
    assert fake.loaded_at - launched - 0.001 <= record["startup_s"]
    assert record["startup_s"] <= fake.first_translate_at - launched + 0.001
