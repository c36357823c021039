"""DeepLift's multipliers for each nonlinearity, applied per call (Shrikumar et al., 2017).

DeepLift runs the model once on ``[inputs; baselines]`` (``2n`` rows). Every nonlinear call
``y = f(x)`` sees both halves, so it knows ``dx = x - x'`` and ``dy = f(x) - f(x')``. Its
backward pass is replaced by a *multiplier* ``m`` with ``m . dx = dy`` (summation-to-delta);
chaining multipliers through linear layers gives attributions that sum exactly to
``F(x) - F(x')``.

* Elementwise functions (ReLU, ELU, LeakyReLU, Sigmoid, Tanh, Softplus, GELU, SiLU...) use
  the Rescale rule ``m = dy / dx``, falling back to ``f'(x)`` where ``|dx| < eps``.
* Max pooling shares each window's ``dy`` between the input's and the baseline's maximum in
  proportion to ``|dx|`` there, and divides by ``dx`` (the gradient where both tie).
* Softmax, whose outputs each depend on a whole row, uses the Jacobian averaged along the
  segment from ``x'`` to ``x`` (16-point Gauss-Legendre). For an elementwise function this
  average is exactly ``dy / dx``, so it is the Rescale rule's natural generalisation, and
  ``J_avg dx = dy`` keeps summation-to-delta.

Calls on tensors whose first dimension is not ``2n`` (not batch-carrying) keep their
ordinary gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine.hooks import bind_first_argument, replace_gradient

ELEMENTWISE: tuple[Callable, ...] = (
    F.relu,
    torch.relu,
    Tensor.relu,
    torch.relu_,
    Tensor.relu_,
    F.elu,
    F.leaky_relu,
    F.relu6,
    F.hardtanh,
    F.selu,
    F.celu,
    torch.sigmoid,
    Tensor.sigmoid,
    F.sigmoid,
    torch.tanh,
    Tensor.tanh,
    F.tanh,
    F.softplus,
    F.gelu,
    F.silu,
    F.mish,
    F.hardswish,
    F.hardsigmoid,
    F.logsigmoid,
)
MAX_POOLS = {
    F.max_pool1d: F.max_pool1d_with_indices,
    F.max_pool2d: F.max_pool2d_with_indices,
    F.max_pool3d: F.max_pool3d_with_indices,
}
SOFTMAX = (F.softmax, torch.softmax, Tensor.softmax)
_POOL_ARGS = (
    "input",
    "kernel_size",
    "stride",
    "padding",
    "dilation",
    "ceil_mode",
    "return_indices",
)


def _batch_carrying(x: object, n: int) -> bool:
    return isinstance(x, Tensor) and x.dim() > 0 and x.shape[0] == 2 * n


def _derivative(apply: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        return torch.autograd.grad(apply(leaf).sum(), leaf)[0]


def rescale_rule(n: int, eps: float) -> Callable:
    """The Rescale rule for elementwise nonlinearities."""

    def rule(func, args, kwargs):
        x, apply = bind_first_argument(func, args, kwargs)
        if not _batch_carrying(x, n):
            return apply(x)
        with torch.no_grad():
            y = apply(x)
        dx, dy = x[:n].detach() - x[n:].detach(), y[:n] - y[n:]
        small = dx.abs() < eps
        m = dy / torch.where(small, torch.ones_like(dx), dx)
        if bool(small.any()):
            m = torch.where(small, _derivative(apply, x[:n]), m)
        m = torch.cat([m, m]).detach()
        return replace_gradient(x, y, lambda g: g * m)

    return rule


def _route(values: Tensor, indices: Tensor, shape: torch.Size) -> Tensor:
    """Add each pooled value into the input position its window took its maximum from."""
    b, c = values.shape[:2]
    flat = values.new_zeros(b, c, math.prod(shape[2:]))
    flat.scatter_add_(2, indices.reshape(b, c, -1), values.reshape(b, c, -1))
    return flat.view(shape)


def max_pool_rule(n: int, eps: float) -> Callable:
    """Rescale for max pooling.

    Window ``j`` takes its maximum at ``p`` for the input and at ``q`` for the baseline.
    Its change ``dy_j`` is shared between ``p`` and ``q`` in proportion to ``|dx|`` there,
    and divided by ``dx``: ``m_p dx_p + m_q dx_q = dy_j``. A tie (``dx = 0``) receives
    nothing, so no share of ``dy`` is lost to it.
    """

    def rule(func, args, kwargs):
        params = dict(zip(_POOL_ARGS, args), **kwargs)
        x = params.pop("input")
        return_indices = params.pop("return_indices", False)
        if not _batch_carrying(x, n) or x.dim() < 3:
            y, idx = MAX_POOLS[func](x, **params, return_indices=True)
            return (y, idx) if return_indices else y
        with torch.no_grad():
            y, idx = MAX_POOLS[func](x, **params, return_indices=True)
        dx, dy = (x[:n] - x[n:]).detach(), (y[:n] - y[n:]).detach()
        ix, ir = idx[:n], idx[n:]
        flat_abs = dx.abs().flatten(2)
        share = flat_abs.gather(2, ix.flatten(2)) + flat_abs.gather(2, ir.flatten(2))
        share = share.view_as(dy)
        tied = share < eps
        ratio = dy / torch.where(tied, torch.ones_like(share), share)
        sign = torch.sign(dx)

        def vjp(g: Tensor) -> Tensor:
            halves = []
            for gh, own in ((g[:n], ix), (g[n:], ir)):
                coef = torch.where(tied, torch.zeros_like(gh), gh * ratio)
                spread = (_route(coef, ix, dx.shape) + _route(coef, ir, dx.shape)) * sign
                plain = _route(torch.where(tied, gh, torch.zeros_like(gh)), own, dx.shape)
                halves.append(spread + plain)
            return torch.cat(halves)

        out = replace_gradient(x, y, vjp)
        return (out, idx) if return_indices else out

    return rule


_GL_NODES, _GL_WEIGHTS = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(16))


def softmax_rule(n: int, eps: float) -> Callable:
    """Average Jacobian of softmax on the segment from the baseline to the input."""

    def rule(func, args, kwargs):
        x, apply = bind_first_argument(func, args, kwargs)
        if not _batch_carrying(x, n):
            return apply(x)
        with torch.no_grad():
            y = apply(x)
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if dim is None:
            dim = F._get_softmax_dim("softmax", x.dim(), 3)
        x_in, x_ref = x[:n].detach(), x[n:].detach()
        alphas = ((_GL_NODES + 1) / 2).tolist()
        weights = (_GL_WEIGHTS / 2).tolist()
        with torch.no_grad():
            ys = [apply(x_ref + a * (x_in - x_ref)) for a in alphas]

        def vjp(g: Tensor) -> Tensor:
            halves = []
            for gh in (g[:n], g[n:]):
                # softmax's vector-Jacobian product at y: y * (g - <g, y>), averaged on the path
                avg = sum(
                    w * yk * (gh - (gh * yk).sum(dim, keepdim=True)) for w, yk in zip(weights, ys)
                )
                # softmax ignores a shift shared by its inputs, so the exact product sums to
                # zero along `dim`; removing the rounding error's mean keeps a large shared
                # input difference (big logits) from turning rounding into attribution
                halves.append(avg - avg.mean(dim, keepdim=True))
            return torch.cat(halves)

        return replace_gradient(x, y, vjp)

    return rule


def deeplift_rules(n: int, eps: float) -> dict[Callable, Callable]:
    """Every rule of DeepLift's Rescale variant, for a batch of ``n`` input/baseline pairs."""
    rules: dict[Callable, Callable] = {}
    rescale, pool, soft = rescale_rule(n, eps), max_pool_rule(n, eps), softmax_rule(n, eps)
    rules.update({f: rescale for f in ELEMENTWISE})
    rules.update({f: pool for f in MAX_POOLS})
    rules.update({f: soft for f in SOFTMAX})
    return rules
