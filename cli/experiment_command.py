"""``xner experiment``: languages x methods on a folder of gold test files (the paper's tables);
with ``--vary pivots|sources``, F1 against the number of pivots or sources (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from xner.cli.app import command
from xner.cli.job_options import Resume
from xner.cli.options import (
    SkipVerify,
    bundle_option,
    progress,
    with_engine_options,
)
from xner.cli.pivot_options import Combine, MinVotes, Weights, combine_options
from xner.runtime.engines.options import EngineOptions
from xner.runtime.errors import ConfigError
from xner.runtime.experiment.vary import DEFAULT_PIVOTS
from xner.runtime.names import split_names


@command("experiment")
@with_engine_options
def experiment_command(
    bundle: Annotated[Path, bundle_option("Bundle with translator, tagger and aligner.")],
    data: Annotated[
        Path,
        typer.Option("--data", help="Folder of gold files <lang>.<split>.conll (MasakhaNER 2.0)."),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for results.csv, results.json, results.md, results.png."
        ),
    ],
    langs: Annotated[
        str | None,
        typer.Option(
            "--langs",
            help="Comma-separated file codes (hau,yor,swa) or all (leaves out languages NLLB "
            "lacks, such as pcm and bbj); required except with --vary sources.",
        ),
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(
            "--methods",
            help="Comma-separated: any projection method or variant run through translate-test "
            "(heuristic, ngram, ngram-exact, ngram-ner, ngram-nmt, ensemble, back-translation, "
            "...; an unknown name lists them all) and model-transfer (default heuristic,ngram,"
            "model-transfer; with --vary one method, default ngram).",
        ),
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="Another column, repeatable: 'NAME = METHOD option=value ...', e.g. 'ngram-c50 "
            "= ngram min-confidence=0.5' or 'mix = ngram scores=align=0.5,ner=0.5 max-len=6' "
            "(options spelt as the method's flags without dashes).",
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="Which files: <lang>.<split>.conll (test, dev).")
    ] = "test",
    ignore: Annotated[
        str,
        typer.Option(
            "--ignore",
            help="Entity types scored as O on both sides, comma-separated (published results "
            "ignore MISC,DATE).",
        ),
    ] = "",
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Only the first N sentences of each language."),
    ] = None,
    align_method: Annotated[
        str,
        typer.Option("--align-method", help="Aligner method: itermax, argmax, match or softmax."),
    ] = "itermax",
    beam_size: Annotated[
        int, typer.Option("--beam-size", min=1, help="Translation beam (1: greedy, fastest).")
    ] = 1,
    route_by: Annotated[
        str | None,
        typer.Option(
            "--route-by",
            help="dev: per language, apply the method with the best F1 on <lang>.dev.conll "
            "(column routed).",
        ),
    ] = None,
    vary: Annotated[
        str | None,
        typer.Option(
            "--vary",
            help="pivots: F1 against the number of pivots (translate-test through every subset "
            "of --pivots, combined); sources: against the number of parallel hand-annotated "
            "sources projected onto --target (no translation). Writes vary.md, vary.csv, "
            "vary_subsets.csv, vary.json, vary.png.",
        ),
    ] = None,
    pivots: Annotated[
        str,
        typer.Option("--pivots", help="With --vary pivots: the pivots, comma-separated."),
    ] = ",".join(DEFAULT_PIVOTS),
    subsets: Annotated[
        int,
        typer.Option(
            "--subsets",
            min=1,
            help="With --vary: subsets per size at most (every subset when a size has no more, "
            "else a seeded sample).",
        ),
    ] = 10,
    seed: Annotated[int, typer.Option("--seed", help="With --vary: the sample's seed.")] = 0,
    target: Annotated[
        str | None,
        typer.Option(
            "--target", help="With --vary sources: the target's file code (de: de.test.conll)."
        ),
    ] = None,
    sources: Annotated[
        str | None,
        typer.Option(
            "--sources",
            help="With --vary sources: the sources' file codes, comma-separated (en,es,it), "
            "the same sentences as the target's, hand-annotated.",
        ),
    ] = None,
    combine: Combine = "vote",
    min_votes: MinVotes = None,
    weights: Weights = "",
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace results already in the output folder (or an interrupted run)."
        ),
    ] = False,
    resume: Resume = False,
    skip_verify: SkipVerify = False,
    engine: EngineOptions | None = None,
) -> None:
    """Score translate-test methods and model transfer on every language; print the F1 table.
    With --vary pivots|sources: F1 against the number of pivots or sources, per language."""
    from xner.runtime.experiment.run import ExperimentConfig, run_experiment
    from xner.runtime.files.atomic import check_output

    if vary is not None:
        _vary_command(
            bundle, data, output, vary, langs=langs, methods=methods, column=column, split=split,
            ignore=ignore, limit=limit, align_method=align_method, beam_size=beam_size,
            route_by=route_by, pivots=pivots, subsets=subsets, seed=seed, target=target,
            sources=sources, combine=combine, min_votes=min_votes, weights=weights, force=force,
            resume=resume, skip_verify=skip_verify, engine=engine,
        )  # fmt: skip
        return
    if langs is None:
        raise ConfigError("--langs is required: file codes of --data (hau,yor,swa) or all")
    vary_only = {
        "--pivots": split_names(pivots) != DEFAULT_PIVOTS,
        "--target": target is not None,
        "--sources": sources is not None,
        "--subsets": subsets != 10,
        "--seed": seed != 0,
        "--combine": combine != "vote",
        "--min-votes": min_votes is not None,
        "--weights": bool(weights),
    }
    given = [name for name, changed in vary_only.items() if changed]
    if given:
        raise ConfigError(f"{', '.join(given)}: only with --vary pivots|sources")
    check_output(output / "results.csv")  # the folder can hold the results: before any work
    config = ExperimentConfig(
        data,
        split_names(langs),
        split_names(methods or "heuristic,ngram,model-transfer"),
        split=split,
        ignore=split_names(ignore),
        limit=limit,
        beam_size=beam_size,
        align_method=align_method,
        route_by=route_by,
        columns=column or (),
    )
    result = run_experiment(
        bundle,
        config,
        out_dir=output,
        options=engine,
        verify=not skip_verify,
        force=force,
        resume=resume,
        progress=progress,
    )
    written = ", ".join(str(path) for path in result.files.values())
    typer.echo(f"wrote {written}", err=True)
    typer.echo(result.markdown(), nl=False)


def _vary_command(
    bundle: Path,
    data: Path,
    output: Path,
    vary: str,
    *,
    langs: str | None,
    methods: str | None,
    column: list[str] | None,
    split: str,
    ignore: str,
    limit: int | None,
    align_method: str,
    beam_size: int,
    route_by: str | None,
    pivots: str,
    subsets: int,
    seed: int,
    target: str | None,
    sources: str | None,
    combine: str,
    min_votes: int | None,
    weights: str,
    force: bool,
    resume: bool,
    skip_verify: bool,
    engine: EngineOptions | None,
) -> None:
    """``--vary pivots|sources``: F1 against the number of pivots or sources."""
    from xner.runtime.experiment.run import ExperimentConfig
    from xner.runtime.experiment.vary import VaryConfig, run_vary
    from xner.runtime.experiment.vary_report import VARY_FILES
    from xner.runtime.files.atomic import check_output

    if route_by is not None:
        raise ConfigError("--vary does not route: leave out --route-by")
    if vary == "sources":
        if target is None or sources is None:
            raise ConfigError("--vary sources needs --target (de) and --sources (en,es,it)")
        if langs is not None:
            raise ConfigError("--vary sources scores --target; leave out --langs")
        chosen, voters = [target], sources
    else:
        if target is not None or sources is not None:
            raise ConfigError("--target and --sources go with --vary sources")
        if langs is None:
            raise ConfigError("--langs is required: file codes of --data (hau,yor,swa) or all")
        chosen, voters = list(split_names(langs)), pivots
    check_output(output / VARY_FILES["json"])  # the folder can hold the results: before any work
    experiment = ExperimentConfig(
        data,
        chosen,
        split_names(methods or "ngram"),
        split=split,
        ignore=split_names(ignore),
        limit=limit,
        beam_size=beam_size,
        align_method=align_method,
        columns=column or (),
    )
    config = VaryConfig(
        experiment,
        vary,
        split_names(voters),
        combine_options(combine, min_votes, weights),
        subsets,
        seed,
    )
    result = run_vary(
        bundle,
        config,
        out_dir=output,
        options=engine,
        verify=not skip_verify,
        force=force,
        resume=resume,
        progress=progress,
    )
    written = ", ".join(str(path) for path in result.files.values())
    typer.echo(f"wrote {written}", err=True)
    typer.echo(result.markdown(), nl=False)
    typer.echo(result.cost_text(), err=True)
