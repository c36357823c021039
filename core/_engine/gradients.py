"""Gradients of the targeted output, and the path integral shared by the IG family.

Every gradient of the machinery goes through :func:`autograd_grad`, which adds the
``grad_kwargs`` (Captum's keyword arguments for ``torch.autograd.grad``) of the
``attribute`` call in progress; :func:`accepts_grad_kwargs` adds that keyword to a method.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionTypeError
from .batching import Layout, chunk_slices, progress, steps_per_chunk
from .inputs import Target, expand_additional_args
from .outputs import run_forward

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
            raise AttributionTypeError(
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


def compute_gradients(
    forward_func: Callable,
    inputs: tuple[Tensor, ...],
    target: Target,
    additional_args: tuple[Any, ...] = (),
    layout: Layout | None = None,
) -> tuple[Tensor, ...]:
    """Gradient of each example's targeted output with respect to each input tensor.

    The inputs are detached copies, so the caller's tensors and the model's parameter
    ``.grad`` fields are never touched (``torch.autograd.grad`` does not accumulate).
    Images go to the model in the faster layout of ``layout``; gradients come back in the
    inputs' own layout.
    """

    def grads_at(points: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        with torch.enable_grad():
            leaves = tuple(x.detach().requires_grad_(True) for x in points)
            out = run_forward(forward_func, leaves, target, additional_args)
            return autograd_grad(out.sum(), leaves)

    grads = (layout or Layout(gradients=True)).call(grads_at, inputs)
    return tuple(
        torch.zeros_like(x) if g is None else g.contiguous() if x.is_contiguous() else g
        for x, g in zip(inputs, grads)
    )


def interpolate(
    starts: tuple[Tensor, ...], ends: tuple[Tensor, ...], alphas: Tensor
) -> tuple[Tensor, ...]:
    """Points ``start + alpha * (end - start)`` for every alpha, as ``len(alphas)`` blocks."""
    out = []
    for s, e in zip(starts, ends):
        a = alphas.to(device=s.device, dtype=s.dtype).view((-1,) + (1,) * s.dim())
        out.append((s.unsqueeze(0) + a * (e - s).unsqueeze(0)).reshape((-1,) + s.shape[1:]))
    return tuple(out)


def integrate_gradients(
    grad_fn: Callable[[tuple[Tensor, ...], int], tuple[Tensor, ...]],
    starts: tuple[Tensor, ...],
    ends: tuple[Tensor, ...],
    alphas: Sequence[float],
    weights: Sequence[float],
    internal_batch_size: int | None = None,
    show_progress: bool = False,
    desc: str = "path integral",
) -> tuple[Tensor, ...]:
    """``sum_k weights[k] * grad(start + alphas[k] * (end - start))`` for every example.

    ``grad_fn(points, m)`` returns gradients at ``points``, a batch made of ``m`` blocks of
    ``n`` examples; they may be taken with respect to something else than the points (a
    layer's activations). The steps are evaluated ``internal_batch_size // n`` at a time.
    """
    n = starts[0].shape[0]
    alphas_t = torch.tensor(alphas, dtype=torch.float64)
    weights_t = torch.tensor(weights, dtype=torch.float64)
    per_chunk = steps_per_chunk(internal_batch_size, n, len(alphas))
    chunks = chunk_slices(len(alphas), per_chunk)
    total: list[torch.Tensor] | None = None
    for sl in progress(chunks, show_progress, desc, len(chunks)):
        m = sl.stop - sl.start
        grads = grad_fn(interpolate(starts, ends, alphas_t[sl]), m)
        # the gradients may live in another space than the path (a layer's activations)
        parts = [
            torch.tensordot(
                weights_t[sl].to(device=g.device, dtype=g.dtype),
                g.reshape((m, n) + g.shape[1:]),
                dims=1,
            )
            for g in grads
        ]
        total = parts if total is None else [t + p for t, p in zip(total, parts)]
    return tuple(total)


def model_grad_fn(
    forward_func: Callable, target: Target, additional_args: tuple[Any, ...], n: int
) -> Callable[[tuple[Tensor, ...], int], tuple[Tensor, ...]]:
    """A ``grad_fn`` for :func:`integrate_gradients` that differentiates the model itself."""

    layout = Layout(gradients=True)

    def grad_fn(points: tuple[Tensor, ...], m: int) -> tuple[Tensor, ...]:
        return compute_gradients(
            forward_func,
            points,
            target.expand(m),
            expand_additional_args(additional_args, n, m),
            layout,
        )

    return grad_fn
