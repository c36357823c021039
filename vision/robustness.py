"""How robust an image classifier is: accuracy under gradient attacks of growing strength,
and the smallest noise that changes a prediction (:mod:`perspicio.core.robust`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor, nn

from perspicio.core.robust import FGSM, PGD, AttackComparator, MinParamPerturbation

ATTACKS = ("fgsm", "pgd")


def _cross_entropy(out: Tensor, target: Any) -> Tensor:
    """The attacks' loss on logits: the cross-entropy of each example at its label."""
    target = torch.as_tensor(target, device=out.device).expand(out.shape[0])
    return F.cross_entropy(out, target, reduction="none")


@dataclass
class AttackReport:
    """Accuracy of a classifier under attacks, one value per strength ``epsilon``
    (the L-infinity radius, in the units of the model's input)."""

    epsilons: list[float]
    accuracy: dict[str, list[float]] = field(default_factory=dict)

    def plot(self, ax: Any = None) -> Figure:
        """Accuracy against epsilon, one line per attack."""
        fig = Figure(figsize=(4.6, 3.2)) if ax is None else ax.figure
        ax = ax or fig.add_subplot()
        for name, values in self.accuracy.items():
            ax.plot(self.epsilons, values, marker="o", label=name.upper())
        ax.set_xlabel("epsilon (L-inf)")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.legend()
        fig.tight_layout()
        return fig


def attack_accuracy(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    epsilons: Sequence[float] = (0.0, 2 / 255, 4 / 255, 8 / 255, 16 / 255),
    attacks: Sequence[str] = ATTACKS,
    pgd_steps: int = 10,
    lower_bound: float = 0.0,
    upper_bound: float = 1.0,
) -> AttackReport:
    """The classifier's accuracy on ``images`` under FGSM and PGD at each ``epsilon``.

    The attacks raise the cross-entropy of the true label within an L-infinity ball of
    radius epsilon (PGD: ``pgd_steps`` steps of ``2.5 * epsilon / pgd_steps``), keeping
    pixels in ``[lower_bound, upper_bound]``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> x, y = torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 0, 1, 0, 1])
    >>> report = attack_accuracy(net, x, y, epsilons=(0.0, 0.1))
    >>> sorted(report.accuracy), len(report.accuracy["fgsm"])
    (['fgsm', 'pgd'], 2)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(images, Tensor) or images.dim() != 4:
        got = getattr(images, "shape", type(images).__name__)
        raise ValueError(f"`images` must be a tensor (N, C, H, W), got {got}")
    labels = torch.as_tensor(labels, device=images.device)
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"`labels` must hold one class per image ({images.shape[0]}), got shape "
            f"{tuple(labels.shape)}"
        )
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise ValueError(f"`attacks` must be among {ATTACKS}, got {unknown}")

    def accuracy(out: Tensor, target: Tensor) -> Tensor:
        return (out.argmax(1) == target).float()

    bounds = {"lower_bound": lower_bound, "upper_bound": upper_bound}
    comparator = AttackComparator(model, accuracy)
    for eps in epsilons:
        if eps == 0:
            continue
        if "fgsm" in attacks:
            comparator.add_attack(
                FGSM(model, _cross_entropy, **bounds),
                name=f"fgsm {eps}",
                attack_kwargs={"epsilon": eps},
                additional_attack_arg_names=["target"],
            )
        if "pgd" in attacks:
            comparator.add_attack(
                PGD(model, _cross_entropy, **bounds),
                name=f"pgd {eps}",
                attack_kwargs={
                    "radius": eps,
                    "step_size": 2.5 * eps / pgd_steps,
                    "step_num": pgd_steps,
                },
                additional_attack_arg_names=["target"],
            )
    results = comparator.evaluate(images, target=labels, perturbations_per_eval=None)
    clean = float(results["Original"].mean())
    report = AttackReport([float(e) for e in epsilons])
    for name in attacks:
        report.accuracy[name] = [
            clean if eps == 0 else float(results[f"{name} {eps}"]["mean"].mean())
            for eps in epsilons
        ]
    return report


class _FixedNoise:
    """Gaussian noise of a given std along ``attempts`` directions drawn once from
    ``seed``; call ``i`` uses direction ``i mod attempts``."""

    def __init__(self, shape: torch.Size, attempts: int, seed: int, bounds: tuple) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.directions = torch.randn((attempts, *shape), generator=generator)
        self.calls = 0
        self.bounds = bounds

    def __call__(self, x: Tensor, std: float) -> Tensor:
        z = self.directions[self.calls % len(self.directions)].to(x)
        self.calls += 1
        return (x + std * z).clamp(*self.bounds)


def min_noise_level(
    model: nn.Module,
    image: Tensor,
    target: int | None = None,
    max_std: float = 1.0,
    step: float = 0.01,
    attempts: int = 5,
    seed: int = 0,
    lower_bound: float = 0.0,
    upper_bound: float = 1.0,
) -> tuple[float | None, Tensor | None]:
    """The smallest Gaussian noise level (std, on the grid ``0, step, ...`` below
    ``max_std``) at which one of ``attempts`` noise draws changes the model's top class
    away from ``target`` (default: its prediction for ``image``), and the noisy image;
    ``(None, None)`` if none does. The draws are fixed by ``seed`` (their direction is the
    same at every level), so the answer is reproducible.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> std, noisy = min_noise_level(net, torch.rand(3, 8, 8), max_std=2.0, step=0.05)
    >>> std is None or noisy.shape == (1, 3, 8, 8)
    True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(image, Tensor) or image.dim() not in (3, 4):
        got = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"`image` must be a tensor (C, H, W) or (1, C, H, W), got {got}")
    x = image if image.dim() == 4 else image.unsqueeze(0)
    if x.shape[0] != 1:
        raise ValueError(f"`image` must be one image, got a batch of {x.shape[0]}")
    if target is None:
        with torch.no_grad():
            target = int(model(x).argmax(1))
    noise = _FixedNoise(x.shape[1:], attempts, seed, (lower_bound, upper_bound))
    search = MinParamPerturbation(model, noise, "std", 0.0, max_std, step, num_attempts=attempts)
    noisy, std = search.evaluate(x, target=target, perturbations_per_eval=None)
    # a grid value, without the float residue of summing the step (0.7, not 0.70...01)
    return (None if std is None else round(float(std), 12)), noisy
