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

import torch

from .._engine.batching import progress
from .._engine.fingerprint import model_fingerprint
from .._engine.inputs import check_positive_int
from ..errors import AttributionTypeError, AttributionValueError
from .shards import InOrder, Reducers, device_of, partial_sums, read_shard, run_shard, shard_name
from .sources import as_source


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
    sums = Reducers(reducers)
    if engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "engine='ray' needs Ray: pip install 'perspicio[distributed]'"
            ) from err
        from .ray_engine import check_resources

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

    merge = InOrder(sums)
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
            file, part = run_shard(
                method,
                device_of(method),
                source,
                shard,
                target,
                attribute_kwargs,
                folder,
                shard_format,
            )
            finished(shard.index, file, part)
            merge(shard.index, part)
        else:
            from .ray_engine import to_object_store

            todo.append(to_object_store(shard))  # the driver keeps references, not rows
    if todo:
        from .ray_engine import run_ray

        for index, file, part in run_ray(
            method_factory,
            source,
            todo,
            target,
            attribute_kwargs,
            folder,
            shard_format,
            concurrency=concurrency,
            num_gpus=num_gpus,
            num_cpus=num_cpus,
            show_progress=show_progress,
        ):
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
