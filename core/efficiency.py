r"""Efficiency: the check every exact explanation makes before it is returned.

An exact additive explanation (exact Shapley values, tree Shapley values) satisfies

.. math:: \text{base} + \sum_i \phi_i = f(x)

for every row, where ``base`` is the expected output over the reference (the background's
mean output, or the trees' cover-weighted mean) and ``f(x)`` is *the model's own output*,
computed by the model's library on the user's own values. A row that misses it by more than
float rounding means the values were computed on other numbers than the model sees (a
float32 copy of float64 data, a wrong branch), so the explanation is refused rather than
shown. The tolerance is relative to the row's scale:

.. math:: |\text{base} + \sum_i \phi_i - f(x)| \le \text{rtol} \cdot
          \max(1, |f(x)|, \sum_i |\phi_i|)

with ``rtol`` 1e-9 where the model computes in float64 and 1e-5 where it computes in float32.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .errors import EfficiencyError

#: relative tolerance of the check, by the precision the model computes in
RTOL = {torch.float64: 1e-9, torch.float32: 1e-5}


def rtol_for(dtype: torch.dtype) -> float:
    """The check's relative tolerance for outputs of ``dtype`` (1e-9 for float64, 1e-5 for
    float32, 1e-2 for half precision)."""
    return RTOL.get(dtype, 1e-2)


def efficiency_gaps(attributions: Tensor, base: Tensor, output: Tensor) -> Tensor:
    """Per row, ``|base + Σ attributions - output|`` divided by the row's scale
    ``max(1, |output|, Σ |attributions|)`` (the quantity compared with ``rtol``)."""
    n = attributions.shape[0]
    values = attributions.reshape(n, -1).double()
    output = output.reshape(n).double()
    gap = (base.reshape(n).double() + values.sum(1) - output).abs()
    scale = torch.maximum(output.abs(), values.abs().sum(1)).clamp(min=1.0)
    return gap / scale


def check_efficiency(
    attributions: Tensor, base: Tensor, output: Tensor, rtol: float, *, model: str = "the model"
) -> None:
    """Raise :class:`~perspicio.core.errors.EfficiencyError` where a row's values plus the
    base miss the model's output ``output`` by more than ``rtol`` of the row's scale.

    Parameters
    ----------
    attributions : Tensor ``(N, ...)``
        Each row's values.
    base : Tensor ``(N,)``
        What the values add to: the expected output over the reference.
    output : Tensor ``(N,)``
        The model's own output for each row (the explained target).
    rtol : float
        See :func:`rtol_for`.
    model : str
        How the error names the model.

    Examples
    --------
    >>> import torch
    >>> phi = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    >>> check_efficiency(phi, torch.tensor([0.5]), torch.tensor([3.5]), 1e-9)  # adds up
    >>> try:
    ...     check_efficiency(phi, torch.tensor([0.5]), torch.tensor([3.6]), 1e-9, model="net")
    ... except ArithmeticError as err:
    ...     print(str(err)[:60])
    the values of net do not add up to its output: row 0 gives 3
    """
    if attributions.shape[0] == 0:
        return
    relative = efficiency_gaps(attributions, base, output)
    bad = (relative > rtol) | torch.isnan(relative)
    if bool(bad.any()):
        row = int(relative.nan_to_num(float("inf")).argmax())
        n = attributions.shape[0]
        values = attributions.reshape(n, -1)[row].double()
        total = float(base.reshape(n)[row].double() + values.sum())
        target = float(output.reshape(n)[row])
        raise EfficiencyError(
            f"the values of {model} do not add up to its output: row {row} gives "
            f"{total!r} (base + values) where the model gives {target!r}, a gap of "
            f"{abs(total - target):.3g} ({int(bad.sum())} of {n} rows beyond the tolerance "
            f"{rtol:g} of the row's scale). The model may compare other numbers than those "
            "explained (e.g. a float32 copy of float64 data)"
        )


__all__ = ["RTOL", "check_efficiency", "efficiency_gaps", "rtol_for"]
