"""Guided Backpropagation (Springenberg et al., 2015, "Striving for Simplicity")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._gradients import compute_gradients
from .._hooks import FunctionRules, bind_first_argument, preserved_state, replace_gradient
from .._inputs import (
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


def relu_backward_rules(vjp_of: Callable[[Tensor], Callable[[Tensor], Tensor]]) -> dict:
    """Rules giving every ReLU call the backward pass ``vjp_of(x)`` (``x``: its input)."""

    def rule(func, args, kwargs):
        x, apply = bind_first_argument(func, args, kwargs)
        return replace_gradient(x, apply(x), vjp_of(x.detach()))

    return {f: rule for f in RELUS}


def guided_rule(x: Tensor) -> Callable[[Tensor], Tensor]:
    """Pass a gradient back only where it is positive and the ReLU was active."""
    return lambda g: g.clamp(min=0) * (x > 0)


class ModifiedReluGradientAttribution(GradientAttribution):
    """The gradient of the model with every ReLU's backward pass replaced by a rule."""

    _rule: Callable[[Tensor], Callable[[Tensor], Tensor]]

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
        with preserved_state(self.model), FunctionRules(relu_backward_rules(type(self)._rule)):
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

    _rule = staticmethod(guided_rule)
