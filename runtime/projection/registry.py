"""The registry of projection methods and the entry points: :func:`project_batch` (many
sentences at once), :func:`project` and :func:`project_tags` (one sentence: a batch of one).

A method is a function ``fn(batch: ProjectionBatch, options) -> list[list[Span]]`` (the spans of
each sentence of the batch) registered under a name together with its options dataclass::

    @register_method("heuristic", HeuristicOptions)
    def heuristic(batch, options): ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.projection.inputs import (
    AlignmentLike,
    CandidateLike,
    ProjectionBatch,
    ProjectionItem,
)
from xner.runtime.tags import tags_from_spans

__all__ = [
    "MethodInfo",
    "available_methods",
    "project",
    "project_batch",
    "project_tags",
    "register_method",
]

Method = Callable[[ProjectionBatch, Any], list[list[Span]]]


@dataclass(frozen=True)
class MethodInfo:
    """A registered projection method: its name, function and options dataclass."""

    name: str
    fn: Method
    options_type: type


_METHODS: dict[str, MethodInfo] = {}


def register_method(name: str, options_type: type) -> Callable[[Method], Method]:
    """Register ``fn`` as projection method ``name`` whose options are ``options_type``.

    ``options_type`` must be a dataclass whose fields all have defaults. Registering a name twice
    is a programming error (``ValueError``).
    """

    def decorate(fn: Method) -> Method:
        if name in _METHODS:
            raise ValueError(f"projection method {name!r} is already registered")
        _METHODS[name] = MethodInfo(name, fn, options_type)
        return fn

    return decorate


def available_methods() -> tuple[str, ...]:
    """Names of the registered projection methods, sorted."""
    return tuple(sorted(_METHODS))


def method_info(method: str) -> MethodInfo:
    """The registered method ``method``; :class:`ConfigError` listing valid names otherwise."""
    try:
        return _METHODS[method]
    except KeyError:
        raise unknown_choice("projection method", str(method), _METHODS) from None


def resolve_options(info: MethodInfo, options: Any) -> Any:
    """``options`` as an instance of ``info.options_type``.

    None gives the defaults; a mapping gives keyword arguments (unknown keys raise
    :class:`ConfigError` listing the valid ones); an instance of another type is refused.
    """
    if options is None:
        return info.options_type()
    if isinstance(options, info.options_type):
        return options
    if isinstance(options, Mapping):
        known = {f.name for f in dataclasses.fields(info.options_type)}
        for key in options:
            if key not in known:
                raise unknown_choice(f"option of projection method {info.name!r}", key, known)
        return info.options_type(**options)
    raise ConfigError(
        f"options of projection method {info.name!r} must be {info.options_type.__name__} "
        f"(or a mapping of its fields), got {type(options).__name__}"
    )


def project_batch(
    items: Iterable[ProjectionItem | Sequence[Any]],
    method: str = "heuristic",
    options: Any = None,
) -> list[list[Span]]:
    """Project many sentence pairs at once: one list of target spans per item, in order.

    Each item is a :class:`ProjectionItem` ``(spans, alignment, target_length, target_tokens,
    candidates)`` or a tuple of its first 3 or 4 fields; ``method`` and ``options`` as in
    :func:`project`. The result is the one :func:`project` gives for each sentence alone, but the
    work is done by NumPy operations over the whole batch, which is much faster for many short
    sentences. Raises :class:`ConfigError` for an unknown method or bad options and
    ``ValueError`` for inputs out of range (its message names the sentence's number in the
    batch).
    """
    info = method_info(method)
    opts = resolve_options(info, options)
    return info.fn(ProjectionBatch.build(items), opts)


def project(
    spans: Iterable[Span],
    alignment: AlignmentLike,
    target_length: int,
    method: str = "heuristic",
    options: Any = None,
    target_tokens: Sequence[str] | None = None,
    candidates: Iterable[CandidateLike] | None = None,
) -> list[Span]:
    """Project source entity ``spans`` onto the target through word ``alignment``.

    ``alignment`` holds ``(source word, target word)`` links (an :class:`Alignment`, an
    ``(n, 2)`` integer array or pairs); ``target_length`` is the number of target words;
    ``method`` names a registered method (:func:`available_methods`: ``heuristic``, ``ngram``);
    ``options`` is that method's options dataclass, a mapping of its fields, or None for the
    defaults; ``target_tokens`` are the target words (the ``ngram`` method drops candidates that
    hold a stop word); ``candidates`` are target spans to match against instead of all n-grams
    (``ngram`` only).

    Returns sorted, non-overlapping target spans that carry their source entity's label. Raises
    :class:`ConfigError` for an unknown method or bad options and ``ValueError`` for inputs out of
    range (a link past the target, an empty span).
    """
    item = ProjectionItem(spans, alignment, target_length, target_tokens, candidates)
    return project_batch([item], method, options)[0]


def project_tags(
    spans: Iterable[Span],
    alignment: AlignmentLike,
    target_length: int,
    method: str = "heuristic",
    options: Any = None,
    target_tokens: Sequence[str] | None = None,
    candidates: Iterable[CandidateLike] | None = None,
) -> list[str]:
    """:func:`project`, written as IOB2 tags for the ``target_length`` target words."""
    projected = project(spans, alignment, target_length, method, options, target_tokens, candidates)
    return tags_from_spans(projected, target_length, "IOB2")
