"""The shapes scenes: images that each hold one class-defining shape over clutter, with the
shape's mask (and so its box and pixel classes) known, so that explanations can be scored
against the truth."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

SHAPES = ("circle", "square", "triangle", "cross")


def _shape_mask(kind: int, size: int, cy: int, cx: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    dy, dx = yy - cy, xx - cx
    if kind == 0:
        return dy**2 + dx**2 <= r**2
    if kind == 1:
        return (np.abs(dy) <= r - 1) & (np.abs(dx) <= r - 1)
    if kind == 2:
        return (dy <= r - 1) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    return ((np.abs(dy) <= 1) & (np.abs(dx) <= r)) | ((np.abs(dx) <= 1) & (np.abs(dy) <= r))


def add_clutter(image: np.ndarray, rng: np.random.Generator, strokes: int = 4) -> None:
    """Draw ``strokes`` short thin strokes of random colours on ``image`` ``(size, size, 3)``
    (in place): the clutter every shapes scene has."""
    size = image.shape[0]
    for _ in range(strokes):
        y, x = rng.integers(0, size, 2)
        length = rng.integers(3, 7)
        colour = rng.uniform(0.2, 0.9, 3)
        if rng.random() < 0.5:
            image[y, x : x + length] = colour
        else:
            image[y : y + length, x] = colour


def shapes_dataset(n: int, size: int = 32, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` images ``(n, 3, size, size)`` in [0, 1], labels ``(n,)`` (circle, square,
    triangle, cross) and the shapes' masks ``(n, size, size)``.

    Each image is dark noise with a few thin random strokes (clutter) and one bright
    shape of radius 5 to 7 at a random place.
    """
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 0.25, (n, size, size, 3))
    labels = rng.integers(0, len(SHAPES), n)
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        add_clutter(images[i], rng)
        r = int(rng.integers(5, 8))
        cy, cx = rng.integers(r + 1, size - r - 1, 2)
        masks[i] = _shape_mask(int(labels[i]), size, cy, cx, r)
        images[i][masks[i]] = rng.uniform(0.6, 1.0, 3)
    x = torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels), torch.tensor(masks)


def shape_concept_images(shape: str | None, n: int, size: int = 32, seed: int = 0) -> Tensor:
    """``n`` images ``(n, 3, size, size)`` of one shape (a name of :data:`SHAPES`) in
    colours and sizes the shapes dataset does not use: any hue of brightness 0.3 to 1.0,
    radius 3 to 9, on the dataset's dark noise with clutter. Examples of a concept for
    TCAV on :func:`shapes_model`; with ``shape=None`` each image holds a shape drawn at
    random, the pool of random concepts that differ from a shape's concept in nothing but
    the shape."""
    if shape is not None and shape not in SHAPES:
        raise ValueError(f"`shape` must be one of {SHAPES} or None, got {shape!r}")
    rng = np.random.default_rng(seed)
    if shape is None:
        kinds = rng.integers(0, len(SHAPES), n)
    else:
        kinds = np.full(n, SHAPES.index(shape))
    images = rng.uniform(0, 0.25, (n, size, size, 3))
    for i in range(n):
        add_clutter(images[i], rng)
        r = int(rng.integers(3, 10))
        cy, cx = rng.integers(r + 1, size - r - 1, 2)
        colour = rng.uniform(0.0, 1.0, 3)
        colour = colour / colour.max() * rng.uniform(0.3, 1.0)
        images[i][_shape_mask(int(kinds[i]), size, cy, cx, r)] = colour
    return torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2).contiguous()


def shapes_pixel_labels(labels: Tensor, masks: Tensor) -> Tensor:
    """Per-pixel classes of the shapes scenes: 0 for the background, ``1 + shape`` on it."""
    return torch.where(masks, labels.view(-1, 1, 1) + 1, torch.zeros_like(labels).view(-1, 1, 1))


def shapes_boxes(masks: Tensor) -> Tensor:
    """Each scene's shape box ``(x0, y0, x1, y1)`` in pixels (edges excluded), from its mask."""
    boxes = []
    for m in masks:
        rows, cols = torch.nonzero(m, as_tuple=True)
        boxes.append(torch.stack([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]))
    return torch.stack(boxes).float()
