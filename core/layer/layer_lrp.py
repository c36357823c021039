"""Layer-wise Relevance Propagation down to a layer."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._engine.capture import capture, flatten, single_calls, split_like, unpack
from .._engine.hooks import preserved_state
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_target,
)
from .._engine.outputs import run_forward
from ..attribution import LayerAttribution
from ..primary.lrp import LRP, relevance_rules, resolve_rules


class LayerLRP(LayerAttribution, LRP):
    r"""The relevance of a layer's neurons (its output, or its input with
    ``attribute_to_layer_input=True``): LRP stopped at the layer. Rules as in :class:`LRP`.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerLRP
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=False), torch.nn.ReLU(),
    ...                           torch.nn.Linear(8, 1, bias=False))
    >>> x = torch.rand(3, 4)
    >>> rel = LayerLRP(net, net[1]).attribute(x)
    >>> rel.shape, torch.allclose(rel.sum(1), net(x).squeeze(1), atol=1e-5)
    (torch.Size([3, 8]), True)
    """

    def __init__(self, model: nn.Module, layer: Any, rules: dict | None = None) -> None:
        # LayerAttribution's initialiser runs LRP's (next in the MRO) without rules: set
        # them after it, or they are lost
        LayerAttribution.__init__(self, model, layer)
        self.rules = rules

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        attribute_to_layer_input: bool = False,
        verbose: bool = False,
    ):
        """Return the relevance of the layer (and ``F(x) - sum(R)`` per example if asked)."""
        xs, _ = as_tuple(inputs)
        rules = resolve_rules(self.model, self.rules)
        tgt = format_target(target, xs[0].shape[0])
        args = format_additional_args(additional_forward_args)
        # the rules' hooks go on first, so the capture sees the rule-bearing outputs
        with preserved_state(self.model), relevance_rules(rules), torch.enable_grad():
            with capture(self.layers, attribute_to_layer_input, differentiable=True) as records:
                out = run_forward(self.model, xs, tgt, args)
            values = single_calls(self.layers, records)
            flat = flatten(unpack(values))
            grads = torch.autograd.grad(out, flat, out.detach(), allow_unused=True)
        relevance = tuple(torch.zeros_like(t) if g is None else g for t, g in zip(flat, grads))
        per_layer = split_like(relevance, unpack(values))
        result = self._answer(per_layer, [t for _, t in values])
        if not return_convergence_delta:
            return result
        total = sum(r.reshape(r.shape[0], -1).sum(1) for r in relevance)
        return result, out.detach() - total
