"""The result of ``vision.explain``: attributions plus everything needed to show and trace them."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor, nn

from perspicio.core.explanation import Explanation, fingerprint_of
from perspicio.core.page import data_uri, png_bytes

from . import visualize


@dataclass
class ImageExplanation(Explanation):
    """Attributions of one image for one or more targets.

    ``attributions``: ``(K, C or 1, H, W)``, one row per explained target; ``image``:
    ``(1, C, H, W)`` display pixels in [0, 1]; ``labels`` and ``scores`` (the predicted
    probability of each target) are also :attr:`target_labels` and :attr:`target_scores`.
    """

    modality = "image"
    reports_prediction = True
    main_suffix = ".png"
    side_suffixes = (".npy",)

    attributions: Tensor
    image: Tensor
    targets: list[int]
    labels: list[str]
    scores: list[float]
    method: str
    parameters: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)
    sign: str = "all"
    #: a detector's explained object, ``(x0, y0, x1, y1)`` per target (drawn on the pictures)
    boxes: list[tuple[float, float, float, float]] | None = None

    def plot(
        self, kind: str = "blended", sign: str | None = None, outlier_perc: float = 2.0
    ) -> Figure:
        """The image and one panel per target: ``kind`` is ``"blended"``, ``"heat_map"``,
        ``"masked"`` or ``"alpha"``. Returns a matplotlib Figure."""
        draw = {
            "blended": lambda a, ax: visualize.blended_heat_map(
                a, self.image, sign or self.sign, ax=ax, outlier_perc=outlier_perc, colorbar=False
            ),
            "heat_map": lambda a, ax: visualize.heat_map(
                a, sign or self.sign, outlier_perc, ax=ax, colorbar=False
            ),
            "masked": lambda a, ax: visualize.masked_image(
                a, self.image, sign or "positive", outlier_perc, ax=ax
            ),
            "alpha": lambda a, ax: visualize.alpha_scaling(
                a, self.image, sign or "positive", outlier_perc, ax=ax
            ),
        }
        if kind not in draw:
            raise ValueError(f"`kind` must be one of {sorted(draw)}, got {kind!r}")
        k = len(self.targets)
        fig = Figure(figsize=(3.2 * (k + 1), 3.4))
        axes = fig.subplots(1, k + 1)
        visualize.original_image(self.image, title="input", ax=axes[0])
        for i, ax in enumerate(axes[1:]):
            draw[kind](self.attributions[i], ax)
            ax.set_title(f"{self.method}\n{self.labels[i]} ({self.scores[i]:.2f})", fontsize=9)
        for x0, y0, x1, y1 in self.boxes or ():
            for ax in axes:
                ax.add_patch(
                    Rectangle(
                        (x0 - 0.5, y0 - 0.5),
                        x1 - x0,
                        y1 - y0,
                        fill=False,
                        edgecolor="yellow",
                        linewidth=1.5,
                    )
                )
        fig.tight_layout()
        return fig

    def to_html(self) -> str:
        """A self-contained HTML fragment: the figure (embedded PNG) and a table."""
        picture = data_uri(self.plot(), dpi=100, tight=False)
        rows = "".join(
            f"<tr><td>{t}</td><td>{html.escape(str(label))}</td><td>{score:.4f}</td></tr>"
            for t, label, score in zip(self.targets, self.labels, self.scores)
        )
        delta = (
            ""
            if self.convergence_delta is None
            else (f"<p>convergence delta: {float(self.convergence_delta.abs().max()):.3g}</p>")
        )
        return (
            f'<div class="perspicio-explanation"><h3>{html.escape(self.method)}</h3>'
            f'<img alt="explanation" src="{picture}"/>'
            f"<table><tr><th>target</th><th>label</th><th>probability</th></tr>{rows}</table>"
            f"{delta}</div>"
        )

    @property
    def target_labels(self) -> list[str]:
        return self.labels

    @property
    def target_scores(self) -> list[float]:
        return self.scores

    @property
    def model_fingerprint(self) -> str | None:  # type: ignore[override]
        return fingerprint_of(self.model)

    def _write(self, path: Path) -> None:
        """``<stem>.png`` (the figure) and ``<stem>.npy`` (the raw attributions)."""
        import numpy as np

        path.write_bytes(png_bytes(self.plot(), dpi=100, tight=False))
        np.save(path.with_suffix(".npy"), self.attributions.detach().cpu().numpy())
