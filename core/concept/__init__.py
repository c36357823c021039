"""Concept-based interpretation (Captum's ``captum.concept``): how much a human concept
(stripes, a shape, a topic), given by examples, drives a model's prediction, through
concept activation vectors and TCAV scores, with the test against random concepts that
makes a score meaningful (:func:`significance`)."""

from .av import AV
from .cav import CAV
from .classifier import Classifier, DefaultClassifier
from .concept import Concept, ConceptInterpreter, concepts_to_str
from .significance import Significance, significance
from .tcav import TCAV

__all__ = [
    "CAV",
    "Concept",
    "ConceptInterpreter",
    "TCAV",
    "Classifier",
    "DefaultClassifier",
    "AV",
    "concepts_to_str",
    "significance",
    "Significance",
]
