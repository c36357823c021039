"""Grad-CAM++ (Chattopadhay et al., 2018): Grad-CAM with pixel-wise weighted gradients."""

from __future__ import annotations

import torch
from torch import Tensor

from .layer_gradcam import LayerGradCam


class LayerGradCamPlusPlus(LayerGradCam):
    r"""Grad-CAM++: each channel is weighted by its positive gradients, each position
    weighted by :math:`\alpha`, which lets several instances of a class all show:

    .. math::
        w_c = \sum_{ij} \alpha^c_{ij}\, \mathrm{relu}(g^c_{ij}),\qquad
        \alpha^c_{ij} = \frac{(g^c_{ij})^2}{2 (g^c_{ij})^2 + \sum_{ab} A^c_{ab} (g^c_{ij})^3}

    (the second and third derivatives of :math:`\exp(S)` written with the first, as in the
    paper). Same arguments and cost as :class:`LayerGradCam`; Captum has no equivalent.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerGradCamPlusPlus
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerGradCamPlusPlus(net, net[1]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
    torch.Size([2, 1, 6, 6])
    """

    @staticmethod
    def channel_weights(grads: Tensor, acts: Tensor) -> Tensor:
        """Grad-CAM++'s channel weights."""
        dims = tuple(range(2, grads.dim()))
        g2, g3 = grads**2, grads**3
        denom = 2 * g2 + acts.sum(dims, keepdim=True) * g3
        alpha = g2 / torch.where(denom != 0, denom, torch.ones_like(denom))
        return (alpha * torch.relu(grads)).sum(dims, keepdim=True)
