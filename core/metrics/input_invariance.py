r"""Input invariance (Kindermans et al., 2019, "The (un)reliability of saliency methods").

Two models that compute the same function of their own inputs should get the same
explanation: the second sees every input shifted by a constant, :math:`x + m`, and its
first layer's bias absorbs the shift (:math:`b_2 = b_1 - W m`), so :math:`f_2(x + m) =
f_1(x)`. A method is input invariant on an example when its attributions for the two agree.
Saliency is; input x gradient and Integrated Gradients from a zero baseline are not.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import AttributionTypeError, AttributionValueError


def shifted_model(model: nn.Module, shift: float) -> nn.Module:
    """A copy of ``model`` whose first layer absorbs an input shift of ``shift``: the copy
    at ``x + shift`` computes what ``model`` computes at ``x``. The first layer must be a
    ``nn.Linear`` or an unpadded convolution (where the shift's effect is one value per
    output channel); the user's model is not changed."""
    if not isinstance(model, nn.Module):
        raise AttributionTypeError(f"`model` must be an nn.Module, got {type(model).__name__}")
    copied = copy.deepcopy(model)
    first = next(
        (
            m
            for m in copied.modules()
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))
        ),
        None,
    )
    if first is None or first.bias is None:
        raise AttributionValueError(
            "input invariance shifts the first layer's bias: the model needs a first "
            "nn.Linear or convolution with a bias"
        )
    if isinstance(first, nn.Linear):
        delta = first.weight.sum(1) * shift
    else:
        padded = (
            first.padding != "valid"
            if isinstance(first.padding, str)
            else any(p != 0 for p in first.padding)
        )
        if padded:
            raise AttributionValueError(
                f"input invariance needs an unpadded first convolution (the shift's effect "
                f"varies at padded borders), got padding={first.padding!r}"
            )
        delta = first.weight.sum(tuple(range(1, first.weight.dim()))) * shift
    with torch.no_grad():
        first.bias.sub_(delta)
    return copied


def input_invariance(
    method_factory: Callable[[nn.Module], Any],
    model: nn.Module,
    inputs: Tensor,
    target: Any = None,
    *,
    shift: float = -1.0,
    atol: float = 1e-4,
    **attribute_kwargs: Any,
) -> Tensor:
    """1.0 where the method's attributions of ``model`` at ``x`` and of its shifted copy at
    ``x + shift`` agree within ``atol`` everywhere, else 0.0, per example. Higher is
    better.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import InputXGradient, Saliency
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> x = torch.randn(3, 4)
    >>> input_invariance(Saliency, net, x, target=1).tolist()
    [1.0, 1.0, 1.0]
    >>> input_invariance(InputXGradient, net, x, target=1).tolist()
    [0.0, 0.0, 0.0]
    """
    shifted = shifted_model(model, shift)
    a = method_factory(model).attribute(inputs, target=target, **attribute_kwargs)
    b = method_factory(shifted).attribute(inputs + shift, target=target, **attribute_kwargs)
    a, b = a.detach(), b.detach()
    close = torch.isclose(a, b, atol=atol).reshape(a.shape[0], -1).all(1)
    return close.to(torch.float64)
