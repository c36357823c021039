"""Captum argument forms recognised once, so that algorithm files read as their papers.

* ``grad_kwargs``: keyword arguments for ``torch.autograd.grad`` (``materialize_grads``,
  ``create_graph``...) on the gradient-based layer and neuron methods. The decorator
  :func:`accepts_grad_kwargs` adds the argument to an ``attribute`` method and makes it
  visible to :func:`autograd_grad`, which every gradient of the shared machinery goes
  through.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

_GRAD_KWARGS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "perspicio_grad_kwargs", default=None
)


def autograd_grad(
    output: Tensor, inputs: Sequence[Tensor], **kwargs: Any
) -> tuple[Tensor | None, ...]:
    """``torch.autograd.grad(output, inputs, allow_unused=True, ...)`` with the caller's
    ``grad_kwargs`` (from the ``attribute`` call in progress) added."""
    options = {"allow_unused": True, **kwargs, **(_GRAD_KWARGS.get() or {})}
    return torch.autograd.grad(output, inputs, **options)


def accepts_grad_kwargs(attribute: Callable[..., Any]) -> Callable[..., Any]:
    """Add Captum's ``grad_kwargs`` keyword to an ``attribute`` method."""

    @functools.wraps(attribute)
    def wrapped(self: Any, *args: Any, grad_kwargs: dict[str, Any] | None = None, **kwargs: Any):
        if grad_kwargs is not None and not isinstance(grad_kwargs, dict):
            raise TypeError(
                "`grad_kwargs` must be a dict of torch.autograd.grad keyword arguments, "
                f"got {type(grad_kwargs).__name__}"
            )
        token = _GRAD_KWARGS.set(dict(grad_kwargs or {}))
        try:
            return attribute(self, *args, **kwargs)
        finally:
            _GRAD_KWARGS.reset(token)

    signature = inspect.signature(attribute)
    extra = inspect.Parameter("grad_kwargs", inspect.Parameter.KEYWORD_ONLY, default=None)
    params = list(signature.parameters.values())
    if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD:
        params.insert(len(params) - 1, extra)
    else:
        params.append(extra)
    wrapped.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapped
