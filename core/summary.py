"""Running statistics of attributions: Captum's ``Summarizer`` family.

One accumulator, :class:`Moments`, keeps what every statistic needs for tensors of one
shape: the count, the sum, the mean and the sum of squared deviations ``M2`` (Welford's
method), the minimum and the maximum. Batches are merged with the pairwise formulas of
Chan, Golub and LeVeque (1979), which are exact and order-stable: for two parts with counts
``n_a, n_b``, means ``m_a, m_b`` and ``d = m_b - m_a``,

.. math::
    n = n_a + n_b, \\quad m = m_a + d \\frac{n_b}{n}, \\quad
    M_2 = M_{2,a} + M_{2,b} + d^2 \\frac{n_a n_b}{n}.

A statistic (:class:`Mean`, :class:`Var`...) is a named view of the moments; a
:class:`Summarizer` keeps one :class:`Moments` per input tensor, and a
:class:`ClassSummarizer` one more per class label. ``attribute_dataset``'s streaming
reducers merge the same :class:`Moments` shard by shard.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ._engine.precision import widen
from .errors import AttributionTypeError, AttributionValueError


class Moments:
    """Count, sum, mean, ``M2``, min and max of the tensors seen so far (one shape)."""

    def __init__(self) -> None:
        self.count = 0
        self.sum: Tensor | None = None
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None
        self.min: Tensor | None = None
        self.max: Tensor | None = None

    def update(self, x: Tensor) -> Moments:
        """Add one tensor."""
        return self.update_batch(torch.as_tensor(x).unsqueeze(0))

    def update_batch(self, rows: Tensor) -> Moments:
        """Add every row of ``rows`` (the first dimension indexes the tensors)."""
        rows = torch.as_tensor(rows)
        if rows.shape[0] == 0:
            return self
        values = rows if rows.is_floating_point() else widen(rows)
        part = Moments()
        part.count = rows.shape[0]
        part.sum = values.sum(0)
        part.mean = part.sum / part.count
        part.m2 = ((values - part.mean) ** 2).sum(0)
        part.min, part.max = rows.min(0).values, rows.max(0).values
        return self.merge(part)

    def merge(self, other: Moments) -> Moments:
        """Add the tensors summarised by ``other`` (Chan et al.'s pairwise update)."""
        if other.count == 0:
            return self
        if self.count == 0:
            for key, value in vars(other).items():
                setattr(self, key, value.clone() if isinstance(value, Tensor) else value)
            return self
        n_a, n_b = self.count, other.count
        n = n_a + n_b
        delta = other.mean - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + other.m2 + delta**2 * (n_a * n_b / n)
        self.sum = self.sum + other.sum
        self.min = torch.minimum(self.min, other.min)
        self.max = torch.maximum(self.max, other.max)
        self.count = n
        return self


class Stat:
    """A named statistic read from :class:`Moments`. Stats compare equal when they compute
    the same thing, so a summarizer reports each once."""

    default_name = "stat"

    def __init__(self, name: str | None = None) -> None:
        self._name = name
        self._moments = Moments()

    @property
    def name(self) -> str:
        """The key of this statistic in a summary."""
        return self._name or self.default_name

    def compute(self, moments: Moments) -> Tensor | None:
        """The statistic of the tensors summarised by ``moments`` (None before any)."""
        raise NotImplementedError

    # used on its own, a stat keeps its own moments
    def update(self, x: Tensor) -> None:
        """Add one tensor (when the stat is used without a summarizer)."""
        self._moments.update(x)

    def get(self) -> Tensor | None:
        """The statistic of the tensors added with :meth:`update`."""
        return self.compute(self._moments)

    def _key(self) -> tuple:
        return (type(self), self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stat) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Count(Stat):
    """How many tensors were seen."""

    default_name = "count"

    def compute(self, moments: Moments) -> Tensor | None:  # noqa: D102
        return torch.tensor(moments.count) if moments.count else None


class Mean(Stat):
    """The elementwise mean."""

    default_name = "mean"

    def compute(self, moments: Moments) -> Tensor | None:  # noqa: D102
        return moments.mean


class Sum(Stat):
    """The elementwise sum."""

    default_name = "sum"

    def compute(self, moments: Moments) -> Tensor | None:  # noqa: D102
        return moments.sum


class MSE(Stat):
    """The elementwise sum of squared deviations from the mean, ``M2``."""

    default_name = "mse"

    def compute(self, moments: Moments) -> Tensor | None:  # noqa: D102
        return moments.m2


class Var(Stat):
    """The elementwise variance ``M2 / (n - order)``: ``order=0`` the population variance
    ("variance"), ``order=1`` the sample variance ("sample_variance"); 0 while ``n <= order``.
    """

    def __init__(self, name: str | None = None, order: int = 0) -> None:
        super().__init__(name)
        self.order = order

    @property
    def default_name(self) -> str:  # type: ignore[override]
        return "variance" if self.order == 0 else "sample_variance"

    def compute(self, moments: Moments) -> Tensor | None:  # noqa: D102
        if moments.m2 is None:
            return None
        if moments.count <= self.order:
            return torch.zeros_like(moments.m2)
        return moments.m2 / (moments.count - self.order)

    def _key(self) -> tuple:
        return (type(self), self.name, self.order)


class StdDev(Var):
    """The elementwise standard deviation, the square root of :class:`Var`."""

    @property
    def default_name(self) -> str:  # type: ignore[override]
        return "std_dev" if self.order == 0 else "sample_std_dev"

    def compute(self, moments: Moments) -> Tensor | None:  # noqa: D102
        variance = super().compute(moments)
        return None if variance is None else variance.sqrt()


class Min(Stat):
    """The elementwise minimum."""

    default_name = "min"

    def compute(self, moments: Moments) -> Tensor | None:  # noqa: D102
        return moments.min


class Max(Stat):
    """The elementwise maximum."""

    default_name = "max"

    def compute(self, moments: Moments) -> Tensor | None:  # noqa: D102
        return moments.max


def CommonStats() -> list[Stat]:  # noqa: N802 - Captum's name
    """Mean, variance, standard deviation, minimum and maximum."""
    return [Mean(), Var(), StdDev(), Min(), Max()]


def _unique(stats: list[Stat]) -> list[Stat]:
    out: list[Stat] = []
    for s in stats:
        if not isinstance(s, Stat):
            raise AttributionTypeError(f"`stats` must hold Stat instances, got {type(s).__name__}")
        if s not in out:
            out.append(s)
    return out


class SummarizerSingleTensor:
    """Statistics of a stream of tensors of one shape.

    Examples
    --------
    >>> s = SummarizerSingleTensor([Mean(), Max()])
    >>> for v in (1.0, 3.0):
    ...     s.update(torch.tensor([v, -v]))
    >>> s.summary
    {'mean': tensor([ 2., -2.]), 'max': tensor([ 3., -1.])}
    """

    def __init__(self, stats: list[Stat]) -> None:
        self.stats = _unique(list(stats))
        self.moments = Moments()

    def update(self, x: Tensor) -> None:
        """Add one tensor."""
        self.moments.update(x)

    def update_batch(self, rows: Tensor) -> None:
        """Add every row of ``rows``."""
        self.moments.update_batch(rows)

    @property
    def summary(self) -> dict[str, Tensor] | None:
        """``{stat name: value}``, or None before the first update."""
        if self.moments.count == 0:
            return None
        return {s.name: s.compute(self.moments) for s in self.stats}


class Summarizer:
    """Statistics of a stream of attributions: a tensor or a tuple of tensors per update.

    ``summary`` is a dict of statistics for tensors, a list of dicts (one per tensor) for
    tuples, and None before the first update.

    Examples
    --------
    >>> summarizer = Summarizer(CommonStats())
    >>> for _ in range(3):
    ...     summarizer.update(torch.ones(2, 2))
    >>> summarizer.summary["variance"]
    tensor([[0., 0.],
            [0., 0.]])
    """

    def __init__(self, stats: list[Stat]) -> None:
        self._stats = _unique(list(stats))
        self._parts: list[SummarizerSingleTensor] | None = None
        self._was_tuple = False

    def update(self, x: Tensor | tuple[Tensor, ...]) -> None:
        """Add one tensor, or one tuple of tensors."""
        self._rows(x, batch=False)

    def update_batch(self, rows: Tensor | tuple[Tensor, ...]) -> None:
        """Add every row of a batch (a tensor or a tuple of tensors sharing the batch)."""
        self._rows(rows, batch=True)

    def _rows(self, x: Any, batch: bool) -> None:
        was_tuple = isinstance(x, (tuple, list))
        items = [torch.as_tensor(t) for t in (x if was_tuple else (x,))]
        if self._parts is None:
            self._parts = [SummarizerSingleTensor(self._stats) for _ in items]
            self._was_tuple = was_tuple
        if len(items) != len(self._parts):
            raise AttributionValueError(
                f"this summarizer summarises {len(self._parts)} tensor(s) per update, got "
                f"{len(items)}"
            )
        for part, t in zip(self._parts, items):
            (part.update_batch if batch else part.update)(t)

    @property
    def summary(self) -> dict[str, Tensor] | list[dict[str, Tensor]] | None:
        """The statistics so far (see the class docstring)."""
        if self._parts is None:
            return None
        summaries = [part.summary for part in self._parts]
        return summaries if self._was_tuple else summaries[0]


class ClassSummarizer(Summarizer):
    """A :class:`Summarizer` that also keeps the statistics of each class label.

    ``update(x, labels)``: without labels ``x`` is one element, as for :class:`Summarizer`;
    with a label, or one label per row, each row of ``x`` (a batch, or a tuple of batches)
    is an element of the overall summary and of its class's. ``summary`` is then a list
    with one dict per input tensor, and ``class_summaries`` maps each label to such a list.

    Examples
    --------
    >>> cs = ClassSummarizer([Mean()])
    >>> cs.update(torch.tensor([[1.0], [3.0], [5.0]]), labels=["a", "b", "a"])
    >>> cs.class_summaries["a"][0]["mean"]
    tensor([3.])
    """

    def __init__(self, stats: list[Stat]) -> None:
        super().__init__(stats)
        self._classes: dict[Any, Summarizer] = {}

    def update(  # type: ignore[override]
        self, x: Tensor | tuple[Tensor, ...], labels: Any = None
    ) -> None:
        """Add ``x`` (see the class docstring)."""
        if labels is None:
            super().update(x)
            return
        items = tuple(x) if isinstance(x, (tuple, list)) else (x,)
        n = items[0].shape[0]
        if isinstance(labels, Tensor):
            labels = labels.tolist() if labels.dim() > 0 else labels.item()
        per_row = list(labels) if isinstance(labels, (list, tuple)) else [labels] * n
        if len(per_row) != n:
            raise AttributionValueError(f"`labels` has {len(per_row)} entries for {n} rows")
        super().update_batch(tuple(items))
        for label in dict.fromkeys(per_row):
            rows = torch.tensor([i for i, lab in enumerate(per_row) if lab == label])
            summarizer = self._classes.setdefault(label, Summarizer(self._stats))
            summarizer.update_batch(tuple(t[rows] for t in items))
        self._was_tuple = True

    @property
    def class_summaries(self) -> dict[Any, list[dict[str, Tensor]] | dict[str, Tensor] | None]:
        """``{label: summary}``, each a list with one dict per input tensor."""
        return {label: s.summary for label, s in self._classes.items()}
