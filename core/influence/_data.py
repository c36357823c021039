"""What the influence methods share: checkpoints (loaded safely, the model restored
afterwards), batches of ``(inputs..., labels)``, per-example losses and streaming top-k."""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from .._engine.batching import progress
from ..errors import AttributionTypeError, AttributionValueError


class KMostInfluentialResults(NamedTuple):
    """The ``k`` most influential training examples of each input: ``indices`` and
    ``influence_scores``, both ``(inputs, k)``, best first."""

    indices: Tensor
    influence_scores: Tensor


def load_flexible_state_dict(model: nn.Module, path: str) -> float:
    """Load a checkpoint into ``model`` and return its learning rate (1.0 if not saved).

    The file is read with ``torch.load(weights_only=True)``: a state dict, or a dict
    holding one under ``"model_state_dict"`` (and optionally ``"learning_rate"``). A
    ``module.`` prefix (``DataParallel``) is matched either way.
    """
    checkpoint = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(checkpoint, dict):
        raise AttributionTypeError(f"checkpoint {path} does not hold a state dict")
    learning_rate = float(checkpoint.get("learning_rate", 1.0))
    state = checkpoint.get("model_state_dict", checkpoint)
    own = model.state_dict()
    fixed = {}
    for key, value in state.items():
        if key in own:
            fixed[key] = value
        elif key.startswith("module.") and key[7:] in own:
            fixed[key[7:]] = value
        elif "module." + key in own:
            fixed["module." + key] = value
        else:
            fixed[key] = value
    model.load_state_dict(fixed)
    return learning_rate


def checkpoint_paths(checkpoints: Any) -> list[str]:
    """The checkpoint files: a folder (its files, sorted), one file, or a list of them."""
    if isinstance(checkpoints, str):
        if os.path.isdir(checkpoints):
            files = sorted(
                f for f in glob.glob(os.path.join(checkpoints, "*")) if os.path.isfile(f)
            )
            if not files:
                raise AttributionValueError(
                    "Invalid checkpoints provided for TracIn class: the `checkpoints` folder "
                    f"{checkpoints} holds no files"
                )
            return files
        return [checkpoints]
    try:
        files = [str(c) for c in checkpoints]
    except TypeError:
        raise AttributionTypeError(
            "`checkpoints` must be a folder, a file or a list of files, got "
            f"{type(checkpoints).__name__}"
        ) from None
    if not files:
        raise AttributionValueError(
            "Invalid checkpoints provided for TracIn class: `checkpoints` is an empty list"
        )
    return files


@contextlib.contextmanager
def restored(model: nn.Module) -> Iterator[None]:
    """Put ``model``'s weights, buffers and mode back on exit (checkpoints load into it)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        model.load_state_dict(state)
        for m, training in modes:
            m.training = training


def as_loader(data: Any, batch_size: int | None, name: str) -> Iterable:
    """A ``DataLoader`` (kept), a ``Dataset`` (batched by ``batch_size``, in order) or a
    tuple ``(inputs..., labels)`` (one batch)."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        return DataLoader(
            data, batch_size=batch_size if batch_size is not None else 1, shuffle=False
        )
    if (
        isinstance(data, (tuple, list))
        and data
        and all(isinstance(t, (Tensor, tuple, list)) for t in data)
    ):
        return [tuple(data)]
    raise AttributionTypeError(
        f"`{name}` must be a DataLoader, a Dataset or a tuple (inputs..., labels), got "
        f"{type(data).__name__}"
    )


def split_batch(batch: Any) -> tuple[tuple, Tensor]:
    """``(model inputs, labels)`` of a batch ``(inputs..., labels)``."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise AttributionValueError(
            "each batch must be a tuple (inputs..., labels) with at least two elements, got "
            f"{type(batch).__name__}"
        )
    return tuple(batch[:-1]), batch[-1]


def reduction_of(loss_fn: Any) -> str | None:
    """The ``reduction`` of a torch loss (``None`` for a plain function)."""
    return getattr(loss_fn, "reduction", None)


def batches(data: Iterable, show: bool, desc: str) -> Iterator[tuple[tuple, Tensor]]:
    total = len(data) if hasattr(data, "__len__") else None
    for batch in progress(data, show, desc, total):
        yield split_batch(batch)


def check_projection_dim(value: Any) -> int | None:
    """``projection_dim``: a positive int or ``None``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise AttributionValueError(
            f"`projection_dim` must be a positive int or None, got {value!r}"
        )
    return value


class TopK:
    """The ``k`` best scores per row seen so far, with their column indices, kept while
    the columns arrive block by block."""

    def __init__(self, k: int, largest: bool) -> None:
        self.k, self.largest = k, largest
        self.scores: Tensor | None = None
        self.indices: Tensor | None = None

    def add(self, scores: Tensor, offset: int) -> None:
        index = torch.arange(offset, offset + scores.shape[1], device=scores.device)
        index = index.expand(scores.shape[0], -1)
        if self.scores is not None:
            scores = torch.cat([self.scores, scores], 1)
            index = torch.cat([self.indices, index], 1)
        k = min(self.k, scores.shape[1])
        best, where = scores.topk(k, dim=1, largest=self.largest)
        self.scores, self.indices = best, index.gather(1, where)

    def result(self) -> KMostInfluentialResults:
        return KMostInfluentialResults(self.indices, self.scores)


__all__ = [
    "KMostInfluentialResults",
    "load_flexible_state_dict",
    "checkpoint_paths",
    "restored",
    "as_loader",
    "split_batch",
    "batches",
    "TopK",
    "reduction_of",
]
