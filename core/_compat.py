"""Captum argument forms recognised once, so that algorithm files read as their papers.

* Outputs: a forward function may return a ``torch.futures.Future`` or a Python number
  (:func:`model_output`), and a perturbation method's forward function may return values
  for the whole batch instead of one per example (:func:`accepts_aggregate_output`).
* ``grad_kwargs``: keyword arguments for ``torch.autograd.grad`` (``materialize_grads``,
  ``create_graph``...) on the gradient-based layer and neuron methods. The decorator
  :func:`accepts_grad_kwargs` adds the argument to an ``attribute`` method and makes it
  visible to :func:`autograd_grad`, which every gradient of the shared machinery goes
  through.
"""

from __future__ import annotations

import contextvars
import copy
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from .errors import AttributionTypeError, AttributionValueError

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


# ------------------------------------------------------------------ model outputs
def model_output(out: Any) -> Any:
    """A forward function's output as a tensor: a ``torch.futures.Future`` is waited for and
    a Python number becomes a 0-d tensor, float64 or int64 as Python's own precision (Captum
    accepts both); anything else unchanged."""
    if isinstance(out, torch.futures.Future):
        out = out.wait()
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        out = torch.tensor(out, dtype=torch.float64 if isinstance(out, float) else torch.int64)
    return out


class AggregateOutput(Exception):
    """The forward function returned ``values`` numbers for ``rows`` perturbed rows: a fixed
    number of values for the whole batch (Captum's aggregate mode) rather than one per row."""

    def __init__(self, values: int, rows: int, shape: tuple[int, ...] = ()) -> None:
        super().__init__(
            f"the model returned {values} value(s) for {rows} rows; perturbation methods need "
            "one output per example (select it with `target`), or values that describe the "
            "whole batch with target=None"
        )
        self.values, self.rows, self.shape = values, rows, tuple(shape)

    @property
    def per_example(self) -> bool:
        """Whether the output has one row per example, each holding several values."""
        return len(self.shape) > 1 and self.shape[0] == self.rows


def check_rows(out: Any, rows: int, untargeted: bool = False) -> None:
    """Raise :class:`AggregateOutput` when ``out`` is not one entry per row, or, with no
    target (``untargeted``), when each row has several values: Captum then attributes each
    value of the output separately."""
    if not isinstance(out, Tensor):
        return
    if out.dim() == 0 or out.shape[0] != rows or (untargeted and out[0].numel() > 1):
        raise AggregateOutput(out.numel(), rows, tuple(out.shape))


def accepts_aggregate_output(attribute: Callable[..., Any]) -> Callable[..., Any]:
    """Let a perturbation method explain a forward function that returns values for the
    whole batch (a number, a 0-d tensor, or ``k`` values) instead of one per example.

    The method then runs unchanged on the batch taken as a single example: every feature is
    perturbed in all rows at once, and the attribution of feature ``j`` to output ``o`` is
    the change of ``o``, shape ``(k, *input.shape[1:])`` (``(1, ...)`` for one value), as
    Captum computes it. Nothing changes for forward functions with one output per example.
    """
    signature = inspect.signature(attribute)

    @functools.wraps(attribute)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return attribute(self, *args, **kwargs)
        except AggregateOutput as found:
            bound = signature.bind(self, *args, **kwargs)
            if found.per_example and getattr(self, "_attributes_every_output", False):
                return _every_output(attribute, bound.arguments, found.shape[1:])
            return _batch_as_one_example(attribute, bound.arguments, found)

    return wrapped


def _every_output(attribute: Callable[..., Any], arguments: dict, shape: tuple[int, ...]) -> Any:
    """No target and several values per example (a multi-task model): attribute each value
    of an example's output, giving ``(n, *output.shape[1:], *input.shape[1:])`` per input
    (Captum's form for the Shapley methods)."""
    import itertools

    from ._inputs import as_tuple, like_inputs

    arguments = dict(arguments)
    method = arguments.pop("self")
    xs, was_tuple = as_tuple(arguments["inputs"])
    per_output = []
    for index in itertools.product(*(range(k) for k in shape)):
        arguments["target"] = index
        result, _ = as_tuple(attribute(method, **arguments), "attributions")
        per_output.append(result)
    out = tuple(
        torch.stack([r[i] for r in per_output], 1).reshape(
            (xs[i].shape[0],) + tuple(shape) + tuple(per_output[0][i].shape[1:])
        )
        for i in range(len(xs))
    )
    return like_inputs(out, was_tuple)


def _batch_as_one_example(attribute: Callable[..., Any], arguments: dict, found: Any) -> Any:
    from ._inputs import as_tuple, like_inputs

    arguments = dict(arguments)
    method = arguments.pop("self")
    if arguments.get("target") is not None:
        raise AttributionValueError(
            f"{found.args[0]}; got target={arguments['target']!r}"
        ) from None
    xs, was_tuple = as_tuple(arguments["inputs"])
    arguments["inputs"] = like_inputs(tuple(x.unsqueeze(0) for x in xs), was_tuple)
    if arguments.get("baselines") is not None:
        arguments["baselines"] = _per_input(arguments["baselines"], xs, _one_example_baseline)
    shared = True
    if arguments.get("feature_mask") is None and "feature_mask" in _parameters(attribute):
        # Captum's default: each element of a row is a feature, shared by all rows
        ids, offset = [], 0
        for x in xs:
            ids.append(torch.arange(offset, offset + x[0].numel(), device=x.device).reshape(
                (1, 1) + tuple(x.shape[1:])))  # fmt: skip
            offset += x[0].numel()
        arguments["feature_mask"] = like_inputs(tuple(ids), was_tuple)
    elif arguments.get("feature_mask") is not None:
        masks = arguments["feature_mask"]
        shared = all(
            m.dim() < x.dim() or m.shape[0] == 1
            for m, x in zip(masks if isinstance(masks, (tuple, list)) else (masks,), xs)
        )
        arguments["feature_mask"] = _per_input(masks, xs, _one_example_mask)
    if arguments.get("sliding_window_shapes") is not None:  # Occlusion: windows span all rows
        n = xs[0].shape[0]
        windows = arguments["sliding_window_shapes"]
        strides = arguments.get("strides")
        several = isinstance(windows[0], (tuple, list))
        arguments["sliding_window_shapes"] = (
            tuple((n, *w) for w in windows) if several else (n, *windows)
        )
        if strides is not None:
            if several:
                arguments["strides"] = tuple(
                    (n, *s) if isinstance(s, (tuple, list)) else s for s in strides
                )
            elif isinstance(strides, (tuple, list)):
                arguments["strides"] = (n, *strides)
    n_inputs, forward = len(xs), method.forward_func

    def batch_forward(*parts: Any) -> Tensor:
        """Each row of ``parts`` is a whole batch of the user's forward function."""
        rows, extra = parts[:n_inputs], parts[n_inputs:]
        outs = [
            model_output(forward(*(z[i] for z in rows), *extra)).reshape(-1)
            for i in range(rows[0].shape[0])
        ]
        return torch.stack(outs)

    clone = copy.copy(method)
    clone.forward_func = batch_forward
    with torch.no_grad():  # how many values one call gives for the whole batch
        extra = arguments.get("additional_forward_args")
        extra = () if extra is None else extra if isinstance(extra, tuple) else (extra,)
        k = model_output(forward(*xs, *extra)).numel()
    per_output = []
    for o in range(k):
        arguments["target"] = o if k > 1 else None
        result, _ = as_tuple(attribute(clone, **arguments), "attributions")
        per_output.append(result)
    out = tuple(
        torch.cat([r[i] for r in per_output])[:, 0]
        if shared
        else torch.cat([r[i] for r in per_output]).reshape((-1,) + xs[i].shape[1:])
        for i in range(n_inputs)
    )
    return like_inputs(out, was_tuple)


def _parameters(function: Callable[..., Any]) -> Any:
    return inspect.signature(function).parameters


def _per_input(value: Any, xs: tuple[Tensor, ...], convert: Callable[[Any, Tensor], Any]) -> Any:
    if isinstance(value, (tuple, list)):
        return tuple(convert(v, x) for v, x in zip(value, xs))
    return convert(value, xs[0])


def _one_example_baseline(b: Any, x: Tensor) -> Any:
    if not isinstance(b, Tensor) or b.numel() == 1:
        return b
    if b.shape == x.shape:
        return b.unsqueeze(0)
    return b.reshape((1, 1) + tuple(x.shape[1:])) if b.numel() == x[0].numel() else b


def _one_example_mask(m: Any, x: Tensor) -> Any:
    if not isinstance(m, Tensor):
        return m
    return m.unsqueeze(0) if m.dim() == x.dim() else m.reshape((1, 1) + tuple(m.shape))


# ------------------------------------------------------------- Lime's Captum callbacks
def _positional(fn: Callable[..., Any]) -> tuple[int, bool]:
    """How many positional parameters ``fn`` requires, and whether it takes ``**kwargs``."""
    params = inspect.signature(fn).parameters.values()
    required = sum(
        1
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    )
    return required, any(p.kind is p.VAR_KEYWORD for p in params)


def captum_lime_form(similarity_func: Any, perturb_func: Any, interpretable_model: Any) -> bool:
    """Whether Lime was given callbacks written for Captum (``similarity_func(original,
    perturbed, interpretable, **kwargs)``, ``perturb_func(original, **kwargs)``) or a Captum
    interpretable model (``fit(DataLoader)``, ``representation()``)."""
    if interpretable_model is not None and hasattr(interpretable_model, "representation"):
        return True
    if similarity_func is not None:
        required, kwargs = _positional(similarity_func)
        if kwargs or required == 3:
            return True
    if perturb_func is not None:
        required, kwargs = _positional(perturb_func)
        if kwargs or required == 1:
            return True
    return False


def captum_bernoulli(original_inp: Any, **kwargs: Any) -> Tensor:
    """Captum's default Lime sample: each interpretable feature on with probability 1/2
    (from the global random state)."""
    first = original_inp[0] if isinstance(original_inp, (tuple, list)) else original_inp
    probs = torch.full((1, kwargs["num_interp_features"]), 0.5, device=first.device)
    return torch.bernoulli(probs)


def captum_cosine_similarity(
    original_inp: Any, perturbed_inp: Any, perturbed_interpretable_inp: Any, **kwargs: Any
) -> Tensor:
    """Captum's default Lime weight: ``exp(-d^2 / 2)`` of the cosine distance ``d`` between
    the flattened input and its perturbation."""

    def flat(x: Any) -> Tensor:
        items = x if isinstance(x, (tuple, list)) else (x,)
        return torch.cat([t.reshape(-1).double() for t in items])

    a, b = flat(original_inp), flat(perturbed_inp)
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp(min=1e-12)
    return torch.exp(-((1 - cos) ** 2) / 2)


def blend_interpretable_sample(sample: Tensor, original_inp: Any, **kwargs: Any) -> Any:
    """The input where the sample's features are on, the baseline elsewhere."""
    masks, bases = kwargs["feature_mask"], kwargs["baselines"]
    on = sample.reshape(-1)
    if isinstance(original_inp, (tuple, list)):
        return tuple(torch.where(on[m].bool(), x, b) for x, m, b in zip(original_inp, masks, bases))
    return torch.where(on[masks].bool(), original_inp, bases)


def expand_row(args: tuple[Any, ...], n: int, i: int) -> tuple[Any, ...]:
    """Additional forward arguments for example ``i``: tensors with ``n`` rows give row ``i``."""
    return tuple(
        a[i : i + 1] if isinstance(a, Tensor) and a.dim() > 0 and a.shape[0] == n else a
        for a in args
    )
