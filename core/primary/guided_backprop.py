"""Guided Backpropagation (Springenberg et al., 2015, "Striving for Simplicity")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine.gradients import compute_gradients
from .._engine.hooks import FunctionRules, bind_first_argument, preserved_state
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
from .deeplift import refuse_torchscript

RELUS = (F.relu, torch.relu, Tensor.relu, torch.relu_, Tensor.relu_)


def relu_backward_rules(relu_call: Callable[[Tensor, Callable], Tensor]) -> dict:
    """Rules that compute every ReLU call as ``relu_call(x, apply)``."""

    def rule(func, args, kwargs):
        x, apply = bind_first_argument(func, args, kwargs)
        return relu_call(x, apply)

    return {f: rule for f in RELUS}


def guided_relu(x: Tensor, apply: Callable[[Tensor], Tensor]) -> Tensor:
    """ReLU whose backward pass is ``max(g, 0) * [x > 0]``.

    The incoming gradient is clamped by a hook on the output; the ReLU's own backward then
    applies the ``[x > 0]`` mask, so no extra pass over the activation is needed.
    """
    y = apply(x)
    if y.requires_grad:
        y.register_hook(lambda g: g.clamp(min=0))
    return y


class ModifiedReluGradientAttribution(GradientAttribution):
    """The gradient of the model with every ReLU's backward pass replaced by a rule."""

    _relu_call: Callable[[Tensor, Callable], Tensor]

    def __init__(self, model: Callable) -> None:
        super().__init__(model)
        refuse_torchscript(model, type(self).__name__)
        self.model = model

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTuple:
        """Return the modified gradient for each input tensor."""
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, type(self).__name__)
        tgt = format_target(target, xs[0].shape[0])
        args = format_additional_args(additional_forward_args)
        with preserved_state(self.model), FunctionRules(relu_backward_rules(type(self)._relu_call)):
            grads = compute_gradients(self.model, xs, tgt, args)
        return like_inputs(grads, was_tuple)


class GuidedBackprop(ModifiedReluGradientAttribution):
    r"""Guided backpropagation: through each ReLU, :math:`g_{in} = \max(g_{out}, 0) [x > 0]`.

    Applies to every ReLU call, including reused modules and ``F.relu`` in ``forward``.
    Cost: one forward and one backward pass.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import GuidedBackprop
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> GuidedBackprop(net).attribute(torch.randn(3, 4), target=1).shape
    torch.Size([3, 4])
    """

    _relu_call = staticmethod(guided_relu)
