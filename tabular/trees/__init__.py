"""Tree ensembles explained exactly: one representation of their trees
(:class:`TreeEnsemble`), readers for scikit-learn, XGBoost and LightGBM, and the Shapley
value algorithms (:func:`interventional_shap`, :func:`path_dependent_shap`, and
:func:`probability_shap` for a boosted classifier's probability), and the registered methods
over them (:class:`TreeShap`, :class:`TreeShapPathDependent`)."""

from .ensemble import DEEPEST_PATH, TreeEnsemble
from .interventional import MAX_PATH_FEATURES, check_depth, interventional_shap
from .models import (
    OUTPUTS,
    is_tree_model,
    output_name,
    probability,
    raw_output,
    read_tree_model,
    resolve_output,
)
from .path_dependent import expected_value, path_dependent_interactions, path_dependent_shap
from .rescaled import probability_shap
from .strategies import TreeShap, TreeShapPathDependent

__all__ = [
    "TreeEnsemble",
    "interventional_shap",
    "read_tree_model",
    "is_tree_model",
    "raw_output",
    "output_name",
    "path_dependent_shap",
    "expected_value",
    "path_dependent_interactions",
    "probability_shap",
    "probability",
    "resolve_output",
    "OUTPUTS",
    "check_depth",
    "MAX_PATH_FEATURES",
    "DEEPEST_PATH",
    "TreeShap",
    "TreeShapPathDependent",
]
