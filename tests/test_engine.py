"""Shared engine settings: `xner doctor`, knob merging, batching and device names."""

from __future__ import annotations

import json
import platform

import numpy as np
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

    from xner.runtime.engines.options import length_batches

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(0, 60), max_size=80), st.integers(1, 16), st.integers(1, 300))
    def check(lengths: list[int], size: int, tokens: int) -> None:
        batches = list(length_batches(lengths, size, tokens))
        seen = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
        assert sorted(seen.tolist()) == list(range(len(lengths)))  # each input exactly once
        for batch in batches:
            longest = max(max(lengths[i] for i in batch), 1)
            assert len(batch) <= size
            assert len(batch) == 1 or longest * len(batch) <= tokens

    check()


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
