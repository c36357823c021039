"""Models that take the user's DataFrame: scikit-learn pipelines and predict functions.

A :class:`FrameModel` runs such a model on the codes of :class:`~perspicio.tabular.frame.
FrameCodec` (decoded to a DataFrame with the user's column types first), so every method that
only swaps values explains it on the original columns. :func:`column_players` reads a
pipeline's preprocessing to find, for each column the final estimator sees, the one original
column it is computed from: where there is one for every column, a tree model inside the
pipeline is explained exactly with the original columns as players
(:class:`~perspicio.tabular.trees.grouped.GroupedEnsemble`).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .frame import FrameCodec

#: preprocessing steps that compute each output column from one input column (and are known
#: to keep the columns' order): the exact tree path goes through these only
PER_COLUMN_STEPS = frozenset(
    {
        "StandardScaler",
        "MinMaxScaler",
        "MaxAbsScaler",
        "RobustScaler",
        "QuantileTransformer",
        "PowerTransformer",
        "Binarizer",
        "OrdinalEncoder",
        "OneHotEncoder",
        "SimpleImputer",
        "KBinsDiscretizer",
    }
)


def is_pipeline(model: Any) -> bool:
    """Whether ``model`` is a scikit-learn ``Pipeline``."""
    return type(model).__name__ == "Pipeline" and hasattr(model, "steps")


def split_pipeline(pipeline: Any) -> tuple[Any, Any]:
    """``(preprocessing, estimator)``: all steps but the last (None when there are none),
    and the last."""
    if len(pipeline.steps) == 1:
        return None, pipeline.steps[-1][1]
    return pipeline[:-1], pipeline.steps[-1][1]


OUTPUTS = ("probability", "margin")


def output_function(model: Any, output: str | None) -> tuple[Callable[[Any], Any], str]:
    """The function of a DataFrame a classifier or regressor is explained by, and its name
    for a report: a classifier's ``predict_proba`` by default, ``decision_function`` with
    ``output="margin"``; a regressor's ``predict``; a plain function itself."""
    if output is not None and output not in OUTPUTS:
        raise ValueError(f"`output` must be one of {OUTPUTS} or None, got {output!r}")
    name = _name(model)
    if not hasattr(model, "predict"):
        if output is not None:
            raise ValueError(
                f"`output` {output!r} picks a scikit-learn model's method; {name} is a plain "
                "function: explain the function you want instead"
            )
        return model, f"{name} (the function's output)"
    classifier = hasattr(model, "predict_proba") or hasattr(model, "decision_function")
    if output == "margin":
        if not hasattr(model, "decision_function"):
            raise ValueError(
                f"`output` 'margin': {name} has no decision_function; explain its "
                "probability (output='probability')"
            )
        return model.decision_function, f"margin ({name}.decision_function)"
    if classifier and hasattr(model, "predict_proba"):
        return model.predict_proba, f"probability ({name}.predict_proba)"
    if output == "probability":
        raise ValueError(f"`output` 'probability': {name} has no predict_proba")
    if classifier:
        return model.decision_function, f"margin ({name}.decision_function)"
    return model.predict, f"prediction ({name}.predict)"


class FrameModel(nn.Module):
    """``fn(DataFrame) -> scores`` as a module on the codes of ``codec``.

    Not differentiable: only the methods that swap values explain it. When ``fn`` raises
    on rows holding a category the background does not, the error names the column and the
    value.
    """

    differentiable = False

    def __init__(self, fn: Callable[[Any], Any], codec: FrameCodec, name: str) -> None:
        super().__init__()
        self.fn, self.codec, self.name = fn, codec, name

    def forward(self, x: Tensor) -> Tensor:
        frame = self.codec.decode(x)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*unknown categories.*")
                out = self.fn(frame)
        except Exception as error:
            unknown = self.codec.unknown_values(x.detach().cpu())
            if unknown:
                column, values = next(iter(unknown.items()))
                raise ValueError(
                    f"the model refuses the rows: column {column!r} holds {values[:3]}, which "
                    f"the model never saw (the background does not hold it either); "
                    f"{type(error).__name__}: {error}"
                ) from error
            raise
        out = np.asarray(out.detach().cpu() if isinstance(out, Tensor) else out, dtype=np.float64)
        return torch.as_tensor(out, dtype=torch.float64).reshape(x.shape[0], -1).to(x.dtype)


def preprocessed_function(model: Any, preprocessor: Any) -> Callable[[Any], Any]:
    """``model(preprocessor.transform(frame))`` for a torch model or a function of arrays."""

    def scores(frame: Any) -> Any:
        features = transform_rows(preprocessor, frame)
        if isinstance(model, nn.Module):
            dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
            with torch.no_grad():
                return model(torch.as_tensor(features, dtype=dtype or torch.float32))
        return model(features)

    return scores


# --------------------------------------------------------------- column tracing
class NotPerColumn(Exception):
    """The preprocessing mixes columns (or is not known not to): the reason, for a note."""


def column_players(preprocessing: Any, codec: FrameCodec, background: Any) -> list[int]:
    """For each column ``preprocessing`` outputs, the original column it is computed from.

    Read from the steps' structure (a whitelist of per-column steps inside
    ``ColumnTransformer``s and pipelines), then checked on ``background``: changing one
    original column may change only the outputs traced to it. Raises :class:`NotPerColumn`
    saying why otherwise."""
    inputs = [[j] for j in range(len(codec.columns))]
    traced = _trace(preprocessing, inputs, codec.columns)
    players = []
    for j, sources in enumerate(traced):
        if len(set(sources)) != 1:
            raise NotPerColumn(f"output column {j} is computed from {len(set(sources))} columns")
        players.append(sources[0])
    encoded = transform_rows(preprocessing, background)
    if encoded.shape[1] != len(players):
        raise NotPerColumn(
            f"the preprocessing gives {encoded.shape[1]} columns where its steps' structure "
            f"gives {len(players)}"
        )
    _check_on_rows(preprocessing, background, encoded, players)
    return players


def _trace(step: Any, inputs: list[list[int]], names: list[str]) -> list[list[int]]:
    """The original columns behind each output column of ``step``, given those of its
    inputs (``names``: the inputs' names, for steps that select columns by name)."""
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return inputs
    if isinstance(step, str) and step == "drop":
        return []
    kind = type(step).__name__
    if kind == "Pipeline":
        for _, sub in step.steps:
            inputs = _trace(sub, inputs, names)
            names = [f"{i}" for i in range(len(inputs))]
        return inputs
    if kind == "ColumnTransformer":
        out: list[list[int]] = []
        for _, transformer, columns in step.transformers_:
            if isinstance(transformer, str) and transformer == "drop":
                continue
            picked = _selected(step, columns, names)
            if not picked:
                continue
            out += _trace(transformer, [inputs[i] for i in picked], [names[i] for i in picked])
        return out
    if kind == "FunctionTransformer" and getattr(step, "func", None) is None:
        return inputs  # the identity (a fitted ColumnTransformer's "passthrough")
    if kind not in PER_COLUMN_STEPS or not type(step).__module__.startswith("sklearn"):
        raise NotPerColumn(
            f"{kind} is not known to compute each column from one column (the exact path "
            f"takes {', '.join(sorted(PER_COLUMN_STEPS))}, ColumnTransformer and Pipeline)"
        )
    if kind == "OneHotEncoder" or (
        kind == "KBinsDiscretizer" and getattr(step, "encode", "") != "ordinal"
    ):
        return _trace_by_names(step, inputs)
    if kind == "SimpleImputer":
        kept = [inputs[i] for i, s in enumerate(step.statistics_) if _kept(step, s)]
        indicator = getattr(step, "indicator_", None)
        if indicator is not None:
            kept += [inputs[i] for i in indicator.features_]
        return kept
    return inputs


def _kept(imputer: Any, statistic: Any) -> bool:
    """Whether an imputer keeps a column (it drops those it saw no value of, by default)."""
    if getattr(imputer, "keep_empty_features", False):
        return True
    try:
        return not np.isnan(float(statistic))
    except (TypeError, ValueError):
        return statistic is not None


def _trace_by_names(step: Any, inputs: list[list[int]]) -> list[list[int]]:
    """Encoders that give several columns per input: their output names, made by a copy of
    the fitted step with a name combiner that marks the input, give each output's input."""
    names = list(getattr(step, "feature_names_in_", [f"x{i}" for i in range(len(inputs))]))
    marked = copy.copy(step)  # the user's step is left as it was
    if type(step).__name__ == "OneHotEncoder":
        marked.feature_name_combiner = lambda feature, category: f"{feature}\x1f{category}"
        outputs = [str(n).split("\x1f")[0] for n in marked.get_feature_names_out()]
    else:  # KBinsDiscretizer one-hot: one output per bin of each input
        outputs = [names[i] for i, bins in enumerate(step.n_bins_) for _ in range(int(bins))]
    position = {str(n): i for i, n in enumerate(names)}
    return [inputs[position[o]] for o in outputs]


def _selected(transformer: Any, columns: Any, names: list[str]) -> list[int]:
    """The input positions a ``ColumnTransformer`` entry selects."""
    if callable(columns):
        raise NotPerColumn("a ColumnTransformer selects columns with a function")
    if isinstance(columns, slice):
        return list(range(len(names)))[columns]
    if isinstance(columns, (str, int, np.integer)):
        columns = [columns]
    columns = list(columns)
    if columns and all(isinstance(c, (bool, np.bool_)) for c in columns):
        return [i for i, keep in enumerate(columns) if keep]
    fitted = list(getattr(transformer, "feature_names_in_", names))
    picked = []
    for c in columns:
        if isinstance(c, (int, np.integer)):
            picked.append(int(c))
        elif str(c) in map(str, fitted):
            picked.append([str(n) for n in fitted].index(str(c)))
        else:
            raise NotPerColumn(f"a ColumnTransformer selects the unknown column {c!r}")
    return picked


def transform_rows(preprocessing: Any, frame: Any) -> np.ndarray:
    """``preprocessing.transform(frame)`` as a dense float64 array (``frame`` itself where
    there is no preprocessing)."""
    out = frame if preprocessing is None else preprocessing.transform(frame)
    out = out.toarray() if hasattr(out, "toarray") else out
    return np.asarray(out, dtype=np.float64)


def _check_on_rows(preprocessing: Any, frame: Any, encoded: np.ndarray, players: list[int]) -> None:
    """Change each original column (each row takes the next row's value) and see which
    outputs move: only those traced to the column may."""
    owner = np.asarray(players)
    rows = frame.head(64).reset_index(drop=True)
    base = encoded[: len(rows)]
    for j, label in enumerate(rows.columns):
        shifted = rows.copy()
        shifted[label] = np.roll(rows[label].to_numpy(dtype=object), 1)
        shifted[label] = shifted[label].astype(rows[label].dtype)
        moved = ~np.isclose(transform_rows(preprocessing, shifted), base, equal_nan=True).all(0)
        stray = np.flatnonzero(moved & (owner != j))
        if len(stray):
            raise NotPerColumn(
                f"changing column {str(label)!r} changes output columns {stray[:3].tolist()}, "
                "computed from other columns"
            )


def _name(model: Any) -> str:
    owner = getattr(model, "__self__", None)
    if owner is not None:
        return f"{type(owner).__name__}.{model.__name__}"
    return getattr(model, "__name__", type(model).__name__)


__all__ = [
    "OUTPUTS",
    "PER_COLUMN_STEPS",
    "FrameModel",
    "NotPerColumn",
    "column_players",
    "is_pipeline",
    "output_function",
    "preprocessed_function",
    "split_pipeline",
    "transform_rows",
]
