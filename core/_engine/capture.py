"""Machinery of layer and neuron attribution: read or replace what a layer sees or returns.

Every hook is attached inside a ``with`` block and removed on exit, also when the model
raises, and acts only on the passes of the call that attached it
(:class:`~perspicio.core._engine.hooks.CallHooks`), so threads sharing a model do not see each
other's layers. A layer's value is a tuple of tensors (its outputs, or with
``attribute_to_layer_input=True`` its positional inputs); the caller learns whether the
layer returned a bare tensor so it can answer in the same form.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import AttributionTypeError, AttributionValueError
from .batching import Layout
from .gradients import autograd_grad
from .hooks import CallHooks
from .inputs import Target, expand_additional_args
from .outputs import run_forward

LayerValue = tuple[Tensor, ...]


class _StopForward(Exception):
    """Raised by a hook once every layer of interest has been seen."""


def check_layers(model: Any, layers: nn.Module | Sequence[nn.Module]) -> list[nn.Module]:
    """The layers as a list, each checked to be a submodule of ``model``."""
    items = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if not items:
        raise AttributionValueError("`layer` is an empty list; give at least one layer")
    # a plain function wrapping a model cannot be searched; a layer it never calls is
    # reported when the forward pass runs
    modules = list(model.modules()) if isinstance(model, nn.Module) else None
    for layer in items:
        if not isinstance(layer, nn.Module):
            raise AttributionTypeError(
                f"`layer` must be a torch.nn.Module, got {type(layer).__name__}"
            )
        if modules is not None and not any(m is layer for m in modules):
            raise AttributionValueError(
                f"`layer` {layer.__class__.__name__} is not a submodule of the model "
                f"({type(model).__name__}); pass a module reachable from model.modules()"
            )
    return items


def _as_value(obj: Any) -> tuple[LayerValue, bool]:
    if isinstance(obj, Tensor):
        return (obj,), False
    if isinstance(obj, (tuple, list)) and obj and all(isinstance(t, Tensor) for t in obj):
        return tuple(obj), True
    raise AttributionTypeError(
        f"the layer produced {type(obj).__name__}; layer attribution needs a tensor or a "
        "tuple of tensors"
    )


def _differentiable(value: LayerValue) -> LayerValue:
    """Tensors that do not require grad (frozen weights, integer inputs) become leaves."""
    return tuple(
        t if t.requires_grad or not t.is_floating_point() else t.detach().requires_grad_(True)
        for t in value
    )


@contextlib.contextmanager
def capture(
    layers: list[nn.Module],
    to_input: bool = False,
    differentiable: bool = False,
    stop: bool = False,
    replace: list[LayerValue] | None = None,
) -> Iterator[list[list[tuple[LayerValue, bool]]]]:
    """Record each call of each layer: ``records[i]`` lists ``(value, was_tuple)``.

    ``differentiable``: make the recorded tensors leaves of the graph if they are not in it.
    ``stop``: abort the forward pass once every layer has been seen (``_StopForward``).
    ``replace``: substitute ``replace[i]`` for layer ``i``'s value (its output, or its
    positional inputs); the substitute is what gets recorded.
    """
    records: list[list[tuple[LayerValue, bool]]] = [[] for _ in layers]

    def seen(i: int, obj: Any) -> Any:
        value, was_tuple = _as_value(obj)
        if to_input:  # positional inputs always come as a tuple; one input is a tensor
            was_tuple = len(value) > 1
        if replace is not None:
            value = replace[i]
        elif differentiable:
            value = _differentiable(value)
        records[i].append((value, was_tuple))
        if stop and all(records):
            raise _StopForward
        # the model goes on with copies: an in-place operation after the layer (ReLU(inplace=
        # True), +=) must change neither the recorded value nor its place in the graph
        given = tuple(t.clone() for t in value)
        return given if was_tuple else given[0]

    def seen_input(i: int, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        # the tensors the layer is called with, positional ones first, then keyword ones
        # (Hugging Face modules are called with keywords)
        slots = [i_ for i_, a in enumerate(args) if isinstance(a, Tensor)]
        keys = [k for k, v in kwargs.items() if isinstance(v, Tensor)]
        if not slots and not keys:
            raise AttributionTypeError(
                f"`layer` {layers[i].__class__.__name__} was called without tensors; layer "
                "attribution needs a tensor input (or its output)"
            )
        value = tuple(args[j] for j in slots) + tuple(kwargs[k] for k in keys)
        new = _wrap(seen(i, value))
        args, kwargs = list(args), dict(kwargs)
        for j, t in zip(slots + keys, new):
            if isinstance(j, int):
                args[j] = t
            else:
                kwargs[j] = t
        return tuple(args), kwargs

    with CallHooks() as hooks:  # on this call's own passes only (see CallHooks)
        for i, layer in enumerate(layers):
            if to_input:
                hooks.forward_pre(
                    layer,
                    lambda m, args, kwargs, i=i: seen_input(i, args, kwargs),
                    with_kwargs=True,
                )
            else:
                hooks.forward(layer, lambda m, args, out, i=i: seen(i, out))
        yield records


def _wrap(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def single_calls(layers: list[nn.Module], records) -> list[tuple[LayerValue, bool]]:
    """The one call of each layer; a clear error if a layer ran never or more than once."""
    out = []
    for layer, rec in zip(layers, records):
        name = layer.__class__.__name__
        if not rec:
            raise AttributionValueError(
                f"`layer` {name} was never called in the forward pass; choose a layer that "
                "the model's forward uses"
            )
        if len(rec) > 1:
            raise AttributionValueError(
                f"`layer` {name} was called {len(rec)} times in one forward pass (a reused "
                "module); layer attribution needs a layer that is called once"
            )
        out.append(rec[0])
    return out


def check_differentiable(
    layers: list[nn.Module], values: list[tuple[LayerValue, bool]], to_input: bool
) -> None:
    """A clear error when a layer's value holds no floating point tensor (token ids):
    no gradient or path can be taken with respect to it."""
    for layer, (value, _) in zip(layers, values):
        if not any(t.is_floating_point() for t in value):
            where = "input" if to_input else "output"
            dtypes = ", ".join(str(t.dtype) for t in value)
            raise AttributionValueError(
                f"the {where} of `layer` {layer.__class__.__name__} holds integers ({dtypes}, "
                "token ids?), which no gradient or path can vary; attribute the layer's "
                "output (attribute_to_layer_input=False) or the embedding that turns the ids "
                "into vectors (e.g. model.get_input_embeddings(), `word_embeddings`)"
            )


def layer_values(
    model: Callable,
    layers: list[nn.Module],
    inputs: tuple[Tensor, ...],
    args: tuple,
    to_input: bool,
) -> list[tuple[LayerValue, bool]]:
    """Each layer's value, running the model only as far as the last layer needs."""
    with torch.no_grad(), capture(layers, to_input, stop=True) as records:
        try:
            model(*inputs, *args)
        except _StopForward:
            pass
    return single_calls(layers, records)


def layer_gradients(
    model: Callable,
    layers: list[nn.Module],
    inputs: tuple[Tensor, ...],
    target: Target,
    args: tuple,
    to_input: bool,
    replace: list[LayerValue] | None = None,
    layout: Layout | None = None,
    rows: int | None = None,
) -> tuple[list[LayerValue], list[tuple[LayerValue, bool]], Tensor]:
    """Gradients of the targeted output with respect to each layer's value, the values and
    the targeted output.

    With ``replace``, the layers take the given values and the gradients are taken with
    respect to them; ``rows`` is then the number of outputs the model must return.
    """
    if replace is not None:
        check_differentiable(layers, [(v, False) for v in replace], to_input)
        replace = [tuple(t.detach().requires_grad_(True) for t in v) for v in replace]

    def run(points: tuple[Tensor, ...]):
        with torch.enable_grad():  # also inside a caller's torch.no_grad()
            with capture(layers, to_input, True, replace=replace) as records:
                out = run_forward(model, points, target, args)
            if rows is not None and out.shape[0] != rows:
                raise AttributionValueError(
                    f"the model returned {out.shape[0]} rows, {rows} expected"
                )
            values = single_calls(layers, records)
            check_differentiable(layers, values, to_input)
            flat = [t for value, _ in values for t in value]
            grads = autograd_grad(out.sum(), flat)
        return grads, values, out.detach()

    grads, values, output = (layout or Layout(gradients=True)).call(run, inputs)
    grads = [
        torch.zeros_like(t) if g is None else g.contiguous()
        for t, g in zip([t for value, _ in values for t in value], grads)
    ]
    out, k = [], 0
    for value, _ in values:
        out.append(tuple(grads[k : k + len(value)]))
        k += len(value)
    return out, values, output


def replaced_layer_gradients(
    model: Callable,
    layers: list[nn.Module],
    inputs: tuple[Tensor, ...],
    target: Target,
    args: tuple,
    to_input: bool,
    values: list[LayerValue],
    m: int,
    state: dict,
) -> list[LayerValue]:
    """Gradients at layer values made of ``m`` blocks of the ``n``-example batch.

    When ``n == 1`` the layers before the captured one run once on the single example and
    broadcasting carries their results to the ``m`` rows (the values do not depend on the
    interpolation); if the model rejects that, the inputs are replicated ``m`` times, as
    they are whenever ``n > 1``. ``state`` remembers the choice for the rest of a call.
    """
    n = inputs[0].shape[0]
    if n == 1 and m > 1 and state.get("share_prefix", True):
        try:
            grads, _, _ = layer_gradients(
                model, layers, inputs, target.expand(m), args, to_input, values, rows=m
            )
            return grads
        except Exception:  # noqa: BLE001 - any failure: replicate instead (a real error recurs)
            state["share_prefix"] = False
    grads, _, _ = layer_gradients(
        model,
        layers,
        tuple(x.repeat((m,) + (1,) * (x.dim() - 1)) for x in inputs),
        target.expand(m),
        expand_additional_args(args, n, m),
        to_input,
        values,
        rows=m * n,
    )
    return grads


def unpack(values: list[tuple[LayerValue, bool]]) -> list[LayerValue]:
    return [v for v, _ in values]


def flatten(per_layer: list[LayerValue]) -> tuple[Tensor, ...]:
    return tuple(t for value in per_layer for t in value)


def split_like(flat: tuple[Tensor, ...], per_layer: list[LayerValue]) -> list[LayerValue]:
    out, k = [], 0
    for value in per_layer:
        out.append(tuple(flat[k : k + len(value)]))
        k += len(value)
    return out


def select_neuron(value: LayerValue, was_tuple: bool, selector: Any) -> Tensor:
    """One value per example from a layer's value.

    ``selector`` is an int or a tuple of indices into the non-batch dimensions (a neuron;
    trailing dimensions of size 1 may be left out), a tuple holding slices (the selected
    neurons, summed), or a callable on the layer's value (its result summed per example).
    """
    if callable(selector):
        out = selector(value if was_tuple else value[0])
        if not isinstance(out, Tensor):
            raise AttributionTypeError(
                f"a callable `neuron_selector` must return a tensor, got {type(out).__name__}"
            )
        return out.reshape(out.shape[0], -1).sum(1) if out.dim() > 1 else out
    index = (selector,) if isinstance(selector, int) else selector
    t = value[0]
    if not isinstance(index, tuple) or not all(
        isinstance(i, (int, slice)) and not isinstance(i, bool) for i in index
    ):
        raise AttributionTypeError(
            "`neuron_selector` must be an int, a tuple of ints and slices, or a callable, got "
            f"{selector!r}"
        )
    dims = t.shape[1:]
    rest = dims[len(index) :]
    ints_ok = all(not isinstance(i, int) or 0 <= i < s or -s <= i < 0 for i, s in zip(index, dims))
    whole_neuron = all(isinstance(i, int) for i in index) and all(s == 1 for s in rest)
    has_slice = any(isinstance(i, slice) for i in index)
    if len(index) > len(dims) or not ints_ok or not (whole_neuron or has_slice):
        raise AttributionValueError(
            f"`neuron_selector` {selector!r} does not select a neuron of the layer's output "
            f"of shape {tuple(t.shape)}; give {len(dims)} index(es) within {tuple(dims)}, or "
            "slices to sum a region"
        )
    picked = t[(slice(None),) + index]
    return picked.reshape(picked.shape[0], -1).sum(1)


class NeuronFunction:
    """The value of one neuron as a function of the model's inputs.

    The forward pass stops right after the layer, so nothing beyond it is computed. Any
    primary method applied to this function is the neuron variant of that method.
    """

    def __init__(self, model: Callable, layer: nn.Module, selector: Any, to_input: bool) -> None:
        self.model, self.layers, self.selector, self.to_input = model, [layer], selector, to_input

    def __call__(self, *args: Any) -> Tensor:
        with capture(self.layers, self.to_input, stop=True) as records:
            try:
                self.model(*args)
            except _StopForward:
                pass
        ((value, was_tuple),) = single_calls(self.layers, records)
        return select_neuron(value, was_tuple, self.selector)
