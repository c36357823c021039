"""perspicio.core: attribution algorithms with the public API of ``captum.attr``.

``target`` may be None (the model returns one value per example), an int (a class index), a
tuple (an index into a multi-dimensional output), a list or tensor with one entry per
example, or a callable mapping the model output to one value per example (a region of a
segmentation map, a detection score, an embedding similarity).
"""

from . import errors  # noqa: F401  (perspicio.core.errors)
from .attribution import (
    Attribution,
    GradientAttribution,
    LayerAttribution,
    NeuronAttribution,
    PerturbationAttribution,
)
from .baselines import ProductBaselines
from .dataset import (
    DataLoaderAttribution,
    DatasetResult,
    InputRole,
    attribute_dataset,
    read_shard,
)
from .interpretable_embedding import (
    InterpretableEmbeddingBase,
    configure_interpretable_embedding_layer,
    remove_interpretable_embedding_layer,
)
from .layer.internal_influence import InternalInfluence
from .layer.layer_ablationcam import LayerAblationCam
from .layer.layer_activation import LayerActivation
from .layer.layer_conductance import LayerConductance
from .layer.layer_deeplift import LayerDeepLift, LayerDeepLiftShap
from .layer.layer_eigencam import LayerEigenCam
from .layer.layer_feature_ablation import LayerFeatureAblation
from .layer.layer_feature_permutation import LayerFeaturePermutation
from .layer.layer_gradcam import LayerGradCam
from .layer.layer_gradcam_plus_plus import LayerGradCamPlusPlus
from .layer.layer_gradient_shap import LayerGradientShap
from .layer.layer_gradient_x_activation import LayerGradientXActivation
from .layer.layer_hirescam import LayerHiResCam
from .layer.layer_integrated_gradients import LayerIntegratedGradients
from .layer.layer_layercam import LayerLayerCam
from .layer.layer_lrp import LayerLRP
from .layer.layer_score_cam import LayerScoreCam
from .layer.layer_xgradcam import LayerXGradCam
from .llm import (
    ImageMaskInput,
    InterpretableInput,
    LLMAttribution,
    LLMAttributionResult,
    LLMGradientAttribution,
    RemoteLLMAttribution,
    RemoteLLMProvider,
    TextTemplateInput,
    TextTokenInput,
    VLLMProvider,
)
from .neuron.neuron_conductance import NeuronConductance
from .neuron.neuron_deeplift import NeuronDeepLift, NeuronDeepLiftShap
from .neuron.neuron_feature_ablation import NeuronFeatureAblation
from .neuron.neuron_gradient import NeuronGradient
from .neuron.neuron_gradient_shap import NeuronGradientShap
from .neuron.neuron_guided_backprop import NeuronDeconvolution, NeuronGuidedBackprop
from .neuron.neuron_integrated_gradients import NeuronIntegratedGradients
from .noise_tunnel import NoiseTunnel
from .options import options
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
from .primary.lime_base import LimeBase
from .primary.lrp import LRP
from .primary.lrp_rules import (
    Alpha1Beta0Rule,
    EpsilonRule,
    GammaRule,
    IdentityRule,
    PropagationRule,
    ZPlusRule,
)
from .primary.occlusion import Occlusion
from .primary.saliency import Saliency
from .primary.shapley_value_sampling import ShapleyValueSampling
from .primary.shapley_values import ShapleyValues
from .summary import (
    MSE,
    ClassSummarizer,
    CommonStats,
    Count,
    Max,
    Mean,
    Min,
    Moments,
    Stat,
    StdDev,
    Sum,
    Summarizer,
    SummarizerSingleTensor,
    Var,
)

__all__ = [
    "ImageMaskInput",
    "InterpretableInput",
    "LLMAttribution",
    "LLMAttributionResult",
    "LLMGradientAttribution",
    "RemoteLLMAttribution",
    "RemoteLLMProvider",
    "TextTemplateInput",
    "TextTokenInput",
    "VLLMProvider",
    "DataLoaderAttribution",
    "InputRole",
    "LimeBase",
    "InterpretableEmbeddingBase",
    "configure_interpretable_embedding_layer",
    "remove_interpretable_embedding_layer",
    "MSE",
    "ClassSummarizer",
    "CommonStats",
    "Count",
    "LayerFeaturePermutation",
    "Max",
    "Mean",
    "Min",
    "Moments",
    "ProductBaselines",
    "Stat",
    "StdDev",
    "Sum",
    "Summarizer",
    "SummarizerSingleTensor",
    "Var",
    "Alpha1Beta0Rule",
    "Attribution",
    "DatasetResult",
    "Deconvolution",
    "DeepLift",
    "DeepLiftShap",
    "EpsilonRule",
    "FeatureAblation",
    "FeaturePermutation",
    "GammaRule",
    "GradientAttribution",
    "GradientShap",
    "GuidedBackprop",
    "GuidedGradCam",
    "IdentityRule",
    "InputXGradient",
    "IntegratedGradients",
    "InternalInfluence",
    "KernelShap",
    "LRP",
    "LayerActivation",
    "LayerAttribution",
    "LayerConductance",
    "LayerDeepLift",
    "LayerDeepLiftShap",
    "LayerFeatureAblation",
    "LayerAblationCam",
    "LayerEigenCam",
    "LayerGradCam",
    "LayerGradCamPlusPlus",
    "LayerGradientShap",
    "LayerGradientXActivation",
    "LayerIntegratedGradients",
    "LayerLRP",
    "LayerHiResCam",
    "LayerLayerCam",
    "LayerScoreCam",
    "LayerXGradCam",
    "Lime",
    "NeuronAttribution",
    "NeuronConductance",
    "NeuronDeconvolution",
    "NeuronDeepLift",
    "NeuronDeepLiftShap",
    "NeuronFeatureAblation",
    "NeuronGradient",
    "NeuronGradientShap",
    "NeuronGuidedBackprop",
    "NeuronIntegratedGradients",
    "NoiseTunnel",
    "Occlusion",
    "PerturbationAttribution",
    "PropagationRule",
    "Saliency",
    "ShapleyValueSampling",
    "ShapleyValues",
    "ZPlusRule",
    "attribute_dataset",
    "read_shard",
    "options",
]
