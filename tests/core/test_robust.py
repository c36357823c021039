"""perspicio.core.robust: FGSM and PGD on models whose gradients are known, the ball and
the bounds, targeted attacks, masks and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from perspicio.core.robust import FGSM, PGD


def linear():
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, -2.0, 0.0, 0.5], [0.0, 1.0, -1.0, 0.0],
                                       [-1.0, 0.0, 3.0, 1.0]]))  # fmt: skip
    return net


def score(out, target):
    """The target's logit as the loss: an untargeted step raises it."""
    index = torch.as_tensor(target).view(-1, 1).expand(out.shape[0], 1)
    return out.gather(1, index).squeeze(1)


def test_fgsm_is_one_signed_step_with_masks_and_bounds():
    net = linear()
    x = torch.zeros(2, 4)
    up = FGSM(net, score).perturb(x, 0.1, target=[0, 2])
    expected = 0.1 * torch.sign(net.weight[[0, 2]].detach())
    torch.testing.assert_close(up, expected)
    down = FGSM(net, score).perturb(x, 0.1, target=[0, 2], targeted=True)
    torch.testing.assert_close(down, -expected)
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    torch.testing.assert_close(FGSM(net, score).perturb(x, 0.1, target=[0, 2], mask=mask),
                               expected * mask)  # fmt: skip
    bounded = FGSM(net, score, lower_bound=-0.05, upper_bound=0.02).perturb(x, 0.1, [0, 2])
    torch.testing.assert_close(bounded, expected.clamp(-0.05, 0.02))
    assert torch.equal(x, torch.zeros(2, 4))  # the input is not modified


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_pgd_stays_in_the_ball_and_raises_the_target_score(norm):
    net = linear()
    torch.manual_seed(1)
    x = torch.rand(5, 4)
    start = PGD(net, score).perturb(x, radius=0.3, step_size=0.05, step_num=3, target=1,
                                    norm=norm, random_start=True)  # fmt: skip
    adv = PGD(net, score).perturb(x, radius=0.3, step_size=0.05, step_num=20, target=1,
                                  norm=norm)  # fmt: skip
    for point in (start, adv):
        delta = point - x
        size = delta.abs().amax(1) if norm == "Linf" else delta.norm(dim=1)
        assert (size <= 0.3 + 1e-5).all()
    with torch.no_grad():
        assert (net(adv)[:, 1] > net(x)[:, 1]).all()
    w = net.weight[1].detach()
    if norm == "Linf":  # the optimum of a linear score in a box is its corner
        expected = 0.3 * torch.sign(w)
    else:  # ... and in a ball, the gradient's direction
        expected = 0.3 * w / w.norm()
    torch.testing.assert_close(adv - x, expected.expand(5, 4), atol=1e-4, rtol=0)


def test_a_targeted_pgd_moves_a_classifier_to_the_target_class():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3), nn.Softmax(dim=1))
    x = torch.randn(8, 2)
    with torch.no_grad():
        before = net(x)[:, 2]
    adv = PGD(net).perturb(x, radius=2.0, step_size=0.1, step_num=40, target=2, targeted=True)
    with torch.no_grad():
        after = net(adv)[:, 2]
    assert (after >= before).all() and after.mean() > before.mean()


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="`forward_func` must be callable"):
        FGSM("model")
    with pytest.raises(ValueError, match="`norm` must be one of"):
        PGD(linear()).perturb(torch.zeros(1, 4), 0.1, 0.1, 1, 0, norm="L1")
