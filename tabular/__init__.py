"""perspicio.tabular: why did the model score this row so, and which features matter?

``tabular.explain(model, X)`` works with torch models and with any function returning
scores (scikit-learn's ``predict_proba`` included), on DataFrames, arrays or tensors.
"""

from .explain import explain, global_importance
from .explanation import TabularExplanation

__all__ = ["TabularExplanation", "explain", "global_importance"]
