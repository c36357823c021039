"""Facts -> a method and its arguments: how a spec is called on what a front end knows.

:func:`prepare` is the one way front ends, insights, the metrics, the app and the command
line run a method: the spec of the method decides which of the facts (see
:class:`~perspicio.core._engine.facts.Facts`) its constructor and its ``attribute`` take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._engine.facts import Facts, against_population, as_population, one_row_of_zeros, per_input
from .._engine.inputs import as_tuple
from ..attribution import Attribution
from ..errors import AttributionTypeError, AttributionValueError
from ..noise_tunnel import NoiseTunnel
from .methods import ALIASES
from .spec import MethodSpec
from .store import get_spec, spec_of

#: The settings NoiseTunnel adds around a method: 10 noisy copies with a standard deviation
#: of 10% of the inputs' range (SmoothGrad's recommendation).
NOISE_TUNNEL = {"nt_samples": 10, "relative_stdev": 0.1}


def for_facts(spec: MethodSpec, facts: Facts) -> MethodSpec:
    """The spec that actually runs on these facts (see ``grouped_as``/``population_as``)."""
    if spec.grouped_as and facts.window is None and facts.feature_mask is not None:
        return get_spec(spec.grouped_as)
    if spec.population_as and facts.population is not None:
        return get_spec(spec.population_as)
    return spec


def instantiate(
    spec: MethodSpec, model: Callable, facts: Facts | None = None, **init_kwargs: Any
) -> Attribution:
    """The method for ``model`` (its layer taken from ``facts`` when it needs one)."""
    if spec.needs_layer and "layer" not in init_kwargs:
        layer = None if facts is None else facts.resolved("layer")
        if layer is None:
            raise AttributionValueError(
                f"`layer`: method {spec.name!r} attributes at a layer; give one (a module "
                "of the model)"
            )
        init_kwargs["layer"] = layer
    return spec.cls(model, **init_kwargs)


def arguments(spec: MethodSpec, facts: Facts, defaults: bool = True) -> dict[str, Any]:
    """``attribute``'s keyword arguments (besides the inputs) for these facts, starting
    from the spec's ``defaults`` unless told not to."""
    kwargs = dict(spec.defaults) if defaults else {}
    kwargs.update({k: v for k, v in facts.options.items() if spec.accepts(k)})
    if spec.input_gradients:
        xs, _ = as_tuple(facts.inputs)
        for i, x in enumerate(xs):
            if not x.is_floating_point():
                raise AttributionValueError(
                    f"`method` {spec.name!r} differentiates with respect to the inputs, "
                    f"but inputs[{i}] holds integer ids (dtype {x.dtype}); use a "
                    "perturbation method, or a layer method at the embedding layer"
                )
    if spec.accepts("target"):
        kwargs["target"] = facts.target
    if facts.additional_forward_args is not None:
        kwargs["additional_forward_args"] = facts.additional_forward_args
    if spec.needs_neuron:
        if facts.neuron is None:
            raise AttributionValueError(
                f"`neuron`: method {spec.name!r} explains one neuron of a layer; give its index"
            )
        kwargs["neuron_selector"] = facts.neuron
    if spec.sampling and facts.generator is not None:
        kwargs["generator"] = facts.generator
    if spec.accepts("feature_mask") and facts.feature_mask is not None:
        kwargs["feature_mask"] = facts.resolved("feature_mask", spec.max_features)
    if spec.needs_window:
        if facts.window is None:
            raise AttributionValueError(
                f"`window`: method {spec.name!r} slides a window over the inputs; give its "
                "size (or feature groups)"
            )
        xs, was_tuple = as_tuple(facts.inputs)
        windows = per_input(facts.window, xs, "window")
        kwargs["sliding_window_shapes"] = windows if was_tuple else windows[0]
        if facts.strides is not None:
            strides = per_input(facts.strides, xs, "strides")
            kwargs["strides"] = strides if was_tuple else strides[0]
    if (
        spec.accepts("reshape_transform")
        and "reshape_transform" not in kwargs
        and facts.layer_reshape is not None
    ):
        reshape = facts.layer_reshape()
        if reshape is not None:
            kwargs["reshape_transform"] = reshape
    if spec.baselines == "single" and facts.baseline is not None:
        kwargs["baselines"] = facts.resolved("baseline")
    elif spec.baselines == "distribution":
        population = facts.resolved("population")
        if population is None and facts.baseline is not None:
            population = as_population(facts.resolved("baseline"), facts.inputs)
        kwargs["baselines"] = one_row_of_zeros(facts.inputs) if population is None else population
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

    def has_convergence_delta(self) -> bool:
        """Whether the method returns a convergence delta when asked."""
        return self.method.has_convergence_delta()

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
    >>> from perspicio.core._engine.facts import Facts
    >>> net = torch.nn.Linear(3, 2)
    >>> run = prepare("integrated_gradients", net, Facts(torch.ones(1, 3), target=1,
    ...                                                   options={"n_steps": 16}))
    >>> run.kwargs["n_steps"], tuple(run.attribute().shape)
    (16, (1, 3))
    """
    if isinstance(method, Attribution):
        inner = method.attribution_method if isinstance(method, NoiseTunnel) else method
        spec = spec_of(type(inner))
        kwargs = arguments(spec, facts, defaults=False)  # the instance's own defaults stand
        if isinstance(method, NoiseTunnel):
            kwargs.update(_noise_tunnel(facts))
        return Prepared(spec, method, kwargs, facts, type(method).__name__)
    if not isinstance(method, str):
        raise AttributionTypeError(
            f"`method` must be a method name or an Attribution, got {type(method).__name__}"
        )
    name = ALIASES.get(method, method)
    tunnel = name.startswith("noise_tunnel:")
    spec = for_facts(get_spec(name.split(":", 1)[1] if tunnel else name), facts)
    instance = instantiate(spec, model, facts, **init_kwargs)
    kwargs = arguments(spec, facts)
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
