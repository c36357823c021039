"""The Ray engine of :func:`perspicio.core.attribute_dataset`.

The shards still to do become a Ray dataset of small descriptions (index, row range, and
for sources read in order, a reference to the rows in the object store). ``map_batches``
sends them to a pool of actors; each actor builds the method once (``method_factory``),
reads its shard's rows itself when the source allows it, runs the same per-shard work as
the local engine, writes the shard file, and returns only the shard's partial sums. The
driver merges those in shard order, so the reducers equal the local engine's.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._engine.batching import progress
from ..errors import AttributionValueError
from .shards import device_of, run_shard
from .sources import Shard, Source


class ShardWorker:
    """One Ray actor: the method built once, then one shard per call."""

    def __init__(
        self,
        method_factory: Callable[[], Any],
        source: Source,
        target: Any,
        kwargs: dict[str, Any],
        folder: str | None,
        shard_format: str,
        threads: int,
    ) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        if not isinstance(source, Source):  # an object-store reference
            import ray

            source = ray.get(source)
        self.method = method_factory()
        self.device = device_of(self.method)
        model = getattr(self.method, "forward_func", None)
        if (
            self.device is not None
            and self.device.type == "cpu"
            and ray_gpu_ids()
            and isinstance(model, torch.nn.Module)
        ):  # Ray gave this actor a GPU: run the worker's own copy of the model there
            model.to("cuda")
            self.device = device_of(self.method)
        self.source, self.target, self.kwargs = source, target, kwargs
        self.folder = None if folder is None else Path(folder)
        self.shard_format = shard_format

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = []
        for index, start, stop in zip(batch["index"], batch["start"], batch["stop"]):
            shard = Shard(int(index), int(start), int(stop))
            try:
                file, part = run_shard(
                    self.method,
                    self.device,
                    self.source,
                    shard,
                    self.target,
                    self.kwargs,
                    self.folder,
                    self.shard_format,
                )
                results.append(pickle.dumps((shard.index, file, part)))
            except Exception as err:  # sent back whole, raised on the driver as it is
                results.append(pickle.dumps((shard.index, None, _picklable(err))))
        return {"result": np.array(results, dtype=object)}


def ray_gpu_ids() -> list:
    import ray

    return list(ray.get_gpu_ids())


def check_resources(num_gpus: Any, concurrency: Any) -> None:
    """Clear errors for the Ray engine's resource arguments, before any work starts."""
    if num_gpus != "auto" and (
        isinstance(num_gpus, bool) or not isinstance(num_gpus, (int, float)) or num_gpus < 0
    ):
        raise AttributionValueError(f'`num_gpus` must be "auto" or a number >= 0, got {num_gpus!r}')
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise AttributionValueError(f"`concurrency` must be a positive int, got {concurrency!r}")


def gpus_per_actor(num_gpus: float | str, concurrency: int) -> float:
    """``num_gpus`` as given, or for ``"auto"`` the cluster's GPUs shared by the actors
    (at most one each; none when the cluster has none)."""
    check_resources(num_gpus, concurrency)
    if num_gpus != "auto":
        return float(num_gpus)
    import ray

    gpus = ray.cluster_resources().get("GPU", 0)
    return min(1.0, gpus / max(concurrency, 1)) if gpus else 0.0


def to_object_store(shard: Shard) -> Shard:
    """The shard with its rows (if it carries any) replaced by an object-store reference."""
    import ray

    if shard.rows is not None:
        if not ray.is_initialized():
            ray.init(log_to_driver=False, include_dashboard=False)
        shard.rows = ray.put(shard.rows)
    return shard


def run_ray(
    method_factory: Callable[[], Any],
    source: Source,
    shards: list[Shard],
    target: Any,
    kwargs: dict[str, Any],
    folder: Path | None,
    shard_format: str,
    *,
    concurrency: int,
    num_gpus: float | str,
    num_cpus: float,
    show_progress: bool,
) -> Iterator[tuple[int, str | None, dict[str, Any]]]:
    """``(shard index, file, partial sums)`` for every shard, in the order they finish."""
    import ray

    if not ray.is_initialized():
        ray.init(log_to_driver=False, include_dashboard=False)
    num_gpus = gpus_per_actor(num_gpus, min(concurrency, len(shards)))
    ctx = ray.data.DataContext.get_current()
    user_bars, ctx.enable_progress_bars = ctx.enable_progress_bars, show_progress
    # a source read by range travels once, as a description; the rows of a source read in
    # order are in the object store already (to_object_store), one reference per shard
    worker_source = source if source.by_range else CarriedRows({s.index: s.rows for s in shards})
    items = [{"index": s.index, "start": s.start, "stop": s.stop} for s in shards]
    source_ref = ray.put(worker_source)
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    results = dataset.map_batches(
        ShardWorker,
        fn_constructor_args=(
            method_factory,
            source_ref,
            target,
            kwargs,
            None if folder is None else str(folder),
            shard_format,
            int(num_cpus),
        ),
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=max(1, min(concurrency, len(items)))),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
    try:
        for row in progress(results.iter_rows(), show_progress, "dataset (ray)", len(items)):
            index, file, part = pickle.loads(row["result"])
            if isinstance(part, BaseException):
                raise part
            yield index, file, part
    finally:
        ctx.enable_progress_bars = user_bars  # the user's Ray Data setting, as it was


def _picklable(err: Exception) -> Exception:
    """``err`` itself when it survives pickling, else a RuntimeError with its message."""
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


class CarriedRows(Source):
    """Shards of a source read in order: each shard's rows by reference."""

    by_range = False

    def __init__(self, refs: dict[int, Any]) -> None:
        self.refs = refs

    def read(self, shard: Shard) -> tuple[Any, np.ndarray | None]:
        import ray

        return ray.get(self.refs[shard.index])
