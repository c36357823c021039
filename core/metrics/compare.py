"""Score several attribution methods on the same model and inputs, in one table."""

from __future__ import annotations

import dataclasses
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

__all__ = [
    "HIGHER_IS_BETTER",
    "REFERENCES",
    "compare_methods",
    "comparison_table",
    "plot_comparison",
    "score_attributions",
]

#: the rows every comparison holds beside the methods: maps that know nothing. A metric
#: that cannot tell them from the methods says nothing about the methods; a column a
#: reference wins is marked (``table.attrs["reference_wins"]``).
REFERENCES = ("random (reference)", "constant (reference)")


def _labelled(methods: Any) -> dict[str, Any]:
    """The methods by their table label: a dict as given, else a name's own or the class's."""
    if isinstance(methods, dict):
        return dict(methods)
    return {(m if isinstance(m, str) else type(m).__name__): m for m in methods}


def _methods(model: Callable, methods: Any, facts: Facts) -> dict[str, Prepared]:
    out = {}
    for label, m in _labelled(methods).items():
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
            if spec.default
            and ("mask" not in spec.needs or mask is not None)
            and ("method" not in spec.needs or with_method)
            and "rebuild" not in spec.needs
            and "tokenizer" not in spec.needs
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
        if "tokenizer" in needs:
            raise AttributionValueError(
                f"`metrics`: {name!r} scores explanations of text; use "
                "perspicio.text.compare (or compare_generation)"
            )
        if ("method" in needs or "rebuild" in needs) and not with_method:
            raise AttributionValueError(
                f"`metrics`: {name!r} re-explains other inputs and needs the method; use "
                "compare_methods"
            )
    return tuple(metrics)


def _score(metric: str, scoring: Scoring) -> tuple[float, float]:
    """One metric of the attributions: its mean over the examples and their spread (the
    standard deviation; 0 for one example)."""
    return _mean_spread(torch.as_tensor(get_metric(metric).score(scoring)))


def _mean_spread(value: torch.Tensor) -> tuple[float, float]:
    """The mean over the examples and their spread (the standard deviation; 0 for one
    example); NaNs left out where some examples have a value."""
    value = widen(value).double().flatten()
    value = value[~value.isnan()] if value.isnan().any() and not value.isnan().all() else value
    spread = float(value.std()) if value.numel() > 1 else 0.0
    return float(value.mean()), spread


def _with_faithfulness(metrics: tuple[str, ...]) -> tuple[str, ...]:
    """A constant map is perfectly stable: robustness is shown beside a faithfulness score
    (``deletion_auc`` is added where none was asked for)."""
    families = {METRICS[m].family for m in metrics}
    if "robustness" in families and "faithfulness" not in families:
        return (*metrics, "deletion_auc")
    return metrics


def _references(attributions: Any, generator: torch.Generator) -> dict[str, tuple]:
    """The reference maps shaped like ``attributions`` (a tensor or a tuple), and their
    ``explain`` for the metrics that re-explain: a new random map per call, or ones."""
    parts, was_tuple = (
        (attributions, True) if isinstance(attributions, tuple) else ((attributions,), False)
    )

    def shaped(make):
        out = tuple(make(t) for t in parts)
        return out if was_tuple else out[0]

    def random_map(t):
        return torch.randn(t.shape, generator=generator, dtype=torch.float64).to(t)

    def constant_map(t):
        return torch.ones_like(t)

    def explain(make):
        def run(inp, **_):
            xs = inp if isinstance(inp, tuple) else (inp,)
            out = tuple(
                make(torch.empty((x.shape[0],) + p.shape[1:], dtype=p.dtype, device=p.device))
                for x, p in zip(xs, parts)
            )
            return out if was_tuple else out[0]

        return run

    return {
        REFERENCES[0]: (shaped(random_map), explain(random_map)),
        REFERENCES[1]: (shaped(constant_map), explain(constant_map)),
    }


def _table(
    rows: dict[str, dict[str, tuple[float, float]]],
    metrics: Sequence[str],
    last: Scoring | None,
):
    """The table of means, with each metric's direction, the spread over the examples, the
    columns a reference wins and, for the metrics that have one, the chance level of the
    ground-truth mask (``attrs``)."""
    pd = require_pandas()
    means = {r: {m: v[0] for m, v in row.items()} for r, row in rows.items()}
    table = pd.DataFrame.from_dict(means, orient="index")[list(metrics)]
    table.index.name = "method"
    higher = {m: METRICS[m].higher_is_better for m in metrics}
    table.attrs["higher_is_better"] = higher
    table.attrs["spread"] = {r: {m: v[1] for m, v in row.items()} for r, row in rows.items()}
    methods = [r for r in table.index if r not in REFERENCES]
    refs = [r for r in table.index if r in REFERENCES]
    wins = []
    for m in metrics:
        if not methods or not refs:
            continue
        best = table.loc[methods, m].max() if higher[m] else table.loc[methods, m].min()
        ref = table.loc[refs, m].max() if higher[m] else table.loc[refs, m].min()
        if (ref >= best) if higher[m] else (ref <= best):
            wins.append(m)
    table.attrs["reference_wins"] = wins
    chance = {m: METRICS[m].chance for m in metrics if METRICS[m].chance is not None}
    if chance and last is not None:
        maps = last.attributions[0] if isinstance(last.attributions, tuple) else last.attributions
        table.attrs["chance_level"] = {
            m: float(level(last.mask, maps).mean()) for m, level in chance.items()
        }
    return table


def comparison_table(scores: dict[str, dict[str, Any]]):
    """The table of a comparison made elsewhere (a front end's metrics): ``scores[label]
    [metric]`` holds the metric's value per example; the table holds their means, with the
    same ``attrs`` as :func:`compare_methods` (directions, spreads, the columns a reference
    wins). Rows labelled as in :data:`REFERENCES` are the references.

    Examples
    --------
    >>> import torch
    >>> table = comparison_table({
    ...     "saliency": {"deletion_auc": torch.tensor([0.125, 0.375])},
    ...     "random (reference)": {"deletion_auc": torch.tensor([0.5, 0.5])},
    ... })
    >>> float(table.loc["saliency", "deletion_auc"]), table.attrs["reference_wins"]
    (0.25, [])
    """
    if not scores:
        raise AttributionValueError("`scores` must hold at least one row")
    metrics = list(next(iter(scores.values())))
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise AttributionValueError(f"unknown metric(s) {unknown}; known: {sorted(METRICS)}")
    rows = {}
    for label, row in scores.items():
        if list(row) != metrics:
            raise AttributionValueError(
                f"`scores`: row {label!r} has metrics {list(row)}, the first row {metrics}"
            )
        rows[label] = {m: _mean_spread(torch.as_tensor(v)) for m, v in row.items()}
    return _table(rows, metrics, None)


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
    (['x*w', 'random (reference)', 'constant (reference)'], True)
    >>> list(table.columns)
    ['infidelity', 'deletion_auc', 'insertion_auc', 'sparseness']
    """
    metrics = _with_faithfulness(_metrics(metrics, mask, with_method=False))
    gen = make_generator(0 if generator is None else generator)
    rows, scoring = {}, None
    if attributions:
        first = next(iter(attributions.values()))
        refs = {k: v[0] for k, v in _references(first, gen).items()}
        attributions = {**attributions, **refs}
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


def comparison_html(table: Any, title: str = "Which explanation should I trust?") -> str:
    """A comparison table as an HTML fragment: each metric's direction, the mean and the
    spread over the examples, the references greyed, the columns a reference wins marked
    (they say nothing about the methods), and the figure of :func:`plot_comparison`. All
    text is escaped.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(4, 2)
    >>> x = torch.randn(3, 4)
    >>> table = score_attributions(net, x, {"<x*w>": x * net.weight[1].detach()}, target=1,
    ...                            metrics=["deletion_auc"], generator=0)
    >>> "&lt;x*w&gt;" in comparison_html(table)
    True
    """
    import html

    import matplotlib.pyplot as plt

    from ..page import data_uri

    higher = table.attrs.get("higher_is_better", {})
    spread = table.attrs.get("spread", {})
    wins = set(table.attrs.get("reference_wins", ()))
    head = "".join(
        f"<th>{html.escape(str(m))}<br><small>{'higher' if higher.get(m) else 'lower'} is "
        f"better{' &middot; a reference wins' if m in wins else ''}</small></th>"
        for m in table.columns
    )
    rows = []
    for label in table.index:
        cells = "".join(
            f"<td>{table.loc[label, m]:.4g} &plusmn; {spread.get(label, {}).get(m, 0.0):.2g}</td>"
            for m in table.columns
        )
        style = ' style="color:#888"' if label in REFERENCES else ""
        rows.append(f"<tr{style}><th>{html.escape(str(label))}</th>{cells}</tr>")
    fig = plot_comparison(table)
    picture = data_uri(fig)
    plt.close(fig)
    note = (
        "<p>Mean over the examples &plusmn; their standard deviation. The references are maps "
        "that know nothing (random, constant): a metric a reference wins cannot tell the "
        "methods from them.</p>"
    )
    return (
        f"<h2>{html.escape(title)}</h2><table><tr><th>method</th>{head}</tr>{''.join(rows)}"
        f"</table>{note}<img alt='comparison' src='{picture}'>"
    )


def plot_comparison(table: Any):
    """A figure of a comparison table: one panel per metric, a bar per method with its
    spread over the examples (the references grey), the direction in the title and a
    panel a reference wins marked.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    metrics = list(table.columns)
    spread = table.attrs.get("spread", {})
    wins = set(table.attrs.get("reference_wins", ()))
    cols = min(4, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.2 * cols, 0.4 * len(table) * rows + 1.2), squeeze=False
    )
    for ax, m in zip(axes.flat, metrics):
        labels = list(table.index)
        values = table[m].to_numpy()
        errors = [spread.get(r, {}).get(m, 0.0) for r in labels]
        colours = ["0.7" if r in REFERENCES else "C0" for r in labels]
        ax.barh(range(len(labels)), values, xerr=errors, color=colours)
        ax.set_yticks(range(len(labels)), labels if ax in axes[:, 0] else [""] * len(labels))
        arrow = "higher is better" if table.attrs["higher_is_better"][m] else "lower is better"
        ax.set_title(
            f"{m}\n({arrow})" + (" - a reference wins" if m in wins else ""),
            fontsize=8,
            color="C3" if m in wins else "black",
        )
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


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
    metrics = _with_faithfulness(_metrics(metrics, mask, with_method=True))
    gen = make_generator(0 if generator is None else generator)
    rows, scoring = {}, None
    facts = Facts(inputs, target=target, baseline=baselines, feature_mask=feature_mask)
    methods_by_label = _labelled(methods)
    for label, run in progress(_methods(model, methods, facts).items(), show_progress, "methods"):
        # the arguments with one entry per example are replicated with the noisy copies
        per_example = {k: v for k, v in run.kwargs.items() if k in run.per_example}
        fixed = {k: v for k, v in run.kwargs.items() if k not in run.per_example}

        def explain(inp, _m=run.method, _fixed=fixed, **kw):
            return _m.attribute(inp, **_fixed, **kw)

        def explain_on(net, _method=methods_by_label[label], _label=label):
            if not isinstance(_method, str):
                raise AttributionValueError(
                    f"`methods`: {_label!r} is an instance; the metrics that rebuild the method "
                    "on a copy of the model (model_randomization, input_invariance) need it "
                    "by its registry name"
                )
            other = prepare(_method, net, facts)
            fixed_other = {k: v for k, v in other.kwargs.items() if k not in other.per_example}
            return lambda inp, **kw: other.method.attribute(inp, **fixed_other, **kw)

        scoring = Scoring(
            model,
            inputs,
            explain(inputs, **per_example),
            target=target,
            baselines=baselines,
            feature_mask=feature_mask,
            mask=mask,
            explain=explain,
            explain_on=explain_on,
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
    if scoring is not None:
        for label, (attr, explain) in _references(scoring.attributions, gen).items():
            reference = dataclasses.replace(
                scoring,
                attributions=attr,
                explain=explain,
                explain_on=lambda net, _explain=explain: _explain,
            )
            rows[label] = {m: _score(m, reference) for m in metrics}
    return _table(rows, metrics, scoring)
