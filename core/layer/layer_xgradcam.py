"""XGrad-CAM (Fu et al., 2020): Grad-CAM with activation-weighted gradients."""

from __future__ import annotations

from torch import Tensor

from .layer_gradcam import LayerGradCam

#: keeps an all-zero channel's weight finite (the value pytorch-grad-cam uses)
EPS = 1e-7


class LayerXGradCam(LayerGradCam):
    r"""XGrad-CAM: each channel's weight is its gradient averaged with the channel's own
    activations as weights, which makes the map satisfy the paper's sensitivity and
    conservation axioms for ReLU networks:

    .. math::
        L = \sum_c w_c A_c, \qquad
        w_c = \sum_{ij} \frac{A_{c,ij}}{\sum_{ab} A_{c,ab} + \epsilon}\,
              \frac{\partial F}{\partial A_{c,ij}}

    Same arguments (``relu_attributions``, ``attr_dim_summation``, ``reshape_transform``)
    and cost as :class:`LayerGradCam`: one forward and one backward pass.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerXGradCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerXGradCam(net, net[1]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
    torch.Size([2, 1, 6, 6])
    """

    @staticmethod
    def channel_weights(grads: Tensor, acts: Tensor) -> Tensor:
        """XGrad-CAM's weight of each channel."""
        dims = tuple(range(2, grads.dim()))
        total = acts.sum(dims, keepdim=True)
        return (grads * acts / (total + EPS)).sum(dims, keepdim=True)
