"""Saliency (Simonyan et al., 2014): the gradient of the output with respect to the input."""

from __future__ import annotations

from typing import Any

from .._engine.gradients import compute_gradients
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_target,
    like_inputs,
    require_float,
)
from ..attribution import GradientAttribution


class Saliency(GradientAttribution):
    r"""Saliency maps: :math:`\partial F(x) / \partial x_i` (its absolute value by default).

    Cost: one forward and one backward pass.

    Parameters
    ----------
    forward_func : callable
        The model, or any function of the inputs returning a tensor.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> net = torch.nn.Linear(3, 2)
    >>> attr = Saliency(net).attribute(torch.randn(4, 3), target=1, abs=False)
    >>> torch.allclose(attr, net.weight[1].expand(4, 3))
    True
    """

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        abs: bool = True,
        additional_forward_args: Any = None,
    ) -> TensorOrTuple:
        """Return the gradient (absolute by default) for each input tensor."""
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, "Saliency")
        grads = compute_gradients(
            self.forward_func,
            xs,
            format_target(target, xs[0].shape[0]),
            format_additional_args(additional_forward_args),
        )
        return like_inputs(tuple(g.abs() for g in grads) if abs else grads, was_tuple)
