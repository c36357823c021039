r"""Gradients through the image: a vision-language model's generated tokens attributed to
the image's patches and the prompt's tokens in one path.

A layer gradient method on two layers at once, the input embeddings of the text and the
vision tower's patch embedding, moves both from a baseline (the prompt's tokens to the pad
token, the image's token slots kept; the image painted in the input's ``baseline`` colour)
to the input. For target token :math:`t`, with :math:`e` the token embeddings and :math:`p`
the patch embeddings,

.. math:: \sum_{i} A^{\text{text}}_{t,i} + \sum_{u} A^{\text{image}}_{t,u}
          \approx \log p(y_t \mid e, p, y_{<t}) - \log p(y_t \mid e', p', y_{<t})

(completeness: the difference is the result's ``convergence_delta``, one per target token).
The image part is summed over the patch embedding's channels, one value per patch cell, and
spread evenly over the cell's pixels for the picture, so a map's sum is its share of the
total.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError
from ..registry import spec_of
from . import _common as C
from .multimodal import as_dict
from .result import LLMAttributionResult
from .scoring import logits_of, model_device, pad_right


def image_token_id(model: Any) -> int | None:
    """The id of the prompt's image placeholder token (its slots are filled by the vision
    tower, so the baseline keeps them)."""
    for owner in (model, getattr(model, "config", None)):
        for name in ("image_token_id", "image_token_index"):
            value = getattr(owner, name, None)
            if isinstance(value, int):
                return value
    return None


def _repeat(value: Any, rows: int) -> Any:
    if isinstance(value, Tensor) and value.dim() > 0:
        return value.expand(rows, *value.shape[1:]) if value.shape[0] == 1 else value
    return value


def attribute_image_prompt(
    owner: Any,
    inp: Any,
    target: Any,
    gen_args: dict | None,
    skip_tokens: Any,
    **kwargs: Any,
) -> LLMAttributionResult:
    """:meth:`LLMGradientAttribution.attribute` for an
    :class:`~perspicio.core.ImageMaskInput`: ``owner.attr_method`` is a layer method on
    ``[text embedding layer, vision patch embedding layer]``."""
    method = copy.copy(owner.attr_method)
    layers = getattr(method, "layer", None)
    if not isinstance(layers, (list, tuple)) or len(layers) != 2:
        raise AttributionValueError(
            "an image prompt is attributed through two layers at once: build the method on "
            "[the input embeddings, the vision tower's patch embedding], e.g. "
            "LayerIntegratedGradients(model, [model.get_input_embeddings(), "
            "model.vision_tower.embeddings.patch_embedding])"
        )
    if "baselines" in kwargs:
        raise AttributionValueError(
            "`baselines` of an image prompt are set by the input: the prompt's tokens go to "
            "the pad token and the image is painted in the ImageMaskInput's `baseline` colour"
        )
    model, tokenizer = owner.model, owner.tokenizer
    device = model_device(model)
    inputs = as_dict(inp.original_model_inputs)
    if "input_ids" not in inputs or "pixel_values" not in inputs:
        raise AttributionTypeError(
            "`processor_fn` must give the model's inputs with `input_ids` and `pixel_values` "
            f"(a vision-language processor's output), got {sorted(inputs)}"
        )
    prompt = inputs["input_ids"].reshape(-1).long()
    skip = C.skip_ids(tokenizer, skip_tokens)
    target_ids = C.target_ids(
        target, tokenizer, skip, lambda: C.generate_ids(model, inputs, gen_args, tokenizer)
    )
    n_prompt, n_target = prompt.numel(), target_ids.numel()
    pad = getattr(tokenizer, "pad_token_id", None)
    pad = pad if isinstance(pad, int) else 0
    slot = image_token_id(model)
    keep = prompt == slot if slot is not None else torch.zeros_like(prompt, dtype=torch.bool)
    baseline_prompt = torch.where(keep, prompt, torch.full_like(prompt, pad))
    blank = inp.painted(torch.zeros(1, inp.n_itp_features))
    baseline_pixels = as_dict(inp.processor_fn(blank))["pixel_values"]
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "pixel_values")}
    extra.pop("attention_mask", None)

    def value(
        ids: Tensor, pixel_values: Tensor, positions: Tensor, tokens: Tensor, kind: str = ""
    ) -> Tensor:
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] <= positions[:, None]
        rows = ids.shape[0]
        args = {k: _repeat(_to(v, ids.device), rows) for k, v in extra.items()}
        logits = logits_of(
            model(input_ids=ids, pixel_values=pixel_values, attention_mask=mask.long(), **args)
        )
        index = torch.arange(rows, device=ids.device)
        return C.target_value(logits[index, positions], tokens, kind or owner.attr_target)

    method.forward_func = value
    seqs = [torch.cat([prompt, target_ids[:t]]) for t in range(n_target)]
    ids, _ = pad_right(seqs, pad)
    base_ids = ids.clone()
    base_ids[:, :n_prompt] = baseline_prompt
    positions = torch.arange(n_target) + n_prompt - 1
    pixels = inputs["pixel_values"].expand(n_target, *inputs["pixel_values"].shape[1:])
    base_pixels = baseline_pixels.expand_as(pixels).to(pixels.dtype)
    with_delta = method.has_convergence_delta()
    accepted = inspect.signature(method.attribute).parameters
    if spec_of(type(owner.attr_method)).baselines == "distribution":
        raise AttributionValueError(
            f"{type(owner.attr_method).__name__} draws its baselines from a population; an "
            "image prompt's baseline is one (the pad token, the painted image): use "
            "LayerIntegratedGradients or LayerGradientXActivation"
        )
    if "baselines" in accepted:
        kwargs["baselines"] = (base_ids.to(device), base_pixels.to(device))
    out = method.attribute(
        (ids.to(device), pixels.to(device)),
        additional_forward_args=(positions.to(device), target_ids.to(device)),
        **({"return_convergence_delta": True} if with_delta else {}),
        **kwargs,
    )
    attr, delta = out if with_delta else (out, None)
    text_attr, patch_attr = attr[0], attr[1]
    token_attr = text_attr.reshape(n_target, ids.shape[1], -1).sum(-1)[:, :n_prompt].detach()
    cells = patch_attr.sum(1).detach() if patch_attr.dim() == 4 else _tokens_to_grid(patch_attr)
    with torch.no_grad():
        probs = value(
            ids.to(device), pixels.to(device), positions.to(device), target_ids.to(device), "prob"
        )
    result = LLMAttributionResult(
        input_tokens=C.tokens(tokenizer, prompt),
        output_tokens=C.tokens(tokenizer, target_ids),
        seq_attr=token_attr.sum(0),
        token_attr=token_attr,
        output_probs=probs.detach(),
        inp=inp,
        **owner.provenance(),
    )
    result.image_attr = spread(cells.cpu(), inp.image_shape)
    result.convergence_delta = None if delta is None else delta.detach().cpu()
    result.parameters["baseline"] = (
        f"prompt tokens -> pad token {pad} (image slots kept); image painted {inp.baseline}"
    )
    return result


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, Tensor) else value


def _tokens_to_grid(attr: Tensor) -> Tensor:
    """A transformer's patch tokens ``(T, n, D)`` (a square grid, after any prefix) as
    ``(T, h, w)``."""
    values = attr.sum(-1)
    side = int(values.shape[1] ** 0.5)
    return values[:, values.shape[1] - side * side :].reshape(-1, side, side).detach()


def spread(cells: Tensor, shape: tuple[int, int]) -> Tensor:
    """``(T, h, w)`` cell values over ``(T, H, W)`` pixels: each pixel belongs to the cell
    nearest-neighbour upsampling maps it to, and each cell's value is split evenly among its
    pixels, so a map sums to the cells' total.

    Examples
    --------
    >>> spread(torch.tensor([[[1.0, 2.0]]]), (2, 4)).tolist()
    [[[0.25, 0.25, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5]]]
    """
    (height, width), (h, w) = shape, cells.shape[1:]
    rows = (torch.arange(height) * h // height).clamp(max=h - 1)
    cols = (torch.arange(width) * w // width).clamp(max=w - 1)
    count = torch.bincount(rows, minlength=h)[:, None] * torch.bincount(cols, minlength=w)[None]
    per_pixel = cells / count.to(cells.dtype)
    return per_pixel[:, rows][:, :, cols]


__all__ = ["attribute_image_prompt", "image_token_id", "spread"]
