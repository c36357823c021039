"""The common type of training-data influence methods."""

from __future__ import annotations

from typing import Any


class DataInfluence:
    """A method that scores training examples by how much they drive the model's outputs
    on given examples: ``influence(inputs, **kwargs)``.

    Examples
    --------
    >>> class Constant(DataInfluence):
    ...     def influence(self, inputs=None, **kwargs):
    ...         return 0.0
    >>> Constant().influence()
    0.0
    """

    def influence(self, inputs: Any = None, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must define `influence`")
