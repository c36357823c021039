"""Propagation rules of Layer-wise Relevance Propagation (Bach et al., 2015; Montavon et al.,
2019, "Layer-Wise Relevance Propagation: An Overview").

A rule turns the relevance ``R`` of a module's output into relevance of its input. For a
layer :math:`z_j = \\sum_i x_i w_{ij} + b_j` the rules differ in the weights they use and in
the stabiliser of the denominator:

* :class:`EpsilonRule`:
  :math:`R_i = \\sum_j \\frac{x_i w_{ij}}{z_j + \\epsilon\\,\\mathrm{sign}(z_j)} R_j`
* :class:`GammaRule`: the same with :math:`w + \\gamma w^+` (favours positive evidence)
* :class:`Alpha1Beta0Rule`: only positive contributions :math:`(x_i w_{ij})^+`
* :class:`ZPlusRule`: positive weights only, no bias (for non-negative inputs)
* :class:`IdentityRule`: :math:`R_i = R_i` (activations, dropout, reshapes)

Each is computed with the "gradient trick": :math:`R_{in} = x \\odot J_{mod}^T (R / z_{mod})`,
with :math:`J_{mod}` the Jacobian of the layer evaluated with modified parameters through
``torch.func.functional_call``, so the module's own parameters are never changed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import AttributionTypeError, AttributionValueError


def _stabilise(z: Tensor, eps: float) -> Tensor:
    return z + eps * torch.where(z >= 0, torch.ones_like(z), -torch.ones_like(z))


def _relevance(
    layer_fn: Callable[..., Tensor], x: Tensor | tuple[Tensor, ...], relevance: Tensor, eps: float
) -> Tensor | tuple[Tensor, ...]:
    """``x * J^T (R / stab(z))`` for ``z = layer_fn(x)``; for a module of several inputs
    (an addition of a skip connection) each input gets its share,
    :math:`R_k = x_k \\odot J_k^T (R / z)`."""
    many = isinstance(x, tuple)
    with torch.enable_grad():
        leaves = tuple(t.detach().requires_grad_(True) for t in (x if many else (x,)))
        z = layer_fn(*leaves)
        grads = torch.autograd.grad(
            z, leaves, relevance / _stabilise(z.detach(), eps), allow_unused=True
        )
    shares = tuple(
        leaf.detach() * (torch.zeros_like(leaf) if c is None else c)
        for leaf, c in zip(leaves, grads)
    )
    return shares if many else shares[0]


def _one_input(rule: PropagationRule, module: nn.Module, x: object) -> None:
    if isinstance(x, tuple):
        raise AttributionTypeError(
            f"{type(rule).__name__} on {type(module).__name__} takes a module of one input, "
            f"but it was called with {len(x)} tensors; use EpsilonRule (or GammaRule, "
            "ZPlusRule) for a module that combines several inputs"
        )


class PropagationRule:
    """Base class: ``propagate(module, x, relevance) -> relevance of x``."""

    def propagate(self, module: nn.Module, x: Tensor, relevance: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class EpsilonRule(PropagationRule):
    """LRP-epsilon; ``epsilon`` absorbs weak or contradictory relevance."""

    def __init__(self, epsilon: float = 1e-9) -> None:
        self.epsilon = epsilon

    def params(self, module: nn.Module) -> dict[str, Tensor]:
        return dict(module.named_parameters(recurse=False))

    def propagate(self, module: nn.Module, x: Tensor, relevance: Tensor) -> Tensor:
        params = self.params(module)
        return _relevance(lambda *t: functional_call(module, params, t), x, relevance, self.epsilon)


class GammaRule(EpsilonRule):
    """LRP-gamma: weights and biases :math:`w + \\gamma w^+`."""

    def __init__(self, gamma: float = 0.25, epsilon: float = 1e-9) -> None:
        super().__init__(epsilon)
        self.gamma = gamma

    def params(self, module: nn.Module) -> dict[str, Tensor]:
        return {
            k: p + self.gamma * p.clamp(min=0) for k, p in module.named_parameters(recurse=False)
        }


class ZPlusRule(EpsilonRule):
    """LRP-z+: positive weights, no bias; meant for non-negative inputs (after a ReLU)."""

    def params(self, module: nn.Module) -> dict[str, Tensor]:
        return {
            k: p.clamp(min=0) if k != "bias" else torch.zeros_like(p)
            for k, p in module.named_parameters(recurse=False)
        }


class Alpha1Beta0Rule(EpsilonRule):
    """LRP-alpha1-beta0: only the positive contributions :math:`(x_i w_{ij})^+`, split as
    :math:`x^+ w^+ + x^- w^-`."""

    def propagate(self, module: nn.Module, x: Tensor, relevance: Tensor) -> Tensor:
        _one_input(self, module, x)
        own = dict(module.named_parameters(recurse=False))
        pos = {k: p.clamp(min=0) for k, p in own.items()}
        neg = {k: p.clamp(max=0) if k != "bias" else torch.zeros_like(p) for k, p in own.items()}
        with torch.enable_grad():
            xp = x.detach().clamp(min=0).requires_grad_(True)
            xn = x.detach().clamp(max=0).requires_grad_(True)
            z = functional_call(module, pos, (xp,)) + functional_call(module, neg, (xn,))
            cp, cn = torch.autograd.grad(
                z, (xp, xn), relevance / _stabilise(z.detach(), self.epsilon)
            )
        return xp.detach() * cp + xn.detach() * cn


class IdentityRule(PropagationRule):
    """Pass the relevance through unchanged (activations, dropout, reshapes)."""

    def propagate(self, module: nn.Module, x: Tensor, relevance: Tensor) -> Tensor:
        _one_input(self, module, x)
        if relevance.numel() != x.numel():
            raise AttributionValueError(
                f"IdentityRule on {type(module).__name__} needs as many outputs as inputs, "
                f"got input {tuple(x.shape)} and output {tuple(relevance.shape)}"
            )
        return relevance.reshape(x.shape)


LINEAR_TYPES = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
# every dropout (Dropout, Dropout1d/2d/3d, AlphaDropout) is the identity in eval mode
PASS_THROUGH_TYPES = (nn.ReLU, nn.Tanh, nn.modules.dropout._DropoutNd, nn.Identity, nn.Flatten)


def default_rule(module: nn.Module) -> PropagationRule | None:
    """Epsilon for linear maps and pooling, identity for activations and reshapes."""
    if isinstance(module, LINEAR_TYPES):
        return EpsilonRule()
    if isinstance(module, PASS_THROUGH_TYPES):
        return IdentityRule()
    return None
