"""Machinery of the rules written as modified gradients (relevance = input x gradient):
gradient scales, the identity rule's ratio, an audit of what each operation keeps, and a set
of tensors held by identity. The rules themselves live in
:mod:`perspicio.core.primary.attention_lrp`."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

#: LXT's stabiliser of the identity rule's ratio f(x) / (x + eps)
IDENTITY_EPS = 1e-10


class _ScaleGradient(torch.autograd.Function):
    """Forward: ``x``. Backward: the gradient times ``factor``."""

    @staticmethod
    def forward(ctx, x: Tensor, factor: float) -> Tensor:  # noqa: D102
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        return grad * ctx.factor, None


def scale_gradient(x: Tensor, factor: float) -> Tensor:
    """``x`` whose gradient is multiplied by ``factor`` (the uniform rule's share)."""
    return _ScaleGradient.apply(x, factor)


class _IdentityRule(torch.autograd.Function):
    """Forward: ``y = f(x)`` (given). Backward: :math:`g_x = g_y \\cdot y / (x + \\epsilon)`,
    so that :math:`R_x = x \\odot g_x = R_y` element by element. Only the ratio is kept for
    the backward pass: the memory of the activation's own gradient."""

    @staticmethod
    def forward(ctx, x: Tensor, y: Tensor) -> Tensor:  # noqa: D102
        ctx.save_for_backward(y / (x + IDENTITY_EPS))
        return y.view_as(y)

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        (ratio,) = ctx.saved_tensors
        return grad * ratio, None


def identity_rule(x: Tensor, y: Tensor) -> Tensor:
    """``y = f(x)`` for a point-wise ``f``, with the identity rule's gradient."""
    return _IdentityRule.apply(x, y.detach())


def tensors(obj: Any) -> Iterator[Tensor]:
    """The tensors of ``obj``: itself, or the tensors of a tuple or list."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            if isinstance(item, Tensor):
                yield item


@dataclass
class Audit:
    """Relevance entering and leaving each operation of one call (totals over the batch).

    ``absorbed[name]`` is :math:`\\sum R_{out} - \\sum R_{in}` summed over the calls of that
    operation: what biases, added constants, the softmax and stabilisers keep. For every
    other operation it is zero up to rounding: the rules conserve.
    """

    absorbed: dict[str, float] = field(default_factory=dict)
    output: float = 0.0
    relevance: float = 0.0
    _cells: list = field(default_factory=list)

    def watch(self, name: str, inputs: list[Tensor]) -> tuple[list[Tensor], Callable]:
        """Aliases of ``inputs`` whose relevance is recorded, and ``done(output)`` that
        records the relevance of the operation's output."""
        cell = [name, 0.0, 0.0]  # name, relevance out, relevance in
        self._cells.append(cell)

        def record(slot: int, t: Tensor) -> Callable[[Tensor], None]:
            def hook(g: Tensor) -> None:
                cell[slot] += float((t.detach().double() * g.double()).sum())

            return hook

        aliases = [x.view_as(x) for x in inputs]
        for a in aliases:
            a.register_hook(record(2, a))

        def done(out: Any) -> Any:
            for t in tensors(out):
                if t.requires_grad:
                    t.register_hook(record(1, t))
            return out

        return aliases, done

    def finish(self) -> None:
        """Fold the recorded cells into ``absorbed`` (after the backward pass)."""
        for name, out, into in self._cells:
            self.absorbed[name] = self.absorbed.get(name, 0.0) + out - into
        self._cells.clear()


class TensorSet:
    """A set of tensors by identity, holding none of them alive."""

    def __init__(self, tensors: tuple[Tensor, ...] = ()) -> None:
        self._refs: dict[int, weakref.ref] = {}
        for t in tensors:
            self.add(t)

    def add(self, t: Tensor) -> None:  # noqa: D102
        self._refs[id(t)] = weakref.ref(t)

    def __contains__(self, t: Tensor) -> bool:
        ref = self._refs.get(id(t))
        return ref is not None and ref() is t


def differentiable(ts: list[Tensor]) -> list[Tensor]:
    """The floating-point tensors of ``ts`` that require gradients."""
    return [t for t in ts if t.is_floating_point() and t.requires_grad]


def swap(obj: Any, change: Callable[[Tensor], Tensor], ids: set[int]) -> Any:
    """``obj`` with ``change(t)`` for each tensor ``t`` whose ``id`` is in ``ids`` (itself, or
    the items of a tuple or list)."""
    if isinstance(obj, Tensor):
        return change(obj) if id(obj) in ids else obj
    if isinstance(obj, (tuple, list)):
        return type(obj)(swap(t, change, ids) if isinstance(t, Tensor) else t for t in obj)
    return obj


#: module classes whose forward is a point-wise activation, written as a formula or not
_ACTIVATION_SOURCES = (
    "torch.nn.modules.activation",
    "transformers.activations",
    "timm.layers.activations",
)
_NOT_ACTIVATIONS = frozenset(
    "MultiheadAttention Softmax Softmax2d LogSoftmax Softmin GLU Threshold".split()
)


def is_activation(module: nn.Module) -> bool:
    """Whether ``module`` is a point-wise activation (``nn.GELU``, transformers'
    ``NewGELUActivation`` ...), which gets the identity rule as a whole, whatever formula its
    forward writes; a module named ``*GELU``/``*SiLU``/``*Swish`` without parameters or
    children (open_clip's ``QuickGELU``) counts too."""
    kind = _ACTIVATION_KIND.get(type(module))
    if kind is None:
        cls = type(module)
        if cls.__name__ in _NOT_ACTIVATIONS:
            kind = "no"
        elif cls.__module__.startswith(_ACTIVATION_SOURCES):
            kind = "yes"
        else:
            kind = "named" if cls.__name__.lower().endswith(("gelu", "silu", "swish")) else "no"
        _ACTIVATION_KIND[type(module)] = kind
    if kind == "no" or module._modules:
        return False
    return kind == "yes" or not module._parameters


#: what :func:`is_activation` found of each module class
_ACTIVATION_KIND: dict[type, str] = {}
