"""xner.train.adversarial: the gradient-reversal layer, the language discriminator, lambda."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch", reason="torch (train extra) is needed by xner.train")

from xner.runtime.errors import ConfigError  # noqa: E402
from xner.train.adversarial import (  # noqa: E402
    LAMBDA_SCHEDULES,
    LanguageDiscriminator,
    grl_lambda,
    mean_pool,
    reverse_gradient,
)

LAMBDAS = [0.0, 0.3, 1.0, 2.5]


@pytest.mark.parametrize("lambd", LAMBDAS)
def test_forward_is_the_identity(lambd: float) -> None:
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(reverse_gradient(x, lambd), x)


@pytest.mark.parametrize("lambd", LAMBDAS)
def test_gradient_is_the_negated_scaled_identity(lambd: float) -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(5, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    w = torch.randn(5, 3, dtype=torch.float64, generator=generator)
    (w * reverse_gradient(x, lambd)).sum().backward()
    assert x.grad is not None
    assert torch.allclose(x.grad, -lambd * w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("lambd", LAMBDAS)
def test_gradient_through_a_nonlinear_head_matches_finite_differences(lambd: float) -> None:
    """d/dx f(GRL(x)) == -lambda * f'(x), with f'(x) from central differences (no autograd)."""
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(6, dtype=torch.float64, generator=generator)
    w = torch.randn(6, dtype=torch.float64, generator=generator)

    def f(v: torch.Tensor) -> torch.Tensor:
        return (torch.sin(v) * w).sum() + (v**2).sum() * 0.5

    step = 1e-6
    numerical = torch.stack(
        [
            (f(x + step * e) - f(x - step * e)) / (2 * step)
            for e in torch.eye(6, dtype=torch.float64)
        ]
    )
    leaf = x.clone().requires_grad_(True)
    f(reverse_gradient(leaf, lambd)).backward()
    assert leaf.grad is not None
    assert torch.allclose(leaf.grad, -lambd * numerical, rtol=1e-6, atol=1e-8)


def test_encoder_gets_the_reversed_discriminator_gradient() -> None:
    """Encoder -> GRL -> discriminator: the encoder's weight gradient is -lambda times the one
    without the layer, the discriminator's own gradient is unchanged."""
    torch.manual_seed(3)
    encoder = torch.nn.Linear(4, 8)
    discriminator = LanguageDiscriminator(8, 3, hidden=16, dropout=0.0)
    tokens = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    languages = torch.tensor([0, 2])

    def gradients(lambd: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        encoder.zero_grad()
        discriminator.zero_grad()
        hidden = encoder(tokens)
        if lambd is not None:
            hidden = reverse_gradient(hidden, lambd)
        loss = torch.nn.functional.cross_entropy(discriminator(hidden, mask), languages)
        loss.backward()
        first = next(discriminator.parameters())
        assert encoder.weight.grad is not None and first.grad is not None
        return encoder.weight.grad.clone(), first.grad.clone()

    plain_encoder, plain_discriminator = gradients(None)
    reversed_encoder, reversed_discriminator = gradients(0.7)
    assert torch.allclose(reversed_encoder, -0.7 * plain_encoder, atol=1e-7)
    assert torch.equal(reversed_discriminator, plain_discriminator)


def test_mean_pool_by_hand() -> None:
    hidden = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [0.0, 0.0], [0.0, 0.0]]]
    )
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    assert mean_pool(hidden, mask).tolist() == [[2.0, 3.0], [0.0, 0.0]]


def test_discriminator_ignores_padding() -> None:
    torch.manual_seed(4)
    discriminator = LanguageDiscriminator(hidden_size=8, n_languages=3, hidden=16).eval()
    hidden = torch.randn(2, 4, 8)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    logits = discriminator(hidden, mask)
    assert logits.shape == (2, 3)
    # Extra padding with arbitrary values, and other values under the existing padding.
    padded = torch.cat([hidden, 50 * torch.randn(2, 3, 8)], dim=1)
    padded[1, 2:4] = -7.0
    padded_mask = torch.cat([mask, torch.zeros(2, 3, dtype=mask.dtype)], dim=1)
    assert torch.allclose(discriminator(padded, padded_mask), logits, atol=1e-6)
    # A row's logits do not depend on the other rows of its batch.
    assert torch.allclose(discriminator(hidden[1:], mask[1:]), logits[1:], atol=1e-6)


def test_discriminator_needs_two_languages() -> None:
    with pytest.raises(ConfigError, match="at least 2 languages"):
        LanguageDiscriminator(8, 1)


def test_grl_lambda_by_hand() -> None:
    # dann: 2 / (1 + exp(-10 p)) - 1 is tanh(5 p).
    assert grl_lambda(0, 100) == 0.0
    assert grl_lambda(50, 100) == pytest.approx(math.tanh(2.5))
    assert grl_lambda(100, 100, max_lambda=0.5) == pytest.approx(0.5 * math.tanh(5.0))
    assert grl_lambda(250, 100) == grl_lambda(100, 100)  # p is capped at 1
    assert grl_lambda(25, 100, "linear", max_lambda=2.0) == pytest.approx(0.5)
    assert grl_lambda(400, 100, "linear") == 1.0
    assert grl_lambda(0, 100, "constant", max_lambda=0.1) == 0.1
    values = [grl_lambda(step, 20) for step in range(21)]
    assert values == sorted(values) and values[-1] < 1.0


def test_grl_lambda_refuses_bad_settings() -> None:
    with pytest.raises(ConfigError) as error:
        grl_lambda(1, 10, "exponential")
    assert all(name in str(error.value) for name in LAMBDA_SCHEDULES)
    with pytest.raises(ConfigError, match="total_steps"):
        grl_lambda(0, 0)
    with pytest.raises(ConfigError, match="maximum lambda"):
        grl_lambda(0, 10, max_lambda=-1.0)
