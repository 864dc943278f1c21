"""Model-free annotation projection: carry source entity spans onto the target through a word
alignment (DESIGN.md, "Projection methods"; arXiv 2501.18750 and García-Ferrero et al. 2022).

Entry points: :func:`project` (target spans) and :func:`project_tags` (IOB2 tags) for one
sentence pair, :func:`project_batch` for many at once (much faster on short sentences: one set of
NumPy operations for the whole batch), which pick a method registered with
:func:`register_method`:

- ``heuristic`` (:class:`HeuristicOptions`): label the runs of target words aligned to each entity
  (:mod:`xner.runtime.projection.heuristic`);
- ``ngram`` (:class:`NgramOptions`): score target n-grams (or given candidate spans) against
  each entity and match them greedily or exactly (:mod:`xner.runtime.projection.ngram`,
  :mod:`xner.runtime.projection.matching`); :func:`match_entities` (and
  :func:`match_entities_batch`) return the same matches with the entity number and score of each.

Inputs: source spans (:class:`~xner.runtime.data.Span`, ``[start, end)`` over source words),
alignment links ``(source word, target word)`` as an :class:`~xner.runtime.data.Alignment` or an
``(n, 2)`` integer array, and the target length. Out-of-range links raise ``ValueError`` (the CLI
reports them with file and line, see :mod:`xner.runtime.projection.inputs`). Results are sorted,
non-overlapping spans carrying their source entity's label.
"""

from __future__ import annotations

from xner.runtime.projection.heuristic import HeuristicOptions
from xner.runtime.projection.inputs import ProjectionBatch, ProjectionItem
from xner.runtime.projection.ngram import (
    Match,
    NgramOptions,
    match_entities,
    match_entities_batch,
)
from xner.runtime.projection.registry import (
    available_methods,
    project,
    project_batch,
    project_tags,
    register_method,
)

__all__ = [
    "HeuristicOptions",
    "Match",
    "NgramOptions",
    "ProjectionBatch",
    "ProjectionItem",
    "available_methods",
    "match_entities",
    "match_entities_batch",
    "project",
    "project_batch",
    "project_tags",
    "register_method",
]
