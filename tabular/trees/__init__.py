"""Tree ensembles explained exactly: one representation of their trees
(:class:`TreeEnsemble`), readers for each library, and the Shapley value algorithms."""

from .ensemble import TreeEnsemble
from .interventional import interventional_shap
from .sklearn import is_tree_model, output_name, raw_output, read_sklearn

__all__ = ["TreeEnsemble", "interventional_shap", "read_sklearn", "is_tree_model", "raw_output",
           "output_name"]  # fmt: skip
