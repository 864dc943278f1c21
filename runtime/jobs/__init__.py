"""File jobs: read a file lazily, run a pipeline or an engine over it in chunks, write the output
resumably (:mod:`~xner.runtime.jobs.resume`) and return a :class:`RunSummary`."""

from __future__ import annotations

from xner.runtime.jobs.labelling import (
    ON_ERROR,
    run_model_transfer,
    run_translate_test,
    run_translate_train,
)
from xner.runtime.jobs.summary import RunSummary

__all__ = [
    "ON_ERROR",
    "RunSummary",
    "run_model_transfer",
    "run_translate_test",
    "run_translate_train",
]
