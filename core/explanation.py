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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor

from ._engine.fingerprint import model_fingerprint


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


def _files_listed(manifest: Path) -> set[str]:
    """The names an earlier :meth:`Explanation.save` listed in its manifest (empty where there
    is none, or the file is not one of perspicio's manifests)."""
    try:
        written = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(written, dict) or "perspicio_version" not in written:
        return set()
    files = written.get("files")
    if not isinstance(files, list):
        return set()
    return {f for f in files if isinstance(f, str) and "/" not in f and "\\" not in f}


def _delta_json(delta: Any) -> Any:
    """A convergence delta as JSON: a tensor's values as a list, a number as a number."""
    if isinstance(delta, Tensor):
        return [float(d) for d in delta.reshape(-1)]
    return None if delta is None else float(delta)


@dataclass(kw_only=True, eq=False, repr=False)
class _Prediction:
    """The model's own prediction beside the explained targets, and the method's
    convergence delta: keyword fields every explanation has (None where they do not apply)."""

    #: the model's top class for the input, its name and its score
    predicted: int | None = None
    predicted_label: str | None = None
    predicted_score: float | None = None
    #: how far the attributions are from adding up (a method that reports it), else None
    convergence_delta: Any = None


class Explanation(_Prediction):
    """The base of every explanation perspicio returns.

    A subclass provides ``method``, ``attributions``, ``parameters``, ``targets``,
    ``target_labels``, ``target_scores`` (attributes or properties), and implements
    :meth:`plot`, :meth:`to_html` and :meth:`_write` (its main file), naming the main file's
    suffix and the suffixes of what it writes beside it (``main_suffix``, ``side_suffixes``)
    so that :meth:`save` knows every file before it writes one.

    The model's prediction (``predicted``, ``predicted_label``, ``predicted_score``) and the
    ``convergence_delta`` are keyword fields of every explanation; a subclass that reports a
    prediction sets :attr:`reports_prediction`, and the manifest writes them.
    """

    #: whether the manifest states the model's prediction and the convergence delta
    reports_prediction: ClassVar[bool] = False

    #: the kind of input explained, written in the manifest
    modality: ClassVar[str] = "generic"
    #: the suffix of the main file :meth:`save` writes (None: the path as given)
    main_suffix: ClassVar[str | None] = None
    #: the suffixes of the files :meth:`_write` writes beside the main file
    side_suffixes: ClassVar[tuple[str, ...]] = ()

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
        """A self-contained HTML fragment (pictures embedded); every piece of user text is
        escaped. :func:`perspicio.core.page.html_page` makes a whole page of it."""
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
            **(self._prediction_manifest() if self.reports_prediction else {}),
        }

    def _prediction_manifest(self) -> dict[str, Any]:
        return {
            "convergence_delta": _delta_json(self.convergence_delta),
            "predicted": self.predicted,
            "predicted_label": self.predicted_label,
            "predicted_score": self.predicted_score,
        }

    def _manifest_extra(self) -> dict[str, Any]:
        """What a modality adds to the manifest."""
        return {}

    def _write(self, path: Path) -> None:
        """Write the main file (a picture or a page) at ``path`` and the files of
        ``side_suffixes`` beside it."""
        raise NotImplementedError

    def saved_files(self, path: str | Path) -> list[Path]:
        """The files :meth:`save` writes for ``path``: the main file first (``path``, its
        suffix made ``main_suffix``), then the subclass's side files, ``<stem>.pt`` (the
        attributions) and ``<stem>.json`` (the manifest, which lists them all)."""
        path = Path(path)
        suffix = self.main_suffix
        main = path if suffix is None or path.suffix.lower() == suffix else path.with_suffix(suffix)
        side = list(self.side_suffixes)
        side += [".pt"] if isinstance(self.attributions, Tensor) else []
        files = [main, *(main.with_suffix(s) for s in [*side, ".json"])]
        if len(set(files)) < len(files):
            raise ValueError(
                f"`path` {str(path)!r}: the main file would be overwritten by a file saved "
                f"beside it ({', '.join(s for s in side + ['.json'])}); give another suffix"
            )
        return files

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the main file (see the subclass) and the files beside it.

        Parameters
        ----------
        path : str or Path
            The main file; its suffix is made the subclass's (``.png`` for an image,
            ``.html`` for a page). Beside it go the subclass's own files (an image's
            ``.npy``, a table's ``.csv``), ``<stem>.pt`` (the attributions) and
            ``<stem>.json`` (the manifest, whose ``"files"`` lists every file written).
        overwrite : bool
            Replace existing files. Without it, :meth:`save` replaces only the file named by
            ``path`` itself and the files an earlier save listed in ``<stem>.json``; any
            other existing file (a user's ``patients.csv`` beside ``patients.html``) stops it
            before anything is written.

        Returns
        -------
        Path
            The main file.

        Raises
        ------
        FileExistsError
            Another existing file would be replaced, and ``overwrite`` is False.

        Examples
        --------
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> from perspicio.core import LLMAttributionResult
        >>> result = LLMAttributionResult(input_tokens=["Paris"], output_tokens=["Rome"],
        ...                               seq_attr=[1.0], method="FeatureAblation")
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "answer.json").write_text("{}")  # a file of the user's
        >>> result.save(folder / "answer.html")
        Traceback (most recent call last):
        ...
        FileExistsError: `path` '.../answer.html': saving would replace .../answer.json, ...
        >>> main = result.save(folder / "answer.html", overwrite=True)
        >>> json.loads(main.with_suffix(".json").read_text())["files"]
        ['answer.html', 'answer.pt', 'answer.json']
        >>> result.save(main).name  # again: what the earlier save listed is replaced
        'answer.html'
        """
        files = self.saved_files(path)
        main, manifest_path = files[0], files[-1]
        if not overwrite:
            ours = _files_listed(manifest_path)
            taken = [
                f
                for f in files
                if f.exists() and not (f == Path(path) and f == main) and f.name not in ours
            ]
            if taken:
                names = ", ".join(str(f) for f in taken)
                raise FileExistsError(
                    f"`path` {str(path)!r}: saving would replace {names}, which an earlier "
                    "save did not write; pass overwrite=True to replace it, or save under "
                    "another name"
                )
        main.parent.mkdir(parents=True, exist_ok=True)
        self._write(main)
        if isinstance(self.attributions, Tensor):
            torch.save(self.attributions.detach().cpu(), main.with_suffix(".pt"))
        manifest = {**self.manifest(), "files": [f.name for f in files]}
        manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return main
