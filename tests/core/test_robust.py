"""perspicio.core.robust: FGSM and PGD on models whose gradients are known, the ball and
the bounds, targeted attacks, masks and errors."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from torch import nn

from perspicio.core.robust import FGSM, PGD


def linear():
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.copy_(
            torch.tensor([[1.0, -2.0, 0.0, 0.5], [0.0, 1.0, -1.0, 0.0], [-1.0, 0.0, 3.0, 1.0]])
        )
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
    torch.testing.assert_close(
        FGSM(net, score).perturb(x, 0.1, target=[0, 2], mask=mask), expected * mask
    )
    bounded = FGSM(net, score, lower_bound=-0.05, upper_bound=0.02).perturb(x, 0.1, [0, 2])
    torch.testing.assert_close(bounded, expected.clamp(-0.05, 0.02))
    assert torch.equal(x, torch.zeros(2, 4))  # the input is not modified


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_pgd_stays_in_the_ball_and_raises_the_target_score(norm):
    net = linear()
    torch.manual_seed(1)
    x = torch.rand(5, 4)
    start = PGD(net, score).perturb(
        x, radius=0.3, step_size=0.05, step_num=3, target=1, norm=norm, random_start=True
    )
    adv = PGD(net, score).perturb(x, radius=0.3, step_size=0.05, step_num=20, target=1, norm=norm)
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


# ------------------------------------------------------------------ AttackComparator
def shift(x, amount):
    """A deterministic attack: feature 0 moves by ``amount``."""
    return x + amount * torch.tensor([1.0, 0.0, 0.0, 0.0])


def noise_source(seed: int):
    """Random attacks whose draws repeat when the source is reseeded."""
    gen = torch.Generator().manual_seed(seed)

    def noise(x, std):
        return x + std * torch.randn(x.shape, generator=gen)

    return noise


def test_comparator_results_are_the_metric_of_each_attack():
    from perspicio.core.robust import AttackComparator

    net = linear()
    x = torch.randn(5, 4)

    def metric(out, target):
        return out[:, target]

    comparator = AttackComparator(net, metric)
    comparator.add_attack(shift, name="shift", attack_kwargs={"amount": 2.0})
    comparator.add_attack(
        FGSM(net, score), attack_kwargs={"epsilon": 0.1}, additional_attack_arg_names=["target"]
    )
    results = comparator.evaluate(x, target=0)
    base = net(x)[:, 0].detach()
    torch.testing.assert_close(results["Original"], base)
    # the output at class 0 grows by w[0, 0] * 2 = 2 under the shift, by 0.1 |w[0]|_1 under FGSM
    torch.testing.assert_close(results["shift"]["mean"], base + 2.0)
    torch.testing.assert_close(results["FGSM"]["mean"], base + 0.1 * 3.5)
    summary = comparator.summary()
    torch.testing.assert_close(summary["shift"]["mean"], (base + 2.0).mean())


Scores = namedtuple("Scores", "correct logit")


def test_comparator_attempts_summaries_and_batches_agree():
    from perspicio.core.robust import AttackComparator

    net = linear()
    x = torch.randn(6, 4)

    def metric(out, target):
        return Scores((out.argmax(1) == target).float(), out[:, target])

    runs = []
    for per_eval in (1, 4, None):
        comparator = AttackComparator(net, metric)
        comparator.add_attack(
            noise_source(0), name="noise", num_attempts=5, attack_kwargs={"std": 0.5}
        )
        first = comparator.evaluate(x, perturbations_per_eval=per_eval, target=1)
        comparator.evaluate(x[:3], perturbations_per_eval=per_eval, target=1)
        runs.append((first, comparator.summary()))
    first, summary = runs[0]
    for other, other_summary in runs[1:]:
        for stat in ("mean", "min", "max"):
            torch.testing.assert_close(other["noise"][stat], first["noise"][stat])
        torch.testing.assert_close(
            other_summary["noise Mean Attempt"]["mean"], summary["noise Mean Attempt"]["mean"]
        )
    # the five draws, replayed by hand
    draw = noise_source(0)
    logits = torch.stack([net(draw(x, std=0.5))[:, 1] for _ in range(5)]).detach()
    torch.testing.assert_close(first["noise"]["mean"].logit, logits.mean(0))
    torch.testing.assert_close(first["noise"]["min"].logit, logits.min(0).values)
    assert (
        type(first["Original"]).__name__ == "Scores" and first["Original"]._fields == Scores._fields
    )
    assert set(summary) == {
        "Original",
        "noise Mean Attempt",
        "noise Min Attempt",
        "noise Max Attempt",
    }
    # the summary is the mean over the two batches of each batch's mean
    original = [net(x)[:, 1].mean(), net(x[:3])[:, 1].mean()]
    torch.testing.assert_close(
        summary["Original"]["mean"].logit, torch.stack(original).mean().detach()
    )


def test_comparator_errors_and_reset():
    from perspicio.core.robust import AttackComparator

    net = linear()
    comparator = AttackComparator(net, lambda out, target=None: out.sum(1))
    comparator.add_attack(shift, name="shift", attack_kwargs={"amount": 1.0})
    with pytest.raises(ValueError, match="already added"):
        comparator.add_attack(shift, name="shift")
    with pytest.raises(TypeError, match="`metric` must be callable"):
        AttackComparator(net, "accuracy")
    with pytest.raises(ValueError, match="perturbations_per_eval"):
        comparator.evaluate(torch.randn(2, 4), perturbations_per_eval=0)
    comparator.add_attack(
        FGSM(net),
        name="fgsm",
        additional_attack_arg_names=["target"],
        attack_kwargs={"epsilon": 0.1},
    )
    with pytest.raises(ValueError, match="'target'"):
        comparator.evaluate(torch.randn(2, 4))
    comparator.evaluate(torch.randn(2, 4), target=0)
    comparator.reset()
    assert comparator.summary() == {}


# --------------------------------------------------------------- MinParamPerturbation
def identity_classifier():
    net = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(2))
    return net


def move(x, amount):
    return x + amount * torch.tensor([[-1.0, 1.0]])


@pytest.mark.parametrize("mode", ["linear", "binary"])
@pytest.mark.parametrize("per_eval", [1, 3, None])
def test_min_param_finds_the_first_grid_value_that_flips(mode, per_eval):
    from perspicio.core.robust import MinParamPerturbation

    net = identity_classifier()
    x = torch.tensor([[1.0, 0.2]])
    # class 0 while 1 - a >= 0.2 + a, i.e. a <= 0.4; the first grid value above is 0.45
    search = MinParamPerturbation(net, move, "amount", 0.0, 2.0, 0.05, mode=mode)
    adv, amount = search.evaluate(x, target=0, perturbations_per_eval=per_eval)
    assert amount == pytest.approx(0.45)
    torch.testing.assert_close(adv, move(x, 0.45))


def test_min_param_none_when_nothing_flips_and_custom_correctness():
    from perspicio.core.robust import MinParamPerturbation

    net = identity_classifier()
    x = torch.tensor([[1.0, 0.2]])
    assert MinParamPerturbation(net, move, "amount", 0.0, 0.3, 0.1).evaluate(x, target=0) == (
        None,
        None,
    )

    def margin_at_least(out, target, margin):
        return bool((out[:, target] - out[:, 1 - target]).min() >= margin)

    search = MinParamPerturbation(net, move, "amount", 0.0, 1.0, 0.1, correct_fn=margin_at_least)
    _, amount = search.evaluate(x, target=0, correct_fn_kwargs={"margin": 0.5})
    assert amount == pytest.approx(0.2)  # margin 0.8 - 2a < 0.5 from a = 0.2 on


def test_min_param_bad_arguments():
    from perspicio.core.robust import MinParamPerturbation

    net = identity_classifier()
    with pytest.raises(ValueError, match="`mode`"):
        MinParamPerturbation(net, move, "amount", 0, 1, 0.1, mode="golden")
    with pytest.raises(ValueError, match="`arg_step`"):
        MinParamPerturbation(net, move, "amount", 0, 1, 0)
    with pytest.raises(ValueError, match="`arg_max`"):
        MinParamPerturbation(net, move, "amount", 1, 1, 0.1)
    with pytest.raises(TypeError, match="`attack`"):
        MinParamPerturbation(net, None, "amount", 0, 1, 0.1)
