"""The pipelines: translate-test, translate-train and model transfer.

Python API (lazy iterators of dataclasses; build the engines once and reuse them)::

    from xner.runtime.pipelines import Engines, translate_test

    engines = Engines("bundles/nllb-600m", device="cpu")
    for result in translate_test(engines, sentences, "hau_Latn", method="ngram"):
        print(result.tokens, result.tags, result.translation)

- :func:`translate_test` (label text in a low-resource language through English),
  :func:`translate_train` (carry labelled sentences into another language),
  :func:`model_transfer` (the baseline: tag the text directly); results
  :class:`TranslateTestResult` / :class:`TranslateTrainResult`.

Their settings are frozen, validated configs (:mod:`~xner.runtime.pipelines.configs`:
:class:`TranslateTestConfig`, :class:`TranslateTrainConfig`, :class:`ModelTransferConfig`),
given as keywords or as a config. Each pipeline is a short sequence
(:mod:`~xner.runtime.pipelines.compose`) of stages over a chunk of records
(:mod:`~xner.runtime.pipelines.stages`, :mod:`~xner.runtime.pipelines.records`); long
sentences go through them in segments (:mod:`~xner.runtime.pipelines.segments`).

Conventions: results are frozen dataclasses, one per input sentence, in input order; a
sentence that fails gets an ``error`` and all-``O`` tags and the stream goes on; bad settings
raise :class:`~xner.runtime.errors.ConfigError` before any input is read, bad input
:class:`~xner.runtime.errors.InputError` with its file and line.

The file jobs behind the CLI (resumable, with progress and a summary) are in
:mod:`xner.runtime.jobs`.
"""

from __future__ import annotations

from xner.runtime.engines.engine_set import Engines
from xner.runtime.pipelines.compose import ENGLISH, model_transfer, translate_test, translate_train
from xner.runtime.pipelines.configs import (
    ModelTransferConfig,
    TranslateTestConfig,
    TranslateTrainConfig,
)
from xner.runtime.pipelines.markers import MarkersOptions  # registers --method markers
from xner.runtime.pipelines.results import (
    LabelledResult,
    TranslateTestResult,
    TranslateTrainResult,
)

__all__ = [
    "ENGLISH",
    "Engines",
    "LabelledResult",
    "MarkersOptions",
    "ModelTransferConfig",
    "TranslateTestConfig",
    "TranslateTestResult",
    "TranslateTrainConfig",
    "TranslateTrainResult",
    "model_transfer",
    "translate_test",
    "translate_train",
]
