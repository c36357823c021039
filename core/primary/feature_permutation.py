"""Permutation feature importance (Breiman, 2001; Fisher et al., 2019), per example."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.batching import make_generator
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    feature_index,
    format_additional_args,
    format_feature_mask,
    format_target,
    like_inputs,
)
from .._engine.outputs import AggregateOutput, model_output
from .._engine.perturbation import ablate_and_compare, progress, resolve_chunk
from ..attribution import PerturbationAttribution
from ..errors import AttributionValueError
from .feature_ablation import group_masks


def random_derangements(m: int, n: int, generator: torch.Generator | None) -> Tensor:
    """``m`` random permutations of ``range(n)``, none of them the identity (``n >= 2``)."""
    perms = torch.rand(m, n, generator=generator).argsort(1)
    identity = torch.arange(n)
    while True:
        same = (perms == identity).all(1)
        if not bool(same.any()):
            return perms
        perms[same] = torch.rand(int(same.sum()), n, generator=generator).argsort(1)


class FeaturePermutation(PerturbationAttribution):
    r"""Output drop when a feature group's values are shuffled across the batch:

    .. math:: A_i(x^{(j)}) = F(x^{(j)}) - F(x^{(j)}_{S(i) \leftarrow x^{(\pi(j))}_{S(i)}})

    One random permutation :math:`\pi` of the batch per group. A feature the model ignores
    gets exactly 0. Needs a batch of at least two examples. Cost: one model evaluation per
    group, chunked as in :class:`FeatureAblation`.

    Parameters
    ----------
    forward_func : callable
        The model.
    perm_func : callable, optional
        ``perm_func(x, mask) -> x_permuted`` for one input tensor and one group's boolean
        mask; by default the group's values come from a random other example.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import FeaturePermutation
    >>> net = lambda x: x[:, 0] * 3.0          # feature 1 is ignored
    >>> attr = FeaturePermutation(net).attribute(torch.randn(8, 2), generator=0)
    >>> bool((attr[:, 1] == 0).all())
    True
    """

    _has_future = True

    def __init__(self, forward_func: Callable, perm_func: Callable | None = None) -> None:
        super().__init__(forward_func)
        self.perm_func = perm_func

    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        perturbations_per_eval: int | str = "auto",
        show_progress: bool = False,
        generator: int | torch.Generator | None = None,
        max_memory: int | None = None,
    ) -> TensorOrTuple:
        """Return each element's permutation importance, shaped like the inputs."""
        xs, was_tuple = as_tuple(inputs)
        n = xs[0].shape[0]
        if n < 2:
            raise AttributionValueError(
                f"FeaturePermutation shuffles values across the batch and needs at least 2 "
                f"examples, got a batch of {n}"
            )
        ids, groups = feature_index(format_feature_mask(feature_mask, xs))
        n_features = len(ids)
        args = format_additional_args(additional_forward_args)
        chunk = resolve_chunk(
            perturbations_per_eval, self.forward_func, xs, args, n_features, max_memory
        )
        gen = make_generator(generator)

        def replacements(sl: slice) -> tuple[Tensor, ...]:
            m = sl.stop - sl.start
            if self.perm_func is not None:
                masks = group_masks(groups, sl)
                return tuple(
                    torch.stack([self.perm_func(x, mk[j].expand_as(x)) for j in range(m)])
                    for x, mk in zip(xs, masks)
                )
            perms = random_derangements(m, n, gen).to(xs[0].device)
            return tuple(x[perms] for x in xs)

        try:
            attrs = ablate_and_compare(
                self.forward_func,
                xs,
                format_target(target, n),
                args,
                n_features,
                masks=lambda sl: group_masks(groups, sl),
                replacements=replacements,
                chunk=chunk,
                show_progress=show_progress,
                desc=f"{self.get_name()} attribution",
            )
        except AggregateOutput:
            if target is not None:
                raise AttributionValueError(
                    "the model returns values for the whole batch (a loss, say), so there is "
                    f"no per-example output for `target`={target!r} to select; pass target=None"
                ) from None
            attrs = self._whole_batch(xs, args, groups, n_features, gen, show_progress)
        return like_inputs(attrs, was_tuple)

    def _whole_batch(
        self,
        xs: tuple[Tensor, ...],
        args: tuple,
        groups: tuple[Tensor, ...],
        n_features: int,
        gen: torch.Generator | None,
        show_progress: bool,
    ) -> tuple[Tensor, ...]:
        """Permutation importance of a model that scores the whole batch (a loss against
        fixed labels: the classic form of the method): ``k`` values for the batch give
        attributions of shape ``(k, *input.shape[1:])``, one model call per feature on the
        batch as given (such a model may accept no other batch size)."""
        with torch.no_grad():
            reference = model_output(self.forward_func(*xs, *args)).reshape(-1)
            out = [
                torch.zeros((reference.numel(),) + x.shape[1:], dtype=reference.dtype) for x in xs
            ]
            desc = f"{self.get_name()} attribution"
            for j in progress(range(n_features), show_progress, desc, n_features):
                masks = tuple(mk[0] for mk in group_masks(groups, slice(j, j + 1)))
                if self.perm_func is not None:
                    points = tuple(self.perm_func(x, mk.expand_as(x)) for x, mk in zip(xs, masks))
                else:
                    perm = random_derangements(1, xs[0].shape[0], gen)[0].to(xs[0].device)
                    points = tuple(torch.where(mk, x[perm], x) for x, mk in zip(xs, masks))
                value = model_output(self.forward_func(*points, *args)).reshape(-1)
                drop = (reference - value).to(reference.dtype)
                for total, mk in zip(out, masks):
                    here = mk.any(0).to(drop.device, drop.dtype)
                    total += drop.view((-1,) + (1,) * here.dim()) * here
        return tuple(out)
