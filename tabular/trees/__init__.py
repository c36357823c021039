"""Tree ensembles explained exactly: one representation of their trees
(:class:`TreeEnsemble`), readers for scikit-learn, XGBoost and LightGBM, and the Shapley
value algorithm (:func:`interventional_shap`)."""

from .ensemble import TreeEnsemble
from .interventional import interventional_shap
from .models import is_tree_model, output_name, raw_output, read_tree_model
from .path_dependent import expected_value, path_dependent_interactions, path_dependent_shap

__all__ = ["TreeEnsemble", "interventional_shap", "read_tree_model", "is_tree_model",
           "raw_output", "output_name", "path_dependent_shap", "expected_value",
           "path_dependent_interactions"]  # fmt: skip
