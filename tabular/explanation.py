"""The result of ``tabular.explain``: per-row attributions of features (or column groups)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from torch import Tensor

from perspicio.core.explanation import Explanation
from perspicio.core.page import MAGNITUDE, NEGATIVE, POSITIVE, data_uri, html_page

#: colours of categories (matplotlib's tab10), and of missing values
QUALITATIVE = tuple(to_hex(c) for c in colormaps["tab10"].colors)
MISSING = "#bbbbbb"

#: a report's look: its tables ruled alike
_STYLE = (
    "<style>.perspicio-report{font-family:sans-serif}"
    ".perspicio-report table{border-collapse:collapse}"
    ".perspicio-report td,.perspicio-report th{border:1px solid #ccc;padding:4px 8px}</style>"
)


def report_html(title: str, body: list[str], path: str | Path | None = None) -> str:
    """A report's fragment around ``body`` (already escaped pieces), its tables styled
    alike; the whole page (:func:`~perspicio.core.page.html_page`) written to ``path`` when
    given."""
    fragment = "".join(['<div class="perspicio-report">', _STYLE, *body, "</div>"])
    if path is not None:
        html_page(fragment, title, path)
    return fragment


@dataclass
class TabularExplanation(Explanation):
    """``attributions``: ``(N, G)`` for the G features (or groups) of N rows; ``values``:
    the rows as given ``(N, F)``; ``scores``: the explained score of each row;
    ``baseline_scores``: the score of the reference the attribution starts from."""

    attributions: Tensor
    values: Tensor
    columns: list[str]
    features: list[str]
    column_group: list[int]
    targets: list[int | None]
    scores: Tensor
    baseline_scores: Tensor
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    #: column index -> category labels, for categorical columns perturbed as codes
    categories: dict[int, list[Any]] = field(default_factory=dict)
    #: the reference the rows were explained against (which background, how summarised)
    background: str = ""
    model_fingerprint: str | None = None

    modality = "table"
    main_suffix = ".html"
    side_suffixes = (".csv",)

    @property
    def target_labels(self) -> list[str]:
        """Each row's explained class (``"score"`` for a model with one score per row)."""
        return ["score" if t is None else str(t) for t in self.targets]

    @property
    def target_scores(self) -> list[float]:
        return [float(s) for s in self.scores]

    def top_features(self, k: int = 3) -> list[tuple[str, float]]:
        """The first row's ``k`` largest attributions by magnitude."""
        row = self.attributions[0]
        order = row.abs().argsort(descending=True)[:k].tolist()
        return [(self.features[g], float(row[g])) for g in order]

    def _manifest_extra(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "background": self.background,
            "rows": int(self.attributions.shape[0]),
        }

    @classmethod
    def concatenate(cls, parts: list[TabularExplanation]) -> TabularExplanation:
        """One explanation of all the rows of several (same features, same method)."""
        first = parts[0]
        return cls(
            attributions=torch.cat([p.attributions for p in parts]),
            values=torch.cat([p.values for p in parts]),
            columns=first.columns,
            features=first.features,
            column_group=first.column_group,
            targets=sum((p.targets for p in parts), []),
            scores=torch.cat([p.scores for p in parts]),
            baseline_scores=torch.cat([p.baseline_scores for p in parts]),
            method=first.method,
            parameters=first.parameters,
            categories=first.categories,
            background=first.background,
            model_fingerprint=first.model_fingerprint,
        )

    def _value_text(self, row: int, g: int) -> str:
        cols = [j for j, k in enumerate(self.column_group) if k == g]
        if len(cols) == 1 and torch.isnan(self.values[row, cols[0]]):
            return "missing"
        if len(cols) == 1 and cols[0] in self.categories:
            return str(self.categories[cols[0]][int(round(float(self.values[row, cols[0]])))])
        if len(cols) == 1:
            return f"{float(self.values[row, cols[0]]):.4g}"
        active = [self.columns[j] for j in cols if float(self.values[row, j]) == 1.0]
        return ", ".join(active) or "none"

    def to_frame(self):
        """A tidy DataFrame: row, feature, value, attribution."""
        import pandas as pd

        records = [
            {
                "row": i,
                "feature": name,
                "value": self._value_text(i, g),
                "attribution": float(self.attributions[i, g]),
            }
            for i in range(self.attributions.shape[0])
            for g, name in enumerate(self.features)
        ]
        return pd.DataFrame(records)

    def global_importance(self):
        """Mean absolute attribution per feature over the rows, largest first (a pandas Series)."""
        import pandas as pd

        mean = self.attributions.abs().mean(0).numpy()
        return pd.Series(mean, index=self.features, name="mean_abs_attribution").sort_values(
            ascending=False
        )

    def plot(self, row: int = 0, top: int = 12) -> Figure:
        """A waterfall from the baseline's score to the row's score, features sorted by
        magnitude (the rest summed), each bar labelled with the feature's value."""
        a = self.attributions[row].numpy()
        order = np.argsort(-np.abs(a))
        shown, rest = order[:top], order[top:]
        fig = Figure(figsize=(7, 0.42 * (len(shown) + 3) + 1))
        ax = fig.add_subplot(1, 1, 1)
        start = float(self.baseline_scores[row])
        labels, y = [], 0
        for g in list(shown) + ([None] if len(rest) else []):
            value = float(a[rest].sum()) if g is None else float(a[g])
            name = (
                f"{len(rest)} other features"
                if g is None
                else f"{self.features[g]} = {self._value_text(row, g)}"
            )
            ax.barh(y, value, left=start, color=POSITIVE if value >= 0 else NEGATIVE)
            labels.append(name)
            start += value
            y += 1
        ax.set_yticks(range(len(labels)), labels)
        ax.invert_yaxis()
        ax.axvline(float(self.baseline_scores[row]), color="grey", linestyle=":", linewidth=1)
        ax.axvline(float(self.scores[row]), color="black", linewidth=1)
        ax.set_xlabel(
            f"score: baseline {float(self.baseline_scores[row]):.3f} "
            f"-> {float(self.scores[row]):.3f}"
        )
        ax.set_title(f"row {row}: {self.method}", fontsize=10)
        fig.tight_layout()
        return fig

    def plot_global(self, top: int = 15) -> Figure:
        """Mean absolute attribution per feature, and a beeswarm-style dot plot: each row's
        attribution, coloured by the feature's value (low blue, high red)."""
        importance = self.global_importance().iloc[:top]
        names = list(importance.index)
        fig = Figure(figsize=(12, 0.38 * len(names) + 1.5))
        left, right = fig.subplots(1, 2, sharey=True)
        left.barh(range(len(names)), importance.to_numpy(), color=MAGNITUDE)
        left.set_yticks(range(len(names)), names)
        left.invert_yaxis()
        left.set_xlabel("mean |attribution|")
        rng = np.random.default_rng(0)
        legend = []
        for y, name in enumerate(names):
            g = self.features.index(name)
            v = self._feature_values(g)
            jitter = rng.uniform(-0.3, 0.3, len(v))
            attr = self.attributions[:, g].numpy()
            labels = self._category_labels(g)
            if labels is not None:  # a qualitative colour per category, named in the legend
                for code in np.unique(v[~np.isnan(v)]).astype(int):
                    here = v == code
                    colour = QUALITATIVE[code % len(QUALITATIVE)]
                    right.scatter(attr[here], y + jitter[here], color=colour, s=6)
                    legend.append((colour, f"{name} = {labels[code]}"))
            else:
                present = ~np.isnan(v)
                low = np.nanmin(v) if present.any() else 0.0
                span = (np.nanmax(v) - low) if present.any() else 1.0
                colour = (v[present] - low) / (span or 1.0)
                right.scatter(attr[present], (y + jitter)[present], c=colour, cmap="coolwarm", s=6)
            missing = np.isnan(v)
            if missing.any():
                right.scatter(attr[missing], (y + jitter)[missing], color=MISSING, s=6)
                legend.append((MISSING, f"{name} missing"))
        right.axvline(0, color="grey", linewidth=0.8)
        right.set_xlabel("attribution (colour: feature value, low to high; categories by name)")
        if legend:
            from matplotlib.lines import Line2D

            handles = [
                Line2D([], [], marker="o", linestyle="", color=c, label=label)
                for c, label in legend[:24]
            ]
            right.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
        fig.tight_layout()
        return fig

    def _category_labels(self, g: int) -> list[str] | None:
        """The category names of feature ``g`` in code order, where it is one categorical
        (or text-valued) column; None otherwise."""
        cols = [j for j, k in enumerate(self.column_group) if k == g]
        if len(cols) == 1 and cols[0] in self.categories:
            return [str(c) for c in self.categories[cols[0]]]
        return None

    def _feature_values(self, g: int) -> np.ndarray:
        """One number per row for feature ``g`` (a one-hot group: the active column)."""
        cols = [j for j, k in enumerate(self.column_group) if k == g]
        if len(cols) == 1:
            return self.values[:, cols[0]].numpy()
        return self.values[:, cols].argmax(1).numpy().astype(float)

    def strongest_interaction(self, feature: str, bins: int = 10) -> str | None:
        """The feature whose values best explain how ``feature``'s attribution varies at a
        given value of ``feature``: within bins of ``feature``'s values, the summed absolute
        correlation of the attribution with each other feature's values."""
        g = self._feature_index(feature)
        order = np.argsort(self._feature_values(g), kind="stable")
        attr = self.attributions[:, g].numpy()[order]
        best, best_score = None, 0.0
        for h, other in enumerate(self.features):
            if h == g:
                continue
            v = self._feature_values(h)[order]
            score = 0.0
            for part in np.array_split(np.arange(len(order)), max(1, min(bins, len(order) // 3))):
                a, b = attr[part], v[part]
                if len(part) > 2 and np.std(a) > 0 and np.std(b) > 0:
                    score += abs(float(np.corrcoef(a, b)[0, 1]))
            if score > best_score:
                best, best_score = other, score
        return best

    def _feature_index(self, feature: str) -> int:
        if feature not in self.features:
            raise ValueError(
                f"`feature` {feature!r} is not one of the explained features {self.features[:10]}"
            )
        return self.features.index(feature)

    def plot_dependence(self, feature: str, color_by: str | None = "auto") -> Figure:
        """A feature's value (x) against its attribution (y), one dot per row, coloured by
        the values of ``color_by`` (``"auto"``: :meth:`strongest_interaction`; ``None``:
        one colour)."""
        g = self._feature_index(feature)
        if color_by == "auto":
            color_by = self.strongest_interaction(feature)
        fig = Figure(figsize=(5.2, 3.6))
        ax = fig.add_subplot()
        x, y = self._feature_values(g), self.attributions[:, g].numpy()
        labels = self._category_labels(g)
        if labels is not None:  # a strip per category, named on the axis
            jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(x))
            x = np.where(np.isnan(x), len(labels), x) + jitter
            shown = labels + (["missing"] if np.isnan(self._feature_values(g)).any() else [])
            ax.set_xticks(range(len(shown)), shown, rotation=30 if len(shown) > 4 else 0)
        if color_by is None:
            ax.scatter(x, y, s=8, color=MAGNITUDE)
        else:
            h = self._feature_index(color_by)
            c = self._feature_values(h)
            other = self._category_labels(h)
            if other is not None:  # a qualitative colour per category of `color_by`
                for code in np.unique(c[~np.isnan(c)]).astype(int):
                    here = c == code
                    colour = QUALITATIVE[code % len(QUALITATIVE)]
                    ax.scatter(x[here], y[here], s=8, color=colour, label=other[code])
                ax.legend(title=color_by, fontsize=7)
            else:
                points = ax.scatter(x, y, s=8, c=c, cmap="coolwarm")
                fig.colorbar(points, ax=ax, label=color_by)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xlabel(feature)
        ax.set_ylabel(f"attribution of {feature}")
        fig.tight_layout()
        return fig

    def to_html(self, path: str | Path | None = None, rows: int = 3) -> str:
        """One self-contained HTML report, a fragment (figures embedded as PNG): model and
        method, the first ``rows`` predictions with their waterfalls, and the global
        importance; ``path``: the whole page written there."""

        png = data_uri

        parts = [
            f"<h2>Explanation report: {html.escape(self.method)}</h2>",
            "<table>",
            f"<tr><th>model</th><td>{html.escape(str(self.parameters.get('model', '')))}</td></tr>",
            f"<tr><th>method</th><td>{html.escape(self.method)}</td></tr>",
            f"<tr><th>background</th><td>{html.escape(self.background or 'not stated')}</td></tr>",
            f"<tr><th>rows explained</th><td>{self.attributions.shape[0]}</td></tr>",
            f"<tr><th>features</th><td>{len(self.features)}</td></tr>",
            "</table>",
            "<p>parameters: ",
            f"{html.escape(json.dumps({k: repr(v) for k, v in self.parameters.items()}))}</p>",
        ]
        for r in range(min(rows, self.attributions.shape[0])):
            parts.append(
                f"<h3>row {r}: prediction {float(self.scores[r]):.4f} "
                f"(target {self.targets[r]})</h3>"
            )
            parts.append(f'<img alt="row {r}" src="{png(self.plot(r))}"/>')
            parts.append(self._row_table(r))
        table = self.global_importance().to_frame().to_html(float_format="%.4g")
        parts += [
            "<h3>Global importance</h3>",
            table,
            f'<img alt="global" src="{png(self.plot_global())}"/>',
        ]
        return report_html("perspicio report", parts, path)

    def _row_table(self, row: int, top: int = 10) -> str:
        """The row's ``top`` largest attributions with the features' values as given
        (categories by name), as an HTML table, every text escaped."""
        a = self.attributions[row]
        order = a.abs().argsort(descending=True)[:top].tolist()
        cells = "".join(
            f"<tr><td>{html.escape(self.features[g])}</td>"
            f"<td>{html.escape(self._value_text(row, g))}</td><td>{float(a[g]):+.4g}</td></tr>"
            for g in order
        )
        return f"<table><tr><th>feature</th><th>value</th><th>attribution</th></tr>{cells}</table>"

    def _write(self, path: Path) -> None:
        """``<stem>.html`` (the report) and ``<stem>.csv`` (the tidy table)."""
        self.to_html(path)
        self.to_frame().to_csv(path.with_suffix(".csv"), index=False)
