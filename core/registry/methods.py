"""The method table: the one file a new method adds a line to.

Each :class:`~perspicio.core.registry.spec.MethodSpec` names its class and says how it is
called and what it can explain; every list of methods a front end, page or wrapper shows is a
query of this table (:func:`perspicio.core.registry.names`). Methods of a front end (the tree
strategies of :mod:`perspicio.tabular.trees`) register their specs from there, and users
register their own with :func:`perspicio.core.registry.register`.
"""

from __future__ import annotations

from ..layer.internal_influence import InternalInfluence
from ..layer.layer_ablationcam import LayerAblationCam
from ..layer.layer_activation import LayerActivation
from ..layer.layer_conductance import LayerConductance
from ..layer.layer_deeplift import LayerDeepLift, LayerDeepLiftShap
from ..layer.layer_eigencam import LayerEigenCam
from ..layer.layer_feature_ablation import LayerFeatureAblation
from ..layer.layer_feature_permutation import LayerFeaturePermutation
from ..layer.layer_gradcam import LayerGradCam
from ..layer.layer_gradcam_plus_plus import LayerGradCamPlusPlus
from ..layer.layer_gradient_shap import LayerGradientShap
from ..layer.layer_gradient_x_activation import LayerGradientXActivation
from ..layer.layer_hirescam import LayerHiResCam
from ..layer.layer_integrated_gradients import LayerIntegratedGradients
from ..layer.layer_layercam import LayerLayerCam
from ..layer.layer_lrp import LayerLRP
from ..layer.layer_score_cam import LayerScoreCam
from ..layer.layer_xgradcam import LayerXGradCam
from ..neuron.neuron_conductance import NeuronConductance
from ..neuron.neuron_deeplift import NeuronDeepLift, NeuronDeepLiftShap
from ..neuron.neuron_feature_ablation import NeuronFeatureAblation
from ..neuron.neuron_gradient import NeuronGradient
from ..neuron.neuron_gradient_shap import NeuronGradientShap
from ..neuron.neuron_guided_backprop import NeuronDeconvolution, NeuronGuidedBackprop
from ..neuron.neuron_integrated_gradients import NeuronIntegratedGradients
from ..primary.deconvolution import Deconvolution
from ..primary.deeplift import DeepLift
from ..primary.deeplift_shap import DeepLiftShap
from ..primary.feature_ablation import FeatureAblation
from ..primary.feature_permutation import FeaturePermutation
from ..primary.gradient_shap import GradientShap
from ..primary.guided_backprop import GuidedBackprop
from ..primary.guided_gradcam import GuidedGradCam
from ..primary.input_x_gradient import InputXGradient
from ..primary.integrated_gradients import IntegratedGradients
from ..primary.kernel_shap import KernelShap
from ..primary.lime import Lime
from ..primary.lrp import LRP
from ..primary.occlusion import Occlusion
from ..primary.saliency import Saliency
from ..primary.shapley_value_sampling import ShapleyValueSampling
from ..primary.shapley_values import ShapleyValues
from .spec import MethodSpec

_SAL = {"sign": "absolute_value"}
_CAM = {"sign": "positive", "layer_map": True, "test": {"layer": "spatial"}}
_GRAD = {"input_gradients": True}
_ROWS_INTERACT = {
    "known_failures": {
        "batch_independence": "a permutation mixes the rows of the batch (by design)"
    }
}

#: every method of perspicio.core, in the order front ends list them
TABLE: tuple[MethodSpec, ...] = (
    # --- attributions to the inputs, from gradients
    MethodSpec(
        "saliency",
        Saliency,
        "gradient",
        single_pass=True,
        default_for=("image_compare",),
        **_SAL,
        **_GRAD,
    ),
    MethodSpec("input_x_gradient", InputXGradient, "gradient", single_pass=True, **_GRAD),
    MethodSpec(
        "integrated_gradients",
        IntegratedGradients,
        "gradient",
        "single",
        defaults={"n_steps": 50},
        delta_from_outputs=True,
        test={"n_steps": 8},
        tunable={"n_steps": 25},
        default_for=("image", "image_compare", "table", "explorer"),
        **_GRAD,
    ),
    MethodSpec(
        "gradient_shap",
        GradientShap,
        "gradient",
        "distribution",
        defaults={"n_samples": 20, "stdevs": 0.0},
        tunable={"n_samples": 10},
        **_GRAD,
    ),
    MethodSpec("deeplift", DeepLift, "gradient", "single", **_GRAD),
    MethodSpec("deeplift_shap", DeepLiftShap, "gradient", "distribution", **_GRAD),
    MethodSpec("guided_backprop", GuidedBackprop, "gradient", single_pass=True, **_SAL, **_GRAD),
    MethodSpec("deconvolution", Deconvolution, "gradient", single_pass=True, **_SAL, **_GRAD),
    MethodSpec("lrp", LRP, "gradient", single_pass=True, generation_target="logit", **_GRAD),
    MethodSpec(
        "guided_gradcam",
        GuidedGradCam,
        "gradient",
        needs_layer=True,
        **_SAL,
        test={"layer": "spatial"},
        **_GRAD,
    ),
    # --- attributions to the inputs, from perturbations
    MethodSpec(
        "feature_ablation",
        FeatureAblation,
        "perturbation",
        "single",
        generation=True,
        per_output_token=True,
        default_for=("generation", "text_compare", "generation_compare"),
        swaps_values=True,
    ),
    MethodSpec(
        "feature_permutation",
        FeaturePermutation,
        "perturbation",
        population_as="feature_ablation",
        min_batch=2,
        test=_ROWS_INTERACT,
        swaps_values=True,
    ),
    MethodSpec(
        "occlusion",
        Occlusion,
        "perturbation",
        "single",
        grouped_as="feature_ablation",
        tunable={"window": 3},
        default_for=("image_compare",),
    ),
    MethodSpec(
        "shapley_value_sampling",
        ShapleyValueSampling,
        "perturbation",
        "single",
        defaults={"n_samples": 25},
        shapley=True,
        generation=True,
        per_output_token=True,
        swaps_values=True,
    ),
    MethodSpec(
        "shapley_values",
        ShapleyValues,
        "perturbation",
        "single",
        max_features=16,
        shapley=True,
        exact=True,
        generation=True,
        per_output_token=True,
        swaps_values=True,
    ),
    MethodSpec(
        "lime", Lime, "perturbation", "single", defaults={"n_samples": 200}, generation=True
    ),
    MethodSpec(
        "kernel_shap",
        KernelShap,
        "perturbation",
        "single",
        defaults={"n_samples": 200},
        shapley=True,
        generation=True,
        default_for=("table_function", "table_importance"),
        swaps_values=True,
    ),
    # --- attributions to a layer's units
    MethodSpec(
        "gradcam",
        LayerGradCam,
        "layer",
        needs_layer=True,
        single_pass=True,
        defaults={"relu_attributions": True},
        default_for=("image_interactive", "image_compare"),
        **_CAM,
    ),
    MethodSpec(
        "gradcam_plus_plus",
        LayerGradCamPlusPlus,
        "layer",
        needs_layer=True,
        single_pass=True,
        defaults={"relu_attributions": True},
        **_CAM,
    ),
    MethodSpec("score_cam", LayerScoreCam, "layer", needs_layer=True, **_CAM),
    MethodSpec(
        "xgradcam",
        LayerXGradCam,
        "layer",
        needs_layer=True,
        single_pass=True,
        defaults={"relu_attributions": True},
        **_CAM,
    ),
    MethodSpec(
        "hirescam",
        LayerHiResCam,
        "layer",
        needs_layer=True,
        single_pass=True,
        defaults={"relu_attributions": True},
        **_CAM,
    ),
    MethodSpec(
        "layercam",
        LayerLayerCam,
        "layer",
        needs_layer=True,
        single_pass=True,
        defaults={"relu_attributions": True},
        **_CAM,
    ),
    MethodSpec("eigencam", LayerEigenCam, "layer", needs_layer=True, **_CAM),
    MethodSpec(
        "ablationcam",
        LayerAblationCam,
        "layer",
        needs_layer=True,
        defaults={"relu_attributions": True},
        **_CAM,
    ),
    MethodSpec("layer_activation", LayerActivation, "layer", needs_layer=True),
    MethodSpec(
        "layer_gradient_x_activation",
        LayerGradientXActivation,
        "layer",
        needs_layer=True,
        token_layer=True,
        generation=True,
    ),
    MethodSpec(
        "layer_conductance",
        LayerConductance,
        "layer",
        "single",
        needs_layer=True,
        test={"n_steps": 8},
    ),
    MethodSpec(
        "internal_influence",
        InternalInfluence,
        "layer",
        "single",
        needs_layer=True,
        test={"n_steps": 8},
    ),
    MethodSpec(
        "layer_integrated_gradients",
        LayerIntegratedGradients,
        "layer",
        "single",
        needs_layer=True,
        test={"n_steps": 8},
        token_layer=True,
        generation=True,
        default_for=("text", "text_compare", "generation_compare"),
    ),
    MethodSpec(
        "layer_deeplift", LayerDeepLift, "layer", "single", needs_layer=True, token_layer=True
    ),
    MethodSpec("layer_deeplift_shap", LayerDeepLiftShap, "layer", "distribution", needs_layer=True),
    MethodSpec("layer_gradient_shap", LayerGradientShap, "layer", "distribution", needs_layer=True),
    MethodSpec("layer_feature_ablation", LayerFeatureAblation, "layer", needs_layer=True),
    MethodSpec(
        "layer_feature_permutation",
        LayerFeaturePermutation,
        "layer",
        needs_layer=True,
        min_batch=2,
        test=_ROWS_INTERACT,
    ),
    MethodSpec(
        "layer_lrp",
        LayerLRP,
        "layer",
        needs_layer=True,
        token_layer=True,
        generation=True,
        generation_target="logit",
    ),
    # --- attributions to the inputs of one neuron of a layer
    MethodSpec("neuron_gradient", NeuronGradient, "neuron", needs_layer=True, **_GRAD),
    MethodSpec(
        "neuron_integrated_gradients",
        NeuronIntegratedGradients,
        "neuron",
        "single",
        needs_layer=True,
        defaults={"n_steps": 50},
        test={"n_steps": 8},
        **_GRAD,
    ),
    MethodSpec(
        "neuron_conductance",
        NeuronConductance,
        "neuron",
        "single",
        needs_layer=True,
        defaults={"n_steps": 50},
        test={"n_steps": 8},
        **_GRAD,
    ),
    MethodSpec("neuron_deeplift", NeuronDeepLift, "neuron", "single", needs_layer=True, **_GRAD),
    MethodSpec(
        "neuron_deeplift_shap",
        NeuronDeepLiftShap,
        "neuron",
        "distribution",
        needs_layer=True,
        **_GRAD,
    ),
    MethodSpec(
        "neuron_gradient_shap",
        NeuronGradientShap,
        "neuron",
        "distribution",
        needs_layer=True,
        defaults={"n_samples": 20, "stdevs": 0.0},
        **_GRAD,
    ),
    MethodSpec(
        "neuron_guided_backprop", NeuronGuidedBackprop, "neuron", needs_layer=True, **_SAL, **_GRAD
    ),
    MethodSpec(
        "neuron_deconvolution", NeuronDeconvolution, "neuron", needs_layer=True, **_SAL, **_GRAD
    ),
    MethodSpec(
        "neuron_feature_ablation", NeuronFeatureAblation, "neuron", "single", needs_layer=True
    ),
)

ALIASES = {
    "ig": "integrated_gradients",
    "deep_lift": "deeplift",
    "smoothgrad": "noise_tunnel:saliency",
}

#: Public attribution classes that are not in the table, and why.
EXCLUDED: dict[str, str] = {
    # base classes: not methods
    "Attribution": "the base class of every method",
    "GradientAttribution": "a base class",
    "PerturbationAttribution": "a base class",
    "LayerAttribution": "a base class",
    "NeuronAttribution": "a base class",
    # wrappers of a registered method
    "NoiseTunnel": "wraps another method: registered as 'noise_tunnel:<name>'",
    "DataLoaderAttribution": "wraps FeatureAblation over a whole DataLoader (a dataset metric)",
    "LLMAttribution": "wraps a perturbation method for interpretable text inputs "
    "(text.explain_generation)",
    "LLMGradientAttribution": "wraps a layer method for interpretable text inputs "
    "(text.explain_generation)",
    "RemoteLLMAttribution": "scores a served model through a provider, not a torch model",
    # methods that need user-written parts
    "LimeBase": "needs the user's sampling, similarity and regression functions (Lime is "
    "its registered form)",
}
