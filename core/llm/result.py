"""What a text-generation attribution returns, with its plots and an HTML view."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import AttributionValueError
from ..explanation import Explanation, fingerprint_of
from ..page import diverging_colour, html_page


def _tensor(value: Any) -> Tensor | None:
    if value is None:
        return None
    return value if isinstance(value, Tensor) else torch.as_tensor(np.asarray(value))


def _rows(values: Tensor, position: int | tuple[int, int] | None) -> Tensor:
    """The sum over the target tokens ``position`` selects (all of them for None)."""
    if position is None:
        return values.sum(0)
    if isinstance(position, int):
        return values[position]
    start, stop = position
    return values[start:stop].sum(0)


def _figure(size: tuple[float, float], show: bool) -> Any:
    """A figure for the caller (not registered with pyplot unless it is to be shown)."""
    if show:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=size)
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def _show(show: bool) -> None:
    if show:
        import matplotlib.pyplot as plt

        plt.show()


class LLMAttributionResult(Explanation):
    """The attribution of a generated (or given) target to the features of a prompt.

    Attributes
    ----------
    input_tokens : list of str
        The prompt's features (template values or tokens), in order.
    output_tokens : list of str
        The target's tokens.
    seq_attr : Tensor ``(len(input_tokens),)``
        Each feature's attribution to the whole target (its log-probability by default).
    token_attr : Tensor ``(len(output_tokens), len(input_tokens))`` or None
        Row ``t``: each feature's attribution to target token ``t``.
    output_probs : Tensor ``(len(output_tokens),)`` or None
        Each target token's probability under the unperturbed prompt.
    method, parameters, model
        What produced the result (as every :class:`~perspicio.core.explanation.Explanation`
        states it); ``attributions`` is ``token_attr`` where there is one, else ``seq_attr``.

    Examples
    --------
    >>> from perspicio.core import LLMAttributionResult
    >>> res = LLMAttributionResult(input_tokens=["Ada", "Paris"], output_tokens=["Rome"],
    ...                            seq_attr=[0.1, 2.0], token_attr=[[0.1, 2.0]])
    >>> res.seq_attr_dict
    {'Ada': 0.1, 'Paris': 2.0}
    >>> fig, ax = res.plot_token_attr()
    """

    def __init__(
        self,
        *,
        input_tokens: list[str],
        output_tokens: list[str],
        seq_attr: Any,
        token_attr: Any = None,
        output_probs: Any = None,
        inp: Any = None,
        method: str = "",
        parameters: dict[str, Any] | None = None,
        model: Any = None,
    ) -> None:
        self.input_tokens = list(input_tokens)
        self.output_tokens = list(output_tokens)
        self.seq_attr = seq_attr
        self.token_attr = token_attr
        self.output_probs = output_probs
        self.inp = inp
        self.method = method
        self.parameters = dict(parameters or {})
        self._model = model
        #: ``(len(output_tokens), H, W)``: each target token's attribution to the image's
        #: pixels, where a gradient method went through the image (else None)
        self.image_attr: Tensor | None = None
        #: per target token, the attributions' sum minus the change of the explained value
        #: (where the method states it; else None)
        self.convergence_delta: Tensor | None = None

    modality = "generation"
    main_suffix = ".html"

    @property
    def model_fingerprint(self) -> str | None:  # type: ignore[override]
        return fingerprint_of(self._model)

    @property
    def attributions(self) -> Tensor:  # type: ignore[override]
        return self.seq_attr if self.token_attr is None else self.token_attr

    @property
    def targets(self) -> list[str]:  # type: ignore[override]
        return [" ".join(t.strip() for t in self.output_tokens)]

    @property
    def target_labels(self) -> list[str]:  # type: ignore[override]
        return self.targets

    @property
    def target_scores(self) -> list[float | None]:  # type: ignore[override]
        """The probability of the whole target under the unperturbed prompt (if known)."""
        if self.output_probs is None:
            return [None]
        return [float(self.output_probs.double().prod())]

    def top_features(self, k: int = 3) -> list[tuple[str, float]]:
        order = self.seq_attr.abs().argsort(descending=True)[:k].tolist()
        return [(self.input_tokens[i], float(self.seq_attr[i])) for i in order]

    def plot(self) -> Any:  # type: ignore[override]
        """The image heat map for an image input; else the token matrix where there is one,
        else the bars of ``seq_attr``: a Figure."""
        if hasattr(self.inp, "format_pixel_attr"):  # an image prompt
            return self.plot_image_heatmap()[0]
        return (self.plot_seq_attr if self.token_attr is None else self.plot_token_attr)()[0]

    def _manifest_extra(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}

    def _write(self, path: Any) -> None:
        """``<stem>.html``: the token table."""
        html_page(self.to_html(), title=f"perspicio: {self.method}", path=path)

    @property
    def seq_attr(self) -> Tensor:
        return self._seq_attr

    @seq_attr.setter
    def seq_attr(self, value: Any) -> None:
        self._seq_attr = _tensor(value)

    @property
    def token_attr(self) -> Tensor | None:
        return self._token_attr

    @token_attr.setter
    def token_attr(self, value: Any) -> None:
        self._token_attr = _tensor(value)

    @property
    def output_probs(self) -> Tensor | None:
        return self._output_probs

    @output_probs.setter
    def output_probs(self, value: Any) -> None:
        self._output_probs = _tensor(value)

    @property
    def seq_attr_dict(self) -> dict[str, float]:
        """``{input token: attribution}`` (a repeated token keeps its last value)."""
        return {k: float(v) for k, v in zip(self.input_tokens, self.seq_attr.tolist())}

    def __repr__(self) -> str:
        shape = None if self.token_attr is None else tuple(self.token_attr.shape)
        return (
            f"LLMAttributionResult(input_tokens={self.input_tokens}, output_tokens="
            f"{self.output_tokens}, seq_attr={self.seq_attr.tolist()}, token_attr shape {shape})"
        )

    # ------------------------------------------------------------------ plots
    def plot_token_attr(self, show: bool = False) -> tuple[Any, Any]:
        """Heat map of :attr:`token_attr` (target tokens x prompt features); returns
        ``(figure, axes)``."""
        if self.token_attr is None:
            raise AttributionValueError(
                "this result has no per-token attribution (token_attr is None): the method "
                "(Lime, KernelShap) only attributes the whole target; use plot_seq_attr()"
            )
        values = self.token_attr.detach().cpu().float().numpy()
        fig = _figure(
            (
                max(4, 0.6 * len(self.input_tokens) + 2),
                max(2.5, 0.45 * len(self.output_tokens) + 1.5),
            ),
            show,
        )
        ax = fig.add_subplot()
        bound = float(np.abs(values).max()) or 1.0
        image = ax.imshow(values, cmap="RdYlGn", vmin=-bound, vmax=bound, aspect="auto")
        fig.colorbar(image, ax=ax, label="attribution")
        ax.set_xticks(range(len(self.input_tokens)), self.input_tokens, rotation=60, ha="right")
        ax.set_yticks(range(len(self.output_tokens)), self.output_tokens)
        ax.set_xlabel("prompt")
        ax.set_ylabel("generated")
        if values.size <= 400:
            for (i, j), v in np.ndenumerate(values):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
        fig.tight_layout()
        _show(show)
        return fig, ax

    def plot_seq_attr(self, show: bool = False) -> tuple[Any, Any]:
        """Bar chart of :attr:`seq_attr` over the prompt's features; returns
        ``(figure, axes)``."""
        values = self.seq_attr.detach().cpu().float().numpy()
        fig = _figure((max(4, 0.6 * len(self.input_tokens) + 2), 3.2), show)
        ax = fig.add_subplot()
        colours = ["#2e8b57" if v >= 0 else "#c0392b" for v in values]
        ax.bar(range(len(values)), values, color=colours)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(self.input_tokens)), self.input_tokens, rotation=60, ha="right")
        ax.set_ylabel("attribution to the target")
        fig.tight_layout()
        _show(show)
        return fig, ax

    def plot_image_heatmap(
        self,
        show: bool = False,
        target_token_pos: int | tuple[int, int] | None = None,
        border_width: int = 2,
        show_legends: bool = True,
    ) -> tuple[Any, Any] | None:
        """The image of an :class:`~perspicio.core.ImageMaskInput` in grey under each
        pixel's attribution (red against, green for; a pixel in overlapping segments shows
        their sum), each segment bordered and labelled with its id.

        Parameters
        ----------
        show : bool, default False
            Show the figure (and return None) instead of returning ``(figure, axes)``.
        target_token_pos : int or (int, int), optional
            Attribute the whole target (None), target token ``t``, or the sum over tokens
            ``m .. n-1``.
        border_width : int, default 2
            Width of each segment's border in pixels (0: none).
        show_legends : bool, default True
            Write each segment's id at its centroid.

        Examples
        --------
        >>> import torch
        >>> from PIL import Image
        >>> from perspicio.core import ImageMaskInput, LLMAttributionResult
        >>> inp = ImageMaskInput(Image.new("RGB", (4, 4)), mask=torch.arange(16).reshape(4, 4) // 8)
        >>> res = LLMAttributionResult(input_tokens=inp.values, output_tokens=["red"],
        ...                            seq_attr=[0.2, -0.1], inp=inp)
        >>> fig, ax = res.plot_image_heatmap()
        """
        if not hasattr(self.inp, "format_pixel_attr"):
            raise AttributionValueError(
                "plot_image_heatmap needs a result of an ImageMaskInput, got one of "
                f"{type(self.inp).__name__}; use plot_token_attr() or plot_seq_attr()"
            )
        if self.image_attr is not None:  # the gradient path: pixels, not segments
            from . import _image_plots

            return _image_plots.pixel_heatmap(
                self.inp, _rows(self.image_attr, target_token_pos), show
            )
        if target_token_pos is None:
            attr = self.seq_attr
        elif self.token_attr is None:
            raise AttributionValueError(
                f"`target_token_pos` is {target_token_pos!r}, but this result has no "
                "per-token attribution (Lime, KernelShap): use target_token_pos=None"
            )
        elif isinstance(target_token_pos, int):
            attr = self.token_attr[target_token_pos]
        else:
            start, stop = target_token_pos
            attr = self.token_attr[start:stop].sum(0)
        from . import _image_plots

        return _image_plots.image_heatmap(self.inp, attr, show, border_width, show_legends)

    # ------------------------------------------------------------------- HTML
    def to_html(self) -> str:
        """A self-contained HTML table: prompt features x generated tokens, coloured by
        attribution (green for, red against); every token is escaped."""
        rows = [self.seq_attr] if self.token_attr is None else list(self.token_attr)
        labels = ["(all)"] if self.token_attr is None else self.output_tokens
        bound = max(float(self.seq_attr.abs().max()), 1e-12)
        if self.token_attr is not None:
            bound = max(float(self.token_attr.abs().max()), 1e-12)

        def cell(v: float) -> str:
            colour = diverging_colour(v, bound)
            return f'<td style="background:{colour}" title="{v:.4g}">{v:.3f}</td>'

        head = "".join(f"<th>{html.escape(t)}</th>" for t in self.input_tokens)
        body = []
        for label, row in zip(labels, rows):
            prob = ""
            if self.output_probs is not None and self.token_attr is not None:
                prob = f" <small>(p={float(self.output_probs[len(body)]):.2f})</small>"
            cells = "".join(cell(float(v)) for v in row.tolist())
            body.append(f"<tr><th>{html.escape(label)}{prob}</th>{cells}</tr>")
        total = "".join(cell(float(v)) for v in self.seq_attr.tolist())
        return (
            '<table class="perspicio-llm" style="border-collapse:collapse;font-family:sans-serif">'
            f"<tr><th>generated \\ prompt</th>{head}</tr>{''.join(body)}"
            f"<tr><th>whole target</th>{total}</tr></table>"
        )
