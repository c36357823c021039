"""The metric table: the one file a new metric adds a line to.

Each :class:`~perspicio.core.registry.spec.MetricSpec` names the metric's function, says how
a comparison calls it (``score``: from a :class:`~perspicio.core.registry.spec.Scoring` to one
value per example), its direction, what it needs and its chance level.
:func:`~perspicio.core.metrics.compare_methods`, ``score_attributions``, the app and the
command line read the metrics from here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from types import SimpleNamespace

import torch

from .._engine.inputs import TensorOrTuple, as_tuple, like_inputs
from .._engine.outputs import model_output
from ..errors import AttributionValueError
from ..metrics import localisation
from ..metrics.complexity import effective_complexity, entropy_complexity, sparseness
from ..metrics.dasgupta_sufficiency import dasgupta_sufficiency
from ..metrics.faithfulness import deletion_curve, insertion_curve
from ..metrics.faithfulness_correlation import faithfulness_correlation
from ..metrics.infidelity import infidelity
from ..metrics.input_invariance import input_invariance
from ..metrics.irof import irof
from ..metrics.local_lipschitz import average_sensitivity, local_lipschitz_estimate
from ..metrics.monotonicity import monotonicity, monotonicity_correlation
from ..metrics.non_sensitivity import non_sensitivity
from ..metrics.pixel_flipping import pixel_flipping
from ..metrics.random_logit import random_logit
from ..metrics.region_perturbation import region_perturbation, selectivity
from ..metrics.relative_stability import (
    relative_input_stability,
    relative_output_stability,
    relative_representation_stability,
)
from ..metrics.road import road
from ..metrics.sanity import model_randomization, randomisation_correlations
from ..metrics.sensitivity import sensitivity_max
from .spec import MetricSpec, Scoring


def noise_perturbation(sigma: float, generator: torch.Generator | None) -> Callable:
    """Gaussian perturbations of scale ``sigma`` in infidelity's form: ``(noise, x - noise)``."""

    def perturb(inputs: TensorOrTuple):
        xs, was_tuple = as_tuple(inputs)
        noise = tuple(
            sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
            for x in xs
        )
        return like_inputs(noise, was_tuple), like_inputs(
            tuple(x - e for x, e in zip(xs, noise)), was_tuple
        )

    return perturb


def _infidelity(s: Scoring):
    return infidelity(
        s.model,
        noise_perturbation(s.noise_scale, s.generator),
        s.inputs,
        s.attributions,
        target=s.target,
        n_perturb_samples=s.n_perturb_samples,
        normalize=True,
    )


def _sensitivity(s: Scoring):
    return sensitivity_max(
        s.explain,
        s.inputs,
        perturb_radius=s.noise_scale,
        n_perturb_samples=s.n_perturb_samples,
        generator=s.generator,
        **s.per_example,
    )


def _curve(curve: Callable, s: Scoring):
    return curve(
        s.model,
        s.inputs,
        s.attributions,
        target=s.target,
        baselines=s.baselines,
        feature_mask=s.feature_mask,
        n_steps=s.n_steps,
    ).auc


def _sparseness(s: Scoring):
    return sparseness(s.attributions)


def _localisation(score: Callable, s: Scoring):
    attributions = s.attributions[0] if isinstance(s.attributions, tuple) else s.attributions
    return score(attributions, s.mask)


def _top_k(s: Scoring):
    attributions = s.attributions[0] if isinstance(s.attributions, tuple) else s.attributions
    k = min(1000, attributions[0].numel())
    return localisation.top_k_intersection(attributions, s.mask, k=k)


def _localisation_spec(name: str) -> MetricSpec:
    function = getattr(localisation, name)
    score = _top_k if name == "top_k_intersection" else functools.partial(_localisation, function)
    return MetricSpec(
        name,
        function,
        score,
        True,
        "localisation",
        frozenset({"mask"}),
        frozenset({"inputs", "maps"}),
        chance=functools.partial(localisation.chance_level, name),
        default=name != "top_k_intersection",
    )


def _one(name: str, value: TensorOrTuple):
    """The single tensor of ``value`` (these metrics take one input tensor)."""
    values, _ = as_tuple(value)
    if len(values) != 1:
        raise AttributionValueError(
            f"`metrics`: {name!r} takes inputs of one tensor, got {len(values)} tensors"
        )
    return values[0]


def _step(s: Scoring, x) -> int:
    """Features per step so that a curve has about ``n_steps`` points."""
    return max(1, math.ceil(x[0].numel() / s.n_steps))


def _baseline(s: Scoring):
    return "black" if s.baselines is None else s.baselines


def _faithfulness_correlation(s: Scoring):
    x = _one("faithfulness_correlation", s.inputs)
    a = _one("faithfulness_correlation", s.attributions)
    size = max(1, min(224, x[0].numel() // 10))
    return faithfulness_correlation(
        s.model,
        x,
        a,
        s.target,
        n_runs=5 * s.n_perturb_samples,
        subset_size=size,
        baseline=_baseline(s),
        generator=s.generator,
    )


def _flipping(s: Scoring):
    x, a = _one("pixel_flipping", s.inputs), _one("pixel_flipping", s.attributions)
    return pixel_flipping(
        s.model, x, a, s.target, features_in_step=_step(s, x), baseline=_baseline(s)
    ).auc


def _regions(selective: bool, s: Scoring):
    name = "selectivity" if selective else "region_perturbation"
    x, a = _one(name, s.inputs), _one(name, s.attributions)
    if x.dim() != 4:
        raise AttributionValueError(f"`metrics`: {name!r} takes images (N, C, H, W)")
    patch = max(1, min(x.shape[-2:]) // 8)
    if selective:
        return selectivity(s.model, x, a, s.target, patch_size=patch, baseline=_baseline(s))
    return region_perturbation(
        s.model, x, a, s.target, patch_size=patch, baseline=_baseline(s)
    ).aopc


def _irof(s: Scoring):
    x, a = _one("irof", s.inputs), _one("irof", s.attributions)
    if s.feature_mask is None:
        raise AttributionValueError(
            "`metrics`: 'irof' removes superpixels: give them as `feature_mask` "
            "(perspicio.vision.segment)"
        )
    segments = _one("irof", s.feature_mask)
    segments = segments[:, 0] if segments.dim() == 4 else segments
    return irof(s.model, x, a, segments, s.target)


def _monotonicity(s: Scoring):
    x, a = _one("monotonicity", s.inputs), _one("monotonicity", s.attributions)
    return monotonicity(
        s.model, x, a, s.target, features_in_step=_step(s, x), baseline=_baseline(s)
    )


def _non_sensitivity(s: Scoring):
    x, a = _one("non_sensitivity", s.inputs), _one("non_sensitivity", s.attributions)
    return non_sensitivity(
        s.model, x, a, s.target, features_in_step=_step(s, x), baseline=_baseline(s)
    )


def _monotonicity_correlation(s: Scoring):
    x = _one("monotonicity_correlation", s.inputs)
    a = _one("monotonicity_correlation", s.attributions)
    return monotonicity_correlation(
        s.model,
        x,
        a,
        s.target,
        n_samples=s.n_perturb_samples,
        features_in_step=_step(s, x),
        generator=s.generator,
    )


def _random_logit(s: Scoring):
    x, a = _one("random_logit", s.inputs), _one("random_logit", s.attributions)
    with torch.no_grad():
        n_classes = model_output(s.model(x)).shape[-1]
    target = s.per_example.get("target")
    if not isinstance(target, torch.Tensor):
        target = torch.as_tensor(target if target is not None else 0).expand(x.shape[0])
    kwargs = {k: v for k, v in s.per_example.items() if k != "target"}
    return random_logit(
        s.explain,
        x,
        a,
        target.long(),
        n_classes=n_classes,
        generator=s.generator,
        similarity="pearson",
        **kwargs,
    )


def _robustness(function: Callable, s: Scoring):
    x, a = _one(function.__name__, s.inputs), _one(function.__name__, s.attributions)
    scale = (
        {"std": s.noise_scale}
        if function is local_lipschitz_estimate
        else {"radius": s.noise_scale}
    )
    return function(
        s.explain,
        x,
        a,
        n_samples=s.n_perturb_samples,
        generator=s.generator,
        **scale,
        **s.per_example,
    )


def _relative(function: Callable, s: Scoring):
    x, a = _one(function.__name__, s.inputs), _one(function.__name__, s.attributions)
    return function(
        s.explain,
        s.model,
        x,
        a,
        n_samples=s.n_perturb_samples,
        generator=s.generator,
        **s.per_example,
    )


def _complexity(function: Callable, s: Scoring):
    return function(s.attributions)


def _road(s: Scoring):
    x, a = _one("road", s.inputs), _one("road", s.attributions)
    if x.dim() != 4:
        raise AttributionValueError("`metrics`: 'road' takes images (N, C, H, W)")
    a = a if a.dim() == 4 else a.reshape(x.shape[0], 1, *x.shape[-2:])
    return road(
        s.model, x, a, s.target, percentages=(10, 30, 50, 70, 90), generator=s.generator
    ).auc


def _dasgupta(s: Scoring):
    x = _one("dasgupta_sufficiency", s.inputs)
    return dasgupta_sufficiency(s.model, x, _one("dasgupta_sufficiency", s.attributions))


def _rebuilt(s: Scoring) -> Callable:
    """A method factory for the metrics that take one (``factory(model).attribute``): the
    comparison's method rebuilt on another model."""
    if s.explain_on is None:
        raise AttributionValueError(
            "`metrics`: this metric rebuilds the method on a copy of the model; use compare_methods"
        )
    return lambda model: SimpleNamespace(attribute=s.explain_on(model))


def _per_example_without_target(s: Scoring) -> dict:
    return {k: v for k, v in s.per_example.items() if k != "target"}


def _model_randomisation(s: Scoring):
    """Each example's Spearman correlation with its own map, averaged over the cascade of
    randomised layers (lower is better: the map follows the weights)."""
    if not isinstance(s.model, torch.nn.Module):
        raise AttributionValueError(
            "`metrics`: 'model_randomization' randomises the model's layers: it needs an nn.Module"
        )
    _, correlations = randomisation_correlations(
        _rebuilt(s),
        s.model,
        s.inputs,
        s.per_example.get("target", s.target),
        generator=s.generator,
        **_per_example_without_target(s),
    )
    return correlations[1:].mean(0)


def _input_invariance(s: Scoring):
    x = _one("input_invariance", s.inputs)
    return input_invariance(
        _rebuilt(s),
        s.model,
        x,
        s.per_example.get("target", s.target),
        **_per_example_without_target(s),
    )


def _representation_layer(model) -> torch.nn.Module:
    """The second-to-last module with parameters of its own (the last is the output)."""
    owners = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    if not owners:
        raise AttributionValueError(
            "`metrics`: 'relative_representation_stability' reads a layer of the model; "
            "it has none with parameters"
        )
    return owners[-2] if len(owners) > 1 else owners[-1]


def _representation(s: Scoring):
    x = _one("relative_representation_stability", s.inputs)
    a = _one("relative_representation_stability", s.attributions)
    return relative_representation_stability(
        s.explain,
        s.model,
        x,
        a,
        layer=_representation_layer(s.model),
        n_samples=s.n_perturb_samples,
        generator=s.generator,
        **s.per_example,
    )


_MODEL = frozenset({"model", "generator"})
_CURVE = frozenset({"model", "baseline", "feature_mask"})

#: every metric of perspicio.core.metrics that scores one explanation, in the order a
#: comparison lists them
TABLE: tuple[MetricSpec, ...] = (
    MetricSpec("infidelity", infidelity, _infidelity, False, "faithfulness", _MODEL),
    MetricSpec(
        "sensitivity",
        sensitivity_max,
        _sensitivity,
        False,
        "robustness",
        frozenset({"method", "generator"}),
    ),
    MetricSpec(
        "deletion_auc",
        deletion_curve,
        functools.partial(_curve, deletion_curve),
        False,
        "faithfulness",
        _CURVE,
    ),
    MetricSpec(
        "insertion_auc",
        insertion_curve,
        functools.partial(_curve, insertion_curve),
        True,
        "faithfulness",
        _CURVE,
    ),
    MetricSpec(
        "sparseness",
        sparseness,
        _sparseness,
        True,
        "complexity",
        applies_to=frozenset({"inputs", "maps"}),
    ),
    *(_localisation_spec(name) for name in localisation.LOCALISATION_METRICS),
    MetricSpec(
        "roc_auc",
        localisation.roc_auc,
        functools.partial(_localisation, localisation.roc_auc),
        True,
        "localisation",
        frozenset({"mask"}),
        frozenset({"inputs", "maps"}),
        chance=lambda mask, maps: torch.full((maps.shape[0],), 0.5),
        default=False,
    ),
    MetricSpec(
        "faithfulness_correlation",
        faithfulness_correlation,
        _faithfulness_correlation,
        True,
        "faithfulness",
        frozenset({"model", "baseline", "generator"}),
        default=False,
    ),
    MetricSpec(
        "pixel_flipping",
        pixel_flipping,
        _flipping,
        False,
        "faithfulness",
        frozenset({"model", "baseline"}),
        default=False,
    ),
    MetricSpec(
        "region_perturbation",
        region_perturbation,
        functools.partial(_regions, False),
        True,
        "faithfulness",
        frozenset({"model", "baseline"}),
        modalities=frozenset({"images"}),
        default=False,
    ),
    MetricSpec(
        "selectivity",
        selectivity,
        functools.partial(_regions, True),
        False,
        "faithfulness",
        frozenset({"model", "baseline"}),
        modalities=frozenset({"images"}),
        default=False,
    ),
    MetricSpec(
        "irof",
        irof,
        _irof,
        True,
        "faithfulness",
        frozenset({"model", "feature_mask"}),
        modalities=frozenset({"images"}),
        default=False,
    ),
    MetricSpec(
        "monotonicity",
        monotonicity,
        _monotonicity,
        True,
        "faithfulness",
        frozenset({"model", "baseline"}),
        default=False,
    ),
    MetricSpec(
        "monotonicity_correlation",
        monotonicity_correlation,
        _monotonicity_correlation,
        True,
        "faithfulness",
        frozenset({"model", "generator"}),
        modalities=frozenset({"images", "rows"}),
        default=False,
    ),
    MetricSpec(
        "non_sensitivity",
        non_sensitivity,
        _non_sensitivity,
        False,
        "axiomatic",
        frozenset({"model", "baseline"}),
        default=False,
    ),
    MetricSpec(
        "random_logit",
        random_logit,
        _random_logit,
        False,
        "randomisation",
        frozenset({"method", "generator"}),
        default=False,
    ),
    MetricSpec(
        "local_lipschitz_estimate",
        local_lipschitz_estimate,
        functools.partial(_robustness, local_lipschitz_estimate),
        False,
        "robustness",
        frozenset({"method", "generator"}),
        modalities=frozenset({"images", "rows"}),
        default=False,
    ),
    MetricSpec(
        "average_sensitivity",
        average_sensitivity,
        functools.partial(_robustness, average_sensitivity),
        False,
        "robustness",
        frozenset({"method", "generator"}),
        modalities=frozenset({"images", "rows"}),
        default=False,
    ),
    MetricSpec(
        "relative_input_stability",
        relative_input_stability,
        functools.partial(_relative, relative_input_stability),
        False,
        "robustness",
        frozenset({"method", "model", "generator"}),
        modalities=frozenset({"images", "rows"}),
        default=False,
    ),
    MetricSpec(
        "relative_output_stability",
        relative_output_stability,
        functools.partial(_relative, relative_output_stability),
        False,
        "robustness",
        frozenset({"method", "model", "generator"}),
        modalities=frozenset({"images", "rows"}),
        default=False,
    ),
    MetricSpec(
        "relative_representation_stability",
        relative_representation_stability,
        _representation,
        False,
        "robustness",
        frozenset({"method", "model", "generator"}),
        modalities=frozenset({"images", "rows"}),
        default=False,
    ),
    MetricSpec(
        "road",
        road,
        _road,
        False,
        "faithfulness",
        frozenset({"model", "generator"}),
        modalities=frozenset({"images"}),
        default=False,
    ),
    MetricSpec(
        "dasgupta_sufficiency",
        dasgupta_sufficiency,
        _dasgupta,
        True,
        "faithfulness",
        frozenset({"model", "examples"}),
        modalities=frozenset({"images", "rows"}),
        default=False,
    ),
    MetricSpec(
        "model_randomization",
        model_randomization,
        _model_randomisation,
        False,
        "randomisation",
        frozenset({"rebuild", "generator"}),
        default=False,
    ),
    MetricSpec(
        "input_invariance",
        input_invariance,
        _input_invariance,
        True,
        "axiomatic",
        frozenset({"rebuild"}),
        modalities=frozenset({"images", "rows"}),
        default=False,
    ),
    MetricSpec(
        "entropy_complexity",
        entropy_complexity,
        functools.partial(_complexity, entropy_complexity),
        False,
        "complexity",
        applies_to=frozenset({"inputs", "maps"}),
        default=False,
    ),
    MetricSpec(
        "effective_complexity",
        effective_complexity,
        functools.partial(_complexity, effective_complexity),
        False,
        "complexity",
        applies_to=frozenset({"inputs", "maps"}),
        default=False,
    ),
)
