"""Self-influence over a whole dataset, through the dataset engines
(:func:`~perspicio.core.attribute_dataset`, local or Ray)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionTypeError


class SelfInfluence:
    """A training-data influence method seen as a per-row method: ``attribute(inputs,
    target=labels)`` is the self-influence of each row ``(inputs, label)``, so
    :func:`~perspicio.core.attribute_dataset` shards it over a dataset of any size, on the
    local engine or Ray, with ``target="label"``.

    Examples
    --------
    >>> import os, tempfile, torch
    >>> from perspicio.core import attribute_dataset
    >>> from perspicio.core.influence import TracInCP
    >>> net = torch.nn.Linear(3, 2)
    >>> path = os.path.join(tempfile.mkdtemp(), "final.pt")
    >>> torch.save(net.state_dict(), path)
    >>> rows, labels = torch.randn(10, 3), torch.randint(0, 2, (10,))
    >>> def factory():
    ...     loss = torch.nn.CrossEntropyLoss(reduction="none")
    ...     return SelfInfluence(TracInCP(net, (rows, labels), path, loss_fn=loss))
    >>> result = attribute_dataset(factory, torch.utils.data.TensorDataset(rows, labels),
    ...                            target="label", batch_size=4, reducers=("mean",),
    ...                            show_progress=False)
    >>> result.n_rows
    10
    """

    def __init__(self, method: Any) -> None:
        if not hasattr(method, "self_influence"):
            raise AttributionTypeError(
                f"`method` must have `self_influence` (a TracIn or influence-function "
                f"method), got {type(method).__name__}"
            )
        self.method = method
        self.forward_func = method.model  # the engines fingerprint and place the model

    def attribute(self, inputs: Any, target: Any = None, **kwargs: Any) -> Tensor:
        """Self-influence of each row; ``target`` holds the rows' labels."""
        if target is None:
            raise AttributionTypeError("`target` must hold the rows' labels (use target='label')")
        xs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
        labels = target if isinstance(target, Tensor) else torch.as_tensor(target)
        return self.method.self_influence((*xs, labels.to(xs[0].device)))
