"""Layer-CAM (Jiang et al., 2021): activations weighted by their positive gradients."""

from __future__ import annotations

import torch
from torch import Tensor

from .layer_gradcam import LayerGradCam


class LayerLayerCam(LayerGradCam):
    r"""Layer-CAM: each activation is weighted by its own positive gradient,

    .. math::
        L_{ij} = \sum_c \mathrm{relu}\!\left(\frac{\partial F}{\partial A_{c,ij}}\right)
                 A_{c,ij}

    which keeps fine detail when applied to early (high-resolution) layers, where Grad-CAM's
    averaged weights blur. Same arguments and cost as :class:`LayerGradCam`.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerLayerCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerLayerCam(net, net[1]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
    torch.Size([2, 1, 6, 6])
    """

    @classmethod
    def weighted_activations(cls, grads: Tensor, acts: Tensor) -> Tensor:
        """Each activation times its positive gradient."""
        return torch.relu(grads) * acts
