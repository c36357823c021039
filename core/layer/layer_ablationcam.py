"""Ablation-CAM (Desai and Ramaswamy, 2020): channels weighted by the score lost without them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._engine.batching import chunk_slices, progress
from .._engine.capture import layer_values
from .._engine.hooks import CallHooks
from .._engine.inputs import (
    Target,
    TargetType,
    TensorOrTuple,
    as_tuple,
    expand_additional_args,
    format_additional_args,
    format_target,
)
from .._engine.outputs import model_output, run_forward
from .._engine.perturbation import resolve_chunk
from ..attribution import LayerAttribution, PerturbationAttribution
from ..errors import AttributionValueError
from .layer_feature_ablation import LayerFeatureAblation


class LayerAblationCam(LayerAttribution, PerturbationAttribution):
    r"""Ablation-CAM: gradient-free class activation maps from channel ablation.

    Each channel :math:`k` of the layer is set to zero and the model's score for the target
    drops from :math:`y` to :math:`y_k`; the channel's weight is the relative drop:

    .. math:: L = \sum_k w_k A_k, \qquad w_k = \frac{y - y_k}{y}

    The layer's output is computed once; for each chunk of ``perturbations_per_eval``
    channels the layer returns its ablated copies and the model runs from there, the part
    before the layer being computed once per example, not once per channel (see
    :func:`ablated_scores`). Cost: one evaluation of the layers after the target layer per
    channel and example.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LayerAblationCam
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(4, 2))
    >>> LayerAblationCam(net, net[1]).attribute(torch.randn(2, 3, 8, 8), target=1).shape
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
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
    ) -> Any:
        """Return the Ablation-CAM map, ``(N, 1, ...)`` at the layer's resolution.

        With ``reshape_transform`` (token sequences ``(N, T, D)``), the channels are the
        last dimension of the layer's output, as the transform's maps ``(N, D, h, w)`` see
        them.
        """
        if isinstance(self.layer, (list, tuple)):
            raise AttributionValueError("LayerAblationCam takes one layer, got a list")
        xs, _ = as_tuple(inputs)
        args = format_additional_args(additional_forward_args)
        ((acts, _),) = layer_values(
            self.forward_func, self.layers, xs, args, attribute_to_layer_input
        )
        a = acts[0]
        if a.dim() < 3:
            raise AttributionValueError(
                f"LayerAblationCam needs a layer with positions, (N, C, ...), got {tuple(a.shape)}"
            )
        n = a.shape[0]
        channel_dim = a.dim() - 1 if reshape_transform is not None else 1
        target_ = format_target(target, n)
        with torch.no_grad():
            score = run_forward(self.forward_func, xs, target_, args)
        if attribute_to_layer_input:  # the layer itself must run on the ablated input
            drop = self._drops_through_layer(
                xs,
                a,
                channel_dim,
                target,
                additional_forward_args,
                perturbations_per_eval,
                show_progress,
            )
        else:
            lost = ablated_scores(
                self.forward_func,
                self.layers[0],
                xs,
                args,
                a,
                channel_dim,
                target_,
                perturbations_per_eval,
                show_progress,
            )
            drop = score.reshape(n, 1) - lost.T  # (N, channels)
        score = score.reshape(n, 1).to(drop.dtype)
        weights = drop / torch.where(score != 0, score, torch.ones_like(score))
        maps = reshape_transform(a) if reshape_transform is not None else a
        weights = weights.view(weights.shape + (1,) * (maps.dim() - 2)).to(maps.dtype)
        cam = (weights * maps).sum(1, keepdim=True)
        cam = F.relu(cam) if relu_attributions else cam
        return self._answer([(cam,)], [False])

    def _drops_through_layer(
        self, xs, a, channel_dim, target, additional_forward_args, per_eval, show_progress
    ) -> Tensor:
        """Score drops when the layer's *input* channels are ablated: the layer runs on each
        ablated input (:class:`LayerFeatureAblation` with one group per channel)."""
        shape = [1] * a.dim()
        shape[channel_dim] = a.shape[channel_dim]
        mask = torch.arange(a.shape[channel_dim], device=a.device).view(shape)
        drops = LayerFeatureAblation(self.forward_func, self.layer).attribute(
            xs,
            layer_baselines=0.0,
            target=target,
            additional_forward_args=additional_forward_args,
            layer_mask=mask,
            attribute_to_layer_input=True,
            perturbations_per_eval=per_eval,
            show_progress=show_progress,
        )
        index = [slice(None)] + [0] * (a.dim() - 1)
        index[channel_dim] = slice(None)
        return drops[tuple(index)]


@contextlib.contextmanager
def _layer_returns(layer: nn.Module, value: Tensor) -> Iterator[None]:
    """While active, ``layer``'s output is replaced by ``value`` in this call's passes (a
    scoped forward hook: other threads' passes through the layer are untouched; the layer
    still runs on the examples, one layer's work). Removed on exit, also when the model
    raises."""
    with CallHooks() as hooks:
        # first of the layer's hooks, so the user's own hooks see the value, as the model does
        hooks.forward(layer, lambda module, args, out: value, prepend=True)
        yield


def ablated_scores(
    forward_func: Callable,
    layer: nn.Module,
    xs: tuple[Tensor, ...],
    args: tuple,
    acts: Tensor,
    channel_dim: int,
    target: Target,
    per_eval: int | str,
    show_progress: bool,
) -> Tensor:
    """The targeted score of every example with each channel of ``layer``'s output zeroed,
    shape ``(channels, N)``.

    A chunk of ``m`` channels is one model call: the layer returns the ``m * n`` ablated
    copies of its cached output, and the model runs on the ``n`` examples alone, so the part
    before the layer is computed once per example rather than once per channel (the batch
    grows at the layer). A model that cannot take that (a skip connection around the layer,
    an output not one row per copy) is given the examples repeated ``m`` times instead; both
    give the same numbers.
    """
    n, channels = acts.shape[0], acts.shape[channel_dim]
    chunk = resolve_chunk(per_eval, forward_func, xs, args, channels)
    grows_at_layer = True
    scores = []
    slices = chunk_slices(channels, chunk)
    for sl in progress(slices, show_progress, "Layer Ablation Cam attribution", len(slices)):
        m = sl.stop - sl.start
        copies = acts.unsqueeze(0).repeat((m,) + (1,) * acts.dim()).movedim(channel_dim + 1, 2)
        copies[torch.arange(m), :, torch.arange(sl.start, sl.stop)] = 0
        copies = copies.movedim(2, channel_dim + 1).reshape((m * n,) + acts.shape[1:])
        with torch.no_grad(), _layer_returns(layer, copies):
            out = None
            if grows_at_layer:
                try:
                    out = model_output(forward_func(*xs, *args))
                except RuntimeError:
                    out = None
                if out is None or out.shape[0] != m * n:
                    grows_at_layer, out = False, None
            if out is None:
                repeated = tuple(x.repeat((m,) + (1,) * (x.dim() - 1)) for x in xs)
                out = model_output(forward_func(*repeated, *expand_additional_args(args, n, m)))
        scores.append(target.expand(m).select(out).reshape(m, n))
    return torch.cat(scores)
