"""Adversarial robustness (Captum's ``captum.robust``): attacks that find small input
changes that change a model's output, a comparator of attacks under a metric, and the
search for the smallest attack strength that makes a model wrong."""

from .attack_comparator import AttackComparator
from .fgsm import FGSM
from .min_param_perturbation import MinParamPerturbation
from .perturbation import Perturbation
from .pgd import PGD

__all__ = ["FGSM", "PGD", "Perturbation", "AttackComparator", "MinParamPerturbation"]
