"""Command-line options of the combination of several voters (pivots, sources), declared once:
``--pivots`` (translate-test) and ``--combine``, ``--min-votes``, ``--weights`` (any command
that combines projections), and :func:`combine_options` that turns the last three into
:class:`~xner.runtime.projection.combine.CombineOptions`."""

from __future__ import annotations

from typing import Annotated

import typer

from xner.runtime.projection.combine import CombineOptions, parse_weights

Pivots = Annotated[
    str,
    typer.Option(
        "--pivots",
        help="Languages to translate into and tag in, comma-separated (default eng_Latn); with "
        "several, their projected spans are combined per sentence (--combine).",
    ),
]
Combine = Annotated[
    str,
    typer.Option(
        "--combine",
        help="How several projections are combined: vote (the default: keep a span enough of "
        "them give, see --min-votes), weighted (keep a span with more than half the weight, "
        "see --weights) or union (keep every span; an overlap goes to the most votes).",
    ),
]
MinVotes = Annotated[
    int | None,
    typer.Option(
        "--min-votes",
        help="Votes a span needs (default: a strict majority of those that answered for vote, "
        "none for weighted).",
    ),
]
Weights = Annotated[
    str,
    typer.Option(
        "--weights",
        help="Weights of the voters, comma-separated NAME=WEIGHT (fra_Latn=0.5,por_Latn=2); "
        "the default weight is 1.",
    ),
]


def combine_options(combine: str, min_votes: int | None, weights: str) -> CombineOptions:
    """The options of the combination from the three flags (a bad value: ConfigError)."""
    return CombineOptions(combine, min_votes, parse_weights(weights))
