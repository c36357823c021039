"""A whole table explained: every row, in shards, as one explanation
(:meth:`perspicio.tabular.Explainer.global_importance`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from perspicio.core.frontend import check_positive_int

from .explanation import TabularExplanation


def explain_every_row(
    explainer: Any,
    X: Any,
    *,
    target: int | None,
    batch_size: int,
    engine: str,
    output: str | Path | None,
    concurrency: int,
    show_progress: bool,
) -> TabularExplanation:
    """Every row of ``X`` explained by ``explainer`` (a :class:`~perspicio.tabular.Explainer`)
    through
    :func:`perspicio.core.attribute_dataset` (shards of ``batch_size``, local or on Ray,
    resumable under ``output``), packed into one explanation."""
    from perspicio.core.dataset import attribute_dataset, read_shard

    check_positive_int(batch_size, "batch_size")
    values = explainer._rows(X)
    if target is not None and (isinstance(target, bool) or not isinstance(target, int)):
        raise TypeError(f"`target` must be an int class index or None, got {target!r}")
    first = explainer.explain(X.iloc[:1] if hasattr(X, "iloc") else values[:1], target=target)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(output) if output is not None else Path(scratch)
        result = attribute_dataset(
            lambda: _ExplainRows(explainer, target),
            values,
            batch_size=batch_size,
            engine=engine,
            output=folder,
            concurrency=concurrency,
            show_progress=show_progress,
        )
        packed = torch.from_numpy(np.concatenate([read_shard(folder / s) for s in result.shards]))
    g = len(first.features)
    return TabularExplanation(
        attributions=packed[:, :g].to(first.attributions.dtype),
        values=values,
        columns=first.columns,
        features=first.features,
        column_group=first.column_group,
        targets=[None if t < 0 else int(t) for t in packed[:, g + 2].tolist()],
        scores=packed[:, g].to(first.scores.dtype),
        baseline_scores=packed[:, g + 1].to(first.baseline_scores.dtype),
        method=first.method,
        parameters=first.parameters,
        categories=first.categories,
        background=first.background,
        model_fingerprint=first.model_fingerprint,
    )


class _ExplainRows:
    """The per-shard work of :meth:`Explainer.global_importance`: the explainer on a shard's
    (already encoded) rows, packed one row each as ``[attributions..., score, baseline
    score, target]``."""

    def __init__(self, explainer: Any, target: int | None) -> None:
        self.explainer, self.target = explainer, target
        # the dataset engine fingerprints the model (resuming, refusing to mix runs)
        user_model = explainer.user_model
        self.forward_func = user_model if isinstance(user_model, torch.nn.Module) else None
        self.dataset_description = (
            "tabular.global_importance",
            {"method": explainer.method, "target": target, **explainer.parameters()},
        )

    def attribute(self, inputs: Tensor, target: Any = None) -> Tensor:
        explainer = self.explainer
        if explainer.codec is not None:  # a DataFrame's shard rows are its codes
            exp = explainer.explain(explainer.codec.decode(inputs.cpu()), target=self.target)
        else:
            exp = explainer.explain(inputs.cpu(), target=self.target)
        targets = torch.tensor([-1 if t is None else t for t in exp.targets], dtype=torch.float64)
        return torch.cat(
            [
                exp.attributions.double(),
                exp.scores.detach().double().view(-1, 1),
                exp.baseline_scores.detach().double().view(-1, 1),
                targets.view(-1, 1),
            ],
            dim=1,
        )
