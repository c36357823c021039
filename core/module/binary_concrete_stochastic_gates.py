"""Hard concrete gates (Louizos, Welling and Kingma, 2018)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import AttributionValueError
from .stochastic_gates_base import StochasticGatesBase


class BinaryConcreteStochasticGates(StochasticGatesBase):
    r"""Gates from the hard concrete distribution: a binary concrete (relaxed Bernoulli)
    sample stretched to ``(lower_bound, upper_bound)`` and clipped to [0, 1], so that a gate
    is exactly 0 or 1 with positive probability and its L0 penalty is differentiable:

    .. math::
        s = \sigma\!\left(\frac{\log u - \log(1-u) + \log\alpha}{\beta}\right),\quad
        z = \min(1, \max(0, s\,(\zeta - \gamma) + \gamma)),\quad
        P(z \neq 0) = \sigma\!\left(\log\alpha - \beta \log\frac{-\gamma}{\zeta}\right)

    with ``u ~ U(eps, 1 - eps)``, temperature :math:`\beta`, bounds :math:`\gamma < 0` and
    :math:`\zeta > 1`, and a learnable :math:`\log\alpha` per gate (initialised at the
    logit of ``init_mean`` plus a little noise). In eval mode a gate is
    :math:`\min(1, \max(0, \sigma(\log\alpha)(\zeta - \gamma) + \gamma))`.

    Parameters
    ----------
    n_gates, mask, reg_weight, reg_reduction
        As :class:`StochasticGatesBase`.
    temperature : float
    lower_bound, upper_bound : float
    init_mean : float
        The initial open probability of the relaxed gate, in (0, 1).
    eps : float
        Keeps the uniform draws away from 0 and 1.

    Examples
    --------
    >>> import torch
    >>> gates = BinaryConcreteStochasticGates._from_pretrained(torch.zeros(3)).eval()
    >>> gated, reg = gates(torch.ones(2, 3))
    >>> gated[0].tolist(), round(float(reg.detach()), 4)  # half open, each open w.p. 0.83
    ([0.5, 0.5, 0.5], 2.4955)
    """

    def __init__(
        self,
        n_gates: int,
        mask: Tensor | None = None,
        reg_weight: float = 1.0,
        temperature: float = 2.0 / 3,
        lower_bound: float = -0.1,
        upper_bound: float = 1.1,
        init_mean: float = 0.5,
        reg_reduction: str = "sum",
        eps: float = 1e-8,
    ) -> None:
        super().__init__(n_gates, mask, reg_weight, reg_reduction)
        if not lower_bound < 0 < 1 < upper_bound:
            raise AttributionValueError(
                f"the bounds must satisfy lower_bound < 0 and upper_bound > 1, got "
                f"{lower_bound}, {upper_bound}"
            )
        if not 0 < init_mean < 1:
            raise AttributionValueError(f"`init_mean` must be in (0, 1), got {init_mean}")
        self.log_alpha_param = nn.Parameter(torch.empty(n_gates))
        nn.init.normal_(self.log_alpha_param, mean=math.log(init_mean / (1 - init_mean)), std=0.01)
        self.temperature = temperature
        self.lower_bound, self.upper_bound = lower_bound, upper_bound
        self.eps = eps
        # log(-gamma / zeta): the shift of the open probability
        self.active_prob_offset = temperature * math.log(-lower_bound / upper_bound)

    @classmethod
    def _from_pretrained(
        cls, log_alpha_param: Tensor, *args, **kwargs
    ) -> BinaryConcreteStochasticGates:
        """Gates with trained ``log_alpha`` values (one per gate); other arguments as
        the constructor's."""
        gates = cls(int(log_alpha_param.numel()), *args, **kwargs)
        with torch.no_grad():
            gates.log_alpha_param.copy_(log_alpha_param.reshape(-1))
        return gates

    def _stretch(self, s: Tensor) -> Tensor:
        return s * (self.upper_bound - self.lower_bound) + self.lower_bound

    def _sample_gate_values(self, batch_size: int) -> Tensor:
        u = torch.empty(batch_size, self.n_gates, device=self.log_alpha_param.device)
        u.uniform_(self.eps, 1 - self.eps)
        s = torch.sigmoid(
            (torch.log(u) - torch.log(1 - u) + self.log_alpha_param) / self.temperature
        )
        return self._stretch(s).clamp(0, 1)

    def _get_gate_values(self) -> Tensor:
        return self._stretch(torch.sigmoid(self.log_alpha_param))

    def _get_gate_active_probs(self) -> Tensor:
        return torch.sigmoid(self.log_alpha_param - self.active_prob_offset)
