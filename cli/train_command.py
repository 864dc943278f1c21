"""``xner train``: fine-tune a token classifier on labelled (projected) data (imports the torch
side inside the command, as ``xner export`` does)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from xner.cli.app import command, fail
from xner.runtime.names import split_names


@command("train")
def train_command(
    model: Annotated[
        str,
        typer.Option("--model", help="Encoder to fine-tune: a folder or hub id (XLM-R, mBERT)."),
    ],
    data: Annotated[
        list[str],
        typer.Option("--data", help="FILE:LANG labelled data (CoNLL or JSONL); repeat for more."),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: final model, checkpoints/, logs.")
    ],
    dev: Annotated[
        Path | None, typer.Option("--dev", help="Gold file for dev F1, early stopping, best.")
    ] = None,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Optimizer steps.")] = 1000,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", help="Steps between checkpoints.")
    ] = 500,
    eval_every: Annotated[
        int | None,
        typer.Option("--eval-every", help="Steps between dev evaluations (default: each pass)."),
    ] = None,
    log_every: Annotated[
        int, typer.Option("--log-every", help="Steps between train.jsonl records.")
    ] = 1,
    keep_checkpoints: Annotated[
        int, typer.Option("--keep-checkpoints", help="Newest checkpoints kept on disk.")
    ] = 2,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Sentences per batch.")] = 16,
    grad_accum: Annotated[
        int, typer.Option("--grad-accum", help="Batches per optimizer step.")
    ] = 1,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW).")] = 5e-5,
    warmup: Annotated[
        float, typer.Option("--warmup", help="Warmup as a fraction of --max-steps.")
    ] = 0.1,
    weight_decay: Annotated[
        float, typer.Option("--weight-decay", help="AdamW weight decay.")
    ] = 0.01,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random choice.")] = 42,
    device: Annotated[
        str, typer.Option("--device", help="cpu, cuda or cuda:N (mixed precision).")
    ] = "cpu",
    patience: Annotated[
        int, typer.Option("--patience", help="Evaluations without a better dev F1 (0: off).")
    ] = 3,
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", help="Drop sentences with a less sure span.")
    ] = 0.0,
    source_weights: Annotated[
        str | None,
        typer.Option("--source-weights", help="Sampling weights: en=1,es=0.5 (language/file)."),
    ] = None,
    label_map: Annotated[
        str | None, typer.Option("--map", help="Rename entity types: GPE=LOC,DATE=O.")
    ] = None,
    ignore: Annotated[
        str | None, typer.Option("--ignore", help="Entity types turned into O: MISC,DATE.")
    ] = None,
    max_length: Annotated[
        int, typer.Option("--max-length", help="Subwords per example (longer: split).")
    ] = 256,
    adversarial: Annotated[
        bool, typer.Option("--adversarial", help="Language discriminator behind a GRL.")
    ] = False,
    unlabelled: Annotated[
        list[str] | None,
        typer.Option("--unlabelled", help="FILE:LANG plain text for the discriminator."),
    ] = None,
    grl_schedule: Annotated[
        str, typer.Option("--grl-schedule", help="Reversal weight: dann, linear, constant.")
    ] = "dann",
    grl_max: Annotated[float, typer.Option("--grl-max", help="Largest reversal weight.")] = 1.0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the newest checkpoint of --out.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Start over in an existing run.")] = False,
) -> None:
    """Fine-tune a token-classification encoder (needs the train extra: torch, transformers)."""
    try:
        from xner.train import TrainOptions, train
        from xner.train.data import apply_weights, parse_data_spec, parse_label_map
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise fail(
            f"xner train needs the train extra (pip install 'xner[train]'): {error}"
        ) from None

    specs = apply_weights([parse_data_spec(text) for text in data], source_weights)
    options = TrainOptions(
        model=model,
        data=tuple(specs),
        out=out,
        dev=dev,
        max_steps=max_steps,
        checkpoint_every=checkpoint_every,
        eval_every=eval_every,
        log_every=log_every,
        keep_checkpoints=keep_checkpoints,
        batch_size=batch_size,
        grad_accum=grad_accum,
        lr=lr,
        warmup=warmup,
        weight_decay=weight_decay,
        seed=seed,
        device=device,
        patience=patience,
        min_confidence=min_confidence,
        label_map=parse_label_map(label_map),
        ignore=split_names(ignore),
        max_length=max_length,
        adversarial=adversarial,
        unlabelled=tuple(parse_data_spec(text) for text in unlabelled or ()),
        grl_schedule=grl_schedule,
        grl_max=grl_max,
        resume=resume,
        force=force,
    )
    for path in (*(spec.path for spec in (*options.data, *options.unlabelled)), dev):
        if path is not None and not path.is_file():
            problem = "is a folder, expected a file" if path.is_dir() else "no such file"
            raise fail(f"{path}: {problem}")
    with _progress_bar(max_steps) as on_step:
        result = train(options, on_step=on_step)
    best = (
        f", best dev F1 x 100 {100 * result.best_dev_f1:.1f} at step {result.best_step}"
        if result.best_dev_f1 is not None and result.best_step is not None
        else ""
    )
    early = " (stopped early)" if result.stopped_early else ""
    typer.echo(
        f"wrote {result.out}: {result.steps} steps{early}{best}, {result.seconds:.1f} s", err=True
    )


@contextlib.contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[Any], None] | None]:
    """A callback drawing steps, loss and dev F1 on stderr; None off a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  dev F1 {task.fields[dev]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("train", total=total, loss="-", dev="-")

        def update(record: Any) -> None:
            fields: dict[str, Any] = {"loss": f"{record.loss:.4f}"}
            if record.dev_f1 is not None:
                fields["dev"] = f"{100 * record.dev_f1:.2f}"
            bar.update(task, completed=record.step, **fields)

        yield update
