"""DeepLiftShap (Lundberg and Lee, 2017): DeepLift averaged over a baseline distribution."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    expand_additional_args,
    format_additional_args,
    format_baseline_distribution,
    format_target,
    like_inputs,
    repeat_batch,
    require_float,
)
from .deeplift import DeepLift, apply_custom, deeplift_multipliers


class DeepLiftShap(DeepLift):
    r"""DeepLift averaged over ``B`` baselines, an approximation of SHAP values.

    .. math:: \phi_i(x) = \frac{1}{B} \sum_{b=1}^{B} m_i(x, x'_b) (x_i - x'_{b,i})

    Every (example, baseline) pair is evaluated in one batch of ``2 N B`` rows.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import DeepLiftShap
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> x, background = torch.randn(3, 4), torch.randn(10, 4)
    >>> attr = DeepLiftShap(net).attribute(x, baselines=background)
    >>> expected = net(x).squeeze(1) - net(background).mean()
    >>> torch.allclose(attr.sum(1), expected, atol=1e-5)
    True
    """

    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: Any = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        return_convergence_delta: bool = False,
        custom_attribution_func: Callable | None = None,
    ):
        """Return the attributions; the delta (if asked) has one entry per pair, ``N * B``.

        ``baselines`` is a tensor (or tuple) of ``B`` reference rows, or a callable that
        returns one.
        """
        xs, was_tuple = as_tuple(inputs)
        require_float(xs, type(self).__name__)
        dist = format_baseline_distribution(baselines, xs)
        n, b = xs[0].shape[0], dist[0].shape[0]
        # Pairs in B blocks of N: row j * N + i pairs example i with baseline j.
        xs_rep = repeat_batch(xs, b)
        bases = tuple(d.repeat_interleave(n, dim=0) for d in dist)
        tgt = format_target(target, n).expand(b)
        args = expand_additional_args(format_additional_args(additional_forward_args), n, b)
        mults, diff = deeplift_multipliers(self.model, xs_rep, bases, tgt, args, self.eps)
        if custom_attribution_func is not None:
            pair_attrs = apply_custom(custom_attribution_func, mults, xs_rep, bases)
        elif self._multiply_by_inputs:
            pair_attrs = tuple(m * (x - r) for m, x, r in zip(mults, xs_rep, bases))
        else:
            pair_attrs = mults
        attrs = tuple(a.reshape((b, n) + a.shape[1:]).mean(0) for a in pair_attrs)
        result = like_inputs(attrs, was_tuple)
        if not return_convergence_delta:
            return result
        total = sum(a.reshape(a.shape[0], -1).sum(1) for a in pair_attrs)
        delta = (total.to(diff.dtype) - diff).reshape(b, n).t().reshape(-1)
        return result, delta
