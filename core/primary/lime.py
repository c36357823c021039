"""LIME (Ribeiro et al., 2016, "Why Should I Trust You?"), batched over examples."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._engine.aggregate_output import accepts_aggregate_output
from .._engine.batching import make_generator
from .._engine.inputs import (
    BaselineType,
    TargetType,
    TensorOrTuple,
    as_tuple,
    check_positive_int,
    feature_index,
    format_additional_args,
    format_baselines,
    format_feature_mask,
    format_target,
    like_inputs,
)
from .._engine.outputs import model_output
from .._engine.perturbation import coalition_points, evaluate, resolve_chunk, spread
from .._engine.precision import widen
from .._engine.regression import fit_regressor, weighted_least_squares
from ..attribution import PerturbationAttribution
from ._lime_forms import (
    blend_interpretable_sample,
    captum_bernoulli,
    captum_cosine_similarity,
    captum_lime_form,
    expand_row,
)


def group_sums(values: Tensor, groups: Tensor, n_features: int) -> Tensor:
    """Sum of ``values`` (n, ...) over each feature group: ``(n, F)``."""
    n = values.shape[0]
    idx = groups.expand(values.shape).reshape(n, -1)
    out = torch.zeros(n, n_features, dtype=values.dtype, device=values.device)
    return out.scatter_add_(1, idx, values.reshape(n, -1))


def cosine_kernel_similarity(
    present: Tensor, xs, bases, groups, n_features, width: float = 1.0
) -> Tensor:
    r"""Weights :math:`\exp(-d^2 / 2w^2)` with :math:`d` the cosine distance between each
    example and each of its perturbations, in the input space, shape ``(S, n)``.

    Computed from per-feature sums, without building the perturbed inputs:
    :math:`x \cdot p = \sum_f z_f \sum_{e \in f} x_e^2 + (1 - z_f) \sum_{e \in f} x_e b_e`.
    """
    xs = tuple(widen(x) for x in xs)  # token ids and other integer inputs included
    bases = tuple(widen(b) for b in bases)
    xx = sum(group_sums(x * x, g, n_features) for x, g in zip(xs, groups))
    xb = sum(group_sums(x * b, g, n_features) for x, b, g in zip(xs, bases, groups))
    bb = sum(group_sums(b * b, g, n_features) for b, g in zip(bases, groups))
    z = present.to(xx.dtype)
    dot = z @ xx.t() + (1 - z) @ xb.t()
    norm_p = (z @ xx.t() + (1 - z) @ bb.t()).clamp(min=0).sqrt()
    norm_x = xx.sum(1).sqrt()
    cos = dot / (norm_p * norm_x).clamp(min=1e-12)
    return torch.exp(-((1 - cos) ** 2) / (2 * width**2))


class Lime(PerturbationAttribution):
    r"""LIME: a weighted linear surrogate fitted on random on/off patterns of feature groups.

    ``n_samples`` binary vectors :math:`z` switch feature groups between the input
    (:math:`z_f = 1`) and the baseline; the model's outputs are regressed on :math:`z` with
    weights :math:`\pi(z)` (by default an exponential kernel of the cosine distance to the
    input, width 1). The coefficients are the attributions.

    Unlike Captum, a batch of examples is explained in one call: the patterns are shared by
    the examples and every example's regression is solved at once (a batched weighted
    least squares with a small ridge). Running an example alone with the same seed gives
    the same result. Cost: ``n_samples`` model evaluations per example, in chunks.

    Parameters
    ----------
    forward_func : callable
        The model.
    interpretable_model : scikit-learn regressor, optional
        Fitted per example instead of the batched least squares (e.g.
        ``sklearn.linear_model.Lasso(alpha=0.01)``).
    similarity_func : callable, optional
        ``similarity_func(present, inputs, baselines, groups, n_features) -> (S, n)``
        weights; the cosine kernel by default.
    perturb_func : callable, optional
        ``perturb_func(n_samples, n_features, generator) -> (S, F)`` booleans;
        Bernoulli(0.5) by default.

    Examples
    --------
    >>> import torch
    >>> from perspicio.core import Lime
    >>> net = torch.nn.Linear(5, 1)
    >>> x = torch.randn(3, 5)
    >>> attr = Lime(net).attribute(x, n_samples=100, generator=0)
    >>> torch.allclose(attr, x * net.weight, atol=1e-4)
    True
    """

    #: the surrogate's coefficients are per unit of the interpretable (0/1) features, not
    #: of the input: False, as in Captum
    _multiply_by_inputs = False

    def __init__(
        self,
        forward_func: Callable,
        interpretable_model: Any = None,
        similarity_func: Callable | None = None,
        perturb_func: Callable | None = None,
    ) -> None:
        super().__init__(forward_func)
        self.interpretable_model = interpretable_model
        # callbacks written for Captum's Lime run example by example through LimeBase
        self._captum_form = captum_lime_form(similarity_func, perturb_func, interpretable_model)
        if self._captum_form:
            self.similarity_func = similarity_func or captum_cosine_similarity
            self.perturb_func = perturb_func or captum_bernoulli
        else:
            self.similarity_func = similarity_func or cosine_kernel_similarity
            self.perturb_func = perturb_func or self.bernoulli_patterns

    @staticmethod
    def bernoulli_patterns(n_samples: int, n_features: int, generator) -> Tensor:
        """Each feature on with probability 1/2, independently."""
        return torch.rand(n_samples, n_features, generator=generator) < 0.5

    @accepts_aggregate_output
    def attribute(
        self,
        inputs: TensorOrTuple,
        baselines: BaselineType = None,
        target: TargetType = None,
        additional_forward_args: Any = None,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        n_samples: int = 50,
        perturbations_per_eval: int | str = "auto",
        return_input_shape: bool = True,
        show_progress: bool = False,
        generator: int | torch.Generator | None = None,
        max_memory: int | None = None,
    ) -> TensorOrTuple:
        """Return the surrogate's coefficients for each example.

        With ``return_input_shape=True`` (default) every element gets its group's
        coefficient; otherwise a ``(N, F)`` tensor of coefficients is returned.
        """
        check_positive_int(n_samples, "n_samples")
        xs, was_tuple = as_tuple(inputs)
        bases = format_baselines(baselines, xs)
        ids, groups = feature_index(format_feature_mask(feature_mask, xs))
        n, n_features = xs[0].shape[0], len(ids)
        args = format_additional_args(additional_forward_args)
        tgt = format_target(target, n)
        if self._captum_form:
            coef = self._per_example(
                xs,
                was_tuple,
                bases,
                groups,
                n_features,
                args,
                target,
                n_samples,
                perturbations_per_eval,
                show_progress,
            )
            if not return_input_shape:
                return coef
            if coef.shape[0] != n:  # the batch scored as one: one row, as Captum gives
                xs, groups = tuple(x[:1] for x in xs), tuple(g[:1] for g in groups)
            return like_inputs(spread(coef, groups, xs), was_tuple)
        present, values, weights, intercept = self._sample_and_evaluate(
            xs,
            bases,
            groups,
            n_features,
            tgt,
            args,
            n_samples,
            perturbations_per_eval,
            show_progress,
            make_generator(generator),
            max_memory,
        )
        coef = self._fit(present, values, weights, intercept)
        if not return_input_shape:
            return coef
        return like_inputs(spread(coef, groups, xs), was_tuple)

    def _per_example(
        self,
        xs,
        was_tuple,
        bases,
        groups,
        n_features,
        args,
        target,
        n_samples,
        per_eval,
        show_progress,
    ):
        """Captum's form: each example through :class:`LimeBase` with these callbacks."""
        from .lime_base import LimeBase

        base = LimeBase(
            self.forward_func,
            self.interpretable_model,
            self.similarity_func,
            self.perturb_func,
            True,
            blend_interpretable_sample,
            None,
        )
        base.title = self.get_name()
        n = xs[0].shape[0]
        targets = format_target(target, n)
        with torch.no_grad():
            probe = model_output(self.forward_func(*xs, *args))
        rows = (
            [slice(0, n)] if n > 1 and probe.numel() == 1 else [slice(i, i + 1) for i in range(n)]
        )
        coefs = []
        for sl in rows:  # each example, or the batch as one when the model scores it as one
            whole = sl.stop - sl.start == n
            coefs.append(
                base.attribute(
                    like_inputs(tuple(x[sl] for x in xs), was_tuple),
                    target=targets if whole else targets.row(sl.start),
                    additional_forward_args=(args if whole else expand_row(args, n, sl.start))
                    or None,
                    n_samples=n_samples,
                    perturbations_per_eval=1 if per_eval == "auto" else per_eval,
                    show_progress=show_progress,
                    baselines=like_inputs(tuple(b[sl] for b in bases), was_tuple),
                    feature_mask=like_inputs(
                        tuple(g[sl] if g.shape[0] > 1 else g for g in groups), was_tuple
                    ),
                    num_interp_features=n_features,
                ).reshape(1, -1)
            )
        return torch.cat(coefs).to(xs[0].dtype if xs[0].is_floating_point() else torch.float32)

    def _sample_and_evaluate(
        self, xs, bases, groups, n_features, tgt, args, n_samples, per_eval, show, gen, max_memory
    ):
        present = self.perturb_func(n_samples, n_features, gen).to(xs[0].device).bool()
        chunk = resolve_chunk(per_eval, self.forward_func, xs, args, len(present), max_memory)
        values = evaluate(
            self.forward_func,
            lambda sl: coalition_points(present[sl], xs, bases, groups),
            len(present),
            xs[0].shape[0],
            tgt,
            args,
            chunk,
            show,
            f"{self.get_name()} attribution",
        )
        weights = self.similarity_func(present, xs, bases, groups, n_features).to(values.dtype)
        return present, values, weights, None

    def _fit(self, present: Tensor, values: Tensor, weights: Tensor, _extra: Any) -> Tensor:
        z = present.to(values.dtype)
        if self.interpretable_model is not None:
            return fit_regressor(self.interpretable_model, z, values, weights)
        return weighted_least_squares(z, values, weights)[0]
