"""Attribution over whole datasets: stream batches through a method, write shards, reduce.

The local engine keeps memory bounded: each batch's attributions go to a ``.npy`` shard
under ``output`` and only running sums stay in memory. A JSON manifest records the method,
its parameters, the model's fingerprint, the versions and every finished shard, so a run
that stops can resume without recomputing what is done, and a folder holding another
method's or model's results is never mixed into.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._batching import progress
from ._fingerprint import model_fingerprint

REDUCERS = ("mean_abs", "mean", "per_class_mean_abs")


@dataclass
class DatasetResult:
    """What a run produced: the reducers over all rows, the row count, the shard files."""

    reducers: dict[str, Any]
    n_rows: int
    shards: list[str] = field(default_factory=list)
    output: str | None = None


def _batches(dataset: Any, batch_size: int) -> Iterator[tuple[Tensor, Tensor | None]]:
    """``(inputs, labels or None)`` batches from every accepted dataset form."""
    if type(dataset).__module__.startswith("pandas"):
        dataset = torch.tensor(dataset.to_numpy(dtype=np.float32))
    if isinstance(dataset, np.ndarray):
        dataset = torch.from_numpy(dataset.astype(np.float32))
    if isinstance(dataset, Tensor):
        for start in range(0, len(dataset), batch_size):
            yield dataset[start : start + batch_size], None
        return
    if isinstance(dataset, torch.utils.data.Dataset) and not isinstance(
        dataset, torch.utils.data.IterableDataset
    ):
        dataset = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    if not isinstance(dataset, Iterable):
        raise TypeError(
            "`dataset` must be a tensor, array, DataFrame, torch Dataset/DataLoader or an iterable "
            f"of batches, got {type(dataset).__name__}"
        )
    for item in dataset:
        if isinstance(item, (tuple, list)):
            yield item[0], (item[1] if len(item) > 1 else None)
        else:
            yield item, None


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

    return {
        "method": type(method).__name__,
        "parameters": {k: repr(v) for k, v in sorted(kwargs.items())},
        "target": repr(target),
        "batch_size": batch_size,
        "model_fingerprint": _fingerprint(method),
        "perspicio_version": perspicio.__version__,
        "torch_version": torch.__version__,
        "shards": [],
    }


class _Reducers:
    """Running sums per feature (and per class): nothing per row is kept."""

    def __init__(self, names: tuple[str, ...]) -> None:
        unknown = [r for r in names if r not in REDUCERS]
        if unknown:
            raise ValueError(f"unknown reducer(s) {unknown}; choose from {REDUCERS}")
        self.names, self.rows = names, 0
        self.abs_sum = self.sum = None
        self.per_class: dict[int, list] = {}

    def add(self, attr: np.ndarray, labels: np.ndarray | None) -> None:
        flat = attr.reshape(attr.shape[0], -1).astype(np.float64)
        self.rows += len(flat)
        self.abs_sum = (
            np.abs(flat).sum(0) if self.abs_sum is None else self.abs_sum + np.abs(flat).sum(0)
        )
        self.sum = flat.sum(0) if self.sum is None else self.sum + flat.sum(0)
        if labels is not None:
            for c in np.unique(labels):
                rows = np.abs(flat[labels == c])
                total, count = self.per_class.get(int(c), [0.0, 0])
                self.per_class[int(c)] = [total + rows.sum(0), count + len(rows)]

    def result(self, shape: tuple[int, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "mean_abs" in self.names:
            out["mean_abs"] = (self.abs_sum / self.rows).reshape(shape)
        if "mean" in self.names:
            out["mean"] = (self.sum / self.rows).reshape(shape)
        if "per_class_mean_abs" in self.names:
            out["per_class_mean_abs"] = {
                c: (t / n).reshape(shape) for c, (t, n) in sorted(self.per_class.items())
            }
        return out


def attribute_dataset(
    method_factory: Callable[[], Any],
    dataset: Any,
    *,
    target: Any = None,
    batch_size: int = 256,
    engine: str = "local",
    output: str | Path | None = None,
    reducers: tuple[str, ...] = ("mean_abs",),
    overwrite: bool = False,
    show_progress: bool = True,
    **attribute_kwargs: Any,
) -> DatasetResult:
    """Attribute every row of ``dataset`` with the method ``method_factory()`` builds.

    Parameters
    ----------
    method_factory : callable
        Builds the model and the method, once per worker (once here).
    dataset : tensor, array, DataFrame, torch Dataset/DataLoader, or an iterable of batches
        Batches may be ``(inputs, labels)``.
    target : None, int, ``"label"`` or a callable
        ``"label"`` uses each batch's labels as per-example targets.
    output : folder, optional
        Shards ``shard-00000.npy``... and ``manifest.json``; a rerun resumes. A folder whose
        manifest names another method, parameters or model is refused unless ``overwrite``.
    reducers : ``mean_abs``, ``mean``, ``per_class_mean_abs``
        Computed in one pass with bounded memory (per class: needs labels).
    **attribute_kwargs
        Passed to the method's ``attribute`` for every batch.

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
    if engine == "ray":
        try:
            import ray  # noqa: F401
        except ImportError as err:
            raise ImportError(
                "engine='ray' needs Ray: pip install 'perspicio[distributed]'"
            ) from err
        raise NotImplementedError("the Ray engine is not built yet; use engine='local'")
    if engine != "local":
        raise ValueError(f"`engine` must be 'local' or 'ray', got {engine!r}")
    method = method_factory()
    device = _device(method)
    manifest = _manifest(method, attribute_kwargs, batch_size, target)
    folder = Path(output) if output is not None else None
    done: dict[str, int] = {}
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "manifest.json"
        if path.exists():
            old = json.loads(path.read_text())
            same = all(
                old.get(k) == manifest[k]
                for k in ("method", "parameters", "target", "batch_size", "model_fingerprint")
            )
            if not same and not overwrite:
                raise ValueError(
                    f"{folder} holds results of another run (method, parameters, target, batch "
                    "size or model differ); pass overwrite=True to replace them, or another folder"
                )
            if same:
                done = {s["file"]: s["rows"] for s in old["shards"]}
            else:
                for s in old["shards"]:
                    (folder / s["file"]).unlink(missing_ok=True)
    sums = _Reducers(tuple(reducers))
    shape: tuple[int, ...] | None = None
    for i, (inputs, labels) in enumerate(
        progress(_batches(dataset, batch_size), show_progress, "dataset")
    ):
        name = f"shard-{i:05d}.npy"
        label_array = None if labels is None else np.asarray(labels)
        if folder is not None and name in done and (folder / name).exists():
            attr = np.load(folder / name)  # finished before: read, not recomputed
        else:
            batch_target = (
                labels.tolist() if isinstance(target, str) and target == "label" else target
            )
            if isinstance(target, str) and target == "label" and labels is None:
                raise ValueError("target='label' needs a dataset of (inputs, labels) batches")
            if device is not None and isinstance(inputs, Tensor):
                inputs = inputs.to(device)
            attr = method.attribute(inputs, target=batch_target, **attribute_kwargs)
            attr = attr.detach().cpu().numpy() if isinstance(attr, Tensor) else np.asarray(attr)
            if folder is not None:
                np.save(folder / name, attr)
                done[name] = int(attr.shape[0])
                manifest["shards"] = [{"file": f, "rows": r} for f, r in sorted(done.items())]
                (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
        shape = attr.shape[1:]
        sums.add(attr, label_array)
    if shape is None:
        raise ValueError("`dataset` is empty")
    return DatasetResult(
        sums.result(shape), sums.rows, sorted(done), None if folder is None else str(folder)
    )
