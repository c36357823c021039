"""Permutation feature importance (Breiman, 2001; Fisher et al., 2019), per example."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._batching import make_generator
from .._compat import accepts_aggregate_output
from .._inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    feature_index,
    format_additional_args,
    format_feature_mask,
    format_target,
    like_inputs,
)
from .._perturbation import ablate_and_compare, resolve_chunk
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

    @accepts_aggregate_output
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
        return like_inputs(attrs, was_tuple)
