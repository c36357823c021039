"""A scikit-learn preprocessor in front of a model: explain the original columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn


class PreprocessedModel(nn.Module):
    """``model(preprocessor.transform(rows))`` on rows of original columns, encoded as
    numbers: numeric columns as they are, the other columns as category codes.

    Not differentiable (the preprocessor is not torch): perturbation methods only.
    """

    differentiable = False

    def __init__(self, model: Any, preprocessor: Any, frame: Any) -> None:
        super().__init__()
        from pandas.api.types import is_bool_dtype, is_numeric_dtype

        self.model = model if isinstance(model, nn.Module) else None
        self.fn = None if isinstance(model, nn.Module) else model
        self.preprocessor = preprocessor
        self.columns = list(frame.columns)
        self.categories = {
            c: list(frame[c].astype("category").cat.categories)
            for c in self.columns
            if not (is_numeric_dtype(frame[c]) or is_bool_dtype(frame[c]))
        }

    def encode(self, frame: Any, name: str = "X") -> Tensor:
        """Original rows -> numbers (category codes for the categorical columns); ``name``
        is the argument errors speak of."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"`{name}` lacks the column(s) {missing[:3]} the model needs")
        if len(frame) == 0:
            raise ValueError(f"`{name}` is empty; expected at least one row")
        cols = []
        for c in self.columns:
            if c in self.categories:
                codes = frame[c].map({v: i for i, v in enumerate(self.categories[c])})
                if codes.isna().any():
                    unseen = sorted(set(frame[c][codes.isna()].astype(str)))[:3]
                    raise ValueError(
                        f"`{name}` column {c!r} holds categories {unseen} that the background "
                        "does not; include them in the background"
                    )
                cols.append(codes.to_numpy(dtype=np.float32))
            else:
                cols.append(frame[c].to_numpy(dtype=np.float32))
        return torch.tensor(np.stack(cols, axis=1))

    def decode(self, x: Tensor):
        import pandas as pd

        data = {}
        for j, c in enumerate(self.columns):
            column = x[:, j].detach().cpu().numpy()
            if c in self.categories:
                data[c] = [self.categories[c][int(round(v))] for v in column]
            else:
                data[c] = column
        return pd.DataFrame(data, columns=self.columns)

    def forward(self, x: Tensor) -> Tensor:
        features = self.preprocessor.transform(self.decode(x))
        if hasattr(features, "toarray"):
            features = features.toarray()
        features = torch.tensor(np.asarray(features, dtype=np.float32))
        if self.model is not None:
            with torch.no_grad():
                out = self.model(features)
        else:
            out = torch.as_tensor(np.asarray(self.fn(features.numpy()), dtype=np.float32))
        return out.reshape(x.shape[0], -1)

    def categorical_mask(self) -> list[bool]:
        return [c in self.categories for c in self.columns]
