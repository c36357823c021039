"""``tabular.explain`` and ``tabular.global_importance``: why this score, and what matters."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from perspicio.core._batching import make_generator
from perspicio.core._hooks import preserved_state
from perspicio.core.registry import create, get_spec

from ._data import (
    GRADIENT_FREE,
    as_model,
    column_groups,
    input_width,
    make_baseline,
    to_matrix,
)
from .explanation import TabularExplanation
from .pipeline import PreprocessedModel


def _select(out: Tensor, targets: list[int | None]) -> Tensor:
    if out.dim() == 1 or out.shape[1] == 1:
        return out.reshape(-1)
    return out[torch.arange(out.shape[0]), torch.tensor(targets)]


def explain(
    model: Any,
    X: Any,
    *,
    feature_names: list[str] | None = None,
    target: int | list[int] | None = None,
    method: str | None = None,
    baseline: Any = "mean",
    background: Any = None,
    groups: dict[str, list[str]] | None = None,
    preprocessor: Any = None,
    n_samples: int = 200,
    seed: int | None = None,
    **method_kwargs: Any,
) -> TabularExplanation:
    """Explain the scores of a table's rows in terms of its columns (or column groups).

    Parameters
    ----------
    model : torch.nn.Module or callable
        A torch model on float rows, or any function returning scores (e.g. a scikit-learn
        ``predict_proba``); callables are explained with perturbation methods only.
    X : DataFrame, array or tensor ``(N, F)``
    target : None, int or one per row
        For classifiers; None explains each row's predicted class.
    method : str, optional
        ``integrated_gradients`` for torch models, ``kernel_shap`` for callables by default;
        any registry name.
    baseline : "mean" (default), "median", "zeros" or a row
        Computed from ``X``; ``background`` (a DataFrame or array) replaces it with a
        sample to average over (KernelShap and Shapley sampling run once per background row).
    groups : dict, optional
        ``{"sex": ["sex_f", "sex_m"]}``; one-hot columns sharing a prefix are grouped
        automatically.
    preprocessor : fitted scikit-learn transformer, optional
        A ``Pipeline`` or ``ColumnTransformer`` applied to ``X`` (a DataFrame of original
        columns, categorical ones included) before ``model``. Attributions are reported on
        the original columns; categorical columns are perturbed as categories, and the
        "mean" baseline takes their most frequent category.
    """
    if preprocessor is not None:
        net = PreprocessedModel(
            model, preprocessor, X if background is None else _concat(X, background)
        )
        values = net.encode(X)
        names = list(X.columns)
        if background is not None:
            background = net.encode(background)
        if isinstance(baseline, str) and baseline in ("mean", "median") and background is None:
            baseline = _mixed_baseline(values, net.categorical_mask(), baseline)
        name = f"{_model_name(model)} after {type(preprocessor).__name__}"
        extra: dict[str, Any] = {"categories": net.categories}
    else:
        net = as_model(model)
        values, names = to_matrix(X, feature_names, input_width(model))
        name = _model_name(model)
        extra = {"feature_names": feature_names}
    kwargs = dict(method_kwargs, _model_name=name)
    return _explain(
        net,
        values,
        names,
        target,
        method,
        baseline,
        background,
        groups,
        n_samples,
        seed,
        kwargs,
        **extra,
    )


def _model_name(model: Any) -> str:
    owner = getattr(model, "__self__", None)
    if owner is not None:  # a bound method such as clf.predict_proba
        return f"{type(owner).__name__}.{model.__name__}"
    return type(model).__name__


def _concat(X, background):
    import pandas as pd

    return pd.concat([X, background])


def _mixed_baseline(values: Tensor, categorical: list[bool], kind: str) -> list[float]:
    """Mean (or median) of numeric columns, the most frequent code of categorical ones."""
    row = []
    for j, is_cat in enumerate(categorical):
        column = values[:, j]
        if is_cat:
            row.append(float(column.mode().values))
        else:
            row.append(float(column.mean() if kind == "mean" else column.median()))
    return row


def _explain(
    net,
    values,
    names,
    target,
    method,
    baseline,
    background,
    groups,
    n_samples,
    seed,
    method_kwargs,
    feature_names=None,
    categories=None,
) -> TabularExplanation:
    if method is None:
        method = "integrated_gradients" if getattr(net, "differentiable", True) else "kernel_shap"
    spec = get_spec(method)
    if not getattr(net, "differentiable", True) and method not in GRADIENT_FREE:
        raise TypeError(
            f"method {method!r} needs gradients, but the model is a plain function (not a torch "
            f"module); use one of {', '.join(GRADIENT_FREE)}"
        )
    back = None
    if isinstance(background, Tensor):
        back = background
    elif background is not None:
        back, _ = to_matrix(
            background, names if feature_names is None else feature_names, values.shape[1]
        )
    refs = make_baseline(baseline, values, back)
    mask, features = column_groups(names, groups, values)
    gen = make_generator(seed)
    model_name = method_kwargs.pop("_model_name", type(net).__name__)
    param = next(net.parameters(), None) if isinstance(net, torch.nn.Module) else None
    device = param.device if param is not None else torch.device("cpu")
    # computed where the model lives; the explanation holds CPU tensors
    xs, rs, ms = values.to(device), refs.to(device), mask.to(device)
    with preserved_state(net):
        net.eval()
        with torch.no_grad():
            out = net(xs)
        n = values.shape[0]
        if out.dim() == 2 and out.shape[1] > 1:
            targets = (
                out.argmax(1).tolist()
                if target is None
                else (target if isinstance(target, list) else [target] * n)
            )
        else:
            targets = [None] * n
        core_target = None if targets[0] is None else targets
        attr = _attribute(
            net, method, spec, xs, rs, core_target, ms, n_samples, gen, method_kwargs
        ).cpu()
        with torch.no_grad():
            scores = _select(out, targets).cpu()
            base_out = net(rs)
            base_scores = torch.stack(
                [_select(base_out, [t] * base_out.shape[0]).mean() for t in targets]
            ).cpu()
    per_group = torch.zeros(n, len(features), dtype=attr.dtype)
    group_of_column = mask[0].tolist()
    if spec.family == "perturbation":  # every column of a group carries the group's value
        for g in range(len(features)):
            per_group[:, g] = attr[:, group_of_column.index(g)]
    else:
        per_group.index_add_(1, mask[0], attr)
    return TabularExplanation(
        attributions=per_group.detach(),
        values=values,
        columns=names,
        features=features,
        column_group=group_of_column,
        targets=targets,
        scores=scores,
        baseline_scores=base_scores,
        method=method,
        parameters={
            "model": model_name,
            "baseline": baseline,
            "n_samples": n_samples,
            "seed": seed,
            **method_kwargs,
        },
        categories={names.index(c): cats for c, cats in (categories or {}).items()},
    )


def _attribute(net, method, spec, values, refs, target, mask, n_samples, gen, kwargs):
    instance = create(method, net)
    call = dict(spec.defaults, **kwargs)
    if spec.family == "perturbation" and method != "feature_permutation":
        call["feature_mask"] = mask
    if "n_samples" in spec.defaults:
        call["n_samples"] = n_samples
    if spec.sampling:
        call["generator"] = gen
    if spec.baselines == "distribution":
        return instance.attribute(values, baselines=refs, target=target, **call)
    if spec.baselines == "none":
        return instance.attribute(values, target=target, **call)
    # average over the reference rows: every row paired with every reference, one call
    b, n = refs.shape[0], values.shape[0]
    tiled = values.repeat(b, 1)
    tiled_target = None if target is None else target * b
    attr = instance.attribute(
        tiled, baselines=refs.repeat_interleave(n, 0), target=tiled_target, **call
    )
    return attr.reshape(b, n, -1).mean(0)


class _ExplainRows:
    """The per-shard work of :func:`global_importance`: :func:`explain` on a shard's rows,
    packed one row each as ``[attributions..., score, baseline score, target]``."""

    def __init__(self, model: Any, names: list[str], kwargs: dict[str, Any]) -> None:
        self.model, self.names, self.kwargs = model, names, kwargs
        # the dataset engine fingerprints the model (resuming, refusing to mix runs)
        self.forward_func = model if isinstance(model, torch.nn.Module) else None
        self.dataset_description = ("tabular.global_importance", dict(kwargs))

    def attribute(self, inputs: Tensor, target: Any = None) -> Tensor:
        exp = explain(self.model, inputs.cpu(), feature_names=self.names, **self.kwargs)
        targets = torch.tensor([-1 if t is None else t for t in exp.targets], dtype=torch.float64)
        return torch.cat(
            [
                exp.attributions.double(),
                exp.scores.detach().double().view(-1, 1),
                exp.baseline_scores.detach().double().view(-1, 1),
                targets.view(-1, 1),
            ],
            dim=1,
        )


def global_importance(
    model: Any,
    X: Any,
    *,
    batch_size: int = 512,
    engine: str = "local",
    output: str | Path | None = None,
    concurrency: int = 2,
    show_progress: bool = True,
    **kwargs: Any,
) -> TabularExplanation:
    """Explain every row of ``X`` and return one explanation over all of them:
    ``.global_importance()`` is the mean |attribution| per feature, ``.attributions`` the
    per-row values for further analysis.

    The rows go through :func:`perspicio.core.attribute_dataset` in shards of
    ``batch_size``: ``engine="ray"`` spreads them over ``concurrency`` Ray workers, and
    ``output`` keeps the shards and a manifest so an interrupted run resumes. ``kwargs`` go
    to :func:`explain`; a "mean"/"median" baseline is computed once over the whole ``X``.

    Examples
    --------
    >>> import torch
    >>> from perspicio import tabular
    >>> net = torch.nn.Linear(3, 1)
    >>> report = tabular.global_importance(net, torch.randn(50, 3), batch_size=20,
    ...                                    show_progress=False)
    >>> report.attributions.shape
    torch.Size([50, 3])
    """
    from perspicio.core.dataset import attribute_dataset, read_shard

    values, names = to_matrix(X, kwargs.pop("feature_names", None))
    if isinstance(kwargs.get("baseline", "mean"), str) and kwargs.get("background") is None:
        kwargs["baseline"] = make_baseline(kwargs.get("baseline", "mean"), values, None)[0].tolist()
    first = explain(model, values[:1], feature_names=names, **kwargs)  # features, groups, method
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(output) if output is not None else Path(scratch)
        result = attribute_dataset(
            lambda: _ExplainRows(model, names, kwargs), values, batch_size=batch_size,
            engine=engine, output=folder, concurrency=concurrency, show_progress=show_progress,
        )  # fmt: skip
        packed = torch.from_numpy(np.concatenate([read_shard(folder / s) for s in result.shards]))
    g = len(first.features)
    return TabularExplanation(
        attributions=packed[:, :g].to(first.attributions.dtype),
        values=values,
        columns=first.columns,
        features=first.features,
        column_group=first.column_group,
        targets=[None if t < 0 else int(t) for t in packed[:, g + 2].tolist()],
        scores=packed[:, g].to(first.scores.dtype),
        baseline_scores=packed[:, g + 1].to(first.baseline_scores.dtype),
        method=first.method,
        parameters=first.parameters,
        categories=first.categories,
    )
