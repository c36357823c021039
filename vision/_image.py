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
    float arrays and tensors go through it as tensors (its ``ToTensor`` step skipped).
    Bad input raises ``TypeError``/``ValueError`` naming ``img`` or ``transform``.
    """
    if transform is not None and not callable(transform):
        raise TypeError(
            "`transform` must be a callable (a torchvision transform), "
            f"got {type(transform).__name__}"
        )
    if isinstance(img, (str, Path)):
        from PIL import Image, UnidentifiedImageError

        path = Path(img)
        if not path.is_file():
            raise ValueError(f"`img` is a path that does not exist: {path}")
        try:
            img = Image.open(path)
            img.load()
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"`img` is not an image file PIL can read: {path} ({err})") from None
    if isinstance(img, np.ndarray):
        _check_array(img)
        if transform is not None and img.dtype == np.uint8 and _pil_compatible(img):
            from PIL import Image

            img = Image.fromarray(img)  # through the transform as a PIL image
    if type(img).__module__.startswith("PIL."):
        if transform is not None:
            pil = img.convert("RGB") if img.mode not in ("RGB", "L") else img
            return _checked(_apply(transform, pil, "a PIL image"), "transform(img)")
        img = _pil_to_array(img)
    if isinstance(img, np.ndarray):
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
    img = _checked(img, "img")
    if transform is not None:
        _check_normalize(transform, img.shape[1])
        img = _checked(_apply(_tensor_steps(transform), img, "a tensor"), "transform(img)")
    return img


def _check_array(img: np.ndarray) -> None:
    if img.dtype.kind not in "biuf":
        raise TypeError(f"`img` array must hold numbers, got dtype {img.dtype}")
    if img.ndim not in (2, 3):
        raise ValueError(f"`img` as an array must be HxW or HxWxC, got shape {img.shape}")
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[2] > 4:
        raise ValueError(
            f"`img` array has shape {img.shape}: arrays are read as HxWxC, and this looks like "
            "CxHxW; transpose it (img.transpose(1, 2, 0)) or pass a tensor"
        )


def _pil_compatible(img: np.ndarray) -> bool:
    return img.size > 0 and (img.ndim == 2 or img.shape[2] in (3, 4))


def _tensor_steps(transform: Any) -> Any:
    """The transform without its PIL-to-tensor steps, for an image that is a tensor already."""
    steps = getattr(transform, "transforms", None)
    if steps is None:
        return transform
    kept = [t for t in steps if type(t).__name__ not in ("ToTensor", "PILToTensor")]
    return lambda x: _compose(kept, x)


def _compose(steps: list, x: Tensor) -> Tensor:
    for step in steps:
        x = step(x)
    return x


def _check_normalize(transform: Any, channels: int) -> None:
    norm = find_normalize(transform)
    if norm is not None and len(norm[0]) not in (1, channels):
        raise ValueError(
            f"`img` has {channels} channel(s) but `transform` normalises {len(norm[0])}; "
            "give an image with as many channels as the transform expects"
        )


def _apply(transform: Any, img: Any, what: str) -> Any:
    try:
        return transform(img)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"`transform` failed on `img` (given as {what}): {err}") from err


def _checked(t: Any, name: str) -> Tensor:
    """A float batch ``(N, C, H, W)`` with at least one pixel and finite values."""
    if not isinstance(t, Tensor):
        raise TypeError(f"`{name}` must give a tensor, got {type(t).__name__}")
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4:
        raise ValueError(f"`{name}` has shape {tuple(t.shape)}; expected CxHxW or NxCxHxW")
    if t.numel() == 0:
        raise ValueError(f"`{name}` is empty (shape {tuple(t.shape)}); expected an image")
    if t.is_floating_point() and not torch.isfinite(t).all():
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return t


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
            f"`img` has {x.shape[1]} channel(s) but the model's first convolution takes {want}"
            f"{hint}; image batch shape {tuple(x.shape)}"
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
