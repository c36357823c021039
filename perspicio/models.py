"""Loading a user's model file, the one way the app, the command line and the vision front end
do it, without running code from the file by default: a state dict read with
``torch.load(..., weights_only=True)`` or from a safetensors file into a known architecture,
and tree models in their libraries' own formats (scikit-learn's through skops, with an
explicit list of trusted types). A pickled module is never unpickled; a TorchScript archive
(code, run when it is loaded) only when whoever runs perspicio opts in
(``trust_torchscript=True``, ``--trust-torchscript``).
"""

from __future__ import annotations

import importlib.util
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

#: The largest model file accepted from an upload, in MB.
MAX_UPLOAD_MB = 200

#: The environment variable ``perspicio app --trust-torchscript`` sets ("1") for the app: the
#: operator's opt-in to loading uploaded TorchScript archives.
TRUST_TORCHSCRIPT_ENV = "PERSPICIO_TRUST_TORCHSCRIPT"

#: What a TorchScript refusal says: why, and how whoever runs perspicio opts in.
TORCHSCRIPT_REFUSAL = (
    "is a TorchScript archive. TorchScript is code, run when the file is loaded, so perspicio "
    "loads it only when whoever runs perspicio trusts the file: "
    "`load_model_file(..., trust_torchscript=True)`, `perspicio explain image ... "
    "--trust-torchscript` or `perspicio app --trust-torchscript`. Otherwise save the weights "
    "instead (`torch.save(model.state_dict(), path)` or safetensors) and give the architecture"
)


def check_upload_size(n_bytes: int, max_mb: float, name: str = "the file") -> None:
    """Refuse a file of ``n_bytes`` bytes larger than ``max_mb`` MB (``2**20`` bytes each).

    The one size check of the loaders and of every upload of the app.

    Parameters
    ----------
    n_bytes : int
        The file's size in bytes.
    max_mb : float
        The largest size accepted, in MB.
    name : str
        How the error message names the file.

    Raises
    ------
    ValueError
        Naming the file, its size and the limit.

    Examples
    --------
    >>> check_upload_size(1_000, max_mb=1)
    >>> check_upload_size(3 * 2**20, max_mb=2, name="data.csv")
    Traceback (most recent call last):
    ...
    ValueError: data.csv: the file is larger than 2 MB (3 MB); perspicio accepts at most 2 MB
    """
    if n_bytes > max_mb * 2**20:
        raise ValueError(
            f"{name}: the file is larger than {max_mb:g} MB ({n_bytes / 2**20:.3g} MB); "
            f"perspicio accepts at most {max_mb:g} MB"
        )


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


def is_torchscript(data: bytes) -> bool:
    """Whether ``data`` is a TorchScript archive, told without loading it: a zip archive
    whose folder holds ``constants.pkl`` or a ``code/`` folder (what ``torch.jit.save``
    writes and ``torch.save`` does not).

    Examples
    --------
    >>> import io, torch
    >>> buffer = io.BytesIO()
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), buffer)
    >>> is_torchscript(buffer.getvalue())
    False
    """
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    for entry in names:
        parts = entry.split("/")
        if len(parts) >= 2 and (parts[1] == "constants.pkl" or parts[1] == "code"):
            return True
    return False


def is_safetensors(data: bytes) -> bool:
    """Whether ``data`` looks like a safetensors file: an 8-byte little-endian header length,
    then a JSON header that fits in the file.

    Examples
    --------
    >>> is_safetensors(b"PK\\x03\\x04")
    False
    """
    if len(data) < 10:
        return False
    size = int.from_bytes(data[:8], "little")
    return 2 <= size <= len(data) - 8 and data[8:9] == b"{"


def _safetensors_state(data: bytes, name: str) -> dict[str, torch.Tensor]:
    if importlib.util.find_spec("safetensors") is None:
        raise ImportError(
            f"{name}: reading a safetensors file needs the `safetensors` package "
            "(pip install safetensors, or pip install 'perspicio[vision]')"
        )
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as err:  # noqa: BLE001 - the library's own parse errors, reworded
        raise ValueError(f"{name}: not a readable safetensors file ({err})") from None


def load_model_file(
    source: str | Path | bytes | BinaryIO,
    architecture: Callable[[], nn.Module] | None = None,
    *,
    name: str = "`model`",
    max_mb: float | None = None,
    trust_torchscript: bool = False,
) -> nn.Module:
    """A model from a file, in eval mode, running no code from the file by default.

    Parameters
    ----------
    source : path, bytes or file object
        With ``architecture``: a state dict saved by ``torch.save`` (optionally as
        ``{"state_dict": ...}``), read with ``torch.load(..., weights_only=True)``, or a
        safetensors file (needs the ``safetensors`` package). With ``trust_torchscript``: a
        TorchScript archive as well.
    architecture : callable, optional
        Builds the module the state dict is loaded into.
    name : str
        How error messages name the file (``"--model"`` on the command line).
    max_mb : float, optional
        Refuse larger files (uploads).
    trust_torchscript : bool
        Load TorchScript archives too. TorchScript is code, run when the archive is loaded:
        only for files whoever runs perspicio trusts. Without it a TorchScript archive is
        refused with a message saying so (it is recognised without being loaded).

    Returns
    -------
    torch.nn.Module
        The model, in eval mode.

    Raises
    ------
    ValueError
        A TorchScript archive without ``trust_torchscript``, a file that is neither a state
        dict nor safetensors, a state dict without ``architecture``, or a file over ``max_mb``.

    Examples
    --------
    >>> import io, torch
    >>> buffer = io.BytesIO()
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), buffer)
    >>> load_model_file(buffer.getvalue(), lambda: torch.nn.Linear(2, 1)).training
    False
    >>> scripted = io.BytesIO()
    >>> torch.jit.save(torch.jit.script(torch.nn.Linear(2, 1)), scripted)
    >>> load_model_file(scripted.getvalue(), name="model.pt")
    Traceback (most recent call last):
    ...
    ValueError: model.pt: the file is a TorchScript archive. TorchScript is code, ...
    >>> load_model_file(scripted.getvalue(), trust_torchscript=True).training
    False
    """
    data = _read(source, name)
    if max_mb is not None:
        check_upload_size(len(data), max_mb, name)
    if is_torchscript(data):
        if not trust_torchscript:
            raise ValueError(f"{name}: {_describe(source)} {TORCHSCRIPT_REFUSAL}")
        return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    kind = "safetensors file" if is_safetensors(data) else "state dict"
    if architecture is None:
        raise ValueError(
            f"{name}: {_describe(source)} is not a TorchScript model; a {kind} needs the "
            "architecture it was saved from"
            + ("" if trust_torchscript else " (and TorchScript is read only when trusted)")
        )
    if kind == "safetensors file":
        state: Any = _safetensors_state(data, name)
    else:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{name}: {_describe(source)} is neither a state dict nor safetensors")
    model = architecture()
    model.load_state_dict(state)
    return model.eval()


def _describe(source: Any) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    return getattr(source, "name", "the file")


#: tree model files: XGBoost's JSON or UBJSON, LightGBM's text model, scikit-learn via skops
TREE_MODEL_SUFFIXES = (".json", ".ubj", ".txt", ".skops")


#: Every type a ``.skops`` file may hold, by its full name: the scikit-learn tree models
#: perspicio explains exactly (decision trees, random forests, extra trees, gradient boosting
#: and histogram gradient boosting, classifiers and regressors), the types inside them (their
#: trees, losses, links, initial estimators, label encoder and binner), NumPy's arrays,
#: scalars and random generators, and the plain containers. Found by saving each model (every
#: loss, binary, multiclass and string labels, NumPy and DataFrame inputs, missing values)
#: and listing the types of its file, with scikit-learn 1.9 and skops 0.16. A file holding any
#: other type (another estimator, a pipeline, a function, a class of the user's) is refused,
#: naming the type; private module paths may move between scikit-learn versions.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (
    # the models
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._ridge.Ridge",
    # pipelines and their preprocessing (a FunctionTransformer's function is a node of its
    # own, refused unless trusted: a fitted ColumnTransformer's "passthrough" has none)
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._data.MaxAbsScaler",
    "sklearn.preprocessing._data.RobustScaler",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.impute._base.MissingIndicator",
    # what they hold
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.PinballLoss",
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyExponentialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfGammaLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHuberLoss",
    "sklearn._loss._loss.CyPinballLoss",
    "sklearn._loss.link.HalfLogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    # NumPy
    "numpy.ndarray",
    "numpy.float32",
    "numpy.float64",
    "numpy.int32",
    "numpy.int64",
    "numpy.uint64",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    # plain values and containers
    "builtins.bool",
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.NoneType",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
)


def skops_types(path: str | Path) -> list[str]:
    """The full names of every type a ``.skops`` file holds, read from its schema without
    loading anything (each node of the schema names its ``__module__`` and ``__class__``).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from skops import io as skops_io
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> model = DecisionTreeRegressor(max_depth=1).fit(np.eye(3), [0.0, 1.0, 2.0])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     skops_io.dump(model, f"{folder}/m.skops")
    ...     types = skops_types(f"{folder}/m.skops")
    >>> "sklearn.tree._tree.Tree" in types and set(types) <= set(SKOPS_TRUSTED_TYPES)
    True
    """
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise ValueError(f"{Path(path).name} is not a skops file ({err})") from None
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, cls = node.get("__module__"), node.get("__class__")
            if module is not None or cls is not None:
                found.add(f"{module}.{cls}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


def load_tree_model_file(path: str | Path, *, name: str = "`model`") -> Any:
    """A tree model from a file its library saved, never by unpickling.

    Parameters
    ----------
    path : str or Path
        XGBoost's ``save_model`` (``.json``/``.ubj``, read as a ``Booster``), LightGBM's
        ``save_model`` (``.txt``, read as a ``Booster``) or a scikit-learn tree model saved
        with skops (``.skops``). A skops file is loaded only when every type it holds is in
        :data:`SKOPS_TRUSTED_TYPES`; anything else is refused, naming the types.
    name : str
        How error messages name the file (``"--model"`` on the command line).

    Returns
    -------
    The model.

    Raises
    ------
    ValueError
        An unknown suffix, or a skops file holding an untrusted type.
    ImportError
        The format's library is not installed (the ``trees`` extra).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from skops import io as skops_io
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> forest = RandomForestRegressor(n_estimators=2, random_state=0).fit(np.eye(3), [0, 1, 2])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     skops_io.dump(forest, f"{folder}/forest.skops")
    ...     type(load_tree_model_file(f"{folder}/forest.skops")).__name__
    'RandomForestRegressor'
    """
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
    except ImportError as err:
        raise ImportError(
            f"{name}: reading {suffix} files needs the `trees` extra "
            f"(pip install 'perspicio[trees]'): {err}"
        ) from err
    try:
        held = skops_types(path)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    foreign = [t for t in held if t not in SKOPS_TRUSTED_TYPES]
    if foreign:
        raise ValueError(
            f"{name}: {path.name} holds type(s) perspicio does not load: "
            f"{', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}; a .skops file may "
            "hold only a scikit-learn tree model (decision tree, random forest, extra trees, "
            "gradient boosting, histogram gradient boosting) and its own parts "
            "(perspicio.models.SKOPS_TRUSTED_TYPES)"
        )
    # skops audits the file again: only the types it does not trust by default and this
    # list does are passed on (a tree's Tree or TreePredictor)
    untrusted = skops_io.get_untrusted_types(file=str(path))
    unexpected = [t for t in untrusted if t not in SKOPS_TRUSTED_TYPES]
    if unexpected:  # the schema walk above saw every type; kept as a second lock
        raise ValueError(
            f"{name}: {path.name} holds types perspicio does not load: {', '.join(unexpected[:5])}"
        )
    return skops_io.load(str(path), trusted=untrusted)


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


__all__ = [
    "MAX_UPLOAD_MB",
    "SKOPS_TRUSTED_TYPES",
    "TREE_MODEL_SUFFIXES",
    "TRUST_TORCHSCRIPT_ENV",
    "check_upload_size",
    "is_safetensors",
    "is_torchscript",
    "load_model_file",
    "load_tree_model_file",
    "load_tree_model_upload",
    "skops_types",
    "tree_columns",
    "tree_feature_names",
]
