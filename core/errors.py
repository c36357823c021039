"""The errors perspicio raises on bad input.

Every check of a public entry point raises one of these. They are ordinary ``ValueError``
and ``TypeError`` subclasses, so ``except ValueError`` works, and they are also
``AssertionError`` subclasses: Captum signals the same bad inputs with ``assert``
statements, and code migrated from Captum that catches ``AssertionError`` keeps working.

Examples
--------
>>> import torch
>>> from perspicio.core import Saliency
>>> from perspicio.core.errors import AttributionValueError
>>> model = torch.nn.Linear(3, 2)
>>> try:
...     Saliency(model).attribute(torch.rand(2, 3), target=5)
... except AssertionError as err:  # as Captum users wrote it
...     print(isinstance(err, ValueError), isinstance(err, AttributionValueError))
True True
"""

from __future__ import annotations


class AttributionValueError(ValueError, AssertionError):
    """An argument has the right type but a wrong value or shape."""


class AttributionTypeError(TypeError, AssertionError):
    """An argument has the wrong type."""


class EfficiencyError(ArithmeticError):
    """An exact method's values do not add up to the model's own output: the explanation is
    not what it claims to be (raised instead of returning it)."""


__all__ = ["AttributionTypeError", "AttributionValueError", "EfficiencyError"]
