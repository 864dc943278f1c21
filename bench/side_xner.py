"""The xner side of the benchmark: the torch-free runtime (CTranslate2, ONNX Runtime, NumPy).

Engines are built from the bundle with the benchmark's threads (``intra_threads``, one batch at
a time) and xner's default batching; the translator decodes exactly ``length`` tokens
(``min_decoding_length = max_decoding_length``) because random weights have no natural end.
End to end is :func:`xner.runtime.pipelines.translate_test` (one call per language) over ready
engines; where that module is missing, the same stages composed here.
"""

from __future__ import annotations

import time
from itertools import groupby
from typing import Any

from measure import rss_mb

ENGLISH = "eng_Latn"


class XnerSide:
    """Stage functions over xner's engines (see side_runner.py for how they are timed)."""

    name = "xner"

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def load(self) -> dict[str, float]:
        """Load as ``xner translate-test`` does: the bundle's sizes checked, the translator built
        while its files are hashed (:meth:`Bundle.build_verified`), then the tagger and the
        aligner built (and hashed) in background threads (:meth:`Engines.preload`): the first
        translation can start as soon as the translator is ready. :meth:`ready` waits for them.
        """
        from xner.runtime.bundles.bundle import Bundle
        from xner.runtime.engines.engine_set import Engines
        from xner.runtime.engines.translator import Translator

        c = self.config
        knobs = {"device": "cpu", "intra_threads": c["threads"], "inter_threads": 1}
        knobs.update(c.get("xner_engine_options") or {})
        seconds = {}
        self.load_rss_mb: dict[str, float | None] = {}
        start = time.perf_counter()
        self.bundle = bundle = Bundle.load(c["bundle"], verify=True, defer_hashes=True)
        seconds["bundle_sizes"] = time.perf_counter() - start
        start = time.perf_counter()
        self.translator = bundle.build_verified(
            "translator",
            lambda: Translator(
                bundle,
                beam_size=c["beam"],
                max_decoding_length=c["length"],
                min_decoding_length=c["length"],
                **knobs,
            ),
        )
        seconds["translator"] = time.perf_counter() - start
        self.load_rss_mb["translator"] = rss_mb()
        self.engines = Engines(bundle, translator=self.translator, **knobs)
        self._background_from = time.perf_counter()
        self.engines.preload(["tagger", "aligner"])
        seconds["total"] = sum(seconds.values())
        self.load_seconds = seconds
        return {k: round(v, 3) for k, v in seconds.items()}

    def ready(self) -> dict[str, float]:
        """Wait for the background loads (before any stage is timed); seconds they took after
        the translator was ready."""
        self.tagger = self.engines.tagger
        self.load_rss_mb["tagger"] = rss_mb()
        self.aligner = self.engines.aligner
        if self.aligner.method != self.config["align_method"]:
            from xner.runtime.engines.aligner import Aligner

            self.aligner = Aligner(self.bundle, method=self.config["align_method"])
        self.load_rss_mb["aligner"] = rss_mb()
        return {"background_loads": round(time.perf_counter() - self._background_from, 3)}

    # -- stages ----------------------------------------------------------------------------------

    def translate(self, items: list[dict]) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for code, group in groupby(items, key=lambda item: item["code"]):
            texts = [item["text"] for item in group]
            for t in self.translator.translate(texts, code, ENGLISH):
                out.append((t.text, len(t.tokens)))
        return out

    @staticmethod
    def words(text: str) -> list[str]:
        from xner.runtime.tokenize import word_tokenize

        return [token.text for token in word_tokenize(text)]

    def tag(self, sentences: list[list[str]]) -> list[list[Any]]:
        return [result.spans for result in self.tagger.tag(sentences)]

    def align(self, pairs: list[tuple[list[str], list[str]]]) -> list[Any]:
        return [result.pairs for result in self.aligner.align(pairs)]

    @staticmethod
    def project(spans: list[list[Any]], links: list[Any], lengths: list[int]) -> list[list[Any]]:
        from xner.runtime.projection import project_batch

        return project_batch(list(zip(spans, links, lengths, strict=True)))

    @staticmethod
    def project_ngram(
        spans: list[list[Any]], links: list[Any], words: list[list[str]]
    ) -> list[list[Any]]:
        from xner.runtime.projection import project_batch

        lengths = [len(w) for w in words]
        return project_batch(list(zip(spans, links, lengths, words, strict=True)), "ngram")

    def end_to_end(self, items: list[dict]) -> list[list[Any]]:
        try:
            from xner.runtime.engines.engine_set import Engines
            from xner.runtime.pipelines import translate_test
        except ImportError:
            return self._composed(items)
        engines = Engines(
            self.bundle, translator=self.translator, tagger=self.tagger, aligner=self.aligner
        )
        out = []
        for code, group in groupby(items, key=lambda item: item["code"]):
            words = [item["words"] for item in group]
            out.extend(result.spans for result in translate_test(engines, words, code))
        return out

    def _composed(self, items: list[dict]) -> list[list[Any]]:
        english = [self.words(text) for text, _ in self.translate(items)]
        entities = self.tag(english)
        originals = [item["words"] for item in items]
        links = self.align(list(zip(english, originals, strict=True)))
        return self.project(entities, links, [len(w) for w in originals])

    def note(self) -> str:
        """What ran: engines, precision, batching and the end-to-end path."""
        try:
            from xner.runtime.pipelines import translate_test  # noqa: F401

            path = "end to end through `translate_test`"
        except ImportError:
            path = "end to end composed from the engines (no pipeline module)"
        o = self.translator.options
        return (
            f"CTranslate2 {self.translator.compute_type} + ONNX Runtime (bundle as exported: "
            f"{self.bundle.require('translator').settings.quantization} translator), "
            f"intra_threads={o.intra_threads}, batches of <= {o.max_batch_size} sentences / "
            f"{o.max_batch_tokens} tokens sorted by length, {path}"
        )

    @staticmethod
    def versions() -> dict[str, str]:
        from importlib.metadata import version

        names = ("xner", "ctranslate2", "onnxruntime", "tokenizers", "sentencepiece", "numpy")
        return {name: version(name) for name in names}
