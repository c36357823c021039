"""Global switches of perspicio.core.

``channels_last``: hand 4-D floating point batches (images) of at least 4 rows to the model
in channels-last memory layout, which makes convolutions 1.2-1.5x faster on CPUs and GPUs
(smaller batches keep their layout: reordering the weights on every call costs more). Layout is
invisible to PyTorch operations, except ``Tensor.view`` which raises on it; perspicio then
falls back to the default layout for the rest of the call. Switch it off for models with
custom extensions that assume contiguous memory without checking::

    import perspicio.core
    perspicio.core.options.channels_last = False
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    channels_last: bool = True


options = Options()
