"""A DataFrame as analysts keep it, as numbers the attribution methods can swap, and back.

The perturbation methods build each coalition by taking some columns from the row and the
others from a reference row (``torch.where`` over a mask): no arithmetic on the values. So
any column can be a player once it is a number: numeric columns are their own values (in
float64, which holds every float32, float64 and integer up to 2**53 exactly), boolean and
text-valued or categorical columns a code into the column's vocabulary, and a missing value
is NaN. :meth:`FrameCodec.decode` gives the model back a DataFrame with the user's column
types, the categories by value and the missing values as pandas writes them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor


def is_frame(X: Any) -> bool:
    """Whether ``X`` is a pandas DataFrame."""
    return type(X).__module__.startswith("pandas") and hasattr(X, "columns")


def column_kind(series: Any) -> str:
    """``"number"``, ``"bool"``, ``"category"`` or ``"text"`` (an object or string column);
    a ``TypeError`` for the columns that cannot be explained yet (dates, times)."""
    from pandas.api.types import (
        is_bool_dtype,
        is_datetime64_any_dtype,
        is_numeric_dtype,
        is_timedelta64_dtype,
    )

    dtype = series.dtype
    if isinstance(dtype, __import__("pandas").CategoricalDtype):
        return "category"
    if is_bool_dtype(dtype):
        return "bool"
    if is_datetime64_any_dtype(dtype) or is_timedelta64_dtype(dtype):
        raise TypeError(
            f"column {series.name!r} holds dates or times ({dtype}); they are not explained "
            "yet: turn them into numbers (days since a date, the month...) first"
        )
    if is_numeric_dtype(dtype):
        return "number"
    return "text"


def is_numeric_frame(frame: Any) -> bool:
    """Whether every column of ``frame`` is numeric or boolean (no categories, no text)."""
    return all(column_kind(frame[c]) in ("number", "bool") for c in frame.columns)


@dataclass
class ColumnCodec:
    """One column: its kind, its pandas dtype and, for the coded kinds, its vocabulary
    (append-only: a value first seen in a row explained later gets the next code)."""

    name: str
    kind: str
    dtype: Any
    vocabulary: list[Any] = field(default_factory=list)
    #: how many of the vocabulary's values the background holds
    known: int = 0

    @property
    def coded(self) -> bool:
        return self.kind in ("category", "text")


class FrameCodec:
    """Encode the columns of ``frame`` (the background) and of any rows like it.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"age": [31, 54], "smoker": ["no", "yes"]})
    >>> codec = FrameCodec(frame, "background")
    >>> codes = codec.encode(pd.DataFrame({"smoker": ["yes"], "age": [40]}), "X")
    >>> codes
    tensor([[40.,  1.]], dtype=torch.float64)
    >>> codec.decode(codes).dtypes.tolist(), codec.decode(codes).iloc[0].tolist()
    ([dtype('int64'), dtype('O')], [40, 'yes'])
    """

    def __init__(self, frame: Any, name: str = "background") -> None:
        if not is_frame(frame):
            raise TypeError(f"`{name}` must be a pandas DataFrame, got {type(frame).__name__}")
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ValueError(
                f"`{name}` is empty (shape {frame.shape}); expected at least one row and column"
            )
        if len(set(map(str, frame.columns))) != frame.shape[1]:
            raise ValueError(f"`{name}` has repeated column names: {list(frame.columns)}")
        self.columns: list[str] = [str(c) for c in frame.columns]
        self._labels = list(frame.columns)  # the user's own labels (ints stay ints)
        self._lock = threading.Lock()
        self.codecs: list[ColumnCodec] = []
        for label in self._labels:
            series = frame[label]
            try:
                kind = column_kind(series)
            except TypeError as error:
                raise TypeError(f"`{name}` {error}") from None
            if len(series) > 1 and series.isna().all():
                raise ValueError(
                    f"`{name}` column {str(label)!r} is entirely missing: nothing to compare a "
                    "row with; drop the column or give a background that has values"
                )
            codec = ColumnCodec(str(label), kind, series.dtype)
            if kind == "category":
                codec.vocabulary = list(series.cat.categories)
            elif kind == "text":
                codec.vocabulary = sorted({v for v in series.dropna()}, key=_sort_key)
            codec.known = len(codec.vocabulary)
            self.codecs.append(codec)

    # ------------------------------------------------------------------ checks
    def aligned(self, frame: Any, name: str) -> Any:
        """``frame``'s columns in the background's order, refused (naming ``name``) when
        the names differ or a column holds another kind of value."""
        if not is_frame(frame):
            raise TypeError(
                f"`{name}` must be a DataFrame with the background's columns "
                f"({self.columns[:5]}...), got {type(frame).__name__}"
            )
        given = [str(c) for c in frame.columns]
        missing = [c for c in self.columns if c not in given]
        extra = [c for c in given if c not in self.columns]
        if missing or extra:
            raise ValueError(
                f"`{name}` columns differ from the background's: missing {missing[:5]}, "
                f"unexpected {extra[:5]}; give rows with the columns the explainer was built on"
            )
        if len(frame) == 0:
            raise ValueError(f"`{name}` is empty; expected at least one row")
        frame = frame.rename(columns=str)[self.columns]
        for codec in self.codecs:
            try:
                kind = column_kind(frame[codec.name])
            except TypeError as error:
                raise TypeError(f"`{name}` {error}") from None
            numeric = {"number", "bool"}
            if kind != codec.kind and not (
                # a column of missing values only reads as text or numbers alike
                frame[codec.name].isna().all()
                or (kind in numeric and codec.kind in numeric)
                or {kind, codec.kind} == {"category", "text"}
            ):
                given = frame[codec.name].dtype
                raise TypeError(
                    f"`{name}` column {codec.name!r} holds {kind} values ({given}) where the "
                    f"background's holds {codec.kind} ({codec.dtype})"
                )
        return frame

    # ---------------------------------------------------------------- encoding
    def encode(self, frame: Any, name: str = "X") -> Tensor:
        """The rows as ``(N, F)`` float64 codes (NaN where a value is missing)."""
        frame = self.aligned(frame, name)
        out = np.empty(frame.shape, dtype=np.float64)
        for j, codec in enumerate(self.codecs):
            series = frame[codec.name]
            missing = series.isna().to_numpy()
            if codec.coded:
                out[:, j] = self._codes(codec, series, missing)
            else:
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
                out[:, j] = values
                if np.isinf(values).any():
                    rows = np.flatnonzero(np.isinf(values))[:5].tolist()
                    raise ValueError(f"`{name}` column {codec.name!r} is infinite in rows {rows}")
        return torch.from_numpy(out)

    def _codes(self, codec: ColumnCodec, series: Any, missing: np.ndarray) -> np.ndarray:
        values = series.to_numpy(dtype=object)
        with self._lock:  # rows from several threads may add values at once
            index = {_key(v): i for i, v in enumerate(codec.vocabulary)}
            codes = np.full(len(values), np.nan)
            for i, v in enumerate(values):
                if missing[i]:
                    continue
                code = index.get(_key(v))
                if code is None:
                    code = index[_key(v)] = len(codec.vocabulary)
                    codec.vocabulary.append(v)
                codes[i] = code
        return codes

    def decode(self, codes: Tensor) -> Any:
        """Codes -> a DataFrame with the background's column names and types."""
        import pandas as pd

        array = codes.detach().cpu().to(torch.float64).numpy()
        data = {}
        for j, codec in enumerate(self.codecs):
            column = array[:, j]
            missing = np.isnan(column)
            if codec.coded:
                vocabulary = codec.vocabulary
                values = np.empty(len(column), dtype=object)
                values[:] = [None if m else vocabulary[int(c)] for c, m in zip(column, missing)]
                values[missing] = np.nan
                if codec.kind == "category":  # a value first seen in a row joins the categories
                    data[codec.name] = pd.Categorical(
                        values, categories=list(vocabulary), ordered=codec.dtype.ordered
                    )
                else:
                    data[codec.name] = pd.array(values, dtype=codec.dtype)
            else:
                data[codec.name] = _number_column(column, missing, codec.dtype)
        frame = pd.DataFrame(data)
        frame.columns = self._labels
        return frame

    # ------------------------------------------------------------------ facts
    @property
    def categorical(self) -> list[bool]:
        """Per column: whether its one-row reference is its most frequent value (categories,
        text and booleans) rather than a mean or median."""
        return [codec.coded or codec.kind == "bool" for codec in self.codecs]

    @property
    def labels(self) -> dict[str, list[Any]]:
        """What each code of a column means, for reports and plots: the values of coded
        columns, ``[False, True]`` for booleans."""
        out = {}
        for codec in self.codecs:
            if codec.coded:
                out[codec.name] = list(codec.vocabulary)
            elif codec.kind == "bool":
                out[codec.name] = [False, True]
        return out

    @property
    def coded_columns(self) -> list[str]:
        return [codec.name for codec in self.codecs if codec.coded]

    def unknown_values(self, codes: Tensor) -> dict[str, list[Any]]:
        """Per coded column, the values of ``codes`` that the background does not hold."""
        found = {}
        for j, codec in enumerate(self.codecs):
            if not codec.coded:
                continue
            column = codes[:, j]
            new = column[~torch.isnan(column) & (column >= codec.known)].unique()
            if len(new):
                found[codec.name] = [codec.vocabulary[int(c)] for c in new.tolist()]
        return found

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _key(value: Any) -> Any:
    """A dictionary key for a value (numpy scalars as their Python value)."""
    return value.item() if isinstance(value, np.generic) else value


def _sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


def _number_column(values: np.ndarray, missing: np.ndarray, dtype: Any) -> Any:
    """A numeric column back in its own type: integers as integers where every value is
    whole (a mean reference may not be), float32 as float32, nullable types with pd.NA."""
    import pandas as pd

    numpy_dtype = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    if numpy_dtype.kind == "f":
        if isinstance(dtype, np.dtype):
            return values.astype(dtype)
        return pd.array(values, dtype=dtype)  # pandas' nullable float types
    whole = np.all(np.isnan(values) | (values == np.round(values)))
    if numpy_dtype.kind == "b":
        if missing.any() or not whole:
            return values
        return (
            values.astype(bool)
            if isinstance(dtype, np.dtype)
            else pd.array(values.astype(bool), dtype=dtype)
        )
    if not whole:
        return values  # a fractional reference of an integer column stays float64
    if isinstance(dtype, np.dtype):
        return values if missing.any() else values.astype(dtype)
    return pd.array([pd.NA if m else int(v) for v, m in zip(values, missing)], dtype=dtype)


__all__ = ["ColumnCodec", "FrameCodec", "column_kind", "is_frame", "is_numeric_frame"]
