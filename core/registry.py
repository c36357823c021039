"""Method names -> classes and default arguments, resolved in one place.

Front ends, the app and the command line call :func:`create` with a name such as
``"integrated_gradients"`` or ``"noise_tunnel:saliency"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .attribution import Attribution
from .errors import AttributionValueError
from .layer.internal_influence import InternalInfluence
from .layer.layer_activation import LayerActivation
from .layer.layer_conductance import LayerConductance
from .layer.layer_deeplift import LayerDeepLift, LayerDeepLiftShap
from .layer.layer_feature_ablation import LayerFeatureAblation
from .layer.layer_gradcam import LayerGradCam
from .layer.layer_gradcam_plus_plus import LayerGradCamPlusPlus
from .layer.layer_gradient_shap import LayerGradientShap
from .layer.layer_gradient_x_activation import LayerGradientXActivation
from .layer.layer_integrated_gradients import LayerIntegratedGradients
from .layer.layer_lrp import LayerLRP
from .layer.layer_score_cam import LayerScoreCam
from .noise_tunnel import NoiseTunnel
from .primary.deconvolution import Deconvolution
from .primary.deeplift import DeepLift
from .primary.deeplift_shap import DeepLiftShap
from .primary.feature_ablation import FeatureAblation
from .primary.feature_permutation import FeaturePermutation
from .primary.gradient_shap import GradientShap
from .primary.guided_backprop import GuidedBackprop
from .primary.guided_gradcam import GuidedGradCam
from .primary.input_x_gradient import InputXGradient
from .primary.integrated_gradients import IntegratedGradients
from .primary.kernel_shap import KernelShap
from .primary.lime import Lime
from .primary.lrp import LRP
from .primary.occlusion import Occlusion
from .primary.saliency import Saliency
from .primary.shapley_value_sampling import ShapleyValueSampling
from .primary.shapley_values import ShapleyValues


@dataclass(frozen=True)
class MethodSpec:
    """What a front end needs to know to run a method.

    ``family`` is ``"gradient"`` or ``"perturbation"`` (attributions shaped like the
    inputs), ``"layer"`` (shaped like a layer) or ``"neuron"``. ``baselines`` is ``"none"``
    (the method takes none), ``"single"`` (one reference point) or ``"distribution"`` (a set
    of reference rows). ``needs_layer``: the constructor takes a ``layer``. ``defaults`` are
    ``attribute`` keyword arguments a front end uses unless told otherwise.
    """

    name: str
    cls: type[Attribution]
    family: str
    baselines: str = "none"
    sampling: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)
    needs_layer: bool = False


METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("saliency", Saliency, "gradient"),
        MethodSpec("input_x_gradient", InputXGradient, "gradient"),
        MethodSpec("integrated_gradients", IntegratedGradients, "gradient", "single",
                   defaults={"n_steps": 50}),
        MethodSpec("gradient_shap", GradientShap, "gradient", "distribution", True,
                   defaults={"n_samples": 20, "stdevs": 0.0}),
        MethodSpec("deeplift", DeepLift, "gradient", "single"),
        MethodSpec("deeplift_shap", DeepLiftShap, "gradient", "distribution"),
        MethodSpec("guided_backprop", GuidedBackprop, "gradient"),
        MethodSpec("deconvolution", Deconvolution, "gradient"),
        MethodSpec("feature_ablation", FeatureAblation, "perturbation", "single"),
        MethodSpec("feature_permutation", FeaturePermutation, "perturbation", sampling=True),
        MethodSpec("occlusion", Occlusion, "perturbation", "single"),
        MethodSpec("shapley_value_sampling", ShapleyValueSampling, "perturbation", "single", True,
                   defaults={"n_samples": 25}),
        MethodSpec("shapley_values", ShapleyValues, "perturbation", "single"),
        MethodSpec("lime", Lime, "perturbation", "single", True, defaults={"n_samples": 200}),
        MethodSpec("kernel_shap", KernelShap, "perturbation", "single", True,
                   defaults={"n_samples": 200}),
        MethodSpec("lrp", LRP, "gradient"),
        MethodSpec("guided_gradcam", GuidedGradCam, "gradient", needs_layer=True),
        MethodSpec("gradcam", LayerGradCam, "layer", needs_layer=True,
                   defaults={"relu_attributions": True}),
        MethodSpec("gradcam_plus_plus", LayerGradCamPlusPlus, "layer", needs_layer=True,
                   defaults={"relu_attributions": True}),
        MethodSpec("score_cam", LayerScoreCam, "layer", needs_layer=True),
        MethodSpec("layer_activation", LayerActivation, "layer", needs_layer=True),
        MethodSpec("layer_gradient_x_activation", LayerGradientXActivation, "layer",
                   needs_layer=True),
        MethodSpec("layer_conductance", LayerConductance, "layer", "single", needs_layer=True),
        MethodSpec("internal_influence", InternalInfluence, "layer", "single", needs_layer=True),
        MethodSpec("layer_integrated_gradients", LayerIntegratedGradients, "layer", "single",
                   needs_layer=True),
        MethodSpec("layer_deeplift", LayerDeepLift, "layer", "single", needs_layer=True),
        MethodSpec("layer_deeplift_shap", LayerDeepLiftShap, "layer", "distribution",
                   needs_layer=True),
        MethodSpec("layer_gradient_shap", LayerGradientShap, "layer", "distribution", True,
                   needs_layer=True),
        MethodSpec("layer_feature_ablation", LayerFeatureAblation, "layer", needs_layer=True),
        MethodSpec("layer_lrp", LayerLRP, "layer", needs_layer=True),
    )
}  # fmt: skip

ALIASES = {
    "ig": "integrated_gradients",
    "deep_lift": "deeplift",
    "smoothgrad": "noise_tunnel:saliency",
}


def get_spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of a method name (raises ``ValueError`` for unknown names)."""
    key = ALIASES.get(name, name)
    if key not in METHODS:
        raise AttributionValueError(
            f"`method` {name!r} is not a known method; known: {sorted(METHODS)}"
        )
    return METHODS[key]


def create(name: str, model: Callable, **init_kwargs: Any) -> Attribution:
    """Build the method called ``name`` for ``model``.

    ``"noise_tunnel:<name>"`` wraps the named method in :class:`NoiseTunnel`.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core.registry import create
    >>> create("noise_tunnel:integrated_gradients", torch.nn.Linear(2, 1)).get_name()
    'Noise Tunnel'
    """
    name = ALIASES.get(name, name)
    if name.startswith("noise_tunnel:"):
        return NoiseTunnel(create(name.split(":", 1)[1], model, **init_kwargs))
    return get_spec(name).cls(model, **init_kwargs)
