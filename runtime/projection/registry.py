"""The registry of projection methods and the entry points: :func:`project_results` (many
sentences, with each method's full result), :func:`project_batch` (many sentences, spans only),
:func:`project` and :func:`project_tags` (one sentence: a batch of one).

A method is a function ``fn(batch: ProjectionBatch, options) -> list[Projected]`` (one
:class:`~xner.runtime.projection.result.Projected` per sentence of the batch) registered under a
name together with its options dataclass::

    @register_method("heuristic", HeuristicOptions)
    def heuristic(batch, options): ...

A method that pairs each source entity with a target span says so (``pairs_entities=True``) and
fills ``Projected.matches``; callers read :attr:`MethodInfo.pairs_entities` instead of testing a
method's name. A method that needs engines names them (``needs=("translator",)``): it is called
as ``fn(batch, options, engines)`` with an object whose ``.translator``, ``.tagger`` and
``.aligner`` attributes are the engines (xner's :class:`~xner.runtime.engines.engine_set.Engines`),
and pipelines read :meth:`MethodInfo.needed` to know which engines to load (``needs`` may
also be a function of the options).

Options dataclasses declare their fields with :func:`option`, which carries the help text (and
the flag) of the command-line option generated from the field, so that a method's knobs are
declared once. A *variant* (:func:`register_variant`) is a registered method with some options
fixed, e.g. ``ngram-exact``; :func:`resolve_method` accepts a method or a variant name.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from xner.runtime.bundles.bundle import COMPONENTS
from xner.runtime.data import Span
from xner.runtime.errors import ConfigError, unknown_choice
from xner.runtime.projection.inputs import (
    AlignmentLike,
    CandidateLike,
    ProjectionBatch,
    ProjectionItem,
)
from xner.runtime.projection.result import Projected
from xner.runtime.tags import tags_from_spans

__all__ = [
    "EngineAccess",
    "MethodInfo",
    "OptionField",
    "VariantInfo",
    "available_methods",
    "available_variants",
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

T = TypeVar("T")

Method = Callable[..., list[Projected]]
"""``fn(batch, options)``, or ``fn(batch, options, engines)`` for a method that needs engines."""

_OPTION = "xner.option"  # the key of an option's OptionDoc in a dataclass field's metadata


class EngineAccess(Protocol):
    """What a method that needs engines receives: the engines as attributes, each built on first
    use (:class:`~xner.runtime.engines.engine_set.Engines`)."""

    @property
    def translator(self) -> Any: ...

    @property
    def tagger(self) -> Any: ...

    @property
    def aligner(self) -> Any: ...


@dataclass(frozen=True)
class _OptionDoc:
    help: str
    flag: str | None
    cli: bool


def option(default: T, *, help: str, flag: str | None = None, cli: bool = True) -> T:
    """A field of a projection options dataclass with ``default`` and its command-line form.

    ``help``: the help text of the command-line option (the CLI prefixes the method's name).
    ``flag``: the option's name (default: ``--field-name``). ``cli``: False leaves the field out
    of the command line (library callers can still set it)::

        @dataclass(frozen=True)
        class HeuristicOptions:
            merge_distance: int = option(1, help="merge runs at most this many words apart.")
    """
    doc = _OptionDoc(help, flag, cli)
    return dataclasses.field(default=default, metadata={_OPTION: doc})


@dataclass(frozen=True)
class OptionField:
    """A field of a method's options dataclass as a command-line option: ``name`` (the field),
    ``flag`` (``--field-name`` unless :func:`option` named another), ``help``, ``default`` and
    ``annotation`` (the field's type, resolved)."""

    name: str
    flag: str
    help: str
    default: Any
    annotation: Any


def option_fields(options_type: type) -> tuple[OptionField, ...]:
    """The fields of ``options_type`` offered on the command line, in declaration order: every
    field set by the constructor, except those declared with ``option(..., cli=False)``. A field
    declared without :func:`option` has no help text."""
    hints = typing.get_type_hints(options_type)
    out = []
    for field in dataclasses.fields(options_type):
        doc = field.metadata.get(_OPTION, _OptionDoc("", None, True))
        if not field.init or not doc.cli:
            continue
        flag = doc.flag or "--" + field.name.replace("_", "-")
        out.append(OptionField(field.name, flag, doc.help, field.default, hints[field.name]))
    return tuple(out)


@dataclass(frozen=True)
class MethodInfo:
    """A registered projection method: its name, function and options dataclass.

    ``needs``: the engines its function takes (a subset of ``translator``, ``tagger``,
    ``aligner``; empty for methods that work from the alignment alone). ``pairs_entities``:
    whether it pairs each source entity with a span (its results carry ``matches``).
    ``labels_alone``: whether it may label target words of a sentence without source entities
    (an ensemble with a tagger on the target): it is then called for every sentence with
    target words. ``needs_for``: for a method whose engines depend on its options (``ngram``
    needs the tagger only for NER scores), the function ``options -> engine names`` it was
    registered with (``needs`` is then empty): read :meth:`needed`. ``translates``: the method
    makes the translation itself (``markers``): its function is a translate-train step
    (``fn(records, options, engines, config)``, records in, records out) that only
    translate-train runs; :func:`project_results` refuses it.
    """

    name: str
    fn: Method
    options_type: type
    needs: tuple[str, ...] = ()
    pairs_entities: bool = False
    labels_alone: bool = False
    needs_for: Callable[[Any], Collection[str]] | None = None
    translates: bool = False

    @property
    def takes_engines(self) -> bool:
        """Whether its function is called as ``fn(batch, options, engines)``."""
        return bool(self.needs) or self.needs_for is not None

    def needed(self, options: Any) -> tuple[str, ...]:
        """The engines the method uses with ``options`` (its options dataclass)."""
        if self.needs_for is None:
            return self.needs
        return _engine_names(self.needs_for(options))


@dataclass(frozen=True)
class VariantInfo:
    """A registered method (``method``) with some of its options fixed (``fixed``)."""

    name: str
    method: str
    fixed: Mapping[str, Any]


_METHODS: dict[str, MethodInfo] = {}
_VARIANTS: dict[str, VariantInfo] = {}


def register_method(
    name: str,
    options_type: type,
    *,
    needs: Collection[str] | Callable[[Any], Collection[str]] = (),
    pairs_entities: bool = False,
    labels_alone: bool = False,
    translates: bool = False,
) -> Callable[[Method], Method]:
    """Register ``fn`` as projection method ``name`` whose options are ``options_type``.

    ``options_type`` must be a dataclass whose fields all have defaults (declared with
    :func:`option` to give them help on the command line). ``needs``: the engines the method uses
    (``"translator"``, ``"tagger"``, ``"aligner"``); it is then called as ``fn(batch, options,
    engines)``; ``needs`` may also be a function ``options -> engine names`` when they depend on
    the options: the method is then always called with ``engines``, which may be None when
    the options need none. ``pairs_entities``: the method fills ``Projected.matches``.
    ``labels_alone``: the
    method may label sentences without source entities (:attr:`MethodInfo.labels_alone`).
    ``translates``: the method translates the sentences itself (:attr:`MethodInfo.translates`).
    Registering a name twice, or a bad options type or engine name, is a programming error
    (``ValueError``).
    """
    needs_for = needs if callable(needs) else None
    wanted = () if callable(needs) else _engine_names(needs)
    if not dataclasses.is_dataclass(options_type):
        raise ValueError(f"options of projection method {name!r} must be a dataclass")
    for field in dataclasses.fields(options_type):
        no_default = dataclasses.MISSING
        if field.init and field.default is no_default and field.default_factory is no_default:
            raise ValueError(f"option {field.name!r} of projection method {name!r} needs a default")

    def decorate(fn: Method) -> Method:
        if name in _METHODS or name in _VARIANTS:
            raise ValueError(f"projection method {name!r} is already registered")
        _METHODS[name] = MethodInfo(
            name, fn, options_type, wanted, pairs_entities, labels_alone, needs_for, translates
        )
        return fn

    return decorate


def _engine_names(needs: Collection[str]) -> tuple[str, ...]:
    """``needs`` checked: a collection of engine names (``ValueError`` otherwise)."""
    if isinstance(needs, str):
        raise ValueError(f"needs must be a collection of engine names, got the string {needs!r}")
    wanted = tuple(needs)
    for engine in wanted:
        if engine not in COMPONENTS:
            raise ValueError(f"unknown engine {engine!r} in needs; choose from {COMPONENTS}")
    return wanted


def register_variant(name: str, method: str, fixed: Mapping[str, Any]) -> None:
    """Register ``name`` as registered ``method`` with options ``fixed`` (a mapping of fields):
    ``register_variant("ngram-exact", "ngram", {"exact": True})``. A name already taken, an
    unknown method or field is a programming error (``ValueError``)."""
    if name in _METHODS or name in _VARIANTS:
        raise ValueError(f"projection method {name!r} is already registered")
    if method not in _METHODS:
        raise ValueError(f"variant {name!r} of unknown projection method {method!r}")
    known = {f.name for f in dataclasses.fields(_METHODS[method].options_type)}
    for key in fixed:
        if key not in known:
            raise ValueError(f"variant {name!r}: {method!r} has no option {key!r}")
    _VARIANTS[name] = VariantInfo(name, method, dict(fixed))


def unregister_method(name: str) -> None:
    """Remove method ``name`` and its variants, or variant ``name``, from the registry (for
    tests and plugins that register a method for a while); unknown names are ignored."""
    _METHODS.pop(name, None)
    _VARIANTS.pop(name, None)
    for variant in [v.name for v in _VARIANTS.values() if v.method == name]:
        del _VARIANTS[variant]


def available_methods() -> tuple[str, ...]:
    """Names of the registered projection methods, sorted."""
    return tuple(sorted(_METHODS))


def available_variants() -> tuple[str, ...]:
    """Names of the registered variants (:func:`register_variant`), sorted."""
    return tuple(sorted(_VARIANTS))


def method_info(method: str) -> MethodInfo:
    """The registered method ``method``; :class:`ConfigError` listing valid names otherwise."""
    try:
        return _METHODS[method]
    except (KeyError, TypeError):
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


def resolve_method(name: str, options: Any = None) -> tuple[str, Any]:
    """The registered method that ``name`` (a method or a variant) stands for, and its options.

    ``options``: the method's options dataclass, a mapping of its fields or None (defaults); a
    variant's fixed options override them. :class:`ConfigError` for an unknown name (listing
    methods and variants) or bad options.
    """
    variant = _VARIANTS.get(name) if isinstance(name, str) else None
    if variant is None:
        if name not in _METHODS:
            raise unknown_choice("projection method", str(name), [*_METHODS, *_VARIANTS])
        return name, resolve_options(_METHODS[name], options)
    base = resolve_options(_METHODS[variant.method], options)
    return variant.method, dataclasses.replace(base, **variant.fixed)


def _call_method(
    info: MethodInfo, options: Any, items: Sequence[Any], engines: EngineAccess | None
) -> list[Projected]:
    """``info``'s function on ``items`` (checked), one result per item."""
    _check_projects(info)
    batch = ProjectionBatch.build(items)
    if info.takes_engines:
        if engines is None and info.needed(options):
            raise _no_engines(info, options)
        results = info.fn(batch, options, engines)
    else:
        results = info.fn(batch, options)
    if len(results) != batch.size:
        raise TypeError(
            f"projection method {info.name!r} gave {len(results)} results "
            f"for {batch.size} sentences"
        )
    if info.pairs_entities and any(result.matches is None for result in results):
        raise TypeError(f"projection method {info.name!r} pairs entities but gave no matches")
    return results


def _check_projects(info: MethodInfo) -> None:
    """A translating method (:attr:`MethodInfo.translates`) cannot project given pairs."""
    if info.translates:
        raise ConfigError(
            f"projection method {info.name!r} translates the sentences itself: "
            "only translate-train runs it"
        )


def _no_engines(info: MethodInfo, options: Any) -> ConfigError:
    needed = ", ".join(info.needed(options))
    return ConfigError(f"projection method {info.name!r} needs engines ({needed}); none were given")


def project_results(
    items: Iterable[ProjectionItem | Sequence[Any]],
    method: str = "heuristic",
    options: Any = None,
    engines: EngineAccess | None = None,
) -> list[Projected]:
    """Project many sentence pairs at once: one :class:`Projected` per item, in order.

    Items, ``method`` and ``options`` as in :func:`project_batch`. ``engines``: the engines a
    method that needs some uses (:attr:`MethodInfo.needs`; :class:`ConfigError` naming them when
    it is None). A sentence without source spans (unless the method labels alone,
    :attr:`MethodInfo.labels_alone`) or without target words projects nothing, and
    its alignment is not looked at: ``Projected([], [])`` for a method that pairs entities,
    ``Projected([])`` otherwise. ``ValueError`` when some other sentence's inputs are out of
    range (its message names the sentence's number in the batch).
    """
    info = method_info(method)
    _check_projects(info)
    opts = resolve_options(info, options)
    if engines is None and info.needed(opts):
        raise _no_engines(info, opts)
    listed = [_with_listed_spans(item) for item in items]
    idle = [not _has_work(item, info.labels_alone) for item in listed]
    if all(idle):  # the method is not called (nor are its engines)
        return [Projected([], [] if info.pairs_entities else None) for _ in listed]
    # an idle sentence stays in the batch as an empty one, so that numbers in errors hold
    batch = [_IDLE if skip else item for item, skip in zip(listed, idle, strict=True)]
    results = _call_method(info, opts, batch, engines)
    return [
        Projected([], [] if info.pairs_entities else None) if skip else result
        for result, skip in zip(results, idle, strict=True)
    ]


_IDLE = ProjectionItem([], (), 0)


def _with_listed_spans(item: ProjectionItem | Sequence[Any]) -> Sequence[Any]:
    """``item`` with its spans in a list (they may come as an iterator and are read twice)."""
    if len(item) < 3:
        return item  # refused by ProjectionBatch.build
    return (list(item[0]), *item[1:])


def _has_work(item: Sequence[Any], alone: bool = False) -> bool:
    """Whether ``item`` has source spans (or ``alone``) and target words (or is malformed:
    checked later)."""
    return len(item) < 3 or ((alone or bool(item[0])) and not _is_zero(item[2]))


def _is_zero(value: Any) -> bool:
    try:
        return bool(value == 0)
    except (TypeError, ValueError):
        return False


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
    return [result.spans for result in _call_method(info, opts, list(items), None)]


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
