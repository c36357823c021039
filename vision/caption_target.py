r"""Captions as targets: a dual-encoder image-text model (CLIP, SigLIP, open_clip) as a
classifier over the captions it is asked about.

For captions :math:`t_1 \dots t_C` embedded once by the text tower, the score of caption
:math:`c` on an image :math:`x` is the model's own image-text logit

.. math:: s_c(x) = \tau \, \frac{f(x)}{\lVert f(x) \rVert} \cdot
          \frac{g(t_c)}{\lVert g(t_c) \rVert} + b

(:math:`\tau` the model's learnt ``logit_scale``, exponentiated; :math:`b` SigLIP's
``logit_bias``, 0 for CLIP). Every image method then answers "which pixels make the image
match this caption": a gradient method differentiates :math:`s_c`, a perturbation method
reads its change, a CAM weighs the vision tower's patch tokens. Several captions give one
map each, and their softmax (CLIP) or sigmoid (SigLIP) is the zero-shot classification.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn


def is_dual_encoder(model: Any) -> bool:
    """Whether ``model`` embeds images and texts in one space: Hugging Face's
    ``get_image_features``/``get_text_features`` (CLIP, SigLIP and their kin) or open_clip's
    ``encode_image``/``encode_text``."""
    return (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")) or (
        hasattr(model, "encode_image") and hasattr(model, "encode_text")
    )


def is_caption_target(target: Any) -> bool:
    """Whether ``target`` reads as captions: a string, or a non-empty list of strings."""
    if isinstance(target, str):
        return not target.startswith("topk:")
    return (
        isinstance(target, (list, tuple))
        and len(target) > 0
        and all(isinstance(t, str) for t in target)
    )


def _features(out: Any) -> Tensor:
    """A tower's embedding: a tensor, or the projected ``pooler_output`` of the
    ``ModelOutput`` that transformers 5 returns."""
    if isinstance(out, Tensor):
        return out
    for name in ("image_embeds", "text_embeds", "pooler_output"):
        value = getattr(out, name, None)
        if isinstance(value, Tensor):
            return value
    raise TypeError(f"the tower returned {type(out).__name__}, not an embedding")


def tokenizer_of(processor: Any) -> Any:
    """The text tokenizer of ``processor`` (a Hugging Face processor's ``tokenizer``, or a
    tokenizer itself)."""
    tokenizer = getattr(processor, "tokenizer", None)
    return tokenizer if tokenizer is not None else processor


class CaptionScores(nn.Module):
    """``model``'s image-text logits for ``captions``: ``(N, C)`` from pixel values.

    Parameters
    ----------
    model : nn.Module
        A dual encoder (:func:`is_dual_encoder`).
    captions : list of str
    processor : callable
        A Hugging Face processor or tokenizer (``tokenizer(captions, padding=True,
        return_tensors="pt")``), or open_clip's tokenizer (captions -> token tensor).

    Examples
    --------
    >>> from transformers import CLIPConfig, CLIPModel
    >>> from perspicio.vision.demo import ShapesTokenizer
    >>> config = CLIPConfig(
    ...     text_config=dict(vocab_size=16, hidden_size=16, intermediate_size=32,
    ...                      num_hidden_layers=1, num_attention_heads=2),
    ...     vision_config=dict(image_size=32, patch_size=8, hidden_size=16,
    ...                        intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
    ...     projection_dim=8)
    >>> scores = CaptionScores(CLIPModel(config).eval(), ["a circle", "a cross"], ShapesTokenizer())
    >>> scores(torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 2])
    """

    def __init__(self, model: nn.Module, captions: Sequence[str], processor: Any) -> None:
        super().__init__()
        if not is_dual_encoder(model):
            raise ValueError(
                f"a caption target needs a model with an image and a text tower (CLIP, SigLIP, "
                f"open_clip); {type(model).__name__} has no text tower: give a class index or "
                "name as `target`"
            )
        if processor is None:
            raise ValueError(
                "a caption target needs `processor=`: the model's processor or tokenizer, "
                "which turns the captions into tokens"
            )
        self.model, self.captions = model, list(captions)
        self.open_clip = not hasattr(model, "get_image_features")
        self.sigmoid = hasattr(model, "logit_bias")  # SigLIP scores each caption alone
        with torch.no_grad():
            text = self._text_features(tokenizer_of(processor))
        self.register_buffer("text", text / text.norm(dim=-1, keepdim=True), persistent=False)

    def _text_features(self, tokenizer: Any) -> Tensor:
        device = next(self.model.parameters()).device
        if self.open_clip:
            tokens = tokenizer(self.captions)
            return self.model.encode_text(tokens.to(device)).float()
        padding = "max_length" if self.sigmoid else True  # SigLIP was trained on full length
        batch = tokenizer(self.captions, padding=padding, return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        return _features(self.model.get_text_features(**batch)).float()

    def _scale_and_bias(self) -> tuple[Tensor, Tensor | float]:
        scale = getattr(self.model, "logit_scale", None)
        scale = scale.exp() if isinstance(scale, Tensor) else torch.tensor(1.0)
        bias = getattr(self.model, "logit_bias", None)
        return scale, (bias if isinstance(bias, Tensor) else 0.0)

    def forward(self, pixel_values: Tensor) -> Tensor:
        if self.open_clip:
            image = self.model.encode_image(pixel_values)
        else:
            image = _features(self.model.get_image_features(pixel_values=pixel_values))
        image = image / image.norm(dim=-1, keepdim=True)
        scale, bias = self._scale_and_bias()
        return scale * image @ self.text.to(image.dtype).T + bias

    def probabilities(self, pixel_values: Tensor) -> Tensor:
        """The zero-shot classification: softmax over the captions (CLIP), or each
        caption's sigmoid (SigLIP, which scores captions independently)."""
        with torch.no_grad():
            logits = self(pixel_values).float()
        return logits.sigmoid() if self.sigmoid else logits.softmax(1)


def image_transform(processor: Any) -> Any:
    """A torchvision transform from a Hugging Face image processor (resize, centre crop,
    pixels to [0, 1], normalise), or None where ``processor`` has none."""
    image = getattr(processor, "image_processor", None)
    if image is None:
        return None
    from torchvision import transforms

    steps: list[Any] = []
    size = getattr(image, "size", None) or {}
    # the processor's own resampling filter (a PIL number: CLIP's is bicubic)
    resample = getattr(image, "resample", None)
    by_number = {number: m for m, number in transforms.functional.pil_modes_mapping.items()}
    mode = transforms.InterpolationMode.BILINEAR
    if resample is not None:
        mode = by_number.get(int(resample), mode)
    if getattr(image, "do_resize", False) and size:
        if "shortest_edge" in size:
            steps.append(transforms.Resize(size["shortest_edge"], interpolation=mode))
        else:
            steps.append(transforms.Resize((size["height"], size["width"]), interpolation=mode))
    crop = getattr(image, "crop_size", None) or {}
    if getattr(image, "do_center_crop", False) and crop:
        steps.append(transforms.CenterCrop((crop["height"], crop["width"])))
    steps.append(transforms.ToTensor())
    if getattr(image, "do_normalize", False):
        steps.append(transforms.Normalize(image.image_mean, image.image_std))
    return transforms.Compose(steps)


__all__ = [
    "CaptionScores",
    "image_transform",
    "is_caption_target",
    "is_dual_encoder",
    "tokenizer_of",
]
