"""``xner experiment``: languages x methods on a folder of gold test files (the paper's tables);
with ``--vary pivots|sources``, F1 against the number of pivots or sources (issue 14); with
``--train --vary sources``, the F1 of taggers trained on data projected from 1..N sources
(issue 16; imports the torch side, :mod:`xner.train.experiment`, inside the command only)."""

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
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="With --vary sources: train a tagger (--model) per subset of --sources "
            "(CODE=FILE under --data, translate-trained into --target once each) and seed, "
            "score it on --target-test. Writes train_vary.md/.csv/.json/.png, "
            "train_vary_runs.csv.",
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option("--model", help="With --train: the encoder to fine-tune (folder or hub id)."),
    ] = None,
    target_test: Annotated[
        Path | None,
        typer.Option(
            "--target-test", help="With --train: the target's gold test file (under --data)."
        ),
    ] = None,
    max_steps: Annotated[
        int, typer.Option("--max-steps", min=1, help="With --train: steps of every run.")
    ] = 200,
    seeds: Annotated[
        str, typer.Option("--seeds", help="With --train: training seeds, comma-separated.")
    ] = "1,2,3",
    adversarial: Annotated[
        str,
        typer.Option(
            "--adversarial",
            help="With --train: off, on (language discriminator, the test words unlabelled) "
            "or both (each run both ways).",
        ),
    ] = "off",
    train_batch_size: Annotated[
        int, typer.Option("--train-batch-size", min=1, help="With --train: sentences per step.")
    ] = 16,
    lr: Annotated[float, typer.Option("--lr", help="With --train: peak learning rate.")] = 5e-5,
    keep_runs: Annotated[
        bool,
        typer.Option("--keep-runs", help="With --train: keep each run's folder under runs/."),
    ] = False,
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

    train_only = {
        "--model": model is not None,
        "--target-test": target_test is not None,
        "--max-steps": max_steps != 200,
        "--seeds": seeds != "1,2,3",
        "--adversarial": adversarial != "off",
        "--train-batch-size": train_batch_size != 16,
        "--lr": lr != 5e-5,
        "--keep-runs": keep_runs,
    }
    if train:
        if vary != "sources":
            raise ConfigError("--train varies the sources: add --vary sources")
        unused = {
            "--langs": langs is not None,
            "--column": bool(column),
            "--split": split != "test",
            "--route-by": route_by is not None,
            "--combine": combine != "vote",
            "--min-votes": min_votes is not None,
            "--weights": bool(weights),
        }
        given = [name for name, changed in unused.items() if changed]
        if given:
            raise ConfigError(f"{', '.join(given)}: not with --train")
        if model is None or target is None or sources is None or target_test is None:
            raise ConfigError(
                "--train needs --model, --target (hau), --target-test (its gold file) and "
                "--sources (en=FILE,de=FILE)"
            )
        _train_command(
            bundle, data, output, model=model, sources=sources, target=target,
            target_test=target_test, max_steps=max_steps, seeds=seeds, subsets=subsets,
            seed=seed, limit=limit, adversarial=adversarial, methods=methods, ignore=ignore,
            beam_size=beam_size, align_method=align_method, batch_size=train_batch_size, lr=lr,
            keep_runs=keep_runs, force=force, resume=resume, skip_verify=skip_verify,
            engine=engine,
        )  # fmt: skip
        return
    given = [name for name, changed in train_only.items() if changed]
    if given:
        raise ConfigError(f"{', '.join(given)}: only with --train")
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


def _train_command(
    bundle: Path,
    data: Path,
    output: Path,
    *,
    model: str,
    sources: str,
    target: str,
    target_test: Path,
    max_steps: int,
    seeds: str,
    subsets: int,
    seed: int,
    limit: int | None,
    adversarial: str,
    methods: str | None,
    ignore: str,
    beam_size: int,
    align_method: str,
    batch_size: int,
    lr: float,
    keep_runs: bool,
    force: bool,
    resume: bool,
    skip_verify: bool,
    engine: EngineOptions | None,
) -> None:
    """``--train --vary sources``: F1 of taggers trained on 1..N sources' projected data."""
    from xner.runtime.files.atomic import check_output

    chosen = split_names(methods or "ngram")
    if len(chosen) != 1:
        raise ConfigError(f"--train projects with one method (--methods ngram); got {methods}")
    try:
        seed_list = tuple(int(x) for x in split_names(seeds))
    except ValueError:
        raise ConfigError(f"--seeds: {seeds!r} is not a comma-separated list of integers") from None
    test = target_test if target_test.is_absolute() else data / target_test
    try:
        from xner.train.experiment import (
            TRAIN_VARY_FILES,
            TrainVaryConfig,
            parse_train_sources,
            run_train_vary,
        )
    except ImportError as error:
        raise ConfigError(
            f"--train needs the train extra (pip install 'xner[train]'): {error}"
        ) from None
    check_output(output / TRAIN_VARY_FILES["json"])  # the folder can hold the results
    config = TrainVaryConfig(
        model,
        parse_train_sources(sources, data),
        target,
        test,
        max_steps=max_steps,
        seeds=seed_list,
        subsets=subsets,
        sample_seed=seed,
        limit=limit,
        adversarial=adversarial,
        method=chosen[0],
        beam_size=beam_size,
        align_method=align_method,
        ignore=tuple(split_names(ignore)),
        batch_size=batch_size,
        lr=lr,
        device=engine.device if engine is not None else "auto",
        keep_runs=keep_runs,
    )
    result = run_train_vary(
        bundle,
        config,
        out_dir=output,
        options=engine,
        verify=not skip_verify,
        force=force,
        resume=resume,
        progress=lambda items, description: progress(items, description, unit="runs"),
    )
    written = ", ".join(str(path) for path in result.files.values())
    typer.echo(f"wrote {written}", err=True)
    typer.echo(result.markdown(), nl=False)
