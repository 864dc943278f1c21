"""Model-free commands: ``project``, ``evaluate`` and ``convert``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.runtime.errors import ConfigError


def _labels(value: str | None) -> tuple[str, ...]:
    """``"MISC,DATE"`` -> ``("MISC", "DATE")``."""
    return tuple(x.strip() for x in (value or "").split(",") if x.strip())


def _method_options(
    method: str,
    *,
    merge_distance: int,
    length_ratio: float,
    keep: str,
    collisions: str,
    max_len: int | None,
    stop_words: str,
    exact: bool,
) -> dict[str, object]:
    if method == "heuristic":
        if exact or max_len is not None:
            raise ConfigError("--exact and --max-len belong to --method ngram")
        return {
            "merge_distance": merge_distance,
            "length_ratio": length_ratio,
            "keep": keep,
            "collisions": collisions,
        }
    return {"max_len": max_len, "stop_words": _labels(stop_words), "exact": exact}


@command("project")
def project_command(
    source: Annotated[
        Path, typer.Option("--source", help="Labelled source sentences (CoNLL or JSONL, IOB2).")
    ],
    target: Annotated[
        Path,
        typer.Option("--target", help="Target words: one sentence per line (.txt) or CoNLL."),
    ],
    alignments: Annotated[
        Path,
        typer.Option(
            "--alignments", help="Pharaoh links source_index-target_index, a line per pair."
        ),
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Output CoNLL/JSONL, - = stdout.")],
    method: Annotated[str, typer.Option(help="heuristic or ngram.")] = "heuristic",
    merge_distance: Annotated[
        int, typer.Option(help="heuristic: merge runs separated by at most this many words.")
    ] = 1,
    length_ratio: Annotated[
        float, typer.Option(help="heuristic: keep a run longer than this share of the entity.")
    ] = 0.8,
    keep: Annotated[str, typer.Option(help="heuristic: all runs or the largest.")] = "all",
    collisions: Annotated[
        str, typer.Option(help="heuristic: overwrite, first or longer.")
    ] = "overwrite",
    max_len: Annotated[
        int | None, typer.Option(help="ngram: longest candidate in words (default: any).")
    ] = None,
    stop_words: Annotated[
        str, typer.Option(help="ngram: comma-separated words no candidate may hold.")
    ] = "!,?",
    exact: Annotated[
        bool, typer.Option("--exact", help="ngram: optimal matching instead of greedy.")
    ] = False,
    one_indexed: Annotated[
        bool, typer.Option("--one-indexed", help="Alignment indices start at 1.")
    ] = False,
    clip: Annotated[
        bool, typer.Option("--clip", help="Drop links past a sentence instead of failing.")
    ] = False,
) -> None:
    """Project the entities of labelled source sentences onto target sentences."""
    from xner.runtime.jobs import project_files

    options = _method_options(
        method,
        merge_distance=merge_distance,
        length_ratio=length_ratio,
        keep=keep,
        collisions=collisions,
        max_len=max_len,
        stop_words=stop_words,
        exact=exact,
    )
    stats = project_files(
        source,
        target,
        alignments,
        output,
        method=method,
        options=options,
        one_indexed=one_indexed,
        out_of_range="clip" if clip else "error",
    )
    ratio = "n/a" if stats.projection_ratio is None else f"{stats.projection_ratio:.2f}"
    typer.echo(
        f"projected {stats.projected_entities} of {stats.source_entities} entities in "
        f"{stats.sentences} sentences (ratio {ratio})",
        err=True,
    )


@command("evaluate")
def evaluate_command(
    gold: Annotated[Path, typer.Argument(help="Gold tagged sentences (CoNLL or JSONL).")],
    predicted: Annotated[Path, typer.Argument(help="Predicted tagged sentences, same order.")],
    ignore: Annotated[
        str | None, typer.Option(help="Entity types mapped to O on both sides, e.g. MISC,DATE.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Entity-level precision, recall and F1 (identical to seqeval's default mode)."""
    from xner.runtime.jobs import evaluate_files

    result = evaluate_files(gold, predicted, ignore=_labels(ignore))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        typer.echo(result.format_table(), nl=False)


@command("convert")
def convert_command(
    source: Annotated[str, typer.Argument(help="Input file (- = stdin).")],
    output: Annotated[str, typer.Argument(help="Output file (- = stdout).")],
    from_format: Annotated[
        str | None, typer.Option("--from", help="conll, jsonl or text (default: extension).")
    ] = None,
    to_format: Annotated[
        str | None, typer.Option("--to", help="conll, jsonl or text (default: extension).")
    ] = None,
    tokenize: Annotated[
        str | None, typer.Option(help="Text input: whitespace or unicode word splitting.")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="JSONL input with integer ner_tags: the label list, comma-separated."),
    ] = None,
) -> None:
    """Convert tagged sentences between CoNLL, JSONL and plain text."""
    from xner.runtime.formats import convert

    options: dict[str, object] = {}
    if tokenize is not None:
        options["tokenize"] = tokenize
    if labels is not None:
        options["labels"] = list(_labels(labels))
    if from_format is None and source == "-":
        from_format = "conll"
    if to_format is None and output == "-":
        to_format = "conll"
    count = convert(source, output, from_format, to_format, **options)
    typer.echo(f"converted {count} sentences", err=True)
