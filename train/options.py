"""Every knob of ``xner train`` in one dataclass, checked once when it is built.

:class:`TrainOptions` is what :func:`xner.train.trainer.train` takes; the CLI builds it from its
flags. A bad value raises :class:`~xner.runtime.errors.ConfigError` (one line that names the
flag), so the loop itself never meets a nonsense setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xner.runtime.errors import ConfigError, unknown_choice
from xner.train.adversarial import LAMBDA_SCHEDULES
from xner.train.data import DataSpec

__all__ = ["TrainOptions"]

# The settings a --resume must share with the interrupted run (the rest may change: max_steps,
# checkpoint_every, eval_every, log_every, keep_checkpoints, patience, device, resume, force).
RESUME_KEYS = (
    "model",
    "data",
    "dev",
    "batch_size",
    "grad_accum",
    "lr",
    "warmup",
    "weight_decay",
    "max_grad_norm",
    "seed",
    "min_confidence",
    "label_map",
    "ignore",
    "max_length",
    "adversarial",
    "unlabelled",
    "grl_schedule",
    "grl_max",
)


@dataclass(frozen=True)
class TrainOptions:
    """What to train, on what, and how.

    ``model``: a local folder or a hub id of a token-classification (or plain) encoder: XLM-R,
    mDeBERTa-v3, mBERT. ``data``: the labelled files (:class:`~xner.train.data.DataSpec`: path,
    language, sampling weight). ``out``: the run folder (final model, ``checkpoints/``,
    ``train.jsonl``). ``dev``: a gold file evaluated every ``eval_every`` steps (None: once per
    pass over the data) with xner's evaluation; the best model by dev F1 is the final one, and
    ``patience`` evaluations without improvement stop the run (0: never stop early).
    ``max_steps``: optimizer steps; each takes ``grad_accum`` batches of ``batch_size``
    examples. ``lr``: AdamW's peak learning rate, reached after ``warmup`` (a fraction of
    ``max_steps``) and then decayed linearly to 0; ``weight_decay`` (not on biases and layer
    norms) and gradient clipping at ``max_grad_norm``. ``checkpoint_every``: steps between
    checkpoints (the last step always gets one); ``keep_checkpoints``: how many stay on disk.
    ``log_every``: steps between ``train.jsonl`` records (evaluated steps are always logged).
    ``device``: ``cpu`` (default), ``cuda`` or ``cuda:N`` (mixed precision: bf16 where the
    GPU supports it, else fp16 with loss scaling). ``min_confidence``, ``label_map``,
    ``ignore``, ``max_length``: how the data is read (:class:`~xner.train.data.DataOptions`;
    the label map and ignore apply to the dev file too). ``adversarial``: add a language
    discriminator behind a gradient-reversal layer (Keung et al. 2019), fed with the labelled
    batches and batches of ``unlabelled`` plain text, its reversal weight following
    ``grl_schedule`` (dann, constant, linear) up to ``grl_max``. ``resume``: continue from the
    newest complete checkpoint of ``out``; ``force``: start over in an existing run folder.
    """

    model: str
    data: tuple[DataSpec, ...]
    out: Path
    dev: Path | None = None
    max_steps: int = 1000
    checkpoint_every: int = 500
    eval_every: int | None = None
    log_every: int = 1
    keep_checkpoints: int = 2
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 5e-5
    warmup: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    seed: int = 42
    device: str = "cpu"
    patience: int = 3
    min_confidence: float = 0.0
    label_map: Mapping[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    max_length: int = 256
    adversarial: bool = False
    unlabelled: tuple[DataSpec, ...] = ()
    grl_schedule: str = "dann"
    grl_max: float = 1.0
    resume: bool = False
    force: bool = False

    def __post_init__(self) -> None:
        if not str(self.model).strip():
            raise ConfigError("--model: empty; give a model folder or a hub id")
        if not self.data:
            raise ConfigError("no training data; give --data FILE:LANG (one or more)")
        positive = {
            "--max-steps": self.max_steps,
            "--checkpoint-every": self.checkpoint_every,
            "--log-every": self.log_every,
            "--keep-checkpoints": self.keep_checkpoints,
            "--batch-size": self.batch_size,
            "--grad-accum": self.grad_accum,
        }
        if self.eval_every is not None:
            positive["--eval-every"] = self.eval_every
        for flag, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{flag}: {value!r} is not a whole number >= 1")
        if self.patience < 0:
            raise ConfigError(f"--patience: {self.patience} is negative (0 turns it off)")
        if self.max_length < 8:
            raise ConfigError(f"--max-length: {self.max_length} is too short (at least 8)")
        if not self.lr > 0:
            raise ConfigError(f"--lr: {self.lr} must be > 0")
        for flag, fraction in (
            ("--warmup", self.warmup),
            ("--min-confidence", self.min_confidence),
        ):
            if not 0.0 <= fraction <= 1.0:
                raise ConfigError(f"{flag}: {fraction} is not in [0, 1]")
        if self.weight_decay < 0 or not self.max_grad_norm > 0 or self.grl_max < 0:
            raise ConfigError(
                "weight decay and --grl-max must be >= 0 and gradient clipping > 0; got "
                f"{self.weight_decay}, {self.grl_max}, {self.max_grad_norm}"
            )
        if self.grl_schedule not in LAMBDA_SCHEDULES:
            raise unknown_choice("--grl-schedule", self.grl_schedule, LAMBDA_SCHEDULES)
        if self.unlabelled and not self.adversarial:
            raise ConfigError("--unlabelled feeds the language discriminator: add --adversarial")
        if self.adversarial:
            languages = {s.lang for s in self.data} | {s.lang for s in self.unlabelled}
            if len(languages) < 2:
                raise ConfigError(
                    "--adversarial needs at least two languages among --data and --unlabelled; "
                    f"got only {', '.join(sorted(languages))}"
                )
        device = self.device.strip().lower()
        if not (device == "cpu" or device == "cuda" or _is_cuda_index(device)):
            raise ConfigError(f"--device: unknown device {self.device!r}; choose cpu, cuda, cuda:N")
        if self.resume and self.force:
            raise ConfigError("--resume and --force contradict each other; choose one")

    def resume_settings(self) -> dict[str, Any]:
        """The settings a resumed run must share with the interrupted one, JSON-ready."""
        return {key: _plain(getattr(self, key)) for key in RESUME_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """Every setting, JSON-ready (written as ``RUN_DIR/run.json``)."""
        return {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}


def _is_cuda_index(device: str) -> bool:
    name, _, index = device.partition(":")
    return name == "cuda" and index.isdigit()


def _plain(value: Any) -> Any:
    """A JSON-ready copy: paths as strings, data specs as ``{path, lang, weight}``."""
    if isinstance(value, DataSpec):
        return {"path": str(value.path), "lang": value.lang, "weight": value.weight}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
