"""perspicio.vision: explanations of image models.

``vision.explain(model, img)`` is the one-line entry; the rest are its parts: image
baselines, superpixels, the Grad-CAM layer finder, and pictures that return Figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from perspicio.core.frontend import model_fingerprint
from perspicio.core.registry import defaults

from .baselines import baseline_distribution, image_baseline
from .cam import TokenGrid, find_cam_layer, find_last_conv, vit_reshape_transform
from .concepts import (
    concept_from_folder,
    concept_from_images,
    plot_significance,
    random_concepts,
)
from .dataset import explain_dataset
from .explain import METHODS, explain
from .explanation import ImageExplanation
from .influence import InfluentialImages, influential_images
from .robustness import AttackReport, attack_accuracy, min_noise_level
from .segmentation import segment
from .visualize import (
    alpha_scaling,
    blended_heat_map,
    heat_map,
    masked_image,
    normalize_attribution,
    original_image,
)


def compare(
    model, img, methods: Sequence[str] | None = None, sign: str | None = None, **kwargs: Any
) -> Figure:
    """The image and one panel per method, in one Figure (``kwargs`` go to :func:`explain`).

    ``methods``: by default the registry's methods declared for comparing images
    (``default_for=("image_compare",)``: a gradient, a path method, a CAM, an occlusion).

    Examples
    --------
    >>> import torch, torchvision
    >>> net = torchvision.models.resnet18(num_classes=3)
    >>> fig = compare(net, torch.rand(3, 64, 64), methods=["saliency", "gradcam"])
    >>> len(fig.axes)
    3
    """
    if methods is None:
        methods = defaults("image_compare")
    results = [explain(model, img, method=m, **kwargs) for m in methods]
    fig = Figure(figsize=(3.2 * (len(results) + 1), 3.4))
    axes = fig.subplots(1, len(results) + 1)
    original_image(results[0].image, title=f"{results[0].labels[0]}", ax=axes[0])
    for exp, ax in zip(results, axes[1:]):
        blended_heat_map(
            exp.attributions[0],
            exp.image,
            sign or exp.sign,
            colorbar=False,
            title=exp.method,
            ax=ax,
        )
    fig.tight_layout()
    return fig


def load_model(name: str, weights_path: str | Path | None = None, **kwargs: Any):
    """A torchvision architecture by name, with weights from a local file if given.

    The file is read by :func:`perspicio.models.load_model_file`: a state dict through
    ``torch.load(..., weights_only=True)`` or a safetensors file, never pickled code or
    TorchScript (code; load a trusted TorchScript file with ``load_model_file(path,
    trust_torchscript=True)``). Without ``weights_path`` the weights are random.
    """
    import torchvision

    from perspicio.models import load_model_file

    known = torchvision.models.list_models()
    if name not in known:
        raise ValueError(
            f"`name` {name!r} is not a torchvision architecture; known: {', '.join(known)}"
        )
    if weights_path is not None and not Path(weights_path).is_file():
        raise ValueError(f"`weights_path` is not a file: {weights_path}")
    if weights_path is None:
        return torchvision.models.get_model(name, weights=None, **kwargs).eval()
    return load_model_file(
        weights_path,
        lambda: torchvision.models.get_model(name, weights=None, **kwargs),
        name="`weights_path`",
    )


__all__ = [
    "METHODS",
    "ImageExplanation",
    "alpha_scaling",
    "baseline_distribution",
    "blended_heat_map",
    "compare",
    "explain",
    "explain_dataset",
    "TokenGrid",
    "find_cam_layer",
    "find_last_conv",
    "heat_map",
    "image_baseline",
    "load_model",
    "masked_image",
    "model_fingerprint",
    "normalize_attribution",
    "original_image",
    "segment",
    "vit_reshape_transform",
    "concept_from_folder",
    "concept_from_images",
    "random_concepts",
    "plot_significance",
    "attack_accuracy",
    "AttackReport",
    "min_noise_level",
    "influential_images",
    "InfluentialImages",
]
