"""What the gradient attacks share: the loss of the model's output at the target, its
gradient with respect to each input, masks and bounds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.gradients import autograd_grad
from .._engine.inputs import as_tuple, format_additional_args, format_target, like_inputs
from ..errors import AttributionTypeError
from .perturbation import Perturbation


class GradientAttack(Perturbation):
    """The model, the loss and the bounds of an attack.

    ``loss_func(outputs, target)`` returns a loss per example; by default the loss is
    ``-log`` of the model's output at ``target`` (selected as the attribution methods select
    it; the output is taken as a probability, as Captum does), so an untargeted attack lowers
    the target's probability and a targeted one raises it.
    """

    def __init__(
        self,
        forward_func: Callable,
        loss_func: Callable | None = None,
        lower_bound: float = float("-inf"),
        upper_bound: float = float("inf"),
    ) -> None:
        if not callable(forward_func):
            raise AttributionTypeError(
                f"`forward_func` must be callable, got {type(forward_func).__name__}"
            )
        self.forward_func = forward_func
        self.loss_func = loss_func
        self.bound = lambda x: x.clamp(lower_bound, upper_bound)

    def _gradients(self, xs: tuple[Tensor, ...], target: Any, args: tuple) -> tuple[Tensor, ...]:
        """The gradient of the summed loss with respect to each input."""
        with torch.enable_grad():
            leaves = tuple(x.detach().requires_grad_(True) for x in xs)
            out = self.forward_func(*leaves, *args)
            if self.loss_func is None:  # the negative log of the output (a probability)
                loss = -torch.log(format_target(target, xs[0].shape[0]).select(out))
            else:
                loss = self.loss_func(out, target)
            grads = autograd_grad(loss.sum(), leaves)
        # a gradient below the rounding of the loss is noise, and its sign arbitrary (a
        # cross-entropy whose logits all move together has gradient 0, computed as 1e-7)
        scale = loss.detach().abs().reshape(-1).nan_to_num(1.0, 1.0, 1.0).clamp(min=1.0)
        out = []
        for x, g in zip(xs, grads):
            if g is None:
                out.append(torch.zeros_like(x))
                continue
            floor = 4 * torch.finfo(g.dtype).eps * scale
            floor = (
                floor.view((-1,) + (1,) * (g.dim() - 1))
                if floor.numel() == g.shape[0]
                else floor.max()
            )
            out.append(torch.where(g.abs() > floor, g, torch.zeros_like(g)))
        return tuple(out)


def prepare(inputs: Any, mask: Any, additional_forward_args: Any):
    """Inputs as a tuple, whether they were one, masks per input (ones by default), args."""
    xs, was_tuple = as_tuple(inputs)
    if mask is None:
        masks = tuple(torch.ones_like(x) for x in xs)
    else:
        masks, _ = as_tuple(mask, "mask")
        masks = tuple(m.to(x.dtype) for m, x in zip(masks, xs))
    return xs, was_tuple, masks, format_additional_args(additional_forward_args)


__all__ = ["GradientAttack", "prepare", "like_inputs"]
