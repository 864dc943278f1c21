"""Model-free annotation projection: carry source entity spans onto the target through a word
alignment (the methods of arXiv 2501.18750 and García-Ferrero et al. 2022).

Conventions. A sentence is a list of words. A span is ``[start, end)`` over word indices with a
label (:class:`~xner.runtime.data.Span`). An alignment is a set of word pairs ``(i, j)``: ``i``
indexes the *source* of the projection (the side that carries the labels), ``j`` the *target*
(the side that receives them). Inputs are the source spans, the alignment links (an
:class:`~xner.runtime.data.Alignment`, an ``(n, 2)`` integer array or pairs) and the target
length (:class:`ProjectionItem`). Out-of-range links raise ``ValueError`` (the CLI reports them
with file and line, see :mod:`xner.runtime.projection.inputs`). Results are sorted,
non-overlapping target spans carrying their source entity's label; a sentence's result never
depends on the other sentences of its batch.

Entry points: :func:`project_results` (many sentence pairs, one :class:`Projected` each: spans,
and for methods that pair entities with spans the :class:`Match` of each entity),
:func:`project_batch` (many, spans only), :func:`project` (spans) and :func:`project_tags` (IOB2
tags) for one sentence pair. They pick a method registered with :func:`register_method`:

- ``heuristic`` (:class:`HeuristicOptions`): label the runs of target words aligned to each entity
  (:mod:`xner.runtime.projection.heuristic`);
- ``ngram`` (:class:`NgramOptions`): score target n-grams (or given candidate spans) against
  each entity and match them greedily or exactly (:mod:`xner.runtime.projection.ngram`,
  :mod:`xner.runtime.projection.matching`); it pairs entities with spans, and
  :func:`match_entities` (and :func:`match_entities_batch`) return its matches directly. The
  variant ``ngram-exact`` is ``ngram`` with ``exact=True`` (:func:`resolve_method`).

A new method is one function and one options dataclass (fields declared with :func:`option`, so
that the command line offers them) registered with :func:`register_method`; see
:mod:`xner.runtime.projection.registry`.
"""

from __future__ import annotations

from xner.runtime.projection.back_translation import BackTranslationOptions
from xner.runtime.projection.ensemble import EnsembleOptions
from xner.runtime.projection.heuristic import HeuristicOptions
from xner.runtime.projection.inputs import ProjectionBatch, ProjectionItem
from xner.runtime.projection.ngram import (
    NgramOptions,
    match_entities,
    match_entities_batch,
)
from xner.runtime.projection.registry import (
    EngineAccess,
    MethodInfo,
    OptionField,
    available_methods,
    available_variants,
    method_info,
    option,
    option_fields,
    project,
    project_batch,
    project_results,
    project_tags,
    register_method,
    register_variant,
    resolve_method,
    resolve_options,
    unregister_method,
)
from xner.runtime.projection.result import Match, Projected

__all__ = [
    "BackTranslationOptions",
    "EngineAccess",
    "EnsembleOptions",
    "HeuristicOptions",
    "Match",
    "MethodInfo",
    "NgramOptions",
    "OptionField",
    "ProjectionBatch",
    "ProjectionItem",
    "Projected",
    "available_methods",
    "available_variants",
    "match_entities",
    "match_entities_batch",
    "method_info",
    "option",
    "option_fields",
    "project",
    "project_batch",
    "project_results",
    "project_tags",
    "register_method",
    "register_variant",
    "resolve_method",
    "resolve_options",
    "unregister_method",
]
