"""A concept activation vector: the normal of the boundary a linear classifier draws
between the activations of an experimental set's concepts in one layer."""

from __future__ import annotations

import os
from typing import Any

import torch

from .concept import Concept, concepts_to_str


class CAV:
    """The CAVs of one experimental set (``concepts``) in one ``layer``.

    ``stats`` holds the classifier's ``"weights"`` (one row per class), its ``"classes"``
    (the concept ids, in the order of the rows) and whatever it reported (``"accs"``: the
    held-out accuracy of the default classifier). With a ``save_path``, :meth:`save`
    writes them to ``<save_path>/<model_id>/<ids>-<layer>.pt``.

    Examples
    --------
    >>> import torch
    >>> cav = CAV([Concept(0, "a", None), Concept(1, "b", None)], "fc1",
    ...           {"weights": torch.eye(2), "classes": [0, 1]}, save_path=None)
    >>> cav.stats["classes"]
    [0, 1]
    """

    def __init__(
        self,
        concepts: list[Concept],
        layer: str,
        stats: dict[str, Any] | None = None,
        save_path: str | None = "./cav/",
        model_id: str = "default_model_id",
    ) -> None:
        self.concepts = concepts
        self.layer = layer
        self.stats = stats
        self.save_path = save_path
        self.model_id = model_id

    @staticmethod
    def assemble_save_path(path: str, model_id: str, concepts: list[Concept], layer: str) -> str:
        """The file of a set's CAV in a layer."""
        return os.path.join(path, model_id, f"{concepts_to_str(concepts)}-{layer}.pt")

    def save(self) -> None:
        """Write the CAV (ids, names, layer, stats) under ``save_path``; nothing without one."""
        if self.save_path is None:
            return
        file = self.assemble_save_path(self.save_path, self.model_id, self.concepts, self.layer)
        os.makedirs(os.path.dirname(file), exist_ok=True)
        torch.save(
            {
                "concept_ids": [c.id for c in self.concepts],
                "concept_names": [c.name for c in self.concepts],
                "layer": self.layer,
                "stats": self.stats,
            },
            file,
        )

    @staticmethod
    def create_cav_dir_if_missing(save_path: str, model_id: str) -> None:
        """Make ``<save_path>/<model_id>``."""
        os.makedirs(os.path.join(save_path, model_id), exist_ok=True)

    @staticmethod
    def load(
        cavs_path: str | None, model_id: str, concepts: list[Concept], layer: str
    ) -> CAV | None:
        """The stored CAV of ``concepts`` in ``layer``, or ``None`` (``weights_only`` load)."""
        path = cavs_path
        if path is None:
            return None
        file = CAV.assemble_save_path(path, model_id, concepts, layer)
        if not os.path.exists(file):
            return None
        saved = torch.load(file, weights_only=True)
        if saved.get("concept_ids") != [c.id for c in concepts] or saved.get("layer") != layer:
            return None
        return CAV(concepts, layer, saved["stats"], path, model_id)
