"""Every accepted image form -> a float batch ``(N, C, H, W)``, and back for display."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

ImageLike = Any  # PIL image, HxW / HxWxC array, CxHxW / NxCxHxW tensor, or a path


def _pil_to_array(img: Any) -> np.ndarray:
    if img.mode not in ("RGB", "L", "RGBA"):
        img = img.convert("RGB")
    if img.mode == "RGBA":
        img = img.convert("RGB")
    return np.asarray(img)


def to_batch(img: ImageLike, transform: Any = None) -> Tensor:
    """The image as a float batch ``(N, C, H, W)``.

    Without ``transform`` pixels are scaled to [0, 1] (uint8 divided by 255; float arrays
    and tensors taken as they are), like torchvision's ``ToTensor``. With ``transform`` (a
    torchvision transform), PIL images, paths and uint8 arrays go through it as PIL images;
    float arrays and tensors go through it as tensors.
    """
    if isinstance(img, (str, Path)):
        from PIL import Image

        path = Path(img)
        if not path.exists():
            raise ValueError(f"`img` is a path that does not exist: {path}")
        img = Image.open(path)
        img.load()
    if type(img).__module__.startswith("PIL."):
        if transform is not None:
            out = transform(img.convert("RGB") if img.mode not in ("RGB", "L") else img)
            return _batched(out, "transform(img)")
        img = _pil_to_array(img)
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(f"`img` as an array must be HxW or HxWxC, got shape {img.shape}")
        if transform is not None and img.dtype == np.uint8:
            from PIL import Image

            return _batched(transform(Image.fromarray(img)), "transform(img)")
        arr = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
        t = torch.from_numpy(np.ascontiguousarray(arr))
        img = t.unsqueeze(0) if t.dim() == 2 else t.permute(2, 0, 1)
    if not isinstance(img, Tensor):
        raise TypeError(
            "`img` must be a PIL image, a numpy array (HxW or HxWxC), a tensor (CxHxW or "
            f"NxCxHxW) or a path, got {type(img).__name__}"
        )
    if img.dtype == torch.uint8:
        img = img.float() / 255.0
    if not img.is_floating_point():
        raise TypeError(f"`img` tensor must be float or uint8, got {img.dtype}")
    if transform is not None:
        img = transform(img)
    return _batched(img, "img")


def _batched(t: Any, name: str) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must give a tensor, got {type(t).__name__}")
    if t.dim() == 3:
        return t.unsqueeze(0)
    if t.dim() == 4:
        return t
    raise ValueError(f"{name} has shape {tuple(t.shape)}; expected CxHxW or NxCxHxW")


def expected_channels(model: nn.Module) -> int | None:
    """The channel count the model's first convolution takes, if it has one."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return None


def check_channels(model: nn.Module, x: Tensor) -> None:
    want = expected_channels(model)
    if want is not None and x.shape[1] != want:
        hint = " (a grey image? convert it to RGB first)" if x.shape[1] == 1 else ""
        raise ValueError(
            f"the model's first convolution takes {want} channel(s) but the image has "
            f"{x.shape[1]}{hint}; image batch shape {tuple(x.shape)}"
        )


def find_normalize(transform: Any) -> tuple[Tensor, Tensor] | None:
    """The (mean, std) of a ``Normalize`` inside a torchvision transform, if any."""
    if transform is None:
        return None
    parts = getattr(transform, "transforms", [transform])
    for t in parts:
        if type(t).__name__ == "Normalize":
            return torch.as_tensor(t.mean, dtype=torch.float32), torch.as_tensor(
                t.std, dtype=torch.float32
            )
    return None


def to_display(x: Tensor, transform: Any = None) -> Tensor:
    """Undo the transform's normalisation: pixels in [0, 1], ``(N, C, H, W)``."""
    norm = find_normalize(transform)
    if norm is not None:
        mean, std = (v.to(x.device).view(1, -1, 1, 1) for v in norm)
        x = x * std + mean
    return x.clamp(0, 1)
