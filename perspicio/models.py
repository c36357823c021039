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
