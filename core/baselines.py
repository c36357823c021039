"""``ProductBaselines``: baselines drawn from the product of per-feature candidate values."""

from __future__ import annotations

import random
from typing import Any

from .errors import AttributionTypeError, AttributionValueError


class ProductBaselines:
    """A callable returning one baseline drawn uniformly from the Cartesian product of
    candidate values per feature (Captum's form for the perturbation methods' ``baselines``).

    ``baseline_values`` is a list (one list of candidates per feature; a draw is a list) or
    a dict (one list per feature name; a key may be a tuple of names whose candidates are
    tuples, drawn together; a draw is a dict by name).

    Examples
    --------
    >>> draw = ProductBaselines({"age": [30, 60], ("lat", "lon"): [(0, 0), (51, 0)]})
    >>> sorted(draw())
    ['age', 'lat', 'lon']
    """

    def __init__(self, baseline_values: list[list[Any]] | dict[Any, list[Any]]) -> None:
        if isinstance(baseline_values, dict):
            self.names: list[Any] | None = list(baseline_values)
            candidates = list(baseline_values.values())
        elif isinstance(baseline_values, (list, tuple)):
            self.names, candidates = None, list(baseline_values)
        else:
            raise AttributionTypeError(
                "`baseline_values` must be a list of candidate lists or a dict of them, got "
                f"{type(baseline_values).__name__}"
            )
        for i, values in enumerate(candidates):
            if not isinstance(values, (list, tuple)) or not values:
                raise AttributionValueError(f"`baseline_values` entry {i} must be a non-empty list")
        self.candidates = candidates

    def sample(self) -> list[Any] | dict[Any, Any]:
        """One draw: a candidate per feature, uniformly and independently."""
        picks = [random.choice(values) for values in self.candidates]
        if self.names is None:
            return picks
        out: dict[Any, Any] = {}
        for name, value in zip(self.names, picks):
            if isinstance(name, tuple):
                out.update(zip(name, value))
            else:
                out[name] = value
        return out

    def __call__(self) -> list[Any] | dict[Any, Any]:
        return self.sample()
