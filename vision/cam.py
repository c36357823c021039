"""Which layer Grad-CAM should look at, and reshaping transformer tokens into maps."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from perspicio.core.frontend import CallHooks, preserved_state

from .detection_target import detections_of
from .segmentation_target import class_map

_FOUND: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

#: layers whose output is a map but not a place for a CAM
POOLING = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AvgPool2d, nn.MaxPool2d, nn.Dropout)


def _called_once(modules: list[nn.Module]) -> set[nn.Module]:
    """The modules that ran once (a reused module has no single output)."""
    counts: dict[nn.Module, int] = {}
    for m in modules:
        counts[m] = counts.get(m, 0) + 1
    return {m for m, c in counts.items() if c == 1}


@contextlib.contextmanager
def _watched(model: nn.Module, hook: Callable) -> Iterator[torch.device]:
    """``hook`` on every module of ``model`` for this call's passes only, the model in eval
    mode (restored after); yields the model's device."""
    with CallHooks() as hooks, preserved_state(model):
        for m in model.modules():
            hooks.forward(m, hook)
        model.eval()
        param = next(model.parameters(), None)
        yield param.device if param is not None else torch.device("cpu")


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

    def hook(module, args, out):
        spatial = (
            isinstance(out, Tensor)
            and out.dim() == 4
            and out.shape[0] == 1
            and out.shape[-1] * out.shape[-2] > 1
        )  # one map per image: not RoI crops
        if module is not model and spatial and not isinstance(module, POOLING):
            finished.append(module)

    with _watched(model, hook) as device, torch.no_grad():
        model(torch.zeros(1, channels, *input_size, device=device))
    once = _called_once(finished)
    finished = [m for m in finished if m in once]
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
    count = tokens.shape[1] - 1
    if height is None or width is None:
        side = int(round(count**0.5))
        if side * side != count:
            raise ValueError(
                f"{count} patch tokens do not form a square grid; pass height and width"
            )
        height = width = side
    return TokenGrid(height, width, prefix=1)(tokens)


def logits_of(out: Any) -> Tensor:
    """A classifier's output as a tensor: the tensor itself, or the ``logits`` of a Hugging
    Face ``ModelOutput`` (or of a dict)."""
    if isinstance(out, Tensor):
        return out
    logits = out.get("logits") if isinstance(out, dict) else getattr(out, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    raise TypeError(
        f"the model returned {type(out).__name__}; vision.explain needs logits (N, classes): "
        "a tensor, or an output with a `logits` tensor (Hugging Face's ModelOutput)"
    )


class Logits(nn.Module):
    """``model`` with its output turned into the logits tensor (:func:`logits_of`); the
    model's own modules are this module's, so layer hooks and modes reach them."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: Any, **kwargs: Any) -> Tensor:  # noqa: D102
        return logits_of(self.model(*args, **kwargs))


class TokenGrid:
    """Tokens ``(N, prefix + h*w, D)`` -> maps ``(N, D, h, w)``: the ``prefix`` tokens
    (class, distillation, register tokens) are dropped, the rest laid on the patch grid.

    Examples
    --------
    >>> import torch
    >>> TokenGrid(14, 14, prefix=2)(torch.randn(1, 2 + 196, 192)).shape
    torch.Size([1, 192, 14, 14])
    """

    def __init__(self, height: int, width: int, prefix: int = 1) -> None:
        self.height, self.width, self.prefix = height, width, prefix

    def __call__(self, tokens: Tensor) -> Tensor:
        patches = tokens[:, self.prefix :, :]
        return patches.reshape(tokens.shape[0], self.height, self.width, -1).permute(0, 3, 1, 2)

    def __repr__(self) -> str:
        return f"TokenGrid({self.height}, {self.width}, prefix={self.prefix})"


#: the most tokens besides the patches a vision transformer carries (class, distillation,
#: registers)
MAX_PREFIX = 8

_FOUND_CAM: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def find_cam_layer(
    model: nn.Module, input_size: tuple[int, int] = (224, 224), in_channels: int | None = None
) -> tuple[nn.Module, TokenGrid | None]:
    """The layer a CAM should use, and how to turn its output into maps (None for a CNN).

    For a CNN it is :func:`find_last_conv`'s layer. For a vision transformer (token outputs
    ``(N, prefix + h*w, D)`` after the patch embedding's ``h x w`` grid) the model runs once
    forward and backward on a random image, and the layer is the last normalisation layer
    (else the last module) whose *patch* tokens still receive a gradient: in the last block
    only the class token reaches the head, so its outputs are useless to a CAM and the
    block's first norm is chosen (``encoder.layers[-1].ln_1`` of torchvision's ViT,
    ``layernorm_before`` of Hugging Face's, ``norm1`` of timm's). For a segmentation model
    it is the last feature map before the class maps; for torchvision's detectors, the last
    stage of the backbone, which feeds every level of the feature pyramid.

    Examples
    --------
    >>> import torchvision
    >>> vit = torchvision.models.VisionTransformer(32, 8, 2, 2, 16, 32, num_classes=3)
    >>> layer, grid = find_cam_layer(vit, (32, 32))
    >>> layer is vit.encoder.layers[-1].ln_1, grid
    (True, TokenGrid(4, 4, prefix=1))
    """
    from ._image import expected_channels

    channels = in_channels or expected_channels(model)
    key = (tuple(input_size), channels)
    cached = _FOUND_CAM.get(model, {}).get(key)
    if cached is not None:
        return cached
    if channels is None:
        raise ValueError("the model has no Conv2d; give `layer` explicitly")
    order: list[tuple[nn.Module, Tensor]] = []
    head_inputs: dict[int, Tensor] = {}  # id of a 2-D output -> the module's input

    def hook(module, args, out):
        if module is not model and isinstance(out, Tensor) and out.dim() in (3, 4):
            order.append((module, out))
        if (
            module is not model
            and isinstance(out, Tensor)
            and out.dim() == 2
            and args
            and isinstance(args[0], Tensor)
        ):
            head_inputs[id(out)] = args[0]

    with _watched(model, hook) as device, torch.enable_grad():
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, channels, *input_size, generator=g).to(device)
        out = model(x.requires_grad_(True))
        maps = class_map(out)  # a segmentation model's class maps
        detector = detections_of(out) is not None
        logits = maps if maps is not None or detector else logits_of(out)
        # the head's input, when the logits come from one module: a head initialised at
        # zero (torchvision's ViT) would pass no gradient from the logits themselves
        features = head_inputs.get(id(logits), logits)
        grid = _token_grid(order)
        if detector:  # the backbone's last stage, which feeds every pyramid level
            backbone = getattr(model, "backbone", None)
            body = getattr(backbone, "body", backbone)  # FPN backbones keep theirs in .body
            found = (
                find_last_conv(
                    body if isinstance(body, nn.Module) else model, input_size, channels
                ),
                None,
            )
        elif maps is not None:  # the last feature map before the class maps
            found = (_last_feature_map(order, maps.shape[1]), None)
        elif grid is None:
            found: tuple[nn.Module, TokenGrid | None] = (
                find_last_conv(model, input_size, channels),
                None,
            )
        else:
            found = (_last_token_layer(order, features, grid, g), grid)

    _FOUND_CAM.setdefault(model, {})[key] = found
    return found


def _last_feature_map(order: list[tuple[nn.Module, Tensor]], n_classes: int) -> nn.Module:
    """A segmentation model's CAM layer: the last module, called once, with a spatial map
    that is not the class maps themselves (the head's features, e.g. DeepLabV3's ASPP)."""
    once = _called_once([m for m, _ in order])
    maps = [
        m
        for m, o in order
        if o.dim() == 4
        and o.shape[1] != n_classes
        and m in once
        and o.shape[-1] * o.shape[-2] > 1
        and not isinstance(m, POOLING)
    ]
    if not maps:
        raise ValueError("no layer of the model produced a feature map; give `layer`")
    return maps[-1]


def _token_grid(order: list[tuple[nn.Module, Tensor]]) -> TokenGrid | None:
    """The patch grid, when token outputs ``(1, T, D)`` follow a spatial map (the patch
    embedding's): the last map before the first tokens gives ``h x w``, the blocks' token
    count the prefix. Attention's own 4-D tensors, after the first tokens, are not maps."""
    first_tokens = next(
        (i for i, (_, o) in enumerate(order) if o.dim() == 3 and o.shape[0] == 1), None
    )
    if first_tokens is None:
        return None
    maps = [o for _, o in order[:first_tokens] if o.dim() == 4 and o.shape[0] == 1]
    if not maps:
        return None
    h, w = maps[-1].shape[-2:]
    later_tokens = [o for _, o in order[first_tokens:] if o.dim() == 3 and o.shape[0] == 1]
    for tokens in reversed(later_tokens):  # the blocks' tokens, not the bare patch embedding
        prefix = tokens.shape[1] - h * w
        if 0 <= prefix <= MAX_PREFIX:
            return TokenGrid(int(h), int(w), int(prefix))
    return None


def _last_token_layer(order, features: Tensor, grid: TokenGrid, g: torch.Generator) -> nn.Module:
    """The last norm layer (else module) called once whose patch tokens reach ``features``."""
    once = _called_once([m for m, _ in order])
    tokens = [
        (m, o)
        for m, o in order
        if o.dim() == 3
        and o.shape[1] == grid.prefix + grid.height * grid.width
        and m in once
        and o.requires_grad
    ]
    if not tokens:
        raise ValueError("no layer of the model outputs patch tokens; give `layer` explicitly")
    weights = torch.randn(features.shape, generator=g).to(features.device)
    grads = torch.autograd.grad(
        (features * weights).sum(), [o for _, o in tokens], allow_unused=True
    )
    alive = [
        m
        for (m, _), gr in zip(tokens, grads)
        if gr is not None and bool(gr[:, grid.prefix :].abs().amax() > 0)
    ]
    if not alive:
        raise ValueError("no token layer's patch tokens reach the output; give `layer`")
    norms = [m for m in alive if "norm" in type(m).__name__.lower()]
    return (norms or alive)[-1]
