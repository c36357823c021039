"""The fast gradient sign method (Goodfellow, Shlens and Szegedy, 2015)."""

from __future__ import annotations

from typing import Any

import torch

from .._engine.inputs import TargetType, TensorOrTuple
from ._attack import GradientAttack, like_inputs, prepare


class FGSM(GradientAttack):
    r"""One step along the sign of the loss gradient:

    .. math:: x' = \mathrm{clip}(x \pm \epsilon\, \mathrm{sign}(\nabla_x L(f(x), t)))

    (``+`` untargeted: the loss at the target grows; ``-`` targeted: it shrinks), only where
    ``mask`` is 1, clipped to ``[lower_bound, upper_bound]``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> adv = FGSM(net, lower_bound=0.0, upper_bound=1.0)
    >>> adv.perturb(torch.full((1, 3), 0.5), epsilon=0.1, target=1).shape
    torch.Size([1, 3])
    """

    def perturb(
        self,
        inputs: TensorOrTuple,
        epsilon: float,
        target: TargetType,
        additional_forward_args: Any = None,
        targeted: bool = False,
        mask: Any = None,
    ) -> TensorOrTuple:
        """The perturbed inputs (same structure as ``inputs``)."""
        xs, was_tuple, masks, args = prepare(inputs, mask, additional_forward_args)
        grads = self._gradients(xs, target, args)
        direction = -1.0 if targeted else 1.0
        out = tuple(
            self.bound(x.detach() + direction * epsilon * torch.sign(g) * m)
            for x, g, m in zip(xs, grads, masks)
        )
        return like_inputs(out, was_tuple)
