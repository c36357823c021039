"""Tables in, tensors out: column checks, models of any kind, baselines, column groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


def to_matrix(
    X: Any,
    feature_names: list[str] | None = None,
    n_expected: int | None = None,
    name: str = "X",
    allow_nan: bool = False,
) -> tuple[Tensor, list[str]]:
    """The table as a floating-point ``(N, F)`` tensor in the user's precision, and the
    column names, with clear errors (naming the argument ``name``) for bad tables;
    ``allow_nan`` keeps missing values (for models that route them).

    The values are never rounded: a table of float32 (or small integer and boolean) columns
    gives float32, anything wider (float64, int64) float64, so a model that compares float64
    values (scikit-learn's histogram boosting, LightGBM, a float64 predict function) sees
    exactly the user's numbers.

    Examples
    --------
    >>> import numpy as np
    >>> to_matrix(np.array([[0.1, 2.0]]))[0].dtype
    torch.float64
    >>> to_matrix(np.array([[0.1, 2.0]], dtype=np.float32))[0].dtype
    torch.float32
    """
    if type(X).__module__.startswith("pandas"):
        frame = X.to_frame().T if X.ndim == 1 else X
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        bad = [
            c for c in frame.columns if not (is_numeric_dtype(frame[c]) or is_bool_dtype(frame[c]))
        ]
        if bad:
            raise TypeError(
                f"`{name}` columns {bad} are not numeric; encode them first (one-hot columns "
                "can be explained together with `groups`)"
            )
        names = [str(c) for c in frame.columns]
        dtype = table_dtype(getattr(t, "numpy_dtype", t) for t in frame.dtypes)
        values = torch.from_numpy(frame.to_numpy(dtype=dtype, na_value=np.nan).copy())
    elif isinstance(X, np.ndarray) or isinstance(X, Tensor):
        array = X.detach().cpu().numpy() if isinstance(X, Tensor) else X
        if array.dtype.kind not in "biuf":
            raise TypeError(f"`{name}` must hold numbers, got dtype {array.dtype}")
        values = torch.from_numpy(np.array(array, dtype=table_dtype([array.dtype])))
        if values.dim() == 1:
            values = values.unsqueeze(0)
        names = None
    else:
        raise TypeError(
            f"`{name}` must be a pandas DataFrame, a numpy array or a tensor, "
            f"got {type(X).__name__}"
        )
    if values.dim() != 2:
        raise ValueError(f"`{name}` must be a table (N, F), got shape {tuple(values.shape)}")
    if values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(
            f"`{name}` is empty (shape {tuple(values.shape)}); expected at least one row and "
            "one column"
        )
    bad_values = torch.isinf(values) if allow_nan else ~torch.isfinite(values)
    if bad_values.any():
        rows = bad_values.any(1).nonzero().flatten()[:5].tolist()
        raise ValueError(
            f"`{name}` holds NaN or infinite values (rows {rows}...); impute them before explaining"
        )
    if n_expected is not None and values.shape[1] != n_expected:
        raise ValueError(f"`{name}` has {values.shape[1]} columns but the model takes {n_expected}")
    if feature_names is not None:
        if len(feature_names) != values.shape[1]:
            raise ValueError(
                f"`feature_names` has {len(feature_names)} names for {values.shape[1]} columns"
            )
        names = list(feature_names)
    return values, names or [f"x{i}" for i in range(values.shape[1])]


def table_dtype(dtypes: Any) -> np.dtype:
    """The floating-point type that holds every value of columns of ``dtypes`` exactly:
    float32 for float32, float16, bool and integers of up to 16 bits, float64 otherwise."""
    found = np.result_type(np.float32, *[np.dtype(t) for t in dtypes])
    return np.dtype(np.float32) if found == np.float32 else np.dtype(np.float64)


def parameter_dtype(model: Any) -> torch.dtype | None:
    """The floating-point type of a torch model's parameters (what its inputs must be), or
    None for a model without floating-point parameters (a function: it gets the user's)."""
    if isinstance(model, nn.Module):
        for p in model.parameters():
            if p.is_floating_point():
                return p.dtype
    return None


def input_width(model: Any) -> int | None:
    """The number of columns a model takes, where it says (first Linear, or sklearn)."""
    if isinstance(model, nn.Module):
        for m in model.modules():
            if isinstance(m, nn.Linear):
                return m.in_features
        return None
    owner = getattr(model, "__self__", model)
    return getattr(owner, "n_features_in_", None)


class CallableModel(nn.Module):
    """Any ``f(array) -> scores`` (e.g. scikit-learn's ``predict_proba``) as a module on tensors.

    Not differentiable: only the perturbation methods can explain it.
    """

    differentiable = False

    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        rows = x.detach().cpu().numpy()
        names = getattr(getattr(self.fn, "__self__", None), "feature_names_in_", None)
        if names is not None:  # a scikit-learn model fitted on a DataFrame wants its columns
            import pandas as pd

            rows = pd.DataFrame(rows, columns=names)
        out = np.asarray(self.fn(rows), dtype=np.float64)
        return torch.as_tensor(out, dtype=x.dtype).reshape(x.shape[0], -1)


def as_model(model: Any) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    if callable(model):
        return CallableModel(model)
    raise TypeError(
        f"`model` must be a torch module or a callable returning scores, got {type(model).__name__}"
    )


def column_groups(
    names: list[str], groups: dict[str, list[str]] | None, X: Tensor
) -> tuple[Tensor, list[str]]:
    """A feature mask ``(1, F)`` and the name of each group.

    ``groups`` maps a name to its columns; without it, one-hot columns sharing a prefix
    (``sex_f``, ``sex_m``: 0/1 values, one per row) are grouped automatically.
    """
    if groups is None:
        groups = _one_hot_prefixes(names, X)
    assigned = {}
    for group, columns in groups.items():
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise ValueError(
                f"`groups` entry {group!r} names unknown columns {unknown}; columns are {names}"
            )
        for c in columns:
            if c in assigned:
                raise ValueError(f"column {c!r} is in two groups ({assigned[c]!r} and {group!r})")
            assigned[c] = group
    labels: list[str] = []
    ids = []
    for name in names:
        label = assigned.get(name, name)
        if label not in labels:
            labels.append(label)
        ids.append(labels.index(label))
    return torch.tensor([ids]), labels


def _one_hot_prefixes(names: list[str], X: Tensor) -> dict[str, list[str]]:
    by_prefix: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if "_" in name:
            by_prefix.setdefault(name.rsplit("_", 1)[0], []).append(i)
    out = {}
    for prefix, cols in by_prefix.items():
        block = X[:, cols]
        if (
            len(cols) >= 2
            and bool(((block == 0) | (block == 1)).all())
            and bool((block.sum(1) == 1).all())
        ):
            out[prefix] = [names[i] for i in cols]
    return out
