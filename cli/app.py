"""The typer application and the decorator that turns library errors into one-line messages.

Every error reaches the user as one line ``xner: error: ...`` on stderr: library errors through
:func:`command`, usage errors (unknown option, missing argument, bad value) through
:class:`XnerGroup`, with exit code 2 (1 for bundle errors). Help is click's plain layout, which
never cuts an option name whatever the terminal width.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
import typer.core
from typer.core import TyperGroup

from xner.runtime.errors import XnerError
from xner.runtime.version import __version__

# click's ClickException: typer._click in recent typer (click vendored), the click package before.
_click = getattr(typer.core, "_click", None) or getattr(typer.core, "click", None)
_CLICK_ERRORS: tuple[type[Exception], ...] = (typer.TyperException,) + (
    (_click.exceptions.ClickException,) if _click is not None else ()
)


def _one_line(error: Exception) -> str:
    """The message of a click usage error on one line, with the command's help hint."""
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    message = " ".join(message.split())
    ctx = getattr(error, "ctx", None)
    if ctx is not None and getattr(ctx, "command_path", None):
        message = f"{message.rstrip('.')} (see '{ctx.command_path} --help')"
    return message


class XnerGroup(TyperGroup):
    """The root command: runs the app and prints any usage error as one ``xner: error:`` line."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except typer.Abort:
            typer.echo("xner: error: aborted", err=True)
            sys.exit(1)
        except _CLICK_ERRORS as error:  # click's ClickException and its usage errors
            if type(error).__name__ == "NoArgsIsHelpError":
                error.show()  # type: ignore[attr-defined]  # no arguments: the help, as before
            else:
                typer.echo(f"xner: error: {_one_line(error)}", err=True)
            sys.exit(getattr(error, "exit_code", 2))
        sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


app = typer.Typer(
    name="xner",
    cls=XnerGroup,
    help="Offline NER for low-resource languages: translate, tag, align and project entities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``xner: error: message`` on stderr and return the Exit to raise."""
    typer.echo(f"xner: error: {message}", err=True)
    return typer.Exit(code)


def command(
    *args: Any, on: typer.Typer | None = None, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a command on :data:`app` (or the sub-app ``on``); user-facing errors become one
    line and exit code 2."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            try:
                fn(*a, **kw)
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
            except OSError as error:  # disk full, not a directory, file name too long, ...
                where = f"{error.filename}: " if error.filename else ""
                raise fail(f"{where}{error.strerror or error}") from None

        return (on or app).command(*args, **kwargs)(wrapper)

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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=level, handlers=[handler])


class _Formatter(logging.Formatter):
    """``xner: LEVEL: message``, or ``xner: message`` for notices (``extra={"notice": True}``)."""

    def __init__(self) -> None:
        super().__init__("xner: %(levelname)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "notice", False):
            return f"xner: {record.getMessage()}"
        return super().format(record)
