"""Method names -> specs: each spec knows its class and how the method is called.

Front ends, insights, the metrics, the app and the command line state what they know as
:class:`~perspicio.core._facts.Facts` (inputs, one baseline or a reference population,
feature groups, a window, a layer, a seed) and call :func:`prepare`; the spec of the method
decides which of those facts its ``attribute`` takes and how. None of them branches on a
method's name or family. Every public attribution class of :mod:`perspicio.core` is either
registered here or listed, with the reason, in :data:`EXCLUDED`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ._facts import Facts, against_population, as_population, one_row_of_zeros, per_input
from ._inputs import as_tuple
from .attribution import Attribution
from .errors import AttributionTypeError, AttributionValueError
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
from .neuron.neuron_conductance import NeuronConductance
from .neuron.neuron_deeplift import NeuronDeepLift, NeuronDeepLiftShap
from .neuron.neuron_feature_ablation import NeuronFeatureAblation
from .neuron.neuron_gradient import NeuronGradient
from .neuron.neuron_gradient_shap import NeuronGradientShap
from .neuron.neuron_guided_backprop import NeuronDeconvolution, NeuronGuidedBackprop
from .neuron.neuron_integrated_gradients import NeuronIntegratedGradients
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

#: The settings NoiseTunnel adds around a method: 10 noisy copies with a standard deviation
#: of 10% of the inputs' range (SmoothGrad's recommendation).
NOISE_TUNNEL = {"nt_samples": 10, "relative_stdev": 0.1}


@functools.cache
def _parameters(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls.attribute).parameters)


@dataclass(frozen=True)
class MethodSpec:
    """What there is to know about calling a method.

    Parameters
    ----------
    name, cls
        The registry name and the class.
    family : {"gradient", "perturbation", "layer", "neuron"}
        ``layer`` methods attribute to a layer's units; the others to the inputs.
    baselines : {"none", "single", "distribution"}
        The method takes no baseline, one reference point, or a set of reference rows.
    defaults : dict
        ``attribute`` settings a front end uses unless told otherwise.
    needs_layer : bool
        The constructor takes a ``layer`` (layer and neuron methods, Guided Grad-CAM).
    sign : {"all", "absolute_value", "positive"}
        Which values a picture shows (gradients' sign is noise; a CAM is ReLU'd).
    single_pass : bool
        The method's first forward pass is on the inputs themselves (the prediction can be
        read from it).
    delta_from_outputs : bool
        The convergence delta is ``sum(attr) - (f(x) - f(baseline))``, computable from the
        outputs at the two ends without the method's own extra pass.
    max_features : int, optional
        The most feature groups the method can afford (exact Shapley values: 2**groups).
    grouped_as : str, optional
        The method to use when the inputs come in feature groups and no window is given
        (occlusion of a group is its ablation).
    population_as : str, optional
        The method to use against a reference population (permuting a feature in
        expectation over the population is ablating it against the population's rows).
    input_gradients : bool
        The method differentiates with respect to the inputs (they must be floating point).
    layer_map : bool
        A class map over a layer's spatial grid (the CAM methods), shown over the input.
    shapley : bool
        The attributions estimate Shapley values (of the game the baseline defines).
    exact : bool
        The attributions are the exact values of their game (no sampling, no quadrature), so
        they add up to the output's difference from the baseline's; front ends check it
        (:func:`perspicio.core.efficiency.check_efficiency`).
    min_batch : int
        The fewest examples a call takes (a permutation needs other rows to draw from).
    test : dict
        Settings of the invariant suite (small step counts; ``layer``: the kind of layer the
        method needs, ``"spatial"`` for a convolution; ``rows_interact``: the batch's rows
        are mixed by design).
    """

    name: str
    cls: type[Attribution]
    family: str
    baselines: str = "none"
    defaults: dict[str, Any] = field(default_factory=dict)
    needs_layer: bool = False
    sign: str = "all"
    single_pass: bool = False
    delta_from_outputs: bool = False
    max_features: int | None = None
    grouped_as: str | None = None
    population_as: str | None = None
    input_gradients: bool = False
    layer_map: bool = False
    shapley: bool = False
    exact: bool = False
    min_batch: int = 1
    test: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ what it accepts
    def accepts(self, argument: str) -> bool:
        """Whether ``attribute`` takes ``argument``."""
        return argument in _parameters(self.cls)

    @property
    def sampling(self) -> bool:
        """A sampling method: it takes a seed and is reproducible with one."""
        return self.accepts("generator")

    @property
    def needs_window(self) -> bool:
        """The method slides a window over the inputs (occlusion)."""
        return self.accepts("sliding_window_shapes")

    @property
    def needs_neuron(self) -> bool:
        return self.accepts("neuron_selector")

    @property
    def prefers_population(self) -> bool:
        """The method is defined as an average over a population of references (Shapley
        values in shap's sense, permutations, the expected-gradient family)."""
        return self.shapley or self.baselines == "distribution" or self.population_as is not None

    @property
    def attributes_inputs(self) -> bool:
        """The attributions are shaped like the inputs (not like a layer)."""
        return self.family != "layer"

    # ----------------------------------------------------------------- calling
    def for_facts(self, facts: Facts) -> MethodSpec:
        """The spec that actually runs on these facts (see ``grouped_as``/``population_as``)."""
        if self.grouped_as and facts.window is None and facts.feature_mask is not None:
            return get_spec(self.grouped_as)
        if self.population_as and facts.population is not None:
            return get_spec(self.population_as)
        return self

    def create(self, model: Callable, facts: Facts | None = None, **init_kwargs: Any):
        """The method for ``model`` (its layer taken from ``facts`` when it needs one)."""
        if self.needs_layer and "layer" not in init_kwargs:
            layer = None if facts is None else facts.resolved("layer")
            if layer is None:
                raise AttributionValueError(
                    f"`layer`: method {self.name!r} attributes at a layer; give one (a module "
                    "of the model)"
                )
            init_kwargs["layer"] = layer
        return self.cls(model, **init_kwargs)

    def arguments(self, facts: Facts, defaults: bool = True) -> dict[str, Any]:
        """``attribute``'s keyword arguments (besides the inputs) for these facts, starting
        from the spec's ``defaults`` unless told not to."""
        kwargs = dict(self.defaults) if defaults else {}
        kwargs.update({k: v for k, v in facts.options.items() if self.accepts(k)})
        if self.input_gradients:
            xs, _ = as_tuple(facts.inputs)
            for i, x in enumerate(xs):
                if not x.is_floating_point():
                    raise AttributionValueError(
                        f"`method` {self.name!r} differentiates with respect to the inputs, "
                        f"but inputs[{i}] holds integer ids (dtype {x.dtype}); use a "
                        "perturbation method, or a layer method at the embedding layer"
                    )
        if self.accepts("target"):
            kwargs["target"] = facts.target
        if facts.additional_forward_args is not None:
            kwargs["additional_forward_args"] = facts.additional_forward_args
        if self.needs_neuron:
            if facts.neuron is None:
                raise AttributionValueError(
                    f"`neuron`: method {self.name!r} explains one neuron of a layer; give its index"
                )
            kwargs["neuron_selector"] = facts.neuron
        if self.sampling and facts.generator is not None:
            kwargs["generator"] = facts.generator
        if self.accepts("feature_mask") and facts.feature_mask is not None:
            kwargs["feature_mask"] = facts.resolved("feature_mask", self.max_features)
        if self.needs_window:
            if facts.window is None:
                raise AttributionValueError(
                    f"`window`: method {self.name!r} slides a window over the inputs; give its "
                    "size (or feature groups)"
                )
            xs, was_tuple = as_tuple(facts.inputs)
            windows = per_input(facts.window, xs, "window")
            kwargs["sliding_window_shapes"] = windows if was_tuple else windows[0]
            if facts.strides is not None:
                strides = per_input(facts.strides, xs, "strides")
                kwargs["strides"] = strides if was_tuple else strides[0]
        if (self.accepts("reshape_transform") and "reshape_transform" not in kwargs
                and facts.layer_reshape is not None):  # fmt: skip
            reshape = facts.layer_reshape()
            if reshape is not None:
                kwargs["reshape_transform"] = reshape
        if self.baselines == "single" and facts.baseline is not None:
            kwargs["baselines"] = facts.resolved("baseline")
        elif self.baselines == "distribution":
            population = facts.resolved("population")
            if population is None and facts.baseline is not None:
                population = as_population(facts.resolved("baseline"), facts.inputs)
            kwargs["baselines"] = (
                one_row_of_zeros(facts.inputs) if population is None else population
            )
        return kwargs


@dataclass
class Prepared:
    """A method ready to run on a front end's facts: ``prepared.attribute()``.

    ``grouped`` says whether the attributions are per feature group (every element of a
    group carries the group's value) rather than per element.
    """

    spec: MethodSpec
    method: Attribution
    kwargs: dict[str, Any]
    facts: Facts
    name: str

    @property
    def grouped(self) -> bool:
        return "feature_mask" in self.kwargs

    @property
    def per_example(self) -> set[str]:
        """The arguments with one entry per example (replicated with the inputs when a
        metric explains noisy copies of them)."""
        keys = {"target", "additional_forward_args", "feature_mask", "neuron_selector"}
        if self.spec.baselines == "single":
            keys.add("baselines")
        return keys & set(self.kwargs)

    @property
    def against_population(self) -> bool:
        """A one-baseline method averaged over a reference population."""
        return (
            self.spec.baselines == "single"
            and self.facts.baseline is None
            and self.facts.population is not None
        )

    def attribute(self, inputs: Any = None, **extra: Any) -> Any:
        """Run the method on ``inputs`` (the facts' by default); ``extra`` overrides."""
        inputs = self.facts.inputs if inputs is None else inputs
        kwargs = dict(self.kwargs, **extra)
        if self.against_population:
            population = self.facts.resolved("population")
            return against_population(self.method.attribute, inputs, population, kwargs)
        return self.method.attribute(inputs, **kwargs)


def prepare(
    method: str | Attribution, model: Callable | None, facts: Facts, **init_kwargs: Any
) -> Prepared:
    """The method (a registry name, ``"noise_tunnel:<name>"``, or an instance) and its
    ``attribute`` arguments for ``facts``.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core._facts import Facts
    >>> net = torch.nn.Linear(3, 2)
    >>> run = prepare("integrated_gradients", net, Facts(torch.ones(1, 3), target=1,
    ...                                                   options={"n_steps": 16}))
    >>> run.kwargs["n_steps"], tuple(run.attribute().shape)
    (16, (1, 3))
    """
    if isinstance(method, Attribution):
        inner = method.attribution_method if isinstance(method, NoiseTunnel) else method
        spec = spec_of(type(inner))
        kwargs = spec.arguments(facts, defaults=False)  # the instance's own defaults stand
        if isinstance(method, NoiseTunnel):
            kwargs.update(_noise_tunnel(facts))
        return Prepared(spec, method, kwargs, facts, type(method).__name__)
    if not isinstance(method, str):
        raise AttributionTypeError(
            f"`method` must be a method name or an Attribution, got {type(method).__name__}"
        )
    name = ALIASES.get(method, method)
    tunnel = name.startswith("noise_tunnel:")
    spec = get_spec(name.split(":", 1)[1] if tunnel else name).for_facts(facts)
    instance = spec.create(model, facts, **init_kwargs)
    kwargs = spec.arguments(facts)
    if tunnel:
        instance = NoiseTunnel(instance)
        kwargs.update(_noise_tunnel(facts))
    return Prepared(spec, instance, kwargs, facts, name)


def _noise_tunnel(facts: Facts) -> dict[str, Any]:
    xs, _ = as_tuple(facts.inputs)
    spread = float(xs[0].max() - xs[0].min()) if xs[0].is_floating_point() else 1.0
    settings = {
        "nt_samples": facts.options.get("nt_samples", NOISE_TUNNEL["nt_samples"]),
        "stdevs": facts.options.get("stdevs", NOISE_TUNNEL["relative_stdev"] * (spread or 1.0)),
    }
    if facts.generator is not None:
        settings["generator"] = facts.generator
    return settings


_SAL = {"sign": "absolute_value"}
_CAM = {"sign": "positive", "layer_map": True, "test": {"layer": "spatial"}}
_GRAD = {"input_gradients": True}

METHODS: dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        # --- attributions to the inputs, from gradients
        MethodSpec("saliency", Saliency, "gradient", single_pass=True, **_SAL, **_GRAD),
        MethodSpec("input_x_gradient", InputXGradient, "gradient", single_pass=True, **_GRAD),
        MethodSpec("integrated_gradients", IntegratedGradients, "gradient", "single",
                   defaults={"n_steps": 50}, delta_from_outputs=True, test={"n_steps": 8},
                   **_GRAD),
        MethodSpec("gradient_shap", GradientShap, "gradient", "distribution",
                   defaults={"n_samples": 20, "stdevs": 0.0}, **_GRAD),
        MethodSpec("deeplift", DeepLift, "gradient", "single", **_GRAD),
        MethodSpec("deeplift_shap", DeepLiftShap, "gradient", "distribution", **_GRAD),
        MethodSpec("guided_backprop", GuidedBackprop, "gradient", single_pass=True, **_SAL,
                   **_GRAD),
        MethodSpec("deconvolution", Deconvolution, "gradient", single_pass=True, **_SAL, **_GRAD),
        MethodSpec("lrp", LRP, "gradient", single_pass=True, **_GRAD),
        MethodSpec("guided_gradcam", GuidedGradCam, "gradient", needs_layer=True, **_SAL,
                   test={"layer": "spatial"}, **_GRAD),
        # --- attributions to the inputs, from perturbations
        MethodSpec("feature_ablation", FeatureAblation, "perturbation", "single"),
        MethodSpec("feature_permutation", FeaturePermutation, "perturbation",
                   population_as="feature_ablation", min_batch=2,
                   test={"rows_interact": True}),
        MethodSpec("occlusion", Occlusion, "perturbation", "single",
                   grouped_as="feature_ablation"),
        MethodSpec("shapley_value_sampling", ShapleyValueSampling, "perturbation", "single",
                   defaults={"n_samples": 25}, shapley=True),
        MethodSpec("shapley_values", ShapleyValues, "perturbation", "single", max_features=16,
                   shapley=True, exact=True),
        MethodSpec("lime", Lime, "perturbation", "single", defaults={"n_samples": 200}),
        MethodSpec("kernel_shap", KernelShap, "perturbation", "single",
                   defaults={"n_samples": 200}, shapley=True),
        # --- attributions to a layer's units
        MethodSpec("gradcam", LayerGradCam, "layer", needs_layer=True, single_pass=True,
                   defaults={"relu_attributions": True}, **_CAM),
        MethodSpec("gradcam_plus_plus", LayerGradCamPlusPlus, "layer", needs_layer=True,
                   single_pass=True, defaults={"relu_attributions": True}, **_CAM),
        MethodSpec("score_cam", LayerScoreCam, "layer", needs_layer=True, **_CAM),
        MethodSpec("xgradcam", LayerXGradCam, "layer", needs_layer=True, single_pass=True,
                   defaults={"relu_attributions": True}, **_CAM),
        MethodSpec("hirescam", LayerHiResCam, "layer", needs_layer=True, single_pass=True,
                   defaults={"relu_attributions": True}, **_CAM),
        MethodSpec("layercam", LayerLayerCam, "layer", needs_layer=True, single_pass=True,
                   defaults={"relu_attributions": True}, **_CAM),
        MethodSpec("eigencam", LayerEigenCam, "layer", needs_layer=True, **_CAM),
        MethodSpec("ablationcam", LayerAblationCam, "layer", needs_layer=True,
                   defaults={"relu_attributions": True}, **_CAM),
        MethodSpec("layer_activation", LayerActivation, "layer", needs_layer=True),
        MethodSpec("layer_gradient_x_activation", LayerGradientXActivation, "layer",
                   needs_layer=True),
        MethodSpec("layer_conductance", LayerConductance, "layer", "single", needs_layer=True,
                   test={"n_steps": 8}),
        MethodSpec("internal_influence", InternalInfluence, "layer", "single", needs_layer=True,
                   test={"n_steps": 8}),
        MethodSpec("layer_integrated_gradients", LayerIntegratedGradients, "layer", "single",
                   needs_layer=True, test={"n_steps": 8}),
        MethodSpec("layer_deeplift", LayerDeepLift, "layer", "single", needs_layer=True),
        MethodSpec("layer_deeplift_shap", LayerDeepLiftShap, "layer", "distribution",
                   needs_layer=True),
        MethodSpec("layer_gradient_shap", LayerGradientShap, "layer", "distribution",
                   needs_layer=True),
        MethodSpec("layer_feature_ablation", LayerFeatureAblation, "layer", needs_layer=True),
        MethodSpec("layer_feature_permutation", LayerFeaturePermutation, "layer",
                   needs_layer=True, min_batch=2, test={"rows_interact": True}),
        MethodSpec("layer_lrp", LayerLRP, "layer", needs_layer=True),
        # --- attributions to the inputs of one neuron of a layer
        MethodSpec("neuron_gradient", NeuronGradient, "neuron", needs_layer=True, **_GRAD),
        MethodSpec("neuron_integrated_gradients", NeuronIntegratedGradients, "neuron", "single",
                   needs_layer=True, defaults={"n_steps": 50}, test={"n_steps": 8}, **_GRAD),
        MethodSpec("neuron_conductance", NeuronConductance, "neuron", "single",
                   needs_layer=True, defaults={"n_steps": 50}, test={"n_steps": 8}, **_GRAD),
        MethodSpec("neuron_deeplift", NeuronDeepLift, "neuron", "single", needs_layer=True,
                   **_GRAD),
        MethodSpec("neuron_deeplift_shap", NeuronDeepLiftShap, "neuron", "distribution",
                   needs_layer=True, **_GRAD),
        MethodSpec("neuron_gradient_shap", NeuronGradientShap, "neuron", "distribution",
                   needs_layer=True, defaults={"n_samples": 20, "stdevs": 0.0}, **_GRAD),
        MethodSpec("neuron_guided_backprop", NeuronGuidedBackprop, "neuron", needs_layer=True,
                   **_SAL, **_GRAD),
        MethodSpec("neuron_deconvolution", NeuronDeconvolution, "neuron", needs_layer=True,
                   **_SAL, **_GRAD),
        MethodSpec("neuron_feature_ablation", NeuronFeatureAblation, "neuron", "single",
                   needs_layer=True),
    )
}  # fmt: skip

ALIASES = {
    "ig": "integrated_gradients",
    "deep_lift": "deeplift",
    "smoothgrad": "noise_tunnel:saliency",
}

#: Public attribution classes that are not in :data:`METHODS`, and why.
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


def get_spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of a method name (raises ``ValueError`` for unknown names)."""
    if not isinstance(name, str):
        raise AttributionTypeError(f"`method` must be a method name, got {type(name).__name__}")
    key = ALIASES.get(name, name)
    if key not in METHODS:
        raise AttributionValueError(
            f"`method` {name!r} is not a known method; known: {sorted(METHODS)}"
        )
    return METHODS[key]


def spec_of(cls: type) -> MethodSpec:
    """The spec of a method class; an unregistered subclass of a registered one gets its
    parent's spec, any other class a spec read from its ``attribute`` signature."""
    for klass in cls.__mro__:
        for spec in METHODS.values():
            if spec.cls is klass:
                return spec if klass is cls else replace(spec, name=cls.__name__, cls=cls)
    takes = _parameters(cls)
    return MethodSpec(cls.__name__, cls, "gradient",
                      "single" if "baselines" in takes else "none")  # fmt: skip


def names(**properties: Any) -> tuple[str, ...]:
    """The registered names whose spec has every given property, e.g.
    ``names(attributes_inputs=True, needs_layer=False)``."""
    return tuple(
        n for n, s in METHODS.items() if all(getattr(s, k) == v for k, v in properties.items())
    )


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
