"""Attributing to embeddings by swapping an embedding layer for a pass-through.

``configure_interpretable_embedding_layer(model, "embedding")`` replaces the named embedding
module with an :class:`InterpretableEmbeddingBase`, which returns what it is given: the
model then takes embedding *vectors* where it took token ids, so the primary methods
(IntegratedGradients, DeepLift...) attribute to the embeddings. The user computes the
vectors with ``interpretable.indices_to_embeddings(ids)`` and puts the original layer back
with :func:`remove_interpretable_embedding_layer`.

:class:`~perspicio.core.LayerIntegratedGradients` on the embedding layer gives the same
attributions without changing the model; prefer it in new code.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import Tensor, nn

from .errors import AttributionTypeError, AttributionValueError


class InterpretableEmbeddingBase(nn.Module):
    """A stand-in for an embedding layer that passes embedding vectors through.

    ``forward`` returns its first argument (the vectors); :meth:`indices_to_embeddings`
    runs the original layer on token ids.
    """

    def __init__(self, embedding: nn.Module, full_name: str) -> None:
        super().__init__()
        self.embedding = embedding
        self.full_name = full_name
        self.num_embeddings = getattr(embedding, "num_embeddings", None)
        self.embedding_dim = getattr(embedding, "embedding_dim", None)

    def forward(self, *inputs: Any, **kwargs: Any) -> Tensor:
        """The embedding vectors the model is given in place of ids."""
        if inputs:
            return inputs[0]
        if kwargs:
            return next(iter(kwargs.values()))
        raise AttributionTypeError(f"{self.full_name}: called without the embedding vectors")

    def indices_to_embeddings(self, *inputs: Any, **kwargs: Any) -> Tensor:
        """The original layer's vectors for token ids (the arguments it takes)."""
        return self.embedding(*inputs, **kwargs)


class EmbeddingConfigurationError(AttributionValueError):
    """A ValueError that Captum raised as an AssertionError (both work in ``except``)."""


def _parent_and_name(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    *path, last = name.split(".")
    parent = model
    for part in path:
        if not hasattr(parent, part):
            raise AttributionValueError(
                f"`embedding_layer_name` {name!r}: {part!r} is not a submodule"
            )
        parent = getattr(parent, part)
    if not isinstance(getattr(parent, last, None), nn.Module):
        raise AttributionValueError(
            f"`embedding_layer_name` {name!r} is not a submodule of the model"
        )
    return parent, last


def configure_interpretable_embedding_layer(
    model: nn.Module, embedding_layer_name: str = "embedding"
) -> InterpretableEmbeddingBase:
    """Replace ``model.<embedding_layer_name>`` (a dotted path) by an
    :class:`InterpretableEmbeddingBase` and return it.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Flatten(),
    ...                           torch.nn.Linear(8, 1))
    >>> emb = configure_interpretable_embedding_layer(net, "0")
    >>> vectors = emb.indices_to_embeddings(torch.tensor([[1, 2]]))
    >>> net(vectors).shape
    torch.Size([1, 1])
    >>> remove_interpretable_embedding_layer(net, emb)
    """
    parent, last = _parent_and_name(model, embedding_layer_name)
    layer = getattr(parent, last)
    if isinstance(layer, InterpretableEmbeddingBase):
        raise EmbeddingConfigurationError(
            f"`embedding_layer_name` {embedding_layer_name!r} is configured already; remove "
            "it with remove_interpretable_embedding_layer first"
        )
    warnings.warn(
        f"{embedding_layer_name} now passes embedding vectors through: give the model "
        "indices_to_embeddings(ids) and call remove_interpretable_embedding_layer afterwards",
        UserWarning,
        stacklevel=2,
    )
    interpretable = InterpretableEmbeddingBase(layer, embedding_layer_name)
    setattr(parent, last, interpretable)
    return interpretable


def remove_interpretable_embedding_layer(
    model: nn.Module, interpretable_emb: InterpretableEmbeddingBase
) -> None:
    """Put the original embedding layer back in place of ``interpretable_emb``."""
    if not isinstance(interpretable_emb, InterpretableEmbeddingBase):
        raise AttributionTypeError(
            "`interpretable_emb` must be what configure_interpretable_embedding_layer "
            f"returned, got {type(interpretable_emb).__name__}"
        )
    parent, last = _parent_and_name(model, interpretable_emb.full_name)
    if getattr(parent, last) is not interpretable_emb:
        raise EmbeddingConfigurationError(
            f"{interpretable_emb.full_name} of this model is not the configured layer given"
        )
    setattr(parent, last, interpretable_emb.embedding)
