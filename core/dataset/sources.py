"""Where :func:`perspicio.core.attribute_dataset` reads rows from, cut into shards.

A shard is ``batch_size`` consecutive rows and has the same index in every engine, so shards
written by the local and the Ray engine are interchangeable and a run resumes with either.
Sources that a worker can read by row range (arrays, DataFrames, map-style torch datasets,
Parquet files, image folders) travel to Ray workers as a small description and each worker
reads its own rows; an iterable of batches (a ``DataLoader``, a generator, a
``ray.data.Dataset``) is read once, in order, and its shards carry their rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


@dataclass
class Shard:
    """Rows ``start:stop`` of the source; ``rows`` holds them for sources read in order (in
    the Ray engine, a reference to them in the object store)."""

    index: int
    start: int
    stop: int
    rows: tuple[Tensor, np.ndarray | None] | None = None


class Source:
    """Rows by range. ``names``: one per column for tables (None otherwise)."""

    names: list[str] | None = None
    by_range = True
    #: whether rows come with labels: True, False, or None when only reading tells
    has_labels: bool | None = None

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, start: int, stop: int) -> tuple[Tensor, np.ndarray | None]:
        raise NotImplementedError

    def shards(self, batch_size: int) -> Iterator[Shard]:
        for i, start in enumerate(range(0, len(self), batch_size)):
            yield Shard(i, start, min(start + batch_size, len(self)))

    def read(self, shard: Shard) -> tuple[Tensor, np.ndarray | None]:
        return shard.rows if shard.rows is not None else self.load(shard.start, shard.stop)


class ArraySource(Source):
    """A tensor, an array or a DataFrame held in memory (``label_column`` split off)."""

    def __init__(self, values: Tensor, labels: np.ndarray | None, names: list[str] | None):
        self.values, self.labels, self.names = values, labels, names
        self.has_labels = labels is not None

    def __len__(self) -> int:
        return len(self.values)

    def load(self, start: int, stop: int) -> tuple[Tensor, np.ndarray | None]:
        labels = None if self.labels is None else self.labels[start:stop]
        return self.values[start:stop], labels


class TorchDatasetSource(Source):
    """A map-style ``torch.utils.data.Dataset``: items ``x`` or ``(x, label)``."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def load(self, start: int, stop: int) -> tuple[Tensor, np.ndarray | None]:
        from torch.utils.data import default_collate

        batch = default_collate([self.dataset[i] for i in range(start, stop)])
        return _split(batch)


class ParquetSource(Source):
    """A Parquet file or a folder of them, read by row group; numeric columns as features
    (not the label column, nor the index pandas stores beside a DataFrame's columns)."""

    def __init__(self, path: Path, columns: list[str] | None, label_column: str | None) -> None:
        import pyarrow.parquet as pq

        self.files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        if not self.files:
            raise AttributionValueError(f"`dataset`: no .parquet files under {path}")
        schema = pq.read_schema(self.files[0])
        if label_column is not None and label_column not in schema.names:
            raise AttributionValueError(
                f"`label_column` {label_column!r} is not a column of {path}"
            )
        # a DataFrame's index, written by pandas as a column, is not a feature
        index = (schema.pandas_metadata or {}).get("index_columns", [])
        skip = {label_column, *(c for c in index if isinstance(c, str))}
        self.names = columns or [n for n in schema.names if n not in skip]
        self.has_labels = label_column is not None
        self.label_column = label_column
        # (file, row group, first row, rows) for every row group, in order
        self.groups: list[tuple[int, int, int, int]] = []
        first = 0
        for f, file in enumerate(self.files):
            meta = pq.ParquetFile(file).metadata
            for g in range(meta.num_row_groups):
                rows = meta.row_group(g).num_rows
                self.groups.append((f, g, first, rows))
                first += rows
        self.n_rows = first

    def __len__(self) -> int:
        return self.n_rows

    def load(self, start: int, stop: int) -> tuple[Tensor, np.ndarray | None]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        wanted = self.names + ([self.label_column] if self.label_column else [])
        parts = []
        for f, g, first, rows in self.groups:
            if first + rows <= start or first >= stop:
                continue
            table = pq.ParquetFile(self.files[f]).read_row_group(g, columns=wanted)
            begin, end = max(start, first), min(stop, first + rows)  # rows of this group
            parts.append(table.slice(begin - first, end - begin))  # (offset, length)
        table = pa.concat_tables(parts)
        values = np.column_stack(
            [table.column(n).to_numpy().astype(np.float32) for n in self.names]
        )
        labels = table.column(self.label_column).to_numpy() if self.label_column else None
        return torch.from_numpy(values), labels


class ImageFolderSource(Source):
    """Image files under a folder, sorted; in class subfolders, the subfolder is the label.

    ``transform`` turns a PIL image into a ``C x H x W`` tensor (default: RGB scaled to
    [0, 1]); every image must come out the same size.
    """

    def __init__(self, path: Path, transform: Any = None) -> None:
        self.files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not self.files:
            raise AttributionValueError(
                f"`dataset`: no images ({', '.join(IMAGE_EXTENSIONS)}) under {path}"
            )
        folders = sorted({p.parent for p in self.files})
        nested = all(p.parent != path for p in self.files)
        self.classes = [f.name for f in folders] if nested else None
        self.transform = transform
        self.root = path

    def __len__(self) -> int:
        return len(self.files)

    def _image(self, path: Path) -> Tensor:
        try:
            from PIL import Image
        except ImportError as err:  # pragma: no cover - pillow comes with the vision extra
            raise ImportError("image folders need Pillow: pip install 'perspicio[vision]'") from err
        with Image.open(path) as img:
            img = img.convert("RGB")
            if self.transform is not None:
                return self.transform(img)
            array = np.asarray(img, dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()

    def load(self, start: int, stop: int) -> tuple[Tensor, np.ndarray | None]:
        images = [self._image(p) for p in self.files[start:stop]]
        shapes = {tuple(t.shape) for t in images}
        if len(shapes) > 1:
            raise AttributionValueError(
                f"images under {self.root} have different sizes {sorted(shapes)}; pass a "
                "`transform` that resizes them (e.g. torchvision.transforms.Resize)"
            )
        labels = None
        if self.classes is not None:
            labels = np.array([self.classes.index(p.parent.name) for p in self.files[start:stop]])
        return torch.stack(images), labels


class IterableSource(Source):
    """An iterable of batches, read once and in order; each shard carries its rows."""

    by_range = False

    def __init__(self, batches: Iterable[Any]) -> None:
        self.batches = batches

    def shards(self, batch_size: int) -> Iterator[Shard]:
        start = 0
        for i, item in enumerate(self.batches):
            inputs, labels = _split(item)
            yield Shard(i, start, start + len(inputs), (inputs, labels))
            start += len(inputs)


def _split(item: Any) -> tuple[Tensor, np.ndarray | None]:
    """``(inputs, labels or None)`` from a batch ``x``, ``(x, y)`` or ``[x, y]``."""
    if isinstance(item, (tuple, list)):
        inputs, labels = item[0], (item[1] if len(item) > 1 else None)
    else:
        inputs, labels = item, None
    if isinstance(inputs, np.ndarray):
        inputs = torch.from_numpy(inputs)
    if labels is not None:
        labels = labels.cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    return inputs, labels


def _ray_batches(dataset: Any, batch_size: int, label_column: str | None) -> Iterator[Any]:
    """Batches of a ``ray.data.Dataset``: one column of arrays, or numeric columns stacked."""
    for batch in dataset.iter_batches(batch_size=batch_size, batch_format="numpy"):
        labels = batch.pop(label_column) if label_column else None
        if len(batch) == 1:
            values = np.stack(list(batch.values())[0]).astype(np.float32)
        else:
            values = np.column_stack([batch[k] for k in batch]).astype(np.float32)
        yield torch.from_numpy(values), labels


def _numbers(array: np.ndarray, name: str) -> np.ndarray:
    """``array`` as float32, or a TypeError naming the argument when it holds no numbers."""
    try:
        return np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError):
        raise AttributionTypeError(
            f"`{name}` must hold numbers; encode text or category columns first "
            f"(got dtype {array.dtype})"
        ) from None


def as_source(
    dataset: Any,
    batch_size: int,
    *,
    label_column: str | None = None,
    columns: list[str] | None = None,
    transform: Any = None,
) -> Source:
    """The :class:`Source` for every accepted dataset form (see ``attribute_dataset``)."""
    if isinstance(dataset, (str, Path)):
        path = Path(dataset)
        if not path.exists():
            raise AttributionValueError(f"`dataset`: {path} does not exist")
        if path.suffix == ".parquet" or (path.is_dir() and any(path.rglob("*.parquet"))):
            return ParquetSource(path, columns, label_column)
        if path.is_dir():
            return ImageFolderSource(path, transform)
        raise AttributionValueError(
            f"`dataset`: {path} is neither a Parquet file, nor a folder of Parquet files or images"
        )
    if type(dataset).__module__.startswith("pandas"):
        frame = dataset
        labels = None
        if label_column is not None:
            if label_column not in frame.columns:
                raise AttributionValueError(
                    f"`label_column` {label_column!r} is not a column of the frame"
                )
            labels = frame[label_column].to_numpy()
            frame = frame.drop(columns=[label_column])
        if columns is not None:
            unknown = [c for c in columns if c not in frame.columns]
            if unknown:
                raise AttributionValueError(f"`columns` {unknown} are not columns of the frame")
            frame = frame[columns]
        values = torch.tensor(_numbers(frame.to_numpy(), "dataset"))
        return ArraySource(values, labels, [str(c) for c in frame.columns])
    if isinstance(dataset, np.ndarray):
        return ArraySource(torch.from_numpy(_numbers(dataset, "dataset")), None, None)
    if isinstance(dataset, Tensor):
        return ArraySource(dataset, None, None)
    if type(dataset).__module__.startswith("ray.data"):
        return IterableSource(_ray_batches(dataset, batch_size, label_column))
    if isinstance(dataset, torch.utils.data.Dataset) and not isinstance(
        dataset, torch.utils.data.IterableDataset
    ):
        return TorchDatasetSource(dataset)
    if isinstance(dataset, Iterable):
        return IterableSource(dataset)
    raise AttributionTypeError(
        "`dataset` must be a tensor, array, DataFrame, torch Dataset/DataLoader, an iterable of "
        "batches, a Parquet path, a folder of images or a ray.data.Dataset, got "
        f"{type(dataset).__name__}"
    )
