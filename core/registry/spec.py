"""What a spec is: everything there is to know about calling a method or scoring with a metric.

A :class:`MethodSpec` says which facts a method takes (a baseline or a reference population,
a layer, feature groups, a window, a seed), what it can explain (images, token embeddings,
generated text token by token, tree ensembles, models without gradients) and where it is the
default. Front ends, pages and wrappers select methods by these properties, never by name.
A :class:`MetricSpec` says the same of a metric: its function, its direction, what it needs
and its chance level.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ..attribution import Attribution, LayerAttribution, NeuronAttribution, PerturbationAttribution

#: the families of methods: what the attributions are of, and how they are computed
FAMILIES = ("gradient", "perturbation", "layer", "neuron", "tree")
BASELINE_KINDS = ("none", "single", "distribution")


@functools.cache
def _parameters(cls: type) -> frozenset[str]:
    return frozenset(inspect.signature(cls.attribute).parameters)


@dataclass(frozen=True)
class MethodSpec:
    """What there is to know about calling a method.

    Parameters
    ----------
    name, cls
        The registry name and the class (an :class:`~perspicio.core.Attribution`).
    family : {"gradient", "perturbation", "layer", "neuron", "tree"}
        ``layer`` methods attribute to a layer's units; ``tree`` methods explain a tree
        ensemble exactly (their "model" is a :class:`~perspicio.tabular.trees.TreeEnsemble`);
        the others attribute to the inputs of a torch model (``perturbation``: of any function).
    baselines : {"none", "single", "distribution"}
        The method takes no baseline, one reference point, or a reference population (a set
        of rows; a one-baseline method is averaged over a population, see ``prefers_population``).
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
    token_layer : bool
        A layer method that explains text at the token-embedding layer (its units summed per
        token): offered by :func:`perspicio.text.explain`.
    generation : bool
        Explains a language model's generated text (:func:`perspicio.text.explain_generation`,
        :class:`~perspicio.core.LLMAttribution` for a perturbation method,
        :class:`~perspicio.core.LLMGradientAttribution` for a layer method).
    generation_target : {"log_prob", "logit"}
        What the method explains of a generated token by default: its log-probability, or
        its logit where the method's guarantee holds for the logit (LRP's conservation:
        the softmax's normalisation is not a function of the prompt's relevance).
    per_output_token : bool
        One call attributes several outputs that share their evaluations (the total and each
        generated token's log-probability); a method without it attributes the total only.
    swaps_values : bool
        The method only ever gives the model each feature's own value or a reference's
        (``torch.where`` over a mask: no arithmetic, no distances between values), so it
        explains features that are codes for categories or text (a DataFrame's columns,
        :data:`perspicio.tabular.VALUE_SWAPPING`).
    tree : bool
        Explains a tree ensemble exactly (a strategy over the tree engine of
        :mod:`perspicio.tabular.trees`, registered from there).
    default_for : tuple of str
        The contexts where this method is the default: ``"image"`` (``vision.explain``),
        ``"image_interactive"`` (the app's and the command line's first map),
        ``"image_compare"`` (``vision.compare``'s panels), ``"text"``, ``"generation"``,
        ``"table"`` (a torch model), ``"table_function"`` (a model without gradients),
        ``"table_tree"``, ``"table_importance"`` (a whole table), ``"explorer"``.
    tunable : dict, optional
        The settings a person may change in the explorer, with the value they start at
        (lighter than ``defaults`` where a person waits for the answer); default: the
        integer ``defaults``.
    test : dict
        Settings of the invariant suite (:mod:`perspicio.core.testing`): small step counts;
        ``layer``: the kind of layer the method needs, ``"spatial"`` for a convolution;
        ``known_failures``: ``{check: reason}`` for checks the method fails by design.
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
    token_layer: bool = False
    generation: bool = False
    generation_target: str = "log_prob"
    per_output_token: bool = False
    swaps_values: bool = False
    tree: bool = False
    default_for: tuple[str, ...] = ()
    tunable: dict[str, Any] | None = None
    test: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"`name` must be a non-empty str, got {self.name!r}")
        if not (isinstance(self.cls, type) and issubclass(self.cls, Attribution)):
            raise TypeError(
                f"`cls` of method {self.name!r} must be an Attribution subclass, got {self.cls!r}"
            )
        if self.family not in FAMILIES:
            raise ValueError(
                f"`family` of method {self.name!r} must be one of {FAMILIES}, got {self.family!r}"
            )
        if self.baselines not in BASELINE_KINDS:
            raise ValueError(
                f"`baselines` of method {self.name!r} must be one of {BASELINE_KINDS}, got "
                f"{self.baselines!r}"
            )
        if self.generation_target not in ("log_prob", "logit"):
            raise ValueError(
                f"`generation_target` of method {self.name!r} must be 'log_prob' or 'logit', "
                f"got {self.generation_target!r}"
            )
        if isinstance(self.default_for, str):
            raise TypeError(
                f"`default_for` of method {self.name!r} must be a tuple of contexts, got the "
                f"str {self.default_for!r} (write ({self.default_for!r},))"
            )

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

    @property
    def black_box(self) -> bool:
        """The method only calls the model (no gradients, no layer): it explains models
        without gradients and any function returning scores."""
        return self.family == "perturbation" and not self.needs_layer

    @property
    def takes_groups(self) -> bool:
        """The method attributes to feature groups when given them (directly, or through
        ``grouped_as``)."""
        return self.accepts("feature_mask") or self.grouped_as is not None

    @property
    def settings(self) -> dict[str, Any]:
        """The settings a person may change (see ``tunable``)."""
        if self.tunable is not None:
            return dict(self.tunable)
        return {k: v for k, v in self.defaults.items() if type(v) is int}


@dataclass
class Scoring:
    """What a metric is computed from (see :attr:`MetricSpec.score`).

    ``attributions`` are the method's on ``inputs``; ``explain`` re-runs the method on other
    inputs (with the per-example arguments ``per_example``), for the metrics that need the
    method; ``explain_on(model)`` builds the same method on another model (a randomised or
    shifted copy) and returns its ``explain``; ``mask`` is the ground truth of the
    localisation metrics; ``tokenizer`` is the text metrics' (their ``inputs`` are texts and
    their ``attributions`` the front end's explanations).
    """

    model: Callable
    inputs: Any
    attributions: Any
    target: Any = None
    baselines: Any = None
    feature_mask: Any = None
    mask: Tensor | None = None
    explain: Callable[..., Any] | None = None
    per_example: dict[str, Any] = field(default_factory=dict)
    n_perturb_samples: int = 10
    noise_scale: float = 0.1
    n_steps: int = 20
    generator: Any = None
    explain_on: Callable[[Any], Callable[..., Any]] | None = None
    tokenizer: Any = None


#: what a metric may need: the model, the method itself (to re-explain other inputs), the
#: method rebuilt on a copy of the model, a ground-truth mask, a baseline, feature groups, a
#: random generator, a tokenizer (the text front end's metrics), several examples (a
#: metric over a set: an example's score depends on the others)
METRIC_NEEDS = (
    "model",
    "examples",
    "method",
    "rebuild",
    "mask",
    "baseline",
    "feature_mask",
    "generator",
    "tokenizer",
)
#: what a metric applies to: attributions shaped like the inputs, or any map (a layer's too)
METRIC_INPUTS = ("inputs", "maps")
#: the data a metric is defined for
METRIC_MODALITIES = ("images", "tokens", "rows", "generation")


@dataclass(frozen=True)
class MetricSpec:
    """What there is to know about a metric.

    Parameters
    ----------
    name : str
        The registry name (a column of :func:`~perspicio.core.metrics.compare_methods`).
    function : callable
        The public function (``deletion_curve``, ``infidelity``...).
    score : callable
        ``score(Scoring) -> tensor (N,)``: the metric per example, from what a comparison
        knows (the uniform call of ``compare_methods``).
    higher_is_better : bool
        The metric's direction.
    family : str
        ``faithfulness``, ``robustness``, ``complexity``, ``localisation``...
    needs : frozenset of str
        What it takes besides the attributions (see :data:`METRIC_NEEDS`); ``"method"`` and
        ``"mask"`` are required, the others used where given.
    applies_to : frozenset of str
        ``"inputs"``: attributions shaped like the inputs; ``"maps"``: any map, a layer's too.
    chance : callable, optional
        ``chance(mask, attributions) -> tensor (N,)``: what a map that knows nothing scores.
    modalities : frozenset of str
        The data it is defined for (:data:`METRIC_MODALITIES`): images, token sequences,
        table rows, generated text.
    default : bool
        Part of a comparison's default metrics (the cheap ones); the others by name.
    """

    name: str
    function: Callable[..., Any]
    score: Callable[[Scoring], Any]
    higher_is_better: bool
    family: str
    needs: frozenset[str] = frozenset()
    applies_to: frozenset[str] = frozenset({"inputs"})
    chance: Callable[[Tensor, Tensor], Tensor] | None = None
    modalities: frozenset[str] = frozenset({"images", "tokens", "rows"})
    default: bool = True

    def __post_init__(self) -> None:
        if set(self.modalities) - set(METRIC_MODALITIES):
            raise ValueError(
                f"`modalities` of metric {self.name!r} must be a subset of {METRIC_MODALITIES}, "
                f"got {sorted(self.modalities)}"
            )
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"`name` must be a non-empty str, got {self.name!r}")
        if not callable(self.score) or not callable(self.function):
            raise TypeError(f"`score` and `function` of metric {self.name!r} must be callables")
        unknown = set(self.needs) - set(METRIC_NEEDS)
        if unknown:
            raise ValueError(
                f"`needs` of metric {self.name!r}: unknown {sorted(unknown)}; known: {METRIC_NEEDS}"
            )
        if not self.applies_to or set(self.applies_to) - set(METRIC_INPUTS):
            raise ValueError(
                f"`applies_to` of metric {self.name!r} must be a non-empty subset of "
                f"{METRIC_INPUTS}, got {sorted(self.applies_to)}"
            )


def fallback_family(cls: type) -> str:
    """The family of an unregistered method class, from its base class."""
    if issubclass(cls, LayerAttribution):
        return "layer"
    if issubclass(cls, NeuronAttribution):
        return "neuron"
    if issubclass(cls, PerturbationAttribution):
        return "perturbation"
    return "gradient"
