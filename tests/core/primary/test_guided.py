"""GuidedBackprop and Deconvolution."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from perspicio.core import Deconvolution, GuidedBackprop

from ...conftest import make_cnn


def literal(net_parts, x, rule):
    """A hand-written backward pass through Linear -> ReLU -> Linear with a ReLU rule."""
    l1, l2 = net_parts
    z = l1(x)
    g_hidden = l2.weight[0].expand_as(z)
    g_hidden = rule(g_hidden, z)
    return g_hidden @ l1.weight


def test_literal_guided_and_deconvolution():
    torch.manual_seed(0)
    l1, l2 = nn.Linear(4, 6), nn.Linear(6, 2)
    net = nn.Sequential(l1, nn.ReLU(), l2)
    x = torch.randn(5, 4)
    guided = literal((l1, l2), x, lambda g, z: g.clamp(min=0) * (z > 0))
    deconv = literal((l1, l2), x, lambda g, z: g.clamp(min=0))
    assert torch.allclose(GuidedBackprop(net).attribute(x, target=0), guided, atol=1e-6)
    assert torch.allclose(Deconvolution(net).attribute(x, target=0), deconv, atol=1e-6)


class FunctionalRelu(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.l1, self.l2 = nn.Linear(4, 6), nn.Linear(6, 2)

    def forward(self, x):
        return self.l2(F.relu(self.l1(x)))


def test_functional_relu_gets_the_rule_too():
    net = FunctionalRelu()
    x = torch.randn(5, 4)
    expected = literal((net.l1, net.l2), x, lambda g, z: g.clamp(min=0) * (z > 0))
    assert torch.allclose(GuidedBackprop(net).attribute(x, target=0), expected, atol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_agrees_with_captum():
    from tests.oracle import captum_attr as C

    cnn = make_cnn()
    x = torch.randn(3, 3, 8, 8)
    for ours, theirs in ((GuidedBackprop, C.GuidedBackprop), (Deconvolution, C.Deconvolution)):
        assert torch.allclose(
            ours(cnn).attribute(x, target=2), theirs(cnn).attribute(x, target=2), atol=1e-6
        )
