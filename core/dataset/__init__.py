"""Attribution over whole datasets.

* :mod:`.engine`: :func:`attribute_dataset`, the shard loop with its manifest and resuming;
* :mod:`.shards`: the per-shard work every engine runs the same way;
* :mod:`.sources`: tensors, arrays, DataFrames, torch datasets, Parquet, image folders;
* :mod:`.ray_engine`: the same shards on a Ray actor pool;
* :mod:`.dataloader`: :class:`DataLoaderAttribution`, a metric over a whole DataLoader.
"""

from .dataloader import DataLoaderAttribution, InputRole
from .engine import DatasetResult, attribute_dataset
from .shards import REDUCERS, read_shard

__all__ = [
    "REDUCERS",
    "DataLoaderAttribution",
    "DatasetResult",
    "InputRole",
    "attribute_dataset",
    "read_shard",
]
