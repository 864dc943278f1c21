"""The reference side of the benchmark: the stack xner replaces, used the usual way.

- translate: transformers ``AutoModelForSeq2SeqLM.generate`` (fp32, ``forced_bos_token_id`` for
  English), batches of ``batch_size`` sentences of one language sorted by length, exactly
  ``length`` generated tokens (``min_new_tokens = max_new_tokens``; the forced language token is
  one of them, so the English side has as many tokens as xner's);
- tag: transformers ``AutoModelForTokenClassification`` (fp32), batches sorted by length, the
  label of each word's first subword;
- align: ``simalign.SentenceAligner(model=DIR, token_type="bpe", matching_methods=...,
  layer=L)`` one pair at a time, as simalign works;
- project: the plain-Python heuristic (and n-gram greedy matching) of
  bench/reference_projection.py.

torch uses ``threads`` intra-op threads and one inter-op thread.
"""

from __future__ import annotations

import time
from itertools import groupby
from typing import Any

from measure import rss_mb

ENGLISH = "eng_Latn"
SIMALIGN_METHODS = {"itermax": ("i", "itermax"), "argmax": ("a", "inter"), "match": ("m", "mwmf")}


def spans_from_iob(tags: list[str]) -> list[Any]:
    """Entity spans of IOB tags, written the plain way (an ``I-`` after another type opens)."""
    from xner.runtime.data import Span

    spans = []
    start, label = None, None
    for k, tag in enumerate([*tags, "O"]):
        kind, _, name = tag.partition("-")
        if start is not None and (kind != "I" or name != label):
            spans.append(Span(start, k, label))
            start, label = None, None
        if kind == "B" or (kind == "I" and start is None):
            start, label = k, name
    return spans


class ReferenceSide:
    """Stage functions over transformers + simalign (see side_runner.py for the timing)."""

    name = "reference"

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def load(self) -> dict[str, float]:
        seconds = {}
        self.load_rss_mb: dict[str, float | None] = {}
        start = time.perf_counter()
        import torch
        import transformers
        from simalign import SentenceAligner

        seconds["import_torch_transformers_simalign"] = time.perf_counter() - start
        torch.set_num_threads(self.config["threads"])
        torch.set_num_interop_threads(1)
        transformers.logging.set_verbosity_error()
        c = self.config
        models = c["models"]
        start = time.perf_counter()
        self.mt_tokenizer = transformers.AutoTokenizer.from_pretrained(models["translator"])
        self.mt_model = transformers.AutoModelForSeq2SeqLM.from_pretrained(models["translator"])
        self.mt_model.eval()
        seconds["translator"] = time.perf_counter() - start
        self.load_rss_mb["translator"] = rss_mb()
        start = time.perf_counter()
        self.ner_tokenizer = transformers.AutoTokenizer.from_pretrained(models["tagger"])
        self.ner_model = transformers.AutoModelForTokenClassification.from_pretrained(
            models["tagger"]
        )
        self.ner_model.eval()
        seconds["tagger"] = time.perf_counter() - start
        self.load_rss_mb["tagger"] = rss_mb()
        start = time.perf_counter()
        letter, self.simalign_key = SIMALIGN_METHODS[c["align_method"]]
        self.aligner = SentenceAligner(
            model=str(models["aligner"]),
            token_type="bpe",
            matching_methods=letter,
            layer=c["aligner_layer"],
        )
        seconds["aligner"] = time.perf_counter() - start
        self.load_rss_mb["aligner"] = rss_mb()
        seconds["total"] = sum(v for k, v in seconds.items() if not k.startswith("import"))
        self.torch = torch
        return {k: round(v, 3) for k, v in seconds.items()}

    # -- stages ----------------------------------------------------------------------------------

    def translate(self, items: list[dict]) -> list[tuple[str, int]]:
        tok, model, size = self.mt_tokenizer, self.mt_model, self.config["batch_size"]
        forced = tok.convert_tokens_to_ids(ENGLISH)
        new_tokens = self.config["length"] + 1  # the forced language token is generated too
        specials = set(tok.all_special_ids)
        out: list[tuple[str, int] | None] = [None] * len(items)
        indexed = list(enumerate(items))
        for code, group in groupby(indexed, key=lambda pair: pair[1]["code"]):
            tok.src_lang = code
            members = sorted(group, key=lambda pair: len(pair[1]["text"]), reverse=True)
            for start in range(0, len(members), size):
                batch = members[start : start + size]
                enc = tok([item["text"] for _, item in batch], return_tensors="pt", padding=True)
                with self.torch.inference_mode():
                    generated = model.generate(
                        **enc,
                        forced_bos_token_id=forced,
                        num_beams=self.config["beam"],
                        do_sample=False,
                        min_new_tokens=new_tokens,
                        max_new_tokens=new_tokens,
                    )
                texts = tok.batch_decode(generated, skip_special_tokens=True)
                for (index, _), text, row in zip(batch, texts, generated.tolist(), strict=True):
                    out[index] = (text, sum(1 for t in row if t not in specials))
        return out  # type: ignore[return-value]

    @staticmethod
    def words(text: str) -> list[str]:
        return text.split()

    def tag(self, sentences: list[list[str]]) -> list[list[Any]]:
        tok, model, size = self.ner_tokenizer, self.ner_model, self.config["batch_size"]
        labels = model.config.id2label
        order = sorted(range(len(sentences)), key=lambda k: len(sentences[k]), reverse=True)
        out: list[list[Any]] = [[] for _ in sentences]
        for start in range(0, len(order), size):
            batch = [k for k in order[start : start + size] if sentences[k]]
            if not batch:
                continue
            enc = tok(
                [sentences[k] for k in batch],
                is_split_into_words=True,
                padding=True,
                truncation=True,
                return_tensors="pt",
            )
            with self.torch.inference_mode():
                predicted = model(**enc).logits.argmax(-1).tolist()
            for row, k in enumerate(batch):
                tags = ["O"] * len(sentences[k])
                previous = None
                for position, word in enumerate(enc.word_ids(row)):
                    if word is not None and word != previous:
                        tags[word] = labels[predicted[row][position]]
                    previous = word
                out[k] = spans_from_iob(tags)
        return out

    def align(self, pairs: list[tuple[list[str], list[str]]]) -> list[Any]:
        out = []
        for source, target in pairs:
            if not source or not target:
                out.append([])
                continue
            out.append(self.aligner.get_word_aligns(source, target)[self.simalign_key])
        return out

    @staticmethod
    def project(spans: list[list[Any]], links: list[Any], lengths: list[int]) -> list[list[Any]]:
        import reference_projection

        return [
            reference_projection.heuristic(s, x, n)
            for s, x, n in zip(spans, links, lengths, strict=True)
        ]

    @staticmethod
    def project_ngram(
        spans: list[list[Any]], links: list[Any], words: list[list[str]]
    ) -> list[list[Any]]:
        import reference_projection

        return [
            reference_projection.ngram_greedy(s, x, len(w), tokens=w)
            for s, x, w in zip(spans, links, words, strict=True)
        ]

    def end_to_end(self, items: list[dict]) -> list[list[Any]]:
        english = [self.words(text) for text, _ in self.translate(items)]
        entities = self.tag(english)
        originals = [item["words"] for item in items]
        links = self.align(list(zip(english, originals, strict=True)))
        return self.project(entities, links, [len(w) for w in originals])

    def note(self) -> str:
        """What ran: precision, threads, batching."""
        return (
            f"torch fp32, {self.torch.get_num_threads()} threads, batches of "
            f"{self.config['batch_size']} sorted by length, simalign one pair at a time "
            "(all 12 encoder layers run), end to end composed from the stages"
        )

    @staticmethod
    def versions() -> dict[str, str]:
        from importlib.metadata import version

        names = ("torch", "transformers", "simalign", "tokenizers", "numpy")
        return {name: version(name) for name in names}
