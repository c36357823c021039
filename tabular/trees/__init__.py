"""Tree ensembles explained exactly: one representation of their trees
(:class:`TreeEnsemble`), readers for each library, and the Shapley value algorithms."""

from .ensemble import TreeEnsemble
from .interventional import interventional_shap
from .sklearn import read_sklearn

__all__ = ["TreeEnsemble", "interventional_shap", "read_sklearn"]
