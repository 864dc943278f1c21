"""The pipelines: translate-test, translate-train and model transfer (DESIGN.md, Conventions).

Python API (lazy iterators of dataclasses; build the engines once and reuse them)::

    from xner.runtime.pipelines import Engines, translate_test

    engines = Engines("bundles/nllb-600m", device="cpu")
    for result in translate_test(engines, sentences, "hau_Latn", method="ngram"):
        print(result.tokens, result.tags, result.translation)

- :func:`translate_test` (label text in a low-resource language through English),
  :func:`translate_train` (carry labelled sentences into another language),
  :func:`model_transfer` (the baseline: tag the text directly); results
  :class:`TranslateTestResult` / :class:`TranslateTrainResult`.

The file jobs behind the CLI (resumable, with progress and a summary) are in
:mod:`xner.runtime.jobs`.
"""

from __future__ import annotations

from xner.runtime.engines.engine_set import Engines
from xner.runtime.pipelines.results import TranslateTestResult, TranslateTrainResult
from xner.runtime.pipelines.translate_test import ENGLISH, model_transfer, translate_test
from xner.runtime.pipelines.translate_train import translate_train

__all__ = [
    "ENGLISH",
    "Engines",
    "TranslateTestResult",
    "TranslateTrainResult",
    "model_transfer",
    "translate_test",
    "translate_train",
]
