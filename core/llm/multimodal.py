"""Scoring a target under many processed prompts: the model inputs are mappings (a Hugging
Face processor's ``input_ids``, ``attention_mask``, ``pixel_values`` ...), as a
vision-language model reads them.

Teacher forcing as in :mod:`.scoring`: the target is appended to ``input_ids`` and every
target token of a prompt is scored in one forward pass. The prompts of one
:class:`~perspicio.core.ImageMaskInput` differ only in their pixels, so their inputs have
the same shapes and are stacked along the batch dimension (``pixel_values`` of models that
flatten their patches, as Qwen2-VL's, are concatenated the same way): many painted images
per model call. Both shortcuts are checked once on the unperturbed input against the
definition (one pass per target token, one image per call); a model for which either
differs is scored without it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .scoring import LOGIT_BUDGET, _version, logits_of, model_device

#: painted images per forward pass at most, by default
MAX_ROWS = 64


def as_dict(inputs: Any) -> dict[str, Any]:
    """A processor's output (``BatchFeature``, dict) as a plain dict."""
    return {k: inputs[k] for k in inputs.keys()}


def _to(value: Any, device: torch.device) -> Any:
    return value.to(device) if isinstance(value, Tensor) else value


def with_target(inputs: Mapping, target: Tensor, device: torch.device) -> dict[str, Any]:
    """``inputs`` of one prompt with ``target`` appended to ``input_ids``: the attention
    mask is extended with ones, other per-token integer tensors (``token_type_ids``,
    ``mm_token_type_ids``: the target is text) with zeros."""
    out = {k: _to(v, device) for k, v in as_dict(inputs).items()}
    ids = out["input_ids"]
    length = ids.shape[-1]
    t = target.to(device)[None]
    for key, value in out.items():
        if key == "input_ids":
            out[key] = torch.cat([ids, t.to(ids.dtype)], 1)
        elif (
            isinstance(value, Tensor)
            and value.dim() == 2
            and value.shape == ids.shape
            and not value.is_floating_point()
        ):
            fill = 1 if key == "attention_mask" else 0
            out[key] = torch.cat([value, torch.full_like(t, fill, dtype=value.dtype)], 1)
    if "attention_mask" not in out:
        out["attention_mask"] = torch.ones(1, length + t.shape[1], dtype=torch.long, device=device)
    return out


def stack(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """One batch from several single-prompt inputs (tensors concatenated along dimension
    0), or None when they cannot share one (different keys, lengths or non-tensor values)."""
    first = rows[0]
    if any(r.keys() != first.keys() for r in rows):
        return None
    out: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, Tensor):
            if any(r[key].shape[1:] != value.shape[1:] for r in rows):
                return None
            out[key] = torch.cat([r[key] for r in rows])
        elif all(r[key] == value for r in rows):
            out[key] = value
        else:
            return None
    return out


def _logits(model: Callable, batch: dict[str, Any]) -> Tensor:
    logits = logits_of(model(**batch))
    return logits[:, 0] if logits.dim() == 4 else logits  # a model with several heads


@torch.no_grad()
def score_batch(model: Callable, rows: Sequence[dict[str, Any]], target: Tensor) -> Tensor:
    """``log p(target[t] | prompt_i, target[:t])`` for rows that :func:`with_target`
    made and that :func:`stack` can batch: ``(m, T)`` in one forward pass."""
    batch = stack(rows)
    if batch is None:
        raise ValueError("these inputs cannot share a batch")
    n = target.numel()
    logits = _logits(model, batch)
    start = batch["input_ids"].shape[1] - n - 1
    log_probs = torch.log_softmax(logits[:, start : start + n].float(), dim=-1)
    index = target.to(logits.device).expand(len(rows), -1)[..., None]
    return log_probs.gather(2, index)[..., 0]


@torch.no_grad()
def score_stepwise(model: Callable, inputs: Mapping, target: Tensor) -> Tensor:
    """The definition for one prompt: a forward pass per target token, ``(T,)``."""
    device = model_device(model)
    out = []
    for t in range(target.numel()):
        row = with_target(inputs, target[:t], device)
        logits = _logits(model, row)
        out.append(torch.log_softmax(logits[0, -1].float(), dim=-1)[target[t]])
    return torch.stack(out)


def _close(a: Tensor, b: Tensor) -> bool:
    tol = 1e-4 * max(1.0, float(b.abs().max()))
    return bool(torch.allclose(a, b, atol=tol, rtol=1e-4))


_MODES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _signature(inputs: Mapping, target: Tensor) -> tuple:
    """The layout of a model's inputs: keys, shapes and dtypes, and the target's length."""
    parts = [
        (k, tuple(v.shape), str(v.dtype)) if isinstance(v, Tensor) else (k, repr(v))
        for k, v in as_dict(inputs).items()
    ]
    return (*parts, target.numel())


def find_mode(model: Callable, original: Mapping, probe: Mapping, target: Tensor) -> str:
    """How the model may be scored on inputs laid out as ``original``: "one pass" (teacher
    forcing, many prompts a call), "one pass, one a call" (teacher forcing, but a row's
    scores depend on what shares its batch) or "stepwise" (a pass per target token).

    Checked on ``original`` (and ``probe``, another input of the same layout) against the
    definition; a module's verdict is remembered per input layout until its parameters
    change, so later calls skip the check."""
    key = _signature(original, target)
    if isinstance(model, torch.nn.Module):
        version, modes = _MODES.get(model, (None, {}))
        if version == _version(model) and key in modes:
            return modes[key]
    device = model_device(model)
    definition = score_stepwise(model, original, target)
    alone = score_batch(model, [with_target(original, target, device)], target)[0]
    if not _close(alone, definition):
        mode = "stepwise"
    else:
        pair = [with_target(x, target, device) for x in (original, probe)]
        together = score_batch(model, pair, target) if stack(pair) is not None else None
        batched = together is not None and _close(together[0], alone)
        mode = "one pass" if batched else "one pass, one a call"
    if isinstance(model, torch.nn.Module):
        version, modes = _MODES.get(model, (None, {}))
        modes = modes if version == _version(model) else {}
        modes[key] = mode
        _MODES[model] = (_version(model), modes)
    return mode


class MultimodalScorer:
    """``scorer(list of model inputs) -> (m, T)`` log-probabilities of ``target``.

    ``mode``: how the model is scored (:func:`find_mode`, on the unperturbed inputs and
    ``probe``, the image painted out).
    """

    def __init__(
        self,
        model: Callable,
        original: Mapping,
        probe: Mapping,
        target: Tensor,
        rows: int | None = None,
        vocab: int = 0,
    ) -> None:
        self.model, self.target = model, target
        self.device = model_device(model)
        self.mode = find_mode(model, original, probe, target)
        length = int(original["input_ids"].shape[-1]) + target.numel()
        budget = max(1, LOGIT_BUDGET // max(1, length * max(vocab, 1)))
        self.rows = 1 if self.mode != "one pass" else int(rows or min(MAX_ROWS, budget))

    def __call__(self, inputs: Sequence[Mapping]) -> Tensor:
        if self.mode == "stepwise":
            return torch.stack([score_stepwise(self.model, x, self.target) for x in inputs])
        rows = [with_target(x, self.target, self.device) for x in inputs]
        out = []
        start = 0
        while start < len(rows):
            part = rows[start : start + self.rows]
            if len(part) > 1 and stack(part) is None:  # shapes differ: one a call
                part = part[:1]
            out.append(score_batch(self.model, part, self.target))
            start += len(part)
        return torch.cat(out).cpu()
