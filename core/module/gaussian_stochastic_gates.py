"""Gaussian gates (Yamada, Lindenbaum, Negahban and Kluger, 2020)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import AttributionValueError
from .stochastic_gates_base import StochasticGatesBase


class GaussianStochasticGates(StochasticGatesBase):
    r"""Gates ``z = min(1, max(0, mu + std * e))`` with ``e ~ N(0, 1)`` while training and
    ``min(1, max(0, mu))`` in eval mode; a gate is open with probability
    :math:`\Phi(\mu / \sigma)`, the L0 penalty. ``mu`` is learnt per gate (initialised at
    ``mean`` plus a little noise).

    Parameters
    ----------
    n_gates, mask, reg_weight, reg_reduction
        As :class:`StochasticGatesBase`.
    mean : float
        The gates' initial mean.
    std : float
        The noise's standard deviation while training.

    Examples
    --------
    >>> import torch
    >>> gates = GaussianStochasticGates._from_pretrained(torch.tensor([0.5, 0.0, 2.0])).eval()
    >>> gated, reg = gates(torch.ones(1, 3))
    >>> gated.detach().tolist(), round(float(reg.detach()), 4)  # P(open) = Phi(mu / 0.5)
    ([[0.5, 0.0, 1.0]], 2.3413)
    """

    def __init__(
        self,
        n_gates: int,
        mask: Tensor | None = None,
        reg_weight: float = 1.0,
        mean: float = 0.5,
        std: float = 0.5,
        reg_reduction: str = "sum",
    ) -> None:
        super().__init__(n_gates, mask, reg_weight, reg_reduction)
        if not 0 < mean < 1:
            raise AttributionValueError(f"`mean` must be in (0, 1), got {mean}")
        if not std > 0:
            raise AttributionValueError(f"`std` must be positive, got {std}")
        self.mu = nn.Parameter(torch.empty(n_gates))
        nn.init.normal_(self.mu, mean=mean, std=0.01)
        self.std = std

    @classmethod
    def _from_pretrained(cls, mu: Tensor, *args, **kwargs) -> GaussianStochasticGates:
        """Gates with trained means (one per gate); other arguments as the constructor's."""
        gates = cls(int(mu.numel()), *args, **kwargs)
        with torch.no_grad():
            gates.mu.copy_(mu.reshape(-1))
        return gates

    def _sample_gate_values(self, batch_size: int) -> Tensor:
        noise = torch.randn(batch_size, self.n_gates, device=self.mu.device)
        return (self.mu + self.std * noise).clamp(0, 1)

    def _get_gate_values(self) -> Tensor:
        return self.mu

    def _get_gate_active_probs(self) -> Tensor:
        return 0.5 * (1 + torch.erf(self.mu / (self.std * math.sqrt(2))))
