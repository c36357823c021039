"""The reference population a tabular explanation is measured against.

An attribution answers "why does this row score ``f(x)`` rather than what a reference
scores?". The reference comes from a population of rows, the ``background`` (training data
or a sample of it), summarised one of two ways:

* one reference row: the background's ``"mean"`` or ``"median"`` (the most frequent
  category for categorical columns), or a row given by the user, or ``"zeros"``;
* ``"background"``: the explained row is compared with each of (up to ``max_background``)
  background rows and the attributions are averaged, as shap's explainers do. The
  attributions of a row then sum to ``f(x)`` minus the *mean prediction over the
  background*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from perspicio.core.registry import get_spec

BASELINE_KINDS = ("mean", "median", "zeros", "background")


@dataclass(frozen=True)
class Reference:
    """The reference rows ``(B, F)`` the methods use, and how they were made."""

    rows: Tensor
    kind: str
    population: int
    categorical: bool = False

    @property
    def averaged(self) -> bool:
        """Whether attributions are averaged over several reference rows."""
        return self.kind == "background"

    def describe(self, source: str) -> str:
        """One line for reports: which background and how it was summarised."""
        if self.kind == "row":
            return "a reference row given by the user"
        if self.kind == "zeros":
            return "the all-zeros row"
        what = f"{source} ({self.population} rows)"
        if self.kind == "background":
            if self.rows.shape[0] < self.population:
                return f"averaged over {self.rows.shape[0]} rows sampled from {what}"
            return f"averaged over every row of {what}"
        note = " (most frequent category for categorical columns)" if self.categorical else ""
        return f"the {self.kind} of {what}{note}"


def default_kind(method: str) -> str:
    """``"background"`` for the methods defined over a population of references (Shapley
    values, permutations, the expected-gradient family), ``"mean"`` for the others."""
    return "background" if get_spec(method).prefers_population else "mean"


def make_reference(
    baseline: Any,
    background: Tensor,
    categorical: list[bool] | None = None,
    max_background: int = 100,
    seed: int | None = None,
) -> Reference:
    """The :class:`Reference` for ``baseline`` (a kind in :data:`BASELINE_KINDS` or a row)
    from the ``background`` rows ``(M, F)``.

    ``"background"`` keeps every row when there are at most ``max_background``, otherwise a
    sample of ``max_background`` rows drawn with ``seed`` (0 when None), so the same
    background always gives the same reference.

    Examples
    --------
    >>> import torch
    >>> bg = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    >>> make_reference("mean", bg).rows
    tensor([[1., 2.]])
    >>> make_reference("background", bg).rows.shape
    torch.Size([2, 2])
    """
    population = background.shape[0]
    if isinstance(baseline, str):
        if baseline not in BASELINE_KINDS:
            raise ValueError(
                f"`baseline` must be one of {BASELINE_KINDS} or a row of values, got {baseline!r}"
            )
        if baseline == "zeros":
            return Reference(torch.zeros_like(background[:1]), "zeros", population)
        if baseline == "background":
            if population > max_background:
                generator = torch.Generator().manual_seed(0 if seed is None else seed)
                pick = torch.randperm(population, generator=generator)[:max_background]
                return Reference(background[pick.sort().values], "background", population)
            return Reference(background, "background", population)
        # missing values (NaN) are left out; coded columns (categories, text, booleans)
        # take their most frequent value
        row = background.nanmean(0) if baseline == "mean" else background.nanmedian(0).values
        for j, is_categorical in enumerate(categorical or []):
            if is_categorical:
                column = background[:, j]
                row[j] = column[~torch.isnan(column)].mode().values
        return Reference(row.unsqueeze(0), baseline, population, any(categorical or []))
    try:
        row = torch.as_tensor(np.asarray(baseline, dtype=np.float64)).reshape(1, -1)
        row = row.to(background.dtype)
    except (TypeError, ValueError):
        raise TypeError(
            f"`baseline` must be one of {BASELINE_KINDS} or a row of numbers, "
            f"got {type(baseline).__name__}"
        ) from None
    if row.shape[1] != background.shape[1]:
        raise ValueError(
            f"`baseline` has {row.shape[1]} values but the table has {background.shape[1]} "
            "columns; give one value per column"
        )
    return Reference(row, "row", population)
