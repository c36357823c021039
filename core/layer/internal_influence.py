"""Internal Influence (Leino et al., 2018): layer gradients integrated along the input path."""

from __future__ import annotations

from typing import Any

from .._engine.approximation import approximation_parameters
from .._engine.capture import flatten, layer_gradients, layer_values, split_like, unpack
from .._engine.gradients import accepts_grad_kwargs, integrate_gradients
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    expand_additional_args,
    format_additional_args,
    format_baselines,
    format_target,
    require_float,
)
from ..attribution import GradientAttribution, LayerAttribution


class InternalInfluence(LayerAttribution, GradientAttribution):
    r"""The gradient with respect to the layer, integrated along the straight input path:

    .. math:: II_j(x) = \int_0^1 \frac{\partial F}{\partial a_j}(x' + \alpha (x - x'))\, d\alpha

    Cost: ``n_steps`` forward and backward passes per example.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import InternalInfluence
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> InternalInfluence(net, net[1]).attribute(torch.randn(2, 3), target=0, n_steps=20).shape
    torch.Size([2, 4])
    """

    @accepts_grad_kwargs
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        attribute_to_layer_input: bool = False,
    ) -> Any:
        """Return the integrated layer gradient of each layer."""
        xs, _ = as_tuple(inputs)
        require_float(xs, type(self).__name__)
        bases = format_baselines(baselines, xs)
        n = xs[0].shape[0]
        tgt = format_target(target, n)
        args = format_additional_args(additional_forward_args)
        alphas, weights = approximation_parameters(method, n_steps)
        values = layer_values(self.forward_func, self.layers, xs, args, attribute_to_layer_input)

        def grad_fn(points, m):
            grads, _, _ = layer_gradients(
                self.forward_func,
                self.layers,
                points,
                tgt.expand(m),
                expand_additional_args(args, n, m),
                attribute_to_layer_input,
            )
            return flatten(grads)

        integral = integrate_gradients(grad_fn, bases, xs, alphas, weights, internal_batch_size)
        return self._answer(split_like(integral, unpack(values)), [t for _, t in values])
