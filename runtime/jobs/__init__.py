"""File jobs: read a file lazily, run a pipeline or an engine over it in chunks, write the output
resumably (:mod:`~xner.runtime.jobs.resume`) and return a :class:`RunSummary`.

Every job goes through one runner (:mod:`~xner.runtime.jobs.runner`); its file side is a
:class:`FileJobConfig`. The jobs: :func:`run_translate_test`, :func:`run_translate_train`,
:func:`run_model_transfer` (:mod:`~xner.runtime.jobs.labelling`), :func:`run_translate`
(:mod:`~xner.runtime.jobs.translation_files`), :func:`run_align`
(:mod:`~xner.runtime.jobs.alignment_files`) and :func:`run_project`
(:mod:`~xner.runtime.jobs.projection_files`).
"""

from __future__ import annotations

from xner.runtime.jobs.alignment_files import AlignConfig, run_align
from xner.runtime.jobs.file_config import ON_ERROR, FileJobConfig
from xner.runtime.jobs.labelling import (
    run_model_transfer,
    run_translate_test,
    run_translate_train,
)
from xner.runtime.jobs.projection_files import ProjectConfig, run_project
from xner.runtime.jobs.summary import RunSummary
from xner.runtime.jobs.translation_files import TranslateConfig, run_translate

__all__ = [
    "ON_ERROR",
    "AlignConfig",
    "FileJobConfig",
    "ProjectConfig",
    "RunSummary",
    "TranslateConfig",
    "run_align",
    "run_model_transfer",
    "run_project",
    "run_translate",
    "run_translate_test",
    "run_translate_train",
]
