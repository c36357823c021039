"""The steps every front end's ``explain`` shares, written once.

Vision, text, tables, the app and the command line each turn "explain this" into the same
few steps: check the seed, find the model's device, resolve the target (see
:mod:`perspicio.core.targets`), run the method with its convergence delta where it has one,
and report the model's own prediction beside the explained target. A front end calls these
and keeps only what is its own (pixels, tokens, columns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ._engine.batching import make_generator
from ._engine.facts import Facts
from ._engine.fingerprint import model_fingerprint
from ._engine.hooks import CallHooks, preserved_state
from ._engine.inputs import check_positive_int
from .llm._common import prompt_ids
from .llm.scoring import score_stepwise
from .targets import ClassTarget, PredictedClass, parse_target, resolve_class_targets


def check_seed(seed: Any) -> None:
    """Refuse a seed that is not an int or None (a bool included), naming ``seed``.

    Examples
    --------
    >>> check_seed(0)
    >>> check_seed(0.5)
    Traceback (most recent call last):
    ...
    TypeError: `seed` must be an int or None, got float 0.5
    """
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"`seed` must be an int or None, got {type(seed).__name__} {seed!r}")


def model_device(model: Any) -> torch.device:
    """Where the model's parameters are (the CPU for a function or a model without any).

    Examples
    --------
    >>> import torch
    >>> model_device(torch.nn.Linear(2, 1)), model_device(abs)
    (device(type='cpu'), device(type='cpu'))
    """
    parameters = getattr(model, "parameters", None)
    param = next(parameters(), None) if callable(parameters) else None
    return param.device if param is not None else torch.device("cpu")


def attribute_with_delta(method: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``method.attribute(*args, **kwargs)`` and its convergence delta: asked for where the
    method has one and the caller did not choose (None otherwise).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import IntegratedGradients
    >>> attr, delta = attribute_with_delta(IntegratedGradients(torch.nn.Linear(3, 2)),
    ...                                    torch.rand(1, 3), target=0)
    >>> attr.shape, delta.shape
    (torch.Size([1, 3]), torch.Size([1]))
    """
    if method.has_convergence_delta() and "return_convergence_delta" not in kwargs:
        return method.attribute(*args, return_convergence_delta=True, **kwargs)
    return method.attribute(*args, **kwargs), None


def label_of(labels: Sequence[str] | Mapping[int, str] | None, index: int) -> str:
    """The name of class ``index`` (its number where the classes have no names)."""
    return str(labels[index]) if labels else str(index)


def prediction(
    scores: Tensor, labels: Sequence[str] | Mapping[int, str] | None = None
) -> dict[str, Any]:
    """The model's own prediction for one input, as every explanation names it:
    ``predicted`` (the top class), ``predicted_label`` and ``predicted_score``.

    Examples
    --------
    >>> import torch
    >>> prediction(torch.tensor([0.1, 0.9]), ["cat", "dog"])
    {'predicted': 1, 'predicted_label': 'dog', 'predicted_score': 0.8999999761581421}
    """
    top = int(scores.argmax())
    return {
        "predicted": top,
        "predicted_label": label_of(labels, top),
        "predicted_score": float(scores[top]),
    }


# The machinery front ends share with core, re-exported so that no front end imports a
# private core module (tests/test_layers.py checks it).
__all__ = [
    "CallHooks",
    "ClassTarget",
    "Facts",
    "PredictedClass",
    "attribute_with_delta",
    "check_positive_int",
    "check_seed",
    "make_generator",
    "model_fingerprint",
    "preserved_state",
    "label_of",
    "model_device",
    "parse_target",
    "prediction",
    "prompt_ids",
    "resolve_class_targets",
    "score_stepwise",
]
