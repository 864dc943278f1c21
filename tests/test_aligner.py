"""The Aligner engine: parity with simalign 0.4, batching, windowing, files and the CLI.

The reference (simalign on torch + transformers) runs in this process; the engine under test runs
in a torch-free subprocess (tests/torchfree.py) for the parity figures, and in-process elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from torchfree import run_cli_torch_free, run_torch_free
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.alignment.metrics import alignment_error_rate, score_alignments
from xner.runtime.alignment.pharaoh import parse_pharaoh, read_alignments
from xner.runtime.bundles.bundle import Bundle
from xner.runtime.engines.aligner import (
    MAX_ALIGN_SUBWORDS,
    Aligner,
    AlignmentResult,
    window_plan,
)
from xner.runtime.errors import ConfigError, InputError
from xner.runtime.jobs import AlignConfig, FileJobConfig, run_align

SIMALIGN_KEYS = {"argmax": "inter", "itermax": "itermax", "match": "mwmf"}
WORD_ALIGNMENT = ("enfr", "roen", "zhen", "jaen", "en-hi_wpt05")
MAX_SUBWORDS = 40  # per side: simalign's networkx matching is slow on long sides

runner = CliRunner()


# --- data ---------------------------------------------------------------------------------------


def _europarl(shared_data: Path, limit: int | None = None) -> list[tuple[list[str], list[str]]]:
    pairs = []
    with open(shared_data / "europarl_ner" / "parallel.en-de.jsonl", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            pairs.append((record["src_tokens"], record["tgt_tokens"]))
            if limit and len(pairs) >= limit:
                break
    return pairs


def _word_alignment(shared_data: Path, name: str) -> list[tuple[list[str], list[str]]]:
    folder = shared_data / "word_alignment" / name
    src = (folder / f"{name}.src").read_text(encoding="utf-8").splitlines()
    tgt = (folder / f"{name}.tgt").read_text(encoding="utf-8").splitlines()
    return [(s.split(), t.split()) for s, t in zip(src, tgt, strict=True)]


@pytest.fixture(scope="module")
def fp32(tiny_bundle_fp32: Path) -> Aligner:
    return Aligner(tiny_bundle_fp32, device="cpu", intra_threads=1)


@pytest.fixture(scope="module")
def parity_pairs(shared_data: Path, fp32: Aligner) -> list[tuple[list[str], list[str]]]:
    """60 real pairs, 12 from each of Europarl en-de and four gold-alignment sets, both sides
    at most MAX_SUBWORDS subwords (well under simalign's truncation limit)."""

    def short(words: list[str]) -> bool:
        n = len(fp32.tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False))
        return 0 < n <= MAX_SUBWORDS

    sources = [_europarl(shared_data, 400)] + [
        _word_alignment(shared_data, n) for n in WORD_ALIGNMENT[:4]
    ]
    pairs = []
    for source in sources:
        pairs += [p for p in source if short(p[0]) and short(p[1])][:12]
    assert len(pairs) == 60
    return pairs


@pytest.fixture(scope="module")
def simalign_links(tiny_models, tiny_bundle_fp32: Path, parity_pairs) -> list[dict]:
    """simalign 0.4's bpe-level argmax (inter), itermax and match (mwmf) on the parity pairs."""
    torch = pytest.importorskip("torch")
    simalign = pytest.importorskip("simalign")
    layer = Bundle.load(tiny_bundle_fp32, verify=False).aligner.settings.layer
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only add overhead on a loaded machine
    try:
        aligner = simalign.SentenceAligner(
            model=str(tiny_models.aligner),
            token_type="bpe",
            matching_methods="mai",
            layer=layer,
            device="cpu",
        )
        return [aligner.get_word_aligns(src, tgt) for src, tgt in parity_pairs]
    finally:
        torch.set_num_threads(threads)


ENGINE_CODE = """
import json, sys
from xner.runtime.engines.aligner import Aligner
job = json.load(sys.stdin)
out = {}
for name in ("fp32", "int8"):
    aligner = Aligner(job[name], device="cpu", intra_threads=1)
    for method in ("argmax", "itermax", "match", "softmax"):
        results = aligner.align(job["pairs"], method=method)
        out[name + "/" + method] = [r.pairs.tolist() for r in results]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def engine_links(tiny_bundle: Path, tiny_bundle_fp32: Path, parity_pairs) -> dict[str, list]:
    """The engine's links for the parity pairs, fp32 and int8, from a torch-free subprocess."""
    job = {"fp32": str(tiny_bundle_fp32), "int8": str(tiny_bundle), "pairs": parity_pairs}
    result = run_torch_free(ENGINE_CODE, stdin=json.dumps(job))
    assert result.returncode == 0, result.stderr  # 97: torch imported or a socket opened
    return json.loads(result.stdout)


# --- parity with simalign -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["argmax", "itermax", "match"])
def test_identical_to_simalign(method: str, engine_links, simalign_links, parity_pairs) -> None:
    got = [sorted(map(tuple, links)) for links in engine_links[f"fp32/{method}"]]
    want = [sorted(ref[SIMALIGN_KEYS[method]]) for ref in simalign_links]
    same = sum(g == w for g, w in zip(got, want, strict=True))
    assert len(parity_pairs) >= 50
    assert same == len(parity_pairs), f"{method}: {same}/{len(parity_pairs)} identical"
    assert sum(map(len, got)) > len(parity_pairs)  # real links, not empty agreement


def test_int8_agrees_with_fp32(engine_links) -> None:
    for method in ("argmax", "itermax", "match"):
        scores = score_alignments(engine_links[f"int8/{method}"], engine_links[f"fp32/{method}"])
        assert scores.f1 >= 0.9, (method, scores)


def test_softmax_runs_and_stays_in_range(engine_links, parity_pairs) -> None:
    links = engine_links["fp32/softmax"]
    assert sum(map(len, links)) > 0
    for (src, tgt), pairs in zip(parity_pairs, links, strict=True):
        arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        assert ((arr[:, 0] < len(src)) & (arr[:, 1] < len(tgt))).all()


# --- batching and windowing -------------------------------------------------------------------


def test_batched_equals_one_by_one(fp32: Aligner, tiny_bundle_fp32: Path, shared_data) -> None:
    pairs = _europarl(shared_data, 40) + [([], ["x"]), (["only"], ["one", "two"])]
    batched = fp32.align(pairs)
    single = Aligner(fp32.bundle, max_batch_size=1, device="cpu", intra_threads=1)
    one_by_one = [single.align([pair])[0] for pair in pairs]
    small = Aligner(fp32.bundle, max_batch_tokens=64, device="cpu", intra_threads=1)
    streamed = list(small.align_iter(iter(pairs), chunk_size=7))
    for a, b, c in zip(batched, one_by_one, streamed, strict=True):
        assert a.pairs.tolist() == b.pairs.tolist() == c.pairs.tolist()


def test_long_sentences_are_windowed_not_truncated(fp32: Aligner, shared_data) -> None:
    words = [w for src, _ in _europarl(shared_data, 15) for w in src]
    n_sub = len(fp32.tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False))
    assert 3 * fp32.settings.max_length < n_sub <= MAX_ALIGN_SUBWORDS  # several windows
    # Aligned with itself every word finds itself (each got vectors from some window), except
    # where the tiny model gives two occurrences of a word vectors with cosine 1.0 in float32.
    (self_aligned,) = fp32.align([(words, words)], method="argmax")
    links = self_aligned.pairs
    assert (links[:, 0] == links[:, 1]).sum() >= 0.99 * len(words)
    # Each subword's vector is the one its chosen window gives when run alone through the model.
    encoding = fp32.tokenizer.encode(words, is_pretokenized=True)
    sequences: list[np.ndarray] = []
    side = fp32._plan(encoding, sequences)
    assert len(sequences) > 3 and max(map(len, sequences)) == fp32.settings.max_length
    vectors = fp32._vectors(side, fp32._run(sequences))
    ids = np.asarray(encoding.ids)[1:-1]
    for w, start in enumerate((side.starts + 1).tolist()):
        seq = sequences[w]
        assert seq[1:-1].tolist() == ids[start : start + len(seq) - 2].tolist()
        (alone,) = fp32.session.run(
            None, {"input_ids": seq[None], "attention_mask": 1 + 0 * seq[None]}
        )
        take = np.flatnonzero(side.choice == w)
        np.testing.assert_allclose(vectors[take], alone[0][take - start + 1], atol=1e-5)
    short = words[:12]
    for method in ("argmax", "itermax", "match", "softmax"):
        long_short, short_long = fp32.align([(words, short), (short, words)], method=method)
        assert len(long_short) and len(short_long)
        assert long_short.pairs[:, 0].max() < len(words)
        assert short_long.pairs[:, 1].max() < len(words)


def test_window_plan() -> None:
    word_ids = np.repeat(np.arange(40), np.tile([1, 2, 3], 14)[:40])  # 80 subwords
    starts, choice = window_plan(word_ids, 20)
    assert starts[0] == 0 and starts[-1] == len(word_ids) - 20
    assert (np.diff(starts) <= 10).all()  # half a window apart: overlapping
    position = np.arange(len(word_ids))
    inside = (position >= starts[choice]) & (position < starts[choice] + 20)
    assert inside.all()
    for word in range(40):  # a word's subwords share one window
        assert len(set(choice[word_ids == word].tolist())) == 1
    margin = np.minimum(position - starts[choice], starts[choice] + 19 - position)
    assert margin[(position >= 5) & (position < len(word_ids) - 5)].min() >= 3
    # A word longer than a window: each subword from a window that holds it.
    long_word = np.r_[np.zeros(5, dtype=np.int64), np.ones(30, dtype=np.int64), [2, 3]]
    starts, choice = window_plan(long_word, 10)
    position = np.arange(len(long_word))
    assert ((position >= starts[choice]) & (position < starts[choice] + 10)).all()
    starts, choice = window_plan(np.arange(5), 10)
    assert starts.tolist() == [0] and choice.tolist() == [0] * 5


# --- edge cases and errors ----------------------------------------------------------------------


def test_empty_sides_and_string_input(fp32: Aligner) -> None:
    results = fp32.align([([], ["a"]), (["a"], []), ([], []), ("the house", "das Haus")])
    assert all(isinstance(r, AlignmentResult) for r in results)
    assert [r.pairs.shape for r in results[:3]] == [(0, 2)] * 3
    assert len(results[3]) > 0 and results[3].method == "itermax"
    alignment = results[3].to_alignment(line=4)
    assert alignment.line == 4 and alignment.pairs.tolist() == results[3].pairs.tolist()


def test_bad_options_are_config_errors(fp32: Aligner, tiny_bundle_fp32: Path) -> None:
    with pytest.raises(ConfigError, match="choose from argmax, itermax, match, softmax"):
        fp32.align([(["a"], ["b"])], method="intersect")
    with pytest.raises(ConfigError, match="distortion"):
        Aligner(fp32.bundle, method="softmax", distortion=0.5).align([(["a", "b"], ["c", "d"])])
    with pytest.raises(ConfigError, match="Aligner option"):
        Aligner(tiny_bundle_fp32, max_batch=3)
    with pytest.raises(ConfigError, match="distortion"):
        Aligner(fp32.bundle, distortion=-1.0)


# --- alignment error rate -----------------------------------------------------------------------


def test_alignment_error_rate_by_hand() -> None:
    # Pair 1: A = {0-0, 1-1, 2-3}, S = {0-0, 1-2}, P = S + {1-1}: |A&S| = 1, |A&P| = 2.
    # Pair 2: A = {0-0}, S = {0-1}, P = S: no hit.  Totals |A| = 4, |S| = 3.
    predicted = [[(0, 0), (1, 1), (2, 3)], np.array([[0, 0]])]
    sure = [[(0, 0), (1, 2)], [(0, 1)]]
    possible = [[(1, 1)], []]
    assert alignment_error_rate(predicted, sure, possible) == pytest.approx(1 - 3 / 7)
    scores = score_alignments(predicted, sure, possible)
    assert scores.precision == pytest.approx(2 / 4) and scores.recall == pytest.approx(1 / 3)
    assert (scores.sure_hits, scores.possible_hits, scores.possible) == (1, 2, 4)
    # From Pharaoh lines with possible links (ipj), as the gold .talp files mark them.
    gold = parse_pharaoh("0-0 1p1 1-2")
    assert alignment_error_rate([predicted[0]], [gold.sure()], [gold.pairs]) == pytest.approx(0.4)
    assert alignment_error_rate([[(0, 0)]], [[(0, 0)]]) == 0.0
    with pytest.raises(ValueError, match="one entry per sentence pair"):
        alignment_error_rate([[]], [[], []])


# --- files and CLI ------------------------------------------------------------------------------


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_align_files_and_cli(tmp_path: Path, tiny_bundle_fp32: Path, fp32: Aligner) -> None:
    src_lines = ["the European Parliament", "", "I declare the session resumed ."]
    tgt_lines = ["das Europäische Parlament", "leer", "Ich erkläre die Sitzung für eröffnet ."]
    src = _write(tmp_path / "src.txt", src_lines)
    tgt = _write(tmp_path / "tgt.txt", tgt_lines)
    both = _write(
        tmp_path / "pairs.txt", [f"{s} ||| {t}" for s, t in zip(src_lines, tgt_lines, strict=True)]
    )
    expected = [r.pairs.tolist() for r in fp32.align(list(zip(src_lines, tgt_lines, strict=True)))]

    out = tmp_path / "a.talp"
    result = run_cli_torch_free(
        ["align", "--bundle", str(tiny_bundle_fp32), str(src), str(tgt), "-o", str(out)]
    )
    assert result.returncode == 0, result.stderr
    assert [a.pairs.tolist() for a in read_alignments(out)] == expected
    assert out.read_text(encoding="utf-8").split("\n")[1] == ""  # the empty source line

    out2 = tmp_path / "b.talp"
    files = FileJobConfig(both, out2)
    summary = run_align(tiny_bundle_fp32, files, AlignConfig(method="match"), verify=False)
    assert summary.written == 3
    matched = [
        r.pairs.tolist() for r in fp32.align(list(zip(src_lines, tgt_lines, strict=True)), "match")
    ]
    assert [a.pairs.tolist() for a in read_alignments(out2)] == matched


def test_cli_input_errors(tmp_path: Path, tiny_bundle_fp32: Path) -> None:
    src = _write(tmp_path / "src.txt", ["a b", "c", "d"])
    tgt = _write(tmp_path / "tgt.txt", ["x", "y"])
    out = tmp_path / "out.talp"
    bundle = str(tiny_bundle_fp32)
    result = runner.invoke(app, ["align", "--bundle", bundle, str(src), str(tgt), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{src}:3: {tgt} ends after line 2" in result.output
    assert not out.exists()  # nothing half-written

    bad = _write(tmp_path / "pairs.txt", ["a ||| b", "no separator here"])
    result = runner.invoke(app, ["align", "-b", bundle, "--pairs", str(bad), "--skip-verify"])
    assert result.exit_code == 2 and f"{bad}:2: expected 'source words ||| target" in result.output
    result = runner.invoke(app, ["align", "-b", bundle, str(src), str(tgt), "--pairs", str(bad)])
    assert result.exit_code == 2 and "either SRC and TGT" in result.output
    result = runner.invoke(app, ["align", "-b", bundle, str(src), str(src), "--method", "max"])
    assert result.exit_code == 2 and "choose from argmax, itermax" in result.output
    with pytest.raises(InputError, match="ends after line 2"):
        files = FileJobConfig(src, tmp_path / "lib.talp")
        run_align(bundle, files, AlignConfig(target=tgt), verify=False)
