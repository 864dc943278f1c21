"""The benchmark harness (bench/run_bench.py) runs end to end on the tiny models.

Not a benchmark: 5 real sentences, one run of each stage, the tiny fixture bundle. Checks that
both sides run (xner torch-free), that both generate exactly the fixed number of tokens, and
that the JSON and Markdown written have the expected content.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_data  # noqa: E402
import bench_projection  # noqa: E402
import facts  # noqa: E402
import reference_projection  # noqa: E402
import report  # noqa: E402

STAGES = ("translate", "tag", "align", "project", "project_ngram", "end_to_end")
LENGTH = 6


@pytest.fixture(scope="module")
def bench_run(tiny_models, tiny_bundle, shared_data, tmp_path_factory):
    pytest.importorskip("simalign", reason="simalign (test extra) is the reference aligner")
    import run_bench

    out = tmp_path_factory.mktemp("bench-results")
    record = run_bench.main(
        [
            "--models",
            str(tiny_models.translator.parent),
            "--bundle",
            str(tiny_bundle),
            "--data",
            str(shared_data),
            "--per-language",
            "1",
            "--length",
            str(LENGTH),
            "--quick",
            "--rounds",
            "2",
            "--cold-start-runs",
            "0",
            "--name",
            "tiny",
            "--out-dir",
            str(out),
        ]
    )
    return record, out


def test_writes_json_and_markdown(bench_run):
    record, out = bench_run
    family = record["machine"]["cpu_family"]
    (json_file,) = out.glob(f"*-tiny-{family}.json")
    (md_file,) = out.glob(f"*-tiny-{family}.md")
    assert json.loads(json_file.read_text(encoding="utf-8")) == record
    for key in ("machine", "settings", "xner", "reference", "facts", "summary", "wall_s"):
        assert key in record
    assert record["machine"]["cpu"] and record["machine"]["usable_cores"] >= 1
    assert len(record["load_average_start"]) == len(record["load_average_end"]) == 3
    for side in ("xner", "reference"):
        stages = record[side]["stages"]
        assert set(stages) == set(STAGES)
        for stage in stages.values():
            assert stage["runs"] >= 1 and stage["median_s"] > 0
            assert stage["sentences"] == 5 and stage["sentences_per_s"] > 0
            assert stage["peak_rss_mb"] > 0
        assert record[side]["process_peak_rss_mb"] > 0
        loaded = {"translator", "tagger", "aligner"} if side == "reference" else {"translator"}
        assert set(record[side]["load_s"]) >= {*loaded, "total"}
    # xner's tagger and aligner load in the background, awaited before any stage is timed
    assert record["xner"]["load_s"]["background_loads"] >= 0
    assert set(record["summary"]["goals"]) == set(report.GOALS)
    for goal in record["summary"]["goals"].values():
        assert goal["met"] in (True, False)
    text = md_file.read_text(encoding="utf-8")
    assert "| end to end" in text and "| goal |" in text and "xner --help" in text
    assert len(record["xner_runs"]) == len(record["reference_runs"]) == 2  # --rounds 2
    assert [r["round"] for r in record["reference_runs"]] == [1, 2]
    for run in record["xner_runs"] + record["reference_runs"]:
        assert len(run["load_average"]) == len(run["load_average_after"]) == 3
        assert run["startup_s"] >= run["load_s"]["total"] > 0
    assert len(record["summary"]["rounds"]) == 2 and "| model load (start to first" in text


def test_xner_side_is_torch_free_and_timed(bench_run):
    record, _ = bench_run
    xner = record["xner"]
    assert xner["torch_free_checked"] and not xner["torch_imported"]
    assert record["reference"]["torch_imported"]
    for stage in ("translate", "tag", "align", "end_to_end"):
        share = xner["stages"][stage]["overhead_share"]
        assert 0.0 <= share <= 1.0


def test_both_sides_generate_the_fixed_length(bench_run):
    record, _ = bench_run
    for side in ("xner", "reference"):
        counts = record[side]["counts"]
        assert counts["generated_tokens_min"] == counts["generated_tokens_max"] == LENGTH
        assert counts["generated_tokens"] == 5 * LENGTH
        assert counts["original_words"] == record["xner"]["counts"]["original_words"]


def test_footprint_facts(bench_run):
    found = bench_run[0]["facts"]
    assert found["bundle_mb"] > 0 and found["checkpoints_mb"] > 0
    assert found["cold_start_xner"]["median_s"] is None  # --cold-start-runs 0
    runtime = found["install_xner"]["distributions"]
    assert {"onnxruntime", "ctranslate2", "numpy", "xner"} <= set(runtime)
    assert "torch" not in runtime and "transformers" not in runtime
    assert "torch" in found["install_reference"]["distributions"]


def test_sentences_are_spread_over_each_file(shared_data):
    items = bench_data.load_sentences(shared_data, ("hau", "zul"), 3)
    assert [item["lang"] for item in items] == ["hau"] * 3 + ["zul"] * 3
    assert all(item["text"] == " ".join(item["words"]) and item["words"] for item in items)
    assert len({item["text"] for item in items}) == 6


def test_masakhaner_projection_scenario(shared_data):
    """The MasakhaNER-sized projection scenario: real sentences and gold entities, synthetic
    links inside both sentences; xner's batched projection agrees with the reference."""
    from xner.runtime.projection import project_batch

    pairs = bench_projection.masakhaner_sentences(shared_data, per_language=3)
    assert len(pairs) == 3 * len(bench_data.LANGUAGES)
    sources = [item["words"] for item in bench_data.load_sentences(shared_data, per_language=3)]
    for (spans, links, n_tgt, tokens), source in zip(pairs, sources, strict=True):
        assert len(tokens) == n_tgt and links.shape[1] == 2
        assert all(0 <= s.start < s.end <= len(source) for s in spans)
        assert (links[:, 0] < len(source)).all() and (links[:, 1] < n_tgt).all()
    assert sum(len(spans) for spans, _, _, _ in pairs) > 0
    heuristic = project_batch([item[:3] for item in pairs])
    assert heuristic == [reference_projection.heuristic(*item[:3]) for item in pairs]
    ngram = project_batch(pairs, "ngram")
    expected = [reference_projection.ngram_greedy(*item[:3], tokens=item[3]) for item in pairs]
    assert ngram == expected


def test_requirement_closure_follows_requirements_without_extras():
    names, _ = facts.requirement_closure(["xner"])
    assert {"numpy", "onnxruntime", "ctranslate2", "tokenizers", "typer"} <= set(names)
    assert "torch" not in names and "pytest" not in names


def test_goal_verdicts():
    def side(e2e: float, project: float, peak: float, engine: float, load: float = 1.0) -> dict:
        stages = {
            name: {"median_s": 1.0, "peak_rss_mb": peak, "overhead_share": None} for name in STAGES
        }
        stages["end_to_end"].update(median_s=e2e, overhead_share=1 - engine / e2e)
        stages["project"]["median_s"] = project
        stages["project_ngram"]["median_s"] = project
        return {"stages": stages, "process_peak_rss_mb": peak, "load_s": {"total": load}}

    summary = report.summarize(side(2.0, 0.01, 300.0, 1.9), side(20.0, 0.5, 1200.0, 20.0))
    goals = summary["goals"]
    assert goals["end_to_end_speedup"] == {"target": 7.0, "measured": 10.0, "met": True}
    assert goals["end_to_end_speedup_min"]["met"] and goals["model_load_s"]["met"]
    assert goals["peak_rss_ratio"]["measured"] == 0.25 and goals["peak_rss_ratio"]["met"]
    assert goals["overhead_share"]["met"] is True
    assert goals["projection_speedup"]["measured"] == 50.0
    assert goals["projection_ngram_speedup"]["met"] is True
    summary = report.summarize(side(10.0, 0.1, 900.0, 5.0, 2.0), side(20.0, 0.5, 1200.0, 20.0))
    assert not any(goal["met"] for goal in summary["goals"].values())


def test_readme_table_goes_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    start, end = report.README_START.format(family="amd"), report.README_END.format(family="amd")
    readme.write_text(
        f"# x\n\n## Benchmarks\n\nintro\n\n{start}\nold table\n{end}\n\nnote\n",
        encoding="utf-8",
    )
    assert report.update_readme(readme, "| new | table |\n", "amd")
    text = readme.read_text(encoding="utf-8")
    assert "old table" not in text and "| new | table |" in text
    assert text.startswith("# x\n\n## Benchmarks\n\nintro\n\n") and text.endswith("\n\nnote\n")
    assert report.update_readme(readme, "| newer |", "amd")
    assert "| new | table |" not in readme.read_text()
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n", encoding="utf-8")
    assert not report.update_readme(plain, "| t |", "amd")
    assert plain.read_text() == "no markers\n"


def test_cold_start_is_a_median_of_subprocess_runs():
    timed = facts.command_seconds([sys.executable, "-c", "pass"], 2)
    assert timed["runs"] == 2 and 0 < timed["min_s"] <= timed["median_s"] <= timed["max_s"]
    command = facts.xner_executable()
    assert command[-1].endswith("xner") or "xner.cli.main" in command
