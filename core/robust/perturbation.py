"""The common type of the robustness package's attacks."""

from __future__ import annotations

from typing import Any


class Perturbation:
    """An attack: ``perturb(inputs, **kwargs)`` returns perturbed inputs of the same
    structure; calling the object calls ``perturb``.

    Any callable with that form works where an attack is expected
    (:class:`AttackComparator`, :class:`MinParamPerturbation`); subclassing this class only
    names the intent.

    Examples
    --------
    >>> import torch
    >>> class AddNoise(Perturbation):
    ...     def perturb(self, inputs, std=0.1):
    ...         return inputs + std * torch.randn_like(inputs)
    >>> AddNoise()(torch.zeros(2, 3), std=0.0).abs().sum().item()
    0.0
    """

    def perturb(self, inputs: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define `perturb`")

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        return self.perturb(inputs, **kwargs)
