"""LRP: conservation, rules, defaults, errors, agreement with Captum."""

import pytest
import torch
from torch import nn

from perspicio.core import (
    LRP,
    Alpha1Beta0Rule,
    EpsilonRule,
    GammaRule,
    GuidedGradCam,
    IdentityRule,
    InputXGradient,
    LayerLRP,
    ZPlusRule,
)

from ...conftest import assert_unchanged, model_fingerprint


def relu_net(bias=False):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 16, bias=bias),
        nn.ReLU(),
        nn.Linear(16, 8, bias=bias),
        nn.ReLU(),
        nn.Linear(8, 3, bias=bias),
    )


def test_relevance_is_conserved_with_a_small_epsilon():
    net = relu_net()
    x = torch.rand(5, 6)
    rel, delta = LRP(net).attribute(x, target=1, return_convergence_delta=True)
    assert torch.allclose(rel.sum(1), net(x)[:, 1], atol=1e-5)
    assert delta.abs().max() < 1e-5
    layer_rel = LayerLRP(net, net[2]).attribute(x, target=1)
    assert torch.allclose(layer_rel.sum(1), net(x)[:, 1], atol=1e-5)


def test_epsilon_lrp_on_relu_nets_without_bias_is_input_x_gradient():
    net = relu_net()
    x = torch.rand(4, 6)
    assert torch.allclose(
        LRP(net).attribute(x, target=2), InputXGradient(net).attribute(x, target=2), atol=1e-5
    )


def test_literal_two_layer_rules():
    """R_i = sum_j x_i w'_ij / sum_i x_i w'_ij R_j, written out for each rule."""
    torch.manual_seed(1)
    first, second = nn.Linear(4, 5, bias=False), nn.Linear(5, 1, bias=False)
    net = nn.Sequential(first, nn.ReLU(), second)
    x = torch.rand(3, 4)
    h = torch.relu(first(x))
    r_hidden = h * second.weight[0]  # the epsilon rule at the top layer (eps -> 0)
    w = first.weight
    cases = (
        (EpsilonRule(), w),
        (GammaRule(0.5), w + 0.5 * w.clamp(min=0)),
        (ZPlusRule(), w.clamp(min=0)),
    )
    for rule, w in cases:
        z = x @ w.t()
        expected = x * ((r_hidden / z) @ w)
        got = LRP(net, rules={first: rule}).attribute(x)
        assert torch.allclose(got, expected, atol=1e-5), rule
    # alpha1-beta0 with non-negative inputs equals z+ when there is no bias
    assert torch.allclose(
        LRP(net, rules={first: Alpha1Beta0Rule()}).attribute(x),
        LRP(net, rules={first: ZPlusRule()}).attribute(x),
        atol=1e-6,
    )


def test_rules_attached_as_attributes_and_model_left_unchanged():
    net = relu_net(bias=True)
    net[0].rule = GammaRule(0.25)
    before = model_fingerprint(net)
    x = torch.rand(3, 6)
    a = LRP(net).attribute(x, target=0)
    b = LRP(net, rules={net[0]: EpsilonRule()}).attribute(x, target=0)
    assert not torch.allclose(a, b)  # the attached rule was used, and the dict overrides it
    assert_unchanged(net, before)
    assert isinstance(net[0].rule, GammaRule)


@pytest.mark.parametrize("dropout", [nn.Dropout(0.5), nn.Dropout2d(0.5), nn.AlphaDropout(0.5)])
def test_every_kind_of_dropout_passes_relevance_through(dropout):
    """In eval mode a dropout is the identity: LRP of a CNN with one equals LRP without it."""
    torch.manual_seed(0)
    conv, head = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 2)
    with_dropout = nn.Sequential(conv, nn.ReLU(), dropout, nn.Flatten(), head).eval()
    without = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), head).eval()
    x = torch.rand(3, 3, 8, 8)
    torch.testing.assert_close(
        LRP(with_dropout).attribute(x, target=1), LRP(without).attribute(x, target=1)
    )


def test_missing_rule_raises_a_clear_error():
    """Bach's layer rules have none for Softsign; the default variant then takes the
    attention-aware rules, where a point-wise activation module gets the identity rule."""
    net = nn.Sequential(nn.Linear(3, 4), nn.Softsign(), nn.Linear(4, 1))
    with pytest.raises(TypeError, match="no rule for module '1' of type Softsign"):
        LRP(net, variant="layers").attribute(torch.rand(2, 3))
    x = torch.rand(2, 3)
    identity = LRP(net, rules={net[1]: IdentityRule()}, variant="layers").attribute(x)
    torch.testing.assert_close(LRP(net).attribute(x), identity)
    rel = LRP(net, rules={net[1]: IdentityRule()}).attribute(torch.rand(2, 3))
    assert rel.shape == (2, 3)
    with pytest.raises(TypeError, match="PropagationRule"):
        LRP(net, rules={net[1]: "identity"}).attribute(torch.rand(2, 3))


def test_reused_module_gets_a_rule_per_call():
    relu = nn.ReLU()
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(4, 6, bias=False),
        relu,
        nn.Linear(6, 6, bias=False),
        relu,
        nn.Linear(6, 1, bias=False),
    )
    x = torch.rand(3, 4)
    rel = LRP(net).attribute(x)
    assert torch.allclose(rel.sum(1), net(x).squeeze(1), atol=1e-5)


class CaptumFriendly(nn.Module):
    """Captum's LRP has no rule for nn.Flatten: flatten inside forward."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
        )
        self.fc = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


@pytest.mark.filterwarnings("ignore")
def test_agrees_with_captum():
    from tests.oracle import captum_attr as C

    x = torch.rand(3, 3, 8, 8)
    ours, d_ours = LRP(CaptumFriendly().eval()).attribute(
        x, target=1, return_convergence_delta=True
    )
    theirs, d_theirs = C.LRP(CaptumFriendly().eval()).attribute(
        x, target=1, return_convergence_delta=True
    )
    assert torch.allclose(ours, theirs, atol=1e-6) and torch.allclose(d_ours, d_theirs, atol=1e-5)
    net, net_c = CaptumFriendly().eval(), CaptumFriendly().eval()
    ours = LayerLRP(net, net.features[3]).attribute(x, target=1)
    theirs = C.LayerLRP(net_c, net_c.features[3]).attribute(x, target=1)
    assert torch.allclose(ours, theirs, atol=1e-6)
    net = CaptumFriendly().eval()
    ours = GuidedGradCam(net, net.features[3]).attribute(x, target=2)
    theirs = C.GuidedGradCam(net, net.features[3]).attribute(x, target=2)
    assert torch.allclose(ours, theirs, atol=1e-7)


def test_layer_lrp_keeps_the_rules_it_is_given():
    """A rules dict given to LayerLRP is used (it was once dropped by the initialisers)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 1))
    with pytest.raises(TypeError, match="no rule for module '1'"):
        LayerLRP(net, net[0], variant="layers").attribute(torch.rand(2, 3))
    rules = {net[1]: IdentityRule()}
    x = torch.rand(2, 3)
    rel = LayerLRP(net, net[0], rules=rules, variant="layers").attribute(x)
    assert rel.shape == (2, 4)
    # the same rule in the attention-aware variant's gradient form: the same relevance
    torch.testing.assert_close(LayerLRP(net, net[0], rules=rules).attribute(x), rel)


def test_a_rule_that_is_not_a_rule_fails_when_lrp_is_built():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    net[0].rule = 1
    with pytest.raises(TypeError, match="must be a PropagationRule, got 1"):
        LRP(net)


def test_lrp_splits_relevance_over_the_inputs_of_a_skip_connection():
    class Add(torch.nn.Module):
        def forward(self, a, b):
            return a + b

    class Skip(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2, bias=False)
            self.linear.weight.data.fill_(2.0)
            self.add = Add()

        def forward(self, x):
            return self.add(self.linear(x), x)

    model = Skip()
    x = torch.tensor([[1.0, 4.0]])
    # output 0 = (2 + 8) + 1: the addition gives 10 to the linear branch and 1 to the skip;
    # the linear layer splits its 10 as its contributions 2 and 8
    relevance = LRP(model, rules={model.add: EpsilonRule()}).attribute(x, target=0)
    assert torch.allclose(relevance, torch.tensor([[3.0, 8.0]]))
    assert not model._forward_hooks and not model.add._forward_hooks
    from perspicio.core import IdentityRule

    with pytest.raises(TypeError, match="called with 2 tensors"):
        LRP(model, rules={model.add: IdentityRule()}).attribute(x, target=0)
