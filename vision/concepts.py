"""Concepts made of images, for TCAV on image models (:mod:`perspicio.core.concept`):
from a folder of image files or from a tensor of images, and a figure of a concept's
scores against random concepts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from perspicio.core.concept import Concept, Significance

from ._image import to_batch

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class _ImageFiles(Dataset):
    """The image files of a folder, each read with :func:`~perspicio.vision._image.to_batch`."""

    def __init__(self, files: list[Path], transform: Any) -> None:
        self.files = files
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> Tensor:
        return to_batch(self.files[i], self.transform)[0]


def concept_from_folder(
    folder: str | Path,
    name: str | None = None,
    id: int = 0,
    transform: Any = None,
    batch_size: int = 32,
) -> Concept:
    """A concept whose examples are the images in ``folder`` (read lazily, batch by batch).

    Parameters
    ----------
    folder : str or Path
        A folder of image files (png, jpg, ...); every image must come out of
        ``transform`` with the same size.
    name : str, optional
        Defaults to the folder's name.
    id : int
        The concept's id (unique among the concepts of one interpreter).
    transform : callable, optional
        The model's preprocessing (a torchvision transform); without it pixels are scaled
        to [0, 1].
    batch_size : int

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(f"{folder}/{i}.png")
    >>> concept = concept_from_folder(folder, "grey", id=4)
    >>> concept.identifier, next(iter(concept.data_iter)).shape
    ('grey-4', torch.Size([3, 3, 8, 8]))
    """
    path = Path(folder)
    if not path.is_dir():
        raise ValueError(f"`folder` is not a folder: {folder}")
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in EXTENSIONS)
    if not files:
        raise ValueError(f"`folder` {folder} holds no image files ({', '.join(EXTENSIONS)})")
    loader = DataLoader(_ImageFiles(files, transform), batch_size=batch_size)
    return Concept(id, name if name is not None else path.name, loader)


def concept_from_images(images: Tensor, name: str, id: int = 0, batch_size: int = 64) -> Concept:
    """A concept whose examples are ``images`` ``(N, C, H, W)``, as the model takes them.

    Examples
    --------
    >>> import torch
    >>> concept_from_images(torch.rand(10, 3, 32, 32), "noise", id=7).identifier
    'noise-7'
    """
    if not isinstance(images, Tensor) or images.dim() != 4:
        raise ValueError(
            "`images` must be a tensor (N, C, H, W), got "
            f"{getattr(images, 'shape', type(images).__name__)}"
        )
    return Concept(id, name, DataLoader(images, batch_size=batch_size))


def plot_significance(
    results: Sequence[Significance] | dict[str, Significance], title: str | None = None
) -> Figure:
    """The scores of concepts against random concepts: per result, the concept's scores
    (one dot per random concept) beside the random concepts' scores, with the p-value.

    ``results`` are :class:`~perspicio.core.concept.Significance` objects (e.g. the values
    of :func:`~perspicio.core.concept.significance`, or one per target class).
    """
    items = list(results.values()) if isinstance(results, dict) else list(results)
    if not items or not all(isinstance(r, Significance) for r in items):
        raise TypeError("`results` must hold Significance objects (from `significance`)")
    fig = Figure(figsize=(1.8 + 1.6 * len(items), 3.4))
    ax = fig.add_subplot()
    for i, r in enumerate(items):
        for offset, values, colour in (
            (-0.15, r.scores, "tab:blue"),
            (0.15, r.random_scores, "tab:grey"),
        ):
            v = values.detach().float().cpu()
            ax.scatter(torch.full_like(v, i + offset), v, s=14, color=colour, alpha=0.7)
            ax.hlines(float(v.mean()), i + offset - 0.1, i + offset + 0.1, color=colour)
        star = " *" if r.significant else ""
        ax.annotate(
            f"p={r.p_value:.3g}{star}",
            (i, 1.02),
            ha="center",
            fontsize=8,
            xycoords=("data", "axes fraction"),
        )
    ax.set_xticks(range(len(items)), [f"{r.concept.name}\n{r.layer}" for r in items], fontsize=8)
    ax.set_xlim(-0.6, len(items) - 0.4)
    ax.set_ylabel("TCAV score")
    ax.scatter([], [], color="tab:blue", label="concept vs random")
    ax.scatter([], [], color="tab:grey", label="random vs random")
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, pad=18)
    fig.tight_layout()
    return fig


def random_concepts(
    pool: Tensor, n: int, size: int, first_id: int = 1000, seed: int = 0, batch_size: int = 64
) -> list[Concept]:
    """``n`` random concepts of ``size`` images each, drawn without replacement within a
    concept from ``pool`` ``(N, C, H, W)`` (e.g. images of the model's domain), with ids
    ``first_id, first_id + 1, ...``: the references a concept's TCAV score is tested
    against (:func:`~perspicio.core.concept.significance`).

    Examples
    --------
    >>> import torch
    >>> concepts = random_concepts(torch.rand(100, 3, 8, 8), n=3, size=20)
    >>> [c.identifier for c in concepts]
    ['random-1000', 'random-1001', 'random-1002']
    """
    if not isinstance(pool, Tensor) or pool.dim() != 4:
        got = getattr(pool, "shape", type(pool).__name__)
        raise ValueError(f"`pool` must be a tensor (N, C, H, W), got {got}")
    if size > len(pool):
        raise ValueError(f"`size` ({size}) is larger than the pool ({len(pool)} images)")
    generator = torch.Generator().manual_seed(seed)
    return [
        concept_from_images(
            pool[torch.randperm(len(pool), generator=generator)[:size]],
            "random",
            id=first_id + i,
            batch_size=batch_size,
        )
        for i in range(n)
    ]
