"""The smallest strength of an attack that makes the model wrong."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from .._engine.batching import Layout
from .._engine.inputs import check_positive_int, format_additional_args
from ..errors import AttributionTypeError, AttributionValueError
from ._batches import check_per_eval, copies_per_call, evaluate

MODES = ("linear", "binary")


def default_correct_fn(model_out: Tensor, target: Any) -> bool:
    """Whether the top class of every row of a ``(N, classes)`` output is ``target``."""
    if not isinstance(model_out, Tensor) or model_out.dim() != 2:
        raise AttributionValueError(
            "the default `correct_fn` needs a model output of shape (N, classes), got "
            f"{getattr(model_out, 'shape', type(model_out).__name__)}; pass a `correct_fn`"
        )
    if isinstance(target, Tensor):
        target = target.to(model_out.device)
    return bool(torch.all(model_out.argmax(dim=1) == target))


def _grid(start: float, stop: float, step: float) -> Iterator[float]:
    """``start, start + step, ...`` below ``stop`` (each value computed, not accumulated)."""
    count = max(0, math.ceil((stop - start) / step - 1e-9))
    for i in range(count):
        yield start + i * step


class MinParamPerturbation:
    r"""Find the smallest value of one argument of an attack (a noise level, an ``epsilon``,
    a number of pixels...) at which the model stops being correct.

    The values ``arg_min, arg_min + arg_step, ...`` below ``arg_max`` are tried in order
    (``mode="linear"``), or by bisection over the same grid (``mode="binary"``, which
    assumes that a larger value never makes the model correct again); at each value the
    attack is drawn ``num_attempts`` times and the value succeeds when one draw makes
    ``correct_fn`` false.

    Parameters
    ----------
    forward_func : callable
        The model.
    attack : callable
        ``attack(inputs, **attack_kwargs, **{arg_name: value})``, e.g. a
        :class:`Perturbation`'s ``perturb`` or any function.
    arg_name : str
        The argument of ``attack`` that is searched.
    arg_min, arg_max, arg_step : int or float
        The grid of values.
    mode : {"linear", "binary"}
    num_attempts : int
        Draws of the attack per value.
    preproc_fn : callable, optional
        Turns the inputs into the model's inputs.
    apply_before_preproc : bool
        Whether the attack perturbs the raw inputs (before ``preproc_fn``).
    correct_fn : callable, optional
        ``correct_fn(model_out, target=..., **correct_fn_kwargs) -> bool``; by default,
        whether every row's top class is ``target``.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(2, 2, bias=False)
    >>> _ = net.weight.data.copy_(torch.eye(2))
    >>> def shift(x, amount):  # moves mass from feature 0 to feature 1
    ...     return x + amount * torch.tensor([[-1.0, 1.0]])
    >>> search = MinParamPerturbation(net, shift, "amount", 0.0, 2.0, 0.1)
    >>> adv, amount = search.evaluate(torch.tensor([[1.0, 0.0]]), target=0)
    >>> round(amount, 1)
    0.6
    """

    def __init__(
        self,
        forward_func: Callable,
        attack: Callable,
        arg_name: str,
        arg_min: float,
        arg_max: float,
        arg_step: float,
        mode: str = "linear",
        num_attempts: int = 1,
        preproc_fn: Callable | None = None,
        apply_before_preproc: bool = False,
        correct_fn: Callable | None = None,
    ) -> None:
        for name, fn in (("forward_func", forward_func), ("attack", attack)):
            if not callable(fn):
                raise AttributionTypeError(f"`{name}` must be callable, got {type(fn).__name__}")
        if mode not in MODES:
            raise AttributionValueError(f"`mode` must be one of {MODES}, got {mode!r}")
        if not arg_step > 0:
            raise AttributionValueError(f"`arg_step` must be positive, got {arg_step!r}")
        if not arg_max > arg_min:
            raise AttributionValueError(
                f"`arg_max` must be above `arg_min`, got arg_min={arg_min!r}, arg_max={arg_max!r}"
            )
        check_positive_int(num_attempts, "num_attempts")
        self.forward_func = forward_func
        self.attack = attack
        self.arg_name = arg_name
        self.arg_min, self.arg_max, self.arg_step = arg_min, arg_max, arg_step
        self.mode = mode
        self.num_attempts = num_attempts
        self.preproc_fn = preproc_fn
        self.apply_before_preproc = apply_before_preproc
        self.correct_fn = correct_fn if correct_fn is not None else default_correct_fn

    def _attacked(self, inputs: Any, preproc_input: Any, kwargs: dict, value: float):
        """(the model's input, the attacked input as returned) at one value."""
        with torch.enable_grad():
            if self.apply_before_preproc:
                attacked = self.attack(inputs, **kwargs, **{self.arg_name: value})
                model_in = self.preproc_fn(attacked) if self.preproc_fn is not None else attacked
                return model_in, attacked
            attacked = self.attack(preproc_input, **kwargs, **{self.arg_name: value})
            return attacked, attacked

    def evaluate(
        self,
        inputs: Any,
        additional_forward_args: Any = None,
        target: Any = None,
        perturbations_per_eval: int | None = 1,
        attack_kwargs: dict[str, Any] | None = None,
        correct_fn_kwargs: dict[str, Any] | None = None,
    ) -> tuple[Any, float | None]:
        """The attacked inputs at the smallest value that makes the model wrong, and that
        value; ``(None, None)`` when no value of the grid does.

        ``perturbations_per_eval`` attacked copies are evaluated per model call (``None``:
        as many as fit in memory); the result does not depend on it.
        """
        per_eval = check_per_eval(perturbations_per_eval)
        args = format_additional_args(additional_forward_args)
        preproc_input = self.preproc_fn(inputs) if self.preproc_fn is not None else inputs
        size = copies_per_call(self.forward_func, preproc_input, args, per_eval)
        fn_kwargs = dict(correct_fn_kwargs or {})
        if target is not None:
            fn_kwargs["target"] = target
        attack_kwargs = dict(attack_kwargs or {})
        layout = Layout()

        def first_wrong(values: list[float]) -> tuple[Any, float] | None:
            """Attack at each value (``num_attempts`` each), ``size`` copies per call; the
            first wrong (attacked input, value) in that order."""
            pending: list[tuple[Any, Any, float]] = []
            queue = [v for v in values for _ in range(self.num_attempts)]
            for i, value in enumerate(queue):
                pending.append(
                    (*self._attacked(inputs, preproc_input, attack_kwargs, value), value)
                )
                if len(pending) == size or i == len(queue) - 1:
                    with torch.no_grad():
                        outs = evaluate(self.forward_func, [p[0] for p in pending], args, layout)
                        for (_, attacked, v), out in zip(pending, outs):
                            if not self.correct_fn(out, **fn_kwargs):
                                return attacked, v
                    pending = []
            return None

        grid = list(_grid(self.arg_min, self.arg_max, self.arg_step))
        if self.mode == "linear":
            found = first_wrong(grid)
            return found if found is not None else (None, None)
        # bisection over the grid: the lowest index whose value makes the model wrong
        low, high, best = 0, len(grid), None
        while low < high:
            mid = (low + high) // 2
            found = first_wrong([grid[mid]])
            if found is not None:
                best, high = found, mid
            else:
                low = mid + 1
        return best if best is not None else (None, None)
