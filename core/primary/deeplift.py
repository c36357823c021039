"""DeepLift (Shrikumar et al., 2017, "Learning Important Features Through Propagating
Activation Differences"), Rescale rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.callbacks import call_leading
from .._engine.gradients import autograd_grad
from .._engine.hooks import FunctionRules, preserved_state
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    expand_additional_args,
    format_additional_args,
    format_baselines,
    format_target,
    like_inputs,
    require_float,
)
from .._engine.outputs import run_forward
from ..attribution import GradientAttribution
from ..errors import AttributionTypeError, AttributionValueError
from ._deeplift_rules import deeplift_rules


def refuse_torchscript(model: Any, method: str) -> None:
    """Rules that act per call cannot see inside compiled TorchScript."""
    if isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        raise AttributionTypeError(
            f"{method} replaces the backward rule of each nonlinearity as the model runs, "
            "which TorchScript hides; pass the original (eager) nn.Module"
        )


def deeplift_multipliers(
    model: Callable,
    inputs: tuple[Tensor, ...],
    baselines: tuple[Tensor, ...],
    target: Any,
    additional_args: tuple[Any, ...],
    eps: float,
) -> tuple[tuple[Tensor, ...], Tensor]:
    """Multipliers ``m`` (with ``sum(m * (x - x')) = F(x) - F(x')``) and that output change.

    One forward pass on ``[inputs; baselines]`` with DeepLift's rules active, one backward.
    """
    n = inputs[0].shape[0]
    tgt = format_target(target, n).expand(2)
    args = expand_additional_args(additional_args, n, 2)
    with preserved_state(model), FunctionRules(deeplift_rules(n, eps)), torch.enable_grad():
        leaves = tuple(
            torch.cat([x, b]).detach().requires_grad_(True) for x, b in zip(inputs, baselines)
        )
        out = run_forward(model, leaves, tgt, args)
        grads = autograd_grad(out[:n].sum(), leaves)
    mults = tuple(torch.zeros_like(x) if g is None else g[:n] for x, g in zip(inputs, grads))
    return mults, (out[:n] - out[n:]).detach()


def apply_custom(func: Callable, mults, inputs, baselines) -> tuple[Tensor, ...]:
    """Call ``custom_attribution_func`` with 1, 2 or 3 of (multipliers, inputs, baselines)."""
    out = call_leading(
        func,
        mults,
        inputs,
        baselines,
        name="custom_attribution_func (multipliers, inputs, baselines)",
        least=1,
        error=AttributionValueError,
    )
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


class DeepLift(GradientAttribution):
    r"""DeepLift with the Rescale rule.

    Each nonlinearity's gradient is replaced by the ratio of its output and input changes
    between the input and a baseline, so that the attributions satisfy summation-to-delta:

    .. math:: \sum_i m_i (x_i - x'_i) = F(x) - F(x')

    Rules apply per *call*: a module used twice (torchvision ResNet's shared in-place ReLU),
    in-place activations and ``torch.nn.functional`` activations inside ``forward`` are all
    handled. Cost: one forward and one backward pass on ``2N`` rows.

    Parameters
    ----------
    model : callable
        The model (an ``nn.Module`` or a function built from torch operations).
    multiply_by_inputs : bool, default True
        Return ``m * (x - x')``; with ``False``, the multipliers ``m``.
    eps : float, default 1e-10
        Below this ``|x - x'|`` a nonlinearity uses its gradient instead of the ratio.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import DeepLift
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> x = torch.randn(3, 4)
    >>> attr, delta = DeepLift(net).attribute(x, return_convergence_delta=True)
    >>> bool(delta.abs().max() < 1e-5)
    True
    """

    _has_delta = True

    def __init__(self, model: Callable, multiply_by_inputs: bool = True, eps: float = 1e-10):
        super().__init__(model)
        refuse_torchscript(model, type(self).__name__)
        self.model = model
        self.eps = eps
        self._multiply_by_inputs = multiply_by_inputs

    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        custom_attribution_func: Callable | None = None,
    ):
        """Return the attributions (and ``sum(attr) - (F(x) - F(x'))`` if asked).

        Parameters
        ----------
        inputs, baselines, target, additional_forward_args
            As in :class:`IntegratedGradients`.
        return_convergence_delta : bool, default False
            Also return the summation-to-delta error per example.
        custom_attribution_func : callable, optional
            Replaces the final step: called with ``(multipliers)``, ``(multipliers, inputs)``
            or ``(multipliers, inputs, baselines)`` and returns the attributions.
        """
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, type(self).__name__)
        bases = format_baselines(baselines, xs)
        args = format_additional_args(additional_forward_args)
        mults, diff = deeplift_multipliers(self.model, xs, bases, target, args, self.eps)
        if custom_attribution_func is not None:
            attrs = apply_custom(custom_attribution_func, mults, xs, bases)
        elif self._multiply_by_inputs:
            attrs = tuple(m * (x - b) for m, x, b in zip(mults, xs, bases))
        else:
            attrs = mults
        result = like_inputs(attrs, was_tuple)
        if not return_convergence_delta:
            return result
        total = sum(a.reshape(a.shape[0], -1).sum(1) for a in attrs)
        return result, total.to(diff.dtype) - diff
