"""perspicio.core.module: the stochastic gates' closed forms, masks, errors, and an L0-gated
model that closes the gates of the features it does not need."""

from __future__ import annotations

import math

import pytest
import torch

from perspicio.core.module import BinaryConcreteStochasticGates, GaussianStochasticGates


def test_hard_concrete_expected_gates_and_open_probabilities():
    la = torch.tensor([2.0, -1.0, 0.0])
    gates = BinaryConcreteStochasticGates._from_pretrained(la, temperature=0.5).eval()
    stretched = torch.sigmoid(la) * 1.2 - 0.1
    torch.testing.assert_close(gates.get_gate_values(clamp=False), stretched)
    torch.testing.assert_close(gates.get_gate_values(), stretched.clamp(0, 1))
    probs = torch.sigmoid(la - 0.5 * math.log(0.1 / 1.1))
    torch.testing.assert_close(gates.get_gate_active_probs(), probs)
    x = torch.randn(4, 3)
    gated, reg = gates(x)
    torch.testing.assert_close(gated, x * stretched.clamp(0, 1))
    torch.testing.assert_close(reg, probs.sum())
    none = BinaryConcreteStochasticGates._from_pretrained(
        la, temperature=0.5, reg_reduction="none", reg_weight=0.5
    ).eval()
    torch.testing.assert_close(none(x)[1], 0.5 * probs)


def test_a_mask_shares_gates_and_training_gates_stay_in_the_unit_interval():
    mask = torch.tensor([[0, 0, 1], [1, 2, 2]])
    gates = BinaryConcreteStochasticGates._from_pretrained(
        torch.tensor([30.0, -30.0, 0.0]), mask=mask
    )
    x = torch.rand(5, 2, 3) + 1
    gated, _ = gates(x)  # training mode: random gates
    assert torch.equal(gated[:, 0, :2], x[:, 0, :2])  # gate 0 always open
    assert (gated[:, 0, 2] == 0).all() and (gated[:, 1, 0] == 0).all()  # gate 1 shut
    ratio = gated[:, 1, 1:] / x[:, 1, 1:]
    assert ((ratio >= 0) & (ratio <= 1)).all()
    torch.testing.assert_close(ratio[:, 0], ratio[:, 1])  # one gate for both elements


def test_gaussian_gates():
    mu = torch.tensor([0.3, 1.4, -0.2])
    gates = GaussianStochasticGates._from_pretrained(mu, std=0.25).eval()
    torch.testing.assert_close(gates.get_gate_values(), mu.clamp(0, 1))
    phi = 0.5 * (1 + torch.erf(mu / (0.25 * math.sqrt(2))))
    torch.testing.assert_close(gates.get_gate_active_probs(), phi)
    gated, reg = gates(torch.ones(2, 3))
    torch.testing.assert_close(gated, mu.clamp(0, 1).expand(2, 3))
    torch.testing.assert_close(reg, phi.sum())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="one per gate expected"):
        BinaryConcreteStochasticGates(3)(torch.ones(2, 4))
    with pytest.raises(ValueError, match="`mask` holds gate indices 0..1; expected 0..2"):
        BinaryConcreteStochasticGates(3, mask=torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="`reg_reduction`"):
        GaussianStochasticGates(3, reg_reduction="max")
    with pytest.raises(ValueError, match="`input_tensor` must be a batch"):
        GaussianStochasticGates(3)(torch.ones(3))
    with pytest.raises(AssertionError):  # Captum's users catch AssertionError
        GaussianStochasticGates(3)(torch.ones(2, 5))


@pytest.mark.parametrize("cls", [BinaryConcreteStochasticGates, GaussianStochasticGates])
def test_an_l0_penalty_closes_the_gates_of_unused_features(cls):
    """y = 2 x0 - x1: trained with the penalty, the gates of x2..x5 close, x0's and x1's
    stay open."""
    torch.manual_seed(0)
    x = torch.randn(256, 6)
    y = 2 * x[:, 0] - x[:, 1]
    gates = cls(6, reg_weight=0.05)
    head = torch.nn.Linear(6, 1)
    optimizer = torch.optim.Adam([*gates.parameters(), *head.parameters()], lr=0.05)
    for _ in range(400):
        optimizer.zero_grad()
        gated, reg = gates(x)
        loss = ((head(gated).squeeze(1) - y) ** 2).mean() + reg
        loss.backward()
        optimizer.step()
    values = gates.get_gate_values()
    assert values[:2].min() > 0.5, values
    assert values[2:].max() < 0.1, values
