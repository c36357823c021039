"""Scoring a target continuation under many prompts: log p(target | prompt), per token.

The definition generates the target one token at a time: token ``t`` is scored by the
model's next-token distribution after ``prompt + target[:t]``. For a causal model the
logits at position ``L - 1 + t`` of one forward pass over ``prompt + target`` are exactly
those distributions (teacher forcing), so every target token of a prompt is scored in one
pass, and many prompts in one batch. Prompts of different lengths are right-padded: every
real token keeps its position ``0 .. L-1`` and the padding comes after the last target
token, where a causal model cannot see it (an attention mask marks it as well, for models
that take one).

Whether the model is causal is checked, not assumed: :func:`one_pass_is_exact` scores the
unperturbed prompt both ways once; a model whose logits see later tokens (a bidirectional
encoder used as a language model) is scored by the definition instead.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

#: tokens (rows x length x vocabulary) of logits one forward pass may produce, by default
LOGIT_BUDGET = 2**26


def logits_of(out: Any) -> Tensor:
    """The logits in a model's output: ``.logits`` (Hugging Face), the first element of a
    tuple, or the tensor itself."""
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, (tuple, list)):
        return out[0]
    return out


def model_device(model: Any) -> torch.device:
    """Where the model's parameters live (its ``device`` attribute, else the CPU)."""
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    device = getattr(model, "device", "cpu")
    return torch.device(device)


def _takes(model: Any, name: str) -> bool:
    forward = model.forward if isinstance(model, torch.nn.Module) else model
    try:
        params = inspect.signature(forward).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def pad_right(rows: Sequence[Tensor], pad_id: int) -> tuple[Tensor, Tensor]:
    """Stack 1-D token rows, right-padded with ``pad_id``; returns ``(ids, attention_mask)``."""
    width = max(r.numel() for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=rows[0].device)
    mask = torch.zeros((len(rows), width), dtype=torch.long, device=rows[0].device)
    for i, r in enumerate(rows):
        ids[i, : r.numel()] = r
        mask[i, : r.numel()] = 1
    return ids, mask


def call_model(model: Callable, ids: Tensor, mask: Tensor | None = None) -> Tensor:
    """Logits of ``model`` on token ids (with the attention mask where it takes one)."""
    if mask is not None and _takes(model, "attention_mask"):
        return logits_of(model(ids, attention_mask=mask))
    return logits_of(model(ids))


def rows_per_pass(length: int, vocab: int, budget: int = LOGIT_BUDGET) -> int:
    """Sequences per forward pass so that the logits stay within ``budget`` numbers."""
    return int(max(1, min(512, budget // max(1, length * vocab))))


@torch.no_grad()
def score_one_pass(
    model: Callable,
    prompts: Sequence[Tensor],
    target: Tensor,
    pad_id: int = 0,
    rows: int | None = None,
) -> Tensor:
    """``log p(target[t] | prompt_i + target[:t])`` for every prompt, shape ``(m, T)``, by
    teacher forcing: one right-padded forward pass per ``rows`` prompts."""
    device = model_device(model)
    target = target.to(device)
    seqs = [torch.cat([p.to(device), target]) for p in prompts]
    n_target = target.numel()
    out = []
    step = rows or len(seqs)
    for start in range(0, len(seqs), step):
        part = seqs[start : start + step]
        ids, mask = pad_right(part, pad_id)
        logits = call_model(model, ids, mask)
        # the logits at position L - 1 + t predict target token t
        lengths = torch.tensor([s.numel() - n_target for s in part], device=device)
        pos = lengths[:, None] - 1 + torch.arange(n_target, device=device)[None, :]
        picked = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))
        log_probs = torch.log_softmax(picked.float(), dim=-1)
        out.append(log_probs.gather(2, target.expand(len(part), -1)[..., None])[..., 0])
    return torch.cat(out)


@torch.no_grad()
def score_stepwise(model: Callable, prompt: Tensor, target: Tensor) -> Tensor:
    """The definition, for one prompt: a forward pass per target token, shape ``(T,)``."""
    device = model_device(model)
    seq, target = prompt.to(device), target.to(device)
    out = []
    for t in range(target.numel()):
        logits = call_model(model, seq[None])
        out.append(torch.log_softmax(logits[0, -1].float(), dim=-1)[target[t]])
        seq = torch.cat([seq, target[t : t + 1]])
    return torch.stack(out)


_CAUSAL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def one_pass_is_exact(model: Callable, prompt: Tensor, target: Tensor, pad_id: int = 0) -> bool:
    """Whether teacher forcing reproduces the token-by-token scores on this prompt (a causal
    model), padded in a batch with a longer sequence as well as alone.

    A module found causal is remembered (until it is changed: the verdict is keyed by the
    module and the version of its parameters), so later calls skip the check."""
    key = _version(model)
    if isinstance(model, torch.nn.Module) and _CAUSAL.get(model) == key:
        return True
    exact = _check_one_pass(model, prompt, target, pad_id)
    if exact and isinstance(model, torch.nn.Module):
        _CAUSAL[model] = key
    return exact


def _version(model: Any) -> tuple:
    if not isinstance(model, torch.nn.Module):
        return ()
    return (model.training, tuple(p._version for p in model.parameters()))


def _check_one_pass(model: Callable, prompt: Tensor, target: Tensor, pad_id: int) -> bool:
    stepwise = score_stepwise(model, prompt, target)
    longer = torch.cat([prompt, prompt[:1].expand(3)])
    batched = score_one_pass(model, [prompt, longer], target, pad_id)
    tol = 1e-4 * max(1.0, float(stepwise.abs().max()))
    return bool(torch.allclose(batched[0], stepwise, atol=tol, rtol=1e-4))
