"""Layer-wise Relevance Propagation down to a layer."""

from __future__ import annotations

import contextlib
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
from ..primary.attention_lrp import transformer_rules
from ..primary.lrp import LRP, _TransformerOps, choose_variant, relevance_rules, resolve_rules


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

    def __init__(
        self, model: nn.Module, layer: Any, rules: dict | None = None, variant: str = "auto"
    ) -> None:
        # LayerAttribution's initialiser runs LRP's (next in the MRO) without rules: set
        # them after it, or they are lost
        LayerAttribution.__init__(self, model, layer)
        self.rules = rules
        self.variant = choose_variant(model, rules, variant)
        self._auto = variant == "auto"

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
        tgt = format_target(target, xs[0].shape[0])
        args = format_additional_args(additional_forward_args)
        found = None
        if self.variant == "layers":
            found = self._layer_rules_at(xs, tgt, args, attribute_to_layer_input)
        if found is None:
            found = self._transformer_rules_at(xs, tgt, args, attribute_to_layer_input)
        out, values, relevance = found
        per_layer = split_like(relevance, unpack(values))
        result = self._answer(per_layer, [t for _, t in values])
        if not return_convergence_delta:
            return result
        total = sum(r.reshape(r.shape[0], -1).sum(1) for r in relevance)
        return result, out.detach() - total

    def _layer_rules_at(self, xs, tgt, args, to_input):
        """Bach's module rules (the gradient is the relevance); None if ``auto`` sees
        transformer operations in the pass."""
        rules = resolve_rules(self.model, self.rules)
        seen = _TransformerOps()
        # the rules' hooks go on first, so the capture sees the rule-bearing outputs
        with preserved_state(self.model), relevance_rules(rules), torch.enable_grad():
            with capture(self.layers, to_input, differentiable=True) as records:
                with seen if self._auto else contextlib.nullcontext():
                    out = run_forward(self.forward_func, xs, tgt, args)
            if seen.seen is not None:
                return None
            values = single_calls(self.layers, records)
            flat = flatten(unpack(values))
            grads = torch.autograd.grad(out, flat, out.detach(), allow_unused=True)
        relevance = tuple(torch.zeros_like(t) if g is None else g for t, g in zip(flat, grads))
        return out, values, relevance

    def _transformer_rules_at(self, xs, tgt, args, to_input):
        """The attention-aware rules: the layer's value times the rules' gradient."""
        variant = self._variant()
        with preserved_state(self.model), torch.enable_grad():
            # the inputs carry relevance (token ids included), float ones as graph leaves
            xs = tuple(x.detach().requires_grad_(True) if x.is_floating_point() else x for x in xs)
            with transformer_rules(self.model, xs, variant, self.rules):
                with capture(self.layers, to_input, differentiable=True) as records:
                    out = run_forward(self.forward_func, xs, tgt, args)
            values = single_calls(self.layers, records)
            flat = flatten(unpack(values))
            grads = torch.autograd.grad(out, flat, torch.ones_like(out), allow_unused=True)
        relevance = tuple(
            torch.zeros_like(t) if g is None else t.detach() * g for t, g in zip(flat, grads)
        )
        return out, values, relevance
