"""Which layer Grad-CAM should look at, and reshaping transformer tokens into maps."""

from __future__ import annotations

import weakref

import torch
from torch import Tensor, nn

from perspicio.core._hooks import preserved_state

_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def find_last_conv(
    model: nn.Module, input_size: tuple[int, int] = (224, 224), in_channels: int | None = None
) -> nn.Module:
    """The last block of the model that still has a spatial map: the layer Grad-CAM uses.

    The model runs once on a blank image with hooks on every submodule (removed after);
    the answer is the module, called once and not a pooling layer, that finished last with a
    4-D output larger than 1x1: ``layer4`` of a ResNet, ``features`` of VGG, DenseNet, MobileNet,
    EfficientNet and ConvNeXt.

    Examples
    --------
    >>> import torchvision
    >>> net = torchvision.models.resnet18()
    >>> find_last_conv(net) is net.layer4
    True
    """
    from ._image import expected_channels

    channels = in_channels or expected_channels(model)
    key = (tuple(input_size), channels)
    cached = _FOUND.get(model, {}).get(key)
    if cached is not None:
        return cached
    if channels is None:
        raise ValueError("the model has no Conv2d; give `layer` explicitly")
    finished: list[nn.Module] = []

    pooling = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d, nn.Dropout)

    def hook(module, args, out):
        spatial = isinstance(out, Tensor) and out.dim() == 4 and out.shape[-1] * out.shape[-2] > 1
        if module is not model and spatial and not isinstance(module, pooling):
            finished.append(module)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with preserved_state(model), torch.no_grad():
            model.eval()
            param = next(model.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            model(torch.zeros(1, channels, *input_size, device=device))
    finally:
        for h in handles:
            h.remove()
    calls = {m: finished.count(m) for m in finished}
    finished = [m for m in finished if calls[m] == 1]  # a reused module has no single output
    if not finished:
        raise ValueError("no layer of the model produced a spatial map; give `layer` explicitly")
    found = finished[-1]
    _FOUND.setdefault(model, {})[key] = found  # the same model and size give the same layer
    return found


def vit_reshape_transform(
    tokens: Tensor, height: int | None = None, width: int | None = None
) -> Tensor:
    """Token outputs ``(N, 1 + h*w, D)`` of a ViT block -> maps ``(N, D, h, w)``.

    The class token is dropped; a square grid is assumed unless ``height``/``width`` say.

    Examples
    --------
    >>> import torch
    >>> vit_reshape_transform(torch.randn(2, 1 + 14 * 14, 768)).shape
    torch.Size([2, 768, 14, 14])
    """
    patches = tokens[:, 1:, :]
    count = patches.shape[1]
    if height is None or width is None:
        side = int(round(count**0.5))
        if side * side != count:
            raise ValueError(
                f"{count} patch tokens do not form a square grid; pass height and width"
            )
        height = width = side
    return patches.reshape(tokens.shape[0], height, width, -1).permute(0, 3, 1, 2)
