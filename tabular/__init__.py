"""perspicio.tabular: why did the model score this row so, and which features matter?

``Explainer(model, X_train)`` holds a model and its reference population; its ``explain``
and ``global_importance`` work on DataFrames, arrays or tensors, for torch models and for
any function returning scores (scikit-learn's ``predict_proba`` included), and for
scikit-learn pipelines on the user's raw DataFrame (text, categories, missing values),
explained on its own columns.
``tabular.explain(model, rows, background=X_train)`` is the one-call form.
"""

from .background import Reference, make_reference
from .explain import MIN_POPULATION, explain, global_importance
from .explainer import GRADIENT_FREE, TABULAR_METHODS, TREE_METHODS, VALUE_SWAPPING, Explainer
from .explanation import TabularExplanation
from .influence import TrainingInfluence
from .trees import TreeShap, TreeShapPathDependent

__all__ = [
    "TrainingInfluence",
    "MIN_POPULATION",
    "GRADIENT_FREE",
    "TABULAR_METHODS",
    "TREE_METHODS",
    "VALUE_SWAPPING",
    "TreeShap",
    "TreeShapPathDependent",
    "Explainer",
    "Reference",
    "TabularExplanation",
    "explain",
    "global_importance",
    "make_reference",
]
