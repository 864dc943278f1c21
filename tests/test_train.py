"""``xner train``: the loop learns, a killed run resumes bit-identically, the log, the CLI.

Tiny random XLM-R tagger (tests/fixtures_models.py) fine-tuned on real sentences: a few hundred
Yoruba sentences of MasakhaNER 2.0 (dev file, split here into train and dev) and English
CoNLL-2003 sentences as the second language of the adversarial runs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch (train extra) runs the training loop")
pytest.importorskip("transformers", reason="transformers (train extra) builds the models")

from safetensors.torch import load_file  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from xner.cli.main import app  # noqa: E402
from xner.runtime.errors import ConfigError  # noqa: E402
from xner.train import StepRecord, TrainOptions, train  # noqa: E402
from xner.train.checkpoint import checkpoints  # noqa: E402
from xner.train.data import DataSpec  # noqa: E402
from xner.train.run_folder import iter_log  # noqa: E402
from xner.train.trainer import choose_precision  # noqa: E402

YOR, ENG = "yor_Latn", "eng_Latn"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread: tiny matrices gain nothing from two, and on a busy machine two
    threads waiting for each other make every step ten times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _blocks(path: Path) -> list[str]:
    return [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]


@pytest.fixture(scope="module")
def corpus(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train (200 Yoruba sentences), dev (60 others), English labelled and plain text."""
    root = tmp_path_factory.mktemp("train-corpus")
    yor = _blocks(shared_data / "masakhaner2" / "yor.dev.conll")
    eng = _blocks(shared_data / "conll2003_en" / "dev.conll")
    files = {
        "train": root / "yor.train.conll",
        "dev": root / "yor.dev.conll",
        "eng": root / "eng.conll",
        "plain": root / "eng.txt",
        "outside": root / "outside.conll",
    }
    files["train"].write_text("\n\n".join(yor[:200]) + "\n", encoding="utf-8")
    files["dev"].write_text("\n\n".join(yor[200:260]) + "\n", encoding="utf-8")
    files["eng"].write_text("\n\n".join(eng[:100]) + "\n", encoding="utf-8")
    words = [[line.split()[0] for line in block.splitlines()] for block in eng[100:200]]
    files["plain"].write_text("".join(" ".join(w) + "\n" for w in words), encoding="utf-8")
    outside = [
        "\n".join(f"{line.split()[0]}\tO" for line in block.splitlines()) for block in yor[:5]
    ]
    files["outside"].write_text("\n\n".join(outside) + "\n", encoding="utf-8")
    return files


def _options(tiny_models, corpus: dict[str, Path], out: Path, **changes) -> TrainOptions:
    base = TrainOptions(
        model=str(tiny_models.tagger),
        data=(DataSpec(corpus["train"], YOR),),
        out=out,
        dev=corpus["dev"],
        max_steps=8,
        checkpoint_every=4,
        eval_every=2,
        batch_size=4,
        lr=1e-3,
        max_length=48,
        seed=7,
    )
    return replace(base, **changes)


class Killed(Exception):
    """Stands for the process being killed after ``step``."""


def _kill_after(step: int):
    def on_step(record: StepRecord) -> None:
        if record.step == step:
            raise Killed(step)

    return on_step


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    different = [name for name in a if not torch.equal(a[name], b[name])]
    assert different == []


# --- the loop ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_loss_decreases_and_the_log_has_a_record_per_step(tiny_models, corpus, tmp_path):
    out = tmp_path / "run"
    records: list[StepRecord] = []
    result = train(
        _options(tiny_models, corpus, out, max_steps=24, batch_size=8, eval_every=12),
        on_step=records.append,
    )
    log = list(iter_log(out))
    assert [r["step"] for r in log] == list(range(1, 25)) == [r.step for r in records]
    assert [r["loss"] for r in log] == [r.loss for r in records]
    assert [r["step"] for r in log if "dev_f1" in r] == [12, 24]
    first, last = log[:4], log[-4:]
    assert sum(r["loss"] for r in last) < 0.8 * sum(r["loss"] for r in first)
    assert result.steps == 24 and result.best_step in (12, 24)
    assert result.best_dev_f1 == max(r["dev_f1"] for r in log if "dev_f1" in r)
    # the run folder: the final (best) model in Hugging Face format with its tokenizer
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(out)
    assert list(model.config.id2label.values()) == result.labels
    assert result.labels == [
        "O",
        *(f"{p}-{t}" for t in ("DATE", "LOC", "ORG", "PER") for p in "BI"),
    ]
    assert AutoTokenizer.from_pretrained(out).is_fast
    assert (out / "model.safetensors").is_file() and not (out / "pytorch_model.bin").exists()
    best = _weights(out / "best" / f"step-{result.best_step}.safetensors")
    _assert_same_tensors(best, _weights(out / "model.safetensors"))
    summary = json.loads((out / "xner_train.json").read_text(encoding="utf-8"))
    assert summary["trained_on"] == [YOR] and summary["best_step"] == result.best_step
    assert [c.step for c in checkpoints(out)] == [20, 24]  # keep_checkpoints=2


@pytest.mark.slow
@pytest.mark.parametrize(("kill_after", "with_dev"), [(5, True), (7, False)])
def test_a_killed_run_resumes_to_the_same_weights_bit_for_bit(
    tiny_models, corpus, tmp_path, kill_after, with_dev
):
    """Run to step 8; run again, kill after step 5 or 7, resume from the checkpoint of step 4:
    every tensor and every log record agree (with a dev file the final model is the best one,
    without it the last one; the step-8 checkpoint's weights are compared in both cases)."""
    dev = {} if with_dev else {"dev": None}
    whole = train(_options(tiny_models, corpus, tmp_path / "whole", **dev))
    options = _options(tiny_models, corpus, tmp_path / "killed", **dev)
    with pytest.raises(Killed):
        train(options, on_step=_kill_after(kill_after))
    assert [c.step for c in checkpoints(options.out)] == [4]
    steps = [r["step"] for r in iter_log(options.out)]
    assert steps[-1] == kill_after  # the log went past the checkpoint: resume cuts it back
    resumed = train(replace(options, resume=True))
    assert resumed.resumed_from == 4 and resumed.steps == whole.steps == 8
    _assert_same_tensors(
        _weights(tmp_path / "whole" / "model.safetensors"),
        _weights(options.out / "model.safetensors"),
    )
    last = f"checkpoints/step-{whole.steps}/model.safetensors"
    _assert_same_tensors(_weights(tmp_path / "whole" / last), _weights(options.out / last))
    assert list(iter_log(options.out)) == list(iter_log(tmp_path / "whole"))
    assert (resumed.best_step, resumed.best_dev_f1) == (whole.best_step, whole.best_dev_f1)


@pytest.mark.slow
def test_adversarial_training_logs_the_discriminator_and_resumes_exactly(
    tiny_models, corpus, tmp_path
):
    changes = {
        "data": (DataSpec(corpus["train"], YOR), DataSpec(corpus["eng"], ENG, 0.5)),
        "adversarial": True,
        "unlabelled": (DataSpec(corpus["plain"], ENG),),
        "max_steps": 6,
        "checkpoint_every": 3,
        "eval_every": 3,
    }
    whole = train(_options(tiny_models, corpus, tmp_path / "whole", **changes))
    log = list(iter_log(tmp_path / "whole"))
    assert all(r["disc_loss"] > 0 for r in log)
    lambdas = [r["grl_lambda"] for r in log]
    assert lambdas[0] == 0.0 and lambdas == sorted(lambdas) and lambdas[-1] > 0
    assert (tmp_path / "whole" / "checkpoints" / "step-6" / "discriminator.safetensors").is_file()
    options = _options(tiny_models, corpus, tmp_path / "killed", **changes)
    with pytest.raises(Killed):
        train(options, on_step=_kill_after(4))
    train(replace(options, resume=True))
    for name in ("model.safetensors", "discriminator.safetensors"):
        last = f"checkpoints/step-6/{name}"
        _assert_same_tensors(_weights(tmp_path / "whole" / last), _weights(options.out / last))
    assert list(iter_log(options.out)) == log
    assert whole.labels[0] == "O" and "B-MISC" in whole.labels  # English adds MISC


@pytest.mark.slow
def test_early_stopping_keeps_the_best_model(tiny_models, corpus, tmp_path):
    """A learning rate too small to change any label: the second evaluation is no better than
    the first, so patience 1 stops the run there and the final model is the first's."""
    out = tmp_path / "run"
    result = train(_options(tiny_models, corpus, out, lr=1e-12, patience=1))
    assert (result.stopped_early, result.steps, result.best_step) == (True, 4, 2)
    log = list(iter_log(out))
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert log[1]["dev_f1"] == log[3]["dev_f1"] == result.best_dev_f1
    assert [c.step for c in checkpoints(out)] == [4]
    _assert_same_tensors(
        _weights(out / "best" / "step-2.safetensors"), _weights(out / "model.safetensors")
    )
    again = train(_options(tiny_models, corpus, out, lr=1e-12, patience=1, resume=True))
    assert (again.stopped_early, again.steps) == (True, 4)  # a finished run stays finished


@pytest.mark.slow
def test_resume_refuses_other_settings_and_missing_checkpoints(
    tiny_models, corpus, tmp_path, caplog
):
    out = tmp_path / "run"
    with caplog.at_level(logging.WARNING, logger="xner"):  # nothing there: a first run
        first = train(
            _options(tiny_models, corpus, out, max_steps=2, checkpoint_every=2, resume=True)
        )
    assert first.steps == 2 and "nothing to resume" in caplog.text
    first_weights = _weights(out / "model.safetensors")
    with pytest.raises(ConfigError, match=r"settings differ .* lr 0.001 -> 0.002"):
        train(_options(tiny_models, corpus, out, max_steps=4, lr=2e-3, resume=True))
    with pytest.raises(ConfigError, match="exists and is not empty"):
        train(_options(tiny_models, corpus, out))
    for checkpoint in checkpoints(out):
        (checkpoint.path / "state.json").unlink()  # as if killed while writing it
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="xner"):  # step 0 is where it resumes from
        again = train(
            _options(tiny_models, corpus, out, max_steps=2, checkpoint_every=2, resume=True)
        )
    assert "no complete checkpoint" in caplog.text and again.steps == 2
    assert [r["step"] for r in iter_log(out)] == [1, 2]  # the log started over too
    _assert_same_tensors(_weights(out / "model.safetensors"), first_weights)
    forced = train(_options(tiny_models, corpus, out, max_steps=2, dev=None, force=True))
    assert forced.best_step is None and [r["step"] for r in iter_log(out)] == [1, 2]


# --- options and devices -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_steps": 0}, "--max-steps: 0 is not a whole number >= 1"),
        ({"warmup": 1.5}, r"--warmup: 1.5 is not in \[0, 1\]"),
        ({"grl_schedule": "cosine"}, "unknown --grl-schedule 'cosine'; choose from constant"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"adversarial": True}, "at least two languages"),
        ({"unlabelled": (DataSpec(Path("x.txt"), ENG),)}, "add --adversarial"),
        ({"resume": True, "force": True}, "contradict"),
        ({"data": ()}, "no training data"),
    ],
)
def test_bad_options_are_refused_with_the_flag_named(changes, message, tmp_path):
    base = {"model": "m", "data": (DataSpec(Path("a.conll"), YOR),), "out": tmp_path / "r"}
    with pytest.raises(ConfigError, match=message):
        TrainOptions(**{**base, **changes})


def test_precision_follows_the_device() -> None:
    assert choose_precision("cpu", False) == choose_precision("cpu", True)
    assert choose_precision("cpu", True).dtype == "float32"
    assert choose_precision("cuda", True).dtype == "bfloat16"
    assert not choose_precision("cuda", True).scaler
    assert choose_precision("cuda", False).dtype == "float16"
    assert choose_precision("cuda", False).scaler


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_training_on_cuda_in_mixed_precision(tiny_models, corpus, tmp_path):  # pragma: no cover
    result = train(_options(tiny_models, corpus, tmp_path / "gpu", device="cuda", max_steps=4))
    assert result.steps == 4 and all(r["loss"] > 0 for r in iter_log(tmp_path / "gpu"))


# --- the command line ----------------------------------------------------------------------------

runner = CliRunner()


def _one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("xner: error: ")
    return lines[0]


@pytest.mark.slow
def test_bad_input_is_one_line_with_exit_2(tiny_models, corpus, tmp_path):
    model, train_file = str(tiny_models.tagger), f"{corpus['train']}:yor"
    common = ["--model", model, "--max-steps", "1"]
    missing = tmp_path / "missing.conll"
    assert f"{missing}: no such file" in _one_line_error(
        [*common, "--data", f"{missing}:yor", "--out", str(tmp_path / "a")]
    )
    assert "expected FILE:LANG" in _one_line_error(
        [*common, "--data", str(corpus["train"]), "--out", str(tmp_path / "b")]
    )
    assert "no entity labels" in _one_line_error(
        [*common, "--data", f"{corpus['outside']}:yor", "--out", str(tmp_path / "c")]
    )
    empty = tmp_path / "empty.conll"
    empty.write_text("", encoding="utf-8")
    assert f"{empty}: no usable sentence" in _one_line_error(
        [*common, "--data", f"{empty}:yor", "--out", str(tmp_path / "d")]
    )
    assert "no such folder" in _one_line_error(
        ["--model", str(tmp_path / "nomodel"), "--data", train_file, "--out", str(tmp_path / "e")]
    )
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine\n", encoding="utf-8")
    assert "--resume" in _one_line_error([*common, "--data", train_file, "--out", str(used)])
    assert "--force only clears a run folder" in _one_line_error(
        [*common, "--data", train_file, "--out", str(used), "--force"]
    )
    assert "holds no run of xner train" in _one_line_error(
        [*common, "--data", train_file, "--out", str(used), "--resume"]
    )


@pytest.mark.slow
def test_the_command_end_to_end(tiny_models, corpus, tmp_path):
    out = tmp_path / "run"
    args = [
        "--model", str(tiny_models.tagger), "--data", f"{corpus['train']}:yor",
        "--data", f"{corpus['eng']}:en", "--source-weights", "en=0.5", "--dev", str(corpus["dev"]),
        "--ignore", "DATE", "--out", str(out), "--max-steps", "3", "--checkpoint-every", "2",
        "--eval-every", "3", "--batch-size", "4", "--max-length", "48", "--adversarial",
    ]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "xner.cli.main", "train", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "wrote " in done.stderr and "3 steps" in done.stderr
    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3] and "dev_f1" in records[-1]
    assert all(r["disc_loss"] > 0 for r in records)  # Yoruba against English, no plain text
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert [d["weight"] for d in run["data"]] == [1.0, 0.5] and run["ignore"] == ["DATE"]
    summary = json.loads((out / "xner_train.json").read_text(encoding="utf-8"))
    assert "B-DATE" not in summary["labels"] and summary["trained_on"] == [ENG, YOR]
    assert [c.step for c in checkpoints(out)] == [2, 3]
