"""LimeBase: the general LIME of Ribeiro et al. (2016) with user-supplied parts.

A surrogate model is fitted on samples around the input:

1. draw a sample with ``perturb_func`` (in the interpretable space, or in the input space);
2. map it to the other space (``from_interp_rep_transform`` / ``to_interp_rep_transform``);
3. weigh it by its ``similarity_func`` to the input;
4. evaluate the model on the perturbed inputs, ``perturbations_per_eval`` at a time;
5. fit ``interpretable_model`` on (interpretable samples, outputs, weights) and return its
   representation (the coefficients).

These are the callback signatures of Captum's ``LimeBase``, so code written for it runs
unchanged. :class:`~perspicio.core.Lime` and :class:`~perspicio.core.KernelShap` use a
batched fast path instead unless such callbacks are given.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.batching import chunk_slices, progress
from .._engine.inputs import (
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_positive_int,
    expand_additional_args,
    format_additional_args,
    format_target,
)
from .._engine.outputs import model_output
from .._engine.precision import wide_dtype, widen
from .._engine.regression import fit_regressor, weighted_least_squares
from ..attribution import PerturbationAttribution
from ..errors import AttributionValueError


def fit_surrogate(model: Any, interp: Tensor, outputs: Tensor, weights: Tensor) -> Tensor:
    """Coefficients ``(1, F)`` of ``model`` fitted on one example's samples: a Captum
    interpretable model (``fit(DataLoader)`` then ``representation()``), a scikit-learn
    regressor, or (None) perspicio's weighted least squares."""
    if model is None:
        coef, _ = weighted_least_squares(interp, outputs.view(-1, 1), weights.view(-1, 1))
        return coef
    if hasattr(model, "representation"):
        from torch.utils.data import DataLoader, TensorDataset

        data = TensorDataset(interp.float(), outputs.float(), weights.float())
        model.fit(DataLoader(data, batch_size=len(data)))
        coef = model.representation()
        return coef.reshape(1, -1) if coef.dim() == 1 else coef
    return fit_regressor(model, interp, outputs.view(-1, 1), weights.view(-1, 1))


class LimeBase(PerturbationAttribution):
    """LIME with every part given by the user (Captum's ``LimeBase`` signatures).

    Parameters
    ----------
    forward_func : callable
        The model.
    interpretable_model : object
        A Captum interpretable model (``fit(DataLoader)``, ``representation()``), a
        scikit-learn regressor (``fit`` with ``sample_weight``, ``coef_``), or None for a
        weighted least squares.
    similarity_func : callable
        ``similarity_func(original_input, perturbed_input, interpretable_sample, **kwargs)``
        -> the sample's weight.
    perturb_func : callable or generator function
        ``perturb_func(original_input, **kwargs)`` -> one sample.
    perturb_interpretable_space : bool
        Whether ``perturb_func`` samples the interpretable space.
    from_interp_rep_transform, to_interp_rep_transform : callable or None
        ``f(sample, original_input, **kwargs)``: interpretable sample -> input (needed when
        sampling the interpretable space), input -> interpretable sample (otherwise).

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import LimeBase
    >>> net = torch.nn.Linear(3, 1)
    >>> def perturb(x, **kw):
    ...     return torch.bernoulli(torch.full((1, 3), 0.5))
    >>> def to_input(z, x, **kw):
    ...     return z * x
    >>> lime = LimeBase(net, None, lambda x, p, z, **kw: torch.tensor(1.0), perturb, True,
    ...                 to_input, None)
    >>> x = torch.tensor([[1.0, 2.0, 3.0]])
    >>> torch.allclose(lime.attribute(x, n_samples=40), x * net.weight, atol=1e-4)
    True
    """

    _multiply_by_inputs = False
    #: the progress bar's title (Lime sets its own name)
    title: str | None = None

    def __init__(
        self,
        forward_func: Callable,
        interpretable_model: Any,
        similarity_func: Callable,
        perturb_func: Callable,
        perturb_interpretable_space: bool,
        from_interp_rep_transform: Callable | None,
        to_interp_rep_transform: Callable | None,
    ) -> None:
        super().__init__(forward_func)
        if perturb_interpretable_space and from_interp_rep_transform is None:
            raise AttributionValueError(
                "`from_interp_rep_transform` is needed when `perturb_func` samples the "
                "interpretable space"
            )
        if not perturb_interpretable_space and to_interp_rep_transform is None:
            raise AttributionValueError(
                "`to_interp_rep_transform` is needed when `perturb_func` samples the input space"
            )
        self.interpretable_model = interpretable_model
        self.similarity_func = similarity_func
        self.perturb_func = perturb_func
        self.perturb_interpretable_space = perturb_interpretable_space
        self.from_interp_rep_transform = from_interp_rep_transform
        self.to_interp_rep_transform = to_interp_rep_transform

    @torch.no_grad()
    def attribute(
        self,
        inputs: TensorOrTuple,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_samples: int = 50,
        perturbations_per_eval: int = 1,
        show_progress: bool = False,
        **kwargs: Any,
    ) -> Tensor:
        """The surrogate's coefficients ``(1, F)``; ``kwargs`` go to every callback."""
        check_positive_int(n_samples, "n_samples")
        check_positive_int(perturbations_per_eval, "perturbations_per_eval")
        xs, was_tuple = as_tuple(inputs)
        n = xs[0].shape[0]
        args = format_additional_args(additional_forward_args)
        tgt = format_target(target, n)
        if inspect.isgeneratorfunction(self.perturb_func):
            stream = self.perturb_func(inputs, **kwargs)

            def draw() -> Any:
                return next(stream)
        else:

            def draw() -> Any:
                return self.perturb_func(inputs, **kwargs)

        interps, perturbed, weights = [], [], []
        for _ in range(n_samples):
            sample = draw()
            if self.perturb_interpretable_space:
                interp, point = sample, self.from_interp_rep_transform(sample, inputs, **kwargs)
            else:
                interp, point = self.to_interp_rep_transform(sample, inputs, **kwargs), sample
            weight = self.similarity_func(inputs, point, interp, **kwargs)
            interps.append(widen(torch.as_tensor(interp).reshape(1, -1)))
            perturbed.append(point if isinstance(point, (tuple, list)) else (point,))
            weights.append(float(weight))
        outputs = []
        slices = chunk_slices(n_samples, perturbations_per_eval)
        title = self.title or self.get_name()
        for sl in progress(slices, show_progress, f"{title} attribution", len(slices)):
            m = sl.stop - sl.start
            batch = tuple(torch.cat([p[i] for p in perturbed[sl]]) for i in range(len(xs)))
            out = model_output(self.forward_func(*batch, *expand_additional_args(args, n, m)))
            if isinstance(out, Tensor) and out.numel() == m:  # one value per sample
                outputs.append(widen(out.reshape(m)))
            else:
                outputs.append(widen(tgt.expand(m).select(out).reshape(m, -1).sum(1)))
        coef = fit_surrogate(
            self.interpretable_model,
            torch.cat(interps),
            torch.cat(outputs),
            torch.tensor(weights, dtype=wide_dtype(xs[0].device)),
        )
        return coef.to(xs[0].dtype) if xs[0].is_floating_point() else coef.float()
