"""What every explanation shares, whatever its modality.

An image's heat map, a sentence's highlighted words, a table's waterfall and a prompt's
token matrix are each an :class:`Explanation`: the same names for the same things
(``method``, ``targets`` with their ``target_labels`` and the model's ``target_scores``,
``attributions``, ``parameters``, ``model_fingerprint``), ``plot()`` returning a matplotlib
Figure, ``to_html()`` with every piece of user text escaped, ``save(path)`` writing the
same manifest for every modality, and a one-line ``summary``. A subclass adds what is its
own (a heat map, highlighted tokens, a waterfall) and says how it draws and writes itself.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from ._fingerprint import model_fingerprint


def figure_data_uri(fig: Any, dpi: int = 80) -> str:
    """A matplotlib Figure as a ``data:image/png;base64,...`` URI, for self-contained HTML."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def fingerprint_of(model: Any) -> str | None:
    """The weights' fingerprint of a torch module; None for a plain function."""
    return model_fingerprint(model) if isinstance(model, torch.nn.Module) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (int, float, str, bool, type(None))) for v in value
    ):
        return list(value)
    return repr(value)


class Explanation:
    """The base of every explanation perspicio returns.

    A subclass provides ``method``, ``attributions``, ``parameters``, ``targets``,
    ``target_labels``, ``target_scores`` (attributes or properties), and implements
    :meth:`plot`, :meth:`to_html` and :meth:`_write` (its main file).
    """

    #: the kind of input explained, written in the manifest
    modality: ClassVar[str] = "generic"

    method: str
    attributions: Tensor
    parameters: dict[str, Any]
    targets: list[Any]
    target_labels: list[str]
    target_scores: list[float]

    #: the fingerprint of the explained model's weights (None for a plain function)
    model_fingerprint: str | None = None

    # --------------------------------------------------------------- showing
    def plot(self, *args: Any, **kwargs: Any) -> Any:
        """The explanation as a matplotlib Figure."""
        raise NotImplementedError

    def to_html(self) -> str:
        """A self-contained HTML view; every piece of user text is escaped."""
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.to_html()

    def top_features(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` named features with the largest attributions to the first target, by
        magnitude (empty where features have no names, as an image's pixels)."""
        return []

    @property
    def summary(self) -> str:
        """One line: the method, what it explains, the model's score and the features that
        weigh most."""
        label = self.target_labels[0] if self.target_labels else "the output"
        score = self.target_scores[0] if self.target_scores else None
        line = f"{self.method}: {label}"
        if score is not None:
            line += f" (score {score:.3g})"
        more = len(self.targets) - 1
        if more > 0:
            line += f" and {more} more"
        top = self.top_features()
        if top:
            line += "; largest: " + ", ".join(f"{name} ({value:+.3g})" for name, value in top)
        return line

    # ---------------------------------------------------------------- saving
    def manifest(self) -> dict[str, Any]:
        """What produced this explanation: method, parameters, targets, model, versions."""
        import perspicio

        shape = self.attributions.shape if isinstance(self.attributions, Tensor) else None
        return {
            "modality": self.modality,
            "method": self.method,
            "parameters": {k: _json_safe(v) for k, v in self.parameters.items()},
            "targets": [_json_safe(t) for t in self.targets],
            "target_labels": [str(t) for t in self.target_labels],
            "target_scores": [None if s is None else float(s) for s in self.target_scores],
            "attribution_shape": None if shape is None else list(shape),
            "model_fingerprint": self.model_fingerprint,
            "perspicio_version": perspicio.__version__,
            "torch_version": torch.__version__,
            **self._manifest_extra(),
        }

    def _manifest_extra(self) -> dict[str, Any]:
        """What a modality adds to the manifest."""
        return {}

    def _write(self, path: Path) -> Path:
        """Write the main file (a picture or a page) for ``path``; return its path."""
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        """Write the main file (see the subclass), ``<stem>.pt`` (the attributions) and
        ``<stem>.json`` (the manifest) next to ``path``; returns the main file's path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        main = self._write(path)
        if isinstance(self.attributions, Tensor):
            torch.save(self.attributions.detach().cpu(), main.with_suffix(".pt"))
        main.with_suffix(".json").write_text(json.dumps(self.manifest(), indent=2),
                                             encoding="utf-8")  # fmt: skip
        return main
