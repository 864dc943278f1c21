"""xner export --tagger RUN_DIR --into BUNDLE: a trained tagger replaces the bundle's tagger.

A tiny XLM-R token classifier is trained for a few dozen steps on real Yoruba sentences
(MasakhaNER 2.0, its own label set with DATE), saved as ``xner train`` saves a run (safetensors,
tokenizer, run.json), exported into a copy of the tiny bundle, and tagged through the bundle.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures_models import copy_bundle, tiny_bundle, tiny_models  # noqa: F401
from typer.testing import CliRunner

from xner.runtime.bundles.bundle import MANIFEST, Bundle, read_manifest, verify_bundle
from xner.runtime.data import Sentence
from xner.runtime.files.formats import read_sentences
from xner.runtime.tags import spans_from_tags, tags_from_spans

LABELS = ("O", "B-DATE", "I-DATE", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER")
KEPT = ("translator", "aligner")
MAX_SUBWORDS = 120  # the tiny tagger reads 126 subwords: longer sentences would be windowed


def _app():
    from xner.cli.main import app

    return app


def _invoke(*args: object):
    return CliRunner().invoke(_app(), [str(a) for a in args])


def _short(path: Path, tokenizer, count: int, skip: int = 0) -> list[Sentence]:
    """The first ``count`` sentences of ``path`` (after ``skip``) that fit in one window."""
    fits = (
        s
        for s in read_sentences(path)
        if len(tokenizer(s.tokens, is_split_into_words=True)["input_ids"]) <= MAX_SUBWORDS
    )
    return list(itertools.islice(fits, skip, skip + count))


def _leftovers(bundle: Path) -> list[str]:
    return sorted(p.name for p in bundle.parent.glob(f".{bundle.name}.*"))


def _snapshot(bundle: Path) -> dict[str, bytes]:
    """Every file of the bundle's kept components, and the manifest, byte for byte."""
    manifest = read_manifest(bundle)
    files = {MANIFEST: (bundle / MANIFEST).read_bytes()}
    for name in KEPT:
        for entry in manifest["components"][name]["files"]:
            files[entry["path"]] = (bundle / entry["path"]).read_bytes()
    return files


# --------------------------------------------------------------------------- the trained run


@pytest.fixture(scope="module")
def yor(shared_data: Path, tiny_models) -> dict[str, list[Sentence]]:  # noqa: F811
    """Training sentences (yor test) and the 50 evaluation sentences (yor dev), all short."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_models.tagger)
    folder = shared_data / "masakhaner2"
    return {
        "train": _short(folder / "yor.test.conll", tokenizer, 256),
        "dev": _short(folder / "yor.dev.conll", tokenizer, 50),
    }


@pytest.fixture(scope="module")
def run_dir(tiny_models, yor, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A run folder as ``xner train`` writes it: the tiny tagger fine-tuned on Yoruba."""
    import torch
    from transformers import AutoTokenizer, XLMRobertaForTokenClassification

    out = tmp_path_factory.mktemp("into") / "run"
    tokenizer = AutoTokenizer.from_pretrained(tiny_models.tagger)
    torch.manual_seed(0)
    model = XLMRobertaForTokenClassification.from_pretrained(
        tiny_models.tagger,
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    label_id = {label: i for i, label in enumerate(LABELS)}
    sentences = yor["train"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    weight = torch.ones(len(LABELS))
    weight[label_id["O"]] = 0.1  # a few steps name entities only if O weighs less
    loss_of = torch.nn.CrossEntropyLoss(weight=weight)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only fight over the shared cores
    model.train()
    try:
        for step in range(30):
            batch = [sentences[(step * 16 + k) % len(sentences)] for k in range(16)]
            encoded = tokenizer(
                [s.tokens for s in batch],
                is_split_into_words=True,
                padding=True,
                return_tensors="pt",
            )
            labels = torch.full(encoded["input_ids"].shape, -100, dtype=torch.long)
            for row, sentence in enumerate(batch):
                previous = None
                for position, word in enumerate(encoded.word_ids(row)):
                    if word is not None and word != previous:
                        labels[row, position] = label_id[sentence.tags[word]]
                    previous = word
            logits = model(**encoded).logits
            loss_of(logits.view(-1, len(LABELS)), labels.view(-1)).backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval().save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    record = {"model": str(tiny_models.tagger), "data": [{"path": "yor", "lang": "yor_Latn"}]}
    (out / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def probes(yor, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 50 Yoruba evaluation sentences as a probe file (the figure is measured on them)."""
    path = tmp_path_factory.mktemp("probes") / "yor.tsv"
    lines = [f"yor_Latn\t{' '.join(s.tokens)}" for s in yor["dev"]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def exported(
    tiny_bundle: Path,  # noqa: F811
    run_dir: Path,
    probes: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, object]:
    """A copy of the tiny bundle whose tagger ``xner export --into`` replaced."""
    bundle = copy_bundle(tiny_bundle, tmp_path_factory.mktemp("bundle"))
    before = _snapshot(bundle)
    result = _invoke("export", "--tagger", run_dir, "--into", bundle, "--probe", probes)
    return {"bundle": bundle, "before": before, "result": result}


# --------------------------------------------------------------------------- the export


@pytest.mark.slow
def test_into_replaces_only_the_tagger_and_the_bundle_verifies(exported, run_dir: Path) -> None:
    result = exported["result"]
    bundle = exported["bundle"]
    before = exported["before"]
    assert isinstance(bundle, Path) and isinstance(before, dict)
    assert result.exit_code == 0, result.output
    assert "replaced the tagger of" in result.output
    assert verify_bundle(bundle) == []
    loaded = Bundle.load(bundle, verify=True)
    tagger = loaded.require("tagger")
    assert tagger.source.id == str(run_dir)
    assert tuple(tagger.settings.labels) == LABELS
    assert tagger.settings.quantization == "int8"  # as the bundle's tagger was
    assert list(tagger.settings.trained_on) == ["yor_Latn"]  # from the run's run.json
    assert tagger.source.license == "apache-2.0"  # the base model's card (the run has none)
    figure = tagger.fidelity["bundle_vs_torch"]
    assert 0.0 <= figure["label_agreement"] <= 1.0
    assert f"{figure['label_agreement']:.2%}" in result.output
    assert tagger.fidelity["probe_sentences"] == 50
    # the other components: same manifest entries, same bytes
    old = json.loads(before[MANIFEST])
    new = read_manifest(bundle)
    for name in KEPT:
        assert new["components"][name] == old["components"][name]
    for path, data in before.items():
        if path != MANIFEST:
            assert (bundle / path).read_bytes() == data, path
    assert new["components"]["tagger"] != old["components"]["tagger"]
    assert _leftovers(bundle) == []


@pytest.mark.slow
def test_tag_through_the_bundle_gives_the_trained_models_labels(
    exported, run_dir: Path, yor, tmp_path: Path
) -> None:
    """`xner tag` gives the torch model's argmax labels (decoded as the tagger decodes them) to
    at least the share of words the manifest records."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from xner.runtime.files.formats import write_sentences

    bundle = exported["bundle"]
    assert isinstance(bundle, Path)
    sentences = yor["dev"]
    source = tmp_path / "dev.conll"
    write_sentences(sentences, source)
    out = tmp_path / "tagged.conll"
    result = _invoke("tag", "--bundle", bundle, "--lang", "yor", source, "-o", out)
    assert result.exit_code == 0, result.output
    tagged = [s.tags for s in read_sentences(out)]

    tagger = read_manifest(bundle)["components"]["tagger"]
    scheme = tagger["settings"]["scheme"]
    tokenizer = AutoTokenizer.from_pretrained(run_dir)
    model = AutoModelForTokenClassification.from_pretrained(run_dir).eval()
    expected = []
    for sentence in sentences:
        encoded = tokenizer(sentence.tokens, is_split_into_words=True, return_tensors="pt")
        with torch.no_grad():
            ids = model(**encoded).logits[0].argmax(-1).tolist()
        first: dict[int, int] = {}
        for position, word in enumerate(encoded.word_ids(0)):
            if word is not None:
                first.setdefault(word, position)
        # a word without subwords is O, as the tagger reads it
        raw = [
            model.config.id2label[ids[first[w]]] if w in first else "O"
            for w in range(len(sentence.tokens))
        ]
        spans = spans_from_tags(raw, scheme)
        expected.append(tags_from_spans(spans, len(raw), "IOB2"))
    words = sum(len(tags) for tags in expected)
    same = sum(
        a == b
        for got, want in zip(tagged, expected, strict=True)
        for a, b in zip(got, want, strict=True)
    )
    recorded = tagger["fidelity"]["bundle_vs_torch"]["label_agreement"]
    assert same / words >= recorded
    assert any(tag != "O" for tags in expected for tag in tags)  # the model names entities


@pytest.mark.slow
def test_bundle_info_prints_the_agreement_with_the_trained_model(exported) -> None:
    result = _invoke("bundle", "info", exported["bundle"])
    assert result.exit_code == 0, result.output
    figure = read_manifest(exported["bundle"])["components"]["tagger"]["fidelity"]
    shown = f"bundle_vs_torch: label_agreement {figure['bundle_vs_torch']['label_agreement']:.4g}"
    assert shown in result.output
    assert "trained on yor_Latn" in result.output


# --------------------------------------------------------------------------- failures


@pytest.mark.slow
def test_a_failure_midway_leaves_the_old_bundle(
    tiny_bundle: Path,  # noqa: F811
    run_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tagger exported into the staging folder, then the manifest fails to be written."""
    from xner.export import api

    bundle = copy_bundle(tiny_bundle, tmp_path)
    before = _snapshot(bundle)
    tagger_files = {p.name: p.read_bytes() for p in (bundle / "tagger").iterdir()}

    def broken(root: Path, manifest: dict) -> Path:
        assert (root / "tagger" / "model.onnx").is_file()  # the new tagger is written
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr(api, "write_manifest", broken)
    result = _invoke("export", "--tagger", run_dir, "--into", bundle)
    assert result.exit_code != 0
    assert verify_bundle(bundle) == []
    assert _snapshot(bundle) == before
    assert {p.name: p.read_bytes() for p in (bundle / "tagger").iterdir()} == tagger_files
    assert _leftovers(bundle) == []


@pytest.mark.slow
def test_a_killed_export_leaves_the_old_bundle(
    tiny_bundle: Path,  # noqa: F811
    run_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SIGKILL once the new tagger is being written: the old bundle still verifies; the next
    export names the folders the killed one left."""
    from xner.export.into import warn_leftovers

    bundle = copy_bundle(tiny_bundle, tmp_path)
    before = _snapshot(bundle)
    xner = Path(sys.executable).with_name("xner")
    command = [str(xner), "export", "--tagger", str(run_dir), "--into", str(bundle)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        while process.poll() is None:
            if any(bundle.parent.glob(f".{bundle.name}.tmp-*/tagger/tokenizer.json")):
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL, process.stdout.read() if process.stdout else ""
    assert verify_bundle(bundle) == []
    assert _snapshot(bundle) == before
    left = _leftovers(bundle)  # the staging and work folders of the killed run
    assert left
    with caplog.at_level(logging.WARNING, logger="xner"):
        warn_leftovers(bundle)
    assert all(name in caplog.text for name in left)


def test_into_refuses_other_parts_missing_bundles_and_non_taggers(tmp_path: Path) -> None:
    """One line, before anything is exported or loaded (no torch needed)."""
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / MANIFEST).write_text("{}", encoding="utf-8")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}), "utf-8")

    def fails(code: int, text: str, *args: object) -> None:
        result = _invoke("export", *args)
        assert result.exit_code == code, result.output
        assert text in result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("xner: error: "), result.output

    fails(
        2,
        "--translator cannot go with it",
        "--tagger",
        model,
        "--into",
        bundle,
        "--translator",
        "x",
    )
    fails(2, "--out cannot go with it", "--tagger", model, "--into", bundle, "--out", bundle)
    fails(2, "--into needs --tagger RUN_DIR", "--into", bundle)
    fails(2, "give --out BUNDLE", "--tagger", model)
    fails(2, "nor an installed bundle", "--tagger", model, "--into", tmp_path / "missing")
    fails(1, "manifest.json is missing", "--tagger", model, "--into", model)
    fails(
        2,
        "not a token-classification model (architectures: BertModel)",
        "--tagger",
        model,
        "--into",
        bundle,
    )
    fails(2, "not a folder", "--tagger", tmp_path / "nothing", "--into", bundle)
    (model / "config.json").write_text(
        json.dumps({"architectures": ["BertForTokenClassification"]}), "utf-8"
    )
    fails(
        2,
        "no weights (model.safetensors or pytorch_model.bin)",
        "--tagger",
        model,
        "--into",
        bundle,
    )


def test_the_swap_leaves_one_whole_folder_with_or_without_an_atomic_exchange(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from xner.export import api

    for exchange in (True, False):
        out, staging = tmp_path / f"out-{exchange}", tmp_path / f"new-{exchange}"
        for folder, text in ((out, "old"), (staging, "new")):
            folder.mkdir()
            (folder / "f").write_text(text, encoding="utf-8")
        if not exchange:
            monkeypatch.setattr(api, "_exchange", lambda first, second: False)
        api._replace(staging, out)
        assert (out / "f").read_text(encoding="utf-8") == "new"
        assert not staging.exists()
        assert _leftovers(out) == []


def test_the_training_languages_come_from_the_run(tmp_path: Path) -> None:
    """xner train's summary first (trained_on), else its run.json's data, else nothing."""
    from xner.export.into import run_languages

    assert run_languages(tmp_path) == ()
    data = [{"path": "a", "lang": "yor_Latn"}, {"path": "b", "lang": "eng_Latn"}]
    (tmp_path / "run.json").write_text(json.dumps({"data": [*data, data[0]]}), "utf-8")
    assert run_languages(tmp_path) == ("yor_Latn", "eng_Latn")
    summary = {"trained_on": ["eng_Latn", "hau_Latn"]}
    (tmp_path / "xner_train.json").write_text(json.dumps(summary), "utf-8")
    assert run_languages(tmp_path) == ("eng_Latn", "hau_Latn")
    (tmp_path / "xner_train.json").write_text("{not json", "utf-8")
    assert run_languages(tmp_path) == ("yor_Latn", "eng_Latn")
