"""Base classes of every attribution algorithm."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_forward_func,
    format_additional_args,
    format_target,
    run_forward,
)


class Attribution:
    """An attribution method: explains ``forward_func``'s output in terms of its inputs.

    Parameters
    ----------
    forward_func : callable
        The model, or any function of the inputs returning a tensor.
    """

    #: Whether ``attribute`` can return a convergence delta.
    _has_delta = False

    def __init__(self, forward_func: Callable) -> None:
        check_forward_func(forward_func, type(self).__name__)
        self.forward_func = forward_func

    def attribute(self, inputs: TensorOrTuple, *args: Any, **kwargs: Any) -> Any:
        """Compute the attribution of ``inputs``; see each method for its arguments."""
        raise NotImplementedError

    def has_convergence_delta(self) -> bool:
        """Whether ``attribute(..., return_convergence_delta=True)`` is supported."""
        return self._has_delta

    @property
    def multiplies_by_inputs(self) -> bool:
        """Whether the attribution is multiplied by ``inputs - baselines`` (global form)."""
        return getattr(self, "_multiply_by_inputs", False)

    @classmethod
    def get_name(cls) -> str:
        """A readable name: ``IntegratedGradients`` -> ``"Integrated Gradients"``."""
        return " ".join(re.findall(r"[A-Z][a-z]+|[A-Z]+(?![a-z])|\d+", cls.__name__))

    @torch.no_grad()
    def compute_convergence_delta(
        self,
        attributions: TensorOrTuple,
        start_point: TensorOrTuple,
        end_point: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> Tensor:
        """``sum(attributions) - (f(end_point) - f(start_point))`` for each example.

        Completeness says the total attribution equals the change of the output between the
        two points; the returned delta measures how far an approximation is from it.
        """
        attrs, _ = as_tuple(attributions, "attributions")
        ends, _ = as_tuple(end_point, "end_point")
        starts, _ = as_tuple(start_point, "start_point")
        n = ends[0].shape[0]
        tgt = format_target(target, n)
        args = format_additional_args(additional_forward_args)
        diff = run_forward(self.forward_func, ends, tgt, args) - run_forward(
            self.forward_func, starts, tgt, args
        )
        total = sum(a.reshape(a.shape[0], -1).sum(1) for a in attrs)
        return total.to(diff.dtype) - diff


class GradientAttribution(Attribution):
    """Base class of the methods that use the model's gradients."""


class PerturbationAttribution(Attribution):
    """Base class of the methods that evaluate the model on perturbed inputs."""
