"""The typer application and the decorator that turns library errors into one-line messages."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

import typer

from xner.runtime.errors import XnerError
from xner.runtime.version import __version__

app = typer.Typer(
    name="xner",
    help="Offline NER for low-resource languages: translate, tag, align and project entities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``xner: error: message`` on stderr and return the Exit to raise."""
    typer.echo(f"xner: error: {message}", err=True)
    return typer.Exit(code)


def command(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command on :data:`app`; user-facing errors become one line and exit code 2."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            try:
                return fn(*a, **kw)
            except XnerError as error:
                raise fail(str(error), error.exit_code) from None
            except FileNotFoundError as error:
                raise fail(f"{error.filename}: no such file") from None
            except IsADirectoryError as error:
                raise fail(f"{error.filename}: is a directory, expected a file") from None
            except PermissionError as error:
                raise fail(f"{error.filename}: permission denied") from None
            except BrokenPipeError:
                sys.stderr.close()  # the reader went away (``xner ... | head``): not an error
                raise typer.Exit(0) from None
            except KeyboardInterrupt:
                raise fail("interrupted", 130) from None

        return app.command(*args, **kwargs)(wrapper)

    return decorate


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xner {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More log output (-vv: debug)."
    ),
) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="xner: %(levelname)s: %(message)s", stream=sys.stderr)
