"""Learnable input gates (Captum's ``captum.module``): a gate in [0, 1] per feature group,
trained with an L0 penalty so that only the features a model needs stay open; the gates'
values after training rank the features."""

from .binary_concrete_stochastic_gates import BinaryConcreteStochasticGates
from .gaussian_stochastic_gates import GaussianStochasticGates
from .stochastic_gates_base import StochasticGatesBase

__all__ = ["BinaryConcreteStochasticGates", "GaussianStochasticGates", "StochasticGatesBase"]
