"""Neuron Conductance (Dhamdhere et al., 2018): Integrated Gradients flowing through a neuron."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._engine.approximation import approximation_parameters
from .._engine.capture import capture, select_neuron, single_calls
from .._engine.gradients import accepts_grad_kwargs, autograd_grad, integrate_gradients
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    expand_additional_args,
    format_additional_args,
    format_baselines,
    format_target,
    like_inputs,
    require_float,
)
from .._engine.outputs import run_forward
from ..attribution import GradientAttribution, NeuronAttribution


class NeuronConductance(NeuronAttribution, GradientAttribution):
    r"""The part of each input's Integrated Gradients that flows through neuron :math:`a_j`:

    .. math::
        Cond^j_i(x) = (x_i - x'_i)\int_0^1 \frac{\partial F}{\partial a_j}\,
                      \frac{\partial a_j}{\partial x_i}\Big|_{x' + \alpha(x - x')} d\alpha

    Summed over the inputs it equals the neuron's :class:`LayerConductance`.
    ``neuron_selector`` must name one neuron (an int or a tuple). Cost: ``n_steps`` forward
    passes and two backward passes per example.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NeuronConductance
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> NeuronConductance(net, net[1]).attribute(torch.randn(2, 3), 1, target=0).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        forward_func: Callable,
        layer: Any,
        device_ids: Any = None,
        multiply_by_inputs: bool = True,
    ) -> None:
        super().__init__(forward_func, layer, device_ids)
        self._multiply_by_inputs = multiply_by_inputs

    @accepts_grad_kwargs
    def attribute(
        self,
        inputs: TensorOrTuple,
        neuron_selector: int | tuple[int, ...],
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "riemann_trapezoid",
        internal_batch_size: int | None = None,
        attribute_to_neuron_input: bool = False,
    ) -> TensorOrTuple:
        """Return the neuron's conductance for each input tensor."""
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, type(self).__name__)
        bases = format_baselines(baselines, xs)
        n = xs[0].shape[0]
        tgt = format_target(target, n)
        args = format_additional_args(additional_forward_args)
        alphas, weights = approximation_parameters(method, n_steps)
        layers = [self.layer]

        def grad_fn(points, m):
            with torch.enable_grad():  # also inside a caller's torch.no_grad()
                with capture(layers, attribute_to_neuron_input, True) as records:
                    leaves = tuple(p.detach().requires_grad_(True) for p in points)
                    out = run_forward(
                        self.forward_func, leaves, tgt.expand(m), expand_additional_args(args, n, m)
                    )
                ((value, was_tuple_layer),) = single_calls(layers, records)
                neuron = select_neuron(value, was_tuple_layer, neuron_selector)
                g_layer = tuple(
                    torch.zeros_like(v) if g is None else g
                    for v, g in zip(value, autograd_grad(out.sum(), value, retain_graph=True))
                )
                # dF/da_j per row (a selector that aggregates neurons is applied to the gradients
                # too, as Captum does: exact for one neuron)
                g_out = select_neuron(g_layer, was_tuple_layer, neuron_selector)
                g_in = autograd_grad(neuron.sum(), leaves)
                return tuple(
                    torch.zeros_like(p)
                    if g is None
                    else g * g_out.view((-1,) + (1,) * (g.dim() - 1))
                    for p, g in zip(leaves, g_in)
                )

        integral = integrate_gradients(grad_fn, bases, xs, alphas, weights, internal_batch_size)
        if self._multiply_by_inputs:
            integral = tuple(g * (x - b) for g, x, b in zip(integral, xs, bases))
        return like_inputs(integral, was_tuple)
