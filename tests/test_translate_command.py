"""``xner translate``: decoding-length help, --min-decoding-length and --to jsonl (issue 11)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from fixtures_models import tiny_bundle, tiny_bundle_fp32, tiny_models  # noqa: F401
from typer.testing import CliRunner

from xner.cli.main import app
from xner.runtime.bundles.bundle import Bundle

SOURCE = "Shehu Gusau\n\nta duniya WA\n"
COMMON = ["--src-lang", "hau", "--tgt-lang", "eng", "--intra-threads", "1", "--skip-verify"]
KEYS = {"line", "source", "text", "tokens", "score", "truncated", "segments"}


def _option_help(flag: str) -> str:
    """The help text of one ``translate`` option, read from the click command (no wrapping)."""
    group = typer.main.get_command(app)
    for param in group.commands["translate"].params:
        if flag in param.opts:
            return param.help or ""
    raise AssertionError(f"translate has no option {flag}")


def _translate(bundle: Path, *args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, ["translate", "--bundle", str(bundle), *COMMON, *args], stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_max_decoding_length_help_says_what_is_counted() -> None:
    text = _option_help("--max-decoding-length")
    assert "end token counted" in text and "target language code not" in text
    assert "retried once up to the model's limit" in text
    assert (
        "3 x source pieces + 10" in text
    )  # the default limit, as runtime/engines/translator.py says
    assert "end token" in _option_help("--min-decoding-length")
    assert "jsonl" in _option_help("--to")


@pytest.mark.slow
def test_jsonl_has_one_object_per_line_with_the_pieces(
    tiny_bundle_fp32: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    import sentencepiece

    source = tmp_path / "in.txt"
    source.write_text(SOURCE, encoding="utf-8")
    limit = ["--max-decoding-length", "4"]
    records = _records(_translate(tiny_bundle_fp32, str(source), "--to", "jsonl", *limit))
    assert [r["line"] for r in records] == [1, 2, 3]
    assert [r["source"] for r in records] == SOURCE.splitlines()
    assert all(set(r) == KEYS for r in records)
    empty = records[1]
    assert (empty["text"], empty["tokens"], empty["score"], empty["segments"]) == ("", [], None, 0)
    s = Bundle.load(tiny_bundle_fp32).translator
    sp = sentencepiece.SentencePieceProcessor(model_file=str(s.path(s.settings.sentencepiece)))
    for record in (records[0], records[2]):
        assert len(record["tokens"]) == 4 and record["truncated"] is True
        words = [t for t in record["tokens"] if t not in s.settings.languages]
        assert all(sp.piece_to_id(t) != sp.unk_id() for t in words)  # real pieces
        assert record["text"] == sp.decode(words)
        assert isinstance(record["score"], float) and record["segments"] == 1
    text = _translate(tiny_bundle_fp32, str(source), *limit).splitlines()
    assert text == [r["text"] for r in records]  # the same translations as the text output
    out = tmp_path / "out.jsonl"  # the format follows the extension without --to
    _translate(tiny_bundle_fp32, str(source), "-o", str(out), *limit)
    assert _records(out.read_text(encoding="utf-8")) == records
    piped = _records(_translate(tiny_bundle_fp32, "--to", "jsonl", *limit, stdin=SOURCE))
    assert piped == records
    refused = CliRunner().invoke(
        app, ["translate", "--bundle", str(tiny_bundle_fp32), *COMMON, "--to", "xml", str(source)]
    )
    assert refused.exit_code == 2 and "choose from jsonl, text" in refused.output


@pytest.fixture(scope="module")
def ends_at_once(tiny_models, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A bundle whose translator always ends at once (random models never end by themselves).

    The decoder's last layer norm outputs a constant along the end token's embedding, so the
    end token wins every step where it is allowed.
    """
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from xner.export import ExportOptions, TranslatorSpec, export_bundle

    root = tmp_path_factory.mktemp("ends-at-once")
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_models.translator)
    eos = model.config.eos_token_id
    with torch.no_grad():
        norm = model.model.decoder.layer_norm
        norm.weight.zero_()
        norm.bias.copy_(10 * model.model.shared.weight[eos])
    model.save_pretrained(root / "model")
    AutoTokenizer.from_pretrained(tiny_models.translator).save_pretrained(root / "model")
    shutil.copyfile(tiny_models.translator / "README.md", root / "model" / "README.md")
    spec = TranslatorSpec(str(root / "model"), quantization="float32")
    export_bundle(ExportOptions(out=root / "bundle", translator=spec))
    return root / "bundle"


@pytest.mark.slow
def test_min_decoding_length_is_honoured(ends_at_once: Path) -> None:
    free = _records(_translate(ends_at_once, "--to", "jsonl", stdin=SOURCE))
    assert [len(r["tokens"]) for r in free] == [0, 0, 0]  # the model ends at once
    held = _records(
        _translate(ends_at_once, "--to", "jsonl", "--min-decoding-length", "5", stdin=SOURCE)
    )
    assert [len(r["tokens"]) for r in held] == [5, 0, 5]  # an empty line stays empty
    assert not any(r["truncated"] for r in held)
    refused = CliRunner().invoke(
        app,
        ["translate", "--bundle", str(ends_at_once), *COMMON, "--min-decoding-length", "-1"],
        SOURCE,
    )
    assert refused.exit_code == 2


@pytest.mark.slow
def test_messages_number_sentences_by_line_across_chunks(
    tiny_bundle: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The file is translated a chunk at a time; a sentence in a later chunk is still named by
    its line (regression: numbers restarted at 1 in each chunk once translate became a job)."""
    source = tmp_path / "in.txt"
    long_word = "abcdefghij" * 300  # more pieces than the translator accepts, no place to cut
    source.write_text("Shehu Gusau\n\nta duniya\nWA\n" + long_word + "\n", encoding="utf-8")
    args = ["translate", "--bundle", str(tiny_bundle), *COMMON, "--chunk-size", "2"]
    result = CliRunner().invoke(app, [*args, str(source), "-o", str(tmp_path / "out.txt")])
    assert result.exit_code != 0
    assert "sentence 5 has" in result.output and "too long to fit" in result.output
    assert not (tmp_path / "out.txt").exists()
