"""Deconvolution (Zeiler and Fergus, 2014, "Visualizing and Understanding ConvNets")."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from .._engine.hooks import replace_gradient
from .guided_backprop import ModifiedReluGradientAttribution


def deconvolution_relu(x: Tensor, apply: Callable[[Tensor], Tensor]) -> Tensor:
    """ReLU whose backward pass is ``max(g, 0)``, whatever the ReLU's input was."""
    return replace_gradient(x, apply(x), lambda g: g.clamp(min=0))


class Deconvolution(ModifiedReluGradientAttribution):
    r"""Deconvolution: through each ReLU, :math:`g_{in} = \max(g_{out}, 0)`.

    The backward pass ignores which units were active in the forward pass, as in the
    "deconvnet" of Zeiler and Fergus. Cost: one forward and one backward pass.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Deconvolution
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> Deconvolution(net).attribute(torch.randn(3, 4), target=0).shape
    torch.Size([3, 4])
    """

    _relu_call = staticmethod(deconvolution_relu)
