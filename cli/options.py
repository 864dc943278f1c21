"""Command-line options shared by several commands, declared once.

Engine knobs map one to one onto :class:`xner.runtime.engines.options.EngineOptions`; a command
declares
them with the ``Annotated`` aliases below and builds the options with :func:`engine_options`.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from xner.cli.app import fail
from xner.runtime.bundles.store import resolve_bundle
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import XnerError

T = TypeVar("T")

Device = Annotated[
    str, typer.Option("--device", help="auto (CUDA when usable), cpu, cuda or cuda:N.")
]
ComputeType = Annotated[
    str,
    typer.Option(
        "--compute-type", help="CTranslate2 compute type: default, int8, float16, float32, ..."
    ),
]
IntraThreads = Annotated[
    int, typer.Option("--intra-threads", min=0, help="Threads per operation (0: one per core).")
]
InterThreads = Annotated[
    int, typer.Option("--inter-threads", min=1, help="Batches run in parallel.")
]
BatchSize = Annotated[int, typer.Option("--batch-size", min=1, help="Most sentences per batch.")]
BatchTokens = Annotated[
    int, typer.Option("--batch-tokens", min=1, help="Most padded subword positions per batch.")
]
VocabRestriction = Annotated[
    bool,
    typer.Option(
        "--vocab-restriction/--no-vocab-restriction",
        help="Translate into English (the bundle's pivots) with the smaller output layer the "
        "export validated, when the bundle has one; --no-vocab-restriction uses the whole "
        "vocabulary.",
    ),
]
SkipVerify = Annotated[
    bool,
    typer.Option("--skip-verify", help="Check only file presence and sizes, not SHA-256 (faster)."),
]


def _resolve_bundle(value: Path | None) -> Path:
    """``--bundle``, else ``$XNER_BUNDLE``, else the installed bundle, else ./bundles/default."""
    try:
        return resolve_bundle(value)
    except XnerError as error:  # raised while parsing, outside the command's error handling
        raise fail(str(error), error.exit_code) from None


def _no_bundle() -> None:
    return None


def bundle_option(help: str = "The bundle folder.") -> Any:
    """The ``--bundle`` option, declared once: optional, resolved by
    :func:`xner.runtime.bundles.store.resolve_bundle` before the command runs, so the command
    receives a folder. Use as ``bundle: Annotated[Path, bundle_option("Bundle with a tagger.")]``.
    """
    return typer.Option(
        "--bundle",
        "-b",
        help=f"{help} Folder or installed name; default: $XNER_BUNDLE, then the installed "
        "bundle (xner bundle list), then ./bundles/default.",
        default_factory=_no_bundle,
        callback=_resolve_bundle,
        show_default=False,
    )


_ENGINE_PARAMETERS = (
    ("device", Device, "auto"),
    ("compute_type", ComputeType, "default"),
    ("intra_threads", IntraThreads, 0),
    ("inter_threads", InterThreads, 1),
    ("batch_size", BatchSize, 32),
    ("batch_tokens", BatchTokens, 8192),
    ("vocab_restriction", VocabRestriction, True),
)
_TRANSLATOR_ONLY = ("compute_type", "vocab_restriction")
"""Engine options only commands that run a CTranslate2 model get."""


def with_engine_options(
    fn: Callable[..., Any] | None = None, *, compute_type: bool = True
) -> Callable[..., Any]:
    """Give a command the shared engine options, declared once here.

    The command declares a keyword parameter ``engine: EngineOptions | None = None``; the command
    line gets ``--device``, ``--compute-type`` and ``--no-vocab-restriction`` (only where a
    CTranslate2 model runs: ``compute_type=False`` leaves them out rather than ignore them),
    ``--intra-threads``, ``--inter-threads``, ``--batch-size`` and ``--batch-tokens`` in its
    place, and the command receives them as one :class:`EngineOptions`. Apply it below
    :func:`xner.cli.app.command`.
    """
    if fn is None:
        return functools.partial(with_engine_options, compute_type=compute_type)
    chosen = [p for p in _ENGINE_PARAMETERS if compute_type or p[0] not in _TRANSLATOR_ONLY]
    signature = inspect.signature(fn, eval_str=True)
    if "engine" not in signature.parameters:
        raise TypeError(f"{fn.__name__} needs a keyword parameter 'engine: EngineOptions'")
    kept = [p for name, p in signature.parameters.items() if name != "engine"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in chosen
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name, default) for name, _, default in chosen}
        return fn(*args, engine=engine_options(**values), **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    return wrapper


def engine_options(
    device: str = "auto",
    compute_type: str = "default",
    intra_threads: int = 0,
    inter_threads: int = 1,
    batch_size: int = 32,
    batch_tokens: int = 8192,
    vocab_restriction: bool = True,
) -> EngineOptions:
    """Build the engine settings from the shared options."""
    return EngineOptions(
        device=device,
        compute_type=compute_type,
        intra_threads=intra_threads,
        inter_threads=inter_threads,
        max_batch_size=batch_size,
        max_batch_tokens=batch_tokens,
        vocab_restriction=vocab_restriction,
    )


def progress(items: Iterable[T], description: str, unit: str = "sentences") -> Iterator[T]:
    """Yield ``items`` while showing a progress bar with a rate on stderr.

    The bar is off when stderr is not a terminal (pipes, files, CI), so logs stay clean.
    """
    if not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=None, rate="")
        for count, item in enumerate(items, 1):
            yield item
            elapsed = bar.tasks[0].elapsed or 0.0
            rate = f"{count / elapsed:.1f} {unit}/s" if elapsed > 0 else ""
            bar.update(task, advance=1, rate=rate)
