"""The per-shard work that every engine (local, Ray) runs the same way: read a shard's rows,
attribute them, write the shard file, and reduce it to partial sums merged in shard order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError
from .sources import Shard, Source

REDUCERS = ("mean_abs", "mean", "per_class_mean_abs")


def device_of(method: Any) -> torch.device | None:
    """Where the method's model lives, so batches read from the CPU are moved there."""
    model = getattr(method, "forward_func", None)
    if isinstance(model, torch.nn.Module):
        param = next(model.parameters(), None)
        return None if param is None else param.device
    return None


def partial_sums(attr: np.ndarray, labels: np.ndarray | None) -> dict[str, Any]:
    """One shard's contribution to every reducer: row count, sums of abs(a) and of a per
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


class Reducers:
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


class InOrder:
    """Merges shard partials in shard order as they arrive (Ray returns them in the order
    they finish): only the ones that came early wait, so memory stays bounded and every
    engine adds the same numbers in the same order."""

    def __init__(self, sums: Reducers) -> None:
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


def run_shard(
    method: Any,
    device: torch.device | None,
    source: Source,
    shard: Shard,
    target: Any,
    kwargs: dict[str, Any],
    folder: Path | None,
    shard_format: str,
) -> tuple[str | None, dict[str, Any]]:
    """One shard, start to end: its rows attributed, written (with ``folder``), reduced.
    Returns the shard file's name (None without a folder) and its partial sums."""
    inputs, labels = source.read(shard)
    attr = attribute_shard(method, device, inputs, labels, target, kwargs)
    file = None
    if folder is not None:
        file = write_shard(folder, shard.index, attr, shard_format, source.names)
    return file, partial_sums(attr, labels)
