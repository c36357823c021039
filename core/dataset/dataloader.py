"""Feature ablation over a whole dataset: how much does a metric computed on every batch
of a DataLoader change when a feature is ablated everywhere?

For each feature group ``j``, every batch is evaluated with ``j`` replaced by its baseline;
the outputs are folded with ``reduce`` into an accumulator and turned into a metric by
``to_metric``. The attribution of ``j`` is ``metric(unperturbed) - metric(j ablated)``. With
the defaults (``reduce`` concatenates the outputs, ``to_metric`` is the identity) this equals
:class:`~perspicio.core.FeatureAblation` on each batch, concatenated; a ``to_metric`` such as
a loss or an accuracy measures each feature's importance for that metric over the dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from .._engine.batching import chunk_slices, progress
from .._engine.inputs import feature_index, format_baselines, format_feature_mask
from .._engine.outputs import model_output
from .._engine.perturbation import blend, check_perturbations_per_eval
from ..attribution import Attribution
from ..errors import AttributionTypeError, AttributionValueError
from ..primary.feature_ablation import FeatureAblation


class InputRole:
    """What each tensor of a batch is for: attributed (and given to the model), only given
    to the model, or only given to ``reduce`` (labels, for a metric)."""

    need_attr = 0
    need_forward = 1
    no_forward = 2


def _concat(accum: Tensor | None, output: Tensor, inputs: tuple) -> Tensor:
    return output if accum is None else torch.cat([accum, output])


class DataLoaderAttribution(Attribution):
    """Dataset-wide feature ablation (Captum's ``DataLoaderAttribution``).

    Parameters
    ----------
    attr_method : FeatureAblation
        The method to apply over the data; its model is used.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from perspicio.core import DataLoaderAttribution, FeatureAblation
    >>> net = torch.nn.Linear(3, 1)
    >>> data = DataLoader(TensorDataset(torch.randn(10, 3)), batch_size=4)
    >>> mean_score = DataLoaderAttribution(FeatureAblation(net)).attribute(
    ...     data, to_metric=lambda scores: scores.mean(0))
    >>> mean_score[0].shape  # one tensor per attributed input
    torch.Size([1, 3])
    """

    def __init__(self, attr_method: Attribution) -> None:
        if not isinstance(attr_method, FeatureAblation):
            raise AttributionTypeError(
                "`attr_method` must be a FeatureAblation (the method DataLoaderAttribution "
                f"applies over the data), got {type(attr_method).__name__}"
            )
        super().__init__(attr_method.forward_func)
        self.attr_method = attr_method

    def attribute(
        self,
        dataloader: Iterable,
        input_roles: tuple[int, ...] | list[int] | None = None,
        baselines: Any = None,
        feature_mask: Tensor | tuple[Tensor, ...] | None = None,
        reduce: Callable | None = None,
        to_metric: Callable | None = None,
        perturbations_per_pass: int = 1,
        show_progress: bool = False,
        return_input_shape: bool = True,
    ) -> Tensor | tuple[Tensor, ...]:
        """Attributions of every feature group to the metric: a tuple with one tensor per
        attributed input, shaped ``(metric size, *input.shape[1:])``, or ``(metric size,
        groups)`` with ``return_input_shape=False``."""
        reduce = reduce or _concat
        check_perturbations_per_eval(perturbations_per_pass, "perturbations_per_pass", auto=False)
        first = _as_batch(next(iter(dataloader)))
        roles = list(input_roles) if input_roles is not None else [InputRole.need_attr] * len(first)
        if len(roles) != len(first) or any(r not in (0, 1, 2) for r in roles):
            raise AttributionValueError(
                f"`input_roles` must give one InputRole per tensor of a batch ({len(first)}), "
                f"got {input_roles!r}"
            )
        attributed = [i for i, r in enumerate(roles) if r == InputRole.need_attr]
        if not attributed:
            raise AttributionValueError("`input_roles` marks no tensor as InputRole.need_attr")
        sample = tuple(first[i] for i in attributed)
        ids, groups = feature_index(format_feature_mask(feature_mask, sample))
        n_groups = len(ids)

        def one_pass(features: list[int] | None) -> list[Any]:
            """Metrics of the unperturbed data (None) or of each feature ablated."""
            m = 1 if features is None else len(features)
            accums: list[Any] = [None] * m
            for raw in dataloader:
                batch = _as_batch(raw)
                xs = tuple(batch[i] for i in attributed)
                n = xs[0].shape[0]
                if features is None:
                    stacked = xs
                else:
                    bases = format_baselines(baselines, xs)
                    stacked = tuple(
                        blend(torch.stack([g == f for f in features]), b.unsqueeze(0), x)
                        for x, b, g in zip(xs, bases, groups)
                    )
                args, k = [], 0
                for i, role in enumerate(roles):
                    if role == InputRole.need_attr:
                        args.append(stacked[k])
                        k += 1
                    elif role == InputRole.need_forward:
                        t = batch[i]
                        args.append(t.repeat((m,) + (1,) * (t.dim() - 1)) if m > 1 else t)
                with torch.no_grad():
                    out = model_output(self.forward_func(*args))
                for j, part in enumerate(out.split(n) if m > 1 else [out]):
                    accums[j] = reduce(accums[j], part, batch)
            return [torch.as_tensor(a if to_metric is None else to_metric(a)) for a in accums]

        reference = one_pass(None)[0]
        chunks = chunk_slices(n_groups, perturbations_per_pass)
        drops = []
        for sl in progress(chunks, show_progress, f"{self.get_name()} attribution", len(chunks)):
            drops += [reference - metric for metric in one_pass(list(range(sl.start, sl.stop)))]
        values = torch.stack([d.reshape(-1) for d in drops], dim=1)  # (metric size, groups)
        if not return_input_shape:
            return values
        return tuple(
            values[:, g.reshape(-1)].reshape((values.shape[0],) + tuple(x.shape[1:]))
            for x, g in zip(sample, groups)
        )

    def attribute_future(self, *args: Any, **kwargs: Any) -> Any:
        """Not offered (as in Captum): call :meth:`attribute`."""
        raise NotImplementedError("DataLoaderAttribution has no attribute_future; call attribute")


def _as_batch(batch: Any) -> tuple[Tensor, ...]:
    return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
