"""Base classes of every attribution algorithm."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._engine.capture import NeuronFunction, check_layers
from ._engine.hooks import preserved_state, recurrent_backward_allowed
from ._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_forward_func,
    expand_additional_args,
    format_additional_args,
    format_baselines,
    format_target,
)
from ._engine.outputs import run_forward


def _entry_point(attribute: Callable) -> Callable:
    """Wrap a class's own ``attribute``: the model's train/eval flags and its parameters'
    ``requires_grad`` are restored on exit, whatever the method did or raised, and its
    recurrent layers give gradients on CUDA in eval mode (see
    :func:`~perspicio.core._engine.hooks.recurrent_backward_allowed`). The original
    function stays reachable as ``attribute.__wrapped__`` (with its signature, which
    ``inspect`` follows), as on Captum's decorated methods."""
    if getattr(attribute, "_perspicio_entry", False):
        return attribute

    @functools.wraps(attribute)
    def entry(self: Attribution, *args: Any, **kwargs: Any) -> Any:
        model = getattr(self, "forward_func", None)
        # a bound method (``model.forward``, ``model.predict``) speaks for its module
        model = getattr(model, "__self__", model)
        with preserved_state(model), recurrent_backward_allowed(model):
            return attribute(self, *args, **kwargs)

    entry._perspicio_entry = True  # type: ignore[attr-defined]
    return entry


class Attribution:
    """An attribution method: explains ``forward_func``'s output in terms of its inputs.

    Parameters
    ----------
    forward_func : callable
        The model, or any function of the inputs returning a tensor.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "attribute" in cls.__dict__:
            cls.attribute = _entry_point(cls.__dict__["attribute"])  # type: ignore[method-assign]

    #: Whether ``attribute`` can return a convergence delta.
    _has_delta = False

    def __init__(self, forward_func: Callable) -> None:
        check_forward_func(forward_func, type(self).__name__)
        self.forward_func = forward_func

    def attribute(self, inputs: TensorOrTuple, *args: Any, **kwargs: Any) -> Any:
        """Compute the attribution of ``inputs``; see each method for its arguments."""
        raise NotImplementedError

    #: whether :meth:`attribute_future` is offered (as in Captum: FeatureAblation,
    #: FeaturePermutation, ShapleyValueSampling and ShapleyValues)
    _has_future = False

    def attribute_future(self, *args: Any, **kwargs: Any) -> torch.futures.Future:
        """``attribute`` returning a completed ``torch.futures.Future`` (Captum's form for
        forward functions that return futures; perspicio waits for the model's futures and
        computes the attributions before returning). Only the ablation and Shapley methods
        offer it, as in Captum."""
        if not self._has_future:
            raise NotImplementedError(
                f"{type(self).__name__} has no attribute_future; call attribute() (a forward "
                "function returning a Future is waited for there too)"
            )
        # a plain torch.Future, as Captum returns (torch.futures.Future is a subclass of it)
        result: torch.futures.Future = torch._C.Future([])  # type: ignore[assignment]
        result.set_result(self.attribute(*args, **kwargs))
        return result

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
        # numbers and None (zeros) are accepted for the start point, as baselines are
        starts = format_baselines(start_point, ends, "start_point")
        n = ends[0].shape[0]
        tgt = format_target(target, n)
        args = format_additional_args(additional_forward_args)
        # both ends in one forward pass of 2n rows
        both = tuple(torch.cat([e, s.expand_as(e)]) for e, s in zip(ends, starts))
        out = run_forward(
            self.forward_func, both, tgt.expand(2), expand_additional_args(args, n, 2)
        )
        diff = out[:n] - out[n:]
        total = sum(a.reshape(a.shape[0], -1).sum(1) for a in attrs)
        return total.to(diff.dtype) - diff


class LayerAttribution(Attribution):
    """Base class of the methods that attribute to a layer's neurons.

    Parameters
    ----------
    forward_func : callable
        The model.
    layer : torch.nn.Module (or a list of them where the method accepts one)
        The layer whose output (or input, with ``attribute_to_layer_input=True``) is
        attributed.
    device_ids : list of int, optional
        Accepted for compatibility with Captum (DataParallel); not needed here.
    """

    def __init__(self, forward_func: Callable, layer: Any, device_ids: Any = None) -> None:
        super().__init__(forward_func)
        self.layers = check_layers(forward_func, layer)
        self.layer = layer
        self.device_ids = device_ids

    def _answer(self, per_layer: list[tuple[Tensor, ...]], forms: list[bool]) -> Any:
        """A tensor per layer (a tuple where the layer returned one); a list for a list."""
        results = [value if was_tuple else value[0] for value, was_tuple in zip(per_layer, forms)]
        return results if isinstance(self.layer, (list, tuple)) else results[0]

    @staticmethod
    def interpolate(
        layer_attribution: Tensor,
        interpolate_dims: int | tuple[int, ...],
        interpolate_mode: str = "nearest",
    ) -> Tensor:
        """Resize a layer attribution ``(N, C, ...)`` to ``interpolate_dims`` (e.g. the input
        size) with ``torch.nn.functional.interpolate`` (nearest, bilinear, bicubic, ...)."""
        import torch.nn.functional as F

        return F.interpolate(layer_attribution, size=interpolate_dims, mode=interpolate_mode)


class NeuronAttribution(Attribution):
    """Base class of the methods that explain one neuron of a layer in terms of the inputs.

    ``neuron_selector`` (an argument of ``attribute``) is an int, a tuple of indices into
    the layer's output without the batch dimension, or a callable mapping the layer's output
    to one value per example (e.g. the sum of a slice).
    """

    def __init__(self, forward_func: Callable, layer: Any, device_ids: Any = None) -> None:
        super().__init__(forward_func)
        check_layers(forward_func, layer)
        self.layer = layer
        self.device_ids = device_ids

    def neuron_function(self, neuron_selector: Any, attribute_to_neuron_input: bool = False):
        """The selected neuron as a function of the inputs (stops after the layer)."""
        return NeuronFunction(
            self.forward_func, self.layer, neuron_selector, attribute_to_neuron_input
        )


class GradientAttribution(Attribution):
    """Base class of the methods that use the model's gradients."""


class PerturbationAttribution(Attribution):
    """Base class of the methods that evaluate the model on perturbed inputs.

    Their attributions are output differences against the baseline, so they already carry
    the ``inputs - baselines`` factor: ``multiplies_by_inputs`` is True, as in Captum.
    """

    _multiply_by_inputs = True
