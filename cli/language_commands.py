"""``xner languages``: list the NLLB-200 language codes and what resolves to them."""

from __future__ import annotations

import typer

from xner.cli.app import command
from xner.runtime.languages import find_languages, format_language_table


@command("languages")
def languages(
    query: str = typer.Argument(
        "",
        help="A code, ISO 639-1/639-3 code or English name (or part of one); all when omitted.",
        show_default=False,
    ),
) -> None:
    """List the 202 NLLB-200 language codes, or those that match QUERY."""
    typer.echo(format_language_table(find_languages(query)))
