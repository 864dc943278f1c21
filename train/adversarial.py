"""Language-adversarial training (Keung et al. 2019): a gradient-reversal layer and a language
discriminator on the encoder's token representations.

The discriminator learns to tell the language of a sentence from the mean of its token
representations; the gradient-reversal layer between it and the encoder passes its gradient
back negated and scaled by ``lambda``, so the encoder learns representations that hide the
language (what helps a tagger trained on one language tag another). ``lambda`` usually grows
from 0 over training (:func:`grl_lambda`, the ``dann`` schedule of Ganin & Lempitsky 2015), so
that the discriminator's noisy early gradient does not disturb the tagger.

Use::

    hidden = outputs.hidden_states[-1]                 # (batch, length, hidden)
    logits = discriminator(reverse_gradient(hidden, grl_lambda(step, total)), attention_mask)
    loss = tagger_loss + cross_entropy(logits, languages)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import torch

from xner.runtime.errors import ConfigError, unknown_choice

__all__ = [
    "LAMBDA_SCHEDULES",
    "GradientReversal",
    "LanguageDiscriminator",
    "grl_lambda",
    "mean_pool",
    "reverse_gradient",
]

LAMBDA_SCHEDULES: tuple[str, ...] = ("constant", "dann", "linear")
"""The names :func:`grl_lambda` accepts."""


class GradientReversal(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by ``-lambd``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_output.neg() * ctx.lambd, None


# Function.apply is untyped in torch; its signature here is that of forward without ctx.
_apply = cast(Callable[[torch.Tensor, float], torch.Tensor], GradientReversal.apply)


def reverse_gradient(x: torch.Tensor, lambd: float) -> torch.Tensor:
    """``x`` unchanged, with its gradient negated and scaled by ``lambd`` on the way back."""
    return _apply(x, float(lambd))


def mean_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``(batch, hidden)``: the mean of each row's token vectors where ``attention_mask`` is 1
    (padding does not count; a row without any token gives zeros)."""
    mask = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
    total = (hidden_states * mask).sum(dim=1)
    count = mask.sum(dim=1).clamp(min=1.0)
    return total / count


class LanguageDiscriminator(torch.nn.Module):
    """A two-layer classifier of the sentence's language from its mean-pooled token vectors.

    ``hidden_size``: the encoder's width; ``n_languages``: the languages told apart (those of
    the labelled and unlabelled data); ``hidden``: the width of the inner layer; ``dropout``:
    applied to the pooled vector and the inner layer. Small next to the encoder
    (``hidden_size * hidden + hidden * n_languages`` weights: 0.2 M for XLM-R base).
    """

    def __init__(
        self, hidden_size: int, n_languages: int, hidden: int = 256, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if n_languages < 2:
            raise ConfigError(
                f"the language discriminator needs at least 2 languages, not {n_languages}; "
                "add unlabelled text in another language (--unlabelled FILE:LANG)"
            )
        self.layers = torch.nn.Sequential(
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden_size, hidden),
            torch.nn.GELU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden, n_languages),
        )

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(batch, n_languages)`` logits from ``(batch, length, hidden_size)`` token vectors
        and their ``(batch, length)`` mask."""
        logits: torch.Tensor = self.layers(mean_pool(hidden_states, attention_mask))
        return logits


def grl_lambda(
    step: int, total_steps: int, schedule: str = "dann", max_lambda: float = 1.0
) -> float:
    """The gradient-reversal weight at ``step`` of ``total_steps``, with ``p = step / total``
    (capped at 1): ``dann``: ``max_lambda * (2 / (1 + exp(-10 p)) - 1)``, from 0 up to nearly
    ``max_lambda``; ``linear``: ``max_lambda * p``; ``constant``: ``max_lambda``. An unknown
    schedule is a :class:`ConfigError` listing :data:`LAMBDA_SCHEDULES`."""
    if schedule not in LAMBDA_SCHEDULES:
        raise unknown_choice("lambda schedule", schedule, LAMBDA_SCHEDULES)
    if total_steps < 1:
        raise ConfigError(f"total_steps must be at least 1, not {total_steps}")
    if step < 0:
        raise ConfigError(f"step must be >= 0, not {step}")
    if not (math.isfinite(max_lambda) and max_lambda >= 0):
        raise ConfigError(f"the maximum lambda must be a finite number >= 0, not {max_lambda}")
    progress = min(step / total_steps, 1.0)
    if schedule == "constant":
        return float(max_lambda)
    if schedule == "linear":
        return float(max_lambda * progress)
    return float(max_lambda * (2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0))
