"""bench/bench_translator.py (issue 15 item 3): variants, their environments, aggregation.

The pure parts run on hand-made records; one slow test runs the script on the tiny bundle (each
variant in its own process) without any timed assertion.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import bench_translator as bt  # noqa: E402

from xner.runtime.engines.options import EngineOptions  # noqa: E402
from xner.runtime.engines.translator import COMPUTE_TYPES  # noqa: E402

# what CTranslate2 4.8 logs at load with CT2_VERBOSE=1 (AMD EPYC, default settings)
STDERR = """\
[2026-12-02 04:26:03.568] [ctranslate2] [thread 6409] [info] CPU: AuthenticAMD (SSE4.1=true, AVX=true, AVX2=true, AVX512=true)
[2026-12-02 04:26:03.568] [ctranslate2] [thread 6409] [info]  - Selected ISA: AVX2
[2026-12-02 04:26:03.568] [ctranslate2] [thread 6409] [info]  - Use Intel MKL: false
[2026-12-02 04:26:03.568] [ctranslate2] [thread 6409] [info]  - SGEMM backend: DNNL (packed: false)
[2026-12-02 04:26:03.568] [ctranslate2] [thread 6409] [info]  - GEMM_S16 backend: none (packed: false)
[2026-12-02 04:26:03.568] [ctranslate2] [thread 6409] [info]  - GEMM_S8 backend: MKL (packed: true, u8s8 preferred: true)
[2026-12-02 04:26:03.766] [ctranslate2] [thread 6409] [info] Loaded model /x/translator on device cpu:0
[2026-12-02 04:26:03.767] [ctranslate2] [thread 6409] [info]  - Binary version: 6
[2026-12-02 04:26:03.767] [ctranslate2] [thread 6409] [info]  - Selected compute type: int8_float32
2026-12-02 04:26:03,800 xner: translation into eng_Latn
"""  # noqa: E501


def test_every_variant_sets_valid_knobs() -> None:
    for name, variant in bt.VARIANTS.items():
        knobs = dict(variant.knobs)
        compute_type = knobs.pop("compute_type", "default")
        assert compute_type in COMPUTE_TYPES, name
        EngineOptions(**knobs)  # raises ConfigError on a bad knob
        assert all(key.startswith("CT2_") for key in variant.env), name


def test_parse_variants_puts_default_first_and_drops_repeats() -> None:
    chosen = bt.parse_variants("mkl, int8,mkl")
    assert list(chosen) == ["default", "mkl", "int8"]
    assert chosen["mkl"].env == {"CT2_USE_MKL": "1"}
    assert chosen["int8"].knobs == {"compute_type": "int8"}


def test_parse_variants_all_or_nothing_means_every_known_one() -> None:
    assert list(bt.parse_variants(None)) == list(bt.VARIANTS)
    assert list(bt.parse_variants("all")) == list(bt.VARIANTS)
    assert list(bt.parse_variants("mkl+int16,all"))[:2] == ["default", "mkl+int16"]


def test_combined_variant_merges_env_and_knobs() -> None:
    variant = bt.parse_variants("mkl+int16+batch64")["mkl+int16+batch64"]
    assert variant.env == {"CT2_USE_MKL": "1"}
    assert variant.knobs == {"compute_type": "int16", "max_batch_size": 64}
    assert "MKL" in variant.note


def test_unknown_variant_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown variant 'int4'.*int8_bfloat16"):
        bt.parse_variants("int4")


def test_conflicting_combination_is_refused() -> None:
    with pytest.raises(ValueError, match="compute_type"):
        bt.combine("int8+float32")
    with pytest.raises(ValueError, match="CT2_USE_MKL"):
        bt.combine("mkl+no-mkl")
    with pytest.raises(ValueError, match="vocabulary map"):
        bt.combine("vmap-forced+no-vmap")
    assert bt.combine("vmap-forced+batch8").force_vmap


def test_variant_env_drops_the_shells_ct2_settings() -> None:
    base = {"PATH": "/bin", "CT2_USE_MKL": "1", "CT2_FORCE_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "8"}
    env = bt.variant_env(base, bt.VARIANTS["avx512"], threads=2)
    assert env["PATH"] == "/bin"
    assert "CT2_USE_MKL" not in env
    assert env["CT2_FORCE_CPU_ISA"] == "AVX512"
    assert env["CT2_VERBOSE"] == "1"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert base["CT2_USE_MKL"] == "1"  # the caller's mapping is left alone


def test_backend_lines_keep_what_ctranslate2_says_about_its_backend() -> None:
    lines = bt.backend_lines(STDERR)
    assert lines == [
        "CPU: AuthenticAMD (SSE4.1=true, AVX=true, AVX2=true, AVX512=true)",
        "Selected ISA: AVX2",
        "Use Intel MKL: false",
        "SGEMM backend: DNNL (packed: false)",
        "GEMM_S16 backend: none (packed: false)",
        "GEMM_S8 backend: MKL (packed: true, u8s8 preferred: true)",
        "Selected compute type: int8_float32",
    ]
    assert bt.backend_summary(lines) == "AVX2; F32 DNNL; S8 MKL packed"
    assert bt.backend_summary([]) == "-"


def run(seconds: float, tokens: list[list[str]], **changes: Any) -> dict[str, Any]:
    record = {
        "sentences_per_s": len(tokens) / seconds,
        "tokens_per_s": sum(map(len, tokens)) / seconds,
        "translate_s": seconds,
        "cpu_s": 2 * seconds,
        "peak_rss_mb": 100.0,
        "verify_s": 0.1,
        "load_s": 0.5,
        "start_to_loaded_s": 1.0,
        "compute_type": "int8_float32",
        "vmap_used": False,
        "tokens": tokens,
    }
    return {**record, **changes}


def test_summarise_takes_median_and_spread_and_agreement() -> None:
    reference = [["a", "b", "c", "d"], ["e", "f"]]
    mine = [["a", "b", "x", "d"], ["e", "f"]]
    runs = [run(2.0, mine), run(1.0, mine, peak_rss_mb=120.0), run(4.0, mine)]
    row = bt.summarise(runs, reference)
    assert row["translate_s"] == {"median": 2.0, "min": 1.0, "max": 4.0}
    assert row["sentences_per_s"] == {"median": 1.0, "min": 0.5, "max": 2.0}
    assert row["peak_rss_mb"]["max"] == 120.0
    assert row["token_agreement"] == round(5 / 6, 4)
    assert row["exact_match"] == 0.5
    assert row["same_output_every_run"] is True
    assert row["runs"] == 3


def test_summarise_flags_runs_that_translate_differently() -> None:
    row = bt.summarise([run(1.0, [["a"]]), run(1.0, [["b"]])], None)
    assert row["same_output_every_run"] is False
    assert row["token_agreement"] is None


def test_spread_of_nothing_is_none() -> None:
    assert bt.spread([]) == {"median": None, "min": None, "max": None}


def test_markdown_shows_runs_and_skips() -> None:
    row = bt.summarise([run(1.0, [["a"]])], [["a"]])
    row.update(env={}, knobs={}, note="", backend=bt.backend_lines(STDERR))
    row.update(force_vmap=False)
    skipped = {"env": {}, "knobs": {"compute_type": "int16"}, "skipped": "not listed"}
    failed = {"env": {"CT2_FORCE_CPU_ISA": "AVX512"}, "knobs": {}, "failed": "exit 1"}
    for other in (skipped, failed):
        other.update(note="", force_vmap=False)
    record = {
        "date": "2026-12-02",
        "name": "t",
        "ctranslate2": "4.8.5",
        "supported_compute_types_cpu": ["float32", "int8"],
        "settings": {
            "sentences": 1,
            "sentences_per_language": 1,
            "languages": ["hau"],
            "length": 32,
            "threads": 2,
            "rounds": 1,
        },
        "machine": {"cpu": "X", "cpu_family": "amd", "cpu_flags": ["avx2"], "usable_cores": 2},
        "load_average_start": [1.0],
        "load_average_end": [1.0],
        "rows": {"default": row, "int16": skipped, "avx512": failed},
    }
    table = bt.markdown(record)
    assert "| default | - | int8_float32 |" in table
    assert "AVX2; F32 DNNL; S8 MKL packed" in table
    assert "| int16 | compute_type=int16 |" in table and "not listed" in table
    assert "failed: exit 1" in table


@pytest.mark.slow
def test_script_runs_each_variant_in_its_own_process(
    tiny_bundle: Path,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    argv = ["--bundle", str(tiny_bundle), "--data", str(shared_data), "--sentences", "2"]
    argv += [
        "--rounds",
        "2",
        "--variants",
        "no-vmap,vmap-forced,mkl,int8_bfloat16",
        "--length",
        "8",
    ]
    record = bt.main([*argv, "--name", "t", "--out-dir", str(tmp_path)])
    rows = record["rows"]
    assert list(rows) == ["default", "no-vmap", "vmap-forced", "mkl", "int8_bfloat16"]
    assert rows["default"]["token_agreement"] == 1.0
    assert rows["default"]["runs"] == 2
    # the tiny bundle's restriction is not validated: the whole layer either way, same output
    assert rows["no-vmap"]["token_agreement"] == 1.0
    assert rows["no-vmap"]["vmap_used"] is False
    assert rows["vmap-forced"]["vmap_used"] is True
    assert rows["vmap-forced"]["vmap_validated"] is False
    assert "force_vmap=1" in (tmp_path / f"{record['date']}-t.md").read_text(encoding="utf-8")
    assert any(line.startswith("Selected ISA") for line in rows["default"]["backend"])
    assert "Use Intel MKL: true" in rows["mkl"]["backend"]
    bf16 = rows["int8_bfloat16"]
    if "int8_bfloat16" in record["supported_compute_types_cpu"]:
        assert bf16["compute_type"] == "int8_bfloat16"
    else:
        assert "int8_bfloat16 is not among" in bf16["skipped"]
    saved = json.loads((tmp_path / f"{record['date']}-t.json").read_text(encoding="utf-8"))
    assert saved["settings"]["sentences"] == 10
    assert (tmp_path / f"{record['date']}-t.md").is_file()
