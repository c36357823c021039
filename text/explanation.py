"""The result of ``text.explain``: word (or token) attributions of one text, and pictures."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from torch import Tensor

from perspicio.core.explanation import Explanation
from perspicio.core.page import bar_colours, diverging_colour, html_page

_STYLE = (
    "<style>.pe-text{font-family:sans-serif;line-height:1.9}"
    ".pe-text span.w{border-radius:3px;padding:1px 2px}"
    ".pe-legend span{padding:2px 6px;margin-right:6px;border-radius:3px}"
    "table.pe{border-collapse:collapse}table.pe td,table.pe th{border:1px solid #ccc;"
    "padding:6px;vertical-align:top}</style>"
)


#: a word's highlight: faint at zero, strong at the text's largest value
_OPACITY = (0.08, 0.80)


@dataclass
class TextExplanation(Explanation):
    """Attributions of one text: ``units`` are words (or tokens) with their character spans;
    ``target``, ``label`` and ``probability`` are also :attr:`targets`,
    :attr:`target_labels` and :attr:`target_scores`."""

    modality = "text"
    reports_prediction = True
    main_suffix = ".html"

    text: str
    units: list[str]
    spans: list[tuple[int, int]]
    attributions: Tensor
    target: int
    label: str
    probability: float
    method: str
    granularity: str
    parameters: dict[str, Any] = field(default_factory=dict)
    model_fingerprint: str | None = None

    @property
    def targets(self) -> list[int]:
        return [self.target]

    @property
    def target_labels(self) -> list[str]:
        return [self.label]

    @property
    def target_scores(self) -> list[float]:
        return [self.probability]

    @property
    def predicted_probability(self) -> float | None:
        """The predicted label's probability: :attr:`predicted_score`, by its older name."""
        return self.predicted_score

    def top_features(self, k: int = 3) -> list[tuple[str, float]]:
        order = self.attributions.abs().argsort(descending=True)[:k].tolist()
        return [(self.units[i], float(self.attributions[i])) for i in order]

    def highlighted(self) -> str:
        """The text as HTML with each unit highlighted; everything escaped."""
        scale = float(self.attributions.abs().max()) if len(self.units) else 0.0
        out, cursor = [], 0
        for (start, end), value in sorted(zip(self.spans, self.attributions.tolist())):
            if start < cursor:  # overlapping sub-word spans at token granularity
                continue
            out.append(html.escape(self.text[cursor:start]))
            colour = diverging_colour(value, scale, opacity=_OPACITY)
            out.append(
                f'<span class="w" style="background:{colour}" '
                f'title="{value:+.4f}">{html.escape(self.text[start:end])}</span>'
            )
            cursor = end
        out.append(html.escape(self.text[cursor:]))
        return '<span class="pe-text">' + "".join(out) + "</span>"

    def to_html(self) -> str:
        """A self-contained HTML fragment: the highlighted text, the prediction and a
        legend."""
        return _fragment([self])

    def to_frame(self):
        """A tidy pandas DataFrame: unit, start, end, attribution."""
        import pandas as pd

        return pd.DataFrame(
            {
                "unit": self.units,
                "start": [s for s, _ in self.spans],
                "end": [e for _, e in self.spans],
                "attribution": self.attributions.tolist(),
            }
        )

    def plot(self) -> Figure:
        """A horizontal bar chart of the attributions, in reading order."""
        values = self.attributions.tolist()
        fig = Figure(figsize=(6, 0.3 * len(values) + 1.2))
        ax = fig.add_subplot(1, 1, 1)
        ax.barh(range(len(values)), values, color=bar_colours(values))
        ax.set_yticks(range(len(values)), self.units)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(f"{self.method}: {self.label} ({self.probability:.2f})", fontsize=10)
        fig.tight_layout()
        return fig

    def _manifest_extra(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "units": self.units,
            "granularity": self.granularity,
        }

    def _write(self, path: Path) -> None:
        """``<stem>.html``: the highlighted text."""
        path.write_text(render_html([self]), encoding="utf-8")


def render_html(explanations: list[TextExplanation]) -> str:
    """Several explanations as one self-contained HTML page: one table row per text."""
    method = explanations[0].method if explanations else ""
    return html_page(_fragment(explanations), title=f"perspicio: {method}")


def _fragment(explanations: list[TextExplanation]) -> str:
    """The explanations' table (one row per text) with its style and legend."""
    rows = []
    for e in explanations:
        delta = "" if e.convergence_delta is None else f"<br>delta {e.convergence_delta:.2g}"
        rows.append(
            f"<tr><td>{e.highlighted()}</td><td>{html.escape(e.label)}</td>"
            f"<td>{e.probability:.3f}</td><td>{html.escape(e.predicted_label)} "
            f"({e.predicted_score:.3f}){delta}</td></tr>"
        )
    method = html.escape(explanations[0].method) if explanations else ""
    legend = (
        f'<p class="pe-legend"><span style="background:{diverging_colour(1, opacity=(0.6, 0.6))}">'
        "supports the label</span>"
        f'<span style="background:{diverging_colour(-1, opacity=(0.6, 0.6))}">speaks against it'
        "</span>hover a word for its score</p>"
    )
    return (
        f'<div class="perspicio-explanation">{_STYLE}<h3>{method}</h3>{legend}<table class="pe">'
        "<tr><th>text</th><th>explained label</th><th>probability</th><th>prediction</th></tr>"
        f"{''.join(rows)}</table></div>"
    )
