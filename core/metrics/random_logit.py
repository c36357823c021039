r"""The random logit test (Sixt et al., ICML 2020, "When explanations lie: why many modified
BP attributions fail").

An explanation of the predicted class should differ from one of another class: the score is
the similarity between the attribution of ``target`` and that of a random other class.
Lower is better; a method whose maps ignore the class (a constant map, an edge detector)
scores the most.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..errors import AttributionTypeError, AttributionValueError
from .faithfulness_correlation import pearson


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Structural similarity (Wang et al., 2004) of each map of ``a`` with the same map of
    ``b`` (scikit-image's, with the two maps' joint range as ``data_range``). A map
    ``(N, H, W)`` or ``(N, C, H, W)`` is compared as an image (channels as channels); a
    vector ``(N, D)`` as a signal."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError as err:  # pragma: no cover - the vision extra ships it
        raise ImportError("similarity='ssim' needs scikit-image (perspicio[vision])") from err
    out = []
    for x, y in zip(a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()):
        joint_range = float(max(x.max(), y.max()) - min(x.min(), y.min()))
        channel_axis = 0 if x.ndim == 3 else None
        small = min(x.shape[-2:]) if x.ndim >= 2 else x.shape[-1]
        win = min(7, small if small % 2 else small - 1)
        out.append(
            structural_similarity(
                x, y, data_range=joint_range, channel_axis=channel_axis, win_size=win
            )
        )
    return torch.tensor(out, dtype=torch.float64)


SIMILARITIES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "ssim": ssim,
    "pearson": lambda a, b: pearson(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)),
}


def other_classes(
    target: Tensor, n_classes: int, generator: torch.Generator | int | None = None
) -> Tensor:
    """A class other than ``target`` for each example, uniformly at random."""
    gen = torch.Generator().manual_seed(generator) if isinstance(generator, int) else generator
    draw = torch.randint(0, n_classes - 1, target.shape, generator=gen)
    return draw + (draw >= target.cpu()).long()  # skip the target class


def random_logit(
    explain: Callable[..., Tensor],
    inputs: Tensor,
    attributions: Tensor,
    target: Tensor,
    *,
    n_classes: int,
    off_targets: Tensor | None = None,
    generator: torch.Generator | int | None = None,
    similarity: str | Callable[[Tensor, Tensor], Tensor] = "ssim",
    **explain_kwargs: Any,
) -> Tensor:
    """Similarity between the explanation of ``target`` and one of a random other class,
    per example (Sixt et al., 2020). Lower is better.

    Parameters
    ----------
    explain : callable
        ``explain(inputs, target=..., **explain_kwargs)`` returns attributions (a method's
        ``attribute``).
    inputs, attributions : tensor
        The inputs and the explanation of ``target``.
    target : tensor (N,)
    n_classes : int
    off_targets : tensor (N,), optional
        The other classes, drawn beforehand; drawn with ``generator`` otherwise.
    similarity : "ssim", "pearson" or callable
        ``"ssim"``: images compared as images (Quantus' ``RandomLogit`` flattens them and
        compares the raster order as a 1-D signal; on vectors the two agree).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Saliency
    >>> net = torch.nn.Linear(6, 3)
    >>> x = torch.randn(4, 6)
    >>> target = torch.tensor([0, 1, 2, 0])
    >>> a = Saliency(net).attribute(x, target=target, abs=False)
    >>> score = random_logit(Saliency(net).attribute, x, a, target, n_classes=3, generator=0,
    ...                      similarity="pearson", abs=False)
    >>> bool((score < 1).all())
    True
    """
    if not isinstance(target, Tensor) or target.dim() != 1:
        raise AttributionTypeError("`target` must be a tensor of one class per example")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise AttributionValueError(f"`n_classes` must be an int of at least 2, got {n_classes!r}")
    if off_targets is None:
        off_targets = other_classes(target, n_classes, generator)
    elif (off_targets.cpu() == target.cpu()).any():
        raise AttributionValueError("`off_targets` must differ from `target` in every example")
    sim = SIMILARITIES.get(similarity) if isinstance(similarity, str) else similarity
    if sim is None:
        raise AttributionValueError(
            f"`similarity` must be one of {sorted(SIMILARITIES)} or a callable, got {similarity!r}"
        )
    off = explain(inputs, target=off_targets.to(target.device), **explain_kwargs)
    return sim(attributions.detach(), off.detach())
