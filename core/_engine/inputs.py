"""One normalisation path for everything a user passes to ``attribute``.

Every algorithm turns its arguments into one internal form here:

* ``inputs``: a tuple of tensors sharing the batch size ``n`` (a tensor is a 1-tuple);
* ``baselines``: a tuple of tensors, each expanded to its input's shape;
* ``target``: a :class:`Target` that selects one scalar per example from the model output;
* ``additional_forward_args``: a tuple whose tensors with ``n`` rows are expanded along with
  the inputs when the batch is replicated (interpolation steps, noise samples...).

Every shape check and its error message lives in this file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError
from .callbacks import call_leading

TensorOrTuple = Tensor | tuple[Tensor, ...]
BaselineType = None | int | float | Tensor | tuple[int | float | Tensor, ...]
TargetType = None | int | tuple[int, ...] | Tensor | Sequence[int | tuple[int, ...]] | Callable


# --------------------------------------------------------------------------- inputs
def as_tuple(inputs: TensorOrTuple, name: str = "inputs") -> tuple[tuple[Tensor, ...], bool]:
    """Return ``(tuple_of_tensors, was_tuple)`` after checking types and batch sizes."""
    was_tuple = isinstance(inputs, (tuple, list))
    items = tuple(inputs) if was_tuple else (inputs,)
    if len(items) == 0:
        raise AttributionValueError(f"`{name}` is an empty tuple; expected at least one tensor")
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise AttributionTypeError(
                f"`{name}` must be a tensor or a tuple of tensors; "
                f"element {i} is {type(t).__name__}"
            )
        if t.dim() == 0:
            raise AttributionValueError(
                f"`{name}`[{i}] is a 0-dim tensor; expected a batch with shape (N, ...)"
            )
    n = items[0].shape[0]
    if n == 0:
        raise AttributionValueError(
            f"`{name}` is an empty batch (shape {tuple(items[0].shape)}); expected at least one "
            "example, shape (N, ...) with N >= 1"
        )
    for i, t in enumerate(items[1:], start=1):
        if t.shape[0] != n:
            raise AttributionValueError(
                f"every tensor in `{name}` must have the same batch size; "
                f"{name}[0] has {n} rows and {name}[{i}] has {t.shape[0]}"
            )
    return items, was_tuple


def like_inputs(result: tuple[Tensor, ...], was_tuple: bool) -> TensorOrTuple:
    """Return ``result`` in the form the user gave: tuple in, tuple out."""
    return result if was_tuple else result[0]


def require_float(inputs: tuple[Tensor, ...], method: str) -> None:
    """Gradient methods need floating point inputs."""
    for i, t in enumerate(inputs):
        if not t.is_floating_point():
            raise AttributionTypeError(
                f"{method} differentiates the model with respect to `inputs`, but inputs[{i}] "
                f"has dtype {t.dtype}; pass floating point inputs (for token ids, use "
                "LayerIntegratedGradients on the embedding layer)"
            )


# ------------------------------------------------------------------------ baselines
def format_baselines(
    baselines: BaselineType, inputs: tuple[Tensor, ...], name: str = "baselines"
) -> tuple[Tensor, ...]:
    """Return one baseline tensor per input, expanded to that input's shape.

    A baseline may be ``None`` (zeros), a number, a tensor of the input's shape, of the shape
    of one example, or with a batch dimension of 1.
    """
    if baselines is None:
        return tuple(torch.zeros_like(x) for x in inputs)
    items = tuple(baselines) if isinstance(baselines, (tuple, list)) else (baselines,)
    if len(items) != len(inputs):
        raise AttributionValueError(
            f"`{name}` has {len(items)} element(s) but `inputs` has {len(inputs)}; "
            "give one baseline per input tensor"
        )
    return tuple(
        _baseline_like(b, x, f"{name}[{i}]") for i, (b, x) in enumerate(zip(items, inputs))
    )


def _baseline_like(b: Any, x: Tensor, name: str) -> Tensor:
    if isinstance(b, (list, tuple)):  # nested lists of numbers (Captum accepts them)
        try:
            b = torch.tensor(b, dtype=x.dtype, device=x.device)
        except (TypeError, ValueError, RuntimeError):
            raise AttributionTypeError(
                f"`{name}` is a list that is not a table of numbers"
            ) from None
    if not isinstance(b, (bool, int, float, Tensor)):
        raise AttributionTypeError(
            f"`{name}` must be a number or a tensor (or a bool), got {type(b).__name__}"
        )
    # an integer input keeps a fractional baseline (its perturbed copies become floats)
    if not isinstance(b, Tensor):
        return torch.full_like(x, b, dtype=torch.result_type(x, b))
    dtype = x.dtype if x.is_floating_point() else torch.promote_types(x.dtype, b.dtype)
    b = b.to(device=x.device, dtype=dtype)
    if b.shape == x.shape:
        return b
    if b.numel() == 1:
        return b.reshape(()).expand(x.shape)
    if b.dim() <= x.dim():  # torch broadcasting, dimensions aligned on the right
        try:
            if torch.broadcast_shapes(b.shape, x.shape) == x.shape:
                return b.expand(x.shape)
        except RuntimeError:
            pass
    raise AttributionValueError(
        f"`{name}` has shape {tuple(b.shape)}, which does not broadcast to its input of shape "
        f"{tuple(x.shape)}; expected {tuple(x.shape)}, {tuple(x.shape[1:])}, "
        f"{(1,) + tuple(x.shape[1:])} or another shape that broadcasts to it"
    )


def format_baseline_distribution(
    baselines: BaselineType | Callable, inputs: tuple[Tensor, ...], name: str = "baselines"
) -> tuple[Tensor, ...]:
    """Return a distribution of baselines: one tensor per input with ``B >= 1`` rows.

    Used by the methods that average over reference points (GradientShap, DeepLiftShap).
    ``baselines`` may also be a callable returning any of the accepted forms.
    """
    if callable(baselines) and not isinstance(baselines, Tensor):
        # Captum's forms: a function of nothing, or of the inputs (a tensor, or a tuple)
        given = like_inputs(inputs, len(inputs) > 1)
        baselines = call_leading(baselines, given, name=name)
    if baselines is None:
        return tuple(torch.zeros_like(x[:1]) for x in inputs)
    items = tuple(baselines) if isinstance(baselines, (tuple, list)) else (baselines,)
    if len(items) != len(inputs):
        raise AttributionValueError(
            f"`{name}` has {len(items)} element(s) but `inputs` has {len(inputs)}; "
            "give one baseline distribution per input tensor"
        )
    out = []
    for i, (b, x) in enumerate(zip(items, inputs)):
        if isinstance(b, (int, float)) and not isinstance(b, bool):
            out.append(torch.full_like(x[:1], float(b)))
            continue
        if isinstance(b, (list, tuple)):
            try:
                b = torch.tensor(b, dtype=x.dtype, device=x.device)
            except (TypeError, ValueError, RuntimeError):
                raise AttributionTypeError(
                    f"`{name}[{i}]` is a list that is not a table of numbers"
                ) from None
        if not isinstance(b, Tensor):
            raise AttributionTypeError(
                f"`{name}[{i}]` must be a number or a tensor, got {type(b).__name__}"
            )
        b = b.to(device=x.device, dtype=x.dtype)
        if b.dim() == x.dim() - 1:
            b = b.unsqueeze(0)
        if b.dim() != x.dim() or b.shape[1:] != x.shape[1:]:
            raise AttributionValueError(
                f"`{name}[{i}]` has shape {tuple(b.shape)}; expected (B,) + "
                f"{tuple(x.shape[1:])} to match inputs[{i}] of shape {tuple(x.shape)}"
            )
        out.append(b)
    rows = {b.shape[0] for b in out}
    if len(rows) > 1:
        raise AttributionValueError(
            f"every tensor in `{name}` must have the same number of rows, got {rows}"
        )
    return tuple(out)


# --------------------------------------------------------------------------- target
@dataclass(frozen=True)
class Target:
    """A normalised target: which scalar of the output each example is attributed to.

    Exactly one field is set: ``index`` (the same index for every example), ``per_example``
    (a ``(n, k)`` long tensor, one row of output indices per example) or ``func`` (a
    callable mapping the model output to one value per example). All unset means the model
    already returns one value per example.
    """

    index: tuple[int, ...] | None = None
    per_example: Tensor | None = None
    func: Callable[[Tensor], Tensor] | None = None

    def row(self, i: int) -> Target:
        """The target of example ``i`` alone."""
        if self.per_example is None:
            return self
        return Target(per_example=self.per_example[i : i + 1])

    @property
    def is_none(self) -> bool:
        """No target: the model is to return one value per example."""
        return self.index is None and self.per_example is None and self.func is None

    def expand(self, times: int) -> Target:
        """The target for the batch replicated ``times`` times (layout: ``times`` blocks)."""
        if self.per_example is None or times == 1:
            return self
        return Target(per_example=self.per_example.repeat(times, 1))

    def select(self, output: Tensor) -> Tensor:
        """Return one value per example: a tensor of shape ``(n,)``."""
        if self.func is not None:
            value = self.func(output)
            if not isinstance(value, Tensor):
                raise AttributionTypeError(
                    f"a callable `target` must return a tensor, got {type(value).__name__}"
                )
            if value.dim() > 1:
                value = value.reshape(value.shape[0], -1).sum(1)
            return value
        if not isinstance(output, Tensor):
            raise AttributionTypeError(
                f"the model must return a tensor, got {type(output).__name__}; wrap it so "
                "that it returns the scores to attribute"
            )
        if self.index is not None:
            _check_index(self.index, output)
            return _one_per_example(output[(slice(None),) + self.index], output)
        if self.per_example is not None:
            idx = self.per_example.to(output.device)
            if output.dim() < 2 or idx.shape[0] != output.shape[0]:
                raise AttributionValueError(
                    f"`target` holds {idx.shape[0]} per-example entries but the model output "
                    f"has shape {tuple(output.shape)}"
                )
            if idx.shape[1] > output.dim() - 1:
                raise AttributionValueError(
                    f"each `target` entry has {idx.shape[1]} index(es) but the model output "
                    f"has {output.dim() - 1} non-batch dimension(s) (shape {tuple(output.shape)})"
                )
            bounds = torch.tensor(output.shape[1 : 1 + idx.shape[1]], device=output.device)
            if bool(((idx < 0) | (idx >= bounds)).any()):
                raise AttributionValueError(
                    f"`target` holds an index outside the model output of shape "
                    f"{tuple(output.shape)}"
                )
            rows = torch.arange(output.shape[0], device=output.device)
            return _one_per_example(output[(rows,) + tuple(idx.unbind(1))], output)
        if output.dim() == 0:
            return output.reshape(1)
        if output.dim() == 1:
            return output
        if output[0].numel() == 1:
            return output.reshape(output.shape[0])
        raise AttributionValueError(
            f"`target` is None but the model returns {output[0].numel()} values per example "
            f"(output shape {tuple(output.shape)}); pass `target` (an int class index, a "
            "tuple, one entry per example, or a callable on the output)"
        )


def _one_per_example(selected: Tensor, output: Tensor) -> Tensor:
    if selected.dim() == 1:
        return selected
    if selected[0].numel() != 1:
        raise AttributionValueError(
            f"`target` selects {selected[0].numel()} values per example from the model output "
            f"of shape {tuple(output.shape)}; it must select one (index every dimension)"
        )
    return selected.reshape(selected.shape[0])


def _check_index(index: tuple[int, ...], output: Tensor) -> None:
    if len(index) > output.dim() - 1:
        raise AttributionValueError(
            f"`target`={index} has {len(index)} index(es) but the model output of shape "
            f"{tuple(output.shape)} has {output.dim() - 1} non-batch dimension(s)"
        )
    for j, (i, size) in enumerate(zip(index, output.shape[1:])):
        if not -size <= i < size:
            raise AttributionValueError(
                f"`target`={index}: index {i} is out of range for dimension {j + 1} of the "
                f"model output of shape {tuple(output.shape)}"
            )


def format_target(target: TargetType, n: int) -> Target:
    """Normalise every accepted form of ``target`` for a batch of ``n`` examples."""
    if isinstance(target, Target):
        return target
    if target is None:
        return Target()
    if callable(target) and not isinstance(target, Tensor):
        return Target(func=target)
    if isinstance(target, bool):
        raise AttributionTypeError(
            "`target` must be an int, a tuple, a list, a tensor or a callable"
        )
    if isinstance(target, int):
        return Target(index=(target,))
    if isinstance(target, tuple) and all(isinstance(t, int) for t in target):
        return Target(index=tuple(target))
    if isinstance(target, Tensor):
        if target.is_floating_point():
            raise AttributionTypeError(
                f"`target` must hold integer indices, got dtype {target.dtype}"
            )
        if target.numel() == 1 and (target.dim() == 0 or n != 1):
            return Target(index=(int(target.item()),))
        rows = target.reshape(target.shape[0], -1) if target.dim() > 0 else target.reshape(1, 1)
        if rows.shape[0] != n:
            raise AttributionValueError(
                f"`target` holds {rows.shape[0]} entries but the batch has {n} examples; "
                "give one target, or one per example"
            )
        return Target(per_example=rows.long())
    if isinstance(target, list):
        if len(target) != n:
            raise AttributionValueError(
                f"`target` is a list of {len(target)} entries but the batch has {n} examples; "
                "give one target, or one per example"
            )
        rows = [t if isinstance(t, tuple) else (t,) for t in target]
        widths = {len(r) for r in rows}
        if len(widths) != 1 or not all(isinstance(i, int) for r in rows for i in r):
            raise AttributionTypeError(
                "a list `target` must hold ints, or tuples of ints of equal length"
            )
        return Target(per_example=torch.tensor(rows, dtype=torch.long))
    raise AttributionTypeError(
        f"`target` must be None, an int, a tuple of ints, a list, a tensor or a callable; "
        f"got {type(target).__name__}"
    )


# ----------------------------------------------------------- additional forward args
def format_additional_args(args: Any) -> tuple[Any, ...]:
    """``None`` -> (), a single object -> a 1-tuple, a tuple/list -> a tuple."""
    if args is None:
        return ()
    if isinstance(args, (tuple, list)):
        return tuple(args)
    return (args,)


def expand_additional_args(args: tuple[Any, ...], n: int, times: int) -> tuple[Any, ...]:
    """Replicate the tensors with ``n`` rows ``times`` times; pass everything else through."""
    if times == 1:
        return args
    return tuple(
        a.repeat((times,) + (1,) * (a.dim() - 1))
        if isinstance(a, Tensor) and a.dim() > 0 and a.shape[0] == n
        else a
        for a in args
    )


def repeat_batch(inputs: tuple[Tensor, ...], times: int) -> tuple[Tensor, ...]:
    """Replicate every tensor ``times`` times along the batch (layout: ``times`` blocks)."""
    if times == 1:
        return inputs
    return tuple(x.repeat((times,) + (1,) * (x.dim() - 1)) for x in inputs)


# ------------------------------------------------------------------------- checks
def check_positive_int(value: Any, name: str) -> int:
    """``value`` if it is an int >= 1; a ``TypeError`` for another type, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AttributionTypeError(
            f"`{name}` must be a positive int, got {type(value).__name__} {value!r}"
        )
    if value < 1:
        raise AttributionValueError(f"`{name}` must be a positive int, got {value!r}")
    return value


def check_forward_func(forward_func: Any, method: str, module_required: bool = False) -> None:
    if module_required and not isinstance(forward_func, torch.nn.Module):
        raise AttributionTypeError(
            f"{method} needs a torch.nn.Module (its rules attach to the model's computation), "
            f"got {type(forward_func).__name__}"
        )
    if not callable(forward_func):
        raise AttributionTypeError(
            f"`forward_func` must be callable, got {type(forward_func).__name__}"
        )


# --------------------------------------------------------------------- feature masks
def format_feature_mask(
    feature_mask: Tensor | tuple[Tensor, ...] | None, inputs: tuple[Tensor, ...]
) -> tuple[Tensor, ...]:
    """One integer mask per input, shaped ``(1 | n, ...)`` and broadcastable to the input.

    Elements sharing an id form one feature, across input tensors too. ``None`` makes every
    element its own feature (ids numbered on across the inputs). A mask may omit the batch
    dimension.
    """
    if feature_mask is None:
        masks, offset = [], 0
        for x in inputs:
            size = x[0].numel()
            masks.append(
                torch.arange(offset, offset + size, device=x.device).view((1,) + x.shape[1:])
            )
            offset += size
        return tuple(masks)
    items = tuple(feature_mask) if isinstance(feature_mask, (tuple, list)) else (feature_mask,)
    if len(items) != len(inputs):
        raise AttributionValueError(
            f"`feature_mask` has {len(items)} element(s) but `inputs` has {len(inputs)}; "
            "give one mask per input tensor"
        )
    out = []
    for i, (m, x) in enumerate(zip(items, inputs)):
        name = f"feature_mask[{i}]" if len(items) > 1 else "feature_mask"
        if not isinstance(m, Tensor):
            raise AttributionTypeError(f"`{name}` must be a tensor, got {type(m).__name__}")
        whole = m.is_floating_point() and bool(torch.isfinite(m).all() and (m == m.round()).all())
        if (m.is_floating_point() and not whole) or m.is_complex() or m.dtype == torch.bool:
            raise AttributionTypeError(
                f"`{name}` must hold integer feature ids, got dtype {m.dtype}"
                + (" with fractional values" if m.is_floating_point() else "")
            )
        if m.dim() < x.dim():  # torch broadcasting: missing leading dimensions are 1
            m = m.reshape((1,) * (x.dim() - m.dim()) + tuple(m.shape))
        ok = m.dim() == x.dim() and m.shape[0] in (1, x.shape[0])
        ok = ok and all(a in (1, b) for a, b in zip(m.shape[1:], x.shape[1:]))
        if not ok:
            raise AttributionValueError(
                f"`{name}` has shape {tuple(m.shape)}, which does not broadcast to its input of "
                f"shape {tuple(x.shape)}; expected (1 or {x.shape[0]},) + a shape broadcastable "
                f"to {tuple(x.shape[1:])}"
            )
        if m.numel() and int(m.min()) < 0:
            raise AttributionValueError(f"`{name}` holds negative feature ids; ids must be >= 0")
        out.append(m.to(device=x.device, dtype=torch.long))
    return tuple(out)


def feature_index(masks: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The distinct feature ids, and each mask rewritten as positions ``0..F-1`` in them."""
    ids = torch.unique(torch.cat([m.flatten() for m in masks]))
    return ids, tuple(torch.searchsorted(ids, m.contiguous()) for m in masks)
