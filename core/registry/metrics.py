"""The metric table: the one file a new metric adds a line to.

Each :class:`~perspicio.core.registry.spec.MetricSpec` names the metric's function, says how
a comparison calls it (``score``: from a :class:`~perspicio.core.registry.spec.Scoring` to one
value per example), its direction, what it needs and its chance level.
:func:`~perspicio.core.metrics.compare_methods`, ``score_attributions``, the app and the
command line read the metrics from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from .._engine.inputs import TensorOrTuple, as_tuple, like_inputs
from ..metrics import localisation
from ..metrics.complexity import sparseness
from ..metrics.faithfulness import deletion_curve, insertion_curve
from ..metrics.infidelity import infidelity
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


def _localisation_spec(name: str) -> MetricSpec:
    function = getattr(localisation, name)
    return MetricSpec(
        name,
        function,
        functools.partial(_localisation, function),
        True,
        "localisation",
        frozenset({"mask"}),
        frozenset({"inputs", "maps"}),
        chance=functools.partial(localisation.chance_level, name),
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
)
