"""Global switches of perspicio.core.

``channels_last``: hand 4-D floating point batches (images) of at least 4 rows to the model
in channels-last memory layout for forward-only evaluation (the perturbation methods),
which makes convolutions 1.2-1.5x faster on CPUs and GPUs (smaller batches keep their
layout: reordering the weights on every call costs more).

``channels_last_gradients``: the same for the gradient methods, off by default. Their
backward passes sum in another order in channels-last: on resnet18 (IntegratedGradients,
20 steps, float32) the error against a float64 reference grew from 6.2e-4 (Captum's too) to
7.6e-4 for a 10% speed-up, so accuracy wins by default. Layout is
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
    channels_last_gradients: bool = False


options = Options()
