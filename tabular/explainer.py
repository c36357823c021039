"""``tabular.Explainer``: a model and its reference population, built once, explaining any rows.

The shape shap's users know: ``explainer = Explainer(model, X_train)``, then
``explainer.explain(rows)`` and ``explainer.global_importance(X)``. Every row is explained
against the same reference (see :mod:`perspicio.tabular.background`), so a row's explanation
depends on the row, the model and the background, never on the other rows of the call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
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
from .frame import FrameCodec, is_frame, is_numeric_frame
from .importance import explain_every_row
from .pipeline import (
    FrameModel,
    NotPerColumn,
    column_players,
    is_pipeline,
    output_function,
    preprocessed_function,
    split_pipeline,
    transform_rows,
)
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
#: The methods that only swap a column's value for a reference's (no arithmetic on values):
#: they explain categorical and text-valued columns.
VALUE_SWAPPING = MethodNames(lambda spec: _for_columns(spec) and spec.swaps_values, sort=True)


class Explainer:
    """Explain a tabular model's scores in terms of its columns, against a background.

    Parameters
    ----------
    model : torch.nn.Module, tree model, scikit-learn Pipeline or callable
        A torch model on float rows; a fitted tree ensemble (scikit-learn's trees, forests
        and gradient boosting, XGBoost, LightGBM), explained exactly; a scikit-learn
        ``Pipeline`` on the user's DataFrame (categorical, text-valued and missing values
        included), explained on the DataFrame's columns (exactly where its last step is a
        tree model and every other step computes each column from one column: scalers,
        one-hot and ordinal encoders, ``SimpleImputer``, passthrough and dropped columns);
        or any function returning scores (e.g. a ``predict_proba``, or a function of the
        DataFrame), explained with perturbation methods only.
    background : DataFrame, array or tensor ``(M, F)``
        The reference population: the training data, or a sample of it. A DataFrame keeps
        its columns' types: numbers in their own precision, categories and text as values
        (the methods that swap values explain them, :data:`VALUE_SWAPPING`).
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
        A transformer applied to the DataFrame's rows before ``model`` (a torch model or a
        function of arrays); the same as explaining the pipeline of the two. A
        scikit-learn model is better given as one ``Pipeline``.
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
        scikit-learn models: what the explanation adds up to. A pipeline's classifier is
        explained by its probability (``predict_proba``) unless ``"margin"``
        (``decision_function``). A tree model given alone: by default what the trees add
        up, the raw margin (log-odds) of boosted classifiers, the probability of averaged
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
        self.codec: FrameCodec | None = None  # the user's DataFrame, swapped as values
        self.note = ""  # why a model was not explained exactly, for the report
        self.output_words = ""  # what a DataFrame's model is explained by
        self.dropped: list[int] = []  # columns a pipeline never reads (they get exactly 0)
        frame_route = (
            is_pipeline(model)
            or preprocessor is not None
            or (
                is_frame(background)
                and not isinstance(model, torch.nn.Module)
                and not is_tree_model(model)
                and not is_numeric_frame(background)
            )
        )
        tree_model = not frame_route and is_tree_model(model)
        if output is not None and not (tree_model or frame_route):
            raise ValueError(
                f"`output` {output!r} chooses what a scikit-learn model's explanation adds up "
                f"to; got a {type(model).__name__}: explain the function you want instead"
            )
        if frame_route:
            values = self._frame_route(model, background, preprocessor, method, output)
            categorical = self.codec.categorical
            self.columns = self.codec.columns
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
        if self.codec is not None and not isinstance(kind, str) and kind is not None:
            kind = self.codec.encode(_one_row_frame(kind, self.codec.columns), "baseline")
        if self.codec is not None and kind == "zeros" and self.codec.coded_columns:
            raise ValueError(
                f"`baseline` 'zeros' has no meaning for the columns {self.codec.coded_columns} "
                "(categories, text); use 'mean' (their most frequent value), 'median', "
                "'background' or a row"
            )
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
    def reference_frame(self) -> Any:
        """The reference rows the explanations start from, as a DataFrame of the table's
        columns (for a DataFrame model, with the user's column types)."""
        if self.codec is not None:
            return self.codec.decode(self.reference.rows)
        import pandas as pd

        return pd.DataFrame(self.reference.rows.numpy(), columns=self.columns)

    @property
    def tree(self) -> TreeEnsemble | None:
        """The tree model's trees, where it is explained exactly (else None)."""
        return None if self.route is None else self.route.ensemble

    @property
    def tree_output(self) -> str:
        """What a tree model's exact values add up to (empty for other models)."""
        return "" if self.route is None else self.route.output

    def _frame_route(
        self, model: Any, background: Any, preprocessor: Any, method: Any, output: str | None
    ) -> Tensor:
        """A model of the user's DataFrame: the columns coded (:class:`FrameCodec`), the
        model run on them decoded, and a tree model inside a pipeline routed to the exact
        values with the original columns as players. Returns the background's codes."""
        if not is_frame(background):
            raise TypeError(
                f"`background` must be a DataFrame of the columns {type(model).__name__} takes "
                f"(a scikit-learn pipeline or a function of a DataFrame), got "
                f"{type(background).__name__}"
            )
        self.codec = codec = FrameCodec(background, "background")
        values = codec.encode(background, "background")
        if preprocessor is not None:
            if output is not None:
                raise ValueError(
                    "`output` picks a scikit-learn model's method; with a "
                    "`preprocessor` the model's own output is explained"
                )
            fn, words = preprocessed_function(model, preprocessor), "the model's output"
            self.model_name = f"{_model_name(model)} after {type(preprocessor).__name__}"
        elif is_pipeline(model):
            steps, estimator = split_pipeline(model)
            self.model_name = " -> ".join(type(s).__name__ for _, s in model.steps)
            if is_tree_model(estimator) and (method is None or method in TREE_METHODS):
                fn = self._pipeline_trees(steps, estimator, background, values, method, output)
                if fn is not None:
                    self.model = FrameModel(fn, codec, self.model_name)
                    return values
                if method is not None:
                    raise ValueError(f"`method` {method!r}: the pipeline is {self.note}")
            elif isinstance(method, str) and method in TREE_METHODS:
                raise ValueError(
                    f"`method` {method!r} needs a tree model as the pipeline's last step, "
                    f"got {type(estimator).__name__}"
                )
            self.dropped = _dropped_columns(steps, codec, background)
            fn, words = output_function(model, output)
        else:
            if isinstance(method, str) and method in TREE_METHODS:
                raise ValueError(
                    f"`method` {method!r} needs a tree model (scikit-learn, XGBoost or "
                    f"LightGBM), alone or as a pipeline's last step, got {_model_name(model)}"
                )
            fn, words = output_function(model, output)
            self.model_name = _model_name(model)
        self.output_words = words
        self.model = FrameModel(fn, codec, self.model_name)
        return values

    def _pipeline_trees(
        self,
        steps: Any,
        estimator: Any,
        background: Any,
        values: Tensor,
        method: str | None,
        output: str | None,
    ) -> Any:
        """A pipeline ending in a tree model, routed to its exact values with the original
        columns as players where every step computes each column from one column; returns
        the pipeline's scores as a function of a DataFrame (None, with :attr:`note` saying
        why, where the steps mix columns)."""
        codec = self.codec
        if steps is None:
            if codec.coded_columns:
                raise TypeError(
                    f"`model` {type(estimator).__name__} takes numbers, and the columns "
                    f"{codec.coded_columns} are not: put its encoders in the pipeline"
                )
            players = list(range(len(codec.columns)))
        else:
            try:
                players = column_players(steps, codec, background)
            except NotPerColumn as why:
                self.note = (
                    f"not explained exactly: {why}; each original column must be computed from "
                    "one column for the exact tree values, so a sampling method explains it"
                )
                return None

        def encoded(codes: Tensor) -> Tensor:
            return torch.from_numpy(transform_rows(steps, codec.decode(codes)))

        rows = encoded(values)
        if output is None and hasattr(estimator, "predict_proba"):
            # a pipeline's classifier is explained by its probability where that is exact
            try:
                scores, self.route = route_trees(
                    estimator, rows, method, "probability", players, len(codec.columns), encoded
                )
            except ValueError:
                scores, self.route = route_trees(
                    estimator, rows, method, None, players, len(codec.columns), encoded
                )
        else:
            scores, self.route = route_trees(
                estimator, rows, method, output, players, len(codec.columns), encoded
            )
        self.output_words = self.route.output

        def pipeline_scores(frame: Any) -> np.ndarray:
            return scores(transform_rows(steps, frame))

        return pipeline_scores

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
        coded = self.codec.coded_columns if self.codec is not None else []
        if coded and method not in VALUE_SWAPPING:
            why = "needs gradients" if method not in GRADIENT_FREE else "computes with values"
            raise TypeError(
                f"method {method!r} {why}, and the columns {coded[:5]} hold categories or "
                f"text; use a method that swaps values: {', '.join(VALUE_SWAPPING)}"
            )
        if not differentiable and method not in GRADIENT_FREE:
            raise TypeError(
                f"method {method!r} needs gradients, but the model is a plain function (not a "
                f"torch module); use one of {', '.join(GRADIENT_FREE)}"
            )
        return method

    def _routes_missing(self) -> bool:
        """Whether rows with missing values are explained: the model of a DataFrame decides
        (a pipeline imputes them, or refuses them itself); the exact tree methods where
        the model's trees record where a NaN goes."""
        if self.codec is not None:
            return True
        return self.tree is not None and self.tree.missing is not None

    def _rows(self, X: Any) -> Tensor:
        """The rows as a float tensor in the background's column order."""
        if self.codec is not None:
            return self.codec.encode(X, "X")
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
            categories={self.columns.index(c): list(v) for c, v in self._labels().items()},
            background=self.background_description,
            model_fingerprint=self.model_fingerprint,
        )

    def _labels(self) -> dict[str, list[Any]]:
        """What the codes of each column mean (categories, text, booleans)."""
        return self.codec.labels if self.codec is not None else {}

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
        extra = {"output": self.output_words} if self.codec is not None else {}
        if self.note:
            extra["note"] = self.note
        return {
            "model": self.model_name,
            "baseline": baseline,
            "background": self.background_description,
            "n_samples": self.n_samples,
            "seed": self.seed,
            **extra,
            **self.method_kwargs,
        }

    def _prepare(self, values: Tensor, refs: Tensor, target: list[int] | None) -> Prepared:
        """The method on the rows' facts: the reference population, the column groups, the
        seed; a one-baseline method is averaged over the population's rows."""
        facts = Facts(
            values,
            target=target,
            population=refs,
            feature_mask=self._method_mask().to(values.device),
            generator=make_generator(self.seed),
            options={"n_samples": self.n_samples},
        )
        return prepare(self.method, self.model, facts)

    def _method_mask(self) -> Tensor:
        """The feature groups the method sees: the reported ones, except that a column the
        pipeline never reads rides along with a column it reads (a player without effect
        changes no coalition's value, so the game of the others is the same; a sampled
        method would otherwise give it noise)."""
        mask = self.mask.clone()
        used = [j for j in range(mask.shape[1]) if j not in self.dropped]
        if self.dropped and used:
            mask[0, self.dropped] = int(mask[0, used[0]])
            mask = torch.unique(mask, return_inverse=True)[1]  # the groups numbered 0..G-1
        return mask

    def _per_group(self, attr: Tensor, grouped: bool) -> Tensor:
        """Columns -> features: a grouped method gives every column of a group the group's
        value; per-column values (gradients) add up. A feature of columns the pipeline never
        reads gets exactly 0."""
        out = self._columns_to_groups(attr, grouped)
        for g in range(len(self.features)):
            columns = [j for j, k in enumerate(self.mask[0].tolist()) if k == g]
            if self.dropped and all(j in self.dropped for j in columns):
                out[:, g] = 0
        return out

    def _columns_to_groups(self, attr: Tensor, grouped: bool) -> Tensor:
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


def _dropped_columns(steps: Any, codec: FrameCodec, background: Any) -> list[int]:
    """The columns a pipeline's steps never read (none where the steps mix columns, or the
    pipeline has no steps)."""
    if steps is None:
        return []
    try:
        players = set(column_players(steps, codec, background))
    except NotPerColumn:
        return []
    return [j for j in range(len(codec.columns)) if j not in players]


def _one_row_frame(row: Any, columns: list[str]) -> Any:
    """A reference row given for a DataFrame's columns (a one-row DataFrame, a Series, a
    dict or a list of values) as a one-row DataFrame."""
    import pandas as pd

    if is_frame(row):
        if len(row) != 1:
            raise ValueError(f"`baseline` must be one row, got a DataFrame of {len(row)} rows")
        return row
    if isinstance(row, pd.Series) or isinstance(row, dict):
        return pd.DataFrame([dict(row)])
    if isinstance(row, (list, tuple)) and len(row) == len(columns):
        return pd.DataFrame([dict(zip(columns, row))])
    raise TypeError(
        f"`baseline` must be one of {BASELINE_KINDS} or a row of the DataFrame's columns (a "
        f"one-row DataFrame, a Series, a dict or {len(columns)} values), got "
        f"{type(row).__name__}"
    )


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


__all__ = [
    "BASELINE_KINDS",
    "GRADIENT_FREE",
    "TABULAR_METHODS",
    "TREE_METHODS",
    "VALUE_SWAPPING",
    "Explainer",
]
