"""perspicio.core.metrics: is an explanation faithful, stable and concise?

Each metric takes a seed or generator where it samples; the ones that evaluate many
perturbations do it in batched model calls.
"""

from .compare import (
    HIGHER_IS_BETTER,
    REFERENCES,
    compare_methods,
    comparison_html,
    comparison_table,
    plot_comparison,
    score_attributions,
)
from .complexity import completeness_gap, effective_complexity, entropy_complexity, sparseness
from .dasgupta_sufficiency import attribution_distances, dasgupta_sufficiency
from .faithfulness import FaithfulnessCurve, deletion_curve, insertion_curve
from .faithfulness_correlation import faithfulness_correlation
from .imputation import noisy_linear_imputation
from .infidelity import infidelity, infidelity_perturb_func_decorator
from .input_invariance import input_invariance, shifted_model
from .irof import irof
from .local_lipschitz import average_sensitivity, local_lipschitz_estimate
from .localisation import (
    LOCALISATION_METRICS,
    chance_level,
    energy_pointing_game,
    pointing_game,
    relevance_mass,
    relevance_rank,
    roc_auc,
    top_k_intersection,
)
from .monotonicity import monotonicity, monotonicity_correlation
from .non_sensitivity import non_sensitivity
from .pixel_flipping import FlippingCurve, pixel_flipping
from .random_logit import random_logit
from .region_perturbation import RegionCurve, region_perturbation, selectivity
from .relative_stability import (
    relative_input_stability,
    relative_output_stability,
    relative_representation_stability,
)
from .road import RoadCurve, road
from .sanity import model_randomization, spearman
from .sensitivity import default_perturb_func, sensitivity_max

__all__ = [
    "HIGHER_IS_BETTER",
    "REFERENCES",
    "LOCALISATION_METRICS",
    "FaithfulnessCurve",
    "FlippingCurve",
    "RegionCurve",
    "RoadCurve",
    "attribution_distances",
    "dasgupta_sufficiency",
    "noisy_linear_imputation",
    "road",
    "average_sensitivity",
    "chance_level",
    "compare_methods",
    "comparison_html",
    "comparison_table",
    "completeness_gap",
    "default_perturb_func",
    "deletion_curve",
    "effective_complexity",
    "entropy_complexity",
    "faithfulness_correlation",
    "energy_pointing_game",
    "infidelity",
    "infidelity_perturb_func_decorator",
    "input_invariance",
    "insertion_curve",
    "irof",
    "local_lipschitz_estimate",
    "model_randomization",
    "monotonicity",
    "monotonicity_correlation",
    "non_sensitivity",
    "pixel_flipping",
    "plot_comparison",
    "pointing_game",
    "random_logit",
    "region_perturbation",
    "relative_input_stability",
    "relative_output_stability",
    "relative_representation_stability",
    "relevance_mass",
    "relevance_rank",
    "roc_auc",
    "score_attributions",
    "selectivity",
    "sensitivity_max",
    "shifted_model",
    "sparseness",
    "spearman",
    "top_k_intersection",
]
