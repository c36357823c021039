"""Layer Conductance (Dhamdhere et al., 2018, "How Important Is a Neuron?")."""

from __future__ import annotations

from typing import Any

import torch

from .._engine.approximation import approximation_parameters
from .._engine.batching import chunk_slices, steps_per_chunk
from .._engine.capture import flatten, layer_gradients
from .._engine.gradients import accepts_grad_kwargs, interpolate
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


class LayerConductance(LayerAttribution, GradientAttribution):
    r"""The flow of Integrated Gradients through each neuron of a layer:

    .. math::
        Cond_j(x) = \int_0^1 \frac{\partial F}{\partial a_j}\,
                    \frac{d a_j(x' + \alpha (x - x'))}{d\alpha}\, d\alpha
                  \approx \sum_{k} \frac{\partial F}{\partial a_j}(\alpha_k)
                    \left(a_j(\alpha_{k+1}) - a_j(\alpha_k)\right)

    evaluated at the ``n_steps + 1`` points of the quadrature rule. Summed over the
    neurons it approximates :math:`F(x) - F(x')` (the convergence delta says how well).
    Cost: ``n_steps + 1`` forward and backward passes per example.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerConductance
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    >>> attr, delta = LayerConductance(net, net[1]).attribute(
    ...     torch.randn(2, 3), n_steps=100, return_convergence_delta=True)
    >>> attr.shape, bool(delta.abs().max() < 1e-2)
    (torch.Size([2, 4]), True)
    """

    #: global attributions (in the units of the output), as Captum reports them
    _multiply_by_inputs = True

    _has_delta = True

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
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
    ):
        """Return the conductance of each neuron (and the completeness delta if asked)."""
        xs, _ = as_tuple(inputs)
        require_float(xs, type(self).__name__)
        bases = format_baselines(baselines, xs)
        n = xs[0].shape[0]
        tgt = format_target(target, n)
        args = format_additional_args(additional_forward_args)
        alphas, _ = approximation_parameters(method, n_steps + 1)
        alphas_t = torch.tensor(sorted(alphas), dtype=torch.float64)
        total, previous, forms = None, None, None
        for sl in chunk_slices(
            len(alphas_t), steps_per_chunk(internal_batch_size, n, len(alphas_t))
        ):
            m = sl.stop - sl.start
            grads, values, _ = layer_gradients(
                self.forward_func,
                self.layers,
                interpolate(bases, xs, alphas_t[sl]),
                tgt.expand(m),
                expand_additional_args(args, n, m),
                attribute_to_layer_input,
            )
            forms = [t for _, t in values]
            g = [t.reshape((m, n) + t.shape[1:]) for t in flatten(grads)]
            a = [t.detach().reshape((m, n) + t.shape[1:]) for t in flatten([v for v, _ in values])]
            if previous is not None:  # join with the last point of the previous chunk
                g = [torch.cat([p[0].unsqueeze(0), t]) for p, t in zip(previous, g)]
                a = [torch.cat([p[1].unsqueeze(0), t]) for p, t in zip(previous, a)]
            part = [(gk[:-1] * (ak[1:] - ak[:-1])).sum(0) for gk, ak in zip(g, a)]
            total = part if total is None else [t + p for t, p in zip(total, part)]
            previous = [(gk[-1], ak[-1]) for gk, ak in zip(g, a)]
        per_layer, k = [], 0
        for value_form_count in [len(v) for v, _ in values]:
            per_layer.append(tuple(total[k : k + value_form_count]))
            k += value_form_count
        result = self._answer(per_layer, forms)
        if not return_convergence_delta:
            return result
        delta = self.compute_convergence_delta(
            tuple(total), bases, xs, target, additional_forward_args
        )
        return result, delta
