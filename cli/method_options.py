"""The projection options of the commands, generated from the registered methods.

Each projection method declares its knobs once, as the fields of its options dataclass
(:func:`xner.runtime.projection.option` gives each its help text and, where needed, its flag).
:func:`with_projection_options` turns them into command-line options: ``--method`` and one option
per field of every registered method, and hands the command one :class:`ProjectionChoice`. A
method registered later (a plugin, a test) gets its options on every decorated command, since
the options are read from the registry each time the command line is built.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from xner.runtime.errors import ConfigError
from xner.runtime.names import split_names
from xner.runtime.pipelines import markers  # noqa: F401  (registers --method markers)
from xner.runtime.projection import available_methods, method_info, option_fields

__all__ = [
    "Flag",
    "ProjectionChoice",
    "projection_choice",
    "projection_flags",
    "with_projection_options",
]

PARAMETER = "projection"
"""The keyword parameter through which a decorated command receives its choice."""

METHOD = "method"
"""The name of the ``--method`` parameter."""


@dataclass(frozen=True)
class ProjectionChoice:
    """The projection method a command runs (``method``) and its options dataclass
    (``options``), built from the command line."""

    method: str
    options: Any


@dataclass(frozen=True)
class Flag:
    """One generated option: the command's parameter ``name``, its ``flag``, the fields it sets
    (``owners``: ``(method, field)`` pairs; several methods may share a flag), its command-line
    ``kind`` and ``default``, its ``help`` and ``parse``, which turns a command-line value into
    the field's value."""

    name: str
    flag: str
    owners: tuple[tuple[str, str], ...]
    kind: Any
    default: Any
    help: str
    parse: Callable[[Any], Any]

    def methods(self) -> tuple[str, ...]:
        """The methods that own this flag."""
        return tuple(method for method, _ in self.owners)

    def parameter(self) -> inspect.Parameter:
        """The keyword parameter typer reads this option from."""
        decls = self.flag
        if self.kind is bool and self.default:
            decls = f"{self.flag}/--no-{self.flag[2:]}"
        info = typer.Option(decls, help=self.help)
        return inspect.Parameter(
            self.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=self.default,
            annotation=Annotated[self.kind, info],
        )


def _same(value: Any) -> Any:
    return value


def _cli_form(method: str, name: str, annotation: Any, default: Any) -> tuple[Any, Any, Any]:
    """The command-line ``(kind, default, parse)`` of a field of type ``annotation``."""
    if annotation in (bool, int, float, str):
        return annotation, default, _same
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(inner) == 1 and inner[0] in (int, float, str):  # X | None
            return inner[0] | None, default, _same
    if annotation == tuple[str, ...]:
        return str, ",".join(default), split_names
    raise TypeError(
        f"option {name!r} of projection method {method!r} has type {annotation!r}, which the "
        "command line cannot take (bool, int, float, str, X | None, tuple[str, ...]); declare it "
        "with option(..., cli=False)"
    )


def projection_flags() -> tuple[Flag, ...]:
    """The options of every registered method, in method order then field order; a flag
    declared by several methods (same type and default) appears once, with their names in its
    help. ``TypeError`` for a field the command line cannot take or a clash between methods."""
    flags: dict[str, Flag] = {}
    for method in available_methods():
        for field in option_fields(method_info(method).options_type):
            kind, default, parse = _cli_form(method, field.name, field.annotation, field.default)
            owner = (method, field.name)
            seen = flags.get(field.flag)
            if seen is None:
                name = field.flag[2:].replace("-", "_")
                help = f"{method}: {field.help}"
                flags[field.flag] = Flag(name, field.flag, (owner,), kind, default, help, parse)
            elif (seen.kind, seen.default) == (kind, default):
                help = f"{', '.join(seen.methods())}, {method}: {seen.help.split(': ', 1)[1]}"
                owners = (*seen.owners, owner)
                flags[field.flag] = Flag(seen.name, seen.flag, owners, kind, default, help, parse)
            else:
                raise TypeError(
                    f"{field.flag} of projection method {method!r} differs in type or default "
                    f"from {field.flag} of {', '.join(seen.methods())}"
                )
    return tuple(flags.values())


def _listed(names: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def projection_choice(
    method: str, values: Mapping[str, Any], flags: tuple[Flag, ...] | None = None
) -> ProjectionChoice:
    """The choice that ``--method`` and the option ``values`` (command-line values by parameter
    name; missing ones take their defaults) make.

    :class:`ConfigError` for an unknown method (listing the registered ones), for an option of
    another method set to something else than its default (``--exact belongs to --method
    ngram``) and for bad option values (the options dataclass checks them).
    """
    info = method_info(method)
    flags = projection_flags() if flags is None else flags
    fields: dict[str, Any] = {}
    misplaced: dict[tuple[str, ...], list[str]] = {}
    for flag in flags:
        value = flag.parse(values.get(flag.name, flag.default))
        mine = [name for owner, name in flag.owners if owner == method]
        if mine:
            fields.update(dict.fromkeys(mine, value))
        elif value != flag.parse(flag.default):
            misplaced.setdefault(flag.methods(), []).append(flag.flag)
    if misplaced:
        raise ConfigError(
            "; ".join(
                f"{' and '.join(given)} {'belongs' if len(given) == 1 else 'belong'} to "
                f"--method {_listed(owners)}"
                for owners, given in misplaced.items()
            )
        )
    return ProjectionChoice(method, info.options_type(**fields))


class _WithProjection:
    """A command whose signature offers the projection options of the registered methods (read
    each time typer asks for it) and which receives them as one :class:`ProjectionChoice`."""

    def __init__(self, fn: Callable[..., Any], default: str) -> None:
        functools.update_wrapper(self, fn)
        self.__dict__.pop("__signature__", None)  # ours is computed (the property below)
        self.__annotations__ = {
            k: v for k, v in getattr(fn, "__annotations__", {}).items() if k != PARAMETER
        }
        self._fn = fn
        self._default = default
        self._signature = inspect.signature(fn, eval_str=True)
        if PARAMETER not in self._signature.parameters:
            raise TypeError(
                f"{fn.__name__} needs a keyword parameter '{PARAMETER}: ProjectionChoice | None'"
            )

    def _added(self) -> list[inspect.Parameter]:
        info = typer.Option(
            f"--{METHOD}", help=f"Projection method: {_listed(available_methods())}."
        )
        method = inspect.Parameter(
            METHOD,
            inspect.Parameter.KEYWORD_ONLY,
            default=self._default,
            annotation=Annotated[str, info],
        )
        return [method, *(flag.parameter() for flag in projection_flags())]

    @property
    def __signature__(self) -> inspect.Signature:
        """The command's parameters with ``projection`` replaced, in place, by ``--method`` and
        the methods' options (so that ``--help`` lists them where the command declared it)."""
        params = list(self._signature.parameters.values())
        at = [p.name for p in params].index(PARAMETER)
        added = self._added()
        taken = {p.name for p in params} & {p.name for p in added}
        if taken:
            raise TypeError(
                f"{self._fn.__name__}: parameters {sorted(taken)} clash with projection options"
            )
        # the added options are keyword-only: so must be the parameters after them
        after = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[at + 1 :]]
        return self._signature.replace(parameters=[*params[:at], *added, *after])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        flags = projection_flags()
        method = kwargs.pop(METHOD, self._default)
        values = {flag.name: kwargs.pop(flag.name) for flag in flags if flag.name in kwargs}
        choice = projection_choice(method, values, flags)
        return self._fn(*args, **{PARAMETER: choice}, **kwargs)


def with_projection_options(
    fn: Callable[..., Any] | None = None, *, default: str = "heuristic"
) -> Any:
    """Give a command the projection options of every registered method.

    The command declares a keyword parameter ``projection: ProjectionChoice | None = None``; the
    command line gets, in its place, ``--method`` (``default`` when not given; its help lists
    the registered methods) and one option per command-line field of each method's options
    dataclass (:func:`xner.runtime.projection.option_fields`: ``--field-name``, help prefixed by
    the method's name; ``tuple[str, ...]`` fields take a comma-separated list), and the command
    receives one :class:`ProjectionChoice`. An option of another method than ``--method`` set to
    something else than its default is a :class:`ConfigError` (``--exact belongs to --method
    ngram``). Apply it below :func:`xner.cli.app.command`, above
    :func:`xner.cli.options.with_engine_options` (which reads the signature once).
    """
    if fn is None:
        return functools.partial(with_projection_options, default=default)
    return _WithProjection(fn, default)
