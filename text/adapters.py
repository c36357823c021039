"""Text models behind one call signature: ``forward(input_ids, attention_mask, token_type_ids)``."""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor, nn


def embedding_layer(model: nn.Module) -> nn.Embedding:
    """The token embedding: ``get_input_embeddings()`` of a Hugging Face model, else the
    largest ``nn.Embedding`` of a plain model."""
    getter = getattr(model, "get_input_embeddings", None)
    if callable(getter):
        layer = getter()
        if isinstance(layer, nn.Embedding):
            return layer
    embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
    if not embeddings:
        raise ValueError("the model has no nn.Embedding; perspicio.text explains token-id models")
    return max(embeddings, key=lambda m: m.num_embeddings)


def patch_embedding_layer(model: nn.Module) -> nn.Module:
    """A vision-language model's patch embedding: its first ``nn.Conv2d`` (a CLIP or SigLIP
    vision tower's ``embeddings.patch_embedding``, a convolutional encoder's first layer)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    raise ValueError(
        "the model has no nn.Conv2d patch embedding: build LLMGradientAttribution with the "
        "vision tower's embedding layer yourself"
    )


class TextForward(nn.Module):
    """Call a text model with ids and masks and return its logits ``(N, classes)``.

    A module wrapping the model, so that the core's chunk sizing can measure the model's
    activations (a plain function would only be sized from its integer inputs).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.is_hf = hasattr(model, "config") and hasattr(model, "get_input_embeddings")
        params = inspect.signature(model.forward).parameters
        self.takes_mask = "attention_mask" in params
        self.takes_types = "token_type_ids" in params

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        kwargs: dict[str, Any] = {}
        if attention_mask is not None and self.takes_mask:
            kwargs["attention_mask"] = attention_mask
        if token_type_ids is not None and self.takes_types:
            kwargs["token_type_ids"] = token_type_ids
        out = self.model(input_ids, **kwargs)
        logits = getattr(out, "logits", out)
        if isinstance(logits, tuple):
            logits = logits[0]
        if not isinstance(logits, Tensor) or logits.dim() != 2:
            raise ValueError(
                "the text model must return logits (N, classes) (or an output with .logits)"
            )
        return logits


def labels_of(model: nn.Module) -> dict[int, str] | None:
    config = getattr(model, "config", None)
    mapping = getattr(config, "id2label", None)
    return {int(k): v for k, v in mapping.items()} if mapping else None


def check_vocabulary(tokenizer: Any, model: nn.Module) -> None:
    size = len(tokenizer)
    rows = embedding_layer(model).num_embeddings
    if size > rows:
        raise ValueError(
            f"the tokenizer has {size} tokens but the model's embedding has {rows} rows; "
            "the tokenizer does not belong to this model"
        )


def max_positions(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None
