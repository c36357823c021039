"""Projected gradient descent (Madry et al., 2018)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._engine.inputs import TargetType, TensorOrTuple
from ..errors import AttributionValueError
from ._attack import GradientAttack, like_inputs, prepare

NORMS = ("Linf", "L2")


def _per_example_norm(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1).norm(dim=1).view((-1,) + (1,) * (t.dim() - 1))


class PGD(GradientAttack):
    r"""``step_num`` steps of size ``step_size`` along the loss gradient (its sign for
    ``norm="Linf"``, its direction for ``"L2"``), each followed by the projection onto the
    ball of ``radius`` around the input (per example and input tensor) and the bounds:

    .. math:: x_{k+1} = \Pi_{B(x, r)}\left(x_k \pm \alpha\, d(\nabla_x L(f(x_k), t))\right)

    With ``random_start`` the walk starts at a uniform point of the ball.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> x = torch.zeros(1, 3)
    >>> adv = PGD(net).perturb(x, radius=0.2, step_size=0.1, step_num=5, target=0)
    >>> bool((adv - x).abs().max() <= 0.2 + 1e-6)
    True
    """

    def perturb(
        self,
        inputs: TensorOrTuple,
        radius: float,
        step_size: float,
        step_num: int,
        target: TargetType,
        additional_forward_args: Any = None,
        targeted: bool = False,
        random_start: bool = False,
        norm: str = "Linf",
        mask: Any = None,
    ) -> TensorOrTuple:
        """The perturbed inputs (same structure as ``inputs``)."""
        if norm not in NORMS:
            raise AttributionValueError(f"`norm` must be one of {NORMS}, got {norm!r}")
        xs, was_tuple, masks, args = prepare(inputs, mask, additional_forward_args)
        xs = tuple(x.detach() for x in xs)
        direction = -1.0 if targeted else 1.0

        def project(points: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
            out = []
            for p, x in zip(points, xs):
                delta = p - x
                if norm == "Linf":
                    delta = delta.clamp(-radius, radius)
                else:
                    size = _per_example_norm(delta)
                    delta = delta * torch.where(
                        size > radius, radius / size.clamp(min=1e-12), torch.ones_like(size)
                    )
                out.append(self.bound(x + delta))
            return tuple(out)

        points = xs
        if random_start:
            points = project(
                tuple(x + self._random_offset(x, radius, norm) * m for x, m in zip(xs, masks))
            )
        for _ in range(step_num):
            grads = self._gradients(points, target, args)
            steps = []
            for g, m in zip(grads, masks):
                if norm == "Linf":
                    steps.append(torch.sign(g) * m)
                else:
                    size = _per_example_norm(g)
                    steps.append(g / size.clamp(min=1e-12) * m)
            points = project(tuple(p + direction * step_size * s for p, s in zip(points, steps)))
        return like_inputs(points, was_tuple)

    @staticmethod
    def _random_offset(x: Tensor, radius: float, norm: str) -> Tensor:
        if norm == "Linf":
            return torch.empty_like(x).uniform_(-radius, radius)
        direction = torch.randn_like(x)
        direction = direction / _per_example_norm(direction).clamp(min=1e-12)
        scale = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype)
        return direction * radius * scale
