"""NoiseTunnel: SmoothGrad (Smilkov et al., 2017), SmoothGrad-squared and VarGrad
(Adebayo et al., 2018) around any attribution method."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._engine.batching import chunk_slices, make_generator, progress, randint, randn_like
from ._engine.inputs import (
    TensorOrTuple,
    as_tuple,
    check_positive_int,
    expand_additional_args,
    format_additional_args,
    format_baseline_distribution,
    format_target,
    like_inputs,
    repeat_batch,
)
from .attribution import Attribution
from .errors import AttributionTypeError, AttributionValueError
from .primary.gradient_shap import per_input

NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _expand_baselines(baselines: Any, n: int, m: int) -> Any:
    """Replicate per-example baseline tensors with the batch; numbers pass through."""
    if baselines is None:
        return None
    items = baselines if isinstance(baselines, tuple) else (baselines,)
    out = tuple(
        b.repeat((m,) + (1,) * (b.dim() - 1))
        if isinstance(b, Tensor) and b.dim() > 0 and b.shape[0] == n
        else b
        for b in items
    )
    return out if isinstance(baselines, tuple) else out[0]


def _expand_masks(masks: Any, xs: tuple[Tensor, ...], m: int) -> Any:
    """Replicate feature masks that have one row per example (``(n, ...)``, as many
    dimensions as the input) with the batch; shared masks pass through."""
    items = masks if isinstance(masks, (tuple, list)) else (masks,)
    out = tuple(
        k.repeat((m,) + (1,) * (k.dim() - 1))
        if isinstance(k, Tensor) and k.dim() == x.dim() and k.shape[0] == x.shape[0] > 1
        else k
        for k, x in zip(items, xs)
    )
    return out if isinstance(masks, (tuple, list)) else out[0]


class NoiseTunnel(Attribution):
    r"""Average an attribution method over noisy copies of the input.

    For ``nt_samples`` draws :math:`\epsilon_s \sim N(0, \sigma^2)` (shared by the examples
    of a batch, so an example's result does not depend on the others):

    * ``smoothgrad``:    :math:`\frac{1}{S}\sum_s A(x + \epsilon_s)`
    * ``smoothgrad_sq``: :math:`\frac{1}{S}\sum_s A(x + \epsilon_s)^2`
    * ``vargrad``:       the variance, :math:`E_s[A(x + \epsilon_s)^2] - E_s[A(x + \epsilon_s)]^2`

    Cost: ``nt_samples`` times the wrapped method's, ``nt_samples_batch_size`` draws at a time.

    Parameters
    ----------
    attribution_method : Attribution
        The method to smooth (Saliency, IntegratedGradients, DeepLift ...).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import NoiseTunnel, Saliency
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    >>> nt = NoiseTunnel(Saliency(net))
    >>> nt.attribute(torch.randn(4, 3), nt_type="smoothgrad", nt_samples=10, generator=0).shape
    torch.Size([4, 3])
    """

    def __init__(self, attribution_method: Attribution) -> None:
        if not isinstance(attribution_method, Attribution):
            raise AttributionTypeError(
                "`attribution_method` must be a perspicio attribution instance, "
                f"got {type(attribution_method).__name__}"
            )
        super().__init__(attribution_method.forward_func)
        self.attribution_method = attribution_method
        self._has_delta = attribution_method.has_convergence_delta()

    @property
    def multiplies_by_inputs(self) -> bool:  # noqa: D102
        return self.attribution_method.multiplies_by_inputs

    def attribute(
        self,
        inputs: TensorOrTuple,
        nt_type: str = "smoothgrad",
        nt_samples: int = 5,
        nt_samples_batch_size: int | None = None,
        stdevs: float | tuple[float, ...] = 1.0,
        draw_baseline_from_distrib: bool = False,
        generator: int | torch.Generator | None = None,
        show_progress: bool = False,
        **kwargs: Any,
    ):
        """Return the smoothed attributions (and the wrapped method's deltas, if asked).

        Parameters
        ----------
        nt_type : {"smoothgrad", "smoothgrad_sq", "vargrad"}
        nt_samples : int, default 5
            Noisy copies per example.
        nt_samples_batch_size : int, optional
            Copies evaluated per call of the wrapped method (all at once when None).
        stdevs : float or tuple, default 1.0
            Noise standard deviation, per input tensor.
        draw_baseline_from_distrib : bool, default False
            Treat ``baselines`` as a distribution and draw one row per noisy copy.
        generator : int or torch.Generator, optional
            Seed or generator for the noise (the global random state when None).
        **kwargs
            Passed to the wrapped method's ``attribute`` (target, baselines, n_steps ...).
        """
        if nt_type not in NT_TYPES:
            raise AttributionValueError(f"`nt_type` must be one of {NT_TYPES}, got {nt_type!r}")
        check_positive_int(nt_samples, "nt_samples")
        if nt_samples_batch_size is not None:
            check_positive_int(nt_samples_batch_size, "nt_samples_batch_size")
        xs, was_tuple = as_tuple(inputs)
        sigmas = per_input(stdevs, len(xs), "stdevs")
        for i, (x, s) in enumerate(zip(xs, sigmas)):
            if s > 0 and not x.is_floating_point():
                raise AttributionTypeError(
                    f"NoiseTunnel adds Gaussian noise to inputs[{i}], which has dtype {x.dtype}; "
                    f"pass floating point inputs, or stdevs=0 for inputs[{i}] (token ids)"
                )
        n = xs[0].shape[0]
        gen = make_generator(generator)
        want_delta = kwargs.get("return_convergence_delta", False)
        if want_delta and not self._has_delta:
            raise AttributionValueError(
                f"{type(self.attribution_method).__name__} has no convergence delta; "
                "drop `return_convergence_delta`"
            )
        target = format_target(kwargs.pop("target", None), n)
        args = format_additional_args(kwargs.pop("additional_forward_args", None))
        baselines = kwargs.pop("baselines", None)
        mask = kwargs.pop("feature_mask", None)
        dist = format_baseline_distribution(baselines, xs) if draw_baseline_from_distrib else None

        sums = [torch.zeros_like(x) for x in xs]
        squares = [torch.zeros_like(x) for x in xs]
        deltas = []
        # every draw made up front and shared by the examples: an example's result does not
        # depend on the other examples in the call, nor on nt_samples_batch_size
        noise = tuple(
            s * randn_like(x, gen, (nt_samples,) + tuple(x.shape[1:])) if s > 0 else None
            for x, s in zip(xs, sigmas)
        )
        picks = None if dist is None else randint(dist[0].shape[0], nt_samples, xs[0].device, gen)
        chunks = chunk_slices(nt_samples, nt_samples_batch_size)
        for sl in progress(chunks, show_progress, f"{self.get_name()} attribution", len(chunks)):
            m = sl.stop - sl.start
            noisy = tuple(
                x if e is None else x + e[sl].repeat_interleave(n, 0)
                for x, e in zip(repeat_batch(xs, m), noise)
            )
            if dist is not None:
                pick = picks[sl].repeat_interleave(n)
                kwargs["baselines"] = like_inputs(tuple(d[pick] for d in dist), was_tuple)
            elif baselines is not None:
                kwargs["baselines"] = _expand_baselines(baselines, n, m)
            if mask is not None:  # a per-example feature mask follows its example
                kwargs["feature_mask"] = _expand_masks(mask, xs, m)
            out = self.attribution_method.attribute(
                like_inputs(noisy, was_tuple),
                target=target.expand(m),
                additional_forward_args=expand_additional_args(args, n, m) or None,
                **kwargs,
            )
            if want_delta:
                out, delta = out
                deltas.append(delta.reshape(m, -1))
            attrs, _ = as_tuple(out, "attributions")
            for i, a in enumerate(attrs):
                a = a.reshape((m, n) + a.shape[1:])
                sums[i] += a.sum(0)
                squares[i] += (a * a).sum(0)
        mean = tuple(s / nt_samples for s in sums)
        mean_sq = tuple(q / nt_samples for q in squares)
        if nt_type == "smoothgrad":
            result = mean
        elif nt_type == "smoothgrad_sq":
            result = mean_sq
        else:
            result = tuple(q - a * a for q, a in zip(mean_sq, mean))
        result = like_inputs(result, was_tuple)
        if not want_delta:
            return result
        return result, torch.cat(deltas).reshape(-1)
