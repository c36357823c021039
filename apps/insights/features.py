"""The kinds of input an explored model takes, each knowing how to prepare and show itself.

A feature names one input tensor of the model and says how to turn the dataset's raw tensor
into the model's input (``input_transforms``), which references to attribute against
(``baseline_transforms``), and how to show the input and its attribution.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from perspicio.core.page import NEGATIVE, POSITIVE, data_uri


@dataclass
class FeatureView:
    """What the explorer shows for one feature of one example: the feature's name and kind,
    its share of the total attribution, and a self-contained HTML fragment."""

    name: str
    kind: str
    contribution: float
    html: str


def _apply(transforms: Sequence[Callable] | Callable | None, x: Tensor) -> Tensor:
    if transforms is None:
        return x
    for t in transforms if isinstance(transforms, (list, tuple)) else [transforms]:
        x = t(x)
    return x


def _png(fig: Any) -> str:
    return data_uri(fig, dpi=72)


@dataclass
class BaseFeature:
    """One model input: ``name``, the transforms from raw data to the model's input, the
    baselines to attribute against, and an optional transform for display."""

    name: str
    baseline_transforms: Sequence[Callable] | Callable | None = None
    input_transforms: Sequence[Callable] | Callable | None = None
    visualization_transform: Callable | None = None
    kind: str = field(default="general", init=False)

    def prepare(self, raw: Tensor) -> Tensor:
        """The model's input from the dataset's raw tensor."""
        return _apply(self.input_transforms, raw)

    def baseline(self, prepared: Tensor) -> Tensor | float:
        """The reference for the prepared input: the mean of the baseline transforms'
        outputs, or zeros."""
        fns = self.baseline_transforms
        if fns is None:
            return torch.zeros_like(prepared)
        fns = fns if isinstance(fns, (list, tuple)) else [fns]
        outs = [torch.as_tensor(f(prepared), dtype=prepared.dtype) for f in fns]
        return torch.stack([o.expand_as(prepared) for o in outs]).mean(0)

    def view(self, raw: Tensor, attribution: Tensor, contribution: float) -> FeatureView:
        """How the explorer shows this feature's attribution (overridden per kind)."""
        raise NotImplementedError


@dataclass
class ImageFeature(BaseFeature):
    """An image input (``C x H x W`` per example): shown as the picture and a heat map."""

    kind: str = field(default="image", init=False)

    def view(self, raw: Tensor, attribution: Tensor, contribution: float) -> FeatureView:
        from perspicio.core import visualization as viz

        shown = self.visualization_transform(raw) if self.visualization_transform else raw
        fig, axes = viz.visualize_image_attr_multiple(
            attribution.detach().cpu(),
            shown.detach().cpu(),
            ["original_image", "heat_map"],
            ["all", "absolute_value"],
            titles=[self.name, "attribution"],
            fig_size=(6, 3),
            use_pyplot=False,
        )
        page = f'<img alt="{html.escape(self.name)} attribution" src="{_png(fig)}"/>'
        return FeatureView(self.name, self.kind, contribution, page)


@dataclass
class TextFeature(BaseFeature):
    """A token input: ``visualization_transform`` maps the raw ids to the words shown."""

    kind: str = field(default="text", init=False)

    def view(self, raw: Tensor, attribution: Tensor, contribution: float) -> FeatureView:
        from perspicio.core.visualization import _tokens_html

        words = (
            self.visualization_transform(raw)
            if self.visualization_transform
            else [str(int(t)) for t in raw.reshape(-1)]
        )
        scores = attribution.detach().cpu()
        scores = scores.reshape(scores.shape[0], -1).sum(1) if scores.dim() > 1 else scores
        return FeatureView(self.name, self.kind, contribution, _tokens_html(words, scores))


@dataclass(init=False)
class GeneralFeature(BaseFeature):
    """A vector of named values (``categories``): shown as a bar per value. Takes
    ``(name, categories)`` as Captum's does."""

    categories: Sequence[str] = ()
    kind: str = field(default="general", init=False)

    def __init__(
        self,
        name: str,
        categories: Sequence[str],
        baseline_transforms: Any = None,
        input_transforms: Any = None,
    ) -> None:
        super().__init__(name, baseline_transforms, input_transforms, None)
        self.categories = list(categories)

    def view(self, raw: Tensor, attribution: Tensor, contribution: float) -> FeatureView:
        values = attribution.detach().cpu().reshape(-1).tolist()
        names = list(self.categories) or [str(i) for i in range(len(values))]
        peak = max((abs(v) for v in values), default=0.0) or 1.0
        bars = "".join(
            f'<div class="bar"><span>{html.escape(str(n))}</span>'
            f'<span style="display:inline-block;width:{100 * abs(v) / peak:.0f}px;'
            f'background:{POSITIVE if v >= 0 else NEGATIVE}">&nbsp;</span> {v:+.3f}</div>'
            for n, v in zip(names, values)
        )
        return FeatureView(self.name, self.kind, contribution, bars)
