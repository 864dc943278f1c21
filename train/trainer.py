"""The training loop of ``xner train``: fine-tune a token classifier, evaluate, checkpoint, resume.

:func:`train` reads the labelled files (:mod:`xner.train.data`), builds the model from
``options.model`` with a head for the data's labels, and runs ``max_steps`` optimizer steps
(AdamW, linear warmup and decay, gradient accumulation and clipping), optionally with a language
discriminator behind a gradient-reversal layer (:mod:`xner.train.adversarial`). The dev file is
scored with xner's own :class:`~xner.runtime.evaluate.Evaluator`; the best model by dev F1 is the
final one and ``patience`` evaluations without improvement stop the run. Checkpoints
(:mod:`xner.train.checkpoint`) hold every state, so a run killed and resumed ends with the same
weights, bit for bit, as one that never stopped (with the same settings, on the CPU).

The library prints nothing: ``on_step`` receives a :class:`StepRecord` after every step (the
CLI draws its progress bar from them) and ``logging.getLogger("xner")`` tells what was resolved.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xner.runtime.errors import ConfigError, InputError
from xner.train import checkpoint as ckpt
from xner.train import run_folder
from xner.train.adversarial import LanguageDiscriminator, grl_lambda, reverse_gradient
from xner.train.data import (
    DataOptions,
    Encoded,
    Example,
    ReadStats,
    WeightedSampler,
    collate,
    encode,
    label_list,
    read_examples,
    read_unlabelled,
)
from xner.train.dev import DevSet
from xner.train.options import TrainOptions

__all__ = ["Precision", "StepRecord", "TrainResult", "choose_precision", "train"]

logger = logging.getLogger("xner")


@dataclass(frozen=True)
class StepRecord:
    """One optimizer step: its number, the mean NER loss of its batches, the learning rate used,
    the dev F1 when the step evaluated, and, when adversarial, the discriminator's loss and the
    reversal weight."""

    step: int
    max_steps: int
    loss: float
    lr: float
    dev_f1: float | None = None
    disc_loss: float | None = None
    grl_lambda: float | None = None

    def log_record(self) -> dict[str, Any]:
        """The ``train.jsonl`` line: ``step``, ``loss``, ``lr``, then what applies."""
        record: dict[str, Any] = {"step": self.step, "loss": self.loss, "lr": self.lr}
        for name in ("dev_f1", "disc_loss", "grl_lambda"):
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        return record


@dataclass(frozen=True)
class TrainResult:
    """What a run did: the folder of the final model, steps run, the best dev step and F1 (None
    without a dev file), whether it stopped early, the step it resumed from, the labels, the
    reading statistics per data file, and seconds spent."""

    out: Path
    steps: int
    best_step: int | None
    best_dev_f1: float | None
    stopped_early: bool
    resumed_from: int | None
    labels: list[str]
    read_stats: list[ReadStats]
    seconds: float


@dataclass(frozen=True)
class Precision:
    """The arithmetic of a device: ``dtype`` of the autocast region (``float32``: none) and
    whether the loss is scaled (fp16 only)."""

    dtype: str
    scaler: bool


def choose_precision(device_type: str, bf16_supported: bool) -> Precision:
    """CPU: float32. CUDA: bf16 autocast where the GPU supports it, else fp16 with a GradScaler."""
    if device_type != "cuda":
        return Precision("float32", False)
    return Precision("bfloat16", False) if bf16_supported else Precision("float16", True)


@dataclass
class _EarlyStopping:
    best_f1: float = -1.0
    best_step: int | None = None
    best_file: str | None = None
    bad_evals: int = 0
    stopped: bool = False


@dataclass
class _Data:
    labels: list[str]
    languages: list[str]
    labelled: list[list[Encoded]]
    unlabelled: list[list[Encoded]] = field(default_factory=list)
    stats: list[ReadStats] = field(default_factory=list)
    examples: int = 0


def train(
    options: TrainOptions, on_step: Callable[[StepRecord], None] | None = None
) -> TrainResult:
    """Run (or resume) the training ``options`` describe; see the module's docstring."""
    started = time.perf_counter()
    out = Path(options.out)
    resume_from = run_folder.prepare(options)
    device = _device(options.device)
    precision = choose_precision(
        device.type, device.type == "cuda" and torch.cuda.is_bf16_supported()
    )
    logger.info("training on %s in %s", device, precision.dtype)
    deterministic = torch.are_deterministic_algorithms_enabled()
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    try:
        _seed(options.seed)
        tokenizer = _tokenizer(options.model)
        max_length = _max_length(options, tokenizer)
        data = _read_data(options, tokenizer, max_length)
        model = _model(options.model, data.labels, device)
        discriminator = None
        if options.adversarial:
            hidden = int(model.config.hidden_size)
            discriminator = LanguageDiscriminator(hidden, len(data.languages)).to(device)
        optimizer = _optimizer(options, model, discriminator)
        from transformers import get_linear_schedule_with_warmup

        warmup = int(options.warmup * options.max_steps)
        scheduler = get_linear_schedule_with_warmup(optimizer, warmup, options.max_steps)
        scaler = torch.amp.GradScaler("cuda") if precision.scaler else None
        sampler = WeightedSampler(
            [len(x) for x in data.labelled],
            [s.weight for s in options.data],
            options.seed,
            names=[str(s.path) for s in options.data],
        )
        unlabelled_sampler = (
            WeightedSampler(
                [len(x) for x in data.unlabelled],
                [s.weight for s in options.unlabelled],
                options.seed + 1,
                names=[str(s.path) for s in options.unlabelled],
            )
            if data.unlabelled
            else None
        )
        dev = DevSet(options, tokenizer, data.labels, max_length) if options.dev else None
        stopping = _EarlyStopping()
        step = 0
        if resume_from is not None:
            state = ckpt.load_checkpoint(
                resume_from,
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                discriminator=discriminator,
                scaler=scaler,
                device=device,
            )
            if state["labels"] != data.labels:
                raise ConfigError(
                    f"--resume: the checkpoint's labels {state['labels']} differ from the "
                    f"data's {data.labels}"
                )
            step = int(state["step"])
            sampler.load_state_dict(state["sampler"])
            if unlabelled_sampler is not None:
                unlabelled_sampler.load_state_dict(state["unlabelled_sampler"])
            stopping = _EarlyStopping(**state["early_stopping"])
            run_folder.rewind(out, step)
            logger.info("resumed from %s (step %d)", resume_from.path, step)
        else:
            run_folder.write_run_file(out, options)
        tokens = _Tokens(tokenizer.pad_token_id, device)
        eval_every = options.eval_every or max(
            1, math.ceil(data.examples / (options.batch_size * options.grad_accum))
        )
        autocast = _autocast(device, precision)
        model.train()
        if discriminator is not None:
            discriminator.train()
        parts = _Parts(
            options,
            data,
            model,
            discriminator,
            optimizer,
            scheduler,
            scaler,
            sampler,
            unlabelled_sampler,
            tokens,
            autocast,
        )
        with open(out / run_folder.LOG, "a", encoding="utf-8") as log:
            while step < options.max_steps and not stopping.stopped:
                loss, lr, disc_loss, lam = _optimizer_step(parts, step)
                step += 1
                dev_f1 = None
                if dev is not None and (step % eval_every == 0 or step == options.max_steps):
                    dev_f1 = dev.f1(model, tokens.batch, autocast)
                    _update(stopping, dev_f1, step, options.patience, out, model)
                record = StepRecord(step, options.max_steps, loss, lr, dev_f1, disc_loss, lam)
                if step % options.log_every == 0 or dev_f1 is not None or stopping.stopped:
                    run_folder.append(log, record.log_record())
                done = step == options.max_steps or stopping.stopped
                if step % options.checkpoint_every == 0 or done:
                    _checkpoint(parts, out, step, stopping, cuda=device.type == "cuda")
                if on_step is not None:
                    on_step(record)
        if stopping.stopped:
            logger.info(
                "stopped early at step %d: no better dev F1 in %d evaluations (best %.4f at %s)",
                step,
                options.patience,
                stopping.best_f1,
                stopping.best_step,
            )
        if stopping.best_file:
            ckpt.load_weights(model, out / stopping.best_file, device)
        summary = {
            "labels": data.labels,
            "trained_on": sorted({s.lang for s in options.data}),
            "languages": data.languages,
            "steps": step,
            "best_step": stopping.best_step,
            "best_dev_f1": stopping.best_f1 if stopping.best_step is not None else None,
            "stopped_early": stopping.stopped,
            "data": options.to_dict()["data"],
            "base_model": options.model,
        }
        run_folder.save_final(out, model, tokenizer, summary)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    best = stopping.best_f1 if stopping.best_step is not None else None
    return TrainResult(
        out,
        step,
        stopping.best_step,
        best,
        stopping.stopped,
        resume_from.step if resume_from else None,
        data.labels,
        data.stats,
        time.perf_counter() - started,
    )


@dataclass
class _Parts:
    """What one optimizer step touches."""

    options: TrainOptions
    data: _Data
    model: Any
    discriminator: LanguageDiscriminator | None
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    sampler: WeightedSampler
    unlabelled_sampler: WeightedSampler | None
    tokens: _Tokens
    autocast: Callable[[], Any]


def _optimizer_step(parts: _Parts, step: int) -> tuple[float, float, float | None, float | None]:
    """One optimizer step (``grad_accum`` batches) from ``step``: the mean NER loss, the
    learning rate used, the discriminator's mean loss and the reversal weight (None when not
    adversarial)."""
    options, model, discriminator = parts.options, parts.model, parts.discriminator
    lam = None
    if discriminator is not None:
        lam = grl_lambda(step, options.max_steps, options.grl_schedule, options.grl_max)
    lang_index = {lang: k for k, lang in enumerate(parts.data.languages)}
    losses: list[float] = []
    disc_losses: list[float] = []
    parts.optimizer.zero_grad(set_to_none=True)
    for _ in range(options.grad_accum):
        pairs = parts.sampler.next_batch(options.batch_size)
        batch = [parts.data.labelled[s][i] for s, i in pairs]
        inputs = parts.tokens.batch(batch)
        with parts.autocast():
            output = model(**inputs, output_hidden_states=discriminator is not None)
            loss = output.loss
            if discriminator is not None and lam is not None:
                disc = _discriminator_loss(
                    discriminator,
                    lam,
                    [(output.hidden_states[-1], inputs["attention_mask"], batch)],
                    lang_index,
                    model,
                    parts.tokens,
                    parts.data.unlabelled,
                    parts.unlabelled_sampler,
                    options.batch_size,
                )
                disc_losses.append(float(disc.detach()))
                loss = loss + disc
        losses.append(float(output.loss.detach()))
        scaled = loss / options.grad_accum
        (parts.scaler.scale(scaled) if parts.scaler is not None else scaled).backward()
    params = [p for group in parts.optimizer.param_groups for p in group["params"]]
    if parts.scaler is not None:
        parts.scaler.unscale_(parts.optimizer)
    torch.nn.utils.clip_grad_norm_(params, options.max_grad_norm)
    lr = float(parts.scheduler.get_last_lr()[0])
    if parts.scaler is not None:
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
    else:
        parts.optimizer.step()
    parts.scheduler.step()
    disc_loss = sum(disc_losses) / len(disc_losses) if disc_losses else None
    return sum(losses) / len(losses), lr, disc_loss, lam


def _checkpoint(parts: _Parts, out: Path, step: int, stopping: _EarlyStopping, cuda: bool) -> None:
    """Save ``checkpoints/step-{step}`` and prune the old ones."""
    unlabelled = parts.unlabelled_sampler
    state = {
        "labels": parts.data.labels,
        "languages": parts.data.languages,
        "sampler": parts.sampler.state_dict(),
        "unlabelled_sampler": unlabelled.state_dict() if unlabelled else None,
        "early_stopping": asdict(stopping),
    }
    ckpt.save_checkpoint(
        out,
        step,
        model=parts.model,
        optimizer=parts.optimizer,
        scheduler=parts.scheduler,
        state=state,
        discriminator=parts.discriminator,
        scaler=parts.scaler,
        cuda=cuda,
    )
    current = [out / stopping.best_file] if stopping.best_file else []
    ckpt.prune(out, parts.options.keep_checkpoints, current)


def _update(
    stopping: _EarlyStopping, f1: float, step: int, patience: int, out: Path, model: Any
) -> None:
    if f1 > stopping.best_f1:
        name = f"{run_folder.BEST}/step-{step}.safetensors"
        ckpt.save_weights(model, out / name)
        stopping.best_f1, stopping.best_step, stopping.best_file = f1, step, name
        stopping.bad_evals = 0
        logger.info("dev F1 %.4f at step %d (best so far)", f1, step)
        return
    stopping.bad_evals += 1
    logger.info(
        "dev F1 %.4f at step %d (best %.4f at %s)", f1, step, stopping.best_f1, stopping.best_step
    )
    if patience and stopping.bad_evals >= patience:
        stopping.stopped = True


# --- model, data, optimizer -----------------------------------------------------------------------


def _device(name: str) -> torch.device:
    device = torch.device(name.strip().lower())
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    return device


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # every device's generator, CUDA included


def _is_local(model: str) -> bool:
    return (
        Path(model).expanduser().exists()
        or model.startswith((".", "/", "~"))
        or (model.count("/") > 1)
    )


def _tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    if _is_local(model) and not Path(model).expanduser().is_dir():
        raise ConfigError(f"--model {model}: no such folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model, use_fast=True)
    except (OSError, ValueError) as error:
        raise ConfigError(f"--model {model}: {' '.join(str(error).split())[:300]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"--model {model}: training needs a fast tokenizer (tokenizer.json)")
    return tokenizer


def _model(model: str, labels: list[str], device: torch.device) -> Any:
    """The token classifier with a head for ``labels`` (a new head when the model's differ)."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(model)
    old = [config.id2label[k] for k in sorted(config.id2label)] if config.id2label else []
    generic = all(str(name).startswith("LABEL_") for name in old)
    fresh = old != labels
    if fresh and old and not generic:
        logger.info("%s was fine-tuned for labels %s: a new head for %s", model, old, labels)
    network = AutoModelForTokenClassification.from_pretrained(
        model,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: k for k, label in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )
    head = getattr(network, "classifier", None)
    if fresh and isinstance(head, torch.nn.Linear) and len(old) == len(labels):
        network._init_weights(head)  # same size, other labels: the old head would mislead
    return network.to(device)


def _max_length(options: TrainOptions, tokenizer: Any) -> int:
    """``options.max_length`` capped by the positions the model has (said when it is)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(options.model)
    limits = [options.max_length]
    if 0 < int(getattr(tokenizer, "model_max_length", 0) or 0) < 100_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style models (XLM-R) number positions from padding_idx + 1
        offset = int(config.pad_token_id or 0) + 1 if "roberta" in config.model_type else 0
        limits.append(positions - offset)
    length = min(limits)
    if length < options.max_length:
        logger.info("--max-length %d: the model takes %d subwords", options.max_length, length)
    return length


def _read_data(options: TrainOptions, tokenizer: Any, max_length: int) -> _Data:
    data_options = DataOptions(
        min_confidence=options.min_confidence,
        label_map=dict(options.label_map),
        ignore=options.ignore,
        max_length=max_length,
    )
    per_source: list[list[Example]] = []
    stats: list[ReadStats] = []
    for k, spec in enumerate(options.data):
        examples, read = read_examples(spec, data_options, k)
        if not examples:
            raise InputError(spec.path, None, "no usable sentence to train on")
        per_source.append(examples)
        stats.append(read)
    labels = label_list(x for examples in per_source for x in examples)
    if len(labels) < 2:
        where = ", ".join(str(s.path) for s in options.data)
        raise ConfigError(f"{where}: no entity labels to learn (every tag is O)")
    label2id = {label: k for k, label in enumerate(labels)}
    labelled = [encode(x, tokenizer, label2id, max_length) for x in per_source]
    unlabelled = []
    for k, spec in enumerate(options.unlabelled):
        sentences = read_unlabelled(spec)
        if not sentences:
            raise InputError(spec.path, None, "no text to feed the discriminator")
        plain = [Example(tuple(w), ("O",) * len(w), spec.lang, k) for w in sentences]
        unlabelled.append(encode(plain, tokenizer, label2id, max_length))
    languages = sorted({s.lang for s in options.data} | {s.lang for s in options.unlabelled})
    total = sum(len(x) for x in labelled)
    return _Data(labels, languages, labelled, unlabelled, stats, total)


def _optimizer(options: TrainOptions, model: Any, discriminator: Any) -> torch.optim.Optimizer:
    decay: list[torch.nn.Parameter] = []
    plain: list[torch.nn.Parameter] = []
    modules = [("", model)] + ([("discriminator.", discriminator)] if discriminator else [])
    for prefix, module in modules:
        for name, parameter in module.named_parameters():
            if not parameter.requires_grad:
                continue
            lowered = (prefix + name).lower()
            no_decay = lowered.endswith("bias") or "norm" in lowered
            (plain if no_decay else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": options.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=options.lr)


class _Tokens:
    """Batches of encoded examples as tensors on the device."""

    def __init__(self, pad_id: int, device: torch.device) -> None:
        self.pad_id = pad_id
        self.device = device

    def batch(self, examples: Sequence[Encoded]) -> dict[str, torch.Tensor]:
        tensors = collate(examples, self.pad_id)
        keys = ("input_ids", "attention_mask", "labels")
        return {k: tensors[k].to(self.device) for k in keys}


def _autocast(device: torch.device, precision: Precision) -> Callable[[], Any]:
    if precision.dtype == "float32":
        return contextlib.nullcontext
    dtype = getattr(torch, precision.dtype)
    return lambda: torch.autocast(device_type=device.type, dtype=dtype)


def _discriminator_loss(
    discriminator: Any,
    lam: float,
    labelled: list[tuple[torch.Tensor, torch.Tensor, list[Encoded]]],
    lang_index: dict[str, int],
    model: Any,
    tokens: _Tokens,
    unlabelled: list[list[Encoded]],
    sampler: WeightedSampler | None,
    batch_size: int,
) -> torch.Tensor:
    """Cross-entropy of the language discriminator over the labelled batch's and an unlabelled
    batch's pooled encoder states, each reached through the gradient-reversal layer."""
    parts = list(labelled)
    if sampler is not None:
        batch = [unlabelled[s][i] for s, i in sampler.next_batch(batch_size)]
        inputs = tokens.batch(batch)
        output = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            output_hidden_states=True,
        )
        parts.append((output.hidden_states[-1], inputs["attention_mask"], batch))
    logits: list[torch.Tensor] = []
    targets: list[int] = []
    for hidden, mask, batch in parts:
        logits.append(discriminator(reverse_gradient(hidden, lam), mask))
        targets.extend(lang_index[e.lang] for e in batch)
    target = torch.tensor(targets, device=logits[0].device)
    return torch.nn.functional.cross_entropy(torch.cat(logits).float(), target)
