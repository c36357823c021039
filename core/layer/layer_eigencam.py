"""Eigen-CAM (Muhammad and Yeasin, 2020): the first principal component of a layer's maps."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._engine.capture import layer_values
from .._engine.inputs import TargetType, TensorOrTuple, as_tuple, format_additional_args
from .._engine.precision import widen
from ..attribution import LayerAttribution
from ..errors import AttributionValueError


def principal_projection(acts: Tensor) -> Tensor:
    """Each example's positions projected on the first principal direction of its channels.

    ``acts`` ``(N, C, ...)``: the positions are the rows of a ``(P, C)`` matrix ``X``, centred
    over the positions; its first right singular vector ``v`` is the direction along which
    the positions vary most, and the map is ``X v``. That equals ``sigma u``, ``u`` the first
    eigenvector of the ``P x P`` Gram matrix ``X X^T`` and ``sigma^2`` its eigenvalue, so
    the smaller of ``X X^T`` and ``X^T X`` is decomposed (one batched ``eigh`` for the whole
    batch, in float64 where the device has it). The sign of an eigenvector is arbitrary; it
    is chosen so that the map agrees with the channels' summed activations (evidence is
    positive).
    """
    n, c = acts.shape[:2]
    rows = acts.reshape(n, c, -1).transpose(1, 2)  # (N, P, C)
    rows = widen(rows - rows.mean(1, keepdim=True))
    if rows.shape[1] <= c:  # few positions: the Gram matrix of the positions
        values, vectors = torch.linalg.eigh(rows @ rows.transpose(1, 2))
        projection = vectors[..., -1] * values[:, -1:].clamp(min=0).sqrt()
    else:  # few channels: their covariance
        _, vectors = torch.linalg.eigh(rows.transpose(1, 2) @ rows)
        projection = (rows @ vectors[..., -1:]).squeeze(-1)
    total = widen(acts.reshape(n, c, -1).sum(1))
    total = total - total.mean(1, keepdim=True)
    sign = torch.where((projection * total).sum(1, keepdim=True) < 0, -1.0, 1.0)
    projection = (projection * sign.to(projection.dtype)).to(acts.dtype)
    return projection.reshape((n, 1) + acts.shape[2:])


class LayerEigenCam(LayerAttribution):
    r"""Eigen-CAM: gradient-free and class-agnostic class activation maps.

    The layer's activations at each position form a matrix :math:`A \in \mathbb{R}^{P\times C}`
    (positions by channels); centred over the positions, its first right singular vector
    :math:`v_1` is the dominant pattern of the layer, and

    .. math:: L = (A - \bar A)\, v_1

    is how strongly each position shows it. The map does not depend on ``target`` (it shows
    what the layer finds salient, whatever the class), needs no backward pass and is robust
    to the model's output being non-differentiable (detectors after NMS). Cost: one forward
    pass up to the layer and one batched eigendecomposition (:func:`principal_projection`).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerEigenCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerEigenCam(net, net[1]).attribute(torch.randn(2, 3, 8, 8)).shape
    torch.Size([2, 1, 6, 6])
    """

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        attribute_to_layer_input: bool = False,
        relu_attributions: bool = False,
        reshape_transform: Callable[[Tensor], Tensor] | None = None,
    ) -> Any:
        """Return the Eigen-CAM map, ``(N, 1, ...)`` at the layer's resolution.

        ``target`` is accepted for a uniform call and ignored: the map is class-agnostic.
        """
        xs, _ = as_tuple(inputs)
        args = format_additional_args(additional_forward_args)
        values = layer_values(self.forward_func, self.layers, xs, args, attribute_to_layer_input)
        per_layer = []
        for acts, _ in values:
            maps = []
            for a in acts:
                a = reshape_transform(a) if reshape_transform is not None else a
                if a.dim() < 3:
                    raise AttributionValueError(
                        f"LayerEigenCam needs a layer with positions, (N, C, ...), got "
                        f"{tuple(a.shape)}; give `reshape_transform` for token sequences"
                    )
                cam = principal_projection(a)
                maps.append(F.relu(cam) if relu_attributions else cam)
            per_layer.append(tuple(maps))
        return self._answer(per_layer, [t for _, t in values])
