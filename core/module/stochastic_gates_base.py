"""What every stochastic gate shares: one gate per feature group, applied to the inputs,
and the expected number of open gates as the regulariser (an L0 penalty)."""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import AttributionTypeError, AttributionValueError

REDUCTIONS = ("sum", "mean", "none")


class StochasticGatesBase(nn.Module):
    """Gates ``z`` in [0, 1], one per group of input elements: ``forward(x)`` returns the
    gated input ``x * z`` (each element times its group's gate) and the regulariser, the
    probability that each gate is open (non-zero), reduced with ``reg_reduction`` and scaled
    by ``reg_weight``. While training the gates are random (so that the penalty is
    differentiable); in eval mode they are their expected values.

    Parameters
    ----------
    n_gates : int
        The number of gates.
    mask : tensor, optional
        Shaped like one example of the input, each element's gate index in
        ``0..n_gates-1`` (every index used). Without it, every element has its own gate and
        an example must have ``n_gates`` elements.
    reg_weight : float
        The regulariser's weight.
    reg_reduction : {"sum", "mean", "none"}
        How the gates' open probabilities are reduced.
    """

    def __init__(
        self,
        n_gates: int,
        mask: Tensor | None = None,
        reg_weight: float = 1.0,
        reg_reduction: str = "sum",
    ) -> None:
        super().__init__()
        if isinstance(n_gates, bool) or not isinstance(n_gates, int) or n_gates < 1:
            raise AttributionValueError(f"`n_gates` must be a positive int, got {n_gates!r}")
        if reg_reduction not in REDUCTIONS:
            raise AttributionValueError(
                f"`reg_reduction` must be one of {REDUCTIONS}, got {reg_reduction!r}"
            )
        if mask is not None:
            if not isinstance(mask, Tensor):
                raise AttributionTypeError(f"`mask` must be a tensor, got {type(mask).__name__}")
            used = int(mask.max()) + 1 if mask.numel() else 0
            if used != n_gates or int(mask.min()) < 0:
                raise AttributionValueError(
                    f"`mask` holds gate indices 0..{used - 1}; expected 0..{n_gates - 1} "
                    f"(n_gates={n_gates})"
                )
            self.register_buffer("mask", mask.detach().clone().long(), persistent=False)
        else:
            self.mask = None
        self.n_gates = n_gates
        self.reg_weight = reg_weight
        self.reg_reduction = reg_reduction

    # ------------------------------------------------------------ per subclass
    def _sample_gate_values(self, batch_size: int) -> Tensor:
        """Random gates for a batch while training, ``(batch_size, n_gates)``."""
        raise NotImplementedError

    def _get_gate_values(self) -> Tensor:
        """The gates' expected values, ``(n_gates,)`` (unclamped)."""
        raise NotImplementedError

    def _get_gate_active_probs(self) -> Tensor:
        """Each gate's probability of being open, ``(n_gates,)``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    def forward(self, input_tensor: Tensor) -> tuple[Tensor, Tensor]:
        """The gated input and the regulariser."""
        if not isinstance(input_tensor, Tensor) or input_tensor.dim() < 2:
            raise AttributionValueError(
                "`input_tensor` must be a batch (N, ...) of examples, got "
                f"{tuple(getattr(input_tensor, 'shape', ()))}"
            )
        n = input_tensor.shape[0]
        example = input_tensor[0]
        if self.mask is None:
            if example.numel() != self.n_gates:
                raise AttributionValueError(
                    f"an example of `input_tensor` has {example.numel()} elements, one per "
                    f"gate expected ({self.n_gates}); give a `mask` to share gates"
                )
        elif self.mask.numel() != example.numel():
            raise AttributionValueError(
                f"`mask` has {self.mask.numel()} elements, an example of `input_tensor` "
                f"{example.numel()}"
            )
        if self.training:
            gates = self._sample_gate_values(n)
        else:
            gates = self._get_gate_values().clamp(0, 1).expand(n, -1)
        if self.mask is not None:
            gates = gates[:, self.mask.reshape(-1)]
        gated = input_tensor * gates.reshape(input_tensor.shape).to(input_tensor.dtype)
        probs = self._get_gate_active_probs()
        if self.reg_reduction == "sum":
            reg = probs.sum()
        elif self.reg_reduction == "mean":
            reg = probs.mean()
        else:
            reg = probs
        return gated, self.reg_weight * reg

    def get_gate_values(self, clamp: bool = True) -> Tensor:
        """The gates' expected values ``(n_gates,)``, clamped to [0, 1] unless told not to:
        a feature group's importance once the gates are trained."""
        values = self._get_gate_values().detach()
        return values.clamp(0, 1) if clamp else values

    def get_gate_active_probs(self) -> Tensor:
        """Each gate's probability of being open ``(n_gates,)``."""
        return self._get_gate_active_probs().detach()
