"""Which training rows drove a prediction, and which training rows look mislabelled: TracIn
(:mod:`perspicio.core.influence`) over a tabular model's checkpoints, answered as tables
and a report."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from perspicio.core.influence import TracInCP, TracInCPFast, last_linear
from perspicio.core.page import data_uri, html_page

from ._data import parameter_dtype, to_matrix
from .explanation import report_html

LOSSES = ("cross_entropy", "mse")
METHODS = ("tracin", "tracin_fast")


class TrainingInfluence:
    """Training-data influence for a torch model on a table.

    Parameters
    ----------
    model : torch.nn.Module
        Takes float rows (the table's columns, in order).
    X_train : DataFrame or array ``(N, F)``
    y_train : Series or array ``(N,)``
        The labels the model was trained on (classes, or values for ``loss="mse"``).
    checkpoints : str or list of str
        Files saved during training (a folder of them, or a list), each a state dict or a
        dict with ``"model_state_dict"`` and ``"learning_rate"``; loaded ``weights_only``.
    loss : {"cross_entropy", "mse"}
    method : {"tracin", "tracin_fast"}
        All parameters, or only the last linear layer's weights (closed form, faster).
    batch_size : int

    Examples
    --------
    >>> from perspicio.tabular.demo import breast_cancer_mislabeled
    >>> demo = breast_cancer_mislabeled()
    >>> influence = TrainingInfluence(demo.model, demo.X_train, demo.y_train, demo.checkpoints)
    >>> list(influence.likely_mislabeled(top=3).columns)
    ['training_row', 'self_influence', 'label', 'predicted', 'probability_of_label']
    """

    def __init__(
        self,
        model: nn.Module,
        X_train: Any,
        y_train: Any,
        checkpoints: Any,
        loss: str = "cross_entropy",
        method: str = "tracin",
        batch_size: int = 256,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
        if loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {LOSSES}, got {loss!r}")
        if method not in METHODS:
            raise ValueError(f"`method` must be one of {METHODS}, got {method!r}")
        self.model = model
        self.x, self.features = to_matrix(X_train, name="X_train")
        self.dtype = parameter_dtype(model) or self.x.dtype
        self.x = self.x.to(self.dtype)
        labels = np.array(y_train)
        if labels.shape != (len(self.x),):
            raise ValueError(
                f"`y_train` must hold one label per training row ({len(self.x)}), got shape "
                f"{labels.shape}"
            )
        self.index = list(getattr(X_train, "index", range(len(self.x))))
        self.loss = loss
        dtype = torch.long if loss == "cross_entropy" else self.dtype
        self.y = torch.as_tensor(labels, dtype=dtype)
        if loss == "mse":
            self.y = self.y.view(-1, 1)
        self.method = method
        data = DataLoader(TensorDataset(self.x, self.y), batch_size=batch_size)
        if method == "tracin":
            per_example = (
                nn.CrossEntropyLoss(reduction="none")
                if loss == "cross_entropy"
                else nn.MSELoss(reduction="none")
            )
            self.tracin = TracInCP(
                model, data, checkpoints, loss_fn=per_example, batch_size=batch_size
            )
        else:
            summed = (
                nn.CrossEntropyLoss(reduction="sum")
                if loss == "cross_entropy"
                else nn.MSELoss(reduction="sum")
            )
            self.tracin = TracInCPFast(
                model, last_linear(model), data, checkpoints, loss_fn=summed, batch_size=batch_size
            )
        self._self_influence: torch.Tensor | None = None

    def _rows(self, rows: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, _ = to_matrix(rows, n_expected=len(self.features), name="rows")
        x = x.to(self.dtype)
        if labels is None:
            with torch.no_grad():
                out = self.model(x)
            y = out.argmax(1) if self.loss == "cross_entropy" else out.view(-1, 1)
        else:
            y = torch.as_tensor(np.asarray(labels), dtype=self.y.dtype).view(
                len(x), *self.y.shape[1:]
            )
        return x, y

    def most_influential(self, rows: Any, labels: Any = None, k: int = 5, opponents: bool = False):
        """The ``k`` training rows with the largest influence on each row's loss at its
        label (default: the model's prediction, i.e. why it predicted that), or the most
        negative (``opponents``). A DataFrame: one line per (row, rank)."""
        import pandas as pd

        x, y = self._rows(rows, labels)
        top = self.tracin.influence((x, y), k=k, proponents=not opponents)
        lines = []
        names = list(getattr(rows, "index", range(len(x))))
        for r in range(len(x)):
            pairs = zip(top.indices[r].tolist(), top.influence_scores[r].tolist())
            for rank, (i, score) in enumerate(pairs, 1):
                lines.append(
                    {
                        "row": names[r],
                        "rank": rank,
                        "training_row": self.index[i],
                        "influence": score,
                        "training_label": self._label(i),
                    }
                )
        return pd.DataFrame(lines)

    def _label(self, i: int) -> Any:
        return self.y[i].item()

    def self_influence(self) -> torch.Tensor:
        """Each training row's self-influence (computed once)."""
        if self._self_influence is None:
            self._self_influence = self.tracin.self_influence()
        return self._self_influence

    def likely_mislabeled(self, top: int = 20):
        """The ``top`` training rows by self-influence (rows the model found hard to fit:
        mislabelled or atypical), with their label, the model's prediction and the
        probability it gives their label."""
        import pandas as pd

        scores = self.self_influence()
        order = scores.argsort(descending=True)[:top]
        with torch.no_grad():
            out = self.model(self.x[order])
        lines = []
        for j, i in enumerate(order.tolist()):
            line = {
                "training_row": self.index[i],
                "self_influence": float(scores[i]),
                "label": self._label(i),
            }
            if self.loss == "cross_entropy":
                p = out[j].softmax(0)
                line["predicted"] = int(p.argmax())
                line["probability_of_label"] = float(p[self.y[i]])
            else:
                line["predicted"] = float(out[j, 0])
                line["probability_of_label"] = float("nan")
            lines.append(line)
        return pd.DataFrame(lines)

    def plot_self_influence(self, top: int = 20) -> Figure:
        """All rows' self-influence, sorted, with the ``top`` highlighted."""
        scores = self.self_influence().sort(descending=True).values.numpy()
        fig = Figure(figsize=(6, 3))
        ax = fig.add_subplot()
        ax.plot(np.arange(1, len(scores) + 1), scores, color="tab:grey")
        ax.plot(np.arange(1, top + 1), scores[:top], color="tab:red", lw=2, label=f"top {top}")
        ax.set_xlabel("training rows, by self-influence")
        ax.set_ylabel("self-influence")
        ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        return fig

    def report(
        self, rows: Any = None, top: int = 20, k: int = 5, path: str | Path | None = None
    ) -> str:
        """A self-contained HTML report: the likely mislabelled training rows and, for
        ``rows``, their most influential training rows (every piece of text escaped)."""
        parts = [
            f"<h2>Training-data influence ({html.escape(type(self.tracin).__name__)}, "
            f"{len(self.tracin.checkpoints)} checkpoints)</h2>",
            f"<h3>Training rows that look mislabelled (top {top} by self-influence)</h3>",
            self.likely_mislabeled(top).to_html(index=False, float_format="%.4g", escape=True),
            f'<img alt="self-influence" src="{data_uri(self.plot_self_influence(top))}"/>',
        ]
        if rows is not None:
            parts += [
                "<h3>The training rows that most influenced each prediction</h3>",
                self.most_influential(rows, k=k).to_html(
                    index=False, float_format="%.4g", escape=True
                ),
            ]
        return html_page(report_html("training influence", parts), "training influence", path)
