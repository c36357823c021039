"""The one training loop of the demo models.

Every demo model (the shapes CNN, segmenter and detector, the tiny BERT, the MiniLM head,
the capital-cities GPT-2, the tabular MLPs) is trained by :func:`fit`: a loss over batches
(shuffled mini-batches from :func:`shuffled`, random ones, or the whole set each step), an
optimizer, and optionally gradient clipping and a learning-rate schedule. The producers in
the demo modules say only what differs: the model, the data, the loss and the settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn


def shuffled(n: int, batch_size: int, generator: torch.Generator) -> tuple[Tensor, ...]:
    """One epoch's mini-batches: the indices ``0..n-1`` shuffled by ``generator``, in
    batches of ``batch_size``.

    Examples
    --------
    >>> import torch
    >>> [b.tolist() for b in shuffled(5, 2, torch.Generator().manual_seed(0))]
    [[4, 0], [1, 3], [2]]
    """
    return torch.randperm(n, generator=generator).split(batch_size)


def fit(
    loss: Callable[[Any], Tensor],
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Any],
    *,
    clip: tuple[Iterable[nn.Parameter], float] | None = None,
    schedule: Any = None,
) -> None:
    """One optimizer step for each of ``batches``: ``loss(batch)`` back-propagated, the
    gradients clipped to ``clip = (parameters, max_norm)`` if given, the learning rate
    stepped by ``schedule`` if given.

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> fit(lambda _: (w - 3).pow(2).sum(), torch.optim.SGD([w], lr=0.25), range(20))
    >>> round(w.item(), 3)
    3.0
    """
    parameters = None if clip is None else list(clip[0])
    for batch in batches:
        optimizer.zero_grad()
        loss(batch).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(parameters, clip[1])
        optimizer.step()
        if schedule is not None:
            schedule.step()


def adam_epochs(
    model: nn.Module,
    n: int,
    loss: Callable[[Tensor], Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    after_epoch: Callable[[], Any] | None = None,
) -> None:
    """Adam over ``epochs`` of shuffled mini-batches of ``n`` examples (shuffled by a
    generator seeded with ``seed``): ``loss(indices)`` for each batch, ``after_epoch()``
    after each epoch (a checkpoint).

    Examples
    --------
    >>> import torch
    >>> net, x = torch.nn.Linear(2, 1), torch.randn(16, 2)
    >>> adam_epochs(net, 16, lambda idx: net(x[idx]).pow(2).mean(), epochs=2, batch_size=4,
    ...             lr=1e-2, seed=0)
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        fit(loss, optimizer, shuffled(n, batch_size, generator))
        if after_epoch is not None:
            after_epoch()


def snapshot(model: nn.Module) -> dict[str, Tensor]:
    """A copy of the model's state dict (a checkpoint that later steps leave alone)."""
    return {k: v.clone() for k, v in model.state_dict().items()}


__all__ = ["adam_epochs", "fit", "shuffled", "snapshot"]
