"""Loading a user's model file, the one way the app, the command line and the vision front end
do it: TorchScript, or a state dict read with ``torch.load(..., weights_only=True)`` into a
known architecture. A pickled module (arbitrary code) is never unpickled.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

#: The largest model file accepted from an upload.
MAX_UPLOAD_MB = 200


def _read(source: str | Path | bytes | BinaryIO, name: str) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, (str, Path)):
        if not Path(source).is_file():
            raise FileNotFoundError(f"{name}: no such file: {source}")
        return Path(source).read_bytes()
    if hasattr(source, "getvalue"):  # an upload (BytesIO, Streamlit's UploadedFile)
        return source.getvalue()
    if hasattr(source, "read"):
        return source.read()
    raise TypeError(f"{name} must be a path, bytes or a file object, got {type(source).__name__}")


def load_model_file(
    source: str | Path | bytes | BinaryIO,
    architecture: Callable[[], nn.Module] | None = None,
    *,
    name: str = "`model`",
    max_mb: float | None = None,
) -> nn.Module:
    """A model from a file, in eval mode.

    Parameters
    ----------
    source : path, bytes or file object
        A TorchScript archive, or (with ``architecture``) a state dict, optionally saved as
        ``{"state_dict": ...}``.
    architecture : callable, optional
        Builds the module the state dict is loaded into; without it only TorchScript is read.
    name : str
        How error messages name the file (``"--model"`` on the command line).
    max_mb : float, optional
        Refuse larger files (uploads).

    Examples
    --------
    >>> import io, torch
    >>> buffer = io.BytesIO()
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), buffer)
    >>> load_model_file(buffer.getvalue(), lambda: torch.nn.Linear(2, 1)).training
    False
    """
    data = _read(source, name)
    if max_mb is not None and len(data) > max_mb * 2**20:
        raise ValueError(f"{name}: the file is larger than {max_mb:g} MB")
    try:
        return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    except Exception as err:  # noqa: BLE001 - not TorchScript: a state dict, if allowed
        if architecture is None:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"{name}: {_describe(source)} is not a TorchScript model ({first})"
                             ) from None  # fmt: skip
    state: Any = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{name}: {_describe(source)} is neither TorchScript nor a state dict")
    model = architecture()
    model.load_state_dict(state)
    return model.eval()


def _describe(source: Any) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "the file")


__all__ = ["MAX_UPLOAD_MB", "load_model_file"]


#: tree model files: XGBoost's JSON or UBJSON, LightGBM's text model, scikit-learn via skops
TREE_MODEL_SUFFIXES = (".json", ".ubj", ".txt", ".skops")


#: the module prefixes of the types a skops file may hold
SKOPS_TRUSTED_PREFIXES = ("sklearn.", "numpy.")


def load_tree_model_file(path: str | Path, *, name: str = "`model`") -> Any:
    """A tree model from a file its library saved, never by unpickling: XGBoost's
    ``save_model`` (``.json``/``.ubj``, as a ``Booster``), LightGBM's ``save_model``
    (``.txt``, as a ``Booster``) or a scikit-learn model saved with skops (``.skops``;
    only types skops trusts by default are loaded, anything else is refused)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such file: {path}")
    suffix = path.suffix.lower()
    if suffix not in TREE_MODEL_SUFFIXES:
        raise ValueError(
            f"{name}: {path.name} is not a tree model file; expected one of "
            f"{', '.join(TREE_MODEL_SUFFIXES)} (XGBoost, LightGBM, skops)"
        )
    try:
        if suffix in (".json", ".ubj"):
            import xgboost

            return xgboost.Booster(model_file=str(path))
        if suffix == ".txt":
            import lightgbm

            return lightgbm.Booster(model_file=str(path))
        from skops import io as skops_io

        # scikit-learn's and NumPy's own types (a tree's arrays) are trusted; any other
        # type (a user's class, a function) is refused
        untrusted = skops_io.get_untrusted_types(file=str(path))
        foreign = [t for t in untrusted if not t.startswith(SKOPS_TRUSTED_PREFIXES)]
        if foreign:
            raise ValueError(
                f"{name}: {path.name} holds types perspicio does not load "
                f"({', '.join(foreign[:5])}); only scikit-learn and NumPy types are trusted"
            )
        return skops_io.load(str(path), trusted=untrusted)
    except ImportError as err:
        raise ImportError(f"{name}: reading {suffix} files needs the `trees` extra "
                          f"(pip install 'perspicio[trees]'): {err}") from err  # fmt: skip


def load_tree_model_upload(data: bytes, filename: str, *, name: str = "the model file") -> Any:
    """:func:`load_tree_model_file` for uploaded bytes (the suffix of ``filename`` tells
    the format); the temporary file is removed."""
    import tempfile

    suffix = Path(filename).suffix.lower()
    if suffix not in TREE_MODEL_SUFFIXES:
        raise ValueError(
            f"{name}: {filename} is not a tree model file; expected one of "
            f"{', '.join(TREE_MODEL_SUFFIXES)} (XGBoost, LightGBM, skops)"
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model{suffix}"
        path.write_bytes(data)
        return load_tree_model_file(path, name=name)


def tree_columns(model: Any, columns: list[str]) -> list[str]:
    """The table's columns the tree model takes, in its order: by the names it stored
    (LightGBM stores "mean radius" as "mean_radius"), else all of ``columns``."""
    names = tree_feature_names(model)
    if names is None:
        return list(columns)
    by_name = {str(c).replace(" ", "_"): c for c in columns}
    return [n if n in columns else by_name.get(n, n) for n in names]


def tree_feature_names(model: Any) -> list[str] | None:
    """The column names a tree model was trained with, when it stored them."""
    for attr in ("feature_names_in_", "feature_names"):
        names = getattr(model, attr, None)
        if names is not None and not callable(names):
            return [str(n) for n in names]
    if callable(getattr(model, "feature_name", None)):  # LightGBM's Booster
        names = model.feature_name()
        if names and not all(n.startswith("Column_") for n in names):
            return list(names)
    return None
