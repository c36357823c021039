"""Where a concept's activations are kept on disk: one file per (model, concept, layer,
batch) under ``<path>/av/<model_id>/<concept identifier>/<layer>/<num_id>.pt``, read back
with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import glob
import os
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset


class AV:
    """The activation store (Captum's ``AV``): static functions over a folder.

    Examples
    --------
    >>> import tempfile, torch
    >>> with tempfile.TemporaryDirectory() as d:
    ...     AV.save(d, "net", "stripes-0", "layer3", torch.ones(4, 10), "0")
    ...     data = AV.load(d, "net", "stripes-0", "layer3")
    ...     AV.exists(d, "net", "stripes-0", "layer3"), len(data), tuple(data[0].shape)
    (True, 1, (4, 10))
    """

    AV_DIR_NAME = "av"

    class AVDataset(Dataset):
        """The stored batches matching a model (and optionally a concept, a layer, a batch
        id); each item is one stored batch of activations ``(rows, features)``."""

        def __init__(
            self,
            path: str,
            model_id: str,
            identifier: str | None = None,
            layer: str | None = None,
            num_id: str | None = None,
        ) -> None:
            pattern = AV._file_path(path, model_id, identifier, layer, num_id)
            self.files = sorted(glob.glob(pattern), key=AV._sort_key)

        def __len__(self) -> int:
            return len(self.files)

        def __getitem__(self, i: int) -> Tensor:
            return torch.load(self.files[i], weights_only=True)

    @staticmethod
    def _model_dir(path: str, model_id: str) -> str:
        return os.path.join(path, AV.AV_DIR_NAME, model_id)

    @staticmethod
    def _file_path(
        path: str, model_id: str, identifier: str | None, layer: str | None, num_id: str | None
    ) -> str:
        return os.path.join(
            AV._model_dir(path, model_id),
            identifier or "*",
            layer or "*",
            f"{num_id}.pt" if num_id is not None else "*.pt",
        )

    @staticmethod
    def _sort_key(file: str) -> tuple:
        stem = os.path.splitext(os.path.basename(file))[0]
        return (os.path.dirname(file), int(stem) if stem.isdigit() else stem)

    @staticmethod
    def exists(
        path: str,
        model_id: str,
        identifier: str | None = None,
        layer: str | None = None,
        num_id: str | None = None,
    ) -> bool:
        """Whether activations matching the given keys are stored."""
        return bool(glob.glob(AV._file_path(path, model_id, identifier, layer, num_id)))

    @staticmethod
    def save(
        path: str,
        model_id: str,
        identifier: str,
        layers: str | list[str],
        act_tensors: Tensor | list[Tensor],
        num_id: str,
    ) -> None:
        """Store one batch of activations per layer (``layers`` and ``act_tensors`` pair up)."""
        layers = [layers] if isinstance(layers, str) else list(layers)
        tensors = [act_tensors] if isinstance(act_tensors, Tensor) else list(act_tensors)
        if len(layers) != len(tensors):
            raise ValueError(
                f"`layers` names {len(layers)} layers but {len(tensors)} activations were given"
            )
        for layer, t in zip(layers, tensors):
            file = AV._file_path(path, model_id, identifier, layer, num_id)
            os.makedirs(os.path.dirname(file), exist_ok=True)
            torch.save(t.detach().cpu(), file)

    @staticmethod
    def load(
        path: str,
        model_id: str,
        identifier: str | None = None,
        layer: str | None = None,
        num_id: str | None = None,
    ) -> Any:
        """An :class:`AV.AVDataset` of the matching stored batches, or ``None``."""
        if not AV.exists(path, model_id, identifier, layer, num_id):
            return None
        return AV.AVDataset(path, model_id, identifier, layer, num_id)
