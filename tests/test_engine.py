"""Shared engine settings: `xner doctor`, knob merging, batching and device names."""

from __future__ import annotations

import json
import platform

import numpy as np
import pytest
from torchfree import run_cli_torch_free

from xner.runtime.engines import options as engine
from xner.runtime.engines.options import EngineOptions, run_encoder


def test_doctor_json_lists_versions_providers_and_threads() -> None:
    done = run_cli_torch_free(["doctor", "--json", "--intra-threads", "2"])
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["packages"]["onnxruntime"] and report["packages"]["ctranslate2"]
    assert "CPUExecutionProvider" in report["onnxruntime_providers"]
    assert "int8" in report["ctranslate2_compute_types"]["cpu"]
    assert report["threads"]["intra_threads"].startswith("2 ")
    assert report["cpu_count"] >= 1


def test_doctor_text_report() -> None:
    done = run_cli_torch_free(["doctor"])
    assert done.returncode == 0, done.stderr
    assert "ctranslate2 compute types on cpu:" in done.stdout
    assert "onnxruntime providers:" in done.stdout


def test_unknown_engine_knob_lists_the_valid_ones() -> None:
    import pytest

    from xner.runtime.errors import ConfigError

    with pytest.raises(ConfigError, match="intra_threads"):
        EngineOptions.merge(None, {"intra_thread": 2}, engine="Tagger")
    assert EngineOptions.merge(None, {"intra_threads": 3}).intra_threads == 3


def test_length_batches_respect_both_limits_and_cover_every_input() -> None:
    import numpy as np
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from xner.runtime.engines.options import PADDING_SLACK, length_batches

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(st.integers(0, 120), max_size=80),
        st.integers(1, 16),
        st.integers(1, 600),
        st.sampled_from([None, 0.0, 0.25, 1.0]),
    )
    def check(lengths: list[int], size: int, tokens: int, padding: float | None) -> None:
        batches = list(length_batches(lengths, size, tokens, max_padding=padding))
        seen = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
        assert sorted(seen.tolist()) == list(range(len(lengths)))  # each input exactly once
        for batch in batches:
            sizes = [max(lengths[i], 1) for i in batch]
            assert len(batch) <= size
            assert len(batch) == 1 or max(sizes) * len(batch) <= tokens
            if padding is not None:
                waste = max(sizes) * len(batch) - sum(sizes)
                assert waste <= max(PADDING_SLACK, padding * sum(sizes))

    check()


def test_padding_bound_splits_a_long_tail_batch() -> None:
    from xner.runtime.engines.options import length_batches

    lengths = [300, 100, 100, 100, 100, 20, 20, 20, 20]
    assert [b.tolist() for b in length_batches(lengths, 32, 8192)] == [list(range(9))]
    bounded = [b.tolist() for b in length_batches(lengths, 32, 8192, max_padding=0.25)]
    # 300 alone (200 padded for 100 real); one 20 rides with the 100s (80 padded <= 0.25 x 420)
    assert bounded == [[0], [1, 2, 3, 4, 5], [6, 7, 8]]


def test_devices_are_validated() -> None:
    import pytest

    from xner.runtime.engines.options import choose_device, resolve_device_name
    from xner.runtime.errors import ConfigError

    assert resolve_device_name("cuda:1") == ("cuda", 1)
    for bad in ("gpu", "cpu:1", "cuda:x"):
        with pytest.raises(ConfigError, match="choose from auto, cpu, cuda"):
            EngineOptions(device=bad)
    assert choose_device("cpu", "onnxruntime") == ("cpu", 0)


def test_cli_engine_options_are_validated_once_for_every_command(tmp_path) -> None:
    from typer.testing import CliRunner

    from xner.cli.main import app

    for command in ("tag", "align", "translate", "translate-test", "experiment"):
        extra = {"translate": ["--src-lang", "hau", "--tgt-lang", "eng"]}.get(command, [])
        extra += {
            "translate-test": ["--lang", "hau"],
            "experiment": ["--data", str(tmp_path), "--langs", "hau"],
        }.get(command, [])
        extra += ["-o", str(tmp_path / "out")] if command == "experiment" else []
        args = [command, "--bundle", str(tmp_path), "--device", "gpu", *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (command, result.output)
        assert "unknown device 'gpu'; choose from auto, cpu, cuda, cuda:N" in result.stderr
    tagged = CliRunner().invoke(app, ["tag", "--bundle", str(tmp_path), "--compute-type", "int8"])
    assert tagged.exit_code == 2 and "No such option" in tagged.stderr  # ONNX has no compute type


class _RecordingSession:
    """Stands in for an ONNX session: echoes ``input_ids`` as output, records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict, object]] = []

    def run(self, outputs, feeds, run_options=None):
        self.calls.append((feeds, run_options))
        return [feeds["input_ids"][..., None] * 10]


def test_run_encoder_pads_sorts_and_shrinks_the_arena_after_each_batch() -> None:
    sequences = [np.arange(n, dtype=np.int64) + 1 for n in (3, 7, 1, 5)]
    session = _RecordingSession()
    options = EngineOptions(max_batch_size=2)
    out = run_encoder(session, sequences, ("input_ids", "attention_mask"), "y", 0, options)
    assert [o[:, 0].tolist() for o in out] == [(10 * s).tolist() for s in sequences]
    widths = [feeds["input_ids"].shape for feeds, _ in session.calls]
    assert widths == [(2, 7), (2, 3)]  # longest first, padded to the batch's longest
    first = session.calls[0][0]
    assert first["attention_mask"].sum(axis=1).tolist() == [7, 5]
    assert first["input_ids"][1, 5:].tolist() == [0, 0]  # pad id
    for _, run_options in session.calls:
        entry = run_options.get_run_config_entry("memory.enable_memory_arena_shrinkage")
        assert entry == "cpu:0"


def test_trim_heap_finds_glibc_malloc_trim_on_linux() -> None:
    engine.trim_heap()
    engine.trim_heap()  # looked up once, then reused
    assert len(engine._MALLOC_TRIM) == 1
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert engine._MALLOC_TRIM[0] is not None


@pytest.mark.parametrize(
    ("vendor", "env", "backend"),
    [
        ("GenuineIntel", {}, "Intel MKL (by vendor GenuineIntel)"),
        ("AuthenticAMD", {}, "oneDNN (by vendor AuthenticAMD)"),
        ("GenuineIntel", {"CT2_USE_MKL": "0"}, "oneDNN (CT2_USE_MKL set)"),
        ("AuthenticAMD", {"CT2_USE_MKL": "1"}, "Intel MKL (CT2_USE_MKL set)"),
    ],
)
def test_doctor_names_the_gemm_backend_ctranslate2_picks(vendor, env, backend) -> None:
    from xner.runtime.doctor import cpu_facts

    cpuinfo = (
        f"processor\t: 0\nvendor_id\t: {vendor}\nmodel name\t: Some CPU\n"
        "flags\t\t: fpu avx2 avx512f amx_int8\nprocessor\t: 1\nvendor_id\t: Other\n"
    )
    facts = cpu_facts(cpuinfo, env)
    assert facts["vendor"] == vendor and facts["model"] == "Some CPU"
    assert facts["flags"] == "avx2, avx512f, amx_int8"
    assert facts["ctranslate2 int8 backend"] == backend
    assert facts["ctranslate2 instruction set"].startswith("AVX2")
    assert cpu_facts("", {"CT2_FORCE_CPU_ISA": "AVX512"})["ctranslate2 instruction set"] == "AVX512"
