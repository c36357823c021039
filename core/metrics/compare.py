"""Score several attribution methods on the same model and inputs, in one table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .._engine.batching import make_generator, progress
from .._engine.facts import Facts
from .._engine.inputs import TensorOrTuple
from .._engine.precision import widen
from ..attribution import Attribution
from ..errors import AttributionTypeError, AttributionValueError
from ..registry import HIGHER_IS_BETTER, METRICS, Prepared, Scoring, get_metric, prepare
from ._common import require_pandas

__all__ = ["HIGHER_IS_BETTER", "compare_methods", "score_attributions"]


def _methods(model: Callable, methods: Any, facts: Facts) -> dict[str, Prepared]:
    if isinstance(methods, dict):
        items = list(methods.items())
    else:
        items = [(m if isinstance(m, str) else type(m).__name__, m) for m in methods]
    out = {}
    for label, m in items:
        if not isinstance(m, (str, Attribution)):
            raise AttributionTypeError(
                f"`methods` entries must be names or Attribution instances, got {m!r}"
            )
        out[label] = prepare(m, model, facts)
    return out


def _metrics(metrics: Sequence[str] | None, mask: Any, with_method: bool) -> tuple[str, ...]:
    """The metrics asked for, checked against the registry; by default every registered
    metric this call can compute (those needing a ground-truth ``mask`` when one is given,
    those needing the method when it is there)."""
    if metrics is None:
        return tuple(
            name
            for name, spec in METRICS.items()
            if ("mask" not in spec.needs or mask is not None)
            and ("method" not in spec.needs or with_method)
        )
    if isinstance(metrics, str):
        raise AttributionTypeError(
            f"`metrics` must be a sequence of metric names, got the str {metrics!r}"
        )
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise AttributionValueError(f"unknown metric(s) {unknown}; known: {sorted(METRICS)}")
    for name in metrics:
        needs = get_metric(name).needs
        if "mask" in needs and mask is None:
            raise AttributionValueError(
                f"`mask`: metric {name!r} scores the attributions against a ground-truth mask; "
                "give one"
            )
        if "method" in needs and not with_method:
            raise AttributionValueError(
                f"`metrics`: {name!r} re-explains other inputs and needs the method; use "
                "compare_methods"
            )
    return tuple(metrics)


def _score(metric: str, scoring: Scoring) -> float:
    """One metric of the attributions, averaged over the examples."""
    value = get_metric(metric).score(scoring)
    return float(widen(torch.as_tensor(value)).mean())


def _table(rows: dict[str, dict[str, float]], metrics: Sequence[str], last: Scoring | None):
    """The table, with each metric's direction and, for the metrics that have one, the
    chance level of the ground-truth mask (``attrs``)."""
    table = require_pandas().DataFrame.from_dict(rows, orient="index")[list(metrics)]
    table.index.name = "method"
    table.attrs["higher_is_better"] = {m: METRICS[m].higher_is_better for m in metrics}
    chance = {m: METRICS[m].chance for m in metrics if METRICS[m].chance is not None}
    if chance and last is not None:
        maps = last.attributions[0] if isinstance(last.attributions, tuple) else last.attributions
        table.attrs["chance_level"] = {
            m: float(level(last.mask, maps).mean()) for m, level in chance.items()
        }
    return table


def score_attributions(
    model: Callable,
    inputs: TensorOrTuple,
    attributions: dict[str, TensorOrTuple],
    metrics: Sequence[str] | None = None,
    target: Any = None,
    baselines: Any = None,
    feature_mask: Any = None,
    n_perturb_samples: int = 10,
    noise_scale: float = 0.1,
    n_steps: int = 20,
    generator: int | torch.Generator | None = None,
    mask: Any = None,
):
    """Score attributions computed elsewhere (a front end's, say); one row per entry of
    ``attributions`` (``{label: attributions shaped like the inputs}``), one column per
    metric, as :func:`compare_methods` does. By default every registered metric that needs
    no method (``sensitivity`` re-explains noisy inputs and is :func:`compare_methods`'s
    only) and, where a ground-truth ``mask`` is given, the localisation metrics.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(4, 2)
    >>> x = torch.randn(3, 4)
    >>> table = score_attributions(net, x, {"x*w": x * net.weight[1].detach()}, target=1,
    ...                            generator=0)
    >>> list(table.index), table.attrs["higher_is_better"]["insertion_auc"]
    (['x*w'], True)
    >>> list(table.columns)
    ['infidelity', 'deletion_auc', 'insertion_auc', 'sparseness']
    """
    metrics = _metrics(metrics, mask, with_method=False)
    gen = make_generator(0 if generator is None else generator)
    rows, scoring = {}, None
    for label, attr in attributions.items():
        scoring = Scoring(
            model,
            inputs,
            attr,
            target=target,
            baselines=baselines,
            feature_mask=feature_mask,
            mask=mask,
            n_perturb_samples=n_perturb_samples,
            noise_scale=noise_scale,
            n_steps=n_steps,
            generator=gen,
        )
        rows[label] = {m: _score(m, scoring) for m in metrics}
    return _table(rows, metrics, scoring)


def compare_methods(
    model: Callable,
    inputs: TensorOrTuple,
    methods: Sequence[Any] | dict[str, Any],
    metrics: Sequence[str] | None = None,
    target: Any = None,
    baselines: Any = None,
    feature_mask: Any = None,
    n_perturb_samples: int = 10,
    noise_scale: float = 0.1,
    n_steps: int = 20,
    generator: int | torch.Generator | None = None,
    show_progress: bool = False,
    mask: Any = None,
):
    """Score each method with each metric; one row per method, one column per metric.

    ``methods``: registry names (``"integrated_gradients"``, ``"occlusion"``...), method
    instances, or a ``{label: name or instance}`` dict. ``metrics``: names from the metric
    registry (:data:`perspicio.core.registry.METRICS`); by default every registered metric
    this call can compute: ``infidelity`` (normalised, Gaussian perturbations of scale
    ``noise_scale``), ``sensitivity`` (max-sensitivity, radius ``noise_scale``),
    ``deletion_auc`` and ``insertion_auc`` (``feature_mask`` groups, ``n_steps``),
    ``sparseness`` (Gini), and, given a ground-truth ``mask``, the localisation scores.
    Each value is the mean over the examples. ``result.attrs["higher_is_better"]`` records
    each metric's direction, ``result.attrs["chance_level"]`` the mask's chance level for the
    metrics that have one.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> table = compare_methods(net, torch.randn(4, 5), ["saliency", "integrated_gradients"],
    ...                         target=1, generator=0)
    >>> list(table.columns), table.attrs["higher_is_better"]["infidelity"]
    (['infidelity', 'sensitivity', 'deletion_auc', 'insertion_auc', 'sparseness'], False)
    """
    metrics = _metrics(metrics, mask, with_method=True)
    gen = make_generator(0 if generator is None else generator)
    rows, scoring = {}, None
    facts = Facts(inputs, target=target, baseline=baselines, feature_mask=feature_mask)
    for label, run in progress(_methods(model, methods, facts).items(), show_progress, "methods"):
        # the arguments with one entry per example are replicated with the noisy copies
        per_example = {k: v for k, v in run.kwargs.items() if k in run.per_example}
        fixed = {k: v for k, v in run.kwargs.items() if k not in run.per_example}

        def explain(inp, _m=run.method, _fixed=fixed, **kw):
            return _m.attribute(inp, **_fixed, **kw)

        scoring = Scoring(
            model,
            inputs,
            explain(inputs, **per_example),
            target=target,
            baselines=baselines,
            feature_mask=feature_mask,
            mask=mask,
            explain=explain,
            per_example=per_example,
            n_perturb_samples=n_perturb_samples,
            noise_scale=noise_scale,
            n_steps=n_steps,
            generator=gen,
        )
        for metric in metrics:
            if "maps" not in METRICS[metric].applies_to and not run.spec.attributes_inputs:
                raise AttributionValueError(
                    f"`metrics`: {metric!r} scores attributions shaped like the inputs; "
                    f"method {label!r} attributes to a layer's units"
                )
        rows[label] = {m: _score(m, scoring) for m in metrics}
    return _table(rows, metrics, scoring)
