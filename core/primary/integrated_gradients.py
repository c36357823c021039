"""Integrated Gradients (Sundararajan et al., 2017, "Axiomatic Attribution for Deep Networks")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._engine.approximation import approximation_parameters
from .._engine.batching import auto_rows
from .._engine.gradients import integrate_gradients, model_grad_fn
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    format_additional_args,
    format_baselines,
    format_target,
    like_inputs,
    require_float,
)
from ..attribution import GradientAttribution


class IntegratedGradients(GradientAttribution):
    r"""Integrated Gradients along the straight line from a baseline :math:`x'` to :math:`x`.

    .. math::
        IG_i(x) = (x_i - x'_i) \int_0^1
                  \frac{\partial F(x' + \alpha (x - x'))}{\partial x_i} \, d\alpha

    The integral is approximated with ``n_steps`` points of a quadrature rule. By
    completeness, :math:`\sum_i IG_i(x) = F(x) - F(x')`; the convergence delta measures the
    error of the approximation. Cost: ``n_steps`` forward and backward passes per example,
    evaluated ``internal_batch_size`` rows at a time (sized from a memory budget by default).

    Parameters
    ----------
    forward_func : callable
        The model, or any function of the inputs returning a tensor.
    multiply_by_inputs : bool, default True
        Multiply the path integral by ``x - x'`` (global attribution). With ``False`` the
        integrated gradient alone is returned (local attribution).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import IntegratedGradients
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    >>> x = torch.randn(4, 3)
    >>> attr, delta = IntegratedGradients(net).attribute(
    ...     x, target=0, n_steps=50, return_convergence_delta=True)
    >>> attr.shape, bool(delta.abs().max() < 1e-4)
    (torch.Size([4, 3]), True)
    """

    _has_delta = True

    def __init__(self, forward_func: Callable, multiply_by_inputs: bool = True) -> None:
        super().__init__(forward_func)
        self._multiply_by_inputs = multiply_by_inputs

    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | str | None = "auto",
        return_convergence_delta: bool = False,
        show_progress: bool = False,
    ):
        """Return the attributions (and the convergence delta if asked).

        Parameters
        ----------
        inputs : tensor or tuple of tensors
            The examples to explain; the first dimension is the batch.
        baselines : None, number, tensor or tuple, optional
            The reference point :math:`x'` (zeros by default), per input tensor.
        target : int, tuple, list, tensor or callable, optional
            Which output to explain; see :mod:`perspicio.core` for the accepted forms.
        additional_forward_args : any, optional
            Extra arguments passed to the model after the inputs.
        n_steps : int, default 50
            Number of quadrature points.
        method : str, default "gausslegendre"
            ``riemann_left``, ``riemann_right``, ``riemann_middle``, ``riemann_trapezoid`` or
            ``gausslegendre``.
        internal_batch_size : int, "auto" or None, default "auto"
            Rows per model evaluation. "auto" sizes chunks from the model's measured
            activation memory (see :func:`perspicio.core._engine.batching.auto_rows`); None
            evaluates all ``n_steps * N`` rows at once, as Captum does. The result does not
            depend on it.
        return_convergence_delta : bool, default False
            Also return ``sum(attributions) - (F(x) - F(x'))`` per example.
        show_progress : bool, default False
            Show a progress bar over the chunks of steps.
        """
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, "IntegratedGradients")
        bases = format_baselines(baselines, xs)
        tgt = format_target(target, xs[0].shape[0])
        args = format_additional_args(additional_forward_args)
        alphas, weights = approximation_parameters(method, n_steps)
        if internal_batch_size == "auto":
            internal_batch_size = auto_rows(self.forward_func, xs, args)

        grad_fn = model_grad_fn(self.forward_func, tgt, args, xs[0].shape[0])
        integral = integrate_gradients(
            grad_fn,
            bases,
            xs,
            alphas,
            weights,
            internal_batch_size,
            show_progress,
            f"{self.get_name()} attribution",
        )
        if self._multiply_by_inputs:
            attrs = tuple(g * (x - b) for g, x, b in zip(integral, xs, bases))
        else:
            attrs = integral
        result = like_inputs(attrs, was_tuple)
        if not return_convergence_delta:
            return result
        delta = self.compute_convergence_delta(attrs, bases, xs, target, additional_forward_args)
        return result, delta
