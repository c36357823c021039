"""Input x Gradient (Shrikumar et al., 2016): the input times the output's gradient."""

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


class InputXGradient(GradientAttribution):
    r"""Attribution :math:`x_i \cdot \partial F(x) / \partial x_i`.

    On a linear model with no bias it is exact: the attributions sum to the output.
    Cost: one forward and one backward pass.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import InputXGradient
    >>> net = torch.nn.Linear(3, 1, bias=False)
    >>> x = torch.randn(4, 3)
    >>> attr = InputXGradient(net).attribute(x)
    >>> torch.allclose(attr.sum(1), net(x).squeeze(1))
    True
    """

    _multiply_by_inputs = True

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTuple:
        """Return ``inputs * gradient`` for each input tensor."""
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, "InputXGradient")
        grads = compute_gradients(
            self.forward_func,
            xs,
            format_target(target, xs[0].shape[0]),
            format_additional_args(additional_forward_args),
        )
        return like_inputs(tuple(x * g for x, g in zip(xs, grads)), was_tuple)
