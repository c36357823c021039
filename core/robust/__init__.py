"""Adversarial robustness (Captum's ``captum.robust``): gradient attacks that find small
input changes that change a model's output.

So far: :class:`FGSM` and :class:`PGD`. ``Perturbation``, ``AttackComparator`` and
``MinParamPerturbation`` are not written yet.
"""

from .fgsm import FGSM
from .pgd import PGD

__all__ = ["FGSM", "PGD"]
