"""Score several attribution methods on the same model and inputs, in one table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .._batching import make_generator, progress
from .._facts import Facts
from .._inputs import TensorOrTuple, as_tuple, like_inputs
from .._precision import widen
from ..attribution import Attribution
from ..errors import AttributionTypeError, AttributionValueError
from ..registry import Prepared, prepare
from ._common import require_pandas
from .complexity import sparseness
from .faithfulness import deletion_curve, insertion_curve
from .infidelity import infidelity
from .sensitivity import sensitivity_max

#: Every metric ``compare_methods`` knows, and whether a higher value is better.
HIGHER_IS_BETTER = {
    "infidelity": False,
    "sensitivity": False,
    "deletion_auc": False,
    "insertion_auc": True,
    "sparseness": True,
}


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


def _noise_perturbation(sigma: float, generator: torch.Generator | None) -> Callable:
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


def _check_metrics(metrics: Sequence[str]) -> None:
    unknown = [m for m in metrics if m not in HIGHER_IS_BETTER]
    if unknown:
        raise AttributionValueError(
            f"unknown metric(s) {unknown}; known: {sorted(HIGHER_IS_BETTER)}"
        )


def _score(
    metric: str, model: Callable, inputs: TensorOrTuple, attr: TensorOrTuple, target: Any,
    baselines: Any, feature_mask: Any, n_perturb_samples: int, noise_scale: float, n_steps: int,
    gen: torch.Generator | None,
) -> float:  # fmt: skip
    """One metric of precomputed attributions, averaged over the examples."""
    if metric == "infidelity":
        value = infidelity(model, _noise_perturbation(noise_scale, gen), inputs, attr,
                           target=target, n_perturb_samples=n_perturb_samples,
                           normalize=True)  # fmt: skip
    elif metric in ("deletion_auc", "insertion_auc"):
        curve = deletion_curve if metric == "deletion_auc" else insertion_curve
        value = curve(model, inputs, attr, target=target, baselines=baselines,
                      feature_mask=feature_mask, n_steps=n_steps).auc  # fmt: skip
    else:
        value = sparseness(attr)
    return float(widen(torch.as_tensor(value)).mean())


def _table(rows: dict[str, dict[str, float]], metrics: Sequence[str]):
    table = require_pandas().DataFrame.from_dict(rows, orient="index")[list(metrics)]
    table.index.name = "method"
    table.attrs["higher_is_better"] = {m: HIGHER_IS_BETTER[m] for m in metrics}
    return table


def score_attributions(
    model: Callable,
    inputs: TensorOrTuple,
    attributions: dict[str, TensorOrTuple],
    metrics: Sequence[str] = ("infidelity", "deletion_auc", "insertion_auc", "sparseness"),
    target: Any = None,
    baselines: Any = None,
    feature_mask: Any = None,
    n_perturb_samples: int = 10,
    noise_scale: float = 0.1,
    n_steps: int = 20,
    generator: int | torch.Generator | None = None,
):
    """Score attributions computed elsewhere (a front end's, say); one row per entry of
    ``attributions`` (``{label: attributions shaped like the inputs}``), one column per
    metric, as :func:`compare_methods` does. ``sensitivity`` needs the method itself and is
    :func:`compare_methods`'s only.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(4, 2)
    >>> x = torch.randn(3, 4)
    >>> table = score_attributions(net, x, {"x*w": x * net.weight[1].detach()}, target=1,
    ...                            generator=0)
    >>> list(table.index), table.attrs["higher_is_better"]["insertion_auc"]
    (['x*w'], True)
    """
    _check_metrics(metrics)
    if "sensitivity" in metrics:
        raise AttributionValueError(
            "`metrics`: 'sensitivity' re-explains noisy inputs and needs the method; use "
            "compare_methods"
        )
    gen = make_generator(0 if generator is None else generator)
    rows = {
        label: {m: _score(m, model, inputs, attr, target, baselines, feature_mask,
                          n_perturb_samples, noise_scale, n_steps, gen) for m in metrics}
        for label, attr in attributions.items()
    }  # fmt: skip
    return _table(rows, metrics)


def compare_methods(
    model: Callable,
    inputs: TensorOrTuple,
    methods: Sequence[Any] | dict[str, Any],
    metrics: Sequence[str] = tuple(HIGHER_IS_BETTER),
    target: Any = None,
    baselines: Any = None,
    feature_mask: Any = None,
    n_perturb_samples: int = 10,
    noise_scale: float = 0.1,
    n_steps: int = 20,
    generator: int | torch.Generator | None = None,
    show_progress: bool = False,
):
    """Score each method with each metric; one row per method, one column per metric.

    ``methods``: registry names (``"integrated_gradients"``, ``"occlusion"``...), method
    instances, or a ``{label: name or instance}`` dict. Metrics: ``infidelity`` (normalised,
    Gaussian perturbations of scale ``noise_scale``), ``sensitivity`` (max-sensitivity,
    radius ``noise_scale``), ``deletion_auc`` and ``insertion_auc`` (``feature_mask``
    groups, ``n_steps``), ``sparseness`` (Gini). Each value is the mean over the examples.
    ``result.attrs["higher_is_better"]`` records each metric's direction.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> table = compare_methods(net, torch.randn(4, 5), ["saliency", "integrated_gradients"],
    ...                         target=1, generator=0)
    >>> list(table.columns), table.attrs["higher_is_better"]["infidelity"]
    (['infidelity', 'sensitivity', 'deletion_auc', 'insertion_auc', 'sparseness'], False)
    """
    _check_metrics(metrics)
    gen = make_generator(0 if generator is None else generator)
    xs, _ = as_tuple(inputs)
    rows = {}
    facts = Facts(inputs, target=target, baseline=baselines, feature_mask=feature_mask)
    for label, run in progress(_methods(model, methods, facts).items(), show_progress, "methods"):
        # the arguments with one entry per example are replicated with the noisy copies
        per_example = {k: v for k, v in run.kwargs.items() if k in run.per_example}
        fixed = {k: v for k, v in run.kwargs.items() if k not in run.per_example}

        def explain(inp, _m=run.method, _fixed=fixed, **kw):
            return _m.attribute(inp, **_fixed, **kw)

        attr = explain(inputs, **per_example)
        row: dict[str, float] = {}
        for metric in metrics:
            if metric == "sensitivity":
                value = sensitivity_max(explain, inputs, perturb_radius=noise_scale,
                                        n_perturb_samples=n_perturb_samples, generator=gen,
                                        **per_example)  # fmt: skip
                row[metric] = float(widen(torch.as_tensor(value)).mean())
            else:
                row[metric] = _score(
                    metric,
                    model,
                    inputs,
                    attr,
                    target,
                    baselines,
                    feature_mask,
                    n_perturb_samples,
                    noise_scale,
                    n_steps,
                    gen,
                )
        rows[label] = row
    return _table(rows, metrics)
