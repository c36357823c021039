"""The dtype rule for sums that need more than float32: float64 where the tensor's device has it,
float32 on devices that have none (Apple's MPS), so that no method fails there."""

from __future__ import annotations

import torch
from torch import Tensor

#: device types without float64 arithmetic
NO_FLOAT64: set[str] = {"mps"}


def wide_dtype(device: torch.device | str) -> torch.dtype:
    """float64, or float32 on a device type in :data:`NO_FLOAT64`.

    Examples
    --------
    >>> wide_dtype("cpu")
    torch.float64
    >>> wide_dtype("mps")
    torch.float32
    """
    return torch.float32 if torch.device(device).type in NO_FLOAT64 else torch.float64


def widen(t: Tensor) -> Tensor:
    """``t`` in :func:`wide_dtype` of its device (integer ids and booleans included)."""
    return t.to(wide_dtype(t.device))
