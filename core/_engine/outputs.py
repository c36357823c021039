"""What a model returns, in one form: a ``torch.futures.Future`` is waited for, a Python
number becomes a tensor (Captum accepts both), and :func:`run_forward` selects the targeted
value of each example. A perturbation method's model that answers for the whole batch rather
than one value per row is recognised here (:class:`AggregateOutput`) and handled by
:mod:`._aggregate_output`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .inputs import Target


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


def run_forward(
    forward_func: Callable,
    inputs: tuple[Tensor, ...],
    target: Target,
    additional_args: tuple[Any, ...] = (),
    rows: int | None = None,
) -> Tensor:
    """Call the model and return the targeted value of each example, shape ``(n,)``.

    A ``Future`` or a Python number from the model is accepted (:func:`model_output`);
    with ``rows``, an output that is not one entry per row raises
    :class:`AggregateOutput` for the perturbation methods to handle.
    """
    out = model_output(forward_func(*inputs, *additional_args))
    if rows is not None:
        check_rows(out, rows, target.is_none)
    return target.select(out)
