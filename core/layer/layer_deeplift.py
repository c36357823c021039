"""DeepLift and DeepLiftShap at a layer: multipliers of the layer's activations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._engine.capture import layer_gradients
from .._engine.gradients import accepts_grad_kwargs
from .._engine.hooks import FunctionRules, preserved_state
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    expand_additional_args,
    format_additional_args,
    format_baseline_distribution,
    format_baselines,
    format_target,
    repeat_batch,
)
from ..attribution import LayerAttribution
from ..primary._deeplift_rules import deeplift_rules
from ..primary.deeplift import DeepLift, apply_custom, refuse_torchscript


def layer_deeplift(model, layers, xs, bases, target, args, eps, to_input):
    """Per layer: multipliers, activations at the inputs and at the baselines, the layer's
    output forms, and ``F(x) - F(x')``."""
    n = xs[0].shape[0]
    with preserved_state(model), FunctionRules(deeplift_rules(n, eps)):
        grads, values, out = layer_gradients(
            model,
            layers,
            tuple(torch.cat([x, b]) for x, b in zip(xs, bases)),
            format_target(target, n).expand(2),
            expand_additional_args(args, n, 2),
            to_input,
        )
    mults = [tuple(g[:n] for g in gs) for gs in grads]
    at_x = [tuple(v[:n].detach() for v in value) for value, _ in values]
    at_ref = [tuple(v[n:].detach() for v in value) for value, _ in values]
    return mults, (at_x, at_ref), [t for _, t in values], out[:n] - out[n:]


class LayerDeepLift(LayerAttribution, DeepLift):
    r"""DeepLift's multipliers of a layer's activations times their change:

    .. math:: A_j = m_j (a_j(x) - a_j(x')), \qquad \sum_j A_j = F(x) - F(x')

    Rules apply per call, as in :class:`DeepLift`. Cost: one forward and one backward pass
    on ``2N`` rows.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerDeepLift
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> attr, delta = LayerDeepLift(net, net[1]).attribute(torch.randn(2, 3),
    ...                                                    return_convergence_delta=True)
    >>> attr.shape, bool(delta.abs().max() < 1e-5)
    (torch.Size([2, 4]), True)
    """

    def __init__(
        self, model: Callable, layer: Any, multiply_by_inputs: bool = True, eps: float = 1e-10
    ):
        LayerAttribution.__init__(self, model, layer)
        refuse_torchscript(model, type(self).__name__)
        self.model, self.eps, self._multiply_by_inputs = model, eps, multiply_by_inputs

    @accepts_grad_kwargs
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        custom_attribution_func: Callable | None = None,
    ):
        """Return the layer attributions (and the summation-to-delta error if asked)."""
        xs, _ = as_tuple(inputs)
        bases = format_baselines(baselines, xs)
        args = format_additional_args(additional_forward_args)
        mults, acts, forms, gap = layer_deeplift(
            self.model, self.layers, xs, bases, target, args, self.eps, attribute_to_layer_input
        )
        attrs = self._combine(mults, acts, custom_attribution_func)
        result = self._answer(attrs, forms)
        if not return_convergence_delta:
            return result
        total = sum(a.reshape(a.shape[0], -1).sum(1) for value in attrs for a in value)
        return result, total.to(gap.dtype) - gap

    def _combine(self, mults, acts, custom):
        """``m * (a(x) - a(x'))`` per layer, or the multipliers, or a custom function."""
        at_x, at_ref = acts
        if custom is not None:
            return [apply_custom(custom, m, a, r) for m, a, r in zip(mults, at_x, at_ref)]
        if not self._multiply_by_inputs:
            return mults
        return [
            tuple(g * (a - r) for g, a, r in zip(m, ax, ar))
            for m, ax, ar in zip(mults, at_x, at_ref)
        ]


class LayerDeepLiftShap(LayerDeepLift):
    r"""LayerDeepLift averaged over ``B`` baselines (the layer variant of DeepLiftShap).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerDeepLiftShap
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    >>> LayerDeepLiftShap(net, net[1]).attribute(torch.randn(2, 3), torch.randn(5, 3)).shape
    torch.Size([2, 4])
    """

    @accepts_grad_kwargs
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: Any = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        custom_attribution_func: Callable | None = None,
    ):
        """Return the mean over baselines; the delta (if asked) has ``N * B`` entries."""
        xs, _ = as_tuple(inputs)
        dist = format_baseline_distribution(baselines, xs)
        n, b = xs[0].shape[0], dist[0].shape[0]
        tgt = format_target(target, n).expand(b)
        args = expand_additional_args(format_additional_args(additional_forward_args), n, b)
        refs = tuple(d.repeat_interleave(n, 0) for d in dist)
        mults, acts, forms, gap = layer_deeplift(
            self.model,
            self.layers,
            repeat_batch(xs, b),
            refs,
            tgt,
            args,
            self.eps,
            attribute_to_layer_input,
        )
        pairs = self._combine(mults, acts, custom_attribution_func)
        attrs = [tuple(a.reshape((b, n) + a.shape[1:]).mean(0) for a in value) for value in pairs]
        result = self._answer(attrs, forms)
        if not return_convergence_delta:
            return result
        total = sum(a.reshape(a.shape[0], -1).sum(1) for value in pairs for a in value)
        return result, (total.to(gap.dtype) - gap).reshape(b, n).t().reshape(-1)
