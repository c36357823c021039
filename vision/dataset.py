"""``vision.explain_dataset``: attribution maps for a whole image set, by shards.

Built on :func:`perspicio.core.attribute_dataset`, so a validation set is explained with
bounded memory, written as shards with a manifest, resumed after an interruption, and
spread over Ray workers with ``engine="ray"``. Each shard is one batched core call with
the same method, baseline and superpixels that :func:`perspicio.vision.explain` would use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from perspicio.core.attribution import LayerAttribution
from perspicio.core.dataset import DatasetResult, attribute_dataset
from perspicio.core.frontend import make_generator, preserved_state

from .explain import _prepare


class _ExplainImages:
    """The per-shard work: targets (the predicted class by default), then one core call."""

    def __init__(self, model, method, baseline, transform, layer, n_segments, seed, kwargs):
        self.forward_func = model  # the dataset engine fingerprints it and follows its device
        self.method, self.baseline, self.transform = method, baseline, transform
        self.layer, self.n_segments, self.seed, self.kwargs = layer, n_segments, seed, kwargs
        self.dataset_description = (
            f"vision.explain_dataset:{method}",
            {
                "baseline": baseline if isinstance(baseline, str) else "tensor",
                "layer": None if layer is None else type(layer).__name__,
                "n_segments": n_segments,
                "seed": seed,
                **kwargs,
            },
        )

    def attribute(self, x: Tensor, target: Any = None) -> Tensor:
        model = self.forward_func
        with preserved_state(model):
            model.eval()
            if target is None:
                with torch.no_grad():
                    target = model(x).argmax(1).tolist()
            run = _prepare(
                self.method,
                model,
                self.layer,
                x,
                self.baseline,
                self.transform,
                self.n_segments,
                make_generator(self.seed),
            )
            attr = run.attribute(target=target, **self.kwargs)
        if attr.shape[-2:] != x.shape[-2:]:  # layer maps (CAMs): to the image's size
            attr = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), "bilinear")
        return attr.detach()


def explain_dataset(
    model: torch.nn.Module,
    images: Any,
    *,
    method: str = "integrated_gradients",
    target: Any = None,
    baseline: Any = "black",
    transform: Any = None,
    layer: torch.nn.Module | None = None,
    n_segments: int = 50,
    seed: int = 0,
    batch_size: int = 16,
    engine: str = "local",
    output: str | Path | None = None,
    reducers: tuple[str, ...] = ("mean_abs",),
    shard_format: str = "npy",
    concurrency: int = 2,
    show_progress: bool = True,
    **method_kwargs: Any,
) -> DatasetResult:
    """Explain every image of ``images``, shard by shard, with the method ``explain`` uses.

    Parameters
    ----------
    model : torch.nn.Module
    images : folder, tensor ``(N, C, H, W)``, torch Dataset or DataLoader
        A folder is read in sorted order through ``transform`` (class subfolders give
        labels); a tensor or dataset holds images already in the model's input space.
    method, baseline, layer, n_segments, seed
        As in :func:`perspicio.vision.explain`.
    target : None, int or ``"label"``
        None explains each image's predicted class.
    batch_size, engine, output, reducers, shard_format, concurrency
        As in :func:`perspicio.core.attribute_dataset`: maps go to shards under ``output``
        (Parquet shards hold one flattened map per row) and a rerun resumes.

    Examples
    --------
    >>> import torch, torchvision
    >>> from perspicio import vision
    >>> net = torchvision.models.resnet18(num_classes=3)
    >>> result = vision.explain_dataset(net, torch.rand(4, 3, 32, 32), method="saliency",
    ...                                 batch_size=2, show_progress=False)
    >>> result.n_rows, result.reducers["mean_abs"].shape
    (4, (3, 32, 32))
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(method, str):
        raise TypeError(f"`method` must be a method name, got {type(method).__name__}")
    return attribute_dataset(
        lambda: _ExplainImages(
            model, method, baseline, transform, layer, n_segments, seed, method_kwargs
        ),
        images,
        target=target,
        batch_size=batch_size,
        engine=engine,
        output=output,
        reducers=reducers,
        shard_format=shard_format,
        transform=transform,
        concurrency=concurrency,
        show_progress=show_progress,
    )
