"""Shared fixtures: tiny seeded models that every test can afford on two CPU cores."""

from __future__ import annotations

import pytest
import torch
from torch import nn

torch.set_num_threads(1)


def make_mlp(seed: int = 0, in_features: int = 6, out: int = 3) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(in_features, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, out)
    ).eval()


def make_cnn(seed: int = 0, pool: bool = True) -> nn.Module:
    """The small convnet of perspicio's own invariant checks (``core.testing``); without max
    pooling it uses average pooling."""
    from perspicio.core.testing import _cnn

    return _cnn(seed, pool)


class TwoInputNet(nn.Module):
    """Two input tensors and an extra (non-tensor) forward argument."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(3, 8)
        self.relu = nn.ReLU()
        self.out = nn.Linear(8, 2)

    def forward(self, x1, x2, scale: float = 1.0):
        return self.out(self.relu(self.a(x1)) + self.relu(self.b(x2))) * scale


@pytest.fixture
def mlp() -> nn.Module:
    return make_mlp()


@pytest.fixture
def cnn() -> nn.Module:
    return make_cnn()


@pytest.fixture
def two_input_net() -> nn.Module:
    return TwoInputNet().eval()


def model_fingerprint(model: nn.Module) -> dict:
    """Everything an attribution must leave as it found it."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "hooks": [
            (len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
            for m in model.modules()
        ],
    }


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = model_fingerprint(model)
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    assert all(g is None for g in after["grads"]) or after["grads"] == before["grads"]
    assert after["hooks"] == before["hooks"]
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k
    assert not torch.overrides._get_current_function_mode_stack(), "a function mode was left on"
