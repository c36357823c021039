"""The training images that most influenced a prediction, shown next to the image
(TracIn, :mod:`perspicio.core.influence`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from perspicio.core.influence import TracInCP, TracInCPFast, last_linear

from .visualize import original_image

METHODS = ("tracin_fast", "tracin")


def _training_image(train: Any, i: int) -> Tensor:
    if isinstance(train, (tuple, list)):
        return train[0][i]
    item = train[i]
    return item[0] if isinstance(item, (tuple, list)) else item


def _training_label(train: Any, i: int) -> int:
    if isinstance(train, (tuple, list)):
        return int(train[-1][i])
    return int(train[i][-1])


@dataclass
class InfluentialImages:
    """For each explained image, the ``k`` training images with the largest influence on
    the loss at its label (proponents) or the most negative (opponents)."""

    images: Tensor
    labels: list[int]
    indices: Tensor
    scores: Tensor
    train: Any
    class_names: list[str] | None = None
    opponents: bool = False

    def _name(self, label: int) -> str:
        return self.class_names[label] if self.class_names else str(label)

    def plot(self) -> Figure:
        """One row per explained image: the image, then its training images with their
        label and influence."""
        n, k = self.indices.shape
        fig = Figure(figsize=(1.9 * (k + 1), 2.1 * n))
        axes = fig.subplots(n, k + 1, squeeze=False)
        for r in range(n):
            original_image(
                self.images[r], title=f"explained: {self._name(self.labels[r])}", ax=axes[r, 0]
            )
            for j in range(k):
                i = int(self.indices[r, j])
                original_image(
                    _training_image(self.train, i),
                    ax=axes[r, j + 1],
                    title=f"#{i} {self._name(_training_label(self.train, i))}\n"
                    f"{float(self.scores[r, j]):.3g}",
                )
        for ax in axes.flat:
            ax.title.set_fontsize(8)
        fig.suptitle(
            "training images that most "
            + ("oppose" if self.opponents else "support")
            + " each prediction",
            fontsize=9,
        )
        fig.tight_layout()
        return fig


def influential_images(
    model: nn.Module,
    images: Tensor,
    train: Any,
    checkpoints: Any,
    labels: Any = None,
    k: int = 5,
    method: str = "tracin_fast",
    opponents: bool = False,
    batch_size: int = 64,
    class_names: list[str] | None = None,
) -> InfluentialImages:
    """The training images that most influenced the prediction for each of ``images``.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier (logits out).
    images : tensor ``(N, C, H, W)`` or ``(C, H, W)``
    train : tuple ``(images, labels)`` of tensors, or a Dataset of ``(image, label)``
        The training data, in a fixed order (indices refer to it).
    checkpoints : str or list of str
        Checkpoint files saved while training (a folder, a file or a list), loaded
        ``weights_only``; with only the final weights, a single file.
    labels : list of int, optional
        The labels to explain; by default the model's predictions.
    method : {"tracin_fast", "tracin"}
        The last linear layer in closed form, or every parameter.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    >>> path = os.path.join(tempfile.mkdtemp(), "final.pt")
    >>> torch.save(net.state_dict(), path)
    >>> train = (torch.rand(20, 3, 8, 8), torch.randint(0, 2, (20,)))
    >>> found = influential_images(net, torch.rand(2, 3, 8, 8), train, path, k=3)
    >>> found.indices.shape, len(found.plot().axes)
    (torch.Size([2, 3]), 8)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}")
    if not isinstance(images, Tensor) or images.dim() not in (3, 4):
        got = getattr(images, "shape", type(images).__name__)
        raise ValueError(f"`images` must be a tensor (N, C, H, W) or (C, H, W), got {got}")
    if not isinstance(train, (tuple, list, Dataset)):
        raise TypeError(
            f"`train` must be a tuple (images, labels) or a Dataset, got {type(train).__name__}"
        )
    x = images if images.dim() == 4 else images.unsqueeze(0)
    if labels is None:
        with torch.no_grad():
            y = model(x).argmax(1)
    else:
        y = torch.as_tensor(labels).reshape(len(x))
    data = TensorDataset(*train) if isinstance(train, (tuple, list)) else train
    if method == "tracin_fast":
        tracin = TracInCPFast(
            model,
            last_linear(model),
            data,
            checkpoints,
            batch_size=batch_size,
            loss_fn=nn.CrossEntropyLoss(reduction="sum"),
        )
    else:
        tracin = TracInCP(
            model,
            data,
            checkpoints,
            batch_size=batch_size,
            loss_fn=nn.CrossEntropyLoss(reduction="none"),
        )
    top = tracin.influence((x, y), k=k, proponents=not opponents)
    return InfluentialImages(
        x, y.tolist(), top.indices, top.influence_scores, train, class_names, opponents
    )
