"""Gradient methods on recurrent models: cuDNN has no RNN backward in eval mode, so during
``attribute`` each recurrent layer that records a graph on CUDA in eval mode runs without cuDNN
(every other layer keeps it), and the model is left as it was found. The decision is made by
``_records_graph_on_cuda``; on the CPU it is patched to ignore the device so that the
mechanism itself is tested here (tests/test_cuda.py runs the real thing on a GPU)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from perspicio import core
from perspicio.core._engine import hooks as _hooks


class Tagger(nn.Module):
    """Embedding-like projection, a two-layer LSTM with dropout between layers, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.rnn = nn.LSTM(4, 5, num_layers=2, dropout=0.5, batch_first=True)
        self.head = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(torch.relu(self.proj(x)))[0][:, -1])


@pytest.fixture
def as_if_on_cuda(monkeypatch):
    monkeypatch.setattr(
        _hooks, "_records_graph_on_cuda", lambda m: torch.is_grad_enabled() and not m.training
    )


def _watch(model: Tagger) -> list[tuple[str, bool, bool]]:
    seen: list[tuple[str, bool, bool]] = []
    for name in ("rnn", "head"):
        getattr(model, name).register_forward_hook(
            lambda m, a, o, name=name: seen.append(
                (name, torch.is_grad_enabled(), torch.backends.cudnn.enabled)
            )
        )
    return seen


@pytest.mark.parametrize(
    "make",
    [
        lambda m: core.IntegratedGradients(m),
        lambda m: core.Saliency(m),
        lambda m: core.LayerIntegratedGradients(m, m.proj),
        lambda m: core.NoiseTunnel(core.Saliency(m)),
        lambda m: core.InputXGradient(m.forward),
    ],
    ids=["ig", "saliency", "layer-ig", "noise-tunnel", "bound-method"],
)
def test_only_recurrent_layers_recording_a_graph_run_without_cudnn(as_if_on_cuda, make):
    torch.manual_seed(0)
    model = Tagger().eval()
    seen = _watch(model)
    make(model).attribute(torch.randn(2, 6, 3), target=0)
    graph = [(name, cudnn) for name, grad, cudnn in seen if grad]
    assert ("rnn", False) in graph
    assert all(cudnn for name, cudnn in graph if name == "head")
    assert all(cudnn for name, grad, cudnn in seen if not grad)
    assert torch.backends.cudnn.enabled


def test_the_model_is_left_as_found_even_when_it_raises(as_if_on_cuda):
    model = Tagger().eval()

    def broken(x: torch.Tensor) -> torch.Tensor:
        model.rnn(model.proj(x))
        raise RuntimeError("inside the model")

    with pytest.raises(RuntimeError, match="inside the model"):
        core.Saliency(model.forward).attribute(torch.randn(1, 6, 3), target=0)  # fine
        core.Saliency(broken).attribute(torch.randn(1, 6, 3))
    # a bound method speaks for its module: its recurrent layers are handled too
    core.IntegratedGradients(model.forward).attribute(torch.randn(1, 6, 3), target=1, n_steps=3)
    for m in model.modules():
        assert not m._forward_pre_hooks and not m._forward_hooks
    assert not model.training and not model.rnn.training
    assert torch.backends.cudnn.enabled


def test_cudnn_flag_is_restored_when_the_recurrent_layer_raises(as_if_on_cuda):
    model = Tagger().eval()
    with pytest.raises(RuntimeError):
        core.Saliency(model).attribute(torch.randn(1, 6, 7), target=0)  # 7 features, not 3
    assert torch.backends.cudnn.enabled
    assert not model.rnn._forward_pre_hooks and not model.rnn._forward_hooks


def test_attributions_are_those_of_the_eval_mode_model(as_if_on_cuda):
    """Dropout between the LSTM layers stays off: the answer is deterministic and equals
    the gradient computed by hand in eval mode."""
    torch.manual_seed(0)
    model = Tagger().eval()
    x = torch.randn(3, 6, 3)
    first = core.Saliency(model).attribute(x, target=1, abs=False)
    second = core.Saliency(model).attribute(x, target=1, abs=False)
    leaf = x.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(model(leaf)[:, 1].sum(), leaf)
    assert torch.equal(first, second)
    torch.testing.assert_close(first, expected)
    assert not model.training
