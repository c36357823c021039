"""HiRes-CAM (Draelos and Carin, 2020): gradients times activations, position by position."""

from __future__ import annotations

from torch import Tensor

from .layer_gradcam import LayerGradCam


class LayerHiResCam(LayerGradCam):
    r"""HiRes-CAM: Grad-CAM without the averaging of the gradients over the positions,

    .. math:: L_{ij} = \sum_c \frac{\partial F}{\partial A_{c,ij}}\, A_{c,ij}

    so that, for a model whose head is a global average pool followed by a linear layer,
    the map sums to the class score (up to the bias) and shows exactly where the model
    looked. It is :class:`LayerGradientXActivation` summed over the channels. Same arguments
    and cost as :class:`LayerGradCam`.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerHiResCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerHiResCam(net, net[1]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
    torch.Size([2, 1, 6, 6])
    """

    @classmethod
    def weighted_activations(cls, grads: Tensor, acts: Tensor) -> Tensor:
        """Each activation times its own gradient."""
        return grads * acts
