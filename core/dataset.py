"""Attribution over whole datasets: stream batches through a method, write shards, reduce.

The local engine keeps memory bounded: each batch's attributions go to a ``.npy`` shard
under ``output`` and only running sums stay in memory. A JSON manifest records the method,
its parameters, the model's fingerprint, the versions and every finished shard, so a run
that stops can resume without recomputing what is done, and a folder holding another
method's or model's results is never mixed into.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._batching import progress
from ._dataset_sources import as_source
from ._fingerprint import model_fingerprint
from ._inputs import check_positive_int
from .errors import AttributionTypeError, AttributionValueError

REDUCERS = ("mean_abs", "mean", "per_class_mean_abs")


@dataclass
class DatasetResult:
    """What a run produced: the reducers over all rows, the row count, the shard files."""

    reducers: dict[str, Any]
    n_rows: int
    shards: list[str] = field(default_factory=list)
    output: str | None = None


def _fingerprint(method: Any) -> str | None:
    model = getattr(method, "forward_func", None)
    return model_fingerprint(model) if isinstance(model, torch.nn.Module) else None


def _device(method: Any) -> torch.device | None:
    """Where the method's model lives, so batches read from the CPU are moved there."""
    model = getattr(method, "forward_func", None)
    if isinstance(model, torch.nn.Module):
        param = next(model.parameters(), None)
        return None if param is None else param.device
    return None


def _manifest(method: Any, kwargs: dict, batch_size: int, target: Any) -> dict[str, Any]:
    import perspicio

    # a front end's per-shard adapter describes itself (the method it runs, its settings)
    name, own = getattr(method, "dataset_description", (type(method).__name__, {}))
    return {
        "method": name,
        "parameters": {k: repr(v) for k, v in sorted({**own, **kwargs}.items())},
        "target": repr(target),
        "batch_size": batch_size,
        "model_fingerprint": _fingerprint(method),
        "perspicio_version": perspicio.__version__,
        "torch_version": torch.__version__,
        "shards": [],
    }


def partial_sums(attr: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """One shard's contribution to every reducer: row count, sums of |a| and of a per
    feature, and per class (float64). Workers send these; nothing per row travels."""
    flat = attr.reshape(attr.shape[0], -1).astype(np.float64)
    per_class = {}
    if labels is not None:
        for c in np.unique(labels):
            rows = np.abs(flat[labels == c])
            per_class[int(c)] = (rows.sum(0), len(rows))
    return {
        "rows": len(flat),
        "abs_sum": np.abs(flat).sum(0),
        "sum": flat.sum(0),
        "per_class": per_class,
        "shape": tuple(attr.shape[1:]),
    }


class _Reducers:
    """Running sums per feature (and per class), merged shard by shard in shard order, so
    every engine adds the same numbers in the same order."""

    def __init__(self, names: tuple[str, ...]) -> None:
        if isinstance(names, str) or not all(isinstance(r, str) for r in names):
            raise AttributionTypeError(
                f"`reducers` must be a tuple of names from {REDUCERS}, got {names!r}"
            )
        unknown = [r for r in names if r not in REDUCERS]
        if unknown:
            raise AttributionValueError(
                f"`reducers`: unknown reducer(s) {unknown}; choose from {REDUCERS}"
            )
        self.names, self.rows = tuple(names), 0
        self.abs_sum = self.sum = None
        self.per_class: dict[int, list] = {}
        self.shape: tuple[int, ...] | None = None

    def merge(self, part: dict[str, Any]) -> None:
        self.rows += part["rows"]
        self.shape = part["shape"]
        self.abs_sum = part["abs_sum"] if self.abs_sum is None else self.abs_sum + part["abs_sum"]
        self.sum = part["sum"] if self.sum is None else self.sum + part["sum"]
        for c, (total, count) in part["per_class"].items():
            old_total, old_count = self.per_class.get(c, [0.0, 0])
            self.per_class[c] = [old_total + total, old_count + count]

    def result(self) -> dict[str, Any]:
        if self.shape is None:
            raise AttributionValueError("`dataset` is empty")
        out: dict[str, Any] = {}
        if "mean_abs" in self.names:
            out["mean_abs"] = (self.abs_sum / self.rows).reshape(self.shape)
        if "mean" in self.names:
            out["mean"] = (self.sum / self.rows).reshape(self.shape)
        if "per_class_mean_abs" in self.names:
            if not self.per_class:
                raise AttributionValueError(
                    "`reducers`: per_class_mean_abs needs labels: (inputs, labels) batches, "
                    "class subfolders or a `label_column`"
                )
            out["per_class_mean_abs"] = {
                c: (t / n).reshape(self.shape) for c, (t, n) in sorted(self.per_class.items())
            }
        return out


class _InOrder:
    """Merges shard partials in shard order as they arrive (Ray returns them in the order
    they finish): only the ones that came early wait, so memory stays bounded and every
    engine adds the same numbers in the same order."""

    def __init__(self, sums: _Reducers) -> None:
        self.sums, self.next, self.waiting = sums, 0, {}

    def __call__(self, index: int, part: dict[str, Any]) -> None:
        self.waiting[index] = part
        while self.next in self.waiting:
            self.sums.merge(self.waiting.pop(self.next))
            self.next += 1


def attribute_shard(
    method: Any,
    device: torch.device | None,
    inputs: Tensor,
    labels: np.ndarray | None,
    target: Any,
    kwargs: dict[str, Any],
) -> np.ndarray:
    """The per-batch work, the same in every engine: attribute one shard's rows."""
    if isinstance(target, str) and target == "label":
        if labels is None:
            raise AttributionValueError(
                "`target`='label' needs labels: (inputs, labels) batches or a `label_column`"
            )
        target = labels.tolist()
    if device is not None and isinstance(inputs, Tensor):
        inputs = inputs.to(device)
    attr = method.attribute(inputs, target=target, **kwargs)
    return attr.detach().cpu().numpy() if isinstance(attr, Tensor) else np.asarray(attr)


def shard_name(index: int, shard_format: str) -> str:
    return f"shard-{index:05d}.{shard_format}"


def write_shard(
    folder: Path, index: int, attr: np.ndarray, shard_format: str, names: list[str] | None
) -> str:
    """Write one shard: ``.npy`` as is, or Parquet with a column per feature for tables
    (named after the table's columns when they match) and one list column of flattened
    maps otherwise. Written to a temporary name and renamed, so a shard file is whole."""
    name = shard_name(index, shard_format)
    tmp = folder / (name + ".tmp")
    if shard_format == "npy":
        with open(tmp, "wb") as fh:
            np.save(fh, attr)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = attr.reshape(attr.shape[0], -1)
        if attr.ndim == 2:
            cols = names if names is not None and len(names) == attr.shape[1] else None
            cols = cols or [f"a{j}" for j in range(attr.shape[1])]
            table = pa.table({c: flat[:, j] for j, c in enumerate(cols)})
        else:
            values = pa.array(flat.ravel())
            table = pa.table(
                {"attribution": pa.FixedSizeListArray.from_arrays(values, flat.shape[1])}
            )
        pq.write_table(table, tmp)
    tmp.replace(folder / name)
    return name


def read_shard(path: str | Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A shard's attributions as an array ``(rows, *shape)`` (``shape`` for Parquet maps).

    Examples
    --------
    >>> import tempfile, torch
    >>> from perspicio.core import Saliency, attribute_dataset
    >>> folder = tempfile.mkdtemp()
    >>> result = attribute_dataset(lambda: Saliency(torch.nn.Linear(3, 1)), torch.randn(5, 3),
    ...                            output=folder, show_progress=False)
    >>> read_shard(f"{folder}/{result.shards[0]}").shape
    (5, 3)
    """
    path = Path(path)
    if path.suffix == ".npy":
        return np.load(path)
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if table.column_names == ["attribution"]:
        flat = np.stack(table.column("attribution").to_numpy(zero_copy_only=False))
    else:
        flat = np.column_stack([table.column(c).to_numpy() for c in table.column_names])
    return flat.reshape((len(flat),) + tuple(shape)) if shape else flat


def attribute_dataset(
    method_factory: Callable[[], Any],
    dataset: Any,
    *,
    target: Any = None,
    batch_size: int = 256,
    engine: str = "local",
    output: str | Path | None = None,
    reducers: tuple[str, ...] = ("mean_abs",),
    shard_format: str = "npy",
    label_column: str | None = None,
    columns: list[str] | None = None,
    transform: Any = None,
    overwrite: bool = False,
    show_progress: bool = True,
    concurrency: int = 2,
    num_gpus: float | str = 0,
    num_cpus: float = 1,
    **attribute_kwargs: Any,
) -> DatasetResult:
    """Attribute every row of ``dataset`` with the method ``method_factory()`` builds.

    Parameters
    ----------
    method_factory : callable
        Builds the model and the method, once per worker (once here): load the model inside
        it, so a Ray worker loads it once, not per batch.
    dataset : tensor, array, DataFrame, torch Dataset/DataLoader, iterable of batches, path
        Batches may be ``(inputs, labels)``. A path is a Parquet file, a folder of Parquet
        files, or a folder of images (in class subfolders, the subfolder is the label). With
        ``engine="ray"``, also a ``ray.data.Dataset``.
    target : None, int, ``"label"`` or a callable
        ``"label"`` uses each row's label as its target.
    batch_size : int
        Rows per shard (and per ``attribute`` call).
    engine : ``"local"`` or ``"ray"``
        ``"ray"`` runs the same per-shard work with Ray Data ``map_batches`` over an actor
        pool of ``concurrency`` workers, each with ``num_cpus`` CPUs (its torch threads) and
        ``num_gpus`` GPUs (0 by default, so the numbers equal the local engine's bit for
        bit); ``"auto"`` shares the cluster's GPUs among the actors (at most one each,
        none without GPUs). An actor given a GPU runs its copy of a model that
        ``method_factory`` built on the CPU there. It joins
        the Ray instance named by ``RAY_ADDRESS`` or an earlier ``ray.init(address=...)``,
        or starts a local one. Needs the ``perspicio[distributed]`` extra.
    output : folder, optional
        Shards ``shard-00000.npy`` (or ``.parquet``)... and ``manifest.json``; a rerun
        resumes. A folder whose manifest names another method, parameters or model is
        refused unless ``overwrite``.
    reducers : ``mean_abs``, ``mean``, ``per_class_mean_abs``
        Computed in one pass with bounded memory (per class: needs labels).
    shard_format : ``"npy"`` or ``"parquet"``
        Parquet shards hold a column per feature for tables and one list column of
        flattened maps for images; :func:`read_shard` reads either back.
    label_column, columns : str, list of str, optional
        For DataFrames, Parquet and ``ray.data`` datasets: the column of labels (not an
        input) and the input columns (default: all others).
    transform : callable, optional
        For image folders: PIL image to ``C x H x W`` tensor (default: RGB in [0, 1]).
    **attribute_kwargs
        Passed to the method's ``attribute`` for every shard. Sampling methods take an int
        ``generator`` seed here, so every shard draws alike in every engine.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> net = torch.nn.Linear(3, 1)
    >>> result = attribute_dataset(lambda: Saliency(net), torch.randn(10, 3), batch_size=4,
    ...                            reducers=("mean",), show_progress=False, abs=False)
    >>> result.n_rows, torch.allclose(torch.tensor(result.reducers["mean"]).float(), net.weight[0])
    (10, True)
    """
    is_method = hasattr(method_factory, "attribute") and not isinstance(method_factory, type)
    if not callable(method_factory) or is_method:
        raise AttributionTypeError(
            "`method_factory` must be a function that builds the method, e.g. "
            f"lambda: IntegratedGradients(model), got {type(method_factory).__name__}"
        )
    if engine not in ("local", "ray"):
        raise AttributionValueError(f"`engine` must be 'local' or 'ray', got {engine!r}")
    check_positive_int(concurrency, "concurrency")
    if output is not None and Path(output).exists() and not Path(output).is_dir():
        raise AttributionValueError(f"`output` must be a folder, but {output} is a file")
    if shard_format not in ("npy", "parquet"):
        raise AttributionValueError(
            f"`shard_format` must be 'npy' or 'parquet', got {shard_format!r}"
        )
    check_positive_int(batch_size, "batch_size")
    sums = _Reducers(reducers)
    if engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "engine='ray' needs Ray: pip install 'perspicio[distributed]'"
            ) from err
        from ._dataset_ray import check_resources

        check_resources(num_gpus, concurrency)
        if isinstance(attribute_kwargs.get("generator"), torch.Generator):
            raise AttributionTypeError(
                "engine='ray': pass `generator` as an int seed; a torch.Generator's state "
                "cannot be shared between workers"
            )
    elif type(dataset).__module__.startswith("ray.data"):
        raise AttributionTypeError("a ray.data.Dataset needs engine='ray'")
    source = as_source(
        dataset, batch_size, label_column=label_column, columns=columns, transform=transform
    )
    if source.by_range and len(source) == 0:
        raise AttributionValueError("`dataset` is empty; expected at least one row")
    if "per_class_mean_abs" in sums.names and source.has_labels is False:
        raise AttributionValueError(
            "`reducers`: per_class_mean_abs needs labels: (inputs, labels) batches, class "
            "subfolders or a `label_column`"
        )
    method = method_factory()
    if not hasattr(method, "attribute"):
        raise AttributionTypeError(
            "`method_factory` must return an attribution method (an object with "
            f"`attribute`), got {type(method).__name__}"
        )
    manifest = _manifest(method, attribute_kwargs, batch_size, target)
    manifest["shard_format"] = shard_format
    manifest["engine"] = engine
    folder = Path(output) if output is not None else None
    done = _prepare_folder(folder, manifest, overwrite) if folder is not None else {}

    def finished(index: int, file: str | None, part: dict[str, Any]) -> None:
        if folder is not None and file is not None:
            done[file] = part["rows"]
            manifest["shards"] = [{"file": f, "rows": r} for f, r in sorted(done.items())]
            manifest["attribution_shape"] = list(part["shape"])
            manifest["columns"] = source.names
            tmp = folder / "manifest.json.tmp"  # replaced whole: a crash never leaves half
            tmp.write_text(json.dumps(manifest, indent=2))
            tmp.replace(folder / "manifest.json")

    merge = _InOrder(sums)
    todo = []
    for shard in progress(
        source.shards(batch_size), show_progress and engine == "local", "dataset"
    ):
        name = shard_name(shard.index, shard_format)
        if folder is not None and name in done and (folder / name).exists():
            # finished before: read back, not recomputed
            labels = source.read(shard)[1] if "per_class_mean_abs" in reducers else None
            merge(shard.index, partial_sums(read_shard(folder / name, _shape(folder)), labels))
        elif engine == "local":
            inputs, labels = source.read(shard)
            attr = attribute_shard(
                method, _device(method), inputs, labels, target, attribute_kwargs
            )
            file = None
            if folder is not None:
                file = write_shard(folder, shard.index, attr, shard_format, source.names)
            part = partial_sums(attr, labels)
            finished(shard.index, file, part)
            merge(shard.index, part)
        else:
            from ._dataset_ray import to_object_store

            todo.append(to_object_store(shard))  # the driver keeps references, not rows
    if todo:
        from ._dataset_ray import run_ray

        for index, file, part in run_ray(
            method_factory, source, todo, target, attribute_kwargs, folder, shard_format,
            concurrency=concurrency, num_gpus=num_gpus, num_cpus=num_cpus,
            show_progress=show_progress,
        ):  # fmt: skip
            finished(index, file, part)
            merge(index, part)
    return DatasetResult(
        sums.result(), sums.rows, sorted(done), None if folder is None else str(folder)
    )


def _shape(folder: Path) -> tuple[int, ...] | None:
    manifest = json.loads((folder / "manifest.json").read_text())
    shape = manifest.get("attribution_shape")
    return tuple(shape) if shape is not None else None


def _prepare_folder(folder: Path, manifest: dict[str, Any], overwrite: bool) -> dict[str, int]:
    """Finished shards of an earlier run of the same job; refuse (or clear) another job's."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    keys = ("method", "parameters", "target", "batch_size", "model_fingerprint", "shard_format")
    same = all(old.get(k, "npy" if k == "shard_format" else None) == manifest[k] for k in keys)
    if same:
        manifest["attribution_shape"] = old.get("attribution_shape")
        return {s["file"]: s["rows"] for s in old["shards"]}
    if not overwrite:
        raise AttributionValueError(
            f"{folder} holds results of another run (method, parameters, target, batch size, "
            "shard format or model differ); pass overwrite=True to replace them, or another folder"
        )
    for s in old["shards"]:
        (folder / s["file"]).unlink(missing_ok=True)
    path.unlink()
    return {}
