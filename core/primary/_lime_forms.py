"""Lime's callbacks in the forms Captum's users wrote them (``similarity_func(original,
perturbed, interpretable, **kwargs)``, ``perturb_func(original, **kwargs)``, an interpretable
model with ``fit(DataLoader)``), recognised once, beside :class:`LimeBase` and :class:`Lime`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._engine.callbacks import positional_arity, takes_var_keywords
from .._engine.precision import widen


def captum_lime_form(similarity_func: Any, perturb_func: Any, interpretable_model: Any) -> bool:
    """Whether Lime was given callbacks written for Captum (``similarity_func(original,
    perturbed, interpretable, **kwargs)``, ``perturb_func(original, **kwargs)``) or a Captum
    interpretable model (``fit(DataLoader)``, ``representation()``)."""
    if interpretable_model is not None and hasattr(interpretable_model, "representation"):
        return True
    if similarity_func is not None:
        required, _ = positional_arity(similarity_func)
        if takes_var_keywords(similarity_func) or required == 3:
            return True
    if perturb_func is not None:
        required, _ = positional_arity(perturb_func)
        if takes_var_keywords(perturb_func) or required == 1:
            return True
    return False


def captum_bernoulli(original_inp: Any, **kwargs: Any) -> Tensor:
    """Captum's default Lime sample: each interpretable feature on with probability 1/2
    (from the global random state)."""
    first = original_inp[0] if isinstance(original_inp, (tuple, list)) else original_inp
    probs = torch.full((1, kwargs["num_interp_features"]), 0.5, device=first.device)
    return torch.bernoulli(probs)


def captum_cosine_similarity(
    original_inp: Any, perturbed_inp: Any, perturbed_interpretable_inp: Any, **kwargs: Any
) -> Tensor:
    """Captum's default Lime weight: ``exp(-d^2 / 2)`` of the cosine distance ``d`` between
    the flattened input and its perturbation."""

    def flat(x: Any) -> Tensor:
        items = x if isinstance(x, (tuple, list)) else (x,)
        return torch.cat([widen(t.reshape(-1)) for t in items])

    a, b = flat(original_inp), flat(perturbed_inp)
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp(min=1e-12)
    return torch.exp(-((1 - cos) ** 2) / 2)


def blend_interpretable_sample(sample: Tensor, original_inp: Any, **kwargs: Any) -> Any:
    """The input where the sample's features are on, the baseline elsewhere."""
    masks, bases = kwargs["feature_mask"], kwargs["baselines"]
    on = sample.reshape(-1)
    if isinstance(original_inp, (tuple, list)):
        return tuple(torch.where(on[m].bool(), x, b) for x, m, b in zip(original_inp, masks, bases))
    return torch.where(on[masks].bool(), original_inp, bases)


def expand_row(args: tuple[Any, ...], n: int, i: int) -> tuple[Any, ...]:
    """Additional forward arguments for example ``i``: tensors with ``n`` rows give row ``i``."""
    return tuple(
        a[i : i + 1] if isinstance(a, Tensor) and a.dim() > 0 and a.shape[0] == n else a
        for a in args
    )
