"""Training-data influence (Captum's ``captum.influence``): which training examples drove a
prediction, and which look mislabelled, from loss gradients at saved checkpoints (TracIn)
or the inverse Hessian of the training loss (influence functions)."""

from ._data import KMostInfluentialResults
from .influence import DataInfluence
from .influence_function import (
    ArnoldiInfluenceFunction,
    InfluenceFunctionBase,
    NaiveInfluenceFunction,
)
from .self_influence import SelfInfluence
from .similarity_influence import SimilarityInfluence, cosine_similarity, euclidean_distance
from .tracincp import TracInCP, TracInCPBase
from .tracincp_fast import TracInCPFast, TracInCPFastRandProj, last_linear

__all__ = [
    "DataInfluence",
    "TracInCPBase",
    "TracInCP",
    "TracInCPFast",
    "TracInCPFastRandProj",
    "KMostInfluentialResults",
    "NaiveInfluenceFunction",
    "ArnoldiInfluenceFunction",
    "InfluenceFunctionBase",
    "SelfInfluence",
    "SimilarityInfluence",
    "cosine_similarity",
    "euclidean_distance",
    "last_linear",
]
