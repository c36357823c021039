"""``tabular.Explainer``: a model and its reference population, built once, explaining any rows.

The shape shap's users know: ``explainer = Explainer(model, X_train)``, then
``explainer.explain(rows)`` and ``explainer.global_importance(X)``. Every row is explained
against the same reference (see :mod:`perspicio.tabular.background`), so a row's explanation
depends on the row, the model and the background, never on the other rows of the call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from perspicio.core.efficiency import check_efficiency, rtol_for
from perspicio.core.explanation import fingerprint_of
from perspicio.core.frontend import (
    Facts,
    check_positive_int,
    check_seed,
    make_generator,
    model_device,
    preserved_state,
    resolve_class_targets,
)
from perspicio.core.registry import (
    MethodNames,
    MethodSpec,
    Prepared,
    default_method,
    get_spec,
    prepare,
)

from ._data import as_model, column_groups, input_width, parameter_dtype, to_matrix
from .background import BASELINE_KINDS, Reference, default_kind, make_reference
from .explanation import TabularExplanation
from .importance import explain_every_row
from .pipeline import PreprocessedModel
from .trees import TreeEnsemble, is_tree_model
from .trees.route import TREE_METHODS, TreeRoute, route_trees


def _for_columns(spec: MethodSpec) -> bool:
    """A method that attributes to a torch model's (or a function's) input columns: not a
    layer's, neuron's or CAM's; not occlusion (it slides windows over neighbouring values,
    and a table's columns have no neighbours: feature_ablation is its tabular form)."""
    return (
        not spec.tree and spec.attributes_inputs and not spec.needs_layer and not spec.needs_window
    )


#: The methods for torch models' columns (a live, sorted view of the registry).
TABULAR_METHODS = MethodNames(_for_columns, sort=True)
#: The methods that need no gradient: any function returning scores can be explained by them.
GRADIENT_FREE = MethodNames(lambda spec: _for_columns(spec) and spec.black_box, sort=True)


class Explainer:
    """Explain a tabular model's scores in terms of its columns, against a background.

    Parameters
    ----------
    model : torch.nn.Module, tree model or callable
        A torch model on float rows; a fitted tree ensemble (scikit-learn's trees, forests
        and gradient boosting, XGBoost, LightGBM), explained exactly; or any function
        returning scores (e.g. a scikit-learn ``predict_proba``), explained with
        perturbation methods only.
    background : DataFrame, array or tensor ``(M, F)``
        The reference population: the training data, or a sample of it. With a
        ``preprocessor``, a DataFrame of the original columns.
    method : str, optional
        A name from :data:`TABULAR_METHODS`, or for tree models :data:`TREE_METHODS`.
        By default the registry's (``default_for``): ``integrated_gradients`` for torch
        models, ``"tree_shap"`` (exact interventional Shapley values against the
        background) for tree models, ``kernel_shap`` for callables. Tree models also take
        ``"tree_shap_path_dependent"`` (no background: the trees' own cover).
    baseline : "mean", "median", "zeros", "background" or a row, optional
        How the background becomes a reference. ``"mean"``/``"median"`` (the most frequent
        category for categorical columns) give one reference row; ``"background"`` compares
        each row with every background row (at most ``max_background``, a seeded sample
        beyond) and averages, as shap's explainers do, so a row's attributions sum to its
        score minus the mean score over the background. Default: ``"background"`` for the
        Shapley-type and expected-gradient methods (``kernel_shap``, ``shapley_value_sampling``,
        ``shapley_values``, ``feature_permutation``, ``gradient_shap``, ``deeplift_shap``),
        ``"mean"`` for the others.
    feature_names : list of str, optional
        Column names for arrays and tensors.
    groups : dict, optional
        ``{"sex": ["sex_f", "sex_m"]}``; one-hot columns sharing a prefix are grouped
        automatically (detected on the background).
    preprocessor : fitted scikit-learn transformer, optional
        A ``Pipeline`` or ``ColumnTransformer`` applied to the rows (original columns,
        categorical ones included) before ``model``; attributions are reported on the
        original columns, categorical columns perturbed as categories.
    n_samples : int
        Samples of the sampling methods (coalitions, orderings, draws).
    max_background : int
        Background rows averaged over with ``baseline="background"``.
    seed : int, optional
        Seed of the sampling methods and of the background sample; with a seed, explaining a
        row gives the same result alone or among other rows.
    background_name : str
        How reports name the background (``"training data"``...).
    output : "margin" or "probability", optional
        Tree models only: what the explanation adds up to. By default what the trees add
        up: the raw margin (log-odds) of boosted classifiers, the probability of averaged
        forests, the prediction of regressors. ``"probability"`` explains a boosted binary
        classifier's probability of the positive class: the margin's exact values against
        each background row rescaled onto the probability (shap's
        ``model_output="probability"``); they sum to the probability minus the
        background's mean probability.
    check_efficiency : bool
        Exact methods (the tree methods, ``shapley_values``) check that each row's values
        plus the base equal the model's own output (to 1e-9 of the row's scale where the
        model computes in float64, 1e-5 in float32) and raise
        :class:`~perspicio.core.errors.EfficiencyError` where they do not, like shap's
        ``check_additivity``. On by default.
    **method_kwargs
        Passed to the method's ``attribute`` (``n_steps``, ``perturbations_per_eval``...).

    ``feature_permutation`` here replaces a column by its values in the background rows and
    averages: the expected effect of a permutation, per row, without mixing the rows.

    Examples
    --------
    >>> import torch
    >>> from perspicio import tabular
    >>> net = torch.nn.Linear(3, 1)
    >>> explainer = tabular.Explainer(net, torch.randn(100, 3), method="kernel_shap", seed=0)
    >>> exp = explainer.explain(torch.randn(1, 3))
    >>> exp.attributions.shape
    torch.Size([1, 3])
    >>> bool(torch.allclose(exp.attributions.sum(1), exp.scores - exp.baseline_scores,
    ...                     atol=1e-4))
    True
    """

    def __init__(
        self,
        model: Any,
        background: Any,
        *,
        method: str | None = None,
        baseline: Any = None,
        feature_names: list[str] | None = None,
        groups: dict[str, list[str]] | None = None,
        preprocessor: Any = None,
        n_samples: int = 200,
        max_background: int = 100,
        seed: int | None = None,
        background_name: str = "the background",
        output: str | None = None,
        check_efficiency: bool = True,
        **method_kwargs: Any,
    ) -> None:
        if background is None:
            raise ValueError(
                "`background` is required: the reference population the rows are explained "
                "against, e.g. Explainer(model, X_train) (the training data or a sample of it)"
            )
        check_positive_int(n_samples, "n_samples")
        check_positive_int(max_background, "max_background")
        check_seed(seed)
        self.user_model = model
        self.route: TreeRoute | None = None  # a tree model explained exactly
        tree_model = preprocessor is None and is_tree_model(model)
        if output is not None and not tree_model:
            raise ValueError(
                f"`output` {output!r} chooses what a tree model's explanation adds up to "
                f"(scikit-learn, XGBoost or LightGBM trees, no preprocessor); got a "
                f"{type(model).__name__}: explain the function you want instead"
            )
        if preprocessor is not None:
            if not type(background).__module__.startswith("pandas"):
                raise TypeError(
                    "with a `preprocessor`, `background` must be a DataFrame of the original "
                    f"columns, got {type(background).__name__}"
                )
            self.model: Any = PreprocessedModel(model, preprocessor, background)
            values, self.columns = (
                self.model.encode(background, "background"),
                list(background.columns),
            )
            categorical = self.model.categorical_mask()
            self.model_name = f"{_model_name(model)} after {type(preprocessor).__name__}"
            self.categories = self.model.categories
        else:
            values, self.columns = to_matrix(  # NaN checked below, once the trees are read
                background,
                feature_names,
                input_width(model),
                name="background",
                allow_nan=tree_model,
            )
            if tree_model:
                scores, self.route = route_trees(model, values, method, output)
                self.model = as_model(scores)
            else:
                self.model = as_model(model)
            categorical = None
            self.model_name = _model_name(model)
            self.categories = {}
            if not tree_model and isinstance(method, str) and method in TREE_METHODS:
                raise ValueError(
                    f"`method` {method!r} needs a tree model (scikit-learn, XGBoost or "
                    f"LightGBM), got {type(model).__name__}"
                )
        if torch.isnan(values).any() and not self._routes_missing():
            rows = torch.isnan(values).any(1).nonzero().flatten()[:5].tolist()
            raise ValueError(
                f"`background` holds missing values (NaN, rows {rows}...): the tree methods "
                "send them down the trees' default branches; other methods need them imputed"
            )
        if self.route is not None:
            self.method = self.route.method
            kind = "background" if baseline is None else baseline
        else:
            self.method = self._check_method(method)
            kind = default_kind(self.method) if baseline is None else baseline
        self.reference: Reference = make_reference(kind, values, categorical, max_background, seed)
        self.background_description = self.reference.describe(background_name)
        self.mask, self.features = column_groups(self.columns, groups, values)
        self.baseline, self.n_samples, self.seed = kind, n_samples, seed
        self.method_kwargs = method_kwargs
        self.check_efficiency = bool(check_efficiency)
        self.model_fingerprint = fingerprint_of(model)
        self._named_columns = type(background).__module__.startswith("pandas") or bool(
            feature_names
        )

    @property
    def tree(self) -> TreeEnsemble | None:
        """The tree model's trees, where it is explained exactly (else None)."""
        return None if self.route is None else self.route.ensemble

    @property
    def tree_output(self) -> str:
        """What a tree model's exact values add up to (empty for other models)."""
        return "" if self.route is None else self.route.output

    # ------------------------------------------------------------------ checks
    def _check_method(self, method: Any) -> str:
        differentiable = getattr(self.model, "differentiable", True)
        if method is None:
            return default_method("table" if differentiable else "table_function")
        if not isinstance(method, str):
            raise TypeError(f"`method` must be a method name, got {type(method).__name__}")
        get_spec(method)  # a ValueError naming `method` for unknown names
        if method not in TABULAR_METHODS:
            raise ValueError(
                f"`method` {method!r} does not attribute to input columns; use one of "
                f"{', '.join(TABULAR_METHODS)}"
            )
        if not differentiable and method not in GRADIENT_FREE:
            raise TypeError(
                f"method {method!r} needs gradients, but the model is a plain function (not a "
                f"torch module); use one of {', '.join(GRADIENT_FREE)}"
            )
        return method

    def _routes_missing(self) -> bool:
        """Whether the exact tree methods explain rows with missing values (the model's
        trees record where a NaN goes)."""
        return self.tree is not None and self.tree.missing is not None

    def _rows(self, X: Any) -> Tensor:
        """The rows as a float tensor in the background's column order."""
        if isinstance(self.model, PreprocessedModel):
            if not type(X).__module__.startswith("pandas"):
                raise TypeError(
                    "with a `preprocessor`, `X` must be a DataFrame of the original columns, "
                    f"got {type(X).__name__}"
                )
            return self.model.encode(_reorder(X, self.columns), "X")
        if type(X).__module__.startswith("pandas") and self._named_columns:
            X = _reorder(X, self.columns)
        values, _ = to_matrix(
            X, None, len(self.columns), name="X", allow_nan=self._routes_missing()
        )
        return values

    def _targets(self, target: Any, out: Tensor) -> list[int | None]:
        n = out.shape[0]
        if out.dim() == 1 or out.shape[1] == 1:
            if target not in (None, 0):
                raise ValueError(f"`target` {target!r}: the model gives one score per row")
            return [None] * n
        return resolve_class_targets(target, out, rows="rows")  # type: ignore[return-value]

    # --------------------------------------------------------------- explaining
    def explain(self, X: Any, target: int | list[int] | None = None) -> TabularExplanation:
        """Explain the rows of ``X`` (a DataFrame with the background's columns, an array
        or a tensor ``(N, F)``).

        ``target``: None explains each row's predicted class; an int or one per row.
        """
        values = self._rows(X)
        net = self.model
        device = model_device(net)
        # the model's own precision: a torch model's parameters', else the user's values'
        # (a float64 table stays float64 for a predict function or a tree model)
        dtype = parameter_dtype(net) or torch.promote_types(values.dtype, self.reference.rows.dtype)
        xs = values.to(device, dtype)
        refs = self.reference.rows.to(device, dtype)
        with preserved_state(net):
            net.eval()
            with torch.no_grad():
                out = net(xs)
            targets = self._targets(target, out)
            if self.route is not None:  # exact, against every reference row (or the cover)
                attr, grouped = self.route.attribute(xs, targets, refs), False
            else:
                core_target = None if targets[0] is None else targets
                run = self._prepare(xs, refs, core_target)
                attr, grouped = run.attribute(**self.method_kwargs).cpu(), run.grouped
            with torch.no_grad():
                scores = _select(out, targets).cpu()
                base_scores = _reference_scores(net(refs), targets).cpu()
            if self.route is not None:
                base_scores = self.route.base_scores(targets, base_scores)
            if self.check_efficiency and self.route is not None:
                self.route.check(attr, base_scores, scores, self.model_name)
            elif self.check_efficiency and get_spec(self.method).exact:
                check_efficiency(
                    attr, base_scores, scores, rtol_for(out.dtype), model=self.model_name
                )
        return TabularExplanation(
            attributions=self._per_group(attr, grouped).detach(),
            values=values,
            columns=self.columns,
            features=self.features,
            column_group=self.mask[0].tolist(),
            targets=targets,
            scores=scores,
            baseline_scores=base_scores,
            method=self.method,
            parameters=self.parameters(),
            categories={self.columns.index(c): cats for c, cats in self.categories.items()},
            background=self.background_description,
            model_fingerprint=self.model_fingerprint,
        )

    def parameters(self) -> dict[str, Any]:
        """What a report needs to reproduce the explanation."""
        baseline = self.baseline if isinstance(self.baseline, str) else "row"
        if self.route is not None:
            return {
                "model": self.model_name,
                "baseline": baseline,
                "background": self.background_description,
                **self.route.parameters(),
            }
        return {
            "model": self.model_name,
            "baseline": baseline,
            "background": self.background_description,
            "n_samples": self.n_samples,
            "seed": self.seed,
            **self.method_kwargs,
        }

    def _prepare(self, values: Tensor, refs: Tensor, target: list[int] | None) -> Prepared:
        """The method on the rows' facts: the reference population, the column groups, the
        seed; a one-baseline method is averaged over the population's rows."""
        facts = Facts(
            values,
            target=target,
            population=refs,
            feature_mask=self.mask.to(values.device),
            generator=make_generator(self.seed),
            options={"n_samples": self.n_samples},
        )
        return prepare(self.method, self.model, facts)

    def _per_group(self, attr: Tensor, grouped: bool) -> Tensor:
        """Columns -> features: a grouped method gives every column of a group the group's
        value; per-column values (gradients) add up."""
        of_column = self.mask[0]
        if grouped:
            first = [of_column.tolist().index(g) for g in range(len(self.features))]
            return attr[:, first].clone()
        per_group = torch.zeros(attr.shape[0], len(self.features), dtype=attr.dtype)
        return per_group.index_add_(1, of_column, attr)

    # ------------------------------------------------------------ global
    def global_importance(
        self,
        X: Any,
        *,
        target: int | None = None,
        batch_size: int = 512,
        engine: str = "local",
        output: str | Path | None = None,
        concurrency: int = 2,
        show_progress: bool = True,
    ) -> TabularExplanation:
        """Explain every row of ``X`` and return one explanation over all of them:
        ``.global_importance()`` is the mean absolute attribution per feature, ``.attributions``
        the per-row values. ``target``: None explains each row's predicted class.

        The rows go through :func:`perspicio.core.attribute_dataset` in shards of
        ``batch_size``: ``engine="ray"`` spreads them over ``concurrency`` Ray workers, and
        ``output`` keeps the shards and a manifest so an interrupted run resumes.
        """
        return explain_every_row(
            self,
            X,
            target=target,
            batch_size=batch_size,
            engine=engine,
            output=output,
            concurrency=concurrency,
            show_progress=show_progress,
        )


def _reorder(frame: Any, columns: list[str]) -> Any:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"`X` lacks {len(missing)} column(s) of the background, e.g. {missing[:3]}; "
            "give the rows with the columns the explainer was built on"
        )
    return frame[columns]


def _reference_scores(out: Tensor, targets: list[int | None]) -> Tensor:
    """Each row's score for the reference: the mean over the reference rows of the output
    for the row's target (one vectorised lookup, not a loop over rows)."""
    if out.dim() == 1 or out.shape[1] == 1:
        return out.reshape(-1).mean().expand(len(targets))
    return out.mean(0)[torch.tensor(targets, device=out.device)]


def _select(out: Tensor, targets: list[int | None]) -> Tensor:
    if out.dim() == 1 or out.shape[1] == 1:
        return out.reshape(-1)
    return out[torch.arange(out.shape[0]), torch.tensor(targets)]


def _model_name(model: Any) -> str:
    owner = getattr(model, "__self__", None)
    if owner is not None:  # a bound method such as clf.predict_proba
        return f"{type(owner).__name__}.{model.__name__}"
    return type(model).__name__


__all__ = ["BASELINE_KINDS", "GRADIENT_FREE", "TABULAR_METHODS", "TREE_METHODS", "Explainer"]
